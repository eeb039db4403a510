//! A JSON line of any bytes: parsed into a conversation or a clear error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    let file: Arc<str> = Arc::from("fuzz.jsonl");
    if let Ok(conversation) = callqa::transcript::jsonl::parse_line(data, &file, 1) {
        let _ = conversation.validate();
        let _ = callqa::transcript::jsonl::to_json_value(&conversation);
    }
});

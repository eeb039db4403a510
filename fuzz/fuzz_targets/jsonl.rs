//! A JSON line of any bytes: parsed into a conversation or a clear error, never a panic; and
//! the fast reader, which skips the fields callqa does not read (nested values included),
//! either gives up on it or returns exactly what serde_json returns.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    callqa::transcript::jsonl::check_fast_reader(data);
    let file: Arc<str> = Arc::from("fuzz.jsonl");
    if let Ok(conversation) = callqa::transcript::jsonl::parse_line(data, &file, 1) {
        let _ = conversation.validate();
        let _ = callqa::transcript::jsonl::to_json_value(&conversation);
    }
});

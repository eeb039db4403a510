//! Every whole-file reader (scripts, WebVTT, Transcribe, Contact Lens, post-call analytics,
//! CCAI) on any bytes; the first byte picks the reader.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

use callqa::input::{InputFormat, parse_document};
use callqa::transcript::DocumentContext;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    // Every format read as a whole file (JSON Lines and CSV are streams, with targets of their own).
    let formats: Vec<InputFormat> = InputFormat::ALL
        .into_iter()
        .filter(|f| !matches!(f, InputFormat::Jsonl | InputFormat::Csv))
        .collect();
    let format = formats[selector as usize % formats.len()];
    let file: Arc<str> = Arc::from("fuzz");
    let speakers = if selector & 0x80 != 0 { vec!["spk_1".to_string(), "Sam".to_string()] } else { Vec::new() };
    let cx = DocumentContext {
        file: &file,
        default_id: "fuzz",
        agent_speakers: &speakers,
    };
    if let Ok(conversation) = parse_document(format, bytes, &cx) {
        let _ = conversation.validate();
    }
});

//! A turn-per-row CSV of any bytes: every conversation or error comes out, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fuzz_target!(|data: &[u8]| {
    if let Ok(reader) = callqa::transcript::csv::CsvReader::new(data, Arc::from("fuzz.csv")) {
        for item in reader {
            if let Ok(conversation) = item {
                let _ = conversation.validate();
            }
        }
    }
});

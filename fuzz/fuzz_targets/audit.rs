//! The checks of the default pack on any script: findings or nothing, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

use callqa::checks::Auditor;
use callqa::rules::RuleSet;

static RULES: OnceLock<RuleSet> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rules = RULES.get_or_init(|| RuleSet::default_pack().expect("the default pack compiles"));
    let text = String::from_utf8_lossy(data);
    let file: Arc<str> = Arc::from("fuzz.txt");
    if let Ok(conversation) = callqa::transcript::script::parse_script(&text, &file, "fuzz") {
        let mut auditor = Auditor::new(rules);
        let audit = auditor.audit(&conversation);
        for finding in &audit.findings {
            assert!(finding.turn >= 1 && finding.turn <= conversation.turns.len());
        }
    }
});

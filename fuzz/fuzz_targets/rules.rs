//! The rule loader on any text: a compiled rule set or an error naming file, line and field.
#![no_main]
use libfuzzer_sys::fuzz_target;

use callqa::rules::{RuleSet, RuleSource};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let source = RuleSource {
        name: "fuzz.toml".into(),
        text: text.into(),
    };
    if let Ok(rules) = RuleSet::load(&[source]) {
        let _ = callqa::rule_examples::run_examples(&rules);
    }
});

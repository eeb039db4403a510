//! `callqa rules list`: the rules that would run, or every phrase they match.

use super::RuleSet;

impl RuleSet {
    /// One line per rule: id, kind, severity, weight, speaker, where it is defined and its
    /// message, tab-separated; with `phrases`, every phrase the rules match instead.
    pub fn listing(&self, phrases: bool) -> String {
        let mut out = String::new();
        if phrases {
            for phrase in &self.written_phrases {
                out.push_str(phrase);
                out.push('\n');
            }
            return out;
        }
        for rule in &self.rules {
            out.push_str(&format!(
                "{}\t{}\t{}\tweight={}\tspeaker={}\t{}:{}\t{}\n",
                rule.id,
                rule.kind.name(),
                rule.severity.as_str(),
                rule.weight,
                rule.speaker,
                rule.file,
                rule.line,
                rule.message
            ));
        }
        out
    }
}

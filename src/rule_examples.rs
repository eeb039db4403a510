//! Running the examples every rule carries (`callqa rules test`). It sits above both the rule
//! set and the checks: it loads the one and runs the other.
//!
//! A `fail` example must produce at least one finding of its rule, a `pass` example none. The
//! examples run through the same [`Auditor`] as an audit, against the whole rule set, so an
//! example also proves that its rule's phrases survive normalization and whole-word matching.

use std::sync::Arc;

use crate::checks::Auditor;
use crate::rules::{Example, RuleKind, RuleSet};
use crate::transcript::script::parse_script_from_line;

/// An example that did not behave.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleFailure {
    pub rule_id: String,
    pub file: String,
    pub line: usize,
    /// `true` for an `examples.fail` entry that produced no finding; `false` for an
    /// `examples.pass` entry that produced some.
    pub expected_finding: bool,
    pub text: String,
    /// The evidence of the findings it produced (for a pass example).
    pub evidence: Vec<String>,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.expected_finding {
            write!(
                f,
                "{}:{}: field `examples.fail`: rule `{}` found nothing in this example:",
                self.file, self.line, self.rule_id
            )?;
        } else {
            write!(
                f,
                "{}:{}: field `examples.pass`: rule `{}` found {} in this example:",
                self.file,
                self.line,
                self.rule_id,
                self.evidence.join("; ")
            )?;
        }
        for line in self.text.trim().lines() {
            write!(f, "\n    {line}")?;
        }
        Ok(())
    }
}

/// Runs every example of every rule; returns how many ran and those that misbehaved.
/// The line `rules test` ends with: the pack, its rules and examples, and how they behaved.
pub fn summary_line(set: &RuleSet, examples: usize, failures: usize) -> String {
    let outcome = if failures == 0 {
        "all behaved".to_string()
    } else {
        format!("{failures} misbehaved")
    };
    let rules = set.rules.len();
    format!(
        "{}: {rules} rules, {examples} examples, {outcome}",
        set.name
    )
}

pub fn run_examples(set: &RuleSet) -> (usize, Vec<ExampleFailure>) {
    let mut auditor = Auditor::new(set);
    let mut count = 0;
    let mut failures = Vec::new();
    for (index, rule) in set.rules.iter().enumerate() {
        let groups: [(&[Example], bool); 2] =
            [(&rule.fail_examples, true), (&rule.pass_examples, false)];
        for (examples, expected_finding) in groups {
            for example in examples {
                count += 1;
                let file: Arc<str> = Arc::from(rule.file.as_str());
                // Examples were parsed when the rule compiled; this cannot fail.
                let Ok(conversation) = parse_script_from_line(
                    &example.text,
                    &file,
                    &format!("{}:{}", rule.id, example.line),
                    example.line as u64,
                ) else {
                    continue;
                };
                let audit = auditor.audit(&conversation);
                // A promise rule's examples test detection only: a fail example holds a
                // promise, a pass example none (whether it is kept needs other conversations).
                let found: Vec<(u32, &String)> = if matches!(rule.kind, RuleKind::Promise { .. }) {
                    audit
                        .promises
                        .iter()
                        .map(|p| (p.rule, &p.evidence))
                        .collect()
                } else {
                    audit
                        .findings
                        .iter()
                        .map(|f| (f.rule, &f.evidence))
                        .collect()
                };
                let evidence: Vec<String> = found
                    .into_iter()
                    .filter(|(rule, _)| *rule as usize == index)
                    .map(|(_, evidence)| evidence.clone())
                    .collect();
                if evidence.is_empty() == expected_finding {
                    failures.push(ExampleFailure {
                        rule_id: rule.id.clone(),
                        file: rule.file.clone(),
                        line: example.line,
                        expected_finding,
                        text: example.text.clone(),
                        evidence,
                    });
                }
            }
        }
    }
    (count, failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSource;

    #[test]
    fn misbehaving_examples_are_reported_with_their_line() {
        let text = r#"version = 1
[[rule]]
id = "blame"
kind = "forbid"
severity = "major"
message = "m"
phrases = ["calm down"]
examples.fail = ["agent: calm down", "agent: relax"]
examples.pass = ["agent: hello", "agent: please calm down"]
"#;
        let set = RuleSet::load(&[RuleSource {
            name: "t.toml".into(),
            text: text.into(),
        }])
        .unwrap();
        let (count, failures) = run_examples(&set);
        assert_eq!(count, 4);
        assert_eq!(failures.len(), 2);
        assert!(failures[0].expected_finding);
        assert_eq!(failures[0].line, 8);
        assert!(
            failures[0]
                .to_string()
                .starts_with("t.toml:8: field `examples.fail`")
        );
        assert!(!failures[1].expected_finding);
        assert_eq!(failures[1].evidence, vec!["please «calm down»"]);
    }

    #[test]
    fn the_default_pack_examples_behave() {
        let set = RuleSet::default_pack().unwrap();
        let (count, failures) = run_examples(&set);
        assert!(count >= 8);
        let shown: Vec<String> = failures.iter().map(ToString::to_string).collect();
        assert!(failures.is_empty(), "{}", shown.join("\n"));
    }
}

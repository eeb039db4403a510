//! Running the examples every rule carries (`callqa rules test`). It sits above both the rule
//! set and the checks: it loads the one and runs the other.
//!
//! A `fail` example must produce at least one finding of its rule, a `pass` example none; a
//! `fail` example that names a `turn` (and `words`) needs its finding there. The
//! examples run through the same [`Auditor`] as an audit, against the whole rule set, so an
//! example also proves that its rule's phrases survive normalization and whole-word matching.

use std::sync::Arc;

use crate::checks::Auditor;
use crate::model::ConversationAudit;
use crate::rules::{Example, Rule, RuleKind, RuleSet};
use crate::transcript::script::parse_script_from_line;
use crate::wording::counted;

/// An example that did not behave.
#[derive(Debug, Clone, PartialEq)]
pub struct ExampleFailure {
    pub(crate) rule_id: String,
    pub(crate) file: String,
    pub(crate) line: usize,
    /// `true` for an `examples.fail` entry that produced no finding; `false` for an
    /// `examples.pass` entry that produced some.
    pub(crate) expected_finding: bool,
    pub(crate) text: String,
    /// The evidence of the findings it produced (for a pass example, or a fail example whose
    /// findings are all in the wrong place: then prefixed with their turn).
    pub(crate) evidence: Vec<String>,
    /// Where a fail example's finding had to be (`turn 3 with "not our fault"`).
    pub(crate) expected_at: Option<String>,
}

impl std::fmt::Display for ExampleFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(at) = &self.expected_at {
            write!(
                f,
                "{}:{}: field `examples.fail`: rule `{}` found nothing on {at}; it found {}; in this example:",
                self.file,
                self.line,
                self.rule_id,
                self.evidence.join("; ")
            )?;
        } else if self.expected_finding {
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
    format!(
        "{}: {}, {}, {outcome}",
        set.name,
        counted(set.rules.len() as u64, "rule"),
        counted(examples as u64, "example"),
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
                let Ok(mut conversation) = parse_script_from_line(
                    &example.text,
                    &file,
                    &format!("{}:{}", rule.id, example.line),
                    example.line as u64,
                ) else {
                    continue;
                };
                conversation.channel.clone_from(&example.channel);
                let audit = auditor.audit(&conversation);
                let found = found_by(&audit, rule, index as u32);
                let misplaced = expected_finding
                    && (example.turn.is_some() || example.words.is_some())
                    && !found.is_empty()
                    && !found
                        .iter()
                        .any(|(turn, evidence)| is_at(example, *turn, evidence));
                if found.is_empty() == expected_finding || misplaced {
                    failures.push(ExampleFailure {
                        rule_id: rule.id.clone(),
                        file: rule.file.clone(),
                        line: example.line,
                        expected_finding,
                        text: example.text.clone(),
                        evidence: found
                            .iter()
                            .map(|(turn, evidence)| {
                                if misplaced {
                                    format!("turn {turn}: {evidence}")
                                } else {
                                    evidence.clone()
                                }
                            })
                            .collect(),
                        expected_at: misplaced.then(|| placement(example)),
                    });
                }
            }
        }
    }
    (count, failures)
}

/// The turns and evidence of the findings of rule `index` (of a promise rule, its promises:
/// its examples test detection only, since whether a promise is kept needs other
/// conversations).
fn found_by(audit: &ConversationAudit, rule: &Rule, index: u32) -> Vec<(usize, String)> {
    if matches!(rule.kind, RuleKind::Promise { .. }) {
        audit
            .promises
            .iter()
            .filter(|p| p.rule == index)
            .map(|p| (p.turn, p.evidence.clone()))
            .collect()
    } else {
        audit
            .findings
            .iter()
            .filter(|f| f.rule == index)
            .map(|f| (f.turn, f.evidence.clone()))
            .collect()
    }
}

/// Whether a finding on `turn` with this evidence is where the example wants it: on its
/// `turn`, and with its `words` (case folded) on the words the evidence marks `«…»`, not only
/// in the context shown around them.
fn is_at(example: &Example, turn: usize, evidence: &str) -> bool {
    example.turn.is_none_or(|t| t == turn)
        && example
            .words
            .as_ref()
            .is_none_or(|words| words_on_mark(evidence, words))
}

/// Whether `words` (case folded) occur in `evidence` overlapping one of its marked spans; in
/// evidence that marks nothing (a `require` rule quotes the turn that lacks its phrases),
/// anywhere in it.
fn words_on_mark(evidence: &str, words: &str) -> bool {
    // The evidence without its marks, and the marked byte ranges in it.
    let mut plain = String::with_capacity(evidence.len());
    let mut marked: Vec<(usize, usize)> = Vec::new();
    let mut open = None;
    for c in evidence.chars() {
        match c {
            '«' => open = Some(plain.len()),
            '»' => {
                if let Some(start) = open.take() {
                    marked.push((start, plain.len()));
                }
            }
            _ => plain.extend(fold(c)),
        }
    }
    let words: String = words.chars().flat_map(fold).collect();
    if words.is_empty() {
        return true;
    }
    if marked.is_empty() {
        return plain.contains(&words);
    }
    plain.match_indices(&words).any(|(at, found)| {
        let end = at + found.len();
        marked.iter().any(|&(from, to)| at < to && from < end)
    })
}

/// A character as an example's words and its evidence are compared: lower case, a curly
/// apostrophe as a straight one (an example typed with `'` matches text written with `’`).
fn fold(c: char) -> impl Iterator<Item = char> {
    match c {
        '\u{2018}' | '\u{2019}' => '\''.to_lowercase(),
        _ => c.to_lowercase(),
    }
}

/// Where an example wants its finding, in words: `turn 3 with "not our fault"`.
fn placement(example: &Example) -> String {
    match (&example.turn, &example.words) {
        (Some(turn), Some(words)) => format!("turn {turn} with \"{words}\""),
        (Some(turn), None) => format!("turn {turn}"),
        (None, Some(words)) => format!("any turn with \"{words}\""),
        (None, None) => "any turn".into(),
    }
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
    fn words_are_found_on_the_marked_words() {
        // (evidence, words, whether the words are on the finding)
        let cases = [
            ("agent: \"you «can’t» do that\"", "can't", true),
            ("agent: \"you «can't» do that\"", "CAN’T", true),
            ("agent: \"«you must» be tired\"", "must be", true),
            ("agent: \"«you must» be tired\"", "be tired", false),
            // a require rule quotes the turn and marks nothing: anywhere in the quote
            (
                "nothing of the required phrases; said: \"Thanks!\"",
                "thanks",
                true,
            ),
            (
                "nothing of the required phrases; said: \"Thanks!\"",
                "bye",
                false,
            ),
        ];
        for (evidence, words, expected) in cases {
            assert_eq!(
                words_on_mark(evidence, words),
                expected,
                "{evidence} {words}"
            );
        }
    }

    #[test]
    fn a_fail_example_may_say_where_its_finding_must_be() {
        let rule = |fail: &str| {
            format!(
                "version = 1\n[[rule]]\nid = \"blame\"\nkind = \"forbid\"\nseverity = \"major\"\nmessage = \"m\"\nphrases = [\"calm down\", \"you must\"]\nexamples.fail = [{fail}]\nexamples.pass = [\"agent: hello\"]\n"
            )
        };
        let script = "\"\"\"\nagent: you must be tired\nagent: calm down\n\"\"\"";
        // (the fail example, whether it misbehaves)
        let cases = [
            (script.to_string(), false),
            (format!("{{ text = {script} }}"), false),
            (format!("{{ text = {script}, turn = 2 }}"), false),
            (format!("{{ text = {script}, turn = 1 }}"), false),
            (
                format!("{{ text = {script}, turn = 2, words = \"Calm Down\" }}"),
                false,
            ),
            (
                format!("{{ text = {script}, turn = 1, words = \"calm down\" }}"),
                true,
            ),
            (
                format!("{{ text = {script}, words = \"not found\" }}"),
                true,
            ),
            // "be tired" is shown beside the finding on turn 1, but not marked
            (
                format!("{{ text = {script}, turn = 1, words = \"be tired\" }}"),
                true,
            ),
            (
                format!("{{ text = {script}, turn = 1, words = \"must be\" }}"),
                false,
            ),
            ("{ text = \"agent: hello\", turn = 1 }".to_string(), true),
        ];
        for (fail, misbehaves) in cases {
            let set = RuleSet::load(&[RuleSource {
                name: "t.toml".into(),
                text: rule(&fail),
            }])
            .unwrap();
            let (count, failures) = run_examples(&set);
            assert_eq!(count, 2);
            assert_eq!(failures.len(), usize::from(misbehaves), "{fail}");
        }
        let set = RuleSet::load(&[RuleSource {
            name: "t.toml".into(),
            text: rule(&format!(
                "{{ text = {script}, turn = 1, words = \"calm\" }}"
            )),
        }])
        .unwrap();
        let shown = run_examples(&set).1[0].to_string();
        assert!(
            shown.starts_with(
                "t.toml:8: field `examples.fail`: rule `blame` found nothing on turn 1 with \"calm\"; it found turn 1: «you must» be tired; turn 2: «calm down»"
            ),
            "{shown}"
        );
    }

    #[test]
    fn a_placed_example_must_name_a_turn_of_its_own_and_be_a_fail_example() {
        let base = "version = 1\n[[rule]]\nid = \"b\"\nkind = \"forbid\"\nseverity = \"major\"\nmessage = \"m\"\nphrases = [\"x\"]\n";
        let cases = [
            (
                "examples.fail = [{ text = \"agent: x\", turn = 2 }]\nexamples.pass = [\"agent: y\"]",
                "is not a turn of the example",
            ),
            (
                "examples.fail = [\"agent: x\"]\nexamples.pass = [{ text = \"agent: y\", turn = 1 }]",
                "only a `fail` example names",
            ),
            (
                "examples.fail = [{ text = \"agent: x\", turns = 1 }]\nexamples.pass = [\"agent: y\"]",
                "unknown field `turns`, expected one of `text`, `turn`, `words`, `channel`",
            ),
        ];
        for (examples, message) in cases {
            let error = RuleSet::load(&[RuleSource {
                name: "t.toml".into(),
                text: format!("{base}{examples}\n"),
            }])
            .unwrap_err()
            .to_string();
            assert!(error.contains(message), "{error}");
        }
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

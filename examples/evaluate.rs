//! Scores a rule pack against reference labels: precision, recall and F1 per check.
//!
//! ```text
//! cargo run --release --example evaluate -- DATA.jsonl LABELS.jsonl [RULES.toml]...
//! ```
//!
//! DATA is a transcript file callqa reads (the labels name its conversations by id); LABELS
//! holds one JSON object per conversation, in the form of the reference labels that come with
//! the project's real data (`complaint`, `apology`, `blame`, `next_steps_at_close`,
//! `close_turn`, `callback_promise`, …). A check "fires" on a conversation when its rule has at
//! least one finding there; the label that says it should fire is:
//!
//! | check   | rule id  | should fire when                                  |
//! |---------|----------|---------------------------------------------------|
//! | blame   | blame    | `blame`                                           |
//! | apology | apology  | `complaint` and not `apology`                     |
//! | closing | closing  | an agent turn exists and not `next_steps_at_close`|
//! | callback| callback | `callback_promise` (detection: the rule found a promise; whether it was kept needs the other conversations) |
//!
//! Only labeled conversations count. Without RULES, the built-in default pack is scored.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use callqa::checks::Auditor;
use callqa::input::{ReadOptions, discover, read_chunks};
use callqa::rules::{RuleSet, RuleSource};
use callqa::transcript::Conversation;

/// A check: its name, the rule it scores, and the label that says it should fire.
struct Check {
    name: &'static str,
    rule_id: &'static str,
    expected: fn(&serde_json::Value) -> Option<bool>,
}

fn flag(label: &serde_json::Value, key: &str) -> Option<bool> {
    label.get(key).and_then(serde_json::Value::as_bool)
}

const CHECKS: &[Check] = &[
    Check {
        name: "blame",
        rule_id: "blame",
        expected: |label| flag(label, "blame"),
    },
    Check {
        name: "apology",
        rule_id: "apology",
        expected: |label| Some(flag(label, "complaint")? && !flag(label, "apology")?),
    },
    Check {
        name: "closing",
        rule_id: "closing",
        expected: |label| {
            if label
                .get("close_turn")
                .is_none_or(serde_json::Value::is_null)
            {
                return None;
            }
            Some(!flag(label, "next_steps_at_close")?)
        },
    },
    Check {
        name: "callback",
        rule_id: "callback",
        expected: |label| flag(label, "callback_promise"),
    },
];

#[derive(Default)]
struct Confusion {
    true_positive: u32,
    false_positive: u32,
    false_negative: u32,
    true_negative: u32,
    /// Conversation ids of the errors, for reading.
    false_positives: Vec<String>,
    false_negatives: Vec<String>,
}

impl Confusion {
    fn precision(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_positive)
    }
    fn recall(&self) -> f64 {
        ratio(self.true_positive, self.true_positive + self.false_negative)
    }
    fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: u32, b: u32) -> f64 {
    if b == 0 {
        0.0
    } else {
        f64::from(a) / f64::from(b)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose");
    let args: Vec<&String> = args.iter().filter(|a| *a != "--verbose").collect();
    if args.len() < 2 {
        eprintln!("usage: evaluate DATA.jsonl LABELS.jsonl [RULES.toml]... [--verbose]");
        return ExitCode::from(2);
    }
    let rules = {
        let mut sources = Vec::new();
        for path in &args[2..] {
            match RuleSource::from_arg(&PathBuf::from(path)) {
                Ok(found) => sources.extend(found),
                Err(err) => {
                    eprintln!("evaluate: {err}");
                    return ExitCode::from(2);
                }
            }
        }
        if sources.is_empty() {
            sources.push(RuleSource::default_pack());
        }
        match RuleSet::load(&sources) {
            Ok(rules) => rules,
            Err(err) => {
                eprintln!("evaluate: {err}");
                return ExitCode::from(2);
            }
        }
    };
    let labels_text = match std::fs::read_to_string(args[1]) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("evaluate: {}: {err}", args[1]);
            return ExitCode::from(2);
        }
    };
    let mut labels: HashMap<String, serde_json::Value> = HashMap::new();
    for (index, line) in labels_text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<serde_json::Value>(line) {
            Ok(label) => {
                if let Some(id) = label.get("conversation_id").and_then(|v| v.as_str()) {
                    labels.insert(id.to_string(), label);
                }
            }
            Err(err) => {
                eprintln!("evaluate: {}:{}: {err}", args[1], index + 1);
                return ExitCode::from(2);
            }
        }
    }

    let files = discover(&[PathBuf::from(args[0])], None).files;
    let mut conversations: Vec<Conversation> = Vec::new();
    read_chunks(&files, &ReadOptions::default(), |chunk| {
        chunk.for_each_conversation(|item| {
            if let Ok(conversation) = item
                && labels.contains_key(&conversation.id)
            {
                conversations.push(conversation);
            }
        });
        true
    });

    let mut auditor = Auditor::new(&rules);
    let mut results: Vec<Confusion> = CHECKS.iter().map(|_| Confusion::default()).collect();
    for conversation in &conversations {
        let audit = auditor.audit(conversation);
        let label = &labels[&conversation.id];
        for (check, confusion) in CHECKS.iter().zip(results.iter_mut()) {
            let Some(rule_index) = rules.rules.iter().position(|r| r.id == check.rule_id) else {
                continue;
            };
            let Some(expected) = (check.expected)(label) else {
                continue;
            };
            // A promise rule fires where it found a promise (judging it needs the whole input).
            let fired = audit.findings.iter().any(|f| f.rule as usize == rule_index)
                || audit.promises.iter().any(|p| p.rule as usize == rule_index);
            let id = conversation.id.clone();
            match (fired, expected) {
                (true, true) => confusion.true_positive += 1,
                (true, false) => {
                    confusion.false_positive += 1;
                    confusion.false_positives.push(id);
                }
                (false, true) => {
                    confusion.false_negative += 1;
                    confusion.false_negatives.push(id);
                }
                (false, false) => confusion.true_negative += 1,
            }
        }
    }

    println!(
        "{} labeled conversations of {} scored with rule set {}",
        conversations.len(),
        labels.len(),
        rules.name
    );
    println!(
        "{:<10}{:>5}{:>5}{:>5}{:>5}{:>11}{:>8}{:>7}",
        "check", "tp", "fp", "fn", "tn", "precision", "recall", "f1"
    );
    for (check, c) in CHECKS.iter().zip(&results) {
        println!(
            "{:<10}{:>5}{:>5}{:>5}{:>5}{:>11.3}{:>8.3}{:>7.3}",
            check.name,
            c.true_positive,
            c.false_positive,
            c.false_negative,
            c.true_negative,
            c.precision(),
            c.recall(),
            c.f1()
        );
        if verbose {
            println!("  false positives: {}", c.false_positives.join(" "));
            println!("  false negatives: {}", c.false_negatives.join(" "));
        }
    }
    ExitCode::SUCCESS
}

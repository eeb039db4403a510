//! Converts the guideline labels that come with the project's real data to the labels
//! `callqa eval` reads, for one fixed half of them:
//!
//! ```text
//! cargo run --release --example guideline_labels -- --half tune|check|all LABELS.jsonl > OUT.jsonl
//! callqa eval ../shared/data/real/twcs.jsonl --labels OUT.jsonl
//! ```
//!
//! LABELS holds one JSON object per conversation, in the form of the reference labels
//! (`labels/GUIDELINES.md`: `complaint`, `apology`, `blame`, `next_steps_at_close`,
//! `close_turn`, `callback_promise`, …). Each becomes
//! `{"conversation_id": …, "expect": {…}}`, where a rule is expected to fire when:
//!
//! | rule     | expected to fire when                                       |
//! |----------|-------------------------------------------------------------|
//! | apology  | `complaint` and not `apology`                               |
//! | blame    | `blame`                                                     |
//! | closing  | not `next_steps_at_close`; left out when `close_turn` is null (no agent turn) |
//! | callback | `callback_promise` (detection: `callqa eval` counts a promise as firing) |
//!
//! A rule whose label fields are absent is left out of that conversation's `expect`.
//!
//! The split is fixed, so that a pack is tuned on one half and measured on the other: the
//! tuning half (`--half tune`) holds the conversations whose id's SHA-256 (of its UTF-8 bytes)
//! starts with an even byte, the check half (`--half check`) the rest; `--half all` keeps every
//! conversation. Lines are written in the order of LABELS.

use std::process::ExitCode;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Which conversations of the labels to convert.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Half {
    Tune,
    Check,
    All,
}

impl Half {
    fn parse(text: &str) -> Option<Half> {
        Some(match text {
            "tune" => Half::Tune,
            "check" => Half::Check,
            "all" => Half::All,
            _ => return None,
        })
    }

    /// Whether the conversation `id` belongs to this half.
    fn holds(self, id: &str) -> bool {
        let even = Sha256::digest(id.as_bytes())[0] % 2 == 0;
        match self {
            Half::Tune => even,
            Half::Check => !even,
            Half::All => true,
        }
    }
}

fn flag(label: &Value, key: &str) -> Option<bool> {
    label.get(key).and_then(Value::as_bool)
}

/// What each rule of the default pack should do in the conversation `label` describes.
fn expect(label: &Value) -> Map<String, Value> {
    let closing = if label.get("close_turn").is_none_or(Value::is_null) {
        None
    } else {
        flag(label, "next_steps_at_close").map(|next_steps| !next_steps)
    };
    let rules = [
        (
            "apology",
            flag(label, "complaint")
                .zip(flag(label, "apology"))
                .map(|(complaint, apology)| complaint && !apology),
        ),
        ("blame", flag(label, "blame")),
        ("closing", closing),
        ("callback", flag(label, "callback_promise")),
    ];
    rules
        .into_iter()
        .filter_map(|(rule, expected)| Some((rule.to_string(), Value::Bool(expected?))))
        .collect()
}

fn usage() -> ExitCode {
    eprintln!("usage: guideline_labels --half tune|check|all LABELS.jsonl");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (half, path) = match args.as_slice() {
        [flag, half, path] | [path, flag, half] if flag == "--half" => (half, path),
        _ => return usage(),
    };
    let Some(half) = Half::parse(half) else {
        return usage();
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            eprintln!("guideline_labels: {path}: {err}");
            return ExitCode::from(2);
        }
    };
    let mut out = String::new();
    let (mut kept, mut read) = (0, 0);
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let label: Value = match serde_json::from_str(line) {
            Ok(label) => label,
            Err(err) => {
                eprintln!("guideline_labels: {path}:{}: {err}", index + 1);
                return ExitCode::from(2);
            }
        };
        let Some(id) = label.get("conversation_id").and_then(Value::as_str) else {
            eprintln!("guideline_labels: {path}:{}: no conversation_id", index + 1);
            return ExitCode::from(2);
        };
        read += 1;
        if !half.holds(id) {
            continue;
        }
        kept += 1;
        let converted = serde_json::json!({ "conversation_id": id, "expect": expect(&label) });
        out.push_str(&converted.to_string());
        out.push('\n');
    }
    print!("{out}");
    eprintln!("guideline_labels: {kept} of {read} conversations");
    ExitCode::SUCCESS
}

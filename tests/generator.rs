//! The benchmark corpus generator (`benches/corpus`) plants the default pack's phrases at the
//! rates its module comment states. These tests keep it honest: ordinary talk must not hold a
//! phrase of the pack, and an audit of a generated sample must find about as much as a real
//! export does, or the benchmarks would measure a corpus no contact center produces.

#[path = "../benches/corpus/mod.rs"]
mod corpus;

use callqa::engine::{Normalized, normalize_text_into};
use std::collections::{BTreeMap, BTreeSet};

use callqa::rules::{Role, RuleKind, RuleSet};

/// Ordinary talk may hold common words the pack also lists (backchannels such as "right",
/// words a promise's follow-up looks for such as "credit"), but never a phrase that makes a
/// finding by itself: a complaint that asks for an apology, or a forbidden or promised phrase.
#[test]
fn filler_templates_hold_no_phrase_that_makes_a_finding() {
    let rules = RuleSet::default_pack().expect("the built-in pack compiles");
    let mut found = Vec::new();
    for (speaker, template) in corpus::filler_templates() {
        let mut normalized = Normalized::default();
        normalize_text_into(template, &mut normalized);
        let mut hits = Vec::new();
        rules.matcher.find_into(&normalized.text, &mut hits);
        for hit in hits {
            let phrase = hit.phrase as usize;
            let makes_a_finding = rules.uses[phrase].iter().any(|phrase_use| {
                let kind = &rules.rules[phrase_use.rule as usize].kind;
                match phrase_use.role {
                    Role::Trigger => true,
                    Role::Phrase => matches!(kind, RuleKind::Forbid | RuleKind::Promise { .. }),
                    _ => false,
                }
            });
            if makes_a_finding {
                found.push(format!(
                    "{speaker} {template:?}: {:?}",
                    rules.written_phrases[phrase]
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "templates holding pack phrases:\n{}",
        found.join("\n")
    );
}

/// What an audit of a generated corpus reports, per conversation.
struct Audited {
    conversations: f64,
    /// Findings by rule.
    per_rule: BTreeMap<String, u64>,
    /// Conversations that made at least one promise.
    with_promise: usize,
}

impl Audited {
    fn rate(&self, rule: &str) -> f64 {
        self.per_rule.get(rule).copied().unwrap_or(0) as f64 / self.conversations
    }

    fn total_rate(&self) -> f64 {
        self.per_rule.values().sum::<u64>() as f64 / self.conversations
    }

    fn promise_rate(&self) -> f64 {
        self.with_promise as f64 / self.conversations
    }
}

/// Generates `bytes` of JSON Lines in `profile` and audits them with the real binary; every
/// conversation must be audited (the fields callqa does not read skip nothing).
fn audit_generated(profile: corpus::Profile, bytes: u64) -> Audited {
    let pack = corpus::Pack::default_pack();
    let (data, stats) = corpus::generate_profile(&pack, profile, 7, corpus::Format::Jsonl, bytes);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("corpus.jsonl");
    std::fs::write(&input, &data).unwrap();
    let report = dir.path().join("report");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_callqa"))
        .args(["audit", "-q", "-o"])
        .arg(&report)
        .arg(&input)
        .status()
        .unwrap();
    assert!(status.success(), "callqa audit failed: {status}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(
        summary["conversations"]["audited"], stats.conversations,
        "{}",
        summary["conversations"]
    );
    let findings = std::fs::read_to_string(report.join("findings.csv")).unwrap();
    let mut per_rule: BTreeMap<String, u64> = BTreeMap::new();
    for line in findings.lines().skip(1) {
        let rule = line.split(',').nth(2).expect("a rule column");
        *per_rule.entry(rule.to_string()).or_default() += 1;
    }
    let promises = std::fs::read_to_string(report.join("promises.csv")).unwrap();
    let with_promise = promises
        .lines()
        .skip(1)
        .map(|line| line.split(',').next().expect("a conversation column"))
        .collect::<BTreeSet<_>>()
        .len();
    Audited {
        conversations: stats.conversations as f64,
        per_rule,
        with_promise,
    }
}

/// An audit of 4 MiB of generated conversations finds what a contact center's export shows:
/// every check fires somewhere, about one finding per conversation and a promise in about
/// one conversation in twenty (the real Twitter support threads in `data/real`, a complaint
/// channel, give 0.97 findings per conversation, 0.51 missing apologies and promises in 5%).
#[test]
fn generated_corpus_gives_findings_at_the_rates_of_a_real_export() {
    let audited = audit_generated(corpus::Profile::Export, 4 << 20);
    let per_rule = &audited.per_rule;
    for rule in ["interruption", "blame", "apology", "closing", "callback"] {
        assert!(
            audited.rate(rule) > 0.0,
            "no {rule} finding in {per_rule:?}"
        );
    }
    let total_rate = audited.total_rate();
    assert!(
        (0.8..=1.2).contains(&total_rate),
        "{total_rate:.2} findings per conversation: {per_rule:?}"
    );
    assert!(
        audited.rate("apology") <= 0.5,
        "{:.2} missing apologies per conversation: {per_rule:?}",
        audited.rate("apology")
    );
    let promise_rate = audited.promise_rate();
    assert!(
        (0.03..=0.08).contains(&promise_rate),
        "promises in {promise_rate:.3} of the conversations"
    );
}

/// The callback-heavy profile: a promise in most conversations, the rest as in an export.
#[test]
fn callback_heavy_corpus_has_a_promise_in_most_conversations() {
    let audited = audit_generated(corpus::Profile::CallbackHeavy, 1 << 20);
    let promise_rate = audited.promise_rate();
    assert!(
        (0.7..=0.9).contains(&promise_rate),
        "promises in {promise_rate:.3} of the conversations"
    );
    assert!(
        audited.rate("apology") <= 0.5,
        "{:.2} missing apologies per conversation",
        audited.rate("apology")
    );
}

/// Every generated line carries at least three fields callqa does not read, one of them an
/// object nested two levels deep, and its turns carry fields callqa does not read too: the
/// shape of a real export, which the JSON reader must skip.
#[test]
fn every_line_carries_fields_callqa_does_not_read() {
    let pack = corpus::Pack::default_pack();
    let (data, stats) = corpus::generate(&pack, 7, corpus::Format::Jsonl, 256 << 10);
    let depth = |value: &serde_json::Value| -> usize {
        fn depth(value: &serde_json::Value) -> usize {
            match value {
                serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
                serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
                _ => 0,
            }
        }
        depth(value)
    };
    let mut lines = 0;
    for line in data.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let value: serde_json::Value = serde_json::from_slice(line).unwrap();
        let object = value.as_object().unwrap();
        let unread: Vec<&serde_json::Value> = object
            .iter()
            .filter(|(key, _)| !corpus::READ_FIELDS.contains(&key.as_str()))
            .map(|(_, value)| value)
            .collect();
        assert!(unread.len() >= 3, "{}", String::from_utf8_lossy(line));
        assert!(
            unread
                .iter()
                .any(|value| value.is_object() && depth(value) >= 2),
            "no nested object in {}",
            String::from_utf8_lossy(line)
        );
        for turn in object["turns"].as_array().unwrap() {
            assert!(
                turn.as_object()
                    .unwrap()
                    .keys()
                    .any(|key| !["speaker", "text", "start_ms", "end_ms", "agent_id"]
                        .contains(&key.as_str())),
                "{turn}"
            );
        }
        lines += 1;
    }
    assert_eq!(lines, stats.conversations);
}

/// The CSV format carries columns callqa does not read, and the CSV reader takes every row.
#[test]
fn generated_csv_with_extra_columns_is_read_whole() {
    let pack = corpus::Pack::default_pack();
    let (data, stats) = corpus::generate(&pack, 7, corpus::Format::Csv, 64 << 10);
    let header = corpus::CSV_HEADER.trim_end();
    assert!(header.ends_with(",queue,language,sentiment"), "{header}");
    let mut conversations = 0;
    let reader = callqa::transcript::csv::CsvReader::new(&data[..], "gen.csv".into()).unwrap();
    for conversation in reader {
        conversation.unwrap();
        conversations += 1;
    }
    assert_eq!(conversations, stats.conversations);
}

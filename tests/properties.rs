//! Property tests: normalization is idempotent, readers never panic, partial scorecards merge
//! associatively, and the audit's output depends neither on the thread count, nor on the chunk
//! size, nor on the order the paths are given in.

use std::path::PathBuf;
use std::sync::OnceLock;

use proptest::prelude::*;

use callqa::audit::{self, AuditOptions};
use callqa::engine::normalize;
use callqa::input::{ReadOptions, discover};
use callqa::model::{AgentPart, ConversationAudit, RuleState};
use callqa::rules::RuleSet;
use callqa::scorecard::Scorecards;
use callqa::transcript::script::parse_script;
use callqa::transcript::{csv::CsvReader, jsonl};

/// The default pack, compiled once for all cases.
fn default_rules() -> &'static RuleSet {
    static RULES: OnceLock<RuleSet> = OnceLock::new();
    RULES.get_or_init(|| RuleSet::default_pack().unwrap())
}

proptest! {
    #[test]
    fn normalization_is_idempotent(text in "\\PC{0,80}") {
        let once = normalize(&text);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    }

    #[test]
    fn readers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let file = std::sync::Arc::from("fuzz");
        let _ = jsonl::parse_line(&bytes, &file, 1);
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_script(&text, &file, "p");
        if let Ok(reader) = CsvReader::new(bytes.as_slice(), file.clone()) {
            for _ in reader {}
        }
    }

    #[test]
    fn partial_scorecards_merge_associatively(
        states in proptest::collection::vec((0u8..4, proptest::collection::vec(0u8..3, 4)), 0..40),
        cut_a in 0usize..40,
        cut_b in 0usize..40,
    ) {
        let rules = default_rules();
        let audits: Vec<ConversationAudit> = states
            .iter()
            .map(|(agent, rule_states)| ConversationAudit {
                findings: Vec::new(),
                promises: Vec::new(),
                suppressed: 0,
                agents: vec![AgentPart {
                    agent_id: format!("a-{agent}"),
                    states: rule_states
                        .iter()
                        .map(|s| match s {
                            0 => RuleState::NotApplicable,
                            1 => RuleState::Passed,
                            _ => RuleState::Failed,
                        })
                        .collect(),
                }],
            })
            .collect();
        let part = |items: &[ConversationAudit]| {
            let mut cards = Scorecards::new(rules.rules.len());
            for item in items {
                cards.add(item, rules);
            }
            cards
        };
        let (a, b) = (cut_a.min(audits.len()), cut_b.min(audits.len()));
        let (low, high) = (a.min(b), a.max(b));
        let (x, y, z) = (part(&audits[..low]), part(&audits[low..high]), part(&audits[high..]));
        let mut left = x.clone();
        left.merge(&y);
        left.merge(&z);
        let mut right_inner = y.clone();
        right_inner.merge(&z);
        let mut right = x.clone();
        right.merge(&right_inner);
        let mut reversed = z.clone();
        reversed.merge(&y);
        reversed.merge(&x);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &reversed);
        prop_assert_eq!(&left, &part(&audits));
    }
}

/// A small random corpus in three files, with duplicates across files and bad lines.
fn corpus(seed: u64, dir: &std::path::Path) -> Vec<PathBuf> {
    let phrases = [
        "calm down",
        "this is ridiculous",
        "I'm so sorry about that",
        "please DM us your order number",
        "thanks",
        "you should have read the terms",
        "still waiting for my refund",
    ];
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) % n
    };
    let mut paths = Vec::new();
    for file in 0..3 {
        let mut text = String::new();
        for _ in 0..60 {
            if next(20) == 0 {
                text.push_str("{broken\n");
                continue;
            }
            let id = next(150);
            let mut turns = Vec::new();
            let mut at = 0;
            for turn in 0..(1 + next(5)) {
                let speaker = if turn % 2 == 0 { "customer" } else { "agent" };
                let start = at;
                at += 500 + next(3000) as i64;
                turns.push(format!(
                    "{{\"speaker\":\"{speaker}\",\"text\":\"{}\",\"start_ms\":{start},\"end_ms\":{}}}",
                    phrases[next(phrases.len() as u64) as usize],
                    at + next(1500) as i64
                ));
            }
            text.push_str(&format!(
                "{{\"id\":\"p-{id}\",\"agent_id\":\"a-{}\",\"turns\":[{}]}}\n",
                next(5),
                turns.join(",")
            ));
        }
        let path = dir.join(format!("part-{file}.jsonl"));
        std::fs::write(&path, text).unwrap();
        paths.push(path);
    }
    paths
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn output_does_not_depend_on_threads_chunks_or_path_order(
        seed in any::<u64>(),
        threads in 1usize..4,
        chunk_bytes in 64usize..4096,
        finding_budget_bytes in 0usize..16384,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let paths = corpus(seed, dir.path());
        let rules = default_rules();
        // The reference keeps every finding in memory; the other run spills them to disk.
        let run = |paths: &[PathBuf], threads: usize, chunk_bytes: usize, budget: usize| {
            let files = discover(paths, None).files;
            let options = AuditOptions {
                threads,
                read: ReadOptions { chunk_bytes, ..ReadOptions::default() },
                finding_budget_bytes: Some(budget),
                ..AuditOptions::default()
            };
            audit::run(&files, rules, &options, &mut |_| {}).unwrap()
        };
        let mut reference = run(&paths, 1, 1 << 20, usize::MAX);
        let mut reversed = paths.clone();
        reversed.reverse();
        let mut other = run(&reversed, threads, chunk_bytes, finding_budget_bytes);
        prop_assert_eq!(reference.findings.to_vec().unwrap(), other.findings.to_vec().unwrap());
        prop_assert_eq!(&reference.scorecards, &other.scorecards);
        prop_assert_eq!(&reference.stats, &other.stats);
        prop_assert_eq!(reference.stats.read, reference.stats.audited + reference.stats.skipped_total());
    }
}

//! The worst cases of one conversation, with the built-in pack: many turns, and many hits in
//! one turn (issue 20, item 5: 40,000 turns took 90 times as long as 4,000, and a turn of
//! 200,000 hits 100 times as long as one of 20,000).
//!
//! ```text
//! cargo bench --bench long_conversations
//! ```
//!
//! Every check is linear in turns and hits, so the time per turn (or per hit, divan's item
//! counter) stays flat from the small size to the large one. Each bench states its expected
//! findings and checks them before timing, so a fast wrong answer fails instead of winning.
//! `checks::tests::work_grows_linearly_with_turns_and_hits` holds the same by counting steps.

use std::sync::{Arc, LazyLock};

use divan::Bencher;
use divan::counter::ItemsCount;

use callqa::checks::Auditor;
use callqa::rules::{RuleKind, RuleSet};
use callqa::transcript::{Conversation, jsonl};

/// The allocator the `callqa` binary uses (see src/main.rs), so the benches measure what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

static RULES: LazyLock<RuleSet> =
    LazyLock::new(|| RuleSet::default_pack().expect("the built-in pack compiles"));

/// One conversation of `turns` given as (speaker, text), read as a JSON line.
fn conversation(turns: impl Iterator<Item = (&'static str, String)>) -> Conversation {
    let turns: Vec<String> = turns
        .map(|(speaker, text)| format!("{{\"speaker\":\"{speaker}\",\"text\":\"{text}\"}}"))
        .collect();
    let line = format!(
        "{{\"id\":\"long\",\"agent_id\":\"a-1\",\"turns\":[{}]}}",
        turns.join(",")
    );
    jsonl::parse_line(line.as_bytes(), &Arc::from("long.jsonl"), 1).expect("the line parses")
}

/// `turns` turns: a complaint, a backchannel, and so on; no apology, so every complaint is
/// a finding of the `respond` rule (`apology`).
fn complaints(turns: usize) -> Conversation {
    conversation((0..turns).map(|turn| {
        if turn % 2 == 0 {
            (
                "customer",
                "This is ridiculous, the worst service".to_string(),
            )
        } else {
            ("agent", "mm-hmm".to_string())
        }
    }))
}

/// One agent turn that says a blame phrase `hits` times: as many findings of the `forbid`
/// rule (`blame`).
fn blame(hits: usize) -> Conversation {
    conversation(
        [
            ("customer", "hi".to_string()),
            ("agent", "you people. ".repeat(hits)),
        ]
        .into_iter(),
    )
}

/// Checks that auditing `conversation` gives `expected` findings of the built-in pack's one
/// rule of `kind`, then times the audit, per `items` (turns or hits).
fn bench_audit(
    bencher: Bencher,
    conversation: Conversation,
    kind: fn(&RuleKind) -> bool,
    expected: usize,
    items: usize,
) {
    let rule = RULES
        .rules
        .iter()
        .position(|r| kind(&r.kind))
        .expect("the rule is in the built-in pack") as u32;
    let mut auditor = Auditor::new(&RULES);
    let audit = auditor.audit(&conversation);
    let found = audit.findings.iter().filter(|f| f.rule == rule).count();
    assert_eq!(found, expected, "the findings of the rule");
    bencher
        .counter(ItemsCount::new(items))
        .bench_local(|| auditor.audit(&conversation).findings.len());
}

/// Every complaint is unanswered: half the turns are findings of `apology`.
#[divan::bench(sample_count = 10, args = [4_000, 40_000])]
fn many_turns(bencher: Bencher, turns: usize) {
    let apology = |kind: &RuleKind| matches!(kind, RuleKind::Respond { .. });
    bench_audit(bencher, complaints(turns), apology, turns / 2, turns);
}

/// One finding of `blame` per blame phrase.
#[divan::bench(sample_count = 10, args = [20_000, 200_000])]
fn many_hits_in_one_turn(bencher: Bencher, hits: usize) {
    let blame_rule = |kind: &RuleKind| matches!(kind, RuleKind::Forbid);
    bench_audit(bencher, blame(hits), blame_rule, hits, hits);
}

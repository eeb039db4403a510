//! Throughput of the hot path, on a seeded corpus planted with the built-in pack's phrases.
//!
//! ```text
//! cargo bench --bench throughput                     # 4 MiB corpus
//! CALLQA_BENCH_BYTES=16M cargo bench --bench throughput
//! ```
//!
//! Every bench counts bytes (of turn text, or of JSON Lines for the parser and the whole
//! audit) and checks its answer against one computed another way, as aho-corasick's
//! benchmarks state their match counts, so that a fast wrong answer fails instead of
//! winning: the hit count against a naive substring search over every phrase, the parsed
//! turns and text bytes against what the generator wrote, and the blame-kind findings against
//! a naive re-implementation of `forbid`. The counts are printed once at start.

#[path = "corpus/mod.rs"]
mod corpus;

use std::sync::{Arc, LazyLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use divan::Bencher;
use divan::counter::BytesCount;

use callqa::audit::{AuditOptions, run};
use callqa::checks::Auditor;
use callqa::engine::{Hit, Normalized, ScanBuffer, normalize_into, normalize_text_into};
use callqa::input::{InputFormat, ReadOptions, discover};
use callqa::rules::{RuleKind, RuleSet};
use callqa::transcript::{Conversation, jsonl};
use corpus::{Format, Pack};

/// The allocator the `callqa` binary uses (see src/main.rs), so the benches measure what ships.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let fixture = &*FIXTURE;
    eprintln!(
        "corpus: {} bytes of JSON Lines, {} conversations, {} turns, {} bytes of turn text; \
         expected: {} phrase hits, {} findings",
        fixture.jsonl.len(),
        fixture.stats.conversations,
        fixture.stats.turns,
        fixture.stats.text_bytes,
        fixture.expected_hits,
        fixture.expected_findings,
    );
    divan::main();
}

struct Fixture {
    rules: RuleSet,
    jsonl: Vec<u8>,
    stats: corpus::Stats,
    conversations: Vec<Conversation>,
    /// Every turn's normalized text (framed by spaces).
    normalized: Vec<String>,
    normalized_bytes: usize,
    expected_hits: usize,
    expected_findings: usize,
    /// The corpus as a file, for the whole-pipeline bench.
    _dir: tempfile::TempDir,
    files: Vec<callqa::input::InputFile>,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let bytes = std::env::var("CALLQA_BENCH_BYTES")
        .ok()
        .and_then(|text| corpus::parse_size(&text))
        .unwrap_or(4 << 20);
    let rules = RuleSet::default_pack().expect("the built-in pack compiles");
    let pack = Pack::from_rules(&rules);
    let (jsonl, stats) = corpus::generate(&pack, 7, Format::Jsonl, bytes);
    let file: Arc<str> = Arc::from("bench.jsonl");
    let conversations: Vec<Conversation> = jsonl
        .split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .zip(1..)
        .map(|(line, number)| {
            jsonl::parse_line(line, &file, number).expect("generated lines parse")
        })
        .collect();
    let mut normalized = Vec::new();
    let mut buffer = Normalized::default();
    for conversation in &conversations {
        for turn in &conversation.turns {
            normalize_into(&turn.text, &mut buffer);
            normalized.push(buffer.text.clone());
        }
    }
    let normalized_bytes = normalized.iter().map(String::len).sum();
    let expected_hits = normalized
        .iter()
        .map(|text| naive_hits(&rules, text).len())
        .sum();
    let mut auditor = Auditor::new(&rules);
    let expected_findings = conversations
        .iter()
        .map(|c| auditor.audit(c).findings.len())
        .sum();
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("bench.jsonl");
    std::fs::write(&path, &jsonl).expect("the corpus is written");
    let files = discover(&[path], Some(InputFormat::Jsonl)).files;
    Fixture {
        rules,
        jsonl,
        stats,
        conversations,
        normalized,
        normalized_bytes,
        expected_hits,
        expected_findings,
        _dir: dir,
        files,
    }
});

/// Every (overlapping) occurrence of every phrase in a framed normalized text, found by plain
/// substring search: (phrase, start, end) in the engine's coordinates.
fn naive_hits(rules: &RuleSet, text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (index, phrase) in rules.phrases.iter().enumerate() {
        // A stem's anchor (`refund*`) is the start of a word: no space after it.
        let (pattern, trailing_space) = match phrase.strip_suffix('*') {
            Some(prefix) => (format!(" {prefix}"), 0),
            None => (format!(" {phrase} "), 1),
        };
        let mut from = 0;
        while let Some(at) = text[from..].find(&pattern) {
            let start = from + at;
            hits.push(Hit {
                phrase: index as u32,
                start: start as u32 + 1,
                end: (start + pattern.len() - trailing_space) as u32,
            });
            from = start + 1;
        }
    }
    hits
}

/// Normalization (text only) and the one automaton, turn by turn, as the auditor runs them.
#[divan::bench(sample_count = 20)]
fn normalize_and_match(bencher: Bencher) {
    let fixture = &*FIXTURE;
    let rules = &fixture.rules;
    bencher
        .counter(BytesCount::new(fixture.stats.text_bytes))
        .bench(|| {
            let mut normalized = Normalized::default();
            let mut hits = Vec::new();
            for conversation in &fixture.conversations {
                for turn in &conversation.turns {
                    normalize_text_into(&turn.text, &mut normalized);
                    rules.matcher.find_into(&normalized.text, &mut hits);
                }
            }
            assert_eq!(hits.len(), fixture.expected_hits);
            hits.len()
        });
}

/// The phrase scan of whole conversations, as the auditor runs it: each conversation's
/// normalized turns walked as one text, in stretches in lock-step.
#[divan::bench(sample_count = 20)]
fn match_conversations(bencher: Bencher) {
    let fixture = &*FIXTURE;
    let mut turns = fixture.normalized.iter();
    let conversations: Vec<Vec<Normalized>> = fixture
        .conversations
        .iter()
        .map(|conversation| {
            (&mut turns)
                .take(conversation.turns.len())
                .map(|text| Normalized {
                    text: text.clone(),
                    origin: Vec::new(),
                })
                .collect()
        })
        .collect();
    bencher
        .counter(BytesCount::new(fixture.normalized_bytes))
        .bench(|| {
            let mut hits: Vec<Vec<Hit>> = Vec::new();
            let mut buffer = ScanBuffer::default();
            let mut count = 0;
            for texts in &conversations {
                if hits.len() < texts.len() {
                    hits.resize_with(texts.len(), Vec::new);
                }
                fixture
                    .rules
                    .matcher
                    .find_each_into(texts, &mut hits, &mut buffer);
                count += hits[..texts.len()].iter().map(Vec::len).sum::<usize>();
            }
            assert_eq!(count, fixture.expected_hits);
            count
        });
}

/// Normalization alone: text only, as the auditor runs it, or with the byte origins that
/// evidence needs.
#[divan::bench(sample_count = 20, args = ["text", "with-origins"])]
fn normalize(bencher: Bencher, mode: &str) {
    let fixture = &*FIXTURE;
    let normalize = if mode == "text" {
        normalize_text_into
    } else {
        normalize_into
    };
    bencher
        .counter(BytesCount::new(fixture.stats.text_bytes))
        .bench(|| {
            let mut normalized = Normalized::default();
            let mut total = 0;
            for conversation in &fixture.conversations {
                for turn in &conversation.turns {
                    normalize(&turn.text, &mut normalized);
                    total += normalized.text.len();
                }
            }
            assert_eq!(total, fixture.normalized_bytes);
            total
        });
}

/// The overlapping search over normalized text, for each automaton kind aho-corasick offers,
/// with and without its prefilter (the engine uses the DFA without prefilter: every pattern
/// starts with a space, so the prefilter stops at every word).
#[divan::bench(
    sample_count = 20,
    args = ["noncontiguous-nfa", "contiguous-nfa", "dfa", "dfa+prefilter"]
)]
fn automaton_kind(bencher: Bencher, kind: &str) {
    let fixture = &*FIXTURE;
    let prefilter = kind.ends_with("+prefilter");
    let kind = match kind.trim_end_matches("+prefilter") {
        "noncontiguous-nfa" => AhoCorasickKind::NoncontiguousNFA,
        "contiguous-nfa" => AhoCorasickKind::ContiguousNFA,
        _ => AhoCorasickKind::DFA,
    };
    let patterns: Vec<String> = fixture
        .rules
        .phrases
        .iter()
        .map(|p| match p.strip_suffix('*') {
            // A stem's anchor is the start of a word, as the engine frames it.
            Some(prefix) => format!(" {prefix}"),
            None => format!(" {p} "),
        })
        .collect();
    let automaton = AhoCorasick::builder()
        .kind(Some(kind))
        .match_kind(MatchKind::Standard)
        .prefilter(prefilter)
        .build(&patterns)
        .expect("the pack's phrases build");
    bencher
        .counter(BytesCount::new(fixture.normalized_bytes))
        .bench(|| {
            let count: usize = fixture
                .normalized
                .iter()
                .map(|text| automaton.find_overlapping_iter(text).count())
                .sum();
            assert_eq!(count, fixture.expected_hits);
            count
        });
}

/// JSON Lines parsing into conversations.
#[divan::bench(sample_count = 20)]
fn parse_jsonl(bencher: Bencher) {
    let fixture = &*FIXTURE;
    let file: Arc<str> = Arc::from("bench.jsonl");
    bencher
        .counter(BytesCount::new(fixture.jsonl.len()))
        .bench(|| {
            let mut turns = 0u64;
            let mut text_bytes = 0u64;
            for (line, number) in fixture.jsonl.split(|&b| b == b'\n').zip(1..) {
                if line.is_empty() {
                    continue;
                }
                let conversation = jsonl::parse_line(line, &file, number).expect("parses");
                turns += conversation.turns.len() as u64;
                text_bytes += conversation
                    .turns
                    .iter()
                    .map(|t| t.text.len() as u64)
                    .sum::<u64>();
            }
            assert_eq!(
                (turns, text_bytes),
                (fixture.stats.turns, fixture.stats.text_bytes)
            );
            turns
        });
}

/// The checks of every rule over parsed conversations (normalization and matching included).
#[divan::bench(sample_count = 20)]
fn audit_conversations(bencher: Bencher) {
    let fixture = &*FIXTURE;
    bencher
        .counter(BytesCount::new(fixture.stats.text_bytes))
        .bench(|| {
            let mut auditor = Auditor::new(&fixture.rules);
            let findings: usize = fixture
                .conversations
                .iter()
                .map(|conversation| auditor.audit(conversation).findings.len())
                .sum();
            // The same count as a fresh auditor's: buffers reused between conversations
            // change nothing. (The forbid rules' findings were once recounted by plain
            // substring search; the pack's patterns, conditions and exceptions are beyond
            // that, and the checks' unit tables and the rules' examples hold them.)
            assert_eq!(findings, fixture.expected_findings);
            findings
        });
}

/// The whole pipeline (read, chunk, parse, audit, merge in order) on a file, at 1 and 2
/// worker threads.
#[divan::bench(sample_count = 10, args = [1, 2])]
fn audit_file(bencher: Bencher, threads: usize) {
    let fixture = &*FIXTURE;
    let options = AuditOptions {
        threads,
        read: ReadOptions::default(),
        ..AuditOptions::default()
    };
    bencher
        .counter(BytesCount::new(fixture.jsonl.len()))
        .bench(|| {
            let result = run(&fixture.files, &fixture.rules, &options, &mut |_| {})
                .expect("the pool starts");
            assert_eq!(result.stats.audited, fixture.stats.conversations);
            // Broken promises come from the join across conversations, which the
            // per-conversation count leaves out.
            let per_conversation_findings: u64 = result
                .findings
                .per_rule()
                .iter()
                .zip(&fixture.rules.rules)
                .filter(|(_, rule)| !matches!(rule.kind, RuleKind::Promise { .. }))
                .map(|(count, _)| count)
                .sum();
            assert_eq!(per_conversation_findings, fixture.expected_findings as u64);
            result.findings.len()
        });
}

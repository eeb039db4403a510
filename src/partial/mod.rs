//! Partials: one shard's share of a sharded run, written by `callqa audit --shard I/N
//! --partial FILE` and replayed by `callqa merge` into exactly the run one machine would make.
//!
//! A shard does not merge what its workers found: it records it. Per conversation, in input
//! order, a partial holds what the run's merge takes from a worker (`audit::Item`): the id and
//! where it was read (the order key: the file, then the line), its start, customer and
//! direction (the promise join's contacts), team and `--metadata` row, its findings, every
//! agent's rule states, its promises (not yet judged) and, for the first conversations with
//! findings, the turns the page shows; and every skip and unreadable file with its reason.
//! `callqa merge` reads the partials of a run side by side, a file at a time in path order (a
//! k-way merge: one reader per partial, never a whole partial in memory), and feeds the
//! records to the same merge `callqa audit` uses (`audit::Replay`). Duplicates across shards,
//! promises kept in another shard, the counts and the page's conversations therefore come out
//! as one run makes them, and the report is written by the same [`crate::publish`].
//!
//! The file is gzip-compressed JSON Lines: a header line (format name and version, callqa's
//! version, the rule files' text and digest, the run's inputs digest and `I/N`, the settings
//! that shape the output, the files the shard covers), a line per record, and an end line
//! with the counts, so a truncated partial is told from a whole one. It holds no time and no
//! path of the machine that wrote it beyond the inputs', so a retried task writes the same
//! bytes; it is written through a temporary file and renamed into place.

mod read;
mod write;

use serde::{Deserialize, Serialize};

pub use read::{Partials, RunKey};
pub use write::{
    INDEX_VARIABLES, ShardSpec, file_digest, header, inputs_digest, read_manifest, shard_files,
    write_partial,
};

/// The format's name, the first field of every partial.
pub const FORMAT: &str = "callqa-partial";
/// The format's version: a merge refuses any other.
pub const VERSION: u32 = 1;

/// The first line of a partial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// [`VERSION`].
    pub version: u32,
    /// The callqa version that wrote it.
    pub callqa: String,
    pub rules: RulesEntry,
    pub run: RunEntry,
    pub settings: Settings,
    /// The files this shard read, in path order.
    pub files: Vec<FileEntry>,
    /// Paths the run could not list or open before reading (shard 0 only: every shard finds
    /// the same).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discovery_errors: Vec<PathProblem>,
    /// How many PATHs named on the command line (or in the manifest) could not be read
    /// (shard 0 only): the merge then exits 2, as one run does.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub named_unreadable: u64,
}

/// The rule set: the files' text, so a merge needs no `--rules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesEntry {
    pub name: String,
    pub digest: String,
    pub sources: Vec<RuleText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleText {
    pub name: String,
    pub text: String,
}

/// Which run, and which shard of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    /// `sha256:` of every input file's path, format and size, and of the paths that could not
    /// be read, in path order: the same for every shard of one run.
    pub inputs: String,
    /// `I` of `--shard I/N`, 0-based.
    pub shard: u32,
    /// `N`.
    pub shards: u32,
    /// Files in the whole run.
    pub files: u64,
}

/// What shapes the report besides the conversations: every partial merged together must
/// agree on all of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Redaction of private data (off with `--no-redact`).
    pub redact: bool,
    /// `--raw-csv`.
    pub raw_csv: bool,
    /// `--strict`.
    pub strict: bool,
    /// `--as-of`, as given (RFC 3339, read back exactly).
    pub as_of: Option<String>,
    /// `--metadata`: the file's digest and its rows.
    pub metadata: Option<MetadataEntry>,
    /// `--input-format`.
    pub input_format: Option<String>,
    /// `--agent-speakers`.
    pub agent_speakers: Vec<String>,
    pub max_line_bytes: u64,
    pub max_file_bytes: u64,
    /// Conversations with findings whose turns a shard keeps for the page.
    pub keep_turns: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetadataEntry {
    pub digest: String,
    pub rows: u64,
}

/// One input file of the shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    /// As findings name it.
    pub path: String,
    /// The input format's name.
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// A path that could not be listed or opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PathProblem {
    pub path: String,
    pub kind: String,
    pub message: String,
}

/// One line after the header.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
enum Record {
    /// An audited conversation (perhaps a duplicate of another shard's: the merge decides).
    #[serde(rename = "a")]
    Audited(Box<AuditedRecord>),
    /// A conversation or line that could not be audited.
    #[serde(rename = "s")]
    Skipped(ProblemRecord),
    /// A file that could not be read to its end.
    #[serde(rename = "e")]
    FileError(ProblemRecord),
    /// The last line.
    #[serde(rename = "end")]
    End(EndRecord),
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A conversation. `f` indexes [`Header::files`]; a `file` is written only when a source
/// names another file than the record's.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditedRecord {
    f: u32,
    line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cu: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dir: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    team: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    md: Option<usize>,
    #[serde(default, skip_serializing_if = "is_zero")]
    sup: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fi: Vec<FindingRecord>,
    /// Per agent: the id and a letter per rule (`-` not applicable, `P` passed, `F` failed).
    ag: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pr: Vec<PromiseRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    turns: Option<Vec<TurnRecord>>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingRecord {
    /// The conversation's id, when it is not the record's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    a: String,
    r: u32,
    t: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<i64>,
    ev: String,
    line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sp: Option<(usize, usize)>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PromiseRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    a: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cu: Option<String>,
    r: u32,
    t: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    made: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    words: Option<String>,
    ev: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sp: Option<(usize, usize)>,
    line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    st: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kept: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "is_false")]
    carried: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TurnRecord {
    s: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    x: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ms: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProblemRecord {
    f: u32,
    line: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    kind: String,
    msg: String,
}

/// The counts a whole partial ends with.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EndRecord {
    /// Records before this one.
    records: u64,
    /// Uncompressed input bytes the shard read.
    bytes: u64,
}

/// Why partials could not be written or merged; each is a usage error (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PartialError {
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: not a callqa partial ({detail})")]
    NotPartial { path: String, detail: String },
    #[error(
        "{path}: partial format version {found}; this callqa ({}) reads version {VERSION}",
        env!("CARGO_PKG_VERSION")
    )]
    Version { path: String, found: u64 },
    #[error("{path}: corrupt partial: {detail}")]
    Corrupt { path: String, detail: String },
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Incomplete(String),
    #[error(
        "{partials} partials are read at once, and this process may open {allowed} files (`ulimit -n`, which callqa could not raise further): raise it to {needed} at least"
    )]
    TooManyOpenFiles {
        partials: usize,
        allowed: u64,
        needed: u64,
    },
    /// The audit of a shard, or the merge's replay, failed (say, findings could not be
    /// spilled to disk).
    #[error("{0}")]
    Audit(#[from] crate::audit::AuditError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{self, AuditOptions};
    use crate::input::{InputFormat, ReadOptions, discover};
    use crate::rules::RuleSource;

    /// The page keeps the first few conversations with findings: sharded with a small cap,
    /// the merge keeps the same ones as one run, even when a shard's first ones are copies of
    /// another shard's.
    #[test]
    fn the_page_keeps_the_same_conversations_when_sharded() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: &str, text: &str| {
            format!(
                "{{\"id\":\"{id}\",\"agent_id\":\"a\",\"turns\":[{{\"speaker\":\"agent\",\"text\":\"{text}\"}}]}}\n"
            )
        };
        for (file, ids) in [("a", 0..8), ("b", 8..16), ("c", 16..24)] {
            let mut text = String::new();
            // Each file starts with copies of the first file's conversations.
            if file != "a" {
                text.push_str(&line("c0", "calm down"));
                text.push_str(&line("c1", "calm down"));
            }
            for i in ids {
                let words = if i % 3 == 0 { "hello" } else { "calm down" };
                text.push_str(&line(&format!("c{i}"), words));
            }
            std::fs::write(dir.path().join(format!("{file}.jsonl")), text).unwrap();
        }
        let rule = "kind = \"forbid\"\nphrases = [\"calm down\"]";
        let rules = crate::checks::test_support::rule_set(rule);
        let discovery = discover(&[dir.path().to_path_buf()], Some(InputFormat::Jsonl));
        let options = |keep| AuditOptions {
            threads: 2,
            read: ReadOptions {
                chunk_bytes: 200,
                ..ReadOptions::default()
            },
            retain_turns: keep,
            ..AuditOptions::default()
        };
        for keep in [3, 8, 12, 100] {
            let single = audit::run(&discovery.files, &rules, &options(keep), &mut |_| {}).unwrap();
            for n in [1, 2, 3] {
                let mut paths = Vec::new();
                for index in 0..n {
                    let spec = ShardSpec { index, count: n };
                    let files = shard_files(&discovery.files, spec);
                    let settings = Settings {
                        redact: true,
                        raw_csv: false,
                        strict: false,
                        as_of: None,
                        metadata: None,
                        input_format: None,
                        agent_speakers: Vec::new(),
                        max_line_bytes: 1 << 20,
                        max_file_bytes: 1 << 30,
                        keep_turns: keep,
                    };
                    let source = RuleSource {
                        name: "r.toml".into(),
                        text: String::new(),
                    };
                    let header = header(&rules, &[source], &discovery, spec, settings, &files);
                    let path = dir.path().join(format!("part-{keep}-{n}-{index}"));
                    write_partial(&path, &header, &files, &rules, &options(keep), &mut |_| {})
                        .unwrap();
                    paths.push(path);
                }
                let streams: Vec<_> = paths.iter().map(|p| p.display().to_string()).collect();
                let merged = replay_with(&streams, &rules, keep);
                let kept = |run: &audit::AuditRun| run.retained.keys().cloned().collect::<Vec<_>>();
                assert_eq!(kept(&merged), kept(&single), "keep {keep}, {n} shards");
                assert_eq!(merged.turn_gaps(), 0);
                assert_eq!(merged.stats, single.stats);
                assert_eq!(merged.scorecards, single.scorecards);
            }
        }
    }

    /// [`Partials::replay`] with `rules` (the test's rule files have no text to load).
    fn replay_with(
        paths: &[String],
        rules: &crate::rules::RuleSet,
        keep: usize,
    ) -> audit::AuditRun {
        let opened = paths
            .iter()
            .map(|path| read::Opened {
                path: path.clone(),
                header: read::read_header(path).unwrap(),
            })
            .collect();
        let partials = Partials::with_rules(opened, rules.clone());
        partials
            .replay(keep, usize::MAX, None, Vec::new(), &mut |_| {})
            .unwrap()
    }
}

//! A shard's side: which files are its own, and the partial it writes of them.

use std::collections::HashMap;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

use super::{
    AuditedRecord, EndRecord, FileEntry, FindingRecord, Header, PartialError, PathProblem,
    ProblemRecord, PromiseRecord, Record, RuleText, RulesEntry, RunEntry, Settings, TurnRecord,
};
use crate::audit::{AuditError, AuditOptions, ChunkResult, ChunkSink, Item};
use crate::conversation_ids::StringNumbers;
use crate::input::{Discovery, InputFile};
use crate::model::{Finding, Promise, RetainedConversation, RuleState};
use crate::rules::{RuleSet, RuleSource};
use crate::transcript::{ReadError, Source};

/// `--shard I/N`: this task's slice, 0-based, of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    pub index: u32,
    pub count: u32,
}

/// The environment variables an array job's task finds its index in, in the order they are
/// read: Kubernetes Indexed Jobs, AWS Batch array jobs, Slurm job arrays (from which
/// `SLURM_ARRAY_TASK_MIN` is subtracted).
pub const INDEX_VARIABLES: [&str; 3] = [
    "JOB_COMPLETION_INDEX",
    "AWS_BATCH_JOB_ARRAY_INDEX",
    "SLURM_ARRAY_TASK_ID",
];

impl ShardSpec {
    /// Parses `I/N` or `auto/N`, reading the index of `auto` from `env`.
    pub fn parse(text: &str, env: impl Fn(&str) -> Option<String>) -> Result<ShardSpec, String> {
        let usage = || format!("--shard {text:?}: expected I/N (0 <= I < N) or auto/N");
        let (index, count) = text.split_once('/').ok_or_else(usage)?;
        let count: u32 = count.trim().parse().map_err(|_| usage())?;
        if count == 0 {
            return Err(format!("--shard {text:?}: N must be 1 or more"));
        }
        let index = if index.trim() == "auto" {
            auto_index(&env).map_err(|err| format!("--shard {text:?}: {err}"))?
        } else {
            index.trim().parse().map_err(|_| usage())?
        };
        if index >= count {
            return Err(format!(
                "--shard {text:?}: shard {index} is out of range: shards are numbered 0 to {}",
                count - 1
            ));
        }
        Ok(ShardSpec { index, count })
    }
}

fn auto_index(env: &impl Fn(&str) -> Option<String>) -> Result<u32, String> {
    let number = |name: &str, value: String| {
        value
            .trim()
            .parse::<u32>()
            .map_err(|_| format!("{name}={value:?} is not a shard number"))
    };
    for name in INDEX_VARIABLES {
        let Some(value) = env(name).filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let index = number(name, value)?;
        if name != "SLURM_ARRAY_TASK_ID" {
            return Ok(index);
        }
        let min = match env("SLURM_ARRAY_TASK_MIN").filter(|v| !v.trim().is_empty()) {
            Some(value) => number("SLURM_ARRAY_TASK_MIN", value)?,
            None => 0,
        };
        return index.checked_sub(min).ok_or_else(|| {
            format!("SLURM_ARRAY_TASK_ID={index} is below SLURM_ARRAY_TASK_MIN={min}")
        });
    }
    Err(format!(
        "auto needs the task's index in one of {}",
        INDEX_VARIABLES.join(", ")
    ))
}

/// The paths of a manifest: one per line, blank lines and `#` comments skipped, relative
/// paths taken from the manifest's folder; a URL (`s3://…`) is taken as it is.
pub fn read_manifest(path: &Path) -> Result<Vec<PathBuf>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| format!("--manifest: {}: {err}", path.display()))?;
    let folder = path.parent().unwrap_or(Path::new(""));
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match crate::remote::url(Path::new(line)) {
            Some(_) => PathBuf::from(line),
            None => folder.join(line),
        })
        .collect())
}

/// The files of shard `spec`: every file goes to exactly one shard, the largest first to the
/// shard with the fewest bytes so far (the lower index on a tie), and each shard keeps its
/// files in path order. The same files always make the same shards.
pub fn shard_files(files: &[InputFile], spec: ShardSpec) -> Vec<InputFile> {
    let size = |i: usize| files[i].size.unwrap_or(0);
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by(|&a, &b| size(b).cmp(&size(a)).then(a.cmp(&b)));
    let mut loads = vec![0u64; spec.count as usize];
    let mut mine = Vec::new();
    for i in order {
        let (shard, _) = loads
            .iter()
            .enumerate()
            .min_by_key(|&(shard, load)| (*load, shard))
            .expect("at least one shard");
        loads[shard] += size(i);
        if shard == spec.index as usize {
            mine.push(i);
        }
    }
    mine.sort_unstable();
    mine.into_iter().map(|i| files[i].clone()).collect()
}

/// `sha256:` of what the run reads: every file's path, format and size, and every path that
/// could not be read, in order. Every shard of one run computes the same.
pub fn inputs_digest(discovery: &Discovery) -> String {
    let mut hasher = Sha256::new();
    for file in &discovery.files {
        let size = file.size.map_or(String::new(), |s| s.to_string());
        hasher.update(format!("{}\t{}\t{size}\n", file.display, file.format.name()).as_bytes());
    }
    for error in &discovery.errors {
        hasher.update(format!("!\t{error}\n").as_bytes());
    }
    hex_digest(hasher)
}

pub(crate) fn hex_digest(hasher: Sha256) -> String {
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{digest}")
}

/// `sha256:` of a file's bytes (`--metadata`'s, for the header).
pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut hasher = Sha256::new();
    hasher.update(std::fs::read(path)?);
    Ok(hex_digest(hasher))
}

/// The header of shard `spec`'s partial of the run that reads `discovery` with `rules`
/// (loaded from `sources`); `files` are the shard's.
pub fn header(
    rules: &RuleSet,
    sources: &[RuleSource],
    discovery: &Discovery,
    spec: ShardSpec,
    settings: Settings,
    files: &[InputFile],
) -> Header {
    let discovery_errors = if spec.index == 0 {
        discovery
            .errors
            .iter()
            .map(|error| PathProblem {
                path: error.source.file.to_string(),
                kind: error.kind.key().to_string(),
                message: error.message.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Header {
        format: super::FORMAT.to_string(),
        version: super::VERSION,
        callqa: env!("CARGO_PKG_VERSION").to_string(),
        rules: RulesEntry {
            name: rules.name.clone(),
            digest: rules.digest.clone(),
            sources: sources
                .iter()
                .map(|source| RuleText {
                    name: source.name.clone(),
                    text: source.text.clone(),
                })
                .collect(),
        },
        run: RunEntry {
            inputs: inputs_digest(discovery),
            shard: spec.index,
            shards: spec.count,
            files: discovery.files.len() as u64,
        },
        settings,
        files: files
            .iter()
            .map(|file| FileEntry {
                path: file.display.to_string(),
                format: file.format.name().to_string(),
                bytes: file.size,
            })
            .collect(),
        discovery_errors,
        named_unreadable: if spec.index == 0 {
            discovery.named_unreadable as u64
        } else {
            0
        },
    }
}

/// Audits `files` (the shard's) and writes the partial to `target` through a temporary file
/// beside it (under `$TMPDIR` for an `s3://` target, uploaded when whole), making its folder
/// when missing; nothing is left at `target` unless the whole partial is. Returns the
/// conversations read and the bytes written.
pub fn write_partial(
    target: &Path,
    header: &Header,
    files: &[InputFile],
    rules: &RuleSet,
    options: &AuditOptions,
    on_progress: &mut dyn FnMut(u64),
) -> Result<(u64, u64), PartialError> {
    let io_error = |err: io::Error| PartialError::Io {
        path: target.display().to_string(),
        message: err.to_string(),
    };
    // An object is written whole by its upload: the temporary file goes where they all go.
    let url = crate::remote::url(target);
    let dir = match target.parent() {
        _ if url.is_some() => std::env::temp_dir(),
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // The folder is made when missing, as `-o` makes the report's (an array job's tasks name
    // `parts/part-$INDEX` before any has run).
    std::fs::create_dir_all(&dir).map_err(io_error)?;
    let temporary = tempfile::Builder::new()
        .prefix(".callqa-partial-")
        .tempfile_in(dir)
        .map_err(io_error)?;
    let out = BufWriter::with_capacity(
        256 << 10,
        temporary.as_file().try_clone().map_err(io_error)?,
    );
    // gzip's fastest level: on the 64 MB benchmark corpus (`gen_corpus --bytes 64M --files
    // 8`, `-j2`, CPU of 3 runs), one shard of everything took 0.52-0.58 s at level 6 and
    // 0.42-0.50 s at level 1, eight shards 1.08-1.15 s and 0.84-0.89 s; the partial of one
    // shard grew from 1.90 MB to 3.00 MB (4.5% of the input).
    let mut sink = PartialSink::new(
        GzEncoder::new(out, flate2::Compression::fast()),
        header,
        options.retain_turns,
    );
    sink.line(header).map_err(io_error)?;
    crate::audit::run_into(files, rules, options, &mut sink, on_progress)?;
    if options.cancel.load(Ordering::SeqCst) {
        return Ok((sink.conversations, 0));
    }
    let end = Record::End(EndRecord {
        records: sink.records,
        bytes: sink.bytes,
    });
    sink.line(&end).map_err(io_error)?;
    let conversations = sink.conversations;
    let file = sink
        .finish()
        .and_then(GzEncoder::finish)
        .and_then(|out| out.into_inner().map_err(io::IntoInnerError::into_error))
        .map_err(io_error)?;
    file.sync_all().map_err(io_error)?;
    let written = file.metadata().map_err(io_error)?.len();
    match url {
        Some(url) => crate::remote::upload(temporary.path(), url).map_err(io_error)?,
        None => {
            temporary
                .persist(target)
                .map_err(|err| io_error(err.error))?;
        }
    }
    Ok((conversations, written))
}

/// Bytes of lines buffered before they go to the encoder.
const BUFFER_BYTES: usize = 128 << 10;

/// Records the chunk results of a shard, in input order.
struct PartialSink<W: Write> {
    out: W,
    /// Lines waiting to be compressed: the encoder is written in large blocks, not a write
    /// per JSON token (a shard of the whole 64 MB corpus: 0.61 s of CPU before, 0.45 s).
    buffer: Vec<u8>,
    /// File path to its index in the header.
    files: HashMap<Arc<str>, u32>,
    /// Ids audited so far in this shard: a copy's turns are not kept.
    ids: StringNumbers,
    /// Conversations with findings, and with promises only, whose turns were kept.
    kept_findings: usize,
    kept_promises: usize,
    keep_turns: usize,
    conversations: u64,
    records: u64,
    bytes: u64,
}

impl<W: Write> PartialSink<W> {
    fn new(out: W, header: &Header, keep_turns: usize) -> PartialSink<W> {
        let files = header
            .files
            .iter()
            .enumerate()
            .map(|(i, file)| (Arc::from(file.path.as_str()), i as u32))
            .collect();
        PartialSink {
            out,
            buffer: Vec::with_capacity(BUFFER_BYTES + (16 << 10)),
            files,
            ids: StringNumbers::default(),
            kept_findings: 0,
            kept_promises: 0,
            keep_turns,
            conversations: 0,
            records: 0,
            bytes: 0,
        }
    }

    fn line(&mut self, value: &impl serde::Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.buffer, value)?;
        self.buffer.push(b'\n');
        if self.buffer.len() >= BUFFER_BYTES {
            self.out.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    /// Writes what is buffered; gives the writer back.
    fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.buffer)?;
        Ok(self.out)
    }

    /// Whether the page may want this conversation's turns: the same count a run's merge
    /// keeps, over this shard alone (so never fewer than the run keeps from it).
    fn keep(&mut self, id: &str, findings: bool, turns_full: &AtomicBool) -> bool {
        if matches!(
            self.ids.number(id),
            Some(crate::conversation_ids::Number::Found(_))
        ) {
            return false;
        }
        if findings && self.kept_findings < self.keep_turns {
            self.kept_findings += 1;
            if self.kept_findings >= self.keep_turns {
                turns_full.store(true, Ordering::Relaxed);
            }
            true
        } else if !findings
            && self.kept_promises < self.keep_turns
            && self.kept_findings < self.keep_turns
        {
            self.kept_promises += 1;
            true
        } else {
            false
        }
    }

    fn record(&mut self, item: Item, f: u32, file: &Arc<str>, turns_full: &AtomicBool) -> Record {
        match item {
            Item::Audited {
                id,
                source,
                started_at,
                customer_id,
                direction,
                team,
                audit,
                turns,
                metadata_row,
            } => {
                let keep = self.keep(&id, !audit.findings.is_empty(), turns_full);
                let turns = turns.filter(|_| keep).map(|turns| turn_records(*turns));
                let fi = audit
                    .findings
                    .into_iter()
                    .map(|finding| finding_record(finding, &id, file))
                    .collect();
                let pr = audit
                    .promises
                    .into_iter()
                    .map(|promise| promise_record(promise, &id, file))
                    .collect();
                let ag = audit
                    .agents
                    .into_iter()
                    .map(|part| (part.agent_id, states_text(&part.states)))
                    .collect();
                Record::Audited(Box::new(AuditedRecord {
                    f,
                    line: source.line,
                    file: other_file(&source, file),
                    id,
                    at: started_at.as_ref().map(ToString::to_string),
                    cu: customer_id,
                    dir: direction.map(|d| d.as_str().to_string()),
                    team,
                    md: metadata_row,
                    sup: audit.suppressed,
                    fi,
                    ag,
                    pr,
                    turns,
                }))
            }
            Item::Skipped(error) => Record::Skipped(problem_record(error, f, file)),
            Item::FileError(error) => Record::FileError(problem_record(error, f, file)),
        }
    }
}

impl<W: Write> ChunkSink for PartialSink<W> {
    fn take(
        &mut self,
        result: &mut ChunkResult,
        turns_full: &AtomicBool,
    ) -> Result<(), AuditError> {
        self.bytes += result.bytes;
        let f = *self.files.get(&result.file).ok_or_else(|| {
            AuditError::Partial(io::Error::other(format!(
                "{} is not among the shard's files",
                result.file
            )))
        })?;
        for item in result.items.drain(..) {
            if !matches!(item, Item::FileError(_)) {
                self.conversations += 1;
            }
            let record = self.record(item, f, &result.file, turns_full);
            self.line(&record).map_err(AuditError::Partial)?;
            self.records += 1;
        }
        Ok(())
    }

    fn conversations(&self) -> u64 {
        self.conversations
    }
}

/// A source's file when it is not the record's.
fn other_file(source: &Source, file: &Arc<str>) -> Option<String> {
    (!Arc::ptr_eq(&source.file, file) && *source.file != **file).then(|| source.file.to_string())
}

fn states_text(states: &[RuleState]) -> String {
    states
        .iter()
        .map(|state| match state {
            RuleState::NotApplicable => '-',
            RuleState::Passed => 'P',
            RuleState::Failed => 'F',
        })
        .collect()
}

fn finding_record(finding: Finding, id: &str, file: &Arc<str>) -> FindingRecord {
    FindingRecord {
        id: (finding.conversation_id != id).then_some(finding.conversation_id),
        a: finding.agent_id,
        r: finding.rule,
        t: finding.turn,
        ms: finding.at_ms,
        ev: finding.evidence,
        line: finding.source.line,
        file: other_file(&finding.source, file),
        sp: finding.span,
    }
}

fn promise_record(promise: Promise, id: &str, file: &Arc<str>) -> PromiseRecord {
    PromiseRecord {
        file: other_file(&promise.source, file),
        line: promise.source.line,
        id: (promise.conversation_id != id).then_some(promise.conversation_id),
        a: promise.agent_id,
        cu: promise.customer_id,
        r: promise.rule,
        t: promise.turn,
        ms: promise.at_ms,
        made: promise.made_at.as_ref().map(ToString::to_string),
        dl: promise.deadline.as_ref().map(ToString::to_string),
        words: promise.time_words,
        ev: promise.evidence,
        sp: promise.span,
        st: promise.state.as_str().to_string(),
        kept: promise.kept_by.map(|(by, at)| (by, at.to_string())),
        carried: promise.carried,
    }
}

fn turn_records(conversation: RetainedConversation) -> Vec<TurnRecord> {
    conversation
        .turns
        .into_iter()
        .map(|turn| TurnRecord {
            s: turn.speaker.as_str().to_string(),
            a: turn.agent_id,
            x: turn.text,
            ms: turn.start_ms,
        })
        .collect()
}

fn problem_record(error: ReadError, f: u32, file: &Arc<str>) -> ProblemRecord {
    ProblemRecord {
        f,
        line: error.source.line,
        file: other_file(&error.source, file),
        kind: error.kind.key().to_string(),
        msg: error.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shard_specs_parse_or_say_why_not() {
        let spec = |index, count| Ok(ShardSpec { index, count });
        type Case<'a> = (
            &'a str,
            &'a [(&'a str, &'a str)],
            Result<ShardSpec, &'a str>,
        );
        let cases: &[Case] = &[
            ("0/1", &[], spec(0, 1)),
            ("6/7", &[], spec(6, 7)),
            ("7/7", &[], Err("out of range")),
            ("1/0", &[], Err("N must be 1 or more")),
            ("x/3", &[], Err("expected I/N")),
            ("3", &[], Err("expected I/N")),
            ("auto/3", &[("JOB_COMPLETION_INDEX", "2")], spec(2, 3)),
            ("auto/3", &[("AWS_BATCH_JOB_ARRAY_INDEX", "1")], spec(1, 3)),
            (
                "auto/3",
                &[("JOB_COMPLETION_INDEX", "0"), ("SLURM_ARRAY_TASK_ID", "2")],
                spec(0, 3),
            ),
            ("auto/3", &[("SLURM_ARRAY_TASK_ID", "2")], spec(2, 3)),
            (
                "auto/3",
                &[
                    ("SLURM_ARRAY_TASK_ID", "11"),
                    ("SLURM_ARRAY_TASK_MIN", "10"),
                ],
                spec(1, 3),
            ),
            (
                "auto/3",
                &[("SLURM_ARRAY_TASK_ID", "1"), ("SLURM_ARRAY_TASK_MIN", "2")],
                Err("below SLURM_ARRAY_TASK_MIN"),
            ),
            ("auto/3", &[], Err("auto needs the task's index")),
            (
                "auto/3",
                &[("JOB_COMPLETION_INDEX", "3")],
                Err("out of range"),
            ),
            (
                "auto/3",
                &[("JOB_COMPLETION_INDEX", "one")],
                Err("not a shard number"),
            ),
        ];
        for (text, vars, expected) in cases {
            let got = ShardSpec::parse(text, env(vars));
            match (expected, &got) {
                (Ok(want), Ok(got)) => assert_eq!(want, got, "{text} {vars:?}"),
                (Err(part), Err(message)) => {
                    assert!(message.contains(part), "{text} {vars:?}: {message}")
                }
                _ => panic!("{text} {vars:?}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    fn file(name: &str, size: u64) -> InputFile {
        let mut file = crate::input::discover(&[], None).files.remove(0);
        file.display = Arc::from(name);
        file.size = Some(size);
        file
    }

    #[test]
    fn every_file_goes_to_one_shard_balanced_by_size_in_path_order() {
        let files: Vec<InputFile> = [("a", 100), ("b", 10), ("c", 60), ("d", 50), ("e", 0)]
            .iter()
            .map(|(name, size)| file(name, *size))
            .collect();
        let names = |n: u32| -> Vec<Vec<String>> {
            (0..n)
                .map(|index| {
                    shard_files(&files, ShardSpec { index, count: n })
                        .iter()
                        .map(|f| f.display.to_string())
                        .collect()
                })
                .collect()
        };
        assert_eq!(names(1), [["a", "b", "c", "d", "e"]]);
        // Largest first to the lightest shard: a (100) | c (60), d (110) | b (110), then e
        // to the lower index on the tie.
        assert_eq!(names(2), [vec!["a", "b", "e"], vec!["c", "d"]]);
        let seven = names(7);
        assert_eq!(seven.iter().map(Vec::len).sum::<usize>(), 5);
        assert_eq!(seven.iter().filter(|s| s.is_empty()).count(), 2);
    }
}

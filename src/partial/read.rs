//! The merge's side: partials opened and checked against each other, then replayed a file at
//! a time in path order into the run's merge.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::{
    AuditedRecord, FORMAT, FindingRecord, Header, PartialError, PathProblem, ProblemRecord,
    PromiseRecord, Record, Settings, TurnRecord, VERSION,
};
use crate::audit::{AuditRun, ChunkResult, Item, Replay};
use crate::input::InputFormat;
use crate::model::{
    AgentPart, ConversationAudit, Finding, Promise, PromiseState, RetainedConversation,
    RetainedTurn, RuleState,
};
use crate::rules::{RuleSet, RuleSource};
use crate::transcript::{Direction, ReadError, SkipKind, Source, Speaker};

/// Records handed to the merge at a time.
const BATCH: usize = 1024;

/// A run of shards: its inputs digest and N.
pub type RunKey = (String, u32);

/// One partial, its header read.
#[derive(Debug)]
pub(super) struct Opened {
    pub(super) path: String,
    pub(super) header: Header,
}

/// Partials that merge into one run: same rule set, same settings, every shard of every
/// run present once.
#[derive(Debug)]
pub struct Partials {
    opened: Vec<Opened>,
    rules: RuleSet,
}

/// A partial's lines: a file's, or an object's when `path` is an `s3://` URL.
type Lines = BufReader<MultiGzDecoder<Box<dyn Read + Send>>>;

fn open_reader(path: &str) -> Result<Lines, PartialError> {
    let cannot_read = |err: std::io::Error| PartialError::Io {
        path: path.to_string(),
        message: format!("cannot read: {err}"),
    };
    let file: Box<dyn Read + Send> = match crate::remote::url(Path::new(path)) {
        Some(url) => Box::new(crate::remote::open(url).map_err(cannot_read)?),
        None => Box::new(File::open(path).map_err(cannot_read)?),
    };
    // One per partial is open during a merge: 64 KiB each, plus the decoder's state.
    Ok(BufReader::with_capacity(
        64 << 10,
        MultiGzDecoder::new(file),
    ))
}

/// Reads a partial's header line, checking its format and version first.
pub(super) fn read_header(path: &str) -> Result<Header, PartialError> {
    let not_partial = |detail: String| PartialError::NotPartial {
        path: path.to_string(),
        detail,
    };
    let mut reader = open_reader(path)?;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .map_err(|err| not_partial(format!("not a gzip file of text: {err}")))?;
    let value: serde_json::Value = serde_json::from_str(&line)
        .map_err(|err| not_partial(format!("its first line is not a JSON header: {err}")))?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not_partial(format!(
            "its header does not say \"format\": \"{FORMAT}\""
        )));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(version) if version == u64::from(VERSION) => {}
        found => {
            return Err(PartialError::Version {
                path: path.to_string(),
                found: found.unwrap_or(0),
            });
        }
    }
    serde_json::from_value(value).map_err(|err| PartialError::Corrupt {
        path: path.to_string(),
        detail: format!("header: {err}"),
    })
}

/// The first field two settings differ in, with both values.
fn settings_difference(a: &Settings, b: &Settings) -> Option<(String, String, String)> {
    let (serde_json::Value::Object(a), serde_json::Value::Object(b)) =
        (serde_json::to_value(a).ok()?, serde_json::to_value(b).ok()?)
    else {
        return None;
    };
    a.iter()
        .find(|(key, value)| b.get(*key) != Some(value))
        .map(|(key, value)| {
            let other = b.get(key).map_or("none".to_string(), ToString::to_string);
            (key.clone(), value.to_string(), other)
        })
}

/// The merge's inputs as paths: a folder stands for every file under it, in path order (an
/// `s3://` folder, a URL ending in `/`, for every object under it, in key order), as a shell's
/// `parts/*` stands for a folder's files. Names starting with `.` are left out, as the audit's
/// folder walk leaves hidden files out (a partial being written is one).
fn expand_folders(paths: &[PathBuf]) -> Result<Vec<String>, PartialError> {
    let mut expanded = Vec::new();
    for path in paths {
        if crate::remote::url(path).is_none() && path.is_dir() {
            let before = expanded.len();
            files_under(path, &mut expanded)?;
            if expanded.len() == before {
                return Err(PartialError::Io {
                    path: path.display().to_string(),
                    message: "no partial in this folder".into(),
                });
            }
            continue;
        }
        match crate::remote::url(path) {
            Some(url) if crate::remote::is_folder(url) => {
                let objects = crate::remote::list(url).map_err(|err| PartialError::Io {
                    path: url.to_string(),
                    message: format!("cannot list: {err}"),
                })?;
                if objects.is_empty() {
                    return Err(PartialError::Io {
                        path: url.to_string(),
                        message: "no partial under this prefix".into(),
                    });
                }
                expanded.extend(objects.into_iter().map(|object| object.url));
            }
            _ => expanded.push(path.display().to_string()),
        }
    }
    Ok(expanded)
}

/// Appends the files under the folder `dir` to `files`, in path order, leaving out names
/// that start with `.`; a link is followed to a file, never to a folder.
fn files_under(dir: &Path, files: &mut Vec<String>) -> Result<(), PartialError> {
    let cannot_list = |err: std::io::Error| PartialError::Io {
        path: dir.display().to_string(),
        message: format!("cannot list: {err}"),
    };
    let mut children = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot_list)? {
        let entry = entry.map_err(cannot_list)?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            children.push(entry.path());
        }
    }
    children.sort();
    for child in children {
        let is_link = std::fs::symlink_metadata(&child).is_ok_and(|meta| meta.is_symlink());
        if child.is_dir() {
            if !is_link {
                files_under(&child, files)?;
            }
        } else {
            files.push(child.display().to_string());
        }
    }
    Ok(())
}

/// Files a merge may have open beside its partials, at most: the runs of its three stores
/// (findings, judged promises, held conversations: 65 each at most), the report's files, the
/// standard streams. The soft limit is raised to make room for them all.
const OTHER_OPEN_FILES: u64 = 256;

/// Files a merge surely has open beside its partials (the standard streams, the report's
/// files, a run of each store): with less room than this, it is refused.
const FEWEST_OTHER_FILES: u64 = 32;

/// Makes room to read `partials` partials at once (a file, or a connection, each): raises the
/// process's soft limit on open files when it is too low, up to the hard limit, and fails,
/// before any is opened, when even that leaves no room. (A shell's limit is often 1,024, 256
/// on macOS, below the partials of a large cluster job.) Where the limit cannot be raised
/// (a sandbox that refuses setrlimit), the current one is checked.
fn make_room_for(partials: usize) -> Result<(), PartialError> {
    let wanted = partials as u64 + OTHER_OPEN_FILES;
    let needed = partials as u64 + FEWEST_OTHER_FILES;
    let allowed = match rlimit::increase_nofile_limit(wanted) {
        Ok(allowed) => allowed,
        // Not raised: the limit as it is (unknown: let opening the files say).
        Err(_) => rlimit::Resource::NOFILE
            .get()
            .map_or(u64::MAX, |(soft, _)| soft),
    };
    if allowed < needed {
        return Err(PartialError::TooManyOpenFiles {
            partials,
            allowed,
            needed: wanted,
        });
    }
    Ok(())
}

/// A digest shortened for a message.
fn short(digest: &str) -> &str {
    &digest[..digest.len().min(19)]
}

impl Partials {
    /// Opens `paths` and checks that they merge: one format version, one callqa version,
    /// one rule set, the same settings, and every run complete.
    pub fn open(paths: &[PathBuf]) -> Result<Partials, PartialError> {
        let mut opened: Vec<Opened> = Vec::new();
        for path in expand_folders(paths)? {
            let mut header = read_header(&path)?;
            if let Some(first) = opened.first() {
                agree(first, &path, &header)?;
                // One copy of the rule files' text is enough: the digests agree.
                header.rules.sources.clear();
            }
            opened.push(Opened { path, header });
        }
        let Some(first) = opened.first() else {
            return Err(PartialError::Mismatch("no partial to merge".into()));
        };
        check_complete(&opened)?;
        let rules = rule_set(first)?;
        Ok(Partials { opened, rules })
    }

    /// Partials already checked, with their rule set (for tests whose rules have no file).
    #[cfg(test)]
    pub(super) fn with_rules(opened: Vec<Opened>, rules: RuleSet) -> Partials {
        Partials { opened, rules }
    }

    pub fn rules(&self) -> &RuleSet {
        &self.rules
    }

    pub fn settings(&self) -> &Settings {
        &self.opened[0].header.settings
    }

    /// The `--as-of` the shards were given, if any.
    pub fn as_of(&self) -> Result<Option<jiff::Zoned>, PartialError> {
        let opened = &self.opened[0];
        opened
            .header
            .settings
            .as_of
            .as_deref()
            .map(|text| {
                text.parse().map_err(|err| PartialError::Corrupt {
                    path: opened.path.clone(),
                    detail: format!("as_of {text:?}: {err}"),
                })
            })
            .transpose()
    }

    /// How many files of each input format the runs read.
    pub fn files_by_format(&self) -> BTreeMap<&'static str, u64> {
        let mut counts = BTreeMap::new();
        for opened in &self.opened {
            for file in &opened.header.files {
                let name = format_name(&file.format).unwrap_or("jsonl");
                *counts.entry(name).or_default() += 1;
            }
        }
        counts
    }

    /// The paths the runs could not list or open, run by run.
    pub fn discovery_errors(&self) -> Vec<ReadError> {
        let mut shards_zero: Vec<&Opened> = self
            .opened
            .iter()
            .filter(|o| o.header.run.shard == 0)
            .collect();
        shards_zero.sort_by(|a, b| a.header.run.inputs.cmp(&b.header.run.inputs));
        shards_zero
            .iter()
            .flat_map(|o| &o.header.discovery_errors)
            .map(path_problem)
            .collect()
    }

    /// How many PATHs named to the runs could not be read (each run's shard 0 says).
    pub fn named_unreadable(&self) -> u64 {
        self.opened
            .iter()
            .filter(|o| o.header.run.shard == 0)
            .map(|o| o.header.named_unreadable)
            .sum()
    }

    /// Replays every partial into one run's merge, files in path order, then judges the
    /// promises: the run one `callqa audit` over all the inputs makes.
    pub fn replay(
        &self,
        keep_turns: usize,
        finding_budget: usize,
        as_of: Option<jiff::Zoned>,
        carried: Vec<Promise>,
        on_progress: &mut dyn FnMut(u64),
    ) -> Result<AuditRun, PartialError> {
        let metadata_rows = self.settings().metadata.as_ref().map(|m| m.rows);
        // The join at the end on as many threads as the report is rendered on.
        let mut replay = Replay::new(
            &self.rules,
            keep_turns,
            finding_budget,
            metadata_rows,
            rayon::current_num_threads(),
        );
        make_room_for(self.opened.len())?;
        let mut streams = self
            .opened
            .iter()
            .map(|opened| Stream::open(opened, self.rules.rules.len(), metadata_rows))
            .collect::<Result<Vec<_>, _>>()?;
        // The next file of each partial, smallest path first (ties: the run, then the shard).
        let mut heap = BinaryHeap::new();
        for (i, stream) in streams.iter_mut().enumerate() {
            stream.advance()?;
            if let Some(key) = stream.key(i) {
                heap.push(Reverse(key));
            }
        }
        let mut batch = Vec::with_capacity(BATCH);
        let mut seq = 0u64;
        while let Some(Reverse((_, _, _, i))) = heap.pop() {
            let stream = &mut streams[i];
            let file = stream.next_file();
            while stream.next_file() == file {
                batch.push(stream.take()?);
                if batch.len() >= BATCH {
                    feed(&mut replay, &mut batch, &mut seq, 0)?;
                    on_progress(replay.conversations());
                }
            }
            if let Some(next) = stream.next_file()
                && Some(next) < file
            {
                return Err(stream.corrupt("its files are out of path order".into()));
            }
            if let Some(key) = stream.key(i) {
                heap.push(Reverse(key));
            }
        }
        let bytes = streams.iter().map(|s| s.bytes).sum();
        feed(&mut replay, &mut batch, &mut seq, bytes)?;
        on_progress(replay.conversations());
        Ok(replay.finish(as_of, carried)?)
    }
}

fn feed(
    replay: &mut Replay,
    batch: &mut Vec<Item>,
    seq: &mut u64,
    bytes: u64,
) -> Result<(), PartialError> {
    replay.take(ChunkResult {
        seq: *seq,
        file: Arc::from(""),
        items: std::mem::take(batch),
        bytes,
        worker: None,
    })?;
    *seq += 1;
    Ok(())
}

fn format_name(name: &str) -> Option<&'static str> {
    <InputFormat as clap::ValueEnum>::value_variants()
        .iter()
        .map(|format| format.name())
        .find(|known| *known == name)
}

fn path_problem(problem: &PathProblem) -> ReadError {
    ReadError {
        source: Source {
            file: Arc::from(problem.path.as_str()),
            line: 0,
        },
        kind: skip_kind(&problem.kind).unwrap_or(SkipKind::Unreadable),
        message: problem.message.clone(),
    }
}

fn skip_kind(key: &str) -> Option<SkipKind> {
    SkipKind::ALL.into_iter().find(|kind| kind.key() == key)
}

/// Whether `other` may be merged with `first`: the same callqa, rule set and settings.
fn agree(first: &Opened, path: &str, b: &Header) -> Result<(), PartialError> {
    let a = &first.header;
    let pair = format!("{} and {path}", first.path);
    if a.callqa != b.callqa {
        return Err(PartialError::Mismatch(format!(
            "{pair} were written by different callqa versions ({} and {})",
            a.callqa, b.callqa
        )));
    }
    if a.rules.digest != b.rules.digest {
        return Err(PartialError::Mismatch(format!(
            "{pair} were audited with different rule sets ({} {}, {} {}); merge the partials of one rule set",
            a.rules.name,
            short(&a.rules.digest),
            b.rules.name,
            short(&b.rules.digest)
        )));
    }
    if let Some((field, x, y)) = settings_difference(&a.settings, &b.settings) {
        return Err(PartialError::Mismatch(format!(
            "{pair} differ in a setting that shapes the report: {field} is {x} and {y}"
        )));
    }
    Ok(())
}

/// Every run's shards 0 to N − 1, each once.
fn check_complete(opened: &[Opened]) -> Result<(), PartialError> {
    let mut runs: BTreeMap<RunKey, BTreeMap<u32, Vec<&str>>> = BTreeMap::new();
    for o in opened {
        let run = &o.header.run;
        runs.entry((run.inputs.clone(), run.shards))
            .or_default()
            .entry(run.shard)
            .or_default()
            .push(&o.path);
    }
    for ((inputs, shards), given) in &runs {
        let run = format!("run {} of {shards} shards", short(inputs));
        if let Some((shard, paths)) = given.iter().find(|(_, paths)| paths.len() > 1) {
            return Err(PartialError::Incomplete(format!(
                "shard {shard}/{shards} is given more than once ({}); {run}",
                paths.join(", ")
            )));
        }
        let missing: Vec<String> = (0..*shards)
            .filter(|shard| !given.contains_key(shard))
            .map(|shard| format!("{shard}/{shards}"))
            .collect();
        if !missing.is_empty() {
            let s = if missing.len() == 1 { "" } else { "s" };
            return Err(PartialError::Incomplete(format!(
                "incomplete sharded run: shard{s} {} missing ({run}); merge every shard's partial",
                missing.join(", ") + if missing.len() == 1 { " is" } else { " are" }
            )));
        }
    }
    Ok(())
}

/// The rule set a partial carries, checked against its digest.
fn rule_set(opened: &Opened) -> Result<RuleSet, PartialError> {
    let corrupt = |detail: String| PartialError::Corrupt {
        path: opened.path.clone(),
        detail,
    };
    let sources: Vec<RuleSource> = opened
        .header
        .rules
        .sources
        .iter()
        .map(|s| RuleSource {
            name: s.name.clone(),
            text: s.text.clone(),
        })
        .collect();
    let rules = RuleSet::load(&sources).map_err(|err| corrupt(format!("its rules: {err}")))?;
    if rules.digest != opened.header.rules.digest {
        return Err(corrupt("its rules do not match their digest".into()));
    }
    Ok(rules)
}

/// One partial read record by record, one record ahead.
struct Stream<'a> {
    opened: &'a Opened,
    reader: Lines,
    files: Vec<Arc<str>>,
    rules: usize,
    metadata_rows: Option<u64>,
    /// The record read ahead, with its file.
    next: Option<(u32, Record)>,
    line: u64,
    records: u64,
    bytes: u64,
    buffer: String,
}

impl<'a> Stream<'a> {
    fn open(
        opened: &'a Opened,
        rules: usize,
        metadata_rows: Option<u64>,
    ) -> Result<Stream<'a>, PartialError> {
        let mut reader = open_reader(&opened.path)?;
        let mut header = String::new();
        // Read and checked by `read_header`.
        reader
            .read_line(&mut header)
            .map_err(|err| PartialError::Io {
                path: opened.path.clone(),
                message: err.to_string(),
            })?;
        Ok(Stream {
            opened,
            reader,
            files: opened
                .header
                .files
                .iter()
                .map(|f| Arc::from(f.path.as_str()))
                .collect(),
            rules,
            metadata_rows,
            next: None,
            line: 1,
            records: 0,
            bytes: 0,
            buffer: String::new(),
        })
    }

    fn corrupt(&self, detail: String) -> PartialError {
        PartialError::Corrupt {
            path: self.opened.path.clone(),
            detail,
        }
    }

    /// The file of the record read ahead.
    fn next_file(&self) -> Option<u32> {
        self.next.as_ref().map(|(f, _)| *f)
    }

    /// The heap key of the record read ahead: its file's path, the run, the shard, `i`.
    fn key(&self, i: usize) -> Option<(Arc<str>, String, u32, usize)> {
        let f = self.next_file()?;
        let run = &self.opened.header.run;
        Some((
            self.files[f as usize].clone(),
            run.inputs.clone(),
            run.shard,
            i,
        ))
    }

    /// The record read ahead, as the merge takes it; reads the next one.
    fn take(&mut self) -> Result<Item, PartialError> {
        let (f, record) = self.next.take().expect("a record read ahead");
        let line = self.line;
        let item = self
            .item(record, f)
            .map_err(|err| self.corrupt(format!("line {line}: {err}")))?;
        self.advance()?;
        Ok(item)
    }

    /// Reads the next record (none after the end line).
    fn advance(&mut self) -> Result<(), PartialError> {
        self.buffer.clear();
        let read = self
            .reader
            .read_line(&mut self.buffer)
            .map_err(|err| self.corrupt(format!("after line {}: {err}", self.line)))?;
        if read == 0 {
            return Err(self.corrupt(format!(
                "it ends at line {} without its end line (cut short?)",
                self.line
            )));
        }
        self.line += 1;
        let record: Record = serde_json::from_str(&self.buffer)
            .map_err(|err| self.corrupt(format!("line {}: {err}", self.line)))?;
        let f = match &record {
            Record::Audited(a) => a.f,
            Record::Skipped(p) | Record::FileError(p) => p.f,
            Record::End(end) => {
                if end.records != self.records {
                    return Err(self.corrupt(format!(
                        "its end line counts {} records, it holds {}",
                        end.records, self.records
                    )));
                }
                self.bytes = end.bytes;
                self.buffer.clear();
                if self
                    .reader
                    .read_line(&mut self.buffer)
                    .map_or(true, |n| n > 0)
                {
                    return Err(self.corrupt("something follows its end line".into()));
                }
                return Ok(());
            }
        };
        if f as usize >= self.files.len() {
            return Err(self.corrupt(format!("line {}: no file {f} in the header", self.line)));
        }
        self.records += 1;
        self.next = Some((f, record));
        Ok(())
    }

    fn source(&self, f: u32, file: Option<String>, line: u64) -> Source {
        Source {
            file: file.map_or_else(|| self.files[f as usize].clone(), Arc::from),
            line,
        }
    }

    fn rule(&self, rule: u32) -> Result<u32, String> {
        if (rule as usize) < self.rules {
            Ok(rule)
        } else {
            Err(format!("no rule {rule} in the rule set"))
        }
    }

    fn item(&self, record: Record, f: u32) -> Result<Item, String> {
        Ok(match record {
            Record::Audited(audited) => self.audited(*audited)?,
            Record::Skipped(problem) => Item::Skipped(self.problem(problem, f)?),
            Record::FileError(problem) => Item::FileError(self.problem(problem, f)?),
            Record::End(_) => return Err("a second end line".into()),
        })
    }

    fn problem(&self, problem: ProblemRecord, f: u32) -> Result<ReadError, String> {
        Ok(ReadError {
            source: self.source(f, problem.file, problem.line),
            kind: skip_kind(&problem.kind).ok_or(format!("unknown skip {:?}", problem.kind))?,
            message: problem.msg,
        })
    }

    fn audited(&self, a: AuditedRecord) -> Result<Item, String> {
        let source = self.source(a.f, a.file, a.line);
        let agents =
            a.ag.into_iter()
                .map(|(agent_id, states)| {
                    Ok(AgentPart {
                        agent_id,
                        states: self.states(&states)?,
                    })
                })
                .collect::<Result<Vec<_>, String>>()?;
        let findings =
            a.fi.into_iter()
                .map(|finding| self.finding(finding, &a.id, a.f))
                .collect::<Result<Vec<_>, _>>()?;
        let promises =
            a.pr.into_iter()
                .map(|promise| self.promise(promise, &a.id, a.f))
                .collect::<Result<Vec<_>, _>>()?;
        let turns = a
            .turns
            .map(|turns| retained(turns, &source))
            .transpose()?
            .map(Box::new);
        if let Some(row) = a.md
            && self.metadata_rows.is_none_or(|rows| row as u64 >= rows)
        {
            return Err(format!("no --metadata row {row}"));
        }
        Ok(Item::Audited {
            id: a.id,
            source,
            started_at: a.at.as_deref().map(zoned).transpose()?,
            customer_id: a.cu,
            direction: a
                .dir
                .map(|d| Direction::parse(&d).ok_or(format!("unknown direction {d:?}")))
                .transpose()?,
            team: a.team,
            audit: ConversationAudit {
                findings,
                agents,
                promises,
                suppressed: a.sup,
            },
            turns,
            metadata_row: a.md,
        })
    }

    fn states(&self, letters: &str) -> Result<Vec<RuleState>, String> {
        if letters.len() != self.rules {
            return Err(format!(
                "{} rule states for {} rules",
                letters.len(),
                self.rules
            ));
        }
        letters
            .chars()
            .map(|c| match c {
                '-' => Ok(RuleState::NotApplicable),
                'P' => Ok(RuleState::Passed),
                'F' => Ok(RuleState::Failed),
                other => Err(format!("unknown rule state {other:?}")),
            })
            .collect()
    }

    fn finding(&self, r: FindingRecord, id: &str, f: u32) -> Result<Finding, String> {
        Ok(Finding {
            conversation_id: r.id.unwrap_or_else(|| id.to_string()),
            agent_id: r.a,
            rule: self.rule(r.r)?,
            turn: r.t,
            at_ms: r.ms,
            evidence: r.ev,
            source: self.source(f, r.file, r.line),
            span: r.sp,
        })
    }

    fn promise(&self, r: PromiseRecord, id: &str, f: u32) -> Result<Promise, String> {
        Ok(Promise {
            conversation_id: r.id.unwrap_or_else(|| id.to_string()),
            agent_id: r.a,
            customer_id: r.cu,
            rule: self.rule(r.r)?,
            turn: r.t,
            at_ms: r.ms,
            made_at: r.made.as_deref().map(zoned).transpose()?,
            deadline: r.dl.as_deref().map(zoned).transpose()?,
            time_words: r.words,
            evidence: r.ev,
            span: r.sp,
            source: self.source(f, r.file, r.line),
            state: PromiseState::parse(&r.st).ok_or(format!("unknown promise state {:?}", r.st))?,
            kept_by: r
                .kept
                .map(|(by, at)| zoned(&at).map(|at| (by, at)))
                .transpose()?,
            carried: r.carried,
        })
    }
}

fn zoned(text: &str) -> Result<jiff::Zoned, String> {
    text.parse().map_err(|err| format!("time {text:?}: {err}"))
}

fn retained(turns: Vec<TurnRecord>, source: &Source) -> Result<RetainedConversation, String> {
    Ok(RetainedConversation {
        source: source.clone(),
        turns: turns
            .into_iter()
            .map(|t| {
                Ok(RetainedTurn {
                    speaker: Speaker::parse(&t.s).ok_or(format!("unknown speaker {:?}", t.s))?,
                    agent_id: t.a,
                    text: t.x,
                    start_ms: t.ms,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
    })
}

//! The findings of a run (and any other [`Record`]s), kept for sorting: in memory up to a
//! budget, on disk beyond it.
//!
//! Findings are written sorted by conversation id, then turn, then rule (SPEC), but they are
//! found in input order, and a large audit finds more of them than should stay in memory (a
//! generated 1 GiB export yields about 930,000, some 350 bytes each in memory). The store keeps
//! records in memory until their estimated size passes its budget, then sorts them and writes
//! them to an unnamed temporary file as one sorted run (about 200 bytes a finding on disk).
//! Reading them back merges the runs, and what is still in memory, through a heap: an external
//! merge sort. Ties keep their input order, as one stable in-memory sort would: every run is
//! sorted stably, and on equal keys an earlier run comes first. So the order (and every output
//! byte) is the same whether the store spilled or not.
//!
//! Runs are merged once they pile up, a log-structured merge: when a store has 64 runs
//! (`MAX_RUNS`), every 16 runs of one level (`RUN_FAN_IN`) become one run of the next level.
//! So a store keeps at most 64 files open (15 a level after a merge: 64 until four levels,
//! 65,536 spills), whatever the input's size (a process may open only 1,024 files), and a
//! record is rewritten at most once a level (log16 of the spills);
//! an audit whose findings fit in 64 runs (some 250 MB of them at the default budget) merges
//! nothing. Records that come in order (the promise join's held conversations) make one run,
//! each spill appended to it.
//!
//! Memory is the budget plus, while merging, one decoded record and one read buffer per run.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use jiff::Zoned;

use crate::model::{Finding, Promise, PromiseState};
use crate::transcript::Source;

/// The default memory budget of a [`FindingStore`].
pub(crate) const DEFAULT_BUDGET_BYTES: usize = 8 << 20;

/// Read and write buffer of a run file.
const RUN_BUFFER_BYTES: usize = 64 << 10;

/// Runs a store keeps before it merges some, and how many runs of one level it merges into
/// one of the next (see the module's comment).
const MAX_RUNS: usize = 64;
const RUN_FAN_IN: usize = 16;

/// Records [`Store::visit_ahead`] hands over at a time, and how many such batches may wait:
/// room enough that neither side waits on the other's uneven batches (with 4, the promise
/// join's two threads were each busy only four fifths of the time).
const AHEAD_BATCH: usize = 256;
const AHEAD_BATCHES: usize = 16;

/// What a [`Store`] holds: records with an order, written to and read from its runs.
pub trait Record: Clone + Sized {
    /// The order `Store::visit` gives (ties keep their input order).
    fn order(&self, other: &Self) -> Ordering;
    /// The index of the record's rule, for [`Store::per_rule`] (none: not counted).
    fn rule(&self) -> Option<u32>;
    /// The memory of the record's strings (with an allocator's overhead).
    fn text_bytes(&self) -> usize;
    /// Appends the record to `out`, its source file by number in `files`.
    fn encode(&self, files: &mut FileNumbers, out: &mut Vec<u8>) -> io::Result<()>;
    /// The record [`Record::encode`] wrote, its file named from `files`.
    fn decode(reader: &mut impl Read, files: &[Arc<str>]) -> io::Result<Self>;
}

/// The source file names of a store's runs, written to them by number.
#[derive(Debug, Default)]
pub struct FileNumbers {
    names: Vec<Arc<str>>,
    numbers: HashMap<Arc<str>, u32>,
}

impl FileNumbers {
    fn number(&mut self, file: &Arc<str>) -> io::Result<u32> {
        if let Some(&number) = self.numbers.get(file) {
            return Ok(number);
        }
        let number = u32::try_from(self.names.len())
            .map_err(|_| io::Error::other("too many source files"))?;
        self.names.push(file.clone());
        self.numbers.insert(file.clone(), number);
        Ok(number)
    }
}

/// The findings of a run.
pub type FindingStore = Store<Finding>;

/// Records in their order once `Store::visit` reads them.
#[derive(Debug)]
pub struct Store<R> {
    budget_bytes: usize,
    /// Records not yet spilled, in input order until the store is read.
    buffer: Vec<R>,
    /// What the buffered records' strings take (their slots in `buffer` are counted apart).
    text_bytes: usize,
    /// Whether `buffer` is sorted (set by a read, cleared by a push).
    buffer_sorted: bool,
    /// Whether every record came in order (none before the one pushed ahead of it): then the
    /// runs follow one another and are read back one at a time, not merged.
    pushed_in_order: bool,
    /// The last record of the last run, while `pushed_in_order`: what the next push is
    /// compared with when the buffer is empty.
    last_spilled: Option<R>,
    runs: Vec<Run>,
    files: FileNumbers,
    len: u64,
    per_rule: Vec<u64>,
}

/// One sorted run on disk.
#[derive(Debug)]
struct Run {
    file: File,
    count: u64,
    /// 0 for a spilled buffer, one more than its sources' for a merge of runs.
    level: u32,
}

impl<R: Record> Default for Store<R> {
    fn default() -> Store<R> {
        Store::new(DEFAULT_BUDGET_BYTES)
    }
}

impl<R: Record> Store<R> {
    /// A store that spills once its records take about `budget_bytes` of memory (0: spill
    /// every record, for tests).
    pub(crate) fn new(budget_bytes: usize) -> Store<R> {
        Store {
            budget_bytes,
            buffer: Vec::new(),
            text_bytes: 0,
            buffer_sorted: true,
            pushed_in_order: true,
            last_spilled: None,
            runs: Vec::new(),
            files: FileNumbers::default(),
            len: 0,
            per_rule: Vec::new(),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many findings each rule has, by rule index (shorter than the rule set when the
    /// last rules have none).
    pub fn per_rule(&self) -> &[u64] {
        &self.per_rule
    }

    /// How many sorted runs are on disk (runs merged into one count as one).
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds a record; spills when the budget is passed.
    pub(crate) fn push(&mut self, record: R) -> io::Result<()> {
        if let Some(rule) = record.rule() {
            let rule = rule as usize;
            if self.per_rule.len() <= rule {
                self.per_rule.resize(rule + 1, 0);
            }
            self.per_rule[rule] += 1;
        }
        self.len += 1;
        self.text_bytes += record.text_bytes();
        if self.pushed_in_order {
            let previous = self.buffer.last().or(self.last_spilled.as_ref());
            if previous.is_some_and(|previous| record.order(previous) == Ordering::Less) {
                self.pushed_in_order = false;
                self.last_spilled = None;
            }
        }
        self.buffer.push(record);
        self.buffer_sorted = false;
        let slots = self.buffer.capacity() * std::mem::size_of::<R>();
        if slots + self.text_bytes > self.budget_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it to a new run file, and merges the runs that piled up;
    /// or, while the records come in order, appends it to the one run they make.
    fn spill(&mut self) -> io::Result<()> {
        sort(&mut self.buffer);
        let in_order = self.pushed_in_order;
        let mut writer = match self.runs.pop_if(|_| in_order) {
            Some(last) => RunWriter::after(last)?,
            None => RunWriter::new()?,
        };
        for record in &self.buffer {
            writer.write(record, &mut self.files)?;
        }
        self.runs.push(writer.finish()?);
        self.merge_piled_up_runs()?;
        if self.pushed_in_order {
            self.last_spilled = self.buffer.last().cloned();
        }
        // The next run is about as long: no doubling (and copying) of the buffer past it.
        self.buffer = Vec::with_capacity(self.buffer.len());
        self.text_bytes = 0;
        self.buffer_sorted = true;
        Ok(())
    }

    /// Once the store has [`MAX_RUNS`] runs, merges them a level at a time: from the lowest
    /// level up, the oldest [`RUN_FAN_IN`] runs of a level become one run of the next, in
    /// their place, until every level has fewer. A level's runs sit side by side (levels
    /// never rise from older runs to younger), so each merge takes neighbours and ties keep
    /// their input order.
    fn merge_piled_up_runs(&mut self) -> io::Result<()> {
        if self.runs.len() < MAX_RUNS {
            return Ok(());
        }
        let mut level = 0;
        while self.runs.iter().any(|run| run.level >= level) {
            let first = self.runs.iter().position(|run| run.level == level);
            let side_by_side = first.map_or(0, |first| {
                self.runs[first..]
                    .iter()
                    .take_while(|run| run.level == level)
                    .count()
            });
            let Some(first) = first.filter(|_| side_by_side >= RUN_FAN_IN) else {
                level += 1;
                continue;
            };
            let mut piled_up: Vec<Run> = self.runs.drain(first..first + RUN_FAN_IN).collect();
            let mut writer = RunWriter::new()?;
            writer.level = level + 1;
            // The records name files already numbered: the names are read while they are.
            let names = self.files.names.clone();
            merge::<R>(&mut piled_up, &[], &names, |record| {
                writer.write(&record, &mut self.files)
            })?;
            self.runs.insert(first, writer.finish()?);
        }
        Ok(())
    }

    /// Hands `each` every record (a copy: the store keeps its own) in the records' order,
    /// ties in input order. Can be called again (each call reads the runs anew); the first
    /// error (of `each` or of reading a run) stops it.
    pub(crate) fn visit(&mut self, mut each: impl FnMut(R) -> io::Result<()>) -> io::Result<()> {
        if !self.buffer_sorted {
            sort(&mut self.buffer);
            self.buffer_sorted = true;
        }
        if self.runs.is_empty() {
            return self.buffer.iter().cloned().try_for_each(&mut each);
        }
        if self.pushed_in_order {
            // The runs, then the buffer, are in order one after another: one read buffer at a
            // time, not one per run.
            for run in &mut self.runs {
                run.file.seek(SeekFrom::Start(0))?;
                let mut reader = RunReader {
                    reader: BufReader::with_capacity(RUN_BUFFER_BYTES, &run.file),
                    left: run.count,
                };
                while let Some(record) = reader.next(&self.files.names)? {
                    each(record)?;
                }
            }
            return self.buffer.iter().cloned().try_for_each(each);
        }
        merge(&mut self.runs, &self.buffer, &self.files.names, each)
    }

    /// As [`Store::visit`], with each record first handed to `prepare`; with `ahead` the
    /// reading (and `prepare`) run on a thread of their own, up to [`AHEAD_BATCHES`] batches of
    /// [`AHEAD_BATCH`] records ahead of `each` on this one: for the promise join, read back
    /// after the last chunk when nothing else overlaps it, where reading and judging are about
    /// half the work. (The findings pass gained nothing from it: measured, not used.) The
    /// first error (of either side) stops both.
    pub(crate) fn visit_ahead(
        &mut self,
        ahead: bool,
        prepare: impl Fn(&mut R) + Sync,
        mut each: impl FnMut(R) -> io::Result<()>,
    ) -> io::Result<()>
    where
        R: Send,
    {
        if !ahead {
            return self.visit(|mut record| {
                prepare(&mut record);
                each(record)
            });
        }
        let (send, receive) = crossbeam_channel::bounded::<Vec<R>>(AHEAD_BATCHES);
        let prepare = &prepare;
        std::thread::scope(|scope| {
            let reader = std::thread::Builder::new()
                .name("callqa-read-ahead".into())
                .spawn_scoped(scope, move || {
                    let mut batch = Vec::with_capacity(AHEAD_BATCH);
                    self.visit(|mut record| {
                        prepare(&mut record);
                        batch.push(record);
                        if batch.len() == AHEAD_BATCH {
                            let full =
                                std::mem::replace(&mut batch, Vec::with_capacity(AHEAD_BATCH));
                            // Fails only when `each` stopped on an error, which is returned.
                            send.send(full)
                                .map_err(|_| io::Error::other("the reading stopped"))?;
                        }
                        Ok(())
                    })?;
                    // As above: a failed send means the error of `each` is the one to report.
                    let _ = send.send(batch);
                    Ok(())
                })?;
            let taken = receive.iter().flatten().try_for_each(&mut each);
            // Unblocks the reader if `each` stopped early.
            drop(receive);
            let read = reader
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            taken.and(read)
        })
    }

    /// Every record, in order, in memory: for tests and small runs.
    pub fn to_vec(&mut self) -> io::Result<Vec<R>> {
        let mut all = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.visit(|finding| {
            all.push(finding);
            Ok(())
        })?;
        Ok(all)
    }
}

/// The records' order; stable, so equal keys keep input order.
fn sort<R: Record>(records: &mut [R]) {
    records.sort_by(R::order);
}

fn key(finding: &Finding) -> (&str, usize, u32) {
    (finding.conversation_id.as_str(), finding.turn, finding.rule)
}

/// Findings come in the run's order: conversation id, then turn, then rule.
impl Record for Finding {
    fn order(&self, other: &Finding) -> Ordering {
        key(self).cmp(&key(other))
    }

    fn rule(&self) -> Option<u32> {
        Some(self.rule)
    }

    fn text_bytes(&self) -> usize {
        self.conversation_id.capacity()
            + self.agent_id.capacity()
            + self.evidence.capacity()
            + 3 * 16
    }

    fn encode(&self, files: &mut FileNumbers, out: &mut Vec<u8>) -> io::Result<()> {
        encode(self, files.number(&self.source.file)?, out);
        Ok(())
    }

    fn decode(reader: &mut impl Read, files: &[Arc<str>]) -> io::Result<Finding> {
        decode_finding(reader, files)
    }
}

/// Promises come in `promises.csv`'s order: conversation id, then turn, then rule.
impl Record for Promise {
    fn order(&self, other: &Promise) -> Ordering {
        (self.conversation_id.as_str(), self.turn, self.rule).cmp(&(
            other.conversation_id.as_str(),
            other.turn,
            other.rule,
        ))
    }

    fn rule(&self) -> Option<u32> {
        Some(self.rule)
    }

    fn text_bytes(&self) -> usize {
        let optional = |text: &Option<String>| text.as_ref().map_or(0, |t| t.capacity() + 16);
        self.conversation_id.capacity()
            + self.agent_id.capacity()
            + self.evidence.capacity()
            + 3 * 16
            + optional(&self.customer_id)
            + optional(&self.time_words)
            + self
                .kept_by
                .as_ref()
                .map_or(0, |(id, _)| id.capacity() + 16)
    }

    /// Its fields in order; a time as its instant and its offset, all its outputs show.
    fn encode(&self, files: &mut FileNumbers, out: &mut Vec<u8>) -> io::Result<()> {
        let optional_text = |out: &mut Vec<u8>, text: Option<&str>| match text {
            Some(text) => {
                out.push(1);
                write_text(out, text);
            }
            None => out.push(0),
        };
        write_text(out, &self.conversation_id);
        write_text(out, &self.agent_id);
        optional_text(out, self.customer_id.as_deref());
        out.extend_from_slice(&self.rule.to_le_bytes());
        out.extend_from_slice(&(self.turn as u64).to_le_bytes());
        write_optional(out, self.at_ms, |out, at| {
            out.extend_from_slice(&at.to_le_bytes())
        });
        write_optional(out, self.made_at.as_ref(), write_time);
        write_optional(out, self.deadline.as_ref(), write_time);
        optional_text(out, self.time_words.as_deref());
        write_text(out, &self.evidence);
        write_optional(out, self.span, |out, (from, to)| {
            out.extend_from_slice(&(from as u64).to_le_bytes());
            out.extend_from_slice(&(to as u64).to_le_bytes());
        });
        out.extend_from_slice(&files.number(&self.source.file)?.to_le_bytes());
        out.extend_from_slice(&self.source.line.to_le_bytes());
        out.push(self.state as u8);
        write_optional(out, self.kept_by.as_ref(), |out, (id, at)| {
            write_text(out, id);
            write_time(out, at);
        });
        out.push(u8::from(self.carried));
        Ok(())
    }

    fn decode(reader: &mut impl Read, files: &[Arc<str>]) -> io::Result<Promise> {
        let optional_text = |reader: &mut _| read_optional(reader, read_text);
        let conversation_id = read_text(reader)?;
        let agent_id = read_text(reader)?;
        let customer_id = optional_text(reader)?;
        let rule = u32::from_le_bytes(read_array(reader)?);
        let turn = read_usize(reader)?;
        let at_ms = read_optional(reader, |r| Ok(i64::from_le_bytes(read_array(r)?)))?;
        let made_at = read_optional(reader, read_time)?;
        let deadline = read_optional(reader, read_time)?;
        let time_words = optional_text(reader)?;
        let evidence = read_text(reader)?;
        let span = read_optional(reader, |r| Ok((read_usize(r)?, read_usize(r)?)))?;
        let file = files
            .get(u32::from_le_bytes(read_array(reader)?) as usize)
            .cloned()
            .ok_or_else(|| corrupt("source file index out of range"))?;
        let line = u64::from_le_bytes(read_array(reader)?);
        let state = match read_array::<1>(reader)?[0] {
            0 => PromiseState::Kept,
            1 => PromiseState::Broken,
            2 => PromiseState::Pending,
            3 => PromiseState::Unverifiable,
            _ => return Err(corrupt("a promise's state")),
        };
        let kept_by = read_optional(reader, |r| Ok((read_text(r)?, read_time(r)?)))?;
        let carried = read_array::<1>(reader)?[0] != 0;
        Ok(Promise {
            conversation_id,
            agent_id,
            customer_id,
            rule,
            turn,
            at_ms,
            made_at,
            deadline,
            time_words,
            evidence,
            span,
            source: Source { file, line },
            state,
            kept_by,
            carried,
        })
    }
}

pub(crate) fn write_text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// A flag, then the value when there is one.
pub(crate) fn write_optional<T>(
    out: &mut Vec<u8>,
    value: Option<T>,
    write: impl FnOnce(&mut Vec<u8>, T),
) {
    match value {
        Some(value) => {
            out.push(1);
            write(out, value);
        }
        None => out.push(0),
    }
}

pub(crate) fn read_optional<R: Read, T>(
    reader: &mut R,
    read: impl FnOnce(&mut R) -> io::Result<T>,
) -> io::Result<Option<T>> {
    match read_array::<1>(reader)?[0] {
        0 => Ok(None),
        _ => read(reader).map(Some),
    }
}

/// A time: its instant (seconds and nanoseconds) and its UTC offset. Every time callqa
/// makes has a fixed offset, and the outputs show only the instant and the offset.
fn write_time(out: &mut Vec<u8>, time: &Zoned) {
    let instant = time.timestamp();
    out.extend_from_slice(&instant.as_second().to_le_bytes());
    out.extend_from_slice(&instant.subsec_nanosecond().to_le_bytes());
    out.extend_from_slice(&time.offset().seconds().to_le_bytes());
}

fn read_time(reader: &mut impl Read) -> io::Result<Zoned> {
    let seconds = i64::from_le_bytes(read_array(reader)?);
    let nanoseconds = i32::from_le_bytes(read_array(reader)?);
    let offset = i32::from_le_bytes(read_array(reader)?);
    let instant = jiff::Timestamp::new(seconds, nanoseconds).map_err(|_| corrupt("a time"))?;
    let offset = jiff::tz::Offset::from_seconds(offset).map_err(|_| corrupt("an offset"))?;
    Ok(instant.to_zoned(jiff::tz::TimeZone::fixed(offset)))
}

/// Hands `each` the records of `runs` and then `memory`, each source sorted, merged into one
/// order; on equal records an earlier source comes first.
fn merge<R: Record>(
    runs: &mut [Run],
    memory: &[R],
    names: &[Arc<str>],
    mut each: impl FnMut(R) -> io::Result<()>,
) -> io::Result<()> {
    let mut readers = Vec::with_capacity(runs.len());
    for run in runs {
        run.file.seek(SeekFrom::Start(0))?;
        readers.push(RunReader {
            reader: BufReader::with_capacity(RUN_BUFFER_BYTES, &run.file),
            left: run.count,
        });
    }
    // Every source's next record, smallest (then earliest source) first; the memory is the
    // last source.
    let memory_source = readers.len();
    let mut memory = memory.iter();
    let mut heap = BinaryHeap::with_capacity(readers.len() + 1);
    for (source, reader) in readers.iter_mut().enumerate() {
        if let Some(record) = reader.next(names)? {
            heap.push(Reverse(Head { record, source }));
        }
    }
    if let Some(record) = memory.next() {
        heap.push(Reverse(Head {
            record: record.clone(),
            source: memory_source,
        }));
    }
    while let Some(Reverse(head)) = heap.pop() {
        each(head.record)?;
        let next = if head.source == memory_source {
            memory.next().cloned()
        } else {
            readers[head.source].next(names)?
        };
        if let Some(record) = next {
            heap.push(Reverse(Head {
                record,
                source: head.source,
            }));
        }
    }
    Ok(())
}

/// A run being written to an unnamed temporary file.
struct RunWriter {
    writer: BufWriter<File>,
    bytes: Vec<u8>,
    count: u64,
    level: u32,
}

impl RunWriter {
    /// A new run of level 0.
    fn new() -> io::Result<RunWriter> {
        Ok(RunWriter {
            writer: BufWriter::with_capacity(RUN_BUFFER_BYTES, tempfile::tempfile()?),
            bytes: Vec::new(),
            count: 0,
            level: 0,
        })
    }

    /// `run`, to be continued with records that follow its last.
    fn after(mut run: Run) -> io::Result<RunWriter> {
        run.file.seek(SeekFrom::End(0))?;
        Ok(RunWriter {
            writer: BufWriter::with_capacity(RUN_BUFFER_BYTES, run.file),
            bytes: Vec::new(),
            count: run.count,
            level: run.level,
        })
    }

    fn write<R: Record>(&mut self, record: &R, files: &mut FileNumbers) -> io::Result<()> {
        self.bytes.clear();
        record.encode(files, &mut self.bytes)?;
        self.count += 1;
        self.writer.write_all(&self.bytes)
    }

    fn finish(self) -> io::Result<Run> {
        let file = self
            .writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(Run {
            file,
            count: self.count,
            level: self.level,
        })
    }
}

/// The next record of one source in a merge.
#[derive(Debug)]
struct Head<R> {
    record: R,
    source: usize,
}

impl<R: Record> Ord for Head<R> {
    fn cmp(&self, other: &Head<R>) -> Ordering {
        self.record
            .order(&other.record)
            .then(self.source.cmp(&other.source))
    }
}

impl<R: Record> PartialOrd for Head<R> {
    fn partial_cmp(&self, other: &Head<R>) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<R: Record> PartialEq for Head<R> {
    fn eq(&self, other: &Head<R>) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<R: Record> Eq for Head<R> {}

/// A run's records: little-endian integers and length-prefixed UTF-8, in this order:
/// conversation id, agent id, rule, turn, at_ms (flag + value), evidence, source file (index
/// into the store's names), source line, span (flag + two offsets).
fn encode(finding: &Finding, file: u32, out: &mut Vec<u8>) {
    let text = |out: &mut Vec<u8>, text: &str| {
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    };
    text(out, &finding.conversation_id);
    text(out, &finding.agent_id);
    out.extend_from_slice(&finding.rule.to_le_bytes());
    out.extend_from_slice(&(finding.turn as u64).to_le_bytes());
    match finding.at_ms {
        Some(at) => {
            out.push(1);
            out.extend_from_slice(&at.to_le_bytes());
        }
        None => out.push(0),
    }
    text(out, &finding.evidence);
    out.extend_from_slice(&file.to_le_bytes());
    out.extend_from_slice(&finding.source.line.to_le_bytes());
    match finding.span {
        Some((from, to)) => {
            out.push(1);
            out.extend_from_slice(&(from as u64).to_le_bytes());
            out.extend_from_slice(&(to as u64).to_le_bytes());
        }
        None => out.push(0),
    }
}

struct RunReader<'f> {
    reader: BufReader<&'f File>,
    left: u64,
}

impl RunReader<'_> {
    fn next<R: Record>(&mut self, files: &[Arc<str>]) -> io::Result<Option<R>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        R::decode(&mut self.reader, files).map(Some)
    }
}

fn decode_finding(reader: &mut impl Read, files: &[Arc<str>]) -> io::Result<Finding> {
    let conversation_id = read_text(reader)?;
    let agent_id = read_text(reader)?;
    let rule = u32::from_le_bytes(read_array(reader)?);
    let turn = read_usize(reader)?;
    let at_ms = match read_array::<1>(reader)?[0] {
        0 => None,
        _ => Some(i64::from_le_bytes(read_array(reader)?)),
    };
    let evidence = read_text(reader)?;
    let file_index = u32::from_le_bytes(read_array(reader)?) as usize;
    let file = files
        .get(file_index)
        .cloned()
        .ok_or_else(|| corrupt("source file index out of range"))?;
    let line = u64::from_le_bytes(read_array(reader)?);
    let span = match read_array::<1>(reader)?[0] {
        0 => None,
        _ => Some((read_usize(reader)?, read_usize(reader)?)),
    };
    Ok(Finding {
        conversation_id,
        agent_id,
        rule,
        turn,
        at_ms,
        evidence,
        source: Source { file, line },
        span,
    })
}

pub(crate) fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spilled findings file is damaged: {what}"),
    )
}

pub(crate) fn read_array<const N: usize>(reader: &mut impl Read) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}

pub(crate) fn read_usize(reader: &mut impl Read) -> io::Result<usize> {
    usize::try_from(u64::from_le_bytes(read_array(reader)?)).map_err(|_| corrupt("offset"))
}

pub(crate) fn read_text(reader: &mut impl Read) -> io::Result<String> {
    let length = read_usize(reader)?;
    let cut_short = |err: io::Error| match err.kind() {
        io::ErrorKind::UnexpectedEof => corrupt("a text is cut short"),
        _ => err,
    };
    if length <= STACK_TEXT {
        // Ids and most evidence: checked by simdutf8, then copied once into their `String`.
        // std's check, which `String::from_utf8` makes, goes a byte at a time through the
        // evidence's `«»` and curly quotes: it was a fifth of the promise join's reading thread.
        let mut buffer = [0u8; STACK_TEXT];
        let bytes = &mut buffer[..length];
        reader.read_exact(bytes).map_err(cut_short)?;
        return simdutf8::basic::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| corrupt("a text is not UTF-8"));
    }
    let mut bytes = Vec::new();
    if length <= SHORT_TEXT {
        // Ids and evidence: read in one copy from the reader's buffer (`read_to_end` probes
        // and grows, about half of what decoding a record cost).
        bytes.resize(length, 0);
        reader.read_exact(&mut bytes).map_err(cut_short)?;
    } else {
        // A damaged length must not allocate what it claims before the bytes are there.
        reader.take(length as u64).read_to_end(&mut bytes)?;
        if bytes.len() != length {
            return Err(corrupt("a text is cut short"));
        }
    }
    String::from_utf8(bytes).map_err(|_| corrupt("a text is not UTF-8"))
}

/// Texts up to this length are read into a buffer on the stack.
const STACK_TEXT: usize = 256;

/// Texts up to this length are read into a buffer of their length at once.
const SHORT_TEXT: usize = 64 << 10;

#[cfg(test)]
mod tests {
    use super::*;

    /// Texts on the stack and on the heap read back as written, and damaged ones fail.
    #[test]
    fn texts_read_back_or_say_what_is_wrong() {
        let long = "é«»".repeat(STACK_TEXT);
        for text in [
            "",
            "c-1",
            "customer: \"this is «ridiculous»\"",
            long.as_str(),
        ] {
            let mut bytes = Vec::new();
            write_text(&mut bytes, text);
            assert_eq!(read_text(&mut bytes.as_slice()).unwrap(), text);
        }
        let damaged = |length: usize, content: &[u8]| {
            let mut bytes = (length as u64).to_le_bytes().to_vec();
            bytes.extend_from_slice(content);
            read_text(&mut bytes.as_slice()).unwrap_err().to_string()
        };
        let not_utf8 = [b'a', 0xFF, b'b'];
        let long_not_utf8 = [0xC3; STACK_TEXT + 1];
        for (length, content, message) in [
            (3, &not_utf8[..], "a text is not UTF-8"),
            (
                long_not_utf8.len(),
                &long_not_utf8[..],
                "a text is not UTF-8",
            ),
            (5, &b"abc"[..], "a text is cut short"),
            (STACK_TEXT + 10, &b"abc"[..], "a text is cut short"),
        ] {
            assert!(
                damaged(length, content).contains(message),
                "{length} bytes of {content:?}"
            );
        }
    }

    fn finding(id: &str, turn: usize, rule: u32, evidence: &str, file: &str) -> Finding {
        Finding {
            conversation_id: id.into(),
            agent_id: format!("agent of {id}"),
            rule,
            turn,
            at_ms: turn.is_multiple_of(2).then_some(turn as i64 * 1000 - 7),
            evidence: evidence.into(),
            source: Source {
                file: Arc::from(file),
                line: turn as u64 + 1,
            },
            span: (rule == 1).then_some((3, 9)),
        }
    }

    /// Findings in a scrambled input order, with equal keys whose input order must stay.
    fn scrambled() -> Vec<Finding> {
        let mut findings = Vec::new();
        for i in 0..200u32 {
            let id = format!("c-{:03}", (i * 37) % 53);
            let turn = (i % 5) as usize;
            let rule = i % 3;
            findings.push(finding(
                &id,
                turn,
                rule,
                &format!("evidence «{i}» — ünïcode"),
                ["a.jsonl", "dir/b.jsonl", "c d.jsonl"][(i % 3) as usize],
            ));
        }
        findings
    }

    #[test]
    fn spilled_order_is_the_stable_in_memory_order() {
        let mut expected = scrambled();
        expected.sort_by(|a, b| key(a).cmp(&key(b)));
        // budget → runs: everything in memory, several runs, one finding per run.
        for (budget, spills) in [(usize::MAX, false), (4096, true), (0, true)] {
            let mut store = FindingStore::new(budget);
            for finding in scrambled() {
                store.push(finding).unwrap();
            }
            assert_eq!(store.spilled_runs() > 0, spills, "budget {budget}");
            assert_eq!(store.len(), 200);
            assert_eq!(store.to_vec().unwrap(), expected, "budget {budget}");
            // A second read gives the same.
            assert_eq!(store.to_vec().unwrap(), expected, "budget {budget}, again");
        }
    }

    #[test]
    fn runs_that_pile_up_are_merged_a_level_at_a_time_in_order() {
        // One finding a run (budget 0), with equal keys whose input order must stay.
        let findings: Vec<Finding> = (0..1000u32)
            .map(|i| {
                // 186 keys, each five or six times.
                let id = format!("c-{:02}", (i * 37) % 31);
                finding(&id, (i % 2) as usize, i % 3, &format!("e{i}"), "a.jsonl")
            })
            .collect();
        let mut sorted = findings.clone();
        sorted.sort_by(|a, b| key(a).cmp(&key(b)));
        // In order, each spill continues the one run. Scrambled, the first six come in order
        // (one run), then 994 spills, each a run: merged at every 64th run, 995 runs end as
        // 3 of level 2 (16² each), 13 of level 1 (16 each) and 19 of level 0.
        for (input, runs) in [(&findings, 3 + 13 + 19), (&sorted, 1)] {
            let mut store = FindingStore::new(0);
            for finding in input.iter().cloned() {
                store.push(finding).unwrap();
            }
            assert_eq!(store.spilled_runs(), runs);
            assert_eq!(store.to_vec().unwrap(), sorted);
        }
    }

    #[test]
    fn records_pushed_in_order_read_back_run_by_run_and_one_out_of_order_merges() {
        // In key order with ties (equal keys in evidence order), then the same with one
        // finding moved to the end, which must turn the read back into a merge.
        let mut in_order = scrambled();
        in_order.sort_by(|a, b| key(a).cmp(&key(b)));
        let mut one_late = in_order.clone();
        let late = one_late.remove(3);
        one_late.push(late);
        for (input, sequential) in [(&in_order, true), (&one_late, false)] {
            let mut expected = input.clone();
            expected.sort_by(|a, b| key(a).cmp(&key(b)));
            for budget in [usize::MAX, 4096, 0] {
                let mut store = FindingStore::new(budget);
                for finding in input.iter().cloned() {
                    store.push(finding).unwrap();
                }
                assert_eq!(store.pushed_in_order, sequential, "budget {budget}");
                assert_eq!(store.to_vec().unwrap(), expected, "budget {budget}");
                // Pushed after a read, in order still: read back after the others.
                let mut after = finding("z-999", 1, 0, "after", "a.jsonl");
                store.push(after.clone()).unwrap();
                let all = store.to_vec().unwrap();
                assert_eq!(all.last(), Some(&after), "budget {budget}");
                after.conversation_id = "a-000".into();
                store.push(after.clone()).unwrap();
                assert!(!store.pushed_in_order);
                assert_eq!(store.to_vec().unwrap()[0], after, "budget {budget}");
            }
        }
    }

    /// Promises with every field set and unset, in a scrambled order with ties.
    fn promises() -> Vec<Promise> {
        let time = |text: &str| crate::transcript::parse_started_at(text).unwrap();
        (0..60u32)
            .map(|i| {
                let some = i % 2 == 0;
                Promise {
                    conversation_id: format!("c-{}", (i * 7) % 11),
                    agent_id: format!("agent «{i}»"),
                    customer_id: some.then(|| format!("cu-{i}")),
                    rule: i % 3,
                    turn: (i % 4) as usize,
                    at_ms: some.then_some(i64::from(i) * 1000 - 5),
                    made_at: some.then(|| time("2026-11-19T10:00:00.123456789+05:30")),
                    deadline: (i % 3 != 0).then(|| time("2026-11-20T17:00:00Z")),
                    time_words: (i % 3 == 0).then(|| "by Friday".to_string()),
                    evidence: format!("I will call you back — {i}"),
                    span: some.then_some((3, 9)),
                    source: Source {
                        file: Arc::from(["a.jsonl", "b d.jsonl"][(i % 2) as usize]),
                        line: u64::from(i) + 1,
                    },
                    state: [
                        PromiseState::Kept,
                        PromiseState::Broken,
                        PromiseState::Pending,
                        PromiseState::Unverifiable,
                    ][(i % 4) as usize],
                    kept_by: (i % 4 == 0)
                        .then(|| ("c-9".to_string(), time("2026-11-20T09:00:00-07:00"))),
                    carried: i % 5 == 0,
                }
            })
            .collect()
    }

    #[test]
    fn spilled_promises_come_back_whole_in_order() {
        let mut expected = promises();
        expected.sort_by(Promise::order);
        for budget in [usize::MAX, 0] {
            let mut store = Store::new(budget);
            for promise in promises() {
                store.push(promise).unwrap();
            }
            let back = store.to_vec().unwrap();
            assert_eq!(back, expected, "budget {budget}");
            let offsets = |p: &[Promise]| {
                p.iter()
                    .map(|p| p.made_at.as_ref().map(|t| t.offset()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(offsets(&back), offsets(&expected));
        }
    }

    #[test]
    fn pushes_after_a_read_are_sorted_in() {
        let mut store = FindingStore::new(2048);
        let mut all = scrambled();
        let later = all.split_off(150);
        for finding in all.iter().cloned() {
            store.push(finding).unwrap();
        }
        store.to_vec().unwrap();
        for finding in later.iter().cloned() {
            store.push(finding).unwrap();
        }
        all.extend(later);
        all.sort_by(|a, b| key(a).cmp(&key(b)));
        assert_eq!(store.to_vec().unwrap(), all);
    }

    #[test]
    fn counts_per_rule_and_stops_on_the_first_error() {
        let mut store = FindingStore::new(0);
        for finding in scrambled() {
            store.push(finding).unwrap();
        }
        assert_eq!(store.per_rule(), &[67, 67, 66]);
        let mut seen = 0;
        let result = store.visit(|_| {
            seen += 1;
            if seen == 10 {
                Err(io::Error::other("enough"))
            } else {
                Ok(())
            }
        });
        assert_eq!(result.unwrap_err().to_string(), "enough");
        assert_eq!(seen, 10);
    }
}

//! The findings of a run, kept for sorting: in memory up to a budget, on disk beyond it.
//!
//! Findings are written sorted by conversation id, then turn, then rule (SPEC), but they are
//! found in input order, and a large audit finds more of them than should stay in memory (a
//! generated 1 GiB export yields about 930,000, some 350 bytes each in memory). The store keeps
//! findings in memory until their estimated size passes its budget, then sorts them and writes
//! them to an unnamed temporary file as one sorted run (about 200 bytes a finding on disk).
//! Reading them back merges the runs, and what is still in memory, through a heap: an external
//! merge sort. Ties keep their input order, as one stable in-memory sort would: every run is
//! sorted stably, and on equal keys an earlier run comes first. So the order (and every output
//! byte) is the same whether the store spilled or not.
//!
//! Memory is the budget plus, while merging, one decoded finding and one read buffer per run.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::Arc;

use crate::model::Finding;
use crate::transcript::Source;

/// The default memory budget of a [`FindingStore`].
pub(crate) const DEFAULT_BUDGET_BYTES: usize = 8 << 20;

/// Read and write buffer of a run file.
const RUN_BUFFER_BYTES: usize = 64 << 10;

/// Findings in the run's order once `FindingStore::visit` reads them.
#[derive(Debug)]
pub struct FindingStore {
    budget_bytes: usize,
    /// Findings not yet spilled, in input order until the store is read.
    buffer: Vec<Finding>,
    /// What the buffered findings' strings take (their slots in `buffer` are counted apart).
    text_bytes: usize,
    /// Whether `buffer` is sorted (set by a read, cleared by a push).
    buffer_sorted: bool,
    runs: Vec<Run>,
    /// Source file names, written to runs by index.
    files: Vec<Arc<str>>,
    file_index: HashMap<Arc<str>, u32>,
    len: u64,
    per_rule: Vec<u64>,
}

/// One sorted run on disk.
#[derive(Debug)]
struct Run {
    file: File,
    count: u64,
}

impl Default for FindingStore {
    fn default() -> FindingStore {
        FindingStore::new(DEFAULT_BUDGET_BYTES)
    }
}

impl FindingStore {
    /// A store that spills once its findings take about `budget_bytes` of memory (0: spill
    /// every finding, for tests).
    pub(crate) fn new(budget_bytes: usize) -> FindingStore {
        FindingStore {
            budget_bytes,
            buffer: Vec::new(),
            text_bytes: 0,
            buffer_sorted: true,
            runs: Vec::new(),
            files: Vec::new(),
            file_index: HashMap::new(),
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

    /// How many sorted runs went to disk.
    pub fn spilled_runs(&self) -> usize {
        self.runs.len()
    }

    /// Adds a finding; spills when the budget is passed.
    pub(crate) fn push(&mut self, finding: Finding) -> io::Result<()> {
        let rule = finding.rule as usize;
        if self.per_rule.len() <= rule {
            self.per_rule.resize(rule + 1, 0);
        }
        self.per_rule[rule] += 1;
        self.len += 1;
        self.text_bytes += text_bytes(&finding);
        self.buffer.push(finding);
        self.buffer_sorted = false;
        let slots = self.buffer.capacity() * std::mem::size_of::<Finding>();
        if slots + self.text_bytes > self.budget_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the buffer and writes it to a new run file.
    fn spill(&mut self) -> io::Result<()> {
        sort(&mut self.buffer);
        let file = tempfile::tempfile()?;
        let mut writer = BufWriter::with_capacity(RUN_BUFFER_BYTES, file);
        let mut record = Vec::new();
        for finding in &self.buffer {
            record.clear();
            let file = match self.file_index.get(&finding.source.file) {
                Some(&index) => index,
                None => {
                    let index = u32::try_from(self.files.len())
                        .map_err(|_| io::Error::other("too many source files"))?;
                    self.files.push(finding.source.file.clone());
                    self.file_index.insert(finding.source.file.clone(), index);
                    index
                }
            };
            encode(finding, file, &mut record);
            writer.write_all(&record)?;
        }
        let file = writer
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        self.runs.push(Run {
            file,
            count: self.buffer.len() as u64,
        });
        // The next run is about as long: no doubling (and copying) of the buffer past it.
        self.buffer = Vec::with_capacity(self.buffer.len());
        self.text_bytes = 0;
        self.buffer_sorted = true;
        Ok(())
    }

    /// Hands `each` every finding (a copy: the store keeps its own) in the run's order:
    /// conversation id, then turn, then rule, ties in input order. Can be called again (each
    /// call reads the runs anew); the first error (of `each` or of reading a run) stops it.
    pub(crate) fn visit(
        &mut self,
        mut each: impl FnMut(Finding) -> io::Result<()>,
    ) -> io::Result<()> {
        if !self.buffer_sorted {
            sort(&mut self.buffer);
            self.buffer_sorted = true;
        }
        if self.runs.is_empty() {
            return self.buffer.iter().cloned().try_for_each(each);
        }
        let mut readers = Vec::with_capacity(self.runs.len());
        for run in &mut self.runs {
            run.file.seek(SeekFrom::Start(0))?;
            readers.push(RunReader {
                reader: BufReader::with_capacity(RUN_BUFFER_BYTES, &run.file),
                left: run.count,
            });
        }
        // Every source's next finding, smallest key (then earliest source) first; the buffer
        // is the last source: it holds the latest findings.
        let memory_source = readers.len();
        let mut memory = self.buffer.iter();
        let mut heap = BinaryHeap::with_capacity(readers.len() + 1);
        for (source, reader) in readers.iter_mut().enumerate() {
            if let Some(finding) = reader.next(&self.files)? {
                heap.push(Reverse(Head { finding, source }));
            }
        }
        if let Some(finding) = memory.next() {
            heap.push(Reverse(Head {
                finding: finding.clone(),
                source: memory_source,
            }));
        }
        while let Some(Reverse(head)) = heap.pop() {
            each(head.finding)?;
            let next = if head.source == memory_source {
                memory.next().cloned()
            } else {
                readers[head.source].next(&self.files)?
            };
            if let Some(finding) = next {
                heap.push(Reverse(Head {
                    finding,
                    source: head.source,
                }));
            }
        }
        Ok(())
    }

    /// Every finding, in the run's order, in memory: for tests and small runs.
    pub fn to_vec(&mut self) -> io::Result<Vec<Finding>> {
        let mut all = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        self.visit(|finding| {
            all.push(finding);
            Ok(())
        })?;
        Ok(all)
    }
}

/// The run's order; stable, so equal keys keep input order.
fn sort(findings: &mut [Finding]) {
    findings.sort_by(|a, b| key(a).cmp(&key(b)));
}

fn key(finding: &Finding) -> (&str, usize, u32) {
    (finding.conversation_id.as_str(), finding.turn, finding.rule)
}

/// The memory of a finding's three strings (with an allocator's overhead).
fn text_bytes(finding: &Finding) -> usize {
    finding.conversation_id.capacity()
        + finding.agent_id.capacity()
        + finding.evidence.capacity()
        + 3 * 16
}

/// The next finding of one source in a merge.
#[derive(Debug)]
struct Head {
    finding: Finding,
    source: usize,
}

impl Ord for Head {
    fn cmp(&self, other: &Head) -> Ordering {
        key(&self.finding)
            .cmp(&key(&other.finding))
            .then(self.source.cmp(&other.source))
    }
}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Head) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Head {
    fn eq(&self, other: &Head) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Head {}

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
    fn next(&mut self, files: &[Arc<str>]) -> io::Result<Option<Finding>> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let reader = &mut self.reader;
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
        Ok(Some(Finding {
            conversation_id,
            agent_id,
            rule,
            turn,
            at_ms,
            evidence,
            source: Source { file, line },
            span,
        }))
    }
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("spilled findings file is damaged: {what}"),
    )
}

fn read_array<const N: usize>(reader: &mut impl Read) -> io::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    reader.read_exact(&mut bytes)?;
    Ok(bytes)
}

fn read_usize(reader: &mut impl Read) -> io::Result<usize> {
    usize::try_from(u64::from_le_bytes(read_array(reader)?)).map_err(|_| corrupt("offset"))
}

fn read_text(reader: &mut impl Read) -> io::Result<String> {
    let length = read_usize(reader)?;
    let mut bytes = Vec::new();
    reader.take(length as u64).read_to_end(&mut bytes)?;
    if bytes.len() != length {
        return Err(corrupt("a text is cut short"));
    }
    String::from_utf8(bytes).map_err(|_| corrupt("a text is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(id: &str, turn: usize, rule: u32, evidence: &str, file: &str) -> Finding {
        Finding {
            conversation_id: id.into(),
            agent_id: format!("agent of {id}"),
            rule,
            turn,
            at_ms: (turn % 2 == 0).then_some(turn as i64 * 1000 - 7),
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

//! The id and first source of every audited conversation, kept once and compactly.
//!
//! The merge asks of every conversation whether its id was read before, and where (a
//! duplicate is skipped and named); the promise join names the conversation that kept a
//! promise. Both need every id of the run, so this is the part of the run's memory that grows
//! with the input. A conversation is its number in merge order; its id is a slice of one
//! shared string, its source a 32-bit line (and a file per run of conversations from one
//! file), and the lookup table holds numbers only. Per conversation that is the id's length
//! plus [`BYTES_PER_CONVERSATION`] (plus the spare room of a chunk and the table): about
//! 31 bytes for a 14-byte id, against about 110 for a map from a shared `Arc<str>` to a
//! `Source`.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use crate::chunked::Chunked;
use crate::transcript::Source;

/// Fixed bytes per conversation: the id's end (8) and line (4) in their vectors, and a number
/// (4) and control byte (1) in the table at a full load. The file is kept once per run of
/// conversations from one file, and a line past 2^32 − 2 apart.
pub const BYTES_PER_CONVERSATION: usize = 8 + 4 + 4 + 1;

/// Distinct strings numbered in the order they came, kept one after the other in one string
/// and found through a table of numbers: the id's bytes plus 8 + 4 + 1 bytes each.
#[derive(Debug, Default)]
pub struct StringNumbers {
    text: String,
    /// Where each string ends in `text` (in chunks, see [`Chunked`]).
    ends: Chunked<u64>,
    /// String numbers, found by their string's hash.
    table: HashTable<u32>,
    /// foldhash, randomly seeded: SipHash (std's) was 0.4% of a run's samples on the merge.
    hasher: hashbrown::DefaultHashBuilder,
}

/// A string's number, as [`StringNumbers::number`] gives it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Number {
    /// The string was added before, with this number.
    Found(u32),
    /// The string is new and now has this number.
    Added(u32),
}

impl Number {
    pub(crate) fn get(self) -> u32 {
        match self {
            Number::Found(number) | Number::Added(number) => number,
        }
    }
}

fn string_of<'t>(text: &'t str, ends: &Chunked<u64>, number: u32) -> &'t str {
    let number = number as usize;
    let start = if number == 0 { 0 } else { ends[number - 1] };
    &text[start as usize..ends[number] as usize]
}

impl StringNumbers {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The number of `text`, if it was added.
    pub(crate) fn find(&self, text: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(text);
        self.table
            .find(hash, |&n| string_of(&self.text, &self.ends, n) == text)
            .copied()
    }

    /// The number of `text`, added when new; `None` past 2^32 − 1 strings.
    pub(crate) fn find_or_add(&mut self, text: &str) -> Option<u32> {
        self.number(text).map(Number::get)
    }

    /// The number of `text`, saying whether this call added it: one hash and one probe of
    /// the table, where a [`StringNumbers::find`] before adding takes two. `None` past
    /// 2^32 − 1 strings.
    pub(crate) fn number(&mut self, text: &str) -> Option<Number> {
        let hash = self.hasher.hash_one(text);
        let (all, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        let entry = self.table.entry(
            hash,
            |&n| string_of(all, ends, n) == text,
            |&n| hasher.hash_one(string_of(all, ends, n)),
        );
        match entry {
            Entry::Occupied(found) => Some(Number::Found(*found.get())),
            Entry::Vacant(room) => {
                let number = u32::try_from(self.ends.len()).ok()?;
                self.text.push_str(text);
                self.ends.push(self.text.len() as u64);
                room.insert(number);
                Some(Number::Added(number))
            }
        }
    }

    /// String `number`.
    pub(crate) fn get(&self, number: u32) -> &str {
        string_of(&self.text, &self.ends, number)
    }
}

/// Every conversation read (audited) in the run, by number.
#[derive(Debug, Default)]
pub struct ConversationIds {
    ids: StringNumbers,
    /// Where each run of consecutive conversations from one file starts (the first one's
    /// number), and the file (an index into `file_names`).
    file_runs: Vec<(ConversationNumber, u32)>,
    /// Each conversation's line; [`LONG_LINE`] for a line kept in `long_lines`.
    lines: Chunked<u32>,
    long_lines: HashMap<ConversationNumber, u64>,
    file_names: Vec<Arc<str>>,
    file_numbers: HashMap<Arc<str>, u32>,
    /// The file of the last conversation added, and its number: consecutive conversations
    /// mostly come from one file, whose name the reader shares as one `Arc`, so comparing
    /// pointers finds it without hashing the name.
    last_file: Option<(Arc<str>, u32)>,
}

/// The mark in `ConversationIds::lines` of a line number too large for 32 bits.
const LONG_LINE: u32 = u32::MAX;

/// A conversation's number, in the order the merge read them.
pub(crate) type ConversationNumber = u32;

/// Why an id could not be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotAdded {
    /// The id was read before, here.
    Duplicate(Source),
    /// More conversations than a run numbers (2^32 − 1).
    TooMany,
}

impl ConversationIds {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Adds a conversation read at `source`; fails with the first one's source when the id
    /// was read before.
    pub(crate) fn add(
        &mut self,
        id: &str,
        source: &Source,
    ) -> Result<ConversationNumber, NotAdded> {
        let number = match self.ids.number(id).ok_or(NotAdded::TooMany)? {
            Number::Found(first) => return Err(NotAdded::Duplicate(self.source(first))),
            Number::Added(number) => number,
        };
        let file = self.file_number(&source.file)?;
        if self.file_runs.last().is_none_or(|&(_, last)| last != file) {
            self.file_runs.push((number, file));
        }
        match u32::try_from(source.line) {
            Ok(line) if line != LONG_LINE => self.lines.push(line),
            _ => {
                self.lines.push(LONG_LINE);
                self.long_lines.insert(number, source.line);
            }
        }
        Ok(number)
    }

    /// The number of `file`, given when it first comes.
    fn file_number(&mut self, file: &Arc<str>) -> Result<u32, NotAdded> {
        if let Some((last, number)) = &self.last_file
            && Arc::ptr_eq(last, file)
        {
            return Ok(*number);
        }
        let number = match self.file_numbers.get(file) {
            Some(&number) => number,
            None => {
                let number = u32::try_from(self.file_names.len()).map_err(|_| NotAdded::TooMany)?;
                self.file_names.push(file.clone());
                self.file_numbers.insert(file.clone(), number);
                number
            }
        };
        self.last_file = Some((file.clone(), number));
        Ok(number)
    }

    /// Whether a conversation with this id was added.
    pub(crate) fn contains(&self, id: &str) -> bool {
        self.ids.find(id).is_some()
    }

    /// The id of conversation `number`.
    pub(crate) fn id(&self, number: ConversationNumber) -> &str {
        self.ids.get(number)
    }

    /// Where conversation `number` was read.
    pub(crate) fn source(&self, number: ConversationNumber) -> Source {
        let run = self
            .file_runs
            .partition_point(|&(first, _)| first <= number)
            - 1;
        let line = match self.lines[number as usize] {
            LONG_LINE => self.long_lines[&number],
            line => u64::from(line),
        };
        Source {
            file: self.file_names[self.file_runs[run].1 as usize].clone(),
            line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(file: &str, line: u64) -> Source {
        Source {
            file: Arc::from(file),
            line,
        }
    }

    #[test]
    fn ids_are_numbered_in_order_and_duplicates_name_the_first() {
        let mut ids = ConversationIds::default();
        // id, where, what adding it gives
        let cases: [(&str, Source, Result<u32, NotAdded>); 6] = [
            ("c-1", at("a.jsonl", 1), Ok(0)),
            ("c-2", at("a.jsonl", 2), Ok(1)),
            ("", at("b.jsonl", 7), Ok(2)),
            (
                "c-1",
                at("b.jsonl", 9),
                Err(NotAdded::Duplicate(at("a.jsonl", 1))),
            ),
            ("ünï-c", at("b.jsonl", 10), Ok(3)),
            (
                "",
                at("c.jsonl", 1),
                Err(NotAdded::Duplicate(at("b.jsonl", 7))),
            ),
        ];
        for (id, source, expected) in cases {
            assert_eq!(ids.add(id, &source), expected, "{id:?}");
        }
        assert_eq!(ids.len(), 4);
        assert_eq!(
            (0..4).map(|n| ids.id(n)).collect::<Vec<_>>(),
            ["c-1", "c-2", "", "ünï-c"]
        );
        assert_eq!(ids.source(3), at("b.jsonl", 10));
        assert!(ids.contains("c-2") && ids.contains("") && !ids.contains("c-3"));
    }

    #[test]
    fn number_says_whether_it_added() {
        let mut strings = StringNumbers::default();
        // string, what numbering it gives
        let cases = [
            ("x", Number::Added(0)),
            ("y", Number::Added(1)),
            ("x", Number::Found(0)),
            ("", Number::Added(2)),
            ("y", Number::Found(1)),
            ("", Number::Found(2)),
        ];
        for (text, expected) in cases {
            assert_eq!(strings.number(text), Some(expected), "{text:?}");
        }
        assert_eq!(strings.len(), 3);
        assert_eq!(strings.find_or_add("z"), Some(3));
    }

    #[test]
    fn files_are_told_apart_by_name_not_by_pointer() {
        let mut ids = ConversationIds::default();
        let a = Arc::<str>::from("a.jsonl");
        let b = Arc::<str>::from("b.jsonl");
        // The same name in a second `Arc`: the same file.
        let a_again = Arc::<str>::from("a.jsonl");
        let files = [&a, &a, &b, &a, &a_again, &b];
        for (n, file) in files.iter().enumerate() {
            let source = Source {
                file: Arc::clone(file),
                line: n as u64 + 1,
            };
            assert_eq!(ids.add(&format!("c-{n}"), &source), Ok(n as u32));
        }
        for (n, file) in files.iter().enumerate() {
            assert_eq!(ids.source(n as u32), at(file, n as u64 + 1));
        }
        assert_eq!(ids.file_names.len(), 2);
    }

    #[test]
    fn lines_past_32_bits_are_kept_whole() {
        let mut ids = ConversationIds::default();
        let lines = [1, u64::from(u32::MAX) - 1, u64::from(u32::MAX), 1 << 40, 7];
        for (n, &line) in lines.iter().enumerate() {
            assert_eq!(ids.add(&format!("c-{n}"), &at("f", line)), Ok(n as u32));
        }
        for (n, &line) in lines.iter().enumerate() {
            assert_eq!(ids.source(n as u32), at("f", line));
        }
    }

    #[test]
    fn many_ids_survive_the_table_growing() {
        let mut ids = ConversationIds::default();
        for n in 0..50_000u32 {
            assert_eq!(
                ids.add(&format!("id-{n}"), &at("f", u64::from(n) + 1)),
                Ok(n)
            );
        }
        for n in (0..50_000u32).step_by(997) {
            assert_eq!(ids.id(n), format!("id-{n}"));
            assert_eq!(
                ids.add(&format!("id-{n}"), &at("g", 1)),
                Err(NotAdded::Duplicate(at("f", u64::from(n) + 1)))
            );
        }
    }
}

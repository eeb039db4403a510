//! The id and first source of every audited conversation, kept once and compactly.
//!
//! The merge asks of every conversation whether its id was read before, and where (a
//! duplicate is skipped and named); the promise join names the conversation that kept a
//! promise. Both need every id of the run, so this is the part of the run's memory that grows
//! with the input. A conversation is its number in merge order; its id is a slice of one
//! shared string, its source a 32-bit line (and a file per run of conversations from one
//! file), and the lookup table holds numbers only (and is not built while the ids come in
//! order). Per conversation that is the id's length
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
///
/// While every string comes after the one before in byte order (an export sorted by id, as
/// generated ids and many real exports are), the table is not built: a new string is told new
/// by one comparison with the last, and a string is found by binary search. The first string
/// that does not come after the last builds the table, which is kept from then on (so many
/// copies of earlier ids cost a probe each, not a search). The 4 GiB export stream of
/// `benches/compare.sh` (1.1 million ids in order) peaked at 152 MiB without the table, 161
/// with it; the run's time did not change.
#[derive(Debug)]
pub struct StringNumbers {
    text: String,
    /// Where each string ends in `text` (in chunks, see [`Chunked`]).
    ends: Chunked<u64>,
    /// String numbers, found by their string's hash; empty while `unindexed`.
    table: HashTable<u32>,
    /// Whether the table is not built yet: every string came after the one before it.
    unindexed: bool,
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

/// Appends `text` to the strings `all` ending at `ends`; its number, `None` past 2^32 − 1.
fn push(all: &mut String, ends: &mut Chunked<u64>, text: &str) -> Option<u32> {
    let number = u32::try_from(ends.len()).ok()?;
    all.push_str(text);
    ends.push(all.len() as u64);
    Some(number)
}

impl Default for StringNumbers {
    fn default() -> StringNumbers {
        StringNumbers {
            text: String::new(),
            ends: Chunked::default(),
            table: HashTable::new(),
            unindexed: true,
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }
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
        if self.unindexed {
            return self.search(text);
        }
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
        if self.unindexed {
            let last = self
                .ends
                .len()
                .checked_sub(1)
                .map(|last| self.get(last as u32));
            if last.is_none_or(|last| last < text) {
                return push(&mut self.text, &mut self.ends, text).map(Number::Added);
            }
            self.build_table();
        }
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
                let number = push(&mut self.text, &mut self.ends, text)?;
                room.insert(number);
                Some(Number::Added(number))
            }
        }
    }

    /// The number of `text` by binary search, while the strings are in order.
    fn search(&self, text: &str) -> Option<u32> {
        let (mut low, mut high) = (0, self.ends.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match self.get(middle as u32).cmp(text) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle as u32),
            }
        }
        None
    }

    /// Builds the table if the strings came in order so far: for many [`StringNumbers::find`]
    /// calls to come, each a probe, not a binary search.
    pub(crate) fn index(&mut self) {
        if self.unindexed {
            self.build_table();
        }
    }

    /// Puts every string so far in the table, which is used from then on.
    fn build_table(&mut self) {
        let (all, ends, hasher) = (&self.text, &self.ends, &self.hasher);
        self.table
            .reserve(ends.len(), |&n| hasher.hash_one(string_of(all, ends, n)));
        for number in 0..ends.len() as u32 {
            let hash = hasher.hash_one(string_of(all, ends, number));
            self.table
                .insert_unique(hash, number, |&n| hasher.hash_one(string_of(all, ends, n)));
        }
        self.unindexed = false;
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

    /// Ids in order are found by search until one out of order builds the table; every kind
    /// of step is checked against a plain map in both states.
    #[test]
    fn ids_in_order_need_no_table_until_one_is_out_of_order() {
        let mut ids = StringNumbers::default();
        let mut expected: HashMap<String, u32> = HashMap::new();
        let steps: Vec<String> = (0..2_000)
            .map(|n| format!("c-{n:06}"))
            // A copy of the last id, of an early one, new ones out of order and in order, a copy.
            .chain(["c-001999", "c-000017", "a-1", "c-999999", "b-2", "a-1"].map(String::from))
            .collect();
        for (step, id) in steps.iter().enumerate() {
            let was_unindexed = ids.unindexed;
            let next = expected.len() as u32;
            let want = match expected.get(id) {
                Some(&first) => Number::Found(first),
                None => {
                    expected.insert(id.clone(), next);
                    Number::Added(next)
                }
            };
            assert_eq!(ids.number(id), Some(want), "step {step}: {id}");
            // In order up to the first copy; the table from then on.
            assert_eq!(ids.unindexed, step < 2_000, "step {step}");
            assert!(was_unindexed || !ids.unindexed);
            for (probe, &number) in expected.iter().step_by(97) {
                assert_eq!(ids.find(probe), Some(number), "{probe} after step {step}");
                assert_eq!(ids.get(number), probe);
            }
            assert_eq!(ids.find("c-5"), None);
            assert_eq!(ids.find("zzz"), None);
        }
        // Indexed on demand (the judge's customers, before many finds).
        let mut in_order = StringNumbers::default();
        for n in 0..100 {
            in_order.find_or_add(&format!("{n:03}"));
        }
        assert!(in_order.unindexed);
        in_order.index();
        assert!(!in_order.unindexed);
        assert_eq!(in_order.find("042"), Some(42));
        assert_eq!(in_order.number("007"), Some(Number::Found(7)));
        assert_eq!(in_order.number("100"), Some(Number::Added(100)));
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

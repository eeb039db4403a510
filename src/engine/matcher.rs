//! The one automaton over every phrase of every rule, walked by hand.
//!
//! [`PhraseMatcher`] holds one Aho-Corasick automaton over the distinct normalized phrases of
//! the whole rule set: each turn is scanned once, whatever the number of rules, and every
//! (overlapping) hit is reported with the rules and roles that use its phrase. Patterns are
//! ` phrase ` over [`Normalized`] text (framed by spaces), so a hit is always on whole words and
//! needs no boundary check; an open anchor (`refund*`, from a stemmed pattern) is ` refund`,
//! starting at a word and ending inside one, and its candidate check reads the word to its end.

use super::normalize::Normalized;

/// One hit of a phrase in a normalized text: which phrase, and where (normalized byte
/// offsets of the first and one-past-the-last byte of the matched words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub phrase: u32,
    pub start: u32,
    pub end: u32,
}

/// Why a [`PhraseMatcher`] could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MatcherError {
    #[error("{states} states of {classes} byte classes do not fit in a table of 2^32 entries")]
    TooLarge { states: usize, classes: usize },
}

/// The automaton over every distinct normalized phrase: the Aho-Corasick DFA, as a transition
/// table of our own that is walked by hand.
///
/// The copy is smaller and ordered for the cache. Its alphabet is exactly the bytes the
/// patterns use plus one class for every other byte (33 classes for the default pack, where
/// aho-corasick's DFA rounds its rows up to 64), and its states are numbered breadth first from
/// the start, so the shallow states that nearly every step visits sit together: for the
/// default pack's 15,343 states, the first 1,024 take 89% of the steps on generated text.
/// Match states come first, so "is this a match" is one comparison.
///
/// A byte that no pattern uses leads from every state back to the start: placed between
/// texts, it lets [`PhraseMatcher::find_each_into`] walk many texts as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhraseMatcher {
    /// Each byte's class: 0 for the bytes no pattern uses, then one per byte that some do.
    classes: [u8; 256],
    /// Row after row, a state's next state for each class. A state is the index of its row's
    /// first entry (row number × class count), so a step is one addition and one load.
    next: Vec<u32>,
    start: u32,
    /// The match states are the rows before this one.
    match_limit: u32,
    /// The length of the longest pattern (with its framing spaces).
    longest_pattern: usize,
    class_count: u32,
    /// The hits of match row `r` are `matches[match_starts[r]..match_starts[r + 1]]`:
    /// (phrase, pattern length with its framing spaces, [`OPEN_BIT`] set for an open
    /// pattern), in the order aho-corasick's
    /// `find_overlapping_iter` gives them.
    match_starts: Vec<u32>,
    matches: Vec<(u32, u32)>,
}

/// Moves row `s` of `table` (rows of `width` entries) to row `place(s)`, in place, one cycle of
/// the permutation at a time, with two spare rows.
fn move_rows(table: &mut [u32], width: usize, place: impl Fn(usize) -> usize) {
    let rows = table.len() / width;
    let mut placed = vec![false; rows];
    let mut carried = vec![0u32; width];
    let mut picked = vec![0u32; width];
    for start in 0..rows {
        if placed[start] {
            continue;
        }
        placed[start] = true;
        // `carried` holds the row whose place is `to`.
        let mut to = place(start);
        if to == start {
            continue;
        }
        carried.copy_from_slice(&table[start * width..][..width]);
        while to != start {
            let slot = &mut table[to * width..][..width];
            picked.copy_from_slice(slot);
            slot.copy_from_slice(&carried);
            std::mem::swap(&mut carried, &mut picked);
            placed[to] = true;
            to = place(to);
        }
        table[start * width..][..width].copy_from_slice(&carried);
    }
}

/// The mark at the end of an open anchor: a phrase that ends inside a word.
pub const OPEN: char = '*';

/// In a match's pattern length, the bit that says the pattern is open.
const OPEN_BIT: u32 = 1 << 31;

/// The number of stretches of text [`PhraseMatcher::find_each_into`] walks in lock-step.
const LANES: usize = 3;

/// A byte no pattern holds (it is not UTF-8): placed between texts walked as one, it sends
/// the walk back to the start, as a new text would.
const TEXT_SEPARATOR: u8 = 0xFF;

/// Scratch space of [`PhraseMatcher::find_each_into`], kept by its caller between calls.
#[derive(Debug, Default)]
pub struct ScanBuffer {
    /// The texts, each followed by [`TEXT_SEPARATOR`].
    joined: Vec<u8>,
    /// Where each text starts in `joined`.
    starts: Vec<usize>,
    /// Per lane, the (offset in `joined`, match state) of each match the walk reached.
    lane_matches: [Vec<(usize, u32)>; LANES],
}

/// The patterns the automaton is built from: each phrase between spaces, so that it matches
/// whole words; a phrase ending in `*` is an open anchor (the prefix of a word), with no space
/// after it.
fn framed(phrases: &[String]) -> Vec<String> {
    phrases
        .iter()
        .map(|p| match p.strip_suffix(OPEN) {
            Some(prefix) => format!(" {prefix}"),
            None => format!(" {p} "),
        })
        .collect()
}

/// The number of states of the trie of `patterns`: the start, and one per distinct non-empty
/// prefix (in sorted order, what a pattern shares with the one before it is already counted).
fn trie_size(patterns: &[String]) -> usize {
    let mut sorted: Vec<&[u8]> = patterns.iter().map(|p| p.as_bytes()).collect();
    sorted.sort_unstable();
    let mut states = 1;
    let mut previous: &[u8] = &[];
    for pattern in sorted {
        let shared = pattern
            .iter()
            .zip(previous)
            .take_while(|(a, b)| a == b)
            .count();
        states += pattern.len() - shared;
        previous = pattern;
    }
    states
}

impl PhraseMatcher {
    /// Builds the automaton; `phrases` are already normalized, distinct and non-empty, and a
    /// hit's `phrase` is the index into this slice.
    ///
    /// The textbook Aho-Corasick construction, straight into the table: a trie of the framed
    /// patterns with a dense row per state, then, breadth first, each state's failure state (the
    /// longest proper suffix of its string that is in the trie) and its row, a child where it
    /// has one and its failure state's row elsewhere. It gives the table aho-corasick's
    /// noncontiguous NFA gave when asked for every transition (a test compares the two), in a
    /// fifth of the time: asking followed failure links for every state and class, 40 of the
    /// 55 ms a run of the default pack spent before reading its first line.
    pub(crate) fn new(phrases: &[String]) -> Result<PhraseMatcher, MatcherError> {
        let patterns = framed(phrases);
        let mut used = [false; 256];
        for pattern in &patterns {
            for &byte in pattern.as_bytes() {
                used[byte as usize] = true;
            }
        }
        let mut classes = [0u8; 256];
        // Class 0 is every byte no pattern holds (TEXT_SEPARATOR among them).
        let mut class_count = 1;
        for byte in 0..=255u8 {
            if used[byte as usize] {
                // At most 255 used bytes (never TEXT_SEPARATOR), so the class fits in a u8.
                classes[byte as usize] = class_count as u8;
                class_count += 1;
            }
        }
        let too_large = |states: usize| MatcherError::TooLarge {
            states,
            classes: class_count,
        };

        // The trie: state 0 is the start; `table[s * class_count + c]` is the child of `s`
        // by class `c`, 0 for none (the start is nobody's child). `ends[s]`: the patterns
        // that end at `s`, in the order they were given.
        // The table is allocated once, at its size: a table grown as states come would hold
        // up to twice its size (the rows are most of the memory the rule set takes).
        let state_count = trie_size(&patterns);
        let entries = state_count
            .checked_mul(class_count)
            .filter(|&n| n <= u32::MAX as usize)
            .ok_or_else(|| too_large(state_count))?;
        let mut table = vec![0u32; entries];
        let mut ends: Vec<Vec<u32>> = vec![Vec::new(); state_count];
        let mut states_made = 1;
        for (index, pattern) in patterns.iter().enumerate() {
            let mut state = 0usize;
            for &byte in pattern.as_bytes() {
                let slot = state * class_count + classes[byte as usize] as usize;
                if table[slot] == 0 {
                    table[slot] = states_made as u32;
                    states_made += 1;
                }
                state = table[slot] as usize;
            }
            ends[state].push(index as u32);
        }
        debug_assert_eq!(states_made, state_count);

        // Breadth first from the start, children in class order: `order` is the states in
        // the order they are reached. A state's failure state is shallower, so its row is
        // complete before it is needed, and the trie's rows become the automaton's in place.
        let mut order = Vec::with_capacity(state_count);
        order.push(0u32);
        let mut fail = vec![0u32; state_count];
        // As each state is reached, its failure state's patterns are added to `ends[s]`: then
        // it holds every pattern that ends where `s` does (its own first), the hits of
        // aho-corasick's `find_overlapping_iter` in its order.
        let mut visited = 0;
        while visited < order.len() {
            let state = order[visited] as usize;
            visited += 1;
            let failure = fail[state] as usize;
            for class in 0..class_count {
                let child = table[state * class_count + class];
                // From the start, no child leads back to the start.
                let fallback = if state == 0 {
                    0
                } else {
                    table[failure * class_count + class]
                };
                if child == 0 {
                    table[state * class_count + class] = fallback;
                } else {
                    let child = child as usize;
                    fail[child] = fallback;
                    // The failure state is shallower: its list is already whole.
                    let inherited = ends[fallback as usize].clone();
                    ends[child].extend(inherited);
                    order.push(child as u32);
                }
            }
        }

        // Rows: match states first, each group breadth first.
        let (mut rows, other): (Vec<u32>, Vec<u32>) = order
            .into_iter()
            .partition(|&state| !ends[state as usize].is_empty());
        let match_rows = rows.len();
        rows.extend(other);
        let mut row_of = vec![0u32; state_count];
        for (row, &state) in rows.iter().enumerate() {
            row_of[state as usize] = (row * class_count) as u32;
        }
        // The table becomes the automaton in place, so that the rule set never holds two
        // copies of it (the rows are most of its memory: two copies made the start-up peak,
        // and the allocator kept the freed one through the run). First every target state
        // becomes its row's offset, then the rows move to their places, one cycle of the
        // permutation at a time.
        for target in table.iter_mut() {
            *target = row_of[*target as usize];
        }
        move_rows(&mut table, class_count, |state| {
            row_of[state] as usize / class_count
        });
        let next = table;
        let mut match_starts = Vec::with_capacity(match_rows + 1);
        match_starts.push(0);
        let mut matches = Vec::new();
        for &state in &rows[..match_rows] {
            for &pattern in &ends[state as usize] {
                let text = &patterns[pattern as usize];
                let open = phrases[pattern as usize].ends_with(OPEN);
                let length = text.len() as u32 | if open { OPEN_BIT } else { 0 };
                matches.push((pattern, length));
            }
            match_starts.push(matches.len() as u32);
        }
        Ok(PhraseMatcher {
            classes,
            next,
            start: row_of[0],
            match_limit: (match_rows * class_count) as u32,
            longest_pattern: patterns.iter().map(String::len).max().unwrap_or(0),
            class_count: class_count as u32,
            match_starts,
            matches,
        })
    }

    /// The state after `state` reads `byte`.
    #[inline(always)]
    fn step(&self, state: u32, byte: u8) -> u32 {
        self.next[(state + u32::from(self.classes[byte as usize])) as usize]
    }

    /// Appends the hits of match state `state`, reached by the byte before `end`.
    #[inline]
    fn push_hits(&self, state: u32, end: usize, hits: &mut Vec<Hit>) {
        let row = (state / self.class_count) as usize;
        let matches =
            &self.matches[self.match_starts[row] as usize..self.match_starts[row + 1] as usize];
        for &(phrase, length) in matches {
            // A closed pattern's hit leaves out its framing space at the end; an open one has none.
            let closed = 1 - (length >> 31);
            let length = length & !OPEN_BIT;
            hits.push(Hit {
                phrase,
                start: (end - length as usize) as u32 + 1,
                end: end as u32 - closed,
            });
        }
    }

    /// Walks `text` from byte `at` in `state` to its end, calling `report(state, offset)`
    /// for each match state reached, with the offset of the byte that reached it.
    #[inline]
    fn walk(&self, text: &[u8], at: usize, mut state: u32, mut report: impl FnMut(u32, usize)) {
        for (offset, &byte) in text[at..].iter().enumerate() {
            state = self.step(state, byte);
            if state < self.match_limit {
                report(state, at + offset);
            }
        }
    }

    /// Appends every hit in `text` (a [`Normalized::text`]) to `hits`: the hits of
    /// aho-corasick's `find_overlapping_iter`, in its order.
    pub fn find_into(&self, text: &str, hits: &mut Vec<Hit>) {
        self.walk(text.as_bytes(), 0, self.start, |state, at| {
            self.push_hits(state, at + 1, hits);
        });
    }

    /// Clears `hits[i]` and fills it with the hits of `texts[i]` (as [`Self::find_into`]), for
    /// each text; `hits` is at least as long as `texts`.
    ///
    /// The texts are copied one after the other into `buffer`, a byte no pattern holds after
    /// each, and that one text is cut into `LANES` (3) stretches walked in lock-step: one walk
    /// is a chain of dependent loads, and interleaving independent walks lets the processor
    /// overlap them.
    ///
    /// Measured on the texts of a 64 MiB generated file (2,041 phrases; best of 3, busy
    /// 2-core machine): the DFA walked turn by turn in lock-step, refilling a lane as its turn
    /// ended, ran at 170–200 MB/s; the same walk over one long text at 300–380 MB/s; this
    /// table over one long text at 440 MB/s. A single lane over this table: 220–250 MB/s.
    /// The bench `match_conversations` times this function.
    pub fn find_each_into(
        &self,
        texts: &[Normalized],
        hits: &mut [Vec<Hit>],
        buffer: &mut ScanBuffer,
    ) {
        let hits = &mut hits[..texts.len()];
        for list in hits.iter_mut() {
            list.clear();
        }
        let ScanBuffer {
            joined,
            starts,
            lane_matches,
        } = buffer;
        joined.clear();
        starts.clear();
        for text in texts {
            starts.push(joined.len());
            joined.extend_from_slice(text.text.as_bytes());
            joined.push(TEXT_SEPARATOR);
        }
        let joined: &[u8] = joined;
        // Stretch `l` is `cuts[l]..cuts[l + 1]`; its walk starts `warm_up` bytes earlier, at
        // `from[l]`, where the state is not known: a state stands for a suffix of the text
        // read no longer than the longest pattern, so after that many bytes it is the state
        // a walk from the very start would have. Matches are kept from the stretch's start
        // only (those before are the previous stretch's). The cuts make every walk the same
        // length, so no lane is left to finish alone.
        let warm_up = self.longest_pattern;
        let length = (joined.len() + (LANES - 1) * warm_up).div_ceil(LANES);
        let mut cuts = [0; LANES + 1];
        let mut from = [0; LANES];
        for lane in 1..=LANES {
            let cut = (lane * length).saturating_sub((lane - 1) * warm_up);
            cuts[lane] = cut.clamp(cuts[lane - 1], joined.len());
        }
        cuts[LANES] = joined.len();
        for lane in 1..LANES {
            from[lane] = cuts[lane].saturating_sub(warm_up);
        }
        for matches in lane_matches.iter_mut() {
            matches.clear();
        }
        let steps = (0..LANES).map(|l| cuts[l + 1] - from[l]).min().unwrap_or(0);
        let mut states = [self.start; LANES];
        let walks: [&[u8]; LANES] = std::array::from_fn(|lane| &joined[from[lane]..][..steps]);
        for step in 0..steps {
            for (state, walk) in states.iter_mut().zip(walks) {
                *state = self.step(*state, walk[step]);
            }
            for (lane, &state) in states.iter().enumerate() {
                if state < self.match_limit && from[lane] + step >= cuts[lane] {
                    lane_matches[lane].push((from[lane] + step, state));
                }
            }
        }
        for (lane, &state) in states.iter().enumerate() {
            let stretch = &joined[..cuts[lane + 1]];
            self.walk(stretch, from[lane] + steps, state, |state, at| {
                if at >= cuts[lane] {
                    lane_matches[lane].push((at, state));
                }
            });
        }
        // The stretches follow each other, so their matches, lane after lane, are in the
        // order of the text. A match ends in the text it started in: the separator between
        // texts matches nothing.
        let mut text = 0;
        for &(at, state) in lane_matches.iter().flatten() {
            while starts.get(text + 1).is_some_and(|&next| next <= at) {
                text += 1;
            }
            self.push_hits(state, at + 1 - starts[text], &mut hits[text]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::normalize::{normalize, normalize_into};
    use aho_corasick::MatchKind;

    /// Rows moved in place land where the permutation says, whatever its cycles: none, one
    /// swap, one long cycle, two cycles.
    #[test]
    fn rows_move_in_place_to_their_places() {
        let cases: [&[usize]; 5] = [&[], &[0, 1, 2], &[1, 0, 2], &[1, 2, 3, 0], &[2, 3, 0, 1]];
        for places in cases {
            let width = 3;
            let mut table: Vec<u32> = (0..places.len() * width).map(|n| n as u32).collect();
            let original = table.clone();
            move_rows(&mut table, width, |row| places[row]);
            for (row, &place) in places.iter().enumerate() {
                assert_eq!(
                    table[place * width..][..width],
                    original[row * width..][..width],
                    "{places:?}"
                );
            }
        }
    }

    /// The hits `find_overlapping_iter` gives with the options the matcher had before it
    /// walked its DFA by hand: the hand walks must give exactly these, in this order.
    fn reference_hits(phrases: &[String], text: &str) -> Vec<Hit> {
        let patterns = framed(phrases);
        let automaton = aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .unwrap();
        automaton
            .find_overlapping_iter(text)
            .map(|m| Hit {
                phrase: m.pattern().as_u32(),
                start: m.start() as u32 + 1,
                end: m.end() as u32 - 1,
            })
            .collect()
    }

    /// The matcher as it was built before it built its own trie: aho-corasick's noncontiguous
    /// NFA asked for every transition, breadth first from the start, match states first.
    fn reference_matcher(phrases: &[String]) -> PhraseMatcher {
        use aho_corasick::Anchored;
        use aho_corasick::automaton::{Automaton, StateID};
        use aho_corasick::nfa::noncontiguous::NFA;
        let patterns = framed(phrases);
        let nfa = NFA::builder()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&patterns)
            .unwrap();
        let mut used = [false; 256];
        for pattern in &patterns {
            for &byte in pattern.as_bytes() {
                used[byte as usize] = true;
            }
        }
        let mut classes = [0u8; 256];
        let mut class_bytes = vec![TEXT_SEPARATOR];
        for byte in 0..=255u8 {
            if used[byte as usize] {
                classes[byte as usize] = class_bytes.len() as u8;
                class_bytes.push(byte);
            }
        }
        let start = nfa.start_state(Anchored::No).unwrap();
        let mut seen = std::collections::HashSet::from([start]);
        let mut order = vec![start];
        let mut visited = 0;
        while visited < order.len() {
            let state = order[visited];
            visited += 1;
            for &byte in &class_bytes {
                let next = nfa.next_state(Anchored::No, state, byte);
                if seen.insert(next) {
                    order.push(next);
                }
            }
        }
        let (mut rows, other): (Vec<StateID>, Vec<StateID>) =
            order.into_iter().partition(|&state| nfa.is_match(state));
        let match_rows = rows.len();
        rows.extend(other);
        let class_count = class_bytes.len();
        let row_of: std::collections::HashMap<StateID, u32> = rows
            .iter()
            .enumerate()
            .map(|(row, &state)| (state, (row * class_count) as u32))
            .collect();
        let mut next = Vec::new();
        let mut match_starts = vec![0];
        let mut matches = Vec::new();
        for (row, &state) in rows.iter().enumerate() {
            for &byte in &class_bytes {
                next.push(row_of[&nfa.next_state(Anchored::No, state, byte)]);
            }
            if row < match_rows {
                for index in 0..nfa.match_len(state) {
                    let pattern = nfa.match_pattern(state, index);
                    let open = phrases[pattern.as_usize()].ends_with(OPEN);
                    let length = nfa.pattern_len(pattern) as u32 | if open { OPEN_BIT } else { 0 };
                    matches.push((pattern.as_u32(), length));
                }
                match_starts.push(matches.len() as u32);
            }
        }
        PhraseMatcher {
            classes,
            next,
            start: row_of[&start],
            match_limit: (match_rows * class_count) as u32,
            longest_pattern: patterns.iter().map(String::len).max().unwrap_or(0),
            class_count: class_count as u32,
            match_starts,
            matches,
        }
    }

    #[test]
    fn the_table_is_the_one_aho_corasicks_automaton_gives() {
        let pack = crate::rules::RuleSet::default_pack().unwrap().phrases;
        let sets: [&[&str]; 4] = [
            &["a"],
            &[
                "a",
                "a a",
                "a a a",
                "so sorry",
                "sorry",
                "i am so sorry",
                "am so",
            ],
            &[
                "refund*",
                "refund",
                "full refund*",
                "re",
                "fund",
                "ünïcödé",
                "नमस्ते जी",
            ],
            &["she", "he", "hers", "his", "s h e", "h"],
        ];
        let sets = sets
            .iter()
            .map(|set| set.iter().map(|p| p.to_string()).collect::<Vec<String>>())
            .chain([pack]);
        for phrases in sets {
            let ours = PhraseMatcher::new(&phrases).unwrap();
            let reference = reference_matcher(&phrases);
            assert_eq!(ours, reference, "{:?}", &phrases[..phrases.len().min(7)]);
        }
    }

    #[test]
    fn hand_walks_give_the_hits_of_find_overlapping_iter() {
        let words = [
            "a",
            "am",
            "so",
            "sorry",
            "i",
            "ünïcödé",
            "नमस्ते",
            "जी",
            "x",
            "",
            "calm",
            "down",
        ];
        let phrases: Vec<String> = [
            "a",
            "a a",
            "a a a",
            "sorry",
            "so sorry",
            "i am so sorry",
            "am so",
            "ünïcödé",
            "नमस्ते जी",
            "जी",
            "calm down",
            "down",
        ]
        .iter()
        .map(|p| p.to_string())
        .collect();
        let matcher = PhraseMatcher::new(&phrases).unwrap();
        let mut texts: Vec<String> = [
            "",
            " ",
            "a",
            " a ",
            "a ",
            " a a a a a ",
            " i am so sorry ",
            "i am so sorry",
            "  so  sorry  ",
            " ünïcödé strasse ",
            " नमस्ते जी जी ",
            " calm down down ",
            " é ",
            "\u{0}\u{ff} a ",
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        // And pseudo-random texts of those words, of 0 to 40 words, framed or not.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..300 {
            let count = (next() % 41) as usize;
            let text: Vec<&str> = (0..count)
                .map(|_| words[(next() % words.len() as u64) as usize])
                .collect();
            let text = text.join(" ");
            texts.push(if next() % 4 == 0 {
                text
            } else {
                format!(" {text} ")
            });
        }
        let expected: Vec<Vec<Hit>> = texts.iter().map(|t| reference_hits(&phrases, t)).collect();
        assert!(expected.iter().filter(|hits| hits.len() > 1).count() > 100);
        let junk = Hit {
            phrase: 99,
            start: 0,
            end: 0,
        };
        for (text, expected) in texts.iter().zip(&expected) {
            let mut hits = vec![junk];
            matcher.find_into(text, &mut hits);
            assert_eq!(&hits[1..], expected.as_slice(), "{text:?}");
        }
        // Every number of texts around the lane count, and every window of the list (so that
        // each text starts in each lane, beside texts of every length).
        let normalized: Vec<Normalized> = texts
            .iter()
            .map(|text| Normalized {
                text: text.clone(),
                origin: Vec::new(),
            })
            .collect();
        let mut hits: Vec<Vec<Hit>> = vec![vec![junk]; texts.len() + 1];
        let mut buffer = ScanBuffer::default();
        for count in 0..=2 * LANES + 1 {
            for from in 0..=texts.len() - count {
                matcher.find_each_into(&normalized[from..from + count], &mut hits, &mut buffer);
                assert_eq!(
                    &hits[..count],
                    &expected[from..from + count],
                    "{from}+{count}"
                );
            }
        }
        matcher.find_each_into(&normalized, &mut hits, &mut buffer);
        assert_eq!(&hits[..texts.len()], expected.as_slice());
    }

    #[test]
    fn open_anchors_end_inside_a_word() {
        let phrases: Vec<String> = ["refund*", "refund", "full refund*"]
            .iter()
            .map(|p| p.to_string())
            .collect();
        let matcher = PhraseMatcher::new(&phrases).unwrap();
        let cases: [(&str, &[(u32, &str)]); 4] = [
            (" refunds ", &[(0, "refund")]),
            (" refund ", &[(0, "refund"), (1, "refund")]),
            (" a full refunding ", &[(0, "refund"), (2, "full refund")]),
            (" prefund ", &[]),
        ];
        for (text, expected) in cases {
            let mut hits = Vec::new();
            matcher.find_into(text, &mut hits);
            let mut found: Vec<(u32, &str)> = hits
                .iter()
                .map(|h| (h.phrase, &text[h.start as usize..h.end as usize]))
                .collect();
            found.sort();
            assert_eq!(found, expected, "{text}");
        }
    }

    #[test]
    fn hits_are_whole_words_and_map_back() {
        let phrases: Vec<String> = ["sorry", "so sorry", "calm down", "ok"]
            .iter()
            .map(|p| normalize(p))
            .collect();
        let matcher = PhraseMatcher::new(&phrases).unwrap();
        let cases: [(&str, &[&str]); 5] = [
            ("I'm SO sorry!!", &["so sorry", "sorry"]),
            ("sorrys are cheap", &[]),
            ("Please, calm   down.", &["calm down"]),
            ("token broken", &[]),
            ("ok", &["ok"]),
        ];
        for (text, expected) in cases {
            let mut normalized = Normalized::default();
            normalize_into(text, &mut normalized);
            let mut hits = Vec::new();
            matcher.find_into(&normalized.text, &mut hits);
            let mut found: Vec<&str> = hits
                .iter()
                .map(|h| phrases[h.phrase as usize].as_str())
                .collect();
            found.sort();
            let mut expected = expected.to_vec();
            expected.sort();
            assert_eq!(found, expected, "{text}");
            for hit in &hits {
                let (from, to) = normalized.original_range(hit.start as usize, hit.end as usize);
                assert_eq!(
                    normalize(&text[from..to]),
                    phrases[hit.phrase as usize],
                    "{text}"
                );
            }
        }
    }
}

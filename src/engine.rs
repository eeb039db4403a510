//! Text normalization and the one automaton over every phrase of every rule.
//!
//! Phrases and transcript text go through the same [`normalize_into`]: case folded,
//! apostrophes (straight or curly) deleted so "I’M SORRY!", "i'm sorry" and "im sorry" are one
//! phrase, every other punctuation mark or symbol a space, runs of space collapsed, letters and
//! digits of any script kept. The normalized text is framed by one space on each side and every
//! pattern is ` phrase `, so a hit is always on whole words and needs no boundary check.
//!
//! [`PhraseMatcher`] holds one Aho-Corasick automaton over the distinct normalized phrases of
//! the whole rule set: each turn is scanned once, whatever the number of rules, and every
//! (overlapping) hit is reported with the rules and roles that use its phrase.

use std::sync::OnceLock;

use aho_corasick::automaton::{Automaton, StateID};
use aho_corasick::dfa::DFA;
use aho_corasick::{Anchored, MatchKind, StartKind};

/// True for the characters that are deleted, not turned into a space.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{FF07}')
}

/// Combining marks are part of the letter before them (a decomposed "é", Indic vowel signs).
fn is_combining_mark(c: char) -> bool {
    matches!(c,
        '\u{0300}'..='\u{036F}'
        | '\u{0483}'..='\u{0489}'
        | '\u{0591}'..='\u{05C7}'
        | '\u{0610}'..='\u{061A}'
        | '\u{064B}'..='\u{065F}'
        | '\u{0900}'..='\u{0903}'
        | '\u{093A}'..='\u{094F}'
        | '\u{1AB0}'..='\u{1AFF}'
        | '\u{1DC0}'..='\u{1DFF}'
        | '\u{20D0}'..='\u{20FF}'
        | '\u{FE20}'..='\u{FE2F}')
}

/// A normalized text and, for each of its bytes, the byte offset in the original text it came
/// from, so that hits can be shown in the words the speaker used.
#[derive(Debug, Default, Clone)]
pub struct Normalized {
    /// ` word word word ` (framed by single spaces; just ` ` when no word is left).
    pub text: String,
    /// `origin[i]` is the original byte offset of normalized byte `i`; one extra entry at the
    /// end holds the original length.
    pub origin: Vec<u32>,
}

impl Normalized {
    /// Whether any word is left after normalization.
    pub fn has_words(&self) -> bool {
        self.text.len() > 1
    }

    /// The number of words.
    pub fn word_count(&self) -> usize {
        // ` w1 w2 … wn `: one space more than words (the text holds no other white space).
        self.text
            .bytes()
            .filter(|&b| b == b' ')
            .count()
            .saturating_sub(1)
    }

    /// The original byte range of normalized range `start..end` (both on word edges).
    pub fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let from = self.origin[start] as usize;
        // The byte before `end` is the last byte of the last word; the original range ends
        // where the next normalized byte (a space) came from.
        let to = self.origin[end] as usize;
        (from, to.max(from))
    }
}

/// What an ASCII byte is to normalization.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AsciiClass {
    /// Punctuation, symbols, spaces and controls: a word break.
    Break,
    /// A letter or digit: kept (lower-cased).
    Word,
    /// `'`: deleted.
    Apostrophe,
    /// `[` or `<`: maybe the start of a recognizer mark, else a break.
    MarkOpen,
}

const ASCII_CLASS: [AsciiClass; 128] = {
    let mut table = [AsciiClass::Break; 128];
    let mut b = 0;
    while b < 128 {
        let byte = b as u8;
        table[b] = if byte.is_ascii_alphanumeric() {
            AsciiClass::Word
        } else if byte == b'\'' {
            AsciiClass::Apostrophe
        } else if byte == b'[' || byte == b'<' {
            AsciiClass::MarkOpen
        } else {
            AsciiClass::Break
        };
        b += 1;
    }
    table
};

/// [`char::is_alphanumeric`] for the Basic Multilingual Plane, as bits, a page of 256
/// characters at a time, filled on first use: the standard library's lookup costs hundreds of
/// instructions a character for scripts such as Devanagari or CJK.
static BMP_WORD_CHARS: [OnceLock<[u64; 4]>; 256] = [const { OnceLock::new() }; 256];

/// Bytes that are ASCII letters or digits (a lookup is cheaper than the two range tests).
const ASCII_WORD_BYTE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

/// Whether a non-ASCII character is a letter or digit (the same answer as
/// [`char::is_alphanumeric`]).
fn is_word_char(c: char) -> bool {
    let code = c as u32;
    if code > 0xFFFF {
        return c.is_alphanumeric();
    }
    let page = BMP_WORD_CHARS[(code >> 8) as usize].get_or_init(|| {
        let mut bits = [0u64; 4];
        for low in 0..256u32 {
            if char::from_u32((code & !0xFF) | low).is_some_and(char::is_alphanumeric) {
                bits[(low / 64) as usize] |= 1 << (low % 64);
            }
        }
        bits
    });
    let low = code & 0xFF;
    (page[(low / 64) as usize] >> (low % 64)) & 1 == 1
}

/// CJK Unified Ideographs: letters (3 bytes in UTF-8) with no case, the commonest non-Latin
/// letters in the exports callqa reads; answered without the Unicode tables.
fn is_caseless_ideograph(c: char) -> bool {
    matches!(c, '\u{4E00}'..='\u{9FFF}')
}

/// Normalizes `source` into `out`, reusing its buffers, with the origin of every byte.
pub fn normalize_into(source: &str, out: &mut Normalized) {
    normalize_impl::<true>(source, &mut out.text, &mut out.origin);
}

/// Normalizes `source` into `out.text` only, leaving `out.origin` empty: the same text as
/// [`normalize_into`] without the cost of the origins, for the many turns whose hits never
/// need to be shown. [`Normalized::original_range`] must not be called on the result.
pub fn normalize_text_into(source: &str, out: &mut Normalized) {
    normalize_impl::<false>(source, &mut out.text, &mut out.origin);
    out.origin.clear();
}

fn push_space<const ORIGIN: bool>(text: &mut Vec<u8>, origin: &mut Vec<u32>, offset: u32) {
    text.push(b' ');
    if ORIGIN {
        origin.push(offset);
    }
}

/// Appends `c` encoded as UTF-8, with its origin for every byte.
fn push_char<const ORIGIN: bool>(text: &mut Vec<u8>, origin: &mut Vec<u32>, c: char, offset: u32) {
    let mut buf = [0u8; 4];
    let encoded = c.encode_utf8(&mut buf).as_bytes();
    text.extend_from_slice(encoded);
    if ORIGIN {
        origin.extend(std::iter::repeat_n(offset, encoded.len()));
    }
}

/// The high bit of every byte of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Sets the high bit of each byte of `x` that is in `lo..=hi` (both below 0x80); bytes of 0x80
/// and above get no bit.
const fn bytes_in_range(x: u64, lo: u8, hi: u8) -> u64 {
    let ones = u64::from_le_bytes([1; 8]);
    let low7 = x & !HIGH_BITS;
    // Per byte, `low7 + 128 - lo` reaches 128 exactly when `low7 >= lo`, and no sum carries
    // into the next byte (each stays below 256).
    let at_least_lo = low7 + (128 - lo as u64) * ones;
    let above_hi = low7 + (127 - hi as u64) * ones;
    at_least_lo & !above_hi & !x & HIGH_BITS
}

/// Appends, lower-cased, the run of ASCII letters and digits that starts at `bytes[start]`
/// (itself one) and returns where it ends. Eight bytes are classified and lower-cased at a
/// time in a `u64`; all eight are appended and the bytes past the run cut off again.
fn push_ascii_word(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    let mut index = start;
    while let Some(chunk) = bytes.get(index..index + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        let upper = bytes_in_range(x, b'A', b'Z');
        let word_bytes = upper | bytes_in_range(x, b'a', b'z') | bytes_in_range(x, b'0', b'9');
        // An upper-case letter's high bit, shifted to 0x20, lower-cases it.
        out.extend_from_slice(&(x | upper >> 2).to_le_bytes());
        if word_bytes == HIGH_BITS {
            index += 8;
            continue;
        }
        let len = ((!word_bytes & HIGH_BITS).trailing_zeros() / 8) as usize;
        out.truncate(out.len() - 8 + len);
        return index + len;
    }
    while let Some(&b) = bytes.get(index) {
        if !ASCII_WORD_BYTE[b as usize] {
            break;
        }
        out.push(b.to_ascii_lowercase());
        index += 1;
    }
    index
}

/// The one normalization. ASCII runs of letters and digits, the bulk of most transcripts, are
/// found and copied lower-cased a run at a time; other characters go one by one. With `ORIGIN`
/// false, `origin` is not touched.
///
/// The text is written as bytes into the `String`'s own buffer (taken, so nothing is
/// allocated) and checked as UTF-8 once at the end; ASCII words go eight bytes at a time
/// ([`push_ascii_word`]). Against `push_str` and `make_ascii_lowercase` per word, callgrind on
/// the 10 MB corpus of `gen_corpus --bytes 10M --seed 7` (`audit -j1`): `normalize_text_into`
/// 241.7 M instructions before, 198.9 M after, of which the final UTF-8 check is about 17 M.
fn normalize_impl<const ORIGIN: bool>(source: &str, text: &mut String, origin: &mut Vec<u32>) {
    let mut out = std::mem::take(text).into_bytes();
    out.clear();
    out.reserve(source.len() + 2);
    out.push(b' ');
    if ORIGIN {
        origin.clear();
        origin.reserve(source.len() + 3);
        origin.push(0);
    }
    let bytes = source.as_bytes();
    let mut last_was_space = true;
    let mut index = 0usize;
    while index < bytes.len() {
        let b = bytes[index];
        let offset = index as u32;
        if b.is_ascii() {
            match ASCII_CLASS[b as usize] {
                AsciiClass::Word => {
                    let run_end = push_ascii_word(bytes, index, &mut out);
                    if ORIGIN {
                        origin.extend(offset..run_end as u32);
                    }
                    last_was_space = false;
                    index = run_end;
                    continue;
                }
                AsciiClass::Apostrophe => {}
                AsciiClass::MarkOpen if let Some(len) = non_speech_mark_len(&source[index..]) => {
                    // `[noise]`, `<unk>`: a recognizer's mark, not a word anybody said.
                    if !last_was_space {
                        push_space::<ORIGIN>(&mut out, origin, offset);
                        last_was_space = true;
                    }
                    index += len;
                    continue;
                }
                AsciiClass::MarkOpen | AsciiClass::Break => {
                    if !last_was_space {
                        push_space::<ORIGIN>(&mut out, origin, offset);
                        last_was_space = true;
                    }
                }
            }
            index += 1;
            continue;
        }
        let Some(c) = source[index..].chars().next() else {
            break;
        };
        index += c.len_utf8();
        if is_apostrophe(c) {
            // deleted
        } else if is_caseless_ideograph(c) {
            push_char::<ORIGIN>(&mut out, origin, c, offset);
            last_was_space = false;
        } else if is_word_char(c) || (is_combining_mark(c) && !last_was_space) {
            for lower in c.to_lowercase() {
                push_char::<ORIGIN>(&mut out, origin, lower, offset);
            }
            last_was_space = false;
        } else if !last_was_space {
            push_space::<ORIGIN>(&mut out, origin, offset);
            last_was_space = true;
        }
    }
    if !last_was_space {
        push_space::<ORIGIN>(&mut out, origin, source.len() as u32);
    }
    if ORIGIN {
        origin.push(source.len() as u32);
    }
    // Only ASCII bytes and whole encoded characters were written.
    *text = String::from_utf8(out).expect("normalization writes UTF-8");
}

/// The byte length of a non-speech mark at the start of `text`: `[word]` or `<word>` with only
/// letters, spaces, `-` or `_` inside (`[noise]`, `[music]`, `<unk>`, `[laughs]`), else `None`.
fn non_speech_mark_len(text: &str) -> Option<usize> {
    let close = match text.as_bytes().first()? {
        b'[' => b']',
        b'<' => b'>',
        _ => return None,
    };
    let inner_end = text.as_bytes()[1..]
        .iter()
        .take(32)
        .position(|&b| b == close)?
        + 1;
    let inner = &text.as_bytes()[1..inner_end];
    let is_mark = !inner.is_empty()
        && inner.iter().any(u8::is_ascii_alphabetic)
        && inner
            .iter()
            .all(|&b| b.is_ascii_alphabetic() || matches!(b, b' ' | b'-' | b'_'));
    is_mark.then_some(inner_end + 1)
}

/// Normalizes a phrase or a text to its bare form (no framing spaces).
pub fn normalize(text: &str) -> String {
    let mut out = Normalized::default();
    normalize_into(text, &mut out);
    out.text.trim().to_string()
}

/// One hit of a phrase in a normalized text: which phrase, and where (normalized byte
/// offsets of the first and one-past-the-last byte of the matched words).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub phrase: u32,
    pub start: u32,
    pub end: u32,
}

/// The automaton over every distinct normalized phrase.
#[derive(Debug, Clone)]
pub struct PhraseMatcher {
    dfa: DFA,
}

/// The number of turns [`PhraseMatcher::find_each_into`] walks through the DFA in lock-step.
const LANES: usize = 3;

/// One text being walked: its index, the next byte to read and the DFA state so far.
#[derive(Clone, Copy)]
struct Lane {
    text: usize,
    at: usize,
    state: StateID,
}

impl PhraseMatcher {
    /// Builds the automaton; `phrases` are already normalized, distinct and non-empty, and a
    /// hit's `phrase` is the index into this slice.
    pub fn new(phrases: &[String]) -> Result<PhraseMatcher, aho_corasick::BuildError> {
        let patterns: Vec<String> = phrases.iter().map(|p| format!(" {p} ")).collect();
        // The DFA kind: the rule set is small (hundreds to a few thousand phrases), and the
        // DFA scans several times faster than the default NFA for an overlapping search.
        // No prefilter: every pattern starts with a space, so the prefilter would be a memchr
        // for the space that ends every word, a call per word for nothing.
        // The DFA itself (not `AhoCorasick`), so that texts can be walked through it by hand.
        let dfa = DFA::builder()
            .match_kind(MatchKind::Standard)
            .start_kind(StartKind::Unanchored)
            .prefilter(false)
            .build(&patterns)?;
        Ok(PhraseMatcher { dfa })
    }

    /// The start state of every walk.
    fn start(&self) -> StateID {
        // Infallible: the DFA is built for unanchored searches.
        self.dfa
            .start_state(Anchored::No)
            .expect("the DFA supports unanchored searches")
    }

    /// Appends the hits that end at byte `at` of a text, reached in `state` (a special state:
    /// a match state, or a start or the dead state, which hold no match; the dead state is
    /// unreachable in an unanchored standard search, and would only lead to itself).
    #[inline]
    fn report(&self, state: StateID, at: usize, hits: &mut Vec<Hit>) {
        if self.dfa.is_match(state) {
            let end = at + 1;
            for index in 0..self.dfa.match_len(state) {
                let pattern = self.dfa.match_pattern(state, index);
                let start = end - self.dfa.pattern_len(pattern);
                hits.push(Hit {
                    phrase: pattern.as_u32(),
                    start: start as u32 + 1,
                    end: end as u32 - 1,
                });
            }
        }
    }

    /// Walks `text` from byte `at` in `state` to its end, appending its hits.
    fn walk(&self, text: &[u8], at: usize, mut state: StateID, hits: &mut Vec<Hit>) {
        for (offset, &byte) in text[at..].iter().enumerate() {
            state = self.dfa.next_state(Anchored::No, state, byte);
            if self.dfa.is_special(state) {
                self.report(state, at + offset, hits);
            }
        }
    }

    /// Appends every hit in `text` (a [`Normalized::text`]) to `hits`: the hits of
    /// `find_overlapping_iter`, in its order.
    pub fn find_into(&self, text: &str, hits: &mut Vec<Hit>) {
        self.walk(text.as_bytes(), 0, self.start(), hits);
    }

    /// Clears `hits[i]` and fills it with the hits of `texts[i]` (as [`Self::find_into`]), for
    /// each text; `hits` is at least as long as `texts`.
    ///
    /// The texts are walked through the DFA `LANES` (3) at a time in lock-step: one walk is a
    /// chain of dependent loads in a table of megabytes, and interleaving independent walks
    /// lets the processor overlap their cache misses; a lane whose text ends takes the next
    /// text, and the last ones are finished alone.
    ///
    /// Measured against `find_overlapping_iter` turn by turn (`audit -q -j1`, 2-core shared
    /// machine): on the 10 MB `gen_corpus --seed 7` corpus, callgrind counts 84.1 M
    /// instructions in the scan instead of 132.0 M (the iterator keeps its state in memory
    /// and re-checks it per byte), 1,544 M for the program instead of 1,594 M; on the 1 GiB
    /// `corpus/single`, wall time medians of 3 alternated runs 18.9 s instead of 21.2 s.
    pub fn find_each_into(&self, texts: &[Normalized], hits: &mut [Vec<Hit>]) {
        let hits = &mut hits[..texts.len()];
        for list in hits.iter_mut() {
            list.clear();
        }
        let start = self.start();
        if texts.len() < LANES {
            for (text, list) in texts.iter().zip(hits.iter_mut()) {
                self.walk(text.text.as_bytes(), 0, start, list);
            }
            return;
        }
        let mut lanes: [Lane; LANES] = std::array::from_fn(|text| Lane {
            text,
            at: 0,
            state: start,
        });
        let mut next = LANES;
        'lockstep: loop {
            // Refill the lanes whose text is done; stop when there is no text left for one.
            for lane in &mut lanes {
                while lane.at == texts[lane.text].text.len() {
                    if next == texts.len() {
                        break 'lockstep;
                    }
                    *lane = Lane {
                        text: next,
                        at: 0,
                        state: start,
                    };
                    next += 1;
                }
            }
            let steps = lanes
                .iter()
                .map(|lane| texts[lane.text].text.len() - lane.at)
                .min()
                .unwrap_or(0);
            let bytes: [&[u8]; LANES] = std::array::from_fn(|l| {
                let lane = &lanes[l];
                &texts[lane.text].text.as_bytes()[lane.at..lane.at + steps]
            });
            for step in 0..steps {
                for (lane, bytes) in lanes.iter_mut().zip(bytes) {
                    lane.state = self.dfa.next_state(Anchored::No, lane.state, bytes[step]);
                }
                for lane in &mut lanes {
                    if self.dfa.is_special(lane.state) {
                        self.report(lane.state, lane.at + step, &mut hits[lane.text]);
                    }
                }
            }
            for lane in &mut lanes {
                lane.at += steps;
            }
        }
        for lane in lanes {
            self.walk(
                texts[lane.text].text.as_bytes(),
                lane.at,
                lane.state,
                &mut hits[lane.text],
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization_table() {
        let cases = [
            ("I’M SORRY!", "im sorry"),
            ("i'm sorry", "im sorry"),
            ("im   sorry", "im sorry"),
            ("you‘re  welcome…", "youre welcome"),
            (
                "@sprintcare y’all lie about your “great” connection.",
                "sprintcare yall lie about your great connection",
            ),
            ("follow-up", "follow up"),
            ("Ünïcödé STRASSE", "ünïcödé strasse"),
            ("[noise]", ""),
            ("<unk>", ""),
            ("okay [noise] bye<unk>", "okay bye"),
            ("[4.68.74.21] and [T]", "4 68 74 21 and"),
            ("a [not closed", "a not closed"),
            ("...", ""),
            ("", ""),
            ("2-3 business days", "2 3 business days"),
            ("e\u{0301}tude", "e\u{0301}tude"),
            ("ok 👍 thanks", "ok thanks"),
            ("नमस्ते जी", "नमस्ते जी"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalize(input), expected, "{input:?}");
        }
    }

    /// The first, character-at-a-time normalization: the fast one must agree with it byte for
    /// byte, origins included.
    fn reference_normalize_into(source: &str, out: &mut Normalized) {
        out.text.clear();
        out.origin.clear();
        out.text.push(' ');
        out.origin.push(0);
        let mut last_was_space = true;
        let mut skip_to = 0usize;
        for (index, c) in source.char_indices() {
            if index < skip_to {
                continue;
            }
            let offset = index as u32;
            if (c == '[' || c == '<')
                && let Some(len) = non_speech_mark_len(&source[index..])
            {
                // `[noise]`, `<unk>`: a recognizer's mark, not a word anybody said.
                skip_to = index + len;
                if !last_was_space {
                    out.text.push(' ');
                    out.origin.push(offset);
                    last_was_space = true;
                }
                continue;
            }
            if c.is_ascii() {
                let b = c as u8;
                if b.is_ascii_alphanumeric() {
                    out.text.push(b.to_ascii_lowercase() as char);
                    out.origin.push(offset);
                    last_was_space = false;
                } else if b == b'\'' {
                    // deleted
                } else if !last_was_space {
                    out.text.push(' ');
                    out.origin.push(offset);
                    last_was_space = true;
                }
            } else if is_apostrophe(c) {
                // deleted
            } else if c.is_alphanumeric() || (is_combining_mark(c) && !last_was_space) {
                for lower in c.to_lowercase() {
                    let before = out.text.len();
                    out.text.push(lower);
                    for _ in before..out.text.len() {
                        out.origin.push(offset);
                    }
                }
                last_was_space = false;
            } else if !last_was_space {
                out.text.push(' ');
                out.origin.push(offset);
                last_was_space = true;
            }
        }
        if !last_was_space {
            out.text.push(' ');
            out.origin.push(source.len() as u32);
        }
        out.origin.push(source.len() as u32);
    }

    #[test]
    fn fast_normalization_agrees_with_the_reference() {
        let pieces = PIECES;
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut normalized = Normalized::default();
        for _ in 0..20_000 {
            let mut text = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut pick = state;
            for _ in 0..(state % 9) {
                text.push_str(pieces[(pick % pieces.len() as u64) as usize]);
                pick /= pieces.len() as u64;
                if pick == 0 {
                    pick = state.rotate_left(17);
                }
            }
            assert_agrees_with_the_reference(&text);
            normalize_into(&text, &mut normalized);
            assert_eq!(
                normalized.word_count(),
                normalized.text.split_ascii_whitespace().count(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn word_chars_are_the_alphanumerics() {
        for c in ('\u{80}'..='\u{FFFF}').chain(['\u{1F44D}', '\u{10000}', '\u{20000}']) {
            assert_eq!(
                is_word_char(c),
                c.is_alphanumeric(),
                "{c:?} U+{:04X}",
                c as u32
            );
        }
        for c in '\u{4E00}'..='\u{9FFF}' {
            assert!(c.is_alphanumeric(), "U+{:04X}", c as u32);
            assert_eq!(c.to_lowercase().collect::<String>(), c.to_string());
            assert_eq!(c.len_utf8(), 3);
        }
    }

    #[test]
    fn byte_ranges_are_found_eight_at_a_time() {
        for b in 0..=255u8 {
            for position in 0..8 {
                let mut chunk = [b'-'; 8];
                chunk[position] = b;
                let x = u64::from_le_bytes(chunk);
                for (lo, hi) in [(b'A', b'Z'), (b'a', b'z'), (b'0', b'9')] {
                    let mask = bytes_in_range(x, lo, hi).to_le_bytes();
                    for (i, &byte) in chunk.iter().enumerate() {
                        assert_eq!(mask[i] == 0x80, (lo..=hi).contains(&byte), "{b} at {i}");
                        assert!(mask[i] == 0 || mask[i] == 0x80);
                    }
                }
            }
        }
        let mut out = Vec::new();
        let text = b"HelloWorld42x, and ABCDEFGHIJKLMNOPQ";
        assert_eq!(push_ascii_word(text, 0, &mut out), 13);
        assert_eq!(out, b"helloworld42x");
        out.clear();
        assert_eq!(push_ascii_word(text, 19, &mut out), text.len());
        assert_eq!(out, b"abcdefghijklmnopq");
    }

    /// Normalizes `text` both ways and checks them against the reference, origins included.
    fn assert_agrees_with_the_reference(text: &str) {
        let mut fast = Normalized::default();
        let mut reference = Normalized::default();
        normalize_into(text, &mut fast);
        reference_normalize_into(text, &mut reference);
        assert_eq!(fast.text, reference.text, "{text:?}");
        assert_eq!(fast.origin, reference.origin, "{text:?}");
        normalize_text_into(text, &mut fast);
        assert_eq!(fast.text, reference.text, "{text:?}");
        assert!(fast.origin.is_empty());
    }

    /// Runs that end at or across the eight-byte chunks of the scan, and every kind of
    /// character that ends a run, at each place in a chunk.
    #[test]
    fn normalization_at_chunk_edges() {
        let cases = [
            ("abcdefg", " abcdefg "),
            ("abcdefgh", " abcdefgh "),
            ("abcdefghi", " abcdefghi "),
            ("ABCDEFGHIJKLMNOP", " abcdefghijklmnop "),
            ("ABCDEFGHIJKLMNOPQ", " abcdefghijklmnopq "),
            ("abcdefg  h", " abcdefg h "),
            ("abcdefgh  i", " abcdefgh i "),
            ("abcdefg, h", " abcdefg h "),
            ("abcdefgh, i", " abcdefgh i "),
            ("abcdefg'h", " abcdefgh "),
            ("abcdefgh'i", " abcdefghi "),
            ("abcdefg’h", " abcdefgh "),
            ("abcdefg é", " abcdefg é "),
            ("abcdefgÉtude", " abcdefgétude "),
            ("abcdefgh[noise]ijk", " abcdefgh ijk "),
            ("abcdefg<unk> hij", " abcdefg hij "),
            ("abcdefg[a b", " abcdefg a b "),
            ("  lead and trail  ", " lead and trail "),
            ("\t\ttabs\nand\r\nnewlines\t", " tabs and newlines "),
            ("TWO  SPACES  TWICE", " two spaces twice "),
            ("x ’y’ z", " x y z "),
            ("it' s", " it s "),
            ("it 's", " it s "),
            ("ÀÉÎÕÜ àéîõü", " àéîõü àéîõü "),
            ("STRAßE ΣΑΣ", " straße σασ "),
            ("İstanbul", " i\u{307}stanbul "),
            ("e\u{301}tude \u{301}x", " e\u{301}tude x "),
            ("我的订单 #151420 还没有到。", " 我的订单 151420 还没有到 "),
            ("नमस्ते जी", " नमस्ते जी "),
            ("ok 👍 thanks 🙏", " ok thanks "),
            ("“quoted” €5", " quoted 5 "),
            ("$935.33, please", " 935 33 please "),
            ("[noise] [music] <unk>", " "),
            ("", " "),
        ];
        for (input, expected) in cases {
            let mut normalized = Normalized::default();
            normalize_into(input, &mut normalized);
            assert_eq!(normalized.text, expected, "{input:?}");
            assert_agrees_with_the_reference(input);
            // The same text shifted across the chunk edges.
            for shift in 1..8 {
                let padded = format!("{}{input}", "a".repeat(shift));
                assert_agrees_with_the_reference(&padded);
                assert_agrees_with_the_reference(&format!("{padded} "));
            }
        }
    }

    /// Pieces of text that mix everything normalization treats apart.
    const PIECES: &[&str] = &[
        "Hello",
        "WORLD",
        "it's",
        "it’s",
        "I’M",
        "’",
        "'",
        "‘",
        "\u{2BC}",
        "\u{FF07}",
        " ",
        "  ",
        "   ",
        "\t",
        "\n",
        "\r\n",
        ",",
        ".",
        "...",
        "—",
        "-",
        "?!",
        "[noise]",
        "<unk>",
        "[laughs]",
        "[a b",
        "[4.6]",
        "[",
        "<",
        "]",
        ">",
        "é",
        "É",
        "e\u{301}",
        "\u{301}",
        "ß",
        "ẞ",
        "İ",
        "Σ",
        "ς",
        "ΣΑΣ",
        "Straße",
        "Ǆ",
        "ǅ",
        "Ⅻ",
        "½",
        "٣",
        "नमस्ते",
        "जी",
        "।",
        "我的订单",
        "还没有到。",
        "\u{4E00}",
        "\u{9FFF}",
        "\u{A000}",
        "👍",
        "🙏",
        "𝐀",
        "×",
        "“",
        "”",
        "…",
        "€",
        "\u{A0}",
        "x2",
        "42",
        "$935.33",
        "#151420",
        "mm-hmm",
        "DM us",
        "abcdefgh",
        "ABCDEFGHIJ",
        "a",
        "Z",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]

        #[test]
        fn normalization_agrees_with_the_reference_on_mixed_pieces(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            assert_agrees_with_the_reference(&pieces.concat());
        }

        #[test]
        fn normalization_agrees_with_the_reference_on_any_text(text in ".{0,64}") {
            assert_agrees_with_the_reference(&text);
        }
    }

    #[test]
    fn normalization_is_idempotent_and_framed() {
        for input in ["Hello, World!", "  a  ", "", "’’", "x--y"] {
            let once = normalize(input);
            assert_eq!(normalize(&once), once);
            let mut framed = Normalized::default();
            normalize_into(input, &mut framed);
            assert!(framed.text.starts_with(' ') && framed.text.ends_with(' '));
            assert_eq!(framed.origin.len(), framed.text.len() + 1);
        }
    }

    /// The hits `find_overlapping_iter` gives with the options the matcher had before it
    /// walked its DFA by hand: the hand walks must give exactly these, in this order.
    fn reference_hits(phrases: &[String], text: &str) -> Vec<Hit> {
        let patterns: Vec<String> = phrases.iter().map(|p| format!(" {p} ")).collect();
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
        for count in 0..=2 * LANES + 1 {
            for from in 0..=texts.len() - count {
                matcher.find_each_into(&normalized[from..from + count], &mut hits);
                assert_eq!(
                    &hits[..count],
                    &expected[from..from + count],
                    "{from}+{count}"
                );
            }
        }
        matcher.find_each_into(&normalized, &mut hits);
        assert_eq!(&hits[..texts.len()], expected.as_slice());
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

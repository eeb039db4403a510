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

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

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
        self.text.split_ascii_whitespace().count()
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

/// Normalizes `source` into `out`, reusing its buffers.
pub fn normalize_into(source: &str, out: &mut Normalized) {
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
    automaton: AhoCorasick,
}

impl PhraseMatcher {
    /// Builds the automaton; `phrases` are already normalized, distinct and non-empty, and a
    /// hit's `phrase` is the index into this slice.
    pub fn new(phrases: &[String]) -> Result<PhraseMatcher, aho_corasick::BuildError> {
        let patterns: Vec<String> = phrases.iter().map(|p| format!(" {p} ")).collect();
        // The DFA kind: the rule set is small (hundreds to a few thousand phrases), and the
        // DFA scans several times faster than the default NFA for an overlapping search.
        let automaton = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::DFA))
            .match_kind(MatchKind::Standard)
            .build(&patterns)?;
        Ok(PhraseMatcher { automaton })
    }

    /// Appends every hit in `text` (a [`Normalized::text`]) to `hits`.
    pub fn find_into(&self, text: &str, hits: &mut Vec<Hit>) {
        for m in self.automaton.find_overlapping_iter(text) {
            hits.push(Hit {
                phrase: m.pattern().as_u32(),
                start: m.start() as u32 + 1,
                end: m.end() as u32 - 1,
            });
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

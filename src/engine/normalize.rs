//! Text normalization: the one form phrases and transcript text are compared in.
//!
//! Phrases and transcript text go through the same [`normalize_into`]: case folded (full
//! Unicode case folding, so "STRASSE" and "straße" are one word, and so are "ΟΔΌΣ" and
//! "οδός") and canonically composed (a decomposed "cafe" + U+0301 is "café"), apostrophes
//! (straight or curly) deleted so "I’M SORRY!", "i'm sorry" and "im sorry" are one
//! phrase, every other punctuation mark or symbol a space, runs of space collapsed, letters and
//! digits of any script kept. The normalized text is framed by one space on each side, so a
//! pattern ` phrase ` can only hit whole words; [`Normalized::original_range`] maps a hit back
//! to the words the speaker used.

use std::sync::OnceLock;

use caseless::Caseless;
use unicode_normalization::char::{canonical_combining_class, is_combining_mark};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// True for the characters that are deleted, not turned into a space.
fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '\u{FF07}')
}

/// Whether `c` may join the character before it under canonical composition: a combining
/// mark, or a character such as a Hangul vowel that composes with the one before it (not
/// `NFC_Quick_Check=Yes` with combining class 0).
fn joins_previous(c: char) -> bool {
    canonical_combining_class(c) != 0 || is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes
}

/// The one form of a run of characters that compose with one another (a letter and the
/// marks after it): canonically decomposed, fully case folded, then canonically composed;
/// each character of it is given to `push`.
fn fold_segment(chars: impl Iterator<Item = char>, push: impl FnMut(char)) {
    chars.nfd().default_case_fold().nfc().for_each(push);
}

/// Where the segment that starts at `source[from..]` with a character already taken ends:
/// after the letters and marks that join the character before them.
fn segment_end(source: &str, mut from: usize) -> usize {
    for c in source[from..].chars() {
        if c.is_ascii() || !joins_previous(c) || !(c.is_alphanumeric() || is_combining_mark(c)) {
            break;
        }
        from += c.len_utf8();
    }
    from
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
    pub(crate) fn has_words(&self) -> bool {
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

    /// Whether the text has fewer than `count` words: [`Self::word_count`] `< count`, reading
    /// only as far as the first `count` words (the interruption check asks it of every timed
    /// turn, most of them long).
    pub(crate) fn has_fewer_words_than(&self, count: usize) -> bool {
        let spaces = self
            .text
            .bytes()
            .filter(|&b| b == b' ')
            .take(count + 1)
            .count();
        spaces.saturating_sub(1) < count
    }

    /// The original byte range of normalized range `start..end` (both on word edges).
    pub(crate) fn original_range(&self, start: usize, end: usize) -> (usize, usize) {
        let from = self.origin[start] as usize;
        // The byte before `end` is the last byte of the last word; the original range ends
        // where the next normalized byte (a space) came from.
        let to = self.origin[end] as usize;
        (from, to.max(from))
    }
}

/// What normalization needs to know of a non-ASCII character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct CharInfo {
    /// A letter or digit ([`char::is_alphanumeric`]).
    word: bool,
    /// It is its own folded and composed form and joins no character before it (lower-case
    /// letters, letters without case, most marks), so that it can be copied as it is.
    kept: bool,
}

impl CharInfo {
    /// What the tables of the Unicode crates say of `c`.
    fn of(c: char) -> CharInfo {
        let mut folded = [None; 2];
        let mut count = 0;
        fold_segment(std::iter::once(c), |f| {
            if count < 2 {
                folded[count] = Some(f);
            }
            count += 1;
        });
        CharInfo {
            word: c.is_alphanumeric(),
            kept: count == 1 && folded[0] == Some(c) && !joins_previous(c),
        }
    }
}

/// [`CharInfo`] for the Basic Multilingual Plane, as bits, a page of 256 characters at a time
/// (`word` in the first four words, `kept` in the last four), filled on first use:
/// the lookups cost hundreds of instructions a character for scripts such as Devanagari or
/// CJK.
static BMP_CHARS: [OnceLock<[u64; 8]>; 256] = [const { OnceLock::new() }; 256];

/// What normalization needs to know of `c` (the answers of [`CharInfo::of`]).
fn char_info(c: char) -> CharInfo {
    let code = c as u32;
    if code > 0xFFFF {
        // Rare (emoji, historic scripts): asked of the tables each time.
        return CharInfo::of(c);
    }
    let page = BMP_CHARS[(code >> 8) as usize].get_or_init(|| {
        let mut bits = [0u64; 8];
        for low in 0..256u32 {
            let Some(c) = char::from_u32((code & !0xFF) | low) else {
                continue;
            };
            let bit = 1 << (low % 64);
            let info = CharInfo::of(c);
            if info.word {
                bits[(low / 64) as usize] |= bit;
            }
            if info.kept {
                bits[4 + (low / 64) as usize] |= bit;
            }
        }
        bits
    });
    let low = code & 0xFF;
    let bit = |word: usize| (page[word + (low / 64) as usize] >> (low % 64)) & 1 == 1;
    CharInfo {
        word: bit(0),
        kept: bit(4),
    }
}

/// Normalizes `source` into `out`, reusing its buffers, with the origin of every byte.
pub fn normalize_into(source: &str, out: &mut Normalized) {
    normalize_impl::<true>(source, &mut out.text, &mut out.origin);
}

/// Normalizes `source` into `out.text` only, leaving `out.origin` empty: the same text as
/// [`normalize_into`] without the cost of the origins, for the many turns whose hits never
/// need to be shown. `Normalized::original_range` must not be called on the result.
pub fn normalize_text_into(source: &str, out: &mut Normalized) {
    normalize_impl::<false>(source, &mut out.text, &mut out.origin);
    out.origin.clear();
}

/// The bytes [`scan`] reads at a time.
const CHUNK: usize = 8;

/// The high bit of every byte of a `u64`.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// `byte` in every byte of a `u64`.
const fn splat(byte: u8) -> u64 {
    byte as u64 * 0x0101_0101_0101_0101
}

/// For the eight bytes of `x` (little-endian), the high bit of each byte that is not an ASCII
/// letter, digit or space (0x20), and the high bit of each byte whose low seven bits are a
/// space: 0x20, and 0xA0, which is not kept (a space matters only among kept bytes).
const fn not_kept_and_spaces(x: u64) -> (u64, u64) {
    // Per byte, with the high bit cleared, `b + (0x80 - lo)` reaches 0x80 exactly when
    // `b >= lo`, and `b + (0x7F - hi)` exactly when `b > hi`; no sum carries into the next
    // byte. Bytes of 0x80 and above are not kept, whatever their low bits.
    let low7 = x & !HIGH_BITS;
    let folded = low7 | splat(0x20); // 'A'..='Z' onto 'a'..='z'
    let letters = (folded + splat(0x80 - b'a')) & !(folded + splat(0x7F - b'z'));
    let digits = (low7 + splat(0x80 - b'0')) & !(low7 + splat(0x7F - b'9'));
    // `(b ^ 0x20) + 0x7F` reaches 0x80 unless `b` is 0x20.
    let spaces = !((low7 ^ splat(b' ')) + !HIGH_BITS) & HIGH_BITS;
    let not_kept = (!(letters | digits | spaces) | x) & HIGH_BITS;
    (not_kept, spaces)
}

/// Where the run of bytes kept as they are that starts at `bytes[at]` ends: the index of the
/// first byte from `at` that is not an ASCII letter, digit or single space (a space is not
/// single after a space, nor first when `space`), or `bytes.len()`, and whether the byte
/// before that index is a space (`space` for an empty run). Eight bytes at a time.
#[inline(always)]
fn scan(bytes: &[u8], mut at: usize, space: bool) -> (usize, bool) {
    // The high bit of the byte before `at`'s, when that is a space.
    let mut carry = (space as u64) << 7;
    let mut chunks = bytes[at..].chunks_exact(CHUNK);
    for chunk in &mut chunks {
        let chunk: [u8; CHUNK] = chunk.try_into().expect("a whole chunk");
        let (not_kept, spaces) = not_kept_and_spaces(u64::from_le_bytes(chunk));
        // A space after a space stops the run too; a byte of 0xA0 is not kept, so that its
        // bit in `spaces` can only make a later byte stop.
        let stops = not_kept | (spaces & ((spaces << 8) | carry));
        if stops != 0 {
            let kept_len = (stops.trailing_zeros() / 8) as usize;
            if kept_len > 0 {
                carry = (spaces >> (8 * kept_len - 8)) & 0x80;
            }
            return (at + kept_len, carry != 0);
        }
        carry = spaces >> 56;
        at += CHUNK;
    }
    for &b in chunks.remainder() {
        let is_space = b == b' ';
        if !(b.is_ascii_alphanumeric() || is_space) || (is_space && carry != 0) {
            break;
        }
        carry = (is_space as u64) << 7;
        at += 1;
    }
    (at, carry != 0)
}

/// The one normalization. With `ORIGIN` false, `origin` is not touched.
///
/// The text is built in the `String` (its buffer reused) from runs of `source` copied as
/// they are: letters and digits, single spaces, and non-ASCII letters and marks whose lower
/// case is themselves. [`scan`] finds where a run ends, eight bytes at a time; there, the characters
/// that change (punctuation to a space, a space after a space, apostrophes, marks, non-ASCII
/// characters with a different lower case) are handled one by one, and the next run starts
/// at the first character kept as it is. ASCII letters are lower-cased once at the end, over
/// the whole text. Nothing is written but `&str` slices of `source` and `char`s, so no UTF-8
/// check is needed. With `ORIGIN`, a non-ASCII character ends the run (all its bytes have its
/// first byte's origin).
///
/// Against the version that wrote lower-cased ASCII words (eight bytes at a time) and other
/// characters into a byte buffer, checked as UTF-8 at the end: callgrind on the 10 MB corpus
/// of `gen_corpus --bytes 10M --seed 7` (`callqa audit -q -j1`), `normalize_text_into` 199.1 M
/// instructions before, 101.2 M after (and 2.2 M more in libc's `memcpy`, for the runs), the
/// whole audit 1,119.5 M before, 1,018.5 M after; `cargo bench --bench throughput --
/// normalize`, medians of three alternated runs on the shared 2-core machine, `text` 276 MB/s
/// before, 545 MB/s after, `with-origins` 227 MB/s before, 443 MB/s after.
fn normalize_impl<const ORIGIN: bool>(source: &str, text: &mut String, origin: &mut Vec<u32>) {
    let bytes = source.as_bytes();
    let len = bytes.len();
    text.clear();
    text.reserve(len + 2);
    text.push(' ');
    if ORIGIN {
        origin.clear();
        origin.reserve(len + 3);
        origin.push(0);
    }
    let mut space = true;
    // `source[run..at]` is kept as it is, not written yet.
    let mut run = 0usize;
    let mut at = 0usize;
    let flush = |text: &mut String, origin: &mut Vec<u32>, run: usize, at: usize| {
        if run < at {
            text.push_str(&source[run..at]);
            if ORIGIN {
                origin.extend(run as u32..at as u32);
            }
        }
    };
    let push_space = |text: &mut String, origin: &mut Vec<u32>, offset: u32| {
        text.push(' ');
        if ORIGIN {
            origin.push(offset);
        }
    };
    while at < len {
        (at, space) = scan(bytes, at, space);
        // The characters that are not kept as they are, up to the next that is.
        while let Some(&b) = bytes.get(at) {
            let offset = at as u32;
            if b.is_ascii() {
                if b.is_ascii_alphanumeric() || (b == b' ' && !space) {
                    break;
                }
                flush(text, origin, run, at);
                match b {
                    b'\'' => at += 1,
                    // `, ` or `. `: the punctuation is dropped and the space after it kept,
                    // in the next run (not with origins: the space's must be the
                    // punctuation's).
                    _ if !ORIGIN
                        && !space
                        && b != b'['
                        && b != b'<'
                        && bytes.get(at + 1) == Some(&b' ') =>
                    {
                        at += 1;
                    }
                    _ => {
                        // `[noise]`, `<unk>`: a recognizer's mark, not a word anybody said; a
                        // space like any other break.
                        at += match b {
                            b'[' | b'<' => non_speech_mark_len(&source[at..]).unwrap_or(1),
                            _ => 1,
                        };
                        if !space {
                            push_space(text, origin, offset);
                            space = true;
                        }
                    }
                }
                run = at;
                continue;
            }
            let c = source[at..]
                .chars()
                .next()
                .expect("a non-ASCII byte at a character boundary starts a character");
            let mut next = at + c.len_utf8();
            if is_apostrophe(c) {
                flush(text, origin, run, at);
            } else {
                let info = char_info(c);
                if info.word || (!space && is_combining_mark(c)) {
                    if info.kept && !ORIGIN {
                        // Part of the run.
                        space = false;
                        at = next;
                        continue;
                    }
                    flush(text, origin, run, at);
                    if info.kept {
                        text.push(c);
                        if ORIGIN {
                            origin.extend(std::iter::repeat_n(offset, c.len_utf8()));
                        }
                    } else {
                        next = segment_end(source, next);
                        fold_segment_into(&source[at..next], offset, space, text, origin, ORIGIN);
                    }
                    space = false;
                } else {
                    flush(text, origin, run, at);
                    if !space {
                        push_space(text, origin, offset);
                        space = true;
                    }
                }
            }
            at = next;
            run = at;
        }
    }
    flush(text, origin, run, len);
    if !space {
        push_space(text, origin, len as u32);
    }
    if ORIGIN {
        origin.push(len as u32);
    }
    text.make_ascii_lowercase();
}

/// The folded and composed form of each character of the Basic Multilingual Plane alone
/// (less the apostrophes folding writes, "ŉ" being "ʼn"), a page of 256 at a time, filled on
/// first use: most characters that are not kept as they are (capitals: "Σ", "É") stand alone,
/// and decomposing, folding and composing each anew cost a whole audit of capitalized Greek
/// three times the time it took before full folding.
static BMP_FOLDED: [OnceLock<Box<[Box<str>]>>; 256] = [const { OnceLock::new() }; 256];

/// [`BMP_FOLDED`]'s entry for `c`, or `None` beyond the Basic Multilingual Plane.
fn folded_alone(c: char) -> Option<&'static str> {
    let code = c as u32;
    if code > 0xFFFF {
        return None;
    }
    let page = BMP_FOLDED[(code >> 8) as usize].get_or_init(|| {
        (0..256u32)
            .map(|low| {
                let mut folded = String::new();
                if let Some(c) = char::from_u32((code & !0xFF) | low) {
                    fold_segment(std::iter::once(c), |f| {
                        if !is_apostrophe(f) {
                            folded.push(f);
                        }
                    });
                }
                folded.into_boxed_str()
            })
            .collect()
    });
    Some(&page[(code & 0xFF) as usize])
}

/// Writes the folded and composed form of `segment` (a character that is not kept as it is
/// and those after it that join it; `offset` is where it starts in the original) at the end
/// of `text`. When its first character joins the one before it (a mark after "e"), the end
/// of `text` back to its last letter (unless `space`: there is none) is taken back and
/// composed with it, marks written before included. With `with_origin`, every byte written
/// has the origin of the first character taken.
fn fold_segment_into(
    segment: &str,
    mut offset: u32,
    space: bool,
    text: &mut String,
    origin: &mut Vec<u32>,
    with_origin: bool,
) {
    // A character alone, joining none before it: its form from the table.
    let mut chars = segment.chars();
    if let (Some(c), None) = (chars.next(), chars.next())
        && !joins_previous(c)
        && let Some(folded) = folded_alone(c)
        && (!text.ends_with(' ') || folded.starts_with(char::is_alphanumeric))
    {
        text.push_str(folded);
        if with_origin {
            origin.extend(std::iter::repeat_n(offset, folded.len()));
        }
        return;
    }
    let mut before: Vec<char> = Vec::new();
    if !space && segment.chars().next().is_some_and(joins_previous) {
        // Back to the last character that starts a composition (combining class 0), or to
        // the start of the word when it has none.
        while let Some(c) = text.pop() {
            if c == ' ' {
                text.push(c);
                break;
            }
            before.push(c);
            if canonical_combining_class(c) == 0 {
                break;
            }
        }
        before.reverse();
        let taken: usize = before.iter().map(|c| c.len_utf8()).sum();
        if with_origin && taken > 0 {
            offset = origin[origin.len() - taken];
            origin.truncate(origin.len() - taken);
        }
    }
    // A word starts with a letter; a mark that canonical ordering puts before it
    // ("\u{730}\u{16AF0}" is ordered "\u{16AF0}\u{730}") would start the word, where a
    // mark is not kept: it is dropped, so that normalizing again changes nothing.
    let mut started = !text.ends_with(' ');
    fold_segment(before.into_iter().chain(segment.chars()), |c| {
        // Folding writes apostrophes ("ŉ" is "ʼn"), which normalization deletes.
        if (!started && !c.is_alphanumeric()) || is_apostrophe(c) {
            return;
        }
        started = true;
        text.push(c);
        if with_origin {
            origin.extend(std::iter::repeat_n(offset, c.len_utf8()));
        }
    });
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
            ("Straße", "strasse"),
            ("[noise]", ""),
            ("<unk>", ""),
            ("okay [noise] bye<unk>", "okay bye"),
            ("[4.68.74.21] and [T]", "4 68 74 21 and"),
            ("a [not closed", "a not closed"),
            ("...", ""),
            ("", ""),
            ("2-3 business days", "2 3 business days"),
            ("e\u{0301}tude", "étude"),
            ("\u{730}\u{16af0}", "\u{730}"),
            ("\u{16af0}\u{730}", "\u{730}"),
            ("\u{149}", "n"),
            ("\u{1e008}'\u{6ea}", "\u{1e008}"),
            ("WORLD\u{301}\u{FF07}\u{323}", "worlḍ\u{301}"),
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
                let end = segment_end(source, index + c.len_utf8());
                fold_segment_into(
                    &source[index..end],
                    offset,
                    last_was_space,
                    &mut out.text,
                    &mut out.origin,
                    true,
                );
                skip_to = end;
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
            for count in 0..5 {
                assert_eq!(
                    normalized.has_fewer_words_than(count),
                    normalized.word_count() < count,
                    "{text:?} {count}"
                );
            }
        }
    }

    #[test]
    fn has_fewer_words_than_counts_only_as_far_as_it_needs() {
        let cases = [
            ("", 0, false),
            ("", 1, true),
            ("...", 1, true),
            ("ok", 1, false),
            ("ok", 2, true),
            ("mm hmm", 2, false),
            ("mm hmm", 3, true),
            ("I see what you mean there", 3, false),
        ];
        for (text, count, expected) in cases {
            let mut normalized = Normalized::default();
            normalize_into(text, &mut normalized);
            assert_eq!(
                normalized.has_fewer_words_than(count),
                expected,
                "{text:?} {count}"
            );
        }
    }

    #[test]
    fn char_info_agrees_with_the_unicode_tables() {
        for c in ('\u{80}'..='\u{FFFF}').chain(['\u{1F44D}', '\u{10000}', '\u{1D400}', '\u{20000}'])
        {
            let info = char_info(c);
            assert_eq!(info, CharInfo::of(c), "U+{:04X}", c as u32);
            assert_eq!(info.word, c.is_alphanumeric(), "U+{:04X}", c as u32);
            let folded: String = std::iter::once(c).nfd().default_case_fold().nfc().collect();
            if info.kept {
                assert_eq!(folded, c.to_string(), "U+{:04X}", c as u32);
            }
        }
        for (c, kept) in [
            ('é', true),
            ('É', false),
            ('ß', false),
            ('ς', false),
            ('\u{301}', false),
        ] {
            assert_eq!(char_info(c).kept, kept, "{c}");
        }
    }

    /// Full case folding and canonical composition: each group of spellings is one word,
    /// the first its normalized form.
    #[test]
    fn case_variants_and_canonical_equivalents_are_one_word() {
        let groups: &[&[&str]] = &[
            &["strasse", "STRASSE", "straße", "STRAẞE", "Strasse"],
            &["οδόσ", "ΟΔΌΣ", "οδός", "Οδός", "ο\u{3b4}ο\u{301}ς"],
            &["café", "cafe\u{301}", "CAFE\u{301}", "Café", "CAFÉ"],
            &["file", "\u{FB01}le", "FILE"],
            &["ångström", "\u{212B}ngstr\u{f6}m", "A\u{30A}NGSTRO\u{308}M"],
            &["한국", "\u{1112}\u{1161}\u{11AB}\u{1100}\u{116E}\u{11A8}"],
            &[
                "ạ\u{301}",
                "a\u{301}\u{323}",
                "a\u{323}\u{301}",
                "A\u{323}\u{301}",
            ],
            &["がっこう", "か\u{3099}っこう"],
        ];
        for group in groups {
            for spelling in *group {
                assert_eq!(normalize(spelling), group[0], "{spelling:?}");
                assert_agrees_with_the_reference(spelling);
                assert_agrees_with_the_reference(&format!("Hello {spelling}, again"));
            }
        }
    }

    #[test]
    fn bytes_not_kept_are_found_eight_at_a_time() {
        for b in 0..=255u8 {
            for filler in [b'-', b' ', b'a', b'Z', b'0', 0, 0x7F, 0x80, 0xA0, 0xFF] {
                for position in 0..CHUNK {
                    let mut chunk = [filler; CHUNK];
                    chunk[position] = b;
                    let (not_kept, spaces) = not_kept_and_spaces(u64::from_le_bytes(chunk));
                    let (not_kept, spaces) = (not_kept.to_le_bytes(), spaces.to_le_bytes());
                    for (i, &byte) in chunk.iter().enumerate() {
                        let is_kept = byte.is_ascii_alphanumeric() || byte == b' ';
                        assert_eq!(not_kept[i], if is_kept { 0 } else { 0x80 }, "{b} at {i}");
                        let is_space = byte & 0x7F == b' ';
                        assert_eq!(spaces[i], if is_space { 0x80 } else { 0 }, "{b} at {i}");
                    }
                }
            }
        }
        // Where a run of bytes kept as they are ends, and whether a space is before it.
        let cases: [(&str, usize, bool, usize, bool); 12] = [
            ("", 0, true, 0, true),
            ("abc", 0, true, 3, false),
            ("abc ", 0, false, 4, true),
            (" abc", 0, true, 0, true),
            (" abc", 0, false, 4, false),
            ("Hello World, again", 0, true, 11, false),
            ("HelloWorld42 and more text here", 0, true, 31, false),
            ("one two  three", 0, true, 8, true),
            ("12345678 9", 0, true, 10, false),
            ("1234567  9", 0, true, 8, true),
            ("abcdefgh'ij", 0, true, 8, false),
            ("abc\u{e9}", 0, true, 3, false),
        ];
        for (text, from, space, to, space_before) in cases {
            assert_eq!(
                scan(text.as_bytes(), from, space),
                (to, space_before),
                "{text:?}"
            );
        }
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
            ("STRAßE ΣΑΣ", " strasse σασ "),
            ("abcdefgE\u{301}x", " abcdefgéx "),
            ("abcdefghE\u{301}", " abcdefghé "),
            ("İstanbul", " i\u{307}stanbul "),
            ("e\u{301}tude \u{301}x", " étude x "),
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
        "STRASSE",
        "ΟΔΌΣ",
        "οδός",
        "cafe\u{301}",
        "café",
        "\u{FB01}",
        "\u{212B}",
        "\u{1112}\u{1161}",
        "\u{11AB}",
        "か\u{3099}",
        "\u{323}",
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

        /// The same on any words: letters and digits, each with up to three marks. (Not on
        /// marks without a letter, which are no word, nor on symbols: a symbol that
        /// decomposes into a symbol and a mark, "΅", is a break, and its mark, once
        /// decomposed, may reorder into the next word.)
        #[test]
        fn canonical_equivalents_of_any_words_normalize_alike(
            text in "([\\p{L}\\p{N}]\\p{M}{0,3}| ){0,24}",
        ) {
            let once = normalize(&text);
            proptest::prop_assert_eq!(normalize(&text.nfd().collect::<String>()), once.clone());
            proptest::prop_assert_eq!(normalize(&text.nfc().collect::<String>()), once.clone());
            proptest::prop_assert_eq!(normalize(&once), once);
        }

        /// Canonically equivalent texts normalize alike, and normalizing is idempotent.
        #[test]
        fn canonical_equivalents_normalize_alike(
            pieces in proptest::collection::vec(proptest::sample::select(PIECES), 0..24),
        ) {
            let text = pieces.concat();
            let once = normalize(&text);
            assert_eq!(normalize(&text.nfd().collect::<String>()), once, "{text:?}");
            assert_eq!(normalize(&text.nfc().collect::<String>()), once, "{text:?}");
            assert_eq!(normalize(&once), once, "{text:?}");
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
}

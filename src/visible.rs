//! Invisible and bidirectional control characters, kept out of everything callqa writes.
//!
//! A transcript, an id or a file name can hold characters that show nothing but change what
//! is shown: bidirectional overrides and isolates (U+202A–U+202E, U+2066–U+2069) reorder
//! the text after them, so a reviewer reads words in another order than they were said;
//! zero-width characters hide inside a word; C1 controls can drive a terminal. Matching sees
//! the text as it was (normalization treats these characters as it always did); what people
//! read never holds them.
//!
//! One mechanism for every output: standard output, standard error and every file of the
//! report are written through [`Visible`], which drops [`is_hidden`] characters from the
//! bytes as they pass. The few decisions made on a text before it is written (the
//! spreadsheet guard on a CSV cell's first character, the baseline's comparison of evidence)
//! use [`strip`], the same rule on a string.

use std::borrow::Cow;
use std::io::{self, Write};

/// Whether `c` is dropped from output: C1 controls, the soft hyphen, the combining grapheme
/// joiner, the Arabic letter mark, the Mongolian vowel separator, zero-width spaces, joiners
/// and marks (U+200B–U+200F), bidirectional embeddings, overrides and isolates
/// (U+202A–U+202E, U+2066–U+2069), the invisible operators and deprecated format characters
/// (U+2060–U+206F), the byte order mark (U+FEFF), interlinear annotation controls
/// (U+FFF9–U+FFFB) and tag characters (U+E0000–U+E007F).
pub fn is_hidden(c: char) -> bool {
    matches!(c,
        '\u{80}'..='\u{9F}'
        | '\u{AD}'
        | '\u{34F}'
        | '\u{61C}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{E0000}'..='\u{E007F}')
}

/// Whether a UTF-8 character that starts with this byte can be [`is_hidden`]: the lead bytes
/// of U+0080–U+00AD (`C2`), U+034F (`CD`), U+061C (`D8`), U+180E (`E1`), U+2000–U+2FFF
/// (`E2`), U+F000–U+FFFF (`EF`) and U+C0000–U+FFFFF (`F3`).
const fn may_start_hidden(byte: u8) -> bool {
    matches!(byte, 0xC2 | 0xCD | 0xD8 | 0xE1 | 0xE2 | 0xEF | 0xF3)
}

/// The byte offset of the first hidden character of `text`. The report's text is mostly
/// ASCII with a few other characters: eight ASCII bytes are passed at once, and only the
/// characters whose lead byte [`may_start_hidden`] are decoded (checking every character
/// was 15% of a run's instructions, most of its end).
fn first_hidden(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        if let Some(eight) = bytes.get(at..at + 8) {
            let word = u64::from_ne_bytes(<[u8; 8]>::try_from(eight).unwrap_or_default());
            if word & 0x8080_8080_8080_8080 == 0 {
                at += 8;
                continue;
            }
        }
        let byte = bytes[at];
        if may_start_hidden(byte)
            && let Some(c) = text[at..].chars().next()
            && is_hidden(c)
        {
            return Some(at);
        }
        at += 1;
    }
    None
}

/// `text` without its hidden characters; borrowed when it has none.
pub fn strip(text: &str) -> Cow<'_, str> {
    match first_hidden(text) {
        None => Cow::Borrowed(text),
        Some(at) => {
            let mut out = String::with_capacity(text.len());
            out.push_str(&text[..at]);
            out.extend(text[at..].chars().filter(|&c| !is_hidden(c)));
            Cow::Owned(out)
        }
    }
}

/// `text` with its hidden characters written as JSON escapes (`\u202e`), for JSON meant for
/// other programs (`callqa convert`): nothing is lost, and nothing hidden reaches a terminal
/// or an editor. Only valid inside a JSON document, where any non-ASCII character is inside
/// a string.
pub fn escape_in_json(text: &str) -> Cow<'_, str> {
    if first_hidden(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if is_hidden(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// A writer that drops hidden characters from the UTF-8 text written through it. A
/// character cut between two writes is held until the next one; bytes that are not UTF-8
/// pass as they are. [`Visible::into_inner`] (or a flush) writes what is held: call one of
/// them when done.
pub struct Visible<W: Write> {
    inner: W,
    /// The start of a character cut at the end of the last write (at most 3 bytes).
    held: Vec<u8>,
}

impl<W: Write> Visible<W> {
    pub fn new(inner: W) -> Visible<W> {
        Visible {
            inner,
            held: Vec::new(),
        }
    }

    /// The inner writer, after what is held is written to it.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.write_held()?;
        Ok(self.inner)
    }

    fn write_held(&mut self) -> io::Result<()> {
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.inner.write_all(&held)?;
        }
        Ok(())
    }

    /// Writes `bytes`, whole characters only, without hidden ones.
    fn write_text(&mut self, bytes: &[u8]) -> io::Result<()> {
        match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => match strip(text) {
                Cow::Borrowed(_) => self.inner.write_all(bytes),
                Cow::Owned(visible) => self.inner.write_all(visible.as_bytes()),
            },
            Err(_) => self.inner.write_all(bytes),
        }
    }
}

/// How many bytes at the end of `bytes` start a character that continues past them.
fn cut_character(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let byte = bytes[bytes.len() - back];
        if byte & 0b1100_0000 != 0b1000_0000 {
            // A lead byte (or ASCII): does its character end within `bytes`?
            let needed = match byte {
                0xC0..=0xDF => 2,
                0xE0..=0xEF => 3,
                0xF0..=0xF7 => 4,
                _ => 1,
            };
            return if needed > back { back } else { 0 };
        }
    }
    0
}

impl<W: Write> Write for Visible<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.held.is_empty() {
            // Nothing to join: the whole characters are written from `buf` without a copy.
            let whole = buf.len() - cut_character(buf);
            self.write_text(&buf[..whole])?;
            self.held.extend_from_slice(&buf[whole..]);
            return Ok(buf.len());
        }
        let mut bytes = std::mem::take(&mut self.held);
        bytes.extend_from_slice(buf);
        let whole = bytes.len() - cut_character(&bytes);
        self.write_text(&bytes[..whole])?;
        self.held = bytes[whole..].to_vec();
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.write_held()?;
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HIDDEN: [char; 12] = [
        '\u{202E}',
        '\u{202A}',
        '\u{2066}',
        '\u{2069}',
        '\u{200B}',
        '\u{200D}',
        '\u{200F}',
        '\u{FEFF}',
        '\u{2060}',
        '\u{61C}',
        '\u{9B}',
        '\u{E0041}',
    ];

    #[test]
    fn hidden_characters_are_stripped_and_the_rest_kept() {
        for c in HIDDEN {
            assert!(is_hidden(c), "U+{:04X}", c as u32);
            assert_eq!(strip(&format!("pay{c}ment")), "payment");
        }
        for kept in [
            "plain",
            "café",
            "東京",
            "emoji 😀",
            "tab\tand\nline",
            "‘quotes’ — dash",
        ] {
            assert!(matches!(strip(kept), Cow::Borrowed(_)), "{kept}");
        }
    }

    /// The quick scan finds what a check of every character finds: every hidden character's
    /// lead byte is one it decodes, and each character is told apart at every position of
    /// the eight-byte steps.
    #[test]
    fn the_quick_scan_agrees_with_every_character_checked() {
        let mut lead = [0u8; 4];
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if is_hidden(c) {
                assert!(
                    may_start_hidden(c.encode_utf8(&mut lead).as_bytes()[0]),
                    "{c:?}"
                );
            }
        }
        let reference = |text: &str| text.chars().filter(|&c| !is_hidden(c)).collect::<String>();
        let samples = (0x7Eu32..0x300)
            .chain(0x1800..0x1810)
            .chain(0x2000..0x2100)
            .chain(0xFEF0..0x10000)
            .chain(0xDFFF0..0xE0090)
            .filter_map(char::from_u32);
        for c in samples {
            for before in 0..10 {
                let text = format!("{}{c}é{c}x", "a".repeat(before));
                assert_eq!(strip(&text), reference(&text), "{c:?} after {before}");
            }
        }
    }

    #[test]
    fn json_escapes_keep_every_character() {
        let text = "{\"text\": \"a\u{202E}b\u{E0041}c\"}";
        let escaped = escape_in_json(text);
        assert_eq!(escaped, "{\"text\": \"a\\u202eb\\udb40\\udc41c\"}");
        let parsed: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(parsed["text"], "a\u{202E}b\u{E0041}c");
    }

    /// Written in pieces cut anywhere, even inside a character, the text comes out whole,
    /// less its hidden characters.
    #[test]
    fn the_writer_holds_a_cut_character_until_the_next_write() {
        let text = "ab\u{202E}cd é\u{200B}f 東\u{2066}京 😀\u{FEFF}!";
        let bytes = text.as_bytes();
        for step in 1..=bytes.len() {
            let mut out = Visible::new(Vec::new());
            for piece in bytes.chunks(step) {
                out.write_all(piece).unwrap();
            }
            let written = out.into_inner().unwrap();
            assert_eq!(
                String::from_utf8(written).unwrap(),
                strip(text),
                "step {step}"
            );
        }
        let mut out = Visible::new(Vec::new());
        out.write_all(b"not \xFF utf-8").unwrap();
        assert_eq!(out.into_inner().unwrap(), b"not \xFF utf-8");
    }
}

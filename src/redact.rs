//! Redaction of private data in what callqa writes for people to read.
//!
//! Findings travel to team leads' spreadsheets, and evidence is text a customer said or typed.
//! Before evidence (or, in `explain`, a turn) is written, `Redactor::redact` replaces:
//!
//! | what | how it is recognized | written as |
//! |---|---|---|
//! | card numbers | runs of 13 to 19 digits (spaces or dashes between groups allowed) that pass the Luhn check | `[card]` |
//! | national ids | US social security numbers `123-45-6789`, UK National Insurance numbers `AB 12 34 56 C` | `[national-id]` |
//! | e-mail addresses | `name@domain.tld` | `[email]` |
//! | phone numbers | 10 to 15 digits, with an optional `+`, spaces, dots, dashes or parentheses between groups | `[phone]` |
//!
//! Matching works on the text as written; a digit run that is part of a longer word (an order id
//! such as `A1234567890B`) is left alone. The patterns are compiled once per run.

use std::borrow::Cow;

use regex::Regex;

/// The compiled patterns.
#[derive(Debug, Clone)]
pub struct Redactor {
    email: Regex,
    national_id: Regex,
    digits: Regex,
}

impl Default for Redactor {
    fn default() -> Redactor {
        Redactor::new()
    }
}

impl Redactor {
    pub fn new() -> Redactor {
        // These patterns are constants; a failure to compile them is a bug caught by the tests.
        let compile = |pattern: &str| Regex::new(pattern).expect("redaction pattern compiles");
        Redactor {
            email: compile(r"(?i)\b[a-z0-9._%+-]+@[a-z0-9.-]+\.[a-z]{2,}\b"),
            national_id: compile(
                r"(?i)\b(?:\d{3}-\d{2}-\d{4}|[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D])\b",
            ),
            // A run of digits with single separators between them, optionally led by + or (.
            digits: compile(r"(?:\+|\()?\d(?:[ .\-()/]{0,2}\d){7,22}\)?"),
        }
    }

    /// The text with private data replaced; borrowed when nothing was found.
    pub(crate) fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        self.redacted(text).text
    }

    /// The text with private data replaced, and where it was replaced: a range of the
    /// original can then be found in it ([`Redacted::range`]) and cut there. Cutting first and
    /// redacting the pieces would miss a number the cut splits.
    pub(crate) fn redacted<'a>(&self, text: &'a str) -> Redacted<'a> {
        if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
            return Redacted::unchanged(text);
        }
        // Most evidence holds a time, a price or an order number and no private data. The
        // patterns with `\b` run on a backtracker once the text has a non-ASCII character
        // (about 50,000 instructions a finding by callgrind, a quarter of a whole run), so each
        // runs only when the text has the shape it needs; the test below checks these
        // shortcuts against the patterns.
        if !text.contains('@') && !might_hold_digits_to_redact(text) {
            return Redacted::unchanged(text);
        }
        self.apply_patterns(text, true)
    }

    /// The patterns; with `gated`, each runs only when its shortcut says it might match.
    fn apply_patterns<'a>(&self, text: &'a str, gated: bool) -> Redacted<'a> {
        let mut redacted = Redacted::unchanged(text);
        if !gated || text.contains('@') {
            redacted.replace(&self.email, |_, _| Some("[email]"));
        }
        if !gated || might_hold_national_id(&redacted.text) {
            redacted.replace(&self.national_id, |_, _| Some("[national-id]"));
        }
        redacted.replace(&self.digits, digits_label);
        redacted
    }
}

/// What a run of digits the digit pattern found at `start..end` of `text` is written as, if
/// it is to be redacted.
fn digits_label(text: &str, (start, end): (usize, usize)) -> Option<&'static str> {
    // A digit run glued to letters is an id of some kind, not a number to redact.
    let glued = text[..start]
        .chars()
        .next_back()
        .is_some_and(char::is_alphanumeric)
        || text[end..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
    let digits: String = text[start..end]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    if glued {
        None
    } else if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
        Some("[card]")
    } else if (10..=15).contains(&digits.len()) {
        Some("[phone]")
    } else {
        None
    }
}

/// A text with private data replaced, and the replacements made, pattern by pattern.
#[derive(Debug, Clone)]
pub(crate) struct Redacted<'a> {
    pub(crate) text: Cow<'a, str>,
    /// For each pattern that replaced something, its replacements in the text it ran on.
    steps: Vec<Vec<Replacement>>,
}

/// `from..to` of a text became `len` bytes; `shift` is how much longer (or, negative,
/// shorter) the text is up to the end of this replacement.
#[derive(Debug, Clone, Copy)]
struct Replacement {
    from: usize,
    to: usize,
    len: usize,
    shift: isize,
}

impl<'a> Redacted<'a> {
    /// A text with nothing replaced.
    pub(crate) fn unchanged(text: &'a str) -> Redacted<'a> {
        Redacted {
            text: Cow::Borrowed(text),
            steps: Vec::new(),
        }
    }

    /// Replaces each match of `regex` that `label` names (given the text and the match's
    /// range), remembering where.
    fn replace(
        &mut self,
        regex: &Regex,
        mut label: impl FnMut(&str, (usize, usize)) -> Option<&'static str>,
    ) {
        let mut out = String::new();
        let mut replacements = Vec::new();
        let mut copied = 0;
        let mut shift = 0isize;
        for found in regex.find_iter(&self.text) {
            let Some(label) = label(&self.text, (found.start(), found.end())) else {
                continue;
            };
            out.push_str(&self.text[copied..found.start()]);
            out.push_str(label);
            copied = found.end();
            shift += label.len() as isize - found.len() as isize;
            replacements.push(Replacement {
                from: found.start(),
                to: found.end(),
                len: label.len(),
                shift,
            });
        }
        if !replacements.is_empty() {
            out.push_str(&self.text[copied..]);
            self.text = Cow::Owned(out);
            self.steps.push(replacements);
        }
    }

    /// The redaction as an owned value, or `None` when nothing was replaced.
    pub(crate) fn changed(self) -> Option<Redacted<'static>> {
        match self.text {
            Cow::Borrowed(_) => None,
            Cow::Owned(text) => Some(Redacted {
                text: Cow::Owned(text),
                steps: self.steps,
            }),
        }
    }

    /// Where the byte range `from..to` of the original text is in the redacted text: an edge
    /// inside replaced data moves out to take in all of its replacement, so a range that
    /// held part of a number holds its whole `[card]`.
    pub(crate) fn range(&self, from: usize, to: usize) -> (usize, usize) {
        let (mut from, mut to) = (from, to);
        for step in &self.steps {
            from = moved(step, from, false);
            to = moved(step, to, true);
        }
        (from, to.max(from))
    }
}

/// A piece of a redacted text: its byte range, and the mark it carries, if any.
pub(crate) type Piece<M> = (std::ops::Range<usize>, Option<M>);

/// A turn as people see it, with marks: `text` redacted whole (by `redactor`, if any), and
/// its pieces in order, each a byte range of the redacted text and the mark it carries
/// (`None` between marks). `marks` are byte ranges of the original text, sorted by start; a
/// mark that is not a range of it, or overlaps the one before, is left out. One mark that
/// cuts private data takes in all of its replacement.
pub(crate) fn marked<'t, M: Copy>(
    redactor: Option<&Redactor>,
    text: &'t str,
    marks: &[(usize, usize, M)],
) -> (Cow<'t, str>, Vec<Piece<M>>) {
    let redacted = match redactor {
        Some(redactor) => redactor.redacted(text),
        None => Redacted::unchanged(text),
    };
    let mut pieces = Vec::new();
    let mut at = 0;
    for &(from, to, mark) in marks {
        if from >= to
            || to > text.len()
            || !text.is_char_boundary(from)
            || !text.is_char_boundary(to)
        {
            continue;
        }
        let (from, to) = redacted.range(from, to);
        if from < at {
            continue; // overlapping marks: the first wins
        }
        if at < from {
            pieces.push((at..from, None));
        }
        pieces.push((from..to, Some(mark)));
        at = to;
    }
    if at < redacted.text.len() || pieces.is_empty() {
        pieces.push((at..redacted.text.len(), None));
    }
    (redacted.text, pieces)
}

/// Where byte `at` of a text is after `replacements`; inside one, at its start (or, for the
/// `end` of a range, its end).
fn moved(replacements: &[Replacement], at: usize, end: bool) -> usize {
    // The replacements that end at or before `at` move it by their shift.
    let before = replacements.partition_point(|r| r.to <= at);
    let shift = before.checked_sub(1).map_or(0, |i| replacements[i].shift);
    match replacements.get(before) {
        Some(r) if r.from < at => {
            let start = r.from.saturating_add_signed(shift);
            if end { start + r.len } else { start }
        }
        _ => at.saturating_add_signed(shift),
    }
}

/// Whether `text` might hold a national id: a digit, then `-` (the US form `123-45-6789`), or
/// a letter, an optional space and three pairs of digits with optional spaces between (the UK
/// form `AB 12 34 56 C`). A necessary condition of the pattern, far cheaper to test: `\d` is
/// a Unicode decimal digit (all of which `char::is_numeric` takes) and the case-insensitive
/// letters include non-ASCII ones such as the Kelvin sign (all alphabetic).
fn might_hold_national_id(text: &str) -> bool {
    let mut before = [' ', ' '];
    for (index, c) in text.char_indices() {
        if c == '-' && before[1].is_numeric() {
            return true;
        }
        if c.is_numeric()
            && !before[1].is_numeric()
            && (before[1].is_alphabetic() || (before[1] == ' ' && before[0].is_alphabetic()))
            && three_digit_pairs(&text[index..])
        {
            return true;
        }
        before = [before[1], c];
    }
    false
}

/// Whether `text` starts with `\d\d ?\d\d ?\d\d` (numeric characters standing for `\d`).
fn three_digit_pairs(text: &str) -> bool {
    let mut chars = text.chars().peekable();
    for pair in 0..3 {
        if pair > 0 && chars.peek() == Some(&' ') {
            chars.next();
        }
        for _ in 0..2 {
            if !chars.next().is_some_and(char::is_numeric) {
                return false;
            }
        }
    }
    true
}

/// Whether `text` might hold a national id (as [`might_hold_national_id`] tells) or a card or
/// phone number (8 numeric characters or more with at most two characters between consecutive
/// ones, as the digit pattern needs), in one pass over the characters: the report asks this
/// for every finding, on the main thread, and three passes cost about 7,000 instructions a
/// finding (callgrind).
fn might_hold_digits_to_redact(text: &str) -> bool {
    let mut before = [' ', ' '];
    let mut run = 0usize;
    let mut gap = 0usize;
    for (index, c) in text.char_indices() {
        let numeric = if c.is_ascii() {
            c.is_ascii_digit()
        } else {
            // CJK ideographs, common in the exports, are letters: no table lookup for them.
            !matches!(c, '\u{4E00}'..='\u{9FFF}') && c.is_numeric()
        };
        if numeric {
            run += 1;
            gap = 0;
            if run >= 8 {
                return true;
            }
            if !before[1].is_numeric()
                && (before[1].is_alphabetic() || (before[1] == ' ' && before[0].is_alphabetic()))
                && three_digit_pairs(&text[index..])
            {
                return true;
            }
        } else {
            if c == '-' && before[1].is_numeric() {
                return true;
            }
            gap += 1;
            if gap > 2 {
                run = 0;
            }
        }
        before = [before[1], c];
    }
    false
}

/// The Luhn checksum of a string of ASCII digits.
pub(crate) fn luhn_valid(digits: &str) -> bool {
    let mut sum = 0u32;
    for (index, b) in digits.bytes().rev().enumerate() {
        let mut d = u32::from(b - b'0');
        if index % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_table() {
        let redactor = Redactor::new();
        let cases = [
            ("my card is 4111 1111 1111 1111 ok", "my card is [card] ok"),
            ("card 4111-1111-1111-1111.", "card [card]."),
            ("4111111111111112 fails luhn", "4111111111111112 fails luhn"),
            ("ssn 123-45-6789 please", "ssn [national-id] please"),
            ("NI number AB 12 34 56 C", "NI number [national-id]"),
            ("mail me at jo.doe+x@example.co.uk!", "mail me at [email]!"),
            ("call +1 (555) 123-4567 now", "call [phone] now"),
            ("call 555.123.4567", "call [phone]"),
            ("+44 20 7946 0958", "[phone]"),
            (
                "order #4471 on 2026-11-20 at 14:03",
                "order #4471 on 2026-11-20 at 14:03",
            ),
            (
                "refund of $42.50 in 3-5 days",
                "refund of $42.50 in 3-5 days",
            ),
            ("ticket A1234567890B", "ticket A1234567890B"),
            ("@115712 thanks", "@115712 thanks"),
            ("no digits at all", "no digits at all"),
            ("at 14:03 on day 12", "at 14:03 on day 12"),
            ("SSN 123-45-6789", "SSN [national-id]"),
            ("NI ab123456c", "NI [national-id]"),
        ];
        for (input, expected) in cases {
            assert_eq!(redactor.redact(input), expected, "{input}");
        }
    }

    /// The shortcuts never skip a text the patterns would change.
    #[test]
    fn skipping_never_changes_the_result() {
        let redactor = Redactor::new();
        let pieces = [
            "1", "12", "123", "-", " ", "ab", "AB", "c", "@", "x.io", "٣", "٤١", "(", "+", ".",
            "K", "\u{212A}", "é", "我", "//", "4111", "1111", "9",
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let mut text = String::new();
            let mut pick = state;
            for _ in 0..(state % 12) {
                text.push_str(pieces[(pick % pieces.len() as u64) as usize]);
                pick = (pick / pieces.len() as u64) ^ state.rotate_left(29);
            }
            if text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
                assert_eq!(
                    redactor.redact(&text),
                    redactor.apply_patterns(&text, false).text,
                    "{text:?}"
                );
            }
        }
    }

    /// A range of the original is found in the redacted text; one that cuts private data
    /// takes in the whole of its replacement.
    #[test]
    fn ranges_of_the_original_in_the_redacted_text() {
        let redactor = Redactor::new();
        let text = "mail jo@x.io, card 4111 1111 1111 1111 or 555-123-4567 now";
        let redacted = redactor.redacted(text);
        assert_eq!(redacted.text, "mail [email], card [card] or [phone] now");
        let shown = |part: &str| {
            let from = text.find(part).unwrap();
            let (from, to) = redacted.range(from, from + part.len());
            redacted.text[from..to].to_string()
        };
        for (part, expected) in [
            ("mail", "mail"),
            ("now", "now"),
            ("card", "card"),
            ("1111 1111 or 555", "[card] or [phone]"),
            ("4111", "[card]"),
            ("card 4111", "card [card]"),
            ("x.io, card", "[email], card"),
            ("or", "or"),
            ("4567 now", "[phone] now"),
        ] {
            assert_eq!(shown(part), expected, "{part}");
        }
        // Text without private data is borrowed, and ranges stay where they are.
        let plain = redactor.redacted("order 4471 at 14:03");
        assert!(matches!(plain.text, Cow::Borrowed(_)));
        assert_eq!(plain.range(6, 10), (6, 10));
    }

    #[test]
    fn luhn() {
        for (digits, valid) in [
            ("4111111111111111", true),
            ("79927398713", true),
            ("79927398710", false),
            ("", false),
        ] {
            assert_eq!(luhn_valid(digits), valid, "{digits}");
        }
    }
}

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
        if !text.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
            return Cow::Borrowed(text);
        }
        // Most evidence holds a time, a price or an order number and no private data. The
        // patterns with `\b` run on a backtracker once the text has a non-ASCII character
        // (about 50,000 instructions a finding by callgrind, a quarter of a whole run, all on
        // the one thread that writes the report), so each runs only when the text has the
        // shape it needs; the test below checks these shortcuts against the patterns.
        if !text.contains('@') && !might_hold_digits_to_redact(text) {
            return Cow::Borrowed(text);
        }
        self.apply_patterns(text, true)
    }

    /// The patterns; with `gated`, each runs only when its shortcut says it might match.
    fn apply_patterns<'a>(&self, text: &'a str, gated: bool) -> Cow<'a, str> {
        let step1 = if !gated || text.contains('@') {
            self.email.replace_all(text, "[email]")
        } else {
            Cow::Borrowed(text)
        };
        let step2 = if !gated || might_hold_national_id(&step1) {
            match self.national_id.replace_all(&step1, "[national-id]") {
                Cow::Borrowed(_) => step1,
                Cow::Owned(owned) => Cow::Owned(owned),
            }
        } else {
            step1
        };
        let replaced = self.digits.replace_all(&step2, |caps: &regex::Captures| {
            let found = &caps[0];
            let start = caps.get(0).map_or(0, |m| m.start());
            let end = caps.get(0).map_or(0, |m| m.end());
            // A digit run glued to letters is an id of some kind, not a number to redact.
            let glued = step2[..start]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric)
                || step2[end..]
                    .chars()
                    .next()
                    .is_some_and(char::is_alphanumeric);
            let digits: String = found.chars().filter(char::is_ascii_digit).collect();
            if glued {
                found.to_string()
            } else if (13..=19).contains(&digits.len()) && luhn_valid(&digits) {
                "[card]".to_string()
            } else if (10..=15).contains(&digits.len()) {
                "[phone]".to_string()
            } else {
                found.to_string()
            }
        });
        match replaced {
            Cow::Borrowed(_) if matches!(step2, Cow::Borrowed(_)) => Cow::Borrowed(text),
            Cow::Borrowed(_) => Cow::Owned(step2.into_owned()),
            Cow::Owned(owned) => Cow::Owned(owned),
        }
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
    !digits.is_empty() && sum % 10 == 0
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
                    redactor.apply_patterns(&text, false),
                    "{text:?}"
                );
            }
        }
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

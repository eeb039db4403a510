//! Deadlines of callback promises, read from the time words of the promise turn.
//!
//! The words come from the turn's original text (not the normalized one: "2-3 business days",
//! "24hrs", "Dec 3rd" keep their digits and dashes together). `find_deadline` scans the text
//! for time expressions, picks the one that goes with the promise (the first at or after the
//! promise words, else the last before them; "tomorrow or Monday" takes the later of the two)
//! and resolves it in the offset of the promise moment, which carries the conversation's own UTC
//! offset:
//!
//! - a day word (today, tonight, end of day, tomorrow, by Friday, the 28th, Dec 3, next week)
//!   means the end (23:59:59) of that day in that offset;
//! - a duration (within 2 hours, in 3 days, 2-3 business days) counts from the promise moment;
//!   business days skip Saturday and Sunday; a range counts its upper end;
//! - "shortly"/"soon" and "as soon as possible"/"ASAP" take the rule's configured windows;
//! - no time words: the rule's `default_within`.
//!
//! The invariant: the deadline is never before the promise moment, and the result depends only
//! on the text, the moment and the windows.
//!
//! Parsing allocates nothing but the words it returns: a word is held inline in lower case
//! (`Word`), a worker tokenizes every promise turn into the same buffer, and expressions are
//! read only until the chosen one and the one after it are known. On a generated corpus with
//! a promise in most conversations (6 MB, `audit -j1`, callgrind), the deadlines of its 1,317
//! promises took about 51 M instructions with a `String` a word and a `Vec` a turn, 21 M now.

use jiff::civil::{Date, Weekday};
use jiff::{SignedDuration, Zoned};

/// A window after the promise moment: a plain duration or a count of business days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Within {
    Duration(SignedDuration),
    BusinessDays(i64),
}

impl Within {
    /// Parses a rule field such as `"4 hours"`, `"30 minutes"`, `"2 business days"`, `"1 week"`.
    pub(crate) fn parse(text: &str) -> Result<Within, String> {
        let tokens = tokenize(text);
        match duration_at(&tokens, 0, true) {
            Some((len, Expr::Within(within))) if len == tokens.len() => Ok(within),
            _ => Err(format!(
                "{text:?} is not a window: write a number and a unit, such as \"4 hours\", \"3 days\" or \"2 business days\""
            )),
        }
    }

    /// The end of the window that starts at `moment`.
    pub(crate) fn after(self, moment: &Zoned) -> Option<Zoned> {
        match self {
            Within::Duration(duration) => moment.checked_add(duration).ok(),
            Within::BusinessDays(days) => add_business_days(moment, days),
        }
    }
}

/// The windows a promise rule configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// When the promise names no time.
    pub(crate) default_within: Within,
    /// "shortly", "soon", "in a moment", "right away".
    pub(crate) shortly: Within,
    /// "as soon as possible", "ASAP", "as soon as we can".
    pub(crate) asap: Within,
}

impl Default for Windows {
    fn default() -> Windows {
        Windows {
            default_within: Within::BusinessDays(2),
            shortly: Within::Duration(SignedDuration::from_hours(4)),
            asap: Within::BusinessDays(1),
        }
    }
}

/// A resolved deadline and the words that set it (`None`: the default window).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Deadline {
    pub(crate) at: Zoned,
    pub(crate) words: Option<String>,
}

/// The deadline of a promise made at `moment` in a turn whose original text is `text`; the
/// promise words start at byte `promise_at` of `text`.
pub(crate) fn find_deadline(
    text: &str,
    promise_at: usize,
    moment: &Zoned,
    windows: &Windows,
) -> Option<Deadline> {
    TOKENS.with_borrow_mut(|tokens| {
        tokenize_into(text, tokens);
        find_in_tokens(text, tokens, promise_at, moment, windows)
    })
}

thread_local! {
    /// The tokens of the last turn read, kept so that a worker tokenizes every promise turn
    /// into the same buffer: deadline parsing allocates nothing but the words it returns.
    static TOKENS: std::cell::RefCell<Vec<Token>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`find_deadline`] over the turn's tokens. The expressions are read in order until the one
/// that goes with the promise and the one after it are known: the first at or after
/// `promise_at` (and the next, for "tomorrow or Monday"), else the last before it.
fn find_in_tokens(
    text: &str,
    tokens: &[Token],
    promise_at: usize,
    moment: &Zoned,
    windows: &Windows,
) -> Option<Deadline> {
    // (first token, token count, expr)
    let mut before: Option<(usize, usize, Expr)> = None;
    let mut chosen: Option<(usize, usize, Expr)> = None;
    let mut next: Option<(usize, usize, Expr)> = None;
    let mut i = 0;
    while i < tokens.len() {
        let Some((len, expr)) = expression_at(tokens, i) else {
            i += 1;
            continue;
        };
        if !matches!(expr, Expr::Nothing) {
            if chosen.is_some() {
                next = Some((i, len, expr));
                break;
            }
            if tokens[i].start >= promise_at {
                chosen = Some((i, len, expr));
            } else {
                before = Some((i, len, expr));
            }
        }
        i += len;
    }
    let Some((first, len, expr)) = chosen.or(before) else {
        return Some(Deadline {
            at: windows.default_within.after(moment)?,
            words: None,
        });
    };
    let mut at = resolve(expr, moment, windows)?;
    let mut last = first + len - 1;
    // "tomorrow or Monday", "Friday or early next week": the later of the two.
    if let Some((next_first, next_len, next_expr)) = next
        && next_first >= last + 2
        && next_first <= last + 3
        && tokens[last + 1..next_first]
            .iter()
            .any(|t| t.is_word(b"or"))
        && let Some(other) = resolve(next_expr, moment, windows)
    {
        if other.timestamp() > at.timestamp() {
            at = other;
        }
        last = next_first + next_len - 1;
    }
    let words = text[tokens[first].start..tokens[last].end].to_string();
    Some(Deadline {
        at,
        words: Some(words),
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Word(Word),
    Number { value: i64, ordinal: bool },
    Dash,
}

/// The longest word kept: the longest the parser looks for, "approximately", has 13 bytes.
const WORD_BYTES: usize = 15;

/// A word in lower case, held inline so that tokenizing allocates nothing. Every word the
/// parser looks for is ASCII and at most [`WORD_BYTES`] long; any other word (longer, or with
/// a letter that is not ASCII in lower case) is kept empty. No real word is empty, so such a
/// word is told from every word looked for, as it was when words were kept whole.
#[derive(Clone, Copy, PartialEq)]
struct Word {
    len: u8,
    bytes: [u8; WORD_BYTES],
}

impl Word {
    /// The length of a word kept empty.
    const OTHER: u8 = u8::MAX;

    fn new() -> Word {
        Word {
            len: 0,
            bytes: [0; WORD_BYTES],
        }
    }

    /// Adds `c` in lower case.
    fn push_lowercase(&mut self, c: char) {
        if c.is_ascii() {
            self.push(c.to_ascii_lowercase());
        } else {
            // A few letters fold to ASCII (U+212A, the Kelvin sign, to "k").
            for lower in c.to_lowercase() {
                self.push(lower);
            }
        }
    }

    fn push(&mut self, lower: char) {
        let len = usize::from(self.len);
        if self.len == Word::OTHER || !lower.is_ascii() || len == WORD_BYTES {
            self.len = Word::OTHER;
        } else {
            self.bytes[len] = lower as u8;
            self.len += 1;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        if self.len == Word::OTHER {
            return b"";
        }
        &self.bytes[..usize::from(self.len)]
    }
}

impl std::fmt::Debug for Word {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        String::from_utf8_lossy(self.as_bytes()).fmt(f)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn is_word(&self, word: &[u8]) -> bool {
        self.word() == Some(word)
    }

    fn word(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Word(w) => Some(w.as_bytes()),
            _ => None,
        }
    }
}

/// Words (lower case, apostrophes dropped), numbers (with an ordinal suffix absorbed: "28th")
/// and dashes, with their byte ranges in the original text.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    tokenize_into(text, &mut tokens);
    tokens
}

/// The character at byte `at` of `text` (a character boundary), if any.
fn char_at(text: &str, at: usize) -> Option<char> {
    match text.as_bytes().get(at) {
        Some(&byte) if byte.is_ascii() => Some(char::from(byte)),
        Some(_) => text[at..].chars().next(),
        None => None,
    }
}

/// [`tokenize`] into `tokens`, which it clears first.
fn tokenize_into(text: &str, tokens: &mut Vec<Token>) {
    tokens.clear();
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(c) = char_at(text, at) {
        let start = at;
        if c.is_ascii_digit() {
            let mut value: i64 = 0;
            while let Some(&digit) = bytes.get(at)
                && digit.is_ascii_digit()
            {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i64::from(digit - b'0'));
                at += 1;
            }
            // An ordinal suffix is two ASCII letters standing alone ("28th", not "4three").
            let ordinal = bytes.get(at..at + 2).is_some_and(|suffix| {
                matches!(
                    [
                        suffix[0].to_ascii_lowercase(),
                        suffix[1].to_ascii_lowercase()
                    ],
                    [b's', b't'] | [b'n', b'd'] | [b'r', b'd'] | [b't', b'h']
                ) && char_at(text, at + 2).is_none_or(|c| !c.is_alphanumeric())
            });
            if ordinal {
                at += 2;
            }
            tokens.push(Token {
                kind: Kind::Number { value, ordinal },
                start,
                end: at,
            });
        } else if c.is_alphabetic() {
            let mut word = Word::new();
            let mut end = start;
            while let Some(c) = char_at(text, at) {
                if c.is_alphabetic() {
                    word.push_lowercase(c);
                    end = at + c.len_utf8();
                } else if !matches!(c, '\'' | '\u{2019}') {
                    break;
                }
                at += c.len_utf8();
            }
            tokens.push(Token {
                kind: Kind::Word(word),
                start,
                end,
            });
        } else {
            if matches!(c, '-' | '\u{2013}' | '\u{2014}') {
                tokens.push(Token {
                    kind: Kind::Dash,
                    start,
                    end: start + c.len_utf8(),
                });
            }
            at += c.len_utf8();
        }
    }
}

/// A time expression, before it is resolved against the promise moment.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expr {
    /// The end of the day this many days after the promise's day.
    EndOfDay(i64),
    Within(Within),
    /// The end of the next such weekday (a week ahead when it is today).
    Weekday(Weekday),
    /// The end of this week's Sunday.
    ThisWeek,
    /// The end of next week's Sunday.
    NextWeek,
    /// The end of the next day with this day of the month.
    DayOfMonth(i8),
    /// The end of the next such date.
    MonthDay(i8, i8),
    Shortly,
    Asap,
    /// Words that look like a time but are none ("as soon as we hear back").
    Nothing,
}

fn word_at(tokens: &[Token], i: usize) -> Option<&[u8]> {
    tokens.get(i).and_then(Token::word)
}

fn words_at(tokens: &[Token], i: usize, words: &[&[u8]]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| word_at(tokens, i + k) == Some(w))
}

/// Time words of more than one word, and what they mean: sorted by their first word (a
/// stable sort: where one phrase begins another, the longer comes first), so that a word's
/// phrases are found by binary search.
static PHRASES: &[(&[&[u8]], Expr)] = &[
    (&[b"as", b"soon", b"as", b"possible"], Expr::Asap),
    (&[b"as", b"soon", b"as", b"we", b"can"], Expr::Asap),
    (&[b"as", b"soon", b"as", b"i", b"can"], Expr::Asap),
    (&[b"as", b"quickly", b"as", b"possible"], Expr::Asap),
    (&[b"as", b"soon", b"as"], Expr::Nothing),
    (&[b"at", b"the", b"earliest"], Expr::Asap),
    (&[b"close", b"of", b"business"], Expr::EndOfDay(0)),
    (&[b"day", b"after", b"tomorrow"], Expr::EndOfDay(2)),
    (&[b"end", b"of", b"the", b"day"], Expr::EndOfDay(0)),
    (&[b"end", b"of", b"day"], Expr::EndOfDay(0)),
    (&[b"end", b"of", b"today"], Expr::EndOfDay(0)),
    (&[b"end", b"of", b"business"], Expr::EndOfDay(0)),
    (&[b"end", b"of", b"the", b"week"], Expr::ThisWeek),
    (&[b"end", b"of", b"week"], Expr::ThisWeek),
    (&[b"end", b"of", b"next", b"week"], Expr::NextWeek),
    (&[b"in", b"a", b"bit"], Expr::Shortly),
    (&[b"in", b"a", b"moment"], Expr::Shortly),
    (&[b"in", b"a", b"few", b"moments"], Expr::Shortly),
    (&[b"later", b"today"], Expr::EndOfDay(0)),
    (&[b"later", b"this", b"week"], Expr::ThisWeek),
    (&[b"next", b"week"], Expr::NextWeek),
    (&[b"right", b"away"], Expr::Shortly),
    (&[b"this", b"week"], Expr::ThisWeek),
    (&[b"this", b"morning"], Expr::EndOfDay(0)),
    (&[b"this", b"afternoon"], Expr::EndOfDay(0)),
    (&[b"this", b"evening"], Expr::EndOfDay(0)),
    (
        &[b"within", b"the", b"hour"],
        Expr::Within(Within::Duration(SignedDuration::from_hours(1))),
    ),
];

/// Whether `word` is the first word of one of the [`PHRASES`]: most words of a turn are not,
/// and are told so without the binary search (its slice comparisons were a third of the time
/// deadline parsing took on a callback-heavy corpus).
fn starts_a_phrase(word: &[u8]) -> bool {
    matches!(
        word,
        b"as"
            | b"at"
            | b"close"
            | b"day"
            | b"end"
            | b"in"
            | b"later"
            | b"next"
            | b"right"
            | b"this"
            | b"within"
    )
}

fn expression_at(tokens: &[Token], i: usize) -> Option<(usize, Expr)> {
    if let Some(found) = duration_at(tokens, i, false) {
        return Some(found);
    }
    if let Some(found) = date_at(tokens, i) {
        return Some(found);
    }
    let word = word_at(tokens, i)?;
    if starts_a_phrase(word) {
        let first = PHRASES.partition_point(|(words, _)| words[0] < word);
        for (words, expr) in PHRASES[first..]
            .iter()
            .take_while(|(words, _)| words[0] == word)
        {
            if words_at(tokens, i, words) {
                return Some((words.len(), *expr));
            }
        }
    }
    let expr = match word {
        b"today" | b"tonight" | b"tonite" | b"eod" | b"cob" | b"eob" => Expr::EndOfDay(0),
        b"tomorrow" | b"tomorow" | b"tmrw" | b"tmr" | b"tomorrows" => Expr::EndOfDay(1),
        b"asap" => Expr::Asap,
        b"shortly" | b"soon" | b"momentarily" | b"immediately" => Expr::Shortly,
        _ => Expr::Weekday(weekday(word)?),
    };
    Some((1, expr))
}

fn weekday(word: &[u8]) -> Option<Weekday> {
    Some(match word {
        b"monday" | b"mon" => Weekday::Monday,
        b"tuesday" | b"tues" => Weekday::Tuesday,
        b"wednesday" | b"weds" => Weekday::Wednesday,
        b"thursday" | b"thurs" => Weekday::Thursday,
        b"friday" | b"fri" => Weekday::Friday,
        b"saturday" => Weekday::Saturday,
        b"sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn month(word: &[u8]) -> Option<i8> {
    Some(match word {
        b"january" | b"jan" => 1,
        b"february" | b"feb" => 2,
        b"march" | b"mar" => 3,
        b"april" | b"apr" => 4,
        b"may" => 5,
        b"june" | b"jun" => 6,
        b"july" | b"jul" => 7,
        b"august" | b"aug" => 8,
        b"september" | b"sept" | b"sep" => 9,
        b"october" | b"oct" => 10,
        b"november" | b"nov" => 11,
        b"december" | b"dec" => 12,
        _ => return None,
    })
}

fn day_number(token: Option<&Token>) -> Option<(i8, bool)> {
    match token?.kind {
        Kind::Number { value, ordinal } if (1..=31).contains(&value) => {
            Some((value as i8, ordinal))
        }
        _ => None,
    }
}

/// "Dec 3", "December 3rd", "3 December", "3rd of December", "the 28th".
fn date_at(tokens: &[Token], i: usize) -> Option<(usize, Expr)> {
    if let Some(m) = word_at(tokens, i).and_then(month)
        && let Some((day, _)) = day_number(tokens.get(i + 1))
    {
        return Some((2, Expr::MonthDay(m, day)));
    }
    if let Some((day, ordinal)) = day_number(tokens.get(i)) {
        let of = usize::from(word_at(tokens, i + 1) == Some(b"of"));
        if let Some(m) = word_at(tokens, i + 1 + of).and_then(month)
            && (ordinal || of == 0)
        {
            return Some((2 + of, Expr::MonthDay(m, day)));
        }
    }
    if word_at(tokens, i) == Some(b"the")
        && let Some((day, true)) = day_number(tokens.get(i + 1))
    {
        return Some((2, Expr::DayOfMonth(day)));
    }
    None
}

fn number_word(word: &[u8]) -> Option<i64> {
    Some(match word {
        b"one" => 1,
        b"two" => 2,
        b"three" => 3,
        b"four" => 4,
        b"five" => 5,
        b"six" => 6,
        b"seven" => 7,
        b"eight" => 8,
        b"nine" => 9,
        b"ten" => 10,
        b"twelve" => 12,
        b"fifteen" => 15,
        b"twenty" => 20,
        b"thirty" => 30,
        b"fortyeight" => 48,
        _ => return None,
    })
}

/// A number at `i`: digits, a number word, or (after a preposition only) "a", "an",
/// "a couple of", "a few"; returns the value and the tokens it took.
fn count_at(tokens: &[Token], i: usize, loose: bool) -> Option<(i64, usize)> {
    let token = tokens.get(i)?;
    match &token.kind {
        Kind::Number {
            value,
            ordinal: false,
        } => Some((*value, 1)),
        Kind::Word(word) => {
            let word = word.as_bytes();
            if let Some(value) = number_word(word) {
                return Some((value, 1));
            }
            if !loose {
                return None;
            }
            if words_at(tokens, i, &[b"a", b"couple", b"of"]) {
                Some((2, 3))
            } else if words_at(tokens, i, &[b"a", b"couple"])
                || words_at(tokens, i, &[b"a", b"few"])
            {
                Some((
                    if word_at(tokens, i + 1) == Some(b"few") {
                        3
                    } else {
                        2
                    },
                    2,
                ))
            } else if matches!(word, b"a" | b"an" | b"one") {
                Some((1, 1))
            } else if word == b"few" || word == b"couple" {
                Some((if word == b"few" { 3 } else { 2 }, 1))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// "within 24 hours", "in 2-3 business days", "24-48 hrs", "the next few days". Without
/// `bare`, a count needs a preposition before it ("within", "in", "next", "under", "than")
/// unless its unit is business days, and a count followed by "ago" is no deadline.
fn duration_at(tokens: &[Token], i: usize, bare: bool) -> Option<(usize, Expr)> {
    let before = i.checked_sub(1).and_then(|b| word_at(tokens, b));
    let led = bare
        || matches!(
            before,
            Some(
                b"within"
                    | b"in"
                    | b"next"
                    | b"under"
                    | b"than"
                    | b"about"
                    | b"around"
                    | b"approximately"
                    | b"to"
            )
        );
    if matches!(before, Some(b"last" | b"past" | b"for")) && !bare {
        return None;
    }
    let (mut count, mut len) = count_at(tokens, i, led)?;
    // A range: "2-3", "2 to 3", "24 - 48": its upper end.
    let sep = match tokens.get(i + len).map(|t| &t.kind) {
        Some(Kind::Dash) => 1,
        Some(Kind::Word(w)) if matches!(w.as_bytes(), b"to" | b"or") => 1,
        _ => 0,
    };
    if sep == 1
        && let Some((upper, upper_len)) = count_at(tokens, i + len + 1, false)
    {
        count = count.max(upper);
        len += 1 + upper_len;
    }
    let unit_at = i + len;
    let business = matches!(word_at(tokens, unit_at), Some(b"business" | b"working"));
    let unit = word_at(tokens, unit_at + usize::from(business))?;
    let within = if business {
        if !matches!(unit, b"day" | b"days") {
            return None;
        }
        Within::BusinessDays(count)
    } else {
        let seconds = match unit {
            b"minute" | b"minutes" | b"min" | b"mins" => 60,
            b"hour" | b"hours" | b"hr" | b"hrs" | b"h" => 3600,
            b"day" | b"days" => 86_400,
            b"week" | b"weeks" | b"wk" | b"wks" => 7 * 86_400,
            _ => return None,
        };
        if !led {
            return None;
        }
        Within::Duration(SignedDuration::from_secs(count.checked_mul(seconds)?))
    };
    let len = len + 1 + usize::from(business);
    if word_at(tokens, i + len) == Some(b"ago") {
        return None;
    }
    Some((len, Expr::Within(within)))
}

/// The end (23:59:59) of `date` in the offset of `like`.
fn end_of(date: Date, like: &Zoned) -> Option<Zoned> {
    date.at(23, 59, 59, 0)
        .to_zoned(like.time_zone().clone())
        .ok()
}

fn add_business_days(moment: &Zoned, days: i64) -> Option<Zoned> {
    let mut at = moment.clone();
    let mut counted = 0;
    while counted < days {
        at = at.checked_add(jiff::Span::new().days(1)).ok()?;
        if !matches!(at.weekday(), Weekday::Saturday | Weekday::Sunday) {
            counted += 1;
        }
    }
    Some(at)
}

fn resolve(expr: Expr, moment: &Zoned, windows: &Windows) -> Option<Zoned> {
    let today = moment.date();
    let days_ahead = |n: i64| today.checked_add(jiff::Span::new().days(n)).ok();
    match expr {
        Expr::EndOfDay(n) => end_of(days_ahead(n)?, moment),
        Expr::Within(within) => within.after(moment),
        Expr::Shortly => windows.shortly.after(moment),
        Expr::Asap => windows.asap.after(moment),
        Expr::Nothing => None,
        Expr::Weekday(day) => {
            let mut ahead = i64::from(day.since(today.weekday()));
            if ahead == 0 {
                ahead = 7;
            }
            end_of(days_ahead(ahead)?, moment)
        }
        Expr::ThisWeek => {
            let ahead = i64::from(Weekday::Sunday.since(today.weekday()));
            end_of(days_ahead(ahead)?, moment)
        }
        Expr::NextWeek => {
            let ahead = i64::from(Weekday::Sunday.since(today.weekday())) + 7;
            end_of(days_ahead(ahead)?, moment)
        }
        Expr::DayOfMonth(day) => {
            let mut first = today.first_of_month();
            for _ in 0..3 {
                let clamped = day.min(first.days_in_month());
                let date = first.with().day(clamped).build().ok()?;
                if date >= today {
                    return end_of(date, moment);
                }
                first = first.checked_add(jiff::Span::new().months(1)).ok()?;
            }
            None
        }
        Expr::MonthDay(m, day) => {
            for year in [today.year(), today.year() + 1] {
                if let Ok(date) = Date::new(year, m, day)
                    && date >= today
                {
                    return end_of(date, moment);
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::{format_rfc3339, parse_started_at};

    #[test]
    #[allow(clippy::too_many_lines)] // a table of cases, one per line
    fn deadline_table() {
        // Promise moments: Wed 2026-11-18 10:00 -05:00, Fri 2026-11-20 15:00 -05:00, Mon
        // 2026-11-23 23:30 -05:00, Sat 2026-11-28 09:00 +05:30.
        let wed = "2026-11-18T10:00:00-05:00";
        let fri = "2026-11-20T15:00:00-05:00";
        let late = "2026-11-23T23:30:00-05:00";
        let sat = "2026-11-28T09:00:00+05:30";
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            // (moment, text, deadline, words)
            (
                wed,
                "I'll call you back today",
                "2026-11-18T23:59:59-05:00",
                Some("today"),
            ),
            (
                wed,
                "We'll call you tonight.",
                "2026-11-18T23:59:59-05:00",
                Some("tonight"),
            ),
            (
                wed,
                "you'll hear from us by end of day",
                "2026-11-18T23:59:59-05:00",
                Some("end of day"),
            ),
            (
                wed,
                "we'll email you by the end of the day",
                "2026-11-18T23:59:59-05:00",
                Some("end of the day"),
            ),
            (
                wed,
                "I'll follow up EOD",
                "2026-11-18T23:59:59-05:00",
                Some("EOD"),
            ),
            (
                wed,
                "I'll call you back tomorrow",
                "2026-11-19T23:59:59-05:00",
                Some("tomorrow"),
            ),
            (
                wed,
                "Someone will call you tomorrow morning",
                "2026-11-19T23:59:59-05:00",
                Some("tomorrow"),
            ),
            (
                late,
                "I'll call you back tomorrow",
                "2026-11-24T23:59:59-05:00",
                Some("tomorrow"),
            ),
            (
                wed,
                "we'll reach out the day after tomorrow",
                "2026-11-20T23:59:59-05:00",
                Some("day after tomorrow"),
            ),
            (
                wed,
                "I'll call you back within 2 hours",
                "2026-11-18T12:00:00-05:00",
                Some("2 hours"),
            ),
            (
                wed,
                "we'll get back to you in 30 minutes",
                "2026-11-18T10:30:00-05:00",
                Some("30 minutes"),
            ),
            (
                wed,
                "our team aims to reply within 24hrs",
                "2026-11-19T10:00:00-05:00",
                Some("24hrs"),
            ),
            (
                wed,
                "we'll follow up within the next 24-48 hours",
                "2026-11-20T10:00:00-05:00",
                Some("24-48 hours"),
            ),
            (
                wed,
                "you'll hear from us in 3 days",
                "2026-11-21T10:00:00-05:00",
                Some("3 days"),
            ),
            (
                wed,
                "we'll be in touch within a week",
                "2026-11-25T10:00:00-05:00",
                Some("a week"),
            ),
            (
                wed,
                "we will contact you in two weeks",
                "2026-12-02T10:00:00-05:00",
                Some("two weeks"),
            ),
            (
                wed,
                "we'll reach out within an hour",
                "2026-11-18T11:00:00-05:00",
                Some("an hour"),
            ),
            (
                wed,
                "we'll call you in the next few days",
                "2026-11-21T10:00:00-05:00",
                Some("few days"),
            ),
            (
                wed,
                "we'll call within the hour",
                "2026-11-18T11:00:00-05:00",
                Some("within the hour"),
            ),
            (
                fri,
                "we'll email you within 2 business days",
                "2026-11-24T15:00:00-05:00",
                Some("2 business days"),
            ),
            (
                fri,
                "expect a call in 3-5 business days",
                "2026-11-27T15:00:00-05:00",
                Some("3-5 business days"),
            ),
            (
                wed,
                "we'll follow up in 1 to 2 working days",
                "2026-11-20T10:00:00-05:00",
                Some("1 to 2 working days"),
            ),
            (
                sat,
                "we'll reply within 1 business day",
                "2026-11-30T09:00:00+05:30",
                Some("1 business day"),
            ),
            (
                wed,
                "I'll call you back by Friday",
                "2026-11-20T23:59:59-05:00",
                Some("Friday"),
            ),
            (
                wed,
                "we'll call you on Wednesday",
                "2026-11-25T23:59:59-05:00",
                Some("Wednesday"),
            ),
            (
                fri,
                "we'll follow up on Monday",
                "2026-11-23T23:59:59-05:00",
                Some("Monday"),
            ),
            (
                wed,
                "You should hear back either tomorrow or Monday",
                "2026-11-23T23:59:59-05:00",
                Some("tomorrow or Monday"),
            ),
            (
                wed,
                "we'll contact you next week",
                "2026-11-29T23:59:59-05:00",
                Some("next week"),
            ),
            (
                wed,
                "we'll update you by the end of the week",
                "2026-11-22T23:59:59-05:00",
                Some("end of the week"),
            ),
            (
                wed,
                "we'll send it by the 28th",
                "2026-11-28T23:59:59-05:00",
                Some("the 28th"),
            ),
            (
                wed,
                "we'll send it by the 3rd",
                "2026-12-03T23:59:59-05:00",
                Some("the 3rd"),
            ),
            (
                wed,
                "I'll email you the confirmation by Dec 3",
                "2026-12-03T23:59:59-05:00",
                Some("Dec 3"),
            ),
            (
                wed,
                "we'll call you on 2nd of January",
                "2027-01-02T23:59:59-05:00",
                Some("2nd of January"),
            ),
            (
                wed,
                "we'll call on November 18th",
                "2026-11-18T23:59:59-05:00",
                Some("November 18th"),
            ),
            (
                wed,
                "A member of our team will be in touch shortly",
                "2026-11-18T14:00:00-05:00",
                Some("shortly"),
            ),
            (
                wed,
                "we'll reach out asap",
                "2026-11-19T10:00:00-05:00",
                Some("asap"),
            ),
            (
                fri,
                "we will call you as soon as possible",
                "2026-11-23T15:00:00-05:00",
                Some("as soon as possible"),
            ),
            (
                wed,
                "we'll be back in touch as soon as we have more information",
                "2026-11-20T10:00:00-05:00",
                None,
            ),
            (
                wed,
                "We will follow up with you",
                "2026-11-20T10:00:00-05:00",
                None,
            ),
            (
                fri,
                "We will follow up with you",
                "2026-11-24T15:00:00-05:00",
                None,
            ),
            (
                wed,
                "we'll call you, the fault started 3 days ago",
                "2026-11-20T10:00:00-05:00",
                None,
            ),
            (
                wed,
                "I've been on this for 2 hours, I'll call you back",
                "2026-11-20T10:00:00-05:00",
                None,
            ),
            (
                wed,
                "you may see 5 charges; we'll follow up",
                "2026-11-20T10:00:00-05:00",
                None,
            ),
            (
                wed,
                "Tomorrow someone will call you",
                "2026-11-19T23:59:59-05:00",
                Some("Tomorrow"),
            ),
            (
                wed,
                "Today was busy. We'll call you back in 2 hours",
                "2026-11-18T12:00:00-05:00",
                Some("2 hours"),
            ),
        ];
        let windows = Windows::default();
        for (moment, text, expected, words) in cases {
            let moment = parse_started_at(moment).unwrap();
            let promise_at = text
                .find("call")
                .or_else(|| text.find("ll "))
                .or_else(|| text.find("will"))
                .unwrap_or(0);
            let promise_at = if text.starts_with("Tomorrow") {
                text.len() / 2
            } else {
                promise_at
            };
            let deadline = find_deadline(text, promise_at, &moment, &windows).unwrap();
            assert_eq!(format_rfc3339(&deadline.at), *expected, "{text}");
            assert_eq!(deadline.words.as_deref(), *words, "{text}");
        }
    }

    #[test]
    fn words_held_inline_match_as_whole_words_did() {
        let moment = parse_started_at("2026-11-18T10:00:00-05:00").unwrap();
        let windows = Windows::default();
        let deadline = |text: &str| find_deadline(text, 0, &moment, &windows).unwrap();
        // A letter outside ASCII that folds into it (U+212A, the Kelvin sign, to "k").
        let folded = deadline("I'll call you next wee\u{212A}");
        assert_eq!(folded.at, deadline("I'll call you next week").at);
        assert_eq!(folded.words.as_deref(), Some("next wee\u{212A}"));
        // Words longer than any time word, or with other letters, are no time words.
        for text in [
            "I'll call you in 2 hourssssssssssssssss",
            "I'll call you in 2 h\u{f6}urs",
        ] {
            assert_eq!(deadline(text).words, None, "{text}");
        }
        let after = deadline("I'll call you \u{e9}t\u{e9} tomorrow's end");
        assert_eq!(after.words.as_deref(), Some("tomorrow's"));
        assert_eq!(
            tokenize("Approximately 3rd-4TH X")
                .iter()
                .map(|t| (t.word().map(<[u8]>::to_vec), t.start, t.end))
                .collect::<Vec<_>>(),
            [
                (Some(b"approximately".to_vec()), 0, 13),
                (None, 14, 17),
                (None, 17, 18),
                (None, 18, 21),
                (Some(b"x".to_vec()), 22, 23),
            ]
        );
    }

    #[test]
    fn phrases_are_sorted_by_their_first_word() {
        assert!(PHRASES.is_sorted_by_key(|(words, _)| words[0]));
        // And each first word is known as one, or its phrases are never looked up.
        for (words, _) in PHRASES {
            assert!(starts_a_phrase(words[0]), "{:?}", words[0]);
        }
    }

    #[test]
    fn windows_parse_from_rule_fields() {
        let cases: &[(&str, Option<Within>)] = &[
            (
                "4 hours",
                Some(Within::Duration(SignedDuration::from_hours(4))),
            ),
            (
                "30 minutes",
                Some(Within::Duration(SignedDuration::from_mins(30))),
            ),
            ("2 business days", Some(Within::BusinessDays(2))),
            (
                "1 week",
                Some(Within::Duration(SignedDuration::from_hours(168))),
            ),
            (
                "3 days",
                Some(Within::Duration(SignedDuration::from_hours(72))),
            ),
            ("tomorrow", None),
            ("4", None),
            ("4 hours please", None),
        ];
        for (text, expected) in cases {
            assert_eq!(Within::parse(text).ok(), *expected, "{text}");
        }
    }
}

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
    let tokens = tokenize(text);
    let mut found: Vec<(usize, usize, Expr)> = Vec::new(); // (first token, token count, expr)
    let mut i = 0;
    while i < tokens.len() {
        match expression_at(&tokens, i) {
            Some((len, expr)) => {
                found.push((i, len, expr));
                i += len;
            }
            None => i += 1,
        }
    }
    found.retain(|(_, _, expr)| !matches!(expr, Expr::Nothing));
    let chosen = found
        .iter()
        .position(|(first, _, _)| tokens[*first].start >= promise_at)
        .or_else(|| found.len().checked_sub(1));
    let Some(chosen) = chosen else {
        return Some(Deadline {
            at: windows.default_within.after(moment)?,
            words: None,
        });
    };
    let (first, len, expr) = found[chosen];
    let mut at = resolve(expr, moment, windows)?;
    let mut last = first + len - 1;
    // "tomorrow or Monday", "Friday or early next week": the later of the two.
    if let Some(&(next_first, next_len, next_expr)) = found.get(chosen + 1)
        && next_first >= last + 2
        && next_first <= last + 3
        && tokens[last + 1..next_first].iter().any(|t| t.is_word("or"))
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

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Word(String),
    Number { value: i64, ordinal: bool },
    Dash,
}

#[derive(Debug, Clone, PartialEq)]
struct Token {
    kind: Kind,
    start: usize,
    end: usize,
}

impl Token {
    fn is_word(&self, word: &str) -> bool {
        matches!(&self.kind, Kind::Word(w) if w == word)
    }

    fn word(&self) -> Option<&str> {
        match &self.kind {
            Kind::Word(w) => Some(w),
            _ => None,
        }
    }
}

/// Words (lower case, apostrophes dropped), numbers (with an ordinal suffix absorbed: "28th")
/// and dashes, with their byte ranges in the original text.
fn tokenize(text: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (start, c) = chars[i];
        if c.is_ascii_digit() {
            let mut value: i64 = 0;
            while i < chars.len() && chars[i].1.is_ascii_digit() {
                value = value
                    .saturating_mul(10)
                    .saturating_add(i64::from(chars[i].1 as u8 - b'0'));
                i += 1;
            }
            let mut end = chars.get(i).map_or(text.len(), |(o, _)| *o);
            let mut ordinal = false;
            if i + 1 < chars.len() {
                let suffix: String = chars[i..i + 2]
                    .iter()
                    .map(|(_, c)| c.to_ascii_lowercase())
                    .collect();
                let alone = chars.get(i + 2).is_none_or(|(_, c)| !c.is_alphanumeric());
                if alone && matches!(suffix.as_str(), "st" | "nd" | "rd" | "th") {
                    ordinal = true;
                    i += 2;
                    end = chars.get(i).map_or(text.len(), |(o, _)| *o);
                }
            }
            tokens.push(Token {
                kind: Kind::Number { value, ordinal },
                start,
                end,
            });
        } else if c.is_alphabetic() {
            let mut word = String::new();
            let mut end = start;
            while i < chars.len() {
                let (offset, c) = chars[i];
                if c.is_alphabetic() {
                    word.extend(c.to_lowercase());
                    end = offset + c.len_utf8();
                } else if !matches!(c, '\'' | '\u{2019}') {
                    break;
                }
                i += 1;
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
            i += 1;
        }
    }
    tokens
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

fn word_at(tokens: &[Token], i: usize) -> Option<&str> {
    tokens.get(i).and_then(Token::word)
}

fn words_at(tokens: &[Token], i: usize, words: &[&str]) -> bool {
    words
        .iter()
        .enumerate()
        .all(|(k, w)| word_at(tokens, i + k) == Some(w))
}

fn expression_at(tokens: &[Token], i: usize) -> Option<(usize, Expr)> {
    if let Some(found) = duration_at(tokens, i, false) {
        return Some(found);
    }
    if let Some(found) = date_at(tokens, i) {
        return Some(found);
    }
    let word = word_at(tokens, i)?;
    let phrases: &[(&[&str], Expr)] = &[
        (&["as", "soon", "as", "possible"], Expr::Asap),
        (&["as", "soon", "as", "we", "can"], Expr::Asap),
        (&["as", "soon", "as", "i", "can"], Expr::Asap),
        (&["as", "quickly", "as", "possible"], Expr::Asap),
        (&["as", "soon", "as"], Expr::Nothing),
        (&["at", "the", "earliest"], Expr::Asap),
        (&["day", "after", "tomorrow"], Expr::EndOfDay(2)),
        (&["end", "of", "the", "day"], Expr::EndOfDay(0)),
        (&["end", "of", "day"], Expr::EndOfDay(0)),
        (&["end", "of", "today"], Expr::EndOfDay(0)),
        (&["end", "of", "business"], Expr::EndOfDay(0)),
        (&["close", "of", "business"], Expr::EndOfDay(0)),
        (&["end", "of", "the", "week"], Expr::ThisWeek),
        (&["end", "of", "week"], Expr::ThisWeek),
        (&["end", "of", "next", "week"], Expr::NextWeek),
        (&["this", "week"], Expr::ThisWeek),
        (&["next", "week"], Expr::NextWeek),
        (&["later", "today"], Expr::EndOfDay(0)),
        (&["later", "this", "week"], Expr::ThisWeek),
        (&["this", "morning"], Expr::EndOfDay(0)),
        (&["this", "afternoon"], Expr::EndOfDay(0)),
        (&["this", "evening"], Expr::EndOfDay(0)),
        (
            &["within", "the", "hour"],
            Expr::Within(Within::Duration(SignedDuration::from_hours(1))),
        ),
        (&["in", "a", "bit"], Expr::Shortly),
        (&["in", "a", "moment"], Expr::Shortly),
        (&["in", "a", "few", "moments"], Expr::Shortly),
        (&["right", "away"], Expr::Shortly),
    ];
    for (words, expr) in phrases {
        if words[0] == word && words_at(tokens, i, words) {
            return Some((words.len(), *expr));
        }
    }
    let expr = match word {
        "today" | "tonight" | "tonite" | "eod" | "cob" | "eob" => Expr::EndOfDay(0),
        "tomorrow" | "tomorow" | "tmrw" | "tmr" | "tomorrows" => Expr::EndOfDay(1),
        "asap" => Expr::Asap,
        "shortly" | "soon" | "momentarily" | "immediately" => Expr::Shortly,
        _ => Expr::Weekday(weekday(word)?),
    };
    Some((1, expr))
}

fn weekday(word: &str) -> Option<Weekday> {
    Some(match word {
        "monday" | "mon" => Weekday::Monday,
        "tuesday" | "tues" => Weekday::Tuesday,
        "wednesday" | "weds" => Weekday::Wednesday,
        "thursday" | "thurs" => Weekday::Thursday,
        "friday" | "fri" => Weekday::Friday,
        "saturday" => Weekday::Saturday,
        "sunday" => Weekday::Sunday,
        _ => return None,
    })
}

fn month(word: &str) -> Option<i8> {
    Some(match word {
        "january" | "jan" => 1,
        "february" | "feb" => 2,
        "march" | "mar" => 3,
        "april" | "apr" => 4,
        "may" => 5,
        "june" | "jun" => 6,
        "july" | "jul" => 7,
        "august" | "aug" => 8,
        "september" | "sept" | "sep" => 9,
        "october" | "oct" => 10,
        "november" | "nov" => 11,
        "december" | "dec" => 12,
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
        let of = usize::from(word_at(tokens, i + 1) == Some("of"));
        if let Some(m) = word_at(tokens, i + 1 + of).and_then(month)
            && (ordinal || of == 0)
        {
            return Some((2 + of, Expr::MonthDay(m, day)));
        }
    }
    if word_at(tokens, i) == Some("the")
        && let Some((day, true)) = day_number(tokens.get(i + 1))
    {
        return Some((2, Expr::DayOfMonth(day)));
    }
    None
}

fn number_word(word: &str) -> Option<i64> {
    Some(match word {
        "one" => 1,
        "two" => 2,
        "three" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "twelve" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "thirty" => 30,
        "fortyeight" => 48,
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
            if let Some(value) = number_word(word) {
                return Some((value, 1));
            }
            if !loose {
                return None;
            }
            if words_at(tokens, i, &["a", "couple", "of"]) {
                Some((2, 3))
            } else if words_at(tokens, i, &["a", "couple"]) || words_at(tokens, i, &["a", "few"]) {
                Some((
                    if word_at(tokens, i + 1) == Some("few") {
                        3
                    } else {
                        2
                    },
                    2,
                ))
            } else if matches!(word.as_str(), "a" | "an" | "one") {
                Some((1, 1))
            } else if word == "few" || word == "couple" {
                Some((if word == "few" { 3 } else { 2 }, 1))
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
                "within"
                    | "in"
                    | "next"
                    | "under"
                    | "than"
                    | "about"
                    | "around"
                    | "approximately"
                    | "to"
            )
        );
    if matches!(before, Some("last" | "past" | "for")) && !bare {
        return None;
    }
    let (mut count, mut len) = count_at(tokens, i, led)?;
    // A range: "2-3", "2 to 3", "24 - 48": its upper end.
    let sep = match tokens.get(i + len).map(|t| &t.kind) {
        Some(Kind::Dash) => 1,
        Some(Kind::Word(w)) if w == "to" || w == "or" => 1,
        _ => 0,
    };
    if sep == 1
        && let Some((upper, upper_len)) = count_at(tokens, i + len + 1, false)
    {
        count = count.max(upper);
        len += 1 + upper_len;
    }
    let unit_at = i + len;
    let business = matches!(word_at(tokens, unit_at), Some("business" | "working"));
    let unit = word_at(tokens, unit_at + usize::from(business))?;
    let within = if business {
        if !matches!(unit, "day" | "days") {
            return None;
        }
        Within::BusinessDays(count)
    } else {
        let seconds = match unit {
            "minute" | "minutes" | "min" | "mins" => 60,
            "hour" | "hours" | "hr" | "hrs" | "h" => 3600,
            "day" | "days" => 86_400,
            "week" | "weeks" | "wk" | "wks" => 7 * 86_400,
            _ => return None,
        };
        if !led {
            return None;
        }
        Within::Duration(SignedDuration::from_secs(count.checked_mul(seconds)?))
    };
    let len = len + 1 + usize::from(business);
    if word_at(tokens, i + len) == Some("ago") {
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

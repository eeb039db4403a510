//! The conversation model every reader produces, and the readers themselves.
//!
//! Whatever the input format, a reader turns its bytes into [`Conversation`]s: an id, optional
//! metadata (agent, customer, start time, channel, direction, team) and the turns in order.
//! Everything downstream (matching, checks, scorecards) sees only this model, so a new export
//! format is one new reader here and nothing else.
//!
//! Every conversation carries its [`Source`] (file and line) so that findings and skip
//! messages can point at the place a person would open.
//!
//! Two kinds of reader live here. Streams (canonical JSON Lines, turn-per-row CSV) are cut
//! into chunks by the input layer. Documents (scripts, WebVTT captions and the contact-center
//! exports: Transcribe Call Analytics, Contact Lens, post-call analytics, CCAI Insights) hold
//! one conversation per file and are parsed whole: each such reader is a function
//! `parse(bytes, &DocumentContext) -> Result<Conversation, ReadError>`, and a file that names
//! no conversation id gets `DocumentContext::default_id` (its path relative to the audited
//! folder). A document with a missing or wrong-typed field is one skip whose message names
//! the file, the line and the field path, never a panic.

pub(crate) mod amazon;
pub(crate) mod ccai;
mod crlf;
pub mod csv;
pub mod jsonl;
pub(crate) mod pca;
pub mod script;
pub(crate) mod vtt;

pub(crate) use crlf::CrlfAsLf;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;

/// Who spoke a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    Agent,
    Customer,
    System,
}

impl Speaker {
    /// Parses a speaker label as the canonical formats write it (any case).
    pub(crate) fn parse(label: &str) -> Option<Speaker> {
        // The labels as the canonical formats write them first: a compare of a few bytes,
        // where trimming and three case-blind compares took 114 instructions a turn.
        // Callgrind, 10 MB corpus (65,780 turns), `audit -q -j1`: 7.5 M instructions in
        // Speaker::parse before, 0.7 M after.
        match label {
            "agent" => return Some(Speaker::Agent),
            "customer" => return Some(Speaker::Customer),
            "system" => return Some(Speaker::System),
            _ => {}
        }
        let label = label.trim();
        if label.eq_ignore_ascii_case("agent") {
            Some(Speaker::Agent)
        } else if label.eq_ignore_ascii_case("customer") {
            Some(Speaker::Customer)
        } else if label.eq_ignore_ascii_case("system") {
            Some(Speaker::System)
        } else {
            None
        }
    }

    /// The speaker a role word of an export names, in any case: `agent`; `customer` or
    /// `caller`; `system`, `ivr`, `bot`, `custom_bot` or `supervisor`. A supervisor who
    /// speaks (a barge-in, a whisper) is not the agent being scored, so is `system`, as are
    /// machines. The one table of the readers that take roles from labels (Amazon's
    /// participant roles, WebVTT voices, script labels).
    pub(crate) fn of_role(word: &str) -> Option<Speaker> {
        const ROLES: [(&str, Speaker); 8] = [
            ("agent", Speaker::Agent),
            ("customer", Speaker::Customer),
            ("caller", Speaker::Customer),
            ("system", Speaker::System),
            ("supervisor", Speaker::System),
            ("ivr", Speaker::System),
            ("bot", Speaker::System),
            ("custom_bot", Speaker::System),
        ];
        let word = word.trim();
        ROLES
            .iter()
            .find(|(role, _)| word.eq_ignore_ascii_case(role))
            .map(|&(_, speaker)| speaker)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Agent => "agent",
            Speaker::Customer => "customer",
            Speaker::System => "system",
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether the contact came in or went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    pub(crate) fn parse(value: &str) -> Option<Direction> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("inbound") {
            Some(Direction::Inbound)
        } else if value.eq_ignore_ascii_case("outbound") {
            Some(Direction::Outbound)
        } else {
            None
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Where a conversation (or one of its turns) was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The file as the user named it (or as found under a named folder); `-` for standard input.
    pub(crate) file: Arc<str>,
    /// 1-based line of the conversation in that file.
    pub(crate) line: u64,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // About the whole file (it could not be opened).
            f.write_str(&self.file)
        } else {
            write!(f, "{}:{}", self.file, self.line)
        }
    }
}

/// One turn of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
    /// Offset from the conversation's start, in milliseconds.
    pub(crate) start_ms: Option<i64>,
    pub(crate) end_ms: Option<i64>,
    /// The agent who spoke this turn when it is not the conversation's agent (a transfer).
    pub(crate) agent_id: Option<String>,
    /// The line of the turn in its file, for formats with a line per turn (scripts, CSV).
    pub(crate) line: Option<u64>,
}

impl Turn {
    pub(crate) fn new(speaker: Speaker, text: impl Into<String>) -> Turn {
        Turn {
            speaker,
            text: text.into(),
            start_ms: None,
            end_ms: None,
            agent_id: None,
            line: None,
        }
    }
}

/// A conversation in the canonical model.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversation {
    pub(crate) id: String,
    pub(crate) agent_id: Option<String>,
    pub(crate) customer_id: Option<String>,
    /// The start time with the offset it was written with.
    pub(crate) started_at: Option<jiff::Zoned>,
    pub channel: Option<String>,
    pub(crate) direction: Option<Direction>,
    pub(crate) team: Option<String>,
    pub turns: Vec<Turn>,
    pub(crate) source: Source,
    /// Inline `# callqa: ignore` directives of a script, in turn order.
    pub(crate) suppressions: Vec<Suppression>,
}

/// A script's `# callqa: ignore [RULE, ...]` directive: the findings of those rules (of every
/// rule when none is named) on one turn are suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Suppression {
    /// The 0-based index of the turn the directive stands above.
    pub(crate) turn: usize,
    /// The rule ids named; `None`: every rule.
    pub(crate) rules: Option<Vec<String>>,
}

impl Conversation {
    /// A conversation with an id and a source, no metadata and no turns yet.
    pub(crate) fn new(id: impl Into<String>, source: Source) -> Conversation {
        Conversation {
            id: id.into(),
            agent_id: None,
            customer_id: None,
            started_at: None,
            channel: None,
            direction: None,
            team: None,
            turns: Vec::new(),
            source,
            suppressions: Vec::new(),
        }
    }
}

/// What a whole-file reader is told besides the file's bytes.
#[derive(Debug, Clone, Copy)]
pub struct DocumentContext<'a> {
    /// The file as findings and messages name it.
    pub file: &'a Arc<str>,
    /// The id of a conversation whose file names none: the path relative to the audited
    /// folder (the file name for a file named on the command line).
    pub default_id: &'a str,
    /// `--agent-speakers`: the speaker labels or voice names that are agents; when given,
    /// every other speaker of a post-call analytics file or caption file is a customer.
    pub agent_speakers: &'a [String],
}

impl DocumentContext<'_> {
    /// Where the document is, at `line`.
    pub(crate) fn source(&self, line: u64) -> Source {
        Source {
            file: self.file.clone(),
            line,
        }
    }

    /// A skip of the whole document: the field is wrong or missing.
    pub(crate) fn invalid(&self, line: u64, message: String) -> ReadError {
        ReadError {
            source: self.source(line),
            kind: SkipKind::Invalid,
            message,
        }
    }

    /// Whether `label` is named by `--agent-speakers` (any case).
    pub(crate) fn is_listed_agent(&self, label: &str) -> bool {
        self.agent_speakers
            .iter()
            .any(|name| name.trim().eq_ignore_ascii_case(label.trim()))
    }

    /// The document as UTF-8 text, without a byte order mark.
    pub(crate) fn text<'b>(&self, bytes: &'b [u8], what: &str) -> Result<&'b str, ReadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        std::str::from_utf8(bytes).map_err(|err| {
            let valid = &bytes[..err.valid_up_to()];
            let line = valid.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
            ReadError {
                source: self.source(line),
                kind: SkipKind::Malformed,
                message: format!("the {what} is not valid UTF-8"),
            }
        })
    }

    /// Parses the document as JSON into `T`. A syntax error is `malformed`; a missing field
    /// or a value of the wrong type is `invalid`, with the path of the field
    /// (`Transcript[3].Content`) and its line.
    pub(crate) fn json<T: DeserializeOwned>(
        &self,
        bytes: &[u8],
        what: &str,
    ) -> Result<T, ReadError> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut deserializer = serde_json::Deserializer::from_slice(bytes);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            self.json_error(what, &path, &err.into_inner())
        })?;
        deserializer
            .end()
            .map_err(|err| self.json_error(what, "", &err))?;
        Ok(value)
    }

    fn json_error(&self, what: &str, path: &str, err: &serde_json::Error) -> ReadError {
        let kind = if err.is_data() {
            SkipKind::Invalid
        } else {
            SkipKind::Malformed
        };
        let text = err.to_string();
        let reason = text
            .rfind(" at line ")
            .map_or(text.as_str(), |at| &text[..at]);
        let message = match (kind, path) {
            (SkipKind::Invalid, "." | "") => format!("invalid {what}: {reason}"),
            (SkipKind::Invalid, path) => format!("invalid {what}: field {path}: {reason}"),
            _ => format!(
                "malformed JSON in a {what}: {reason} (column {})",
                err.column()
            ),
        };
        ReadError {
            source: self.source(err.line().max(1) as u64),
            kind,
            message,
        }
    }
}

/// Milliseconds from a count of seconds as exports write them (`12.345`), rounded.
pub(crate) fn seconds_to_ms(seconds: f64) -> Option<i64> {
    (0.0..1e12)
        .contains(&seconds)
        .then(|| (seconds * 1000.0).round() as i64)
}

/// The earliest of absolute turn times becomes the conversation's start (in UTC), and each
/// turn's time an offset from it in ms: the canonical form of chat exports.
pub(crate) fn anchor_absolute_times(
    conversation: &mut Conversation,
    times: &[Option<jiff::Timestamp>],
) {
    let Some(first) = times.iter().flatten().min().copied() else {
        return;
    };
    conversation.started_at = Some(first.to_zoned(jiff::tz::TimeZone::UTC));
    for (turn, time) in conversation.turns.iter_mut().zip(times) {
        if let Some(time) = time {
            let offset = time.as_millisecond() - first.as_millisecond();
            turn.start_ms = Some(offset);
        }
    }
}

/// The id agents are grouped under when nothing names them.
pub(crate) const UNKNOWN_AGENT: &str = "(unknown)";

impl Conversation {
    /// The agent who spoke turn `index` (an agent turn): the turn's own `agent_id`, else the
    /// conversation's, else [`UNKNOWN_AGENT`].
    pub(crate) fn agent_of_turn(&self, index: usize) -> &str {
        self.turns[index]
            .agent_id
            .as_deref()
            .or(self.agent_id.as_deref())
            .unwrap_or(UNKNOWN_AGENT)
    }

    /// The conversation's own agent, for findings that no agent turn can carry.
    pub(crate) fn default_agent(&self) -> &str {
        self.agent_id.as_deref().unwrap_or(UNKNOWN_AGENT)
    }

    /// Checks what every reader leaves to the audit: there are turns, and timings are not
    /// negative, do not end before they start, last a day at most (`MAX_TURN_MS`) and,
    /// added to `started_at`, stay within the dates callqa can tell.
    pub fn validate(&self) -> Result<(), ReadError> {
        let error = |kind: SkipKind, message: String| ReadError {
            source: self.source.clone(),
            kind,
            message,
        };
        if self.turns.is_empty() {
            return Err(error(
                SkipKind::NoTurns,
                format!("conversation {:?} has no turns", self.id),
            ));
        }
        for (index, turn) in self.turns.iter().enumerate() {
            let problem = match (turn.start_ms, turn.end_ms) {
                (Some(start), _) if start < 0 => Some(format!("start_ms {start} is negative")),
                (_, Some(end)) if end < 0 => Some(format!("end_ms {end} is negative")),
                (Some(start), Some(end)) if end < start => {
                    Some(format!("end_ms {end} is before start_ms {start}"))
                }
                (Some(start), Some(end)) if end - start > MAX_TURN_MS => Some(format!(
                    "the turn lasts {} ms (end_ms {end} - start_ms {start}), over a day",
                    end - start
                )),
                _ => None,
            };
            let problem = problem.or_else(|| self.past_any_date(turn));
            if let Some(problem) = problem {
                return Err(error(
                    SkipKind::Invalid,
                    format!(
                        "invalid conversation: conversation {:?}, turn {}: {problem}",
                        self.id,
                        index + 1
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Why `turn`'s times cannot be dated, if they cannot: an offset that, added to
    /// `started_at`, overflows (the moment of a promise and the overlap check add them).
    fn past_any_date(&self, turn: &Turn) -> Option<String> {
        let started_at = self.started_at.as_ref()?;
        [("start_ms", turn.start_ms), ("end_ms", turn.end_ms)]
            .into_iter()
            .find_map(|(name, ms)| {
                let ms = ms?;
                let moment = started_at
                    .timestamp()
                    .checked_add(jiff::SignedDuration::from_millis(ms));
                moment
                    .is_err()
                    .then(|| format!("{name} {ms} added to started_at is past any date"))
            })
    }

    /// Where turn `index` is, for findings: the turn's own line when the format has one.
    pub(crate) fn turn_source(&self, index: usize) -> Source {
        match self.turns.get(index).and_then(|turn| turn.line) {
            Some(line) => Source {
                file: self.source.file.clone(),
                line,
            },
            None => self.source.clone(),
        }
    }
}

/// The longest a turn may last (end - start): a day. A conversation may span days between
/// turns (a social-media thread does), one turn may not; an end time far past that is a
/// broken export.
pub(crate) const MAX_TURN_MS: i64 = 24 * 60 * 60 * 1000;

/// Why a conversation (or a line that should have been one) could not be audited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    pub(crate) source: Source,
    pub(crate) kind: SkipKind,
    pub(crate) message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

/// The reasons a conversation is skipped, as counted in the summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipKind {
    /// The line or record is not valid JSON / CSV.
    Malformed,
    /// It parses, but a required field is missing or a value is of the wrong kind.
    Invalid,
    /// The conversation has no turns.
    NoTurns,
    /// The id was already audited from an earlier place.
    Duplicate,
    /// The file could not be opened or read to its end.
    Unreadable,
    /// A line (or file) is over the configured size limit.
    TooLarge,
    /// The checks failed on it: a bug in callqa, reported with the conversation's place so
    /// that it can be fixed, and costing that conversation only.
    Internal,
}

impl SkipKind {
    pub(crate) const ALL: [SkipKind; 7] = [
        SkipKind::Malformed,
        SkipKind::Invalid,
        SkipKind::NoTurns,
        SkipKind::Duplicate,
        SkipKind::Unreadable,
        SkipKind::TooLarge,
        SkipKind::Internal,
    ];

    /// The key used in `summary.json` and the stderr summary.
    pub(crate) fn key(self) -> &'static str {
        match self {
            SkipKind::Malformed => "malformed",
            SkipKind::Invalid => "invalid",
            SkipKind::NoTurns => "no_turns",
            SkipKind::Duplicate => "duplicate_id",
            SkipKind::Unreadable => "unreadable",
            SkipKind::TooLarge => "too_large",
            SkipKind::Internal => "internal_error",
        }
    }
}

/// Parses an RFC 3339 timestamp with its offset, keeping the offset (deadlines and day words
/// are resolved in the conversation's own offset).
pub(crate) fn parse_started_at(value: &str) -> Result<jiff::Zoned, String> {
    let timestamp: jiff::Timestamp = value
        .trim()
        .parse()
        .map_err(|err| format!("started_at {value:?} is not an RFC 3339 time: {err}"))?;
    let offset = rfc3339_offset(value.trim())
        .ok_or_else(|| format!("started_at {value:?} has no UTC offset"))?;
    Ok(timestamp.to_zoned(jiff::tz::TimeZone::fixed(offset)))
}

/// Reads the offset (`Z`, `+05:30`, `-0500`) at the end of an RFC 3339 string.
fn rfc3339_offset(value: &str) -> Option<jiff::tz::Offset> {
    if value.ends_with('Z') || value.ends_with('z') {
        return Some(jiff::tz::Offset::UTC);
    }
    let sign_at = value.rfind(['+', '-'])?;
    // The sign of an offset comes after the time part, never inside the date.
    if !value[..sign_at].contains(['T', 't', ' ']) {
        return None;
    }
    let sign = if value.as_bytes()[sign_at] == b'-' {
        -1
    } else {
        1
    };
    // Exactly four digits once the colons are left out, read in place: collecting them into
    // a `String` first cost an allocation a conversation. Callgrind, 10 MB corpus, `audit -q
    // -j1`: parse_started_at 4.28 M instructions for 3,570 conversations before, 3.48 M after
    // (the rest is jiff's parse of the timestamp).
    let mut digits = [0i32; 4];
    let mut count = 0;
    for byte in value[sign_at + 1..].bytes().filter(|&b| b != b':') {
        if count == 4 || !byte.is_ascii_digit() {
            return None;
        }
        digits[count] = i32::from(byte - b'0');
        count += 1;
    }
    if count != 4 {
        return None;
    }
    let hours = digits[0] * 10 + digits[1];
    let minutes = digits[2] * 10 + digits[3];
    jiff::tz::Offset::from_seconds(sign * (hours * 3600 + minutes * 60)).ok()
}

/// Formats a zoned time back as RFC 3339 with its own offset.
pub(crate) fn format_rfc3339(time: &jiff::Zoned) -> String {
    let offset = time.offset();
    if offset.seconds() == 0 {
        // jiff writes a zero offset as `+00:00`; callqa's outputs have always said `Z`.
        time.timestamp().to_string()
    } else {
        time.timestamp().display_with_offset(offset).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_at_keeps_its_offset() {
        let cases = [
            ("2026-11-20T14:03:00-05:00", "2026-11-20T14:03:00-05:00"),
            ("2017-10-31T21:45:10Z", "2017-10-31T21:45:10Z"),
            ("2020-06-02T01:14:14.515000Z", "2020-06-02T01:14:14.515Z"),
            ("2026-01-02T03:04:05+05:30", "2026-01-02T03:04:05+05:30"),
            ("2026-01-02T03:04:05+0530", "2026-01-02T03:04:05+05:30"),
            ("2026-01-02T03:04:05-23:59", "2026-01-02T03:04:05-23:59"),
        ];
        for (input, expected) in cases {
            let parsed = parse_started_at(input).unwrap();
            assert_eq!(format_rfc3339(&parsed), expected, "{input}");
        }
    }

    #[test]
    fn started_at_rejects_what_is_not_rfc3339() {
        for input in ["yesterday", "2026-11-20", "2026-11-20T14:03:00", ""] {
            assert!(parse_started_at(input).is_err(), "{input}");
        }
    }

    #[test]
    fn offsets_are_four_digits_with_or_without_colons() {
        let minutes = |value: &str| rfc3339_offset(value).map(|o| o.seconds() / 60);
        assert_eq!(minutes("2026-01-02T03:04:05Z"), Some(0));
        assert_eq!(minutes("2026-01-02T03:04:05+05:30"), Some(330));
        assert_eq!(minutes("2026-01-02T03:04:05-0530"), Some(-330));
        assert_eq!(minutes("2026-01-02T03:04:05+0:5:3:0"), Some(330));
        for value in [
            "2026-01-02T03:04:05+05",
            "2026-01-02T03:04:05+05:300",
            "2026-01-02T03:04:05+05:3x",
            "2026-01-02T03:04:05+05:\u{e9}0",
            "2026-01-02T03:04:05+",
            "2026-01-02",
        ] {
            assert_eq!(minutes(value), None, "{value}");
        }
    }

    #[test]
    fn speakers_parse_in_any_case() {
        let cases = [
            ("agent", Some(Speaker::Agent)),
            ("Customer", Some(Speaker::Customer)),
            ("SYSTEM", Some(Speaker::System)),
            ("bot", None),
            (" agent\t", Some(Speaker::Agent)),
            ("Agent", Some(Speaker::Agent)),
            ("customer ", Some(Speaker::Customer)),
            ("agents", None),
            ("", None),
        ];
        for (input, expected) in cases {
            assert_eq!(Speaker::parse(input), expected, "{input}");
        }
        let roles = [
            ("SUPERVISOR", Some(Speaker::System)),
            ("Custom_Bot", Some(Speaker::System)),
            ("caller", Some(Speaker::Customer)),
            ("Agent", Some(Speaker::Agent)),
            ("manager", None),
        ];
        for (input, expected) in roles {
            assert_eq!(Speaker::of_role(input), expected, "{input}");
        }
    }
}

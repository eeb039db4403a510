//! The canonical JSON Lines format: one conversation object per line.
//!
//! The reader is given one line at a time (the input layer splits files into chunks of whole
//! lines, so a large file is parsed on every core). Unknown fields are ignored, as SPEC says;
//! a missing required field or a value of the wrong kind makes the line a skip with a message
//! that names the field.

use std::borrow::Cow;
use std::cell::Cell;
use std::sync::Arc;

use serde::Deserialize;

mod fast;

use super::{
    Conversation, Direction, ReadError, SkipKind, Source, Speaker, Turn, parse_started_at,
};

// Debug and PartialEq for the differential checks of `fast` (tests and the fuzz target).
#[derive(Deserialize, Debug, PartialEq)]
struct RawConversation<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    agent_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    customer_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    started_at: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    direction: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    team: Option<Cow<'a, str>>,
    turns: Turns,
}

/// The `turns` array, read straight into the model's turns.
///
/// Each element is read as a [`RawTurn`] and made a [`Turn`] at once: no `Vec<RawTurn>` grown
/// element by element (serde_json gives no length, so a `Vec` starts empty and reallocates as
/// it doubles) and then copied into the turns. The turns go into the vector (and the texts into
/// the strings) of a conversation the thread is done with, when [`recycle_turns`] gave one
/// back: no allocation and free of each text. Callgrind, 10 MB corpus, `audit -q -j1`:
/// parse_line 177.5 M instructions through a `Vec<RawTurn>`, 173.5 M read straight into the
/// turns, 167.8 M into recycled ones (the program 1,102.6 M, 1,095.8 M, 1,087.8 M: the frees
/// after each audit go too).
#[derive(Debug, PartialEq)]
struct Turns {
    turns: Vec<Turn>,
    /// The first turn whose speaker is unknown: its index and label. Reported only once the
    /// whole line has parsed and the conversation's own fields are found sound, as before.
    unknown_speaker: Option<(usize, String)>,
}

thread_local! {
    /// Turns given back by [`recycle_turns`], for the thread's next line.
    static SPARE_TURNS: Cell<Vec<Turn>> = const { Cell::new(Vec::new()) };
    /// The texts of spare turns a line did not use, for a later line with more turns.
    static SPARE_TEXTS: Cell<SpareTexts> = const { Cell::new(SpareTexts::new()) };
}

/// Texts kept for their memory, up to [`SPARE_TURNS_MAX`] of them and
/// [`SPARE_TEXT_BYTES_MAX`] bytes.
///
/// A line of fewer turns than the spare ones would drop the rest, and a later line of more
/// turns would allocate their texts anew. Callgrind, 10 MB corpus, `audit -q -j1`: 14,885
/// texts allocated (and as many freed) in 65,780 turns before, 35 after; parse_line
/// 115.6 M instructions before, 113.7 M after.
#[derive(Default)]
struct SpareTexts {
    texts: Vec<String>,
    bytes: usize,
}

impl SpareTexts {
    const fn new() -> SpareTexts {
        SpareTexts {
            texts: Vec::new(),
            bytes: 0,
        }
    }

    fn keep(&mut self, text: String) {
        if self.texts.len() < SPARE_TURNS_MAX
            && self.bytes + text.capacity() <= SPARE_TEXT_BYTES_MAX
        {
            self.bytes += text.capacity();
            self.texts.push(text);
        }
    }

    /// `text` in a kept string, else in a new one.
    fn copy_of(&mut self, text: Cow<'_, str>) -> String {
        match self.texts.pop() {
            Some(mut spare) => {
                self.bytes -= spare.capacity();
                spare.clear();
                spare.push_str(&text);
                spare
            }
            None => text.into_owned(),
        }
    }
}

/// Kept for reuse only up to these sizes, so that one long conversation does not hold its
/// memory for the rest of the run.
const SPARE_TURNS_MAX: usize = 4096;
const SPARE_TEXT_BYTES_MAX: usize = 1 << 20;

/// Gives back the turns of a conversation read by [`parse_line`] once they are no longer
/// needed, so that the next line parsed on this thread reuses their memory. Optional: without
/// it, lines are parsed into new memory.
pub(crate) fn recycle_turns(turns: Vec<Turn>) {
    let text_bytes: usize = turns.iter().map(|turn| turn.text.capacity()).sum();
    if turns.capacity() <= SPARE_TURNS_MAX && text_bytes <= SPARE_TEXT_BYTES_MAX {
        SPARE_TURNS.set(turns);
    }
}

/// Makes [`Turns`] one [`RawTurn`] at a time, into the thread's spare turns.
struct TurnsBuilder {
    turns: Vec<Turn>,
    /// The thread's spare texts while the array is read.
    spare_texts: SpareTexts,
    len: usize,
    unknown_speaker: Option<(usize, String)>,
}

impl TurnsBuilder {
    fn new() -> TurnsBuilder {
        TurnsBuilder {
            turns: SPARE_TURNS.take(),
            spare_texts: SPARE_TEXTS.take(),
            len: 0,
            unknown_speaker: None,
        }
    }

    fn push(&mut self, raw: RawTurn<'_>) {
        let speaker = Speaker::parse(&raw.speaker).unwrap_or_else(|| {
            if self.unknown_speaker.is_none() {
                self.unknown_speaker = Some((self.len, raw.speaker.into_owned()));
            }
            Speaker::System
        });
        let mut spare = self.turns.get_mut(self.len);
        let text = match &mut spare {
            // The spare's text keeps its memory.
            Some(spare) => {
                let mut text = std::mem::take(&mut spare.text);
                text.clear();
                text.push_str(&raw.text);
                text
            }
            None => self.spare_texts.copy_of(raw.text),
        };
        let turn = Turn {
            speaker,
            text,
            start_ms: raw.start_ms,
            end_ms: raw.end_ms,
            agent_id: non_empty(raw.agent_id),
            line: None,
        };
        match spare {
            Some(spare) => *spare = turn,
            None => self.turns.push(turn),
        }
        self.len += 1;
    }

    fn finish(mut self) -> Turns {
        for turn in self.turns.drain(self.len..) {
            self.spare_texts.keep(turn.text);
        }
        SPARE_TEXTS.set(self.spare_texts);
        Turns {
            turns: self.turns,
            unknown_speaker: self.unknown_speaker,
        }
    }

    /// The array did not parse: its memory stays the thread's spare.
    fn abandon(self) {
        SPARE_TURNS.set(self.turns);
        SPARE_TEXTS.set(self.spare_texts);
    }
}

impl<'de> Deserialize<'de> for Turns {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TurnsVisitor;

        impl<'de> serde::de::Visitor<'de> for TurnsVisitor {
            type Value = Turns;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                // What serde says for a `Vec`, so that a wrong type reads as it did.
                formatter.write_str("a sequence")
            }

            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Turns, A::Error> {
                let mut builder = TurnsBuilder::new();
                loop {
                    match seq.next_element::<RawTurn<'de>>() {
                        Ok(Some(raw)) => builder.push(raw),
                        Ok(None) => return Ok(builder.finish()),
                        Err(err) => {
                            builder.abandon();
                            return Err(err);
                        }
                    }
                }
            }
        }

        deserializer.deserialize_seq(TurnsVisitor)
    }
}

#[derive(Deserialize, Debug, PartialEq)]
struct RawTurn<'a> {
    #[serde(borrow)]
    speaker: Cow<'a, str>,
    #[serde(borrow)]
    text: Cow<'a, str>,
    #[serde(default)]
    start_ms: Option<i64>,
    #[serde(default)]
    end_ms: Option<i64>,
    #[serde(default, borrow)]
    agent_id: Option<Cow<'a, str>>,
}

/// For the fuzz target: panics unless the fast reader gives up on `line` or returns what
/// serde_json returns. Not for other use.
#[doc(hidden)]
pub fn check_fast_reader(line: &[u8]) {
    let Ok(text) = std::str::from_utf8(line) else {
        return;
    };
    if let Some(fast) = fast::parse(text) {
        match serde_json::from_str::<RawConversation>(text) {
            Ok(serde) => assert_eq!(fast, serde, "{text}"),
            Err(err) => panic!("the fast reader read a line serde_json rejects ({err}): {text}"),
        }
    }
}

/// Parses one line of JSON Lines into a conversation.
pub fn parse_line(
    line: &[u8],
    file: &Arc<str>,
    line_number: u64,
) -> Result<Conversation, ReadError> {
    let source = Source {
        file: file.clone(),
        line: line_number,
    };
    // serde_json checks every string of a byte slice as UTF-8 on its own, about 120 short
    // checks a conversation (keys included); a `&str` it takes as checked. One check of the
    // whole line instead: callgrind, 10 MB corpus, `audit -j1`, parse_line 229.0 M
    // instructions before, 198.2 M after. A line that is not UTF-8 goes to `from_slice`, so that
    // its error (and column) stays what it was.
    //
    // The check itself is simdutf8's (AVX2 or SSE 4.2, chosen at run time), not std's
    // `str::from_utf8`: same corpus, `audit -q -j1`, the line checks 17.1 M instructions with
    // std, 4.4 M with simdutf8 (parse_line 197.1 M, 185.0 M). Its `basic` flavour says only
    // whether the line is UTF-8, which is all this needs: the error comes from `from_slice`.
    //
    // serde_json, not sonic-rs 0.5.10 (measured with `sonic_rs::from_str` into the same structs
    // and serde_json only on a line sonic-rs rejects, which kept every message): callgrind, same
    // corpus, `audit -q -j1`, parse_line 199.0 M instructions with serde_json, 204.0 M with
    // sonic-rs (no `target-cpu` flags, so its SIMD paths are baseline x86-64); wall on 200 MB
    // (`-j2`, loaded 2-core machine) within noise. No gain, so no new dependency.
    //
    // But a line of the common shape (known fields with values of their types, any other
    // fields, no control character) is read by `fast` first, which gives up on anything else
    // and leaves it to serde_json, so that every message stays serde_json's. Same corpus, `audit -q -j1`:
    // parse_line 167.8 M instructions with serde_json alone, 121.9 M with `fast` first; the
    // program 1,087.8 M, 1,041.6 M. serde_json spends on each string, key and value a call
    // through its visitors and a check for control characters; `fast` checks the line for those
    // once, matches keys as a `match` of byte strings, and finds the end of a string eight
    // bytes at a time (then with memchr).
    //
    // `fast` skips the fields callqa does not read (a queue, an agent's name, nested metadata,
    // a turn's id and scores, as real exports carry) where it first gave up on them: callgrind,
    // 8 MB of such lines (`gen_corpus --bytes 8M`, seed 7), `audit -q -j1`: parse_line 158.4 M
    // instructions when every line went to serde_json, 105.4 M with `fast` skipping; the
    // program 1,163.5 M, 1,110.2 M; the same output bytes. On 4 MB of lines of known fields
    // only (the generator before issue 22), parse_line 48.2 M before, 48.5 M after.
    let parsed = match simdutf8::basic::from_utf8(line) {
        Ok(text) => match fast::parse(text) {
            Some(raw) => Ok(raw),
            None => serde_json::from_str::<RawConversation>(text),
        },
        Err(_) => serde_json::from_slice::<RawConversation>(line),
    };
    let raw: RawConversation = parsed.map_err(|err| {
        let kind = if err.is_data() {
            SkipKind::Invalid
        } else {
            SkipKind::Malformed
        };
        let what = if kind == SkipKind::Invalid {
            "invalid conversation"
        } else {
            "malformed JSON"
        };
        ReadError {
            source: source.clone(),
            kind,
            message: format!("{what}: {}", strip_serde_position(&err)),
        }
    })?;
    let invalid = |message: String| ReadError {
        source: source.clone(),
        kind: SkipKind::Invalid,
        message: format!("invalid conversation: {message}"),
    };
    let id = non_empty(Some(raw.id)).ok_or_else(|| invalid("`id` is empty".into()))?;
    // The time and the direction are parsed from the line's text, not from a copy.
    let started_at = match non_empty_str(&raw.started_at) {
        Some(value) => Some(
            parse_started_at(value)
                .map_err(|msg| invalid(format!("conversation {id:?}: {msg}")))?,
        ),
        None => None,
    };
    let direction = match non_empty_str(&raw.direction) {
        Some(value) => Some(Direction::parse(value).ok_or_else(|| {
            invalid(format!(
                "conversation {id:?}: direction {value:?} is neither \"inbound\" nor \"outbound\""
            ))
        })?),
        None => None,
    };
    if let Some((index, label)) = raw.turns.unknown_speaker {
        return Err(invalid(format!(
            "conversation {id:?}, turn {}: unknown speaker {label:?} (expected agent, customer or system)",
            index + 1
        )));
    }
    Ok(Conversation {
        id,
        agent_id: non_empty(raw.agent_id),
        customer_id: non_empty(raw.customer_id),
        started_at,
        channel: non_empty(raw.channel),
        direction,
        team: non_empty(raw.team),
        turns: raw.turns.turns,
        source,
        suppressions: Vec::new(),
    })
}

/// The value trimmed, as an owned string, unless it is missing or blank.
fn non_empty(value: Option<Cow<'_, str>>) -> Option<String> {
    non_empty_str(&value).map(str::to_string)
}

/// The value trimmed, unless it is missing or blank.
fn non_empty_str<'v>(value: &'v Option<Cow<'_, str>>) -> Option<&'v str> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|value| !value.is_empty())
}

/// serde_json appends "at line 1 column N"; the line is always 1 for a single JSON line, so
/// keep only the column, which helps to find the fault in a long line.
fn strip_serde_position(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(at) => format!("{} (column {})", &text[..at], err.column()),
        None => text,
    }
}

/// Writes a conversation back as one canonical JSON line (used by `convert` and tests).
pub fn to_json_value(conversation: &Conversation) -> serde_json::Value {
    let mut object = serde_json::Map::new();
    object.insert("id".into(), conversation.id.clone().into());
    let optional = [
        ("agent_id", conversation.agent_id.clone()),
        ("customer_id", conversation.customer_id.clone()),
        (
            "started_at",
            conversation.started_at.as_ref().map(super::format_rfc3339),
        ),
        ("channel", conversation.channel.clone()),
        (
            "direction",
            conversation.direction.map(|d| d.as_str().to_string()),
        ),
        ("team", conversation.team.clone()),
    ];
    for (key, value) in optional {
        if let Some(value) = value {
            object.insert(key.into(), value.into());
        }
    }
    let turns = conversation
        .turns
        .iter()
        .map(|turn| {
            let mut t = serde_json::Map::new();
            t.insert("speaker".into(), turn.speaker.as_str().into());
            t.insert("text".into(), turn.text.clone().into());
            if let Some(start) = turn.start_ms {
                t.insert("start_ms".into(), start.into());
            }
            if let Some(end) = turn.end_ms {
                t.insert("end_ms".into(), end.into());
            }
            if let Some(agent) = &turn.agent_id {
                t.insert("agent_id".into(), agent.clone().into());
            }
            serde_json::Value::Object(t)
        })
        .collect();
    object.insert("turns".into(), serde_json::Value::Array(turns));
    serde_json::Value::Object(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<str> {
        Arc::from("in.jsonl")
    }

    #[test]
    fn reads_every_field() {
        let line = br#"{"id":"c1","agent_id":"a-1","customer_id":"cu-1","started_at":"2026-11-20T14:03:00-05:00","channel":"voice","direction":"Inbound","team":"billing","extra":1,
            "turns":[{"speaker":"agent","text":"Hi","start_ms":0,"end_ms":900},{"speaker":"Customer","text":"Hello","agent_id":"ignored-for-customers"}]}"#;
        let conversation = parse_line(line, &file(), 7).unwrap();
        assert_eq!(conversation.id, "c1");
        assert_eq!(conversation.agent_id.as_deref(), Some("a-1"));
        assert_eq!(conversation.direction, Some(Direction::Inbound));
        assert_eq!(conversation.turns.len(), 2);
        assert_eq!(conversation.turns[0].end_ms, Some(900));
        assert_eq!(conversation.turns[1].speaker, Speaker::Customer);
        assert_eq!(conversation.source.to_string(), "in.jsonl:7");
        let back = to_json_value(&conversation);
        assert_eq!(back["started_at"], "2026-11-20T14:03:00-05:00");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let cases: [(&[u8], SkipKind, &str); 7] = [
            (
                b"{\"id\": \"x\", \"turns\": [",
                SkipKind::Malformed,
                "malformed JSON",
            ),
            (b"{\"turns\": []}", SkipKind::Invalid, "missing field `id`"),
            (
                b"{\"id\": \"x\"}",
                SkipKind::Invalid,
                "missing field `turns`",
            ),
            (
                b"{\"id\": \"x\", \"turns\": [{\"speaker\": \"bot\", \"text\": \"hi\"}]}",
                SkipKind::Invalid,
                "unknown speaker \"bot\"",
            ),
            (
                b"{\"id\": \"x\", \"started_at\": \"soon\", \"turns\": []}",
                SkipKind::Invalid,
                "not an RFC 3339 time",
            ),
            (
                b"{\"id\": \"x\", \"turns\": [{\"speaker\": \"agent\", \"text\": 5}]}",
                SkipKind::Invalid,
                "invalid type",
            ),
            (
                b"{\"id\": \"x\xff\", \"turns\": []}",
                SkipKind::Malformed,
                "invalid unicode code point (column 10)",
            ),
        ];
        for (line, kind, needle) in cases {
            let err = parse_line(line, &file(), 3).unwrap_err();
            assert_eq!(err.kind, kind, "{}", String::from_utf8_lossy(line));
            assert!(
                err.message.contains(needle),
                "{} lacks {needle}",
                err.message
            );
            assert_eq!(err.source.line, 3);
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_keeps_the_message_of_serde_json() {
        // The bad bytes before, inside and after the first 64 bytes (a SIMD block), in a key
        // and in values, a sequence cut at the end of the line, an encoded surrogate: the
        // message and column are serde_json's own.
        let long = "x".repeat(80);
        let join = |parts: &[&[u8]]| parts.concat();
        let lines: Vec<Vec<u8>> = vec![
            b"{\"id\": \"\xff\", \"turns\": []}".to_vec(),
            join(&[
                b"{\"id\": \"c1\", \"turns\": [{\"speaker\": \"agent\", \"text\": \"",
                long.as_bytes(),
                "\u{e9}".as_bytes(),
                b"\xe9\"}]}",
            ]),
            join(&[b"{\"id\": \"", long.as_bytes(), b"\", \"t\xc3urns\": []}"]),
            b"{\"id\": \"c1\", \"turns\": [], \"team\": \"\xe2\x82".to_vec(),
            b"{\"id\": \"c1\", \"turns\": [], \"team\": \"\xed\xa0\x80\"}".to_vec(),
        ];
        for line in lines {
            assert!(std::str::from_utf8(&line).is_err());
            let Err(expected) = serde_json::from_slice::<RawConversation>(&line) else {
                panic!("{} parses", String::from_utf8_lossy(&line));
            };
            let err = parse_line(&line, &file(), 1).unwrap_err();
            assert_eq!(
                err.kind,
                SkipKind::Malformed,
                "{}",
                String::from_utf8_lossy(&line)
            );
            assert_eq!(
                err.message,
                format!("malformed JSON: {}", strip_serde_position(&expected))
            );
        }
    }

    #[test]
    fn recycled_turns_leave_nothing_of_the_last_conversation() {
        let long: &[u8] = br#"{"id":"long","agent_id":"a-1","turns":[{"speaker":"agent","text":"a long first turn, longer than the next line's","start_ms":0,"end_ms":900,"agent_id":"a-2"},{"speaker":"Customer","text":"caf\u00e9 \"quoted\"","start_ms":1000},{"speaker":"system","text":"third"}]}"#;
        let short: &[u8] =
            br#"{"id":"short","turns":[{"speaker":"customer","text":"hi"},{"speaker":"agent","text":"hello"}]}"#;
        // Parsed first on this thread, so into new memory.
        let fresh_long = parse_line(long, &file(), 1).unwrap();
        let fresh_short = parse_line(short, &file(), 2).unwrap();
        recycle_turns(fresh_long.turns.clone());
        let short_again = parse_line(short, &file(), 2).unwrap();
        assert_eq!(short_again, fresh_short);
        recycle_turns(short_again.turns);
        let long_again = parse_line(long, &file(), 1).unwrap();
        assert_eq!(long_again, fresh_long);
        // Turns of another reader (a line number, other texts) are overwritten too.
        let mut script_turn = Turn::new(Speaker::Customer, "from a script, a longer text");
        script_turn.line = Some(4);
        script_turn.agent_id = Some("a-9".into());
        recycle_turns(vec![script_turn.clone(), script_turn.clone(), script_turn]);
        assert_eq!(parse_line(short, &file(), 2).unwrap(), fresh_short);
        // A line that fails in its turns keeps the spare turns for the next.
        recycle_turns(long_again.turns);
        let bad = br#"{"id":"x","turns":[{"speaker":"agent","text":"a"},{"speaker":"agent"}]}"#;
        assert!(parse_line(bad, &file(), 3).is_err());
        assert_eq!(parse_line(short, &file(), 2).unwrap(), fresh_short);
    }

    #[test]
    fn spare_texts_are_reused_within_their_bounds() {
        let mut spare = SpareTexts::new();
        let mut kept = String::with_capacity(64);
        kept.push_str("an earlier turn");
        let pointer = kept.as_ptr();
        spare.keep(kept);
        assert_eq!(spare.bytes, 64);
        // Too large to keep: dropped.
        spare.keep(String::with_capacity(SPARE_TEXT_BYTES_MAX));
        assert_eq!((spare.texts.len(), spare.bytes), (1, 64));
        let copy = spare.copy_of(Cow::Borrowed("new"));
        assert_eq!(copy, "new");
        assert_eq!(copy.as_ptr(), pointer);
        assert_eq!((spare.texts.len(), spare.bytes), (0, 0));
        assert_eq!(spare.copy_of(Cow::Borrowed("fresh")), "fresh");
    }

    #[test]
    fn a_longer_line_after_a_shorter_one_reads_as_it_did() {
        let three: &[u8] = br#"{"id":"three","turns":[{"speaker":"agent","text":"one, a longer text"},{"speaker":"customer","text":"two"},{"speaker":"agent","text":"three"}]}"#;
        let one: &[u8] = br#"{"id":"one","turns":[{"speaker":"customer","text":"only"}]}"#;
        let four: &[u8] = br#"{"id":"four","turns":[{"speaker":"agent","text":"a"},{"speaker":"agent","text":"b"},{"speaker":"customer","text":"the third, longer than any before it"},{"speaker":"agent","text":"d"}]}"#;
        let fresh_four = parse_line(four, &file(), 3).unwrap();
        recycle_turns(parse_line(three, &file(), 1).unwrap().turns);
        // Two of the three spare turns are left over: their texts are kept.
        recycle_turns(parse_line(one, &file(), 2).unwrap().turns);
        assert_eq!(parse_line(four, &file(), 3).unwrap(), fresh_four);
    }

    #[test]
    fn turn_errors_come_in_the_order_they_did() {
        let cases: [(&[u8], &str); 6] = [
            (
                br#"{"id":"e1","turns":{}}"#,
                "invalid conversation: invalid type: map, expected a sequence (column 19)",
            ),
            (
                br#"{"id":"","turns":[{"speaker":"bot","text":"a"}]}"#,
                "invalid conversation: `id` is empty",
            ),
            (
                br#"{"id":"e4","direction":"up","turns":[{"speaker":"bot","text":"a"}]}"#,
                r#"invalid conversation: conversation "e4": direction "up" is neither "inbound" nor "outbound""#,
            ),
            (
                br#"{"id":"e5","turns":[{"speaker":"agent","text":"a"},{"speaker":"bot","text":"b"},{"speaker":"robot","text":"c"}]}"#,
                r#"invalid conversation: conversation "e5", turn 2: unknown speaker "bot" (expected agent, customer or system)"#,
            ),
            (
                br#"{"id":"e6","turns":[{"speaker":"bot","text":"a"}],"team":5}"#,
                "invalid conversation: invalid type: integer `5`, expected a string (column 58)",
            ),
            (
                br#"{"id":"e12","turns":[null]}"#,
                "invalid conversation: invalid type: null, expected struct RawTurn (column 25)",
            ),
        ];
        for (line, message) in cases {
            let err = parse_line(line, &file(), 1).unwrap_err();
            assert_eq!(err.message, message);
        }
    }
}

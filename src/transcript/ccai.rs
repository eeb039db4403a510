//! Google Contact Center AI Insights conversation JSON, the documented upload format for
//! chat transcripts: `entries[]` with `text`, `role` (`AGENT`, `CUSTOMER`, `END_USER`,
//! `AUTOMATED_AGENT`), `user_id` and `start_timestamp_usec` (UTC microseconds), one
//! conversation per file.
//!
//! A bot (`AUTOMATED_AGENT`) is a `system` speaker, not an agent to score. `user_id` numbers the
//! participants of the upload, not the contact center's agents, so it is not taken as an
//! agent id (`--metadata` supplies that). The earliest entry is the conversation's start;
//! each turn's `start_ms` counts from it. The file names no id: its relative path is the id.

use serde::Deserialize;

use super::{Conversation, DocumentContext, ReadError, Speaker, Turn, anchor_absolute_times};

const WHAT: &str = "CCAI Insights conversation";

#[derive(Deserialize)]
struct RawFile {
    entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
struct RawEntry {
    text: String,
    role: String,
    start_timestamp_usec: i64,
}

fn speaker_of_role(role: &str) -> Option<Speaker> {
    match role.trim().to_ascii_uppercase().as_str() {
        "AGENT" | "HUMAN_AGENT" => Some(Speaker::Agent),
        "CUSTOMER" | "END_USER" => Some(Speaker::Customer),
        "AUTOMATED_AGENT" => Some(Speaker::System),
        _ => None,
    }
}

/// Parses one CCAI Insights conversation file.
pub fn parse(bytes: &[u8], cx: &DocumentContext) -> Result<Conversation, ReadError> {
    let raw: RawFile = cx.json(bytes, WHAT)?;
    let mut conversation = Conversation::new(cx.default_id, cx.source(1));
    conversation.channel = Some("chat".into());
    let mut times = Vec::with_capacity(raw.entries.len());
    for (index, entry) in raw.entries.into_iter().enumerate() {
        let speaker = speaker_of_role(&entry.role).ok_or_else(|| {
            cx.invalid(
                1,
                format!(
                    "invalid {WHAT}: field entries[{index}].role: unknown role {:?} (expected AGENT, CUSTOMER, END_USER or AUTOMATED_AGENT)",
                    entry.role
                ),
            )
        })?;
        let time =
            jiff::Timestamp::from_microsecond(entry.start_timestamp_usec).map_err(|err| {
                cx.invalid(
                    1,
                    format!("invalid {WHAT}: field entries[{index}].start_timestamp_usec: {err}"),
                )
            })?;
        times.push(Some(time));
        conversation
            .turns
            .push(Turn::new(speaker, entry.text.trim()));
    }
    anchor_absolute_times(&mut conversation, &times);
    Ok(conversation)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transcript::{SkipKind, format_rfc3339};

    fn parse_str(text: &str) -> Result<Conversation, ReadError> {
        let file: Arc<str> = Arc::from("ccai/one.json");
        let cx = DocumentContext {
            file: &file,
            default_id: "ccai/one.json",
            agent_speakers: &[],
        };
        parse(text.as_bytes(), &cx)
    }

    #[test]
    fn roles_and_times() {
        let text = r#"{"conversation_info":{"categories":[{"display_name":"Billing"}]},"entries":[
            {"start_timestamp_usec":1700000000000000,"text":"Welcome! I'm the virtual assistant.","role":"AUTOMATED_AGENT","user_id":3},
            {"start_timestamp_usec":1700000002500000,"text":"I was charged twice","role":"END_USER","user_id":1},
            {"start_timestamp_usec":1700000009000000,"text":"Sorry about that","role":"AGENT","user_id":"2"}]}"#;
        let c = parse_str(text).unwrap();
        let got: Vec<(Speaker, Option<i64>)> =
            c.turns.iter().map(|t| (t.speaker, t.start_ms)).collect();
        assert_eq!(
            got,
            [
                (Speaker::System, Some(0)),
                (Speaker::Customer, Some(2500)),
                (Speaker::Agent, Some(9000))
            ]
        );
        assert_eq!(c.id, "ccai/one.json");
        assert_eq!(
            format_rfc3339(c.started_at.as_ref().unwrap()),
            "2023-11-14T22:13:20Z"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"entries":[{"text":"hi","role":"AGENT"}]}"#,
                SkipKind::Invalid,
                "missing field `start_timestamp_usec`",
            ),
            (
                r#"{"entries":[{"text":"hi","role":"BOSS","start_timestamp_usec":1}]}"#,
                SkipKind::Invalid,
                "entries[0].role: unknown role \"BOSS\"",
            ),
            (
                r#"{"entries":[{"text":7,"role":"AGENT","start_timestamp_usec":1}]}"#,
                SkipKind::Invalid,
                "field entries[0].text: invalid type",
            ),
            (r#"{"entries":[]"#, SkipKind::Malformed, "malformed JSON"),
        ];
        for (text, kind, needle) in cases {
            let err = parse_str(text).unwrap_err();
            assert_eq!(err.kind, kind, "{text}");
            assert!(
                err.message.contains(needle),
                "{} lacks {needle}",
                err.message
            );
        }
    }
}

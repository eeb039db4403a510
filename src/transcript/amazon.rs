//! Amazon's contact-center JSON: Transcribe Call Analytics output and Amazon Connect Contact
//! Lens output (voice and chat), one contact per file.
//!
//! Both write `Transcript[]` items with `Content`. A voice item carries `BeginOffsetMillis` /
//! `EndOffsetMillis` (already offsets from the call's start, as the canonical model wants); a
//! chat item carries `AbsoluteTime`, from which the conversation's `started_at` (the first
//! message) and each turn's offset are derived. The speaker's role is the item's own
//! `ParticipantRole` (Call Analytics, Contact Lens chat) or, when the item only has a
//! `ParticipantId` (Contact Lens voice), the role `Participants[]` gives that id. Chat items
//! whose `Type` is not `MESSAGE` (joins, leaves, typing events) are not turns. The id is the
//! Connect contact id (`CustomerMetadata.ContactId`) or the Transcribe `JobName` when the file
//! has one, else the file's relative path. Neither export names the agent: `--metadata` does.

use std::collections::HashMap;

use serde::Deserialize;

use super::{Conversation, DocumentContext, ReadError, Speaker, Turn, anchor_absolute_times};

/// Which of the two exports a file is, for messages and the default channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Amazon Transcribe Call Analytics (always a call).
    CallAnalytics,
    /// Amazon Connect Contact Lens (voice or chat, as its `Channel` says).
    ContactLens,
}

impl Flavor {
    fn what(self) -> &'static str {
        match self {
            Flavor::CallAnalytics => "Transcribe Call Analytics file",
            Flavor::ContactLens => "Contact Lens file",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFile {
    #[serde(default)]
    job_name: Option<String>,
    #[serde(default)]
    channel: Option<String>,
    #[serde(default)]
    participants: Vec<RawParticipant>,
    #[serde(default)]
    customer_metadata: Option<RawCustomerMetadata>,
    transcript: Vec<RawItem>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawParticipant {
    #[serde(default)]
    participant_id: Option<String>,
    participant_role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawCustomerMetadata {
    #[serde(default)]
    contact_id: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawItem {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    participant_id: Option<String>,
    #[serde(default)]
    participant_role: Option<String>,
    #[serde(default)]
    begin_offset_millis: Option<i64>,
    #[serde(default)]
    end_offset_millis: Option<i64>,
    #[serde(default)]
    absolute_time: Option<String>,
    #[serde(default, rename = "Type")]
    item_type: Option<String>,
}

fn non_empty(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Parses one Call Analytics or Contact Lens file.
pub(crate) fn parse(
    bytes: &[u8],
    cx: &DocumentContext,
    flavor: Flavor,
) -> Result<Conversation, ReadError> {
    let what = flavor.what();
    let raw: RawFile = cx.json(bytes, what)?;
    let roles: HashMap<&str, &str> = raw
        .participants
        .iter()
        .filter_map(|p| Some((p.participant_id.as_deref()?, p.participant_role.as_str())))
        .collect();
    let id = non_empty(raw.customer_metadata.and_then(|m| m.contact_id))
        .or_else(|| non_empty(raw.job_name))
        .unwrap_or_else(|| cx.default_id.to_string());
    let mut conversation = Conversation::new(id, cx.source(1));
    conversation.channel = non_empty(raw.channel)
        .map(|c| c.to_ascii_lowercase())
        .or_else(|| (flavor == Flavor::CallAnalytics).then(|| "voice".to_string()));
    let mut absolute = Vec::new();
    for (index, item) in raw.transcript.into_iter().enumerate() {
        let field = |name: &str| format!("invalid {what}: field Transcript[{index}].{name}");
        if item
            .item_type
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case("MESSAGE"))
        {
            continue;
        }
        let role = match (&item.participant_role, &item.participant_id) {
            (Some(role), _) => role.as_str(),
            (None, Some(participant)) => {
                roles.get(participant.as_str()).copied().ok_or_else(|| {
                    cx.invalid(
                    1,
                    format!(
                        "{}: {participant:?} is not among Participants[], so its role is unknown",
                        field("ParticipantId")
                    ),
                )
                })?
            }
            (None, None) => {
                return Err(cx.invalid(
                    1,
                    format!(
                        "{}: missing (and no ParticipantId)",
                        field("ParticipantRole")
                    ),
                ));
            }
        };
        let speaker = Speaker::of_role(role).ok_or_else(|| {
            cx.invalid(
                1,
                format!(
                    "{}: unknown role {role:?} (expected AGENT, CUSTOMER or SYSTEM)",
                    field("ParticipantRole")
                ),
            )
        })?;
        let content = item
            .content
            .ok_or_else(|| cx.invalid(1, format!("{}: missing", field("Content"))))?;
        let mut turn = Turn::new(speaker, content.trim());
        turn.start_ms = item.begin_offset_millis;
        turn.end_ms = item.end_offset_millis;
        if let (Some(start), Some(end)) = (turn.start_ms, turn.end_ms)
            && end < start
        {
            return Err(cx.invalid(
                1,
                format!(
                    "{}: {end} is before BeginOffsetMillis {start}",
                    field("EndOffsetMillis")
                ),
            ));
        }
        let time = match non_empty(item.absolute_time) {
            Some(text) => Some(text.parse::<jiff::Timestamp>().map_err(|err| {
                cx.invalid(
                    1,
                    format!(
                        "{}: {text:?} is not an RFC 3339 time: {err}",
                        field("AbsoluteTime")
                    ),
                )
            })?),
            None => None,
        };
        absolute.push(time);
        conversation.turns.push(turn);
    }
    if conversation.turns.iter().all(|t| t.start_ms.is_none()) {
        anchor_absolute_times(&mut conversation, &absolute);
    }
    Ok(conversation)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transcript::SkipKind;

    fn parse_str(text: &str, flavor: Flavor) -> Result<Conversation, ReadError> {
        let file: Arc<str> = Arc::from("calls/x.json");
        let cx = DocumentContext {
            file: &file,
            default_id: "calls/x.json",
            agent_speakers: &[],
        };
        parse(text.as_bytes(), &cx, flavor)
    }

    /// (speaker, text, start_ms, end_ms) per turn.
    fn turns(c: &Conversation) -> Vec<(Speaker, &str, Option<i64>, Option<i64>)> {
        c.turns
            .iter()
            .map(|t| (t.speaker, t.text.as_str(), t.start_ms, t.end_ms))
            .collect()
    }

    #[test]
    fn reads_roles_timings_and_ids() {
        use Speaker::*;
        let voice = r#"{"Channel":"VOICE","Participants":[{"ParticipantId":"A","ParticipantRole":"AGENT"},{"ParticipantId":"C","ParticipantRole":"CUSTOMER"}],
            "Transcript":[{"ParticipantId":"A","Content":"Hello.","BeginOffsetMillis":0,"EndOffsetMillis":900,"Sentiment":"NEUTRAL"},
                          {"ParticipantId":"C","Content":"Hi","BeginOffsetMillis":950,"EndOffsetMillis":1200}]}"#;
        let analytics = r#"{"JobName":"job-7","Transcript":[{"ParticipantRole":"CUSTOMER","Content":"My bill","BeginOffsetMillis":10,"EndOffsetMillis":20}]}"#;
        let chat = r#"{"Channel":"CHAT","CustomerMetadata":{"ContactId":"ct-1"},"Transcript":[
            {"AbsoluteTime":"2022-10-27T03:31:50.735Z","Type":"EVENT","ParticipantRole":"CUSTOMER"},
            {"AbsoluteTime":"2022-10-27T03:31:53.390Z","Type":"MESSAGE","ParticipantRole":"SYSTEM","Content":"Queued"},
            {"AbsoluteTime":"2022-10-27T03:32:03.462Z","Type":"MESSAGE","ParticipantRole":"AGENT","Content":"Hi, Jane here"}]}"#;
        let cases = [
            (
                voice,
                Flavor::ContactLens,
                "calls/x.json",
                "voice",
                None,
                vec![
                    (Agent, "Hello.", Some(0), Some(900)),
                    (Customer, "Hi", Some(950), Some(1200)),
                ],
            ),
            (
                analytics,
                Flavor::CallAnalytics,
                "job-7",
                "voice",
                None,
                vec![(Customer, "My bill", Some(10), Some(20))],
            ),
            (
                chat,
                Flavor::ContactLens,
                "ct-1",
                "chat",
                Some("2022-10-27T03:31:53.39Z"),
                vec![
                    (System, "Queued", Some(0), None),
                    (Agent, "Hi, Jane here", Some(10_072), None),
                ],
            ),
        ];
        for (text, flavor, id, channel, started, expected) in cases {
            let c = parse_str(text, flavor).unwrap();
            assert_eq!(c.id, id);
            assert_eq!(c.channel.as_deref(), Some(channel));
            assert_eq!(
                c.started_at
                    .as_ref()
                    .map(crate::transcript::format_rfc3339)
                    .as_deref(),
                started
            );
            assert_eq!(turns(&c), expected, "{id}");
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                r#"{"Transcript":[{"ParticipantRole":"AGENT"}]}"#,
                SkipKind::Invalid,
                "Transcript[0].Content: missing",
            ),
            (
                r#"{"Transcript":[{"ParticipantRole":"AGENT","Content":5}]}"#,
                SkipKind::Invalid,
                "field Transcript[0].Content: invalid type",
            ),
            (
                r#"{"Transcript":[{"ParticipantId":"X","Content":"hi"}]}"#,
                SkipKind::Invalid,
                "\"X\" is not among Participants[]",
            ),
            (
                r#"{"Transcript":[{"ParticipantRole":"ROBOT","Content":"hi"}]}"#,
                SkipKind::Invalid,
                "unknown role \"ROBOT\"",
            ),
            (
                r#"{"Transcript":[{"ParticipantRole":"AGENT","Content":"hi","BeginOffsetMillis":"soon"}]}"#,
                SkipKind::Invalid,
                "Transcript[0].BeginOffsetMillis",
            ),
            (
                r#"{"Participants":[]}"#,
                SkipKind::Invalid,
                "missing field `Transcript`",
            ),
            (
                "{\n\"Transcript\": [",
                SkipKind::Malformed,
                "malformed JSON",
            ),
        ];
        for (text, kind, needle) in cases {
            let err = parse_str(text, Flavor::ContactLens).unwrap_err();
            assert_eq!(err.kind, kind, "{text}");
            assert!(
                err.message.contains(needle),
                "{} lacks {needle}",
                err.message
            );
            assert_eq!(&*err.source.file, "calls/x.json");
        }
    }
}

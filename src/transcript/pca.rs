//! Amazon Transcribe post-call analytics (the PCA solution) output: `SpeechSegments[]` with
//! `SegmentStartTime` / `SegmentEndTime` in seconds, `SegmentSpeaker` (`spk_0`, …) and
//! `DisplayText`, one call per file.
//!
//! Who is the agent comes from `ConversationAnalytics.SpeakerLabels` (speaker → `Agent` /
//! `Customer`) unless `--agent-speakers` names the agent's speaker labels: real files get the
//! labels wrong (channels swapped), so the command line wins over the file, and then every
//! other speaker is the customer. The id is `ConversationAnalytics.GUID`, the agent
//! `ConversationAnalytics.Agent` (PCA writes the string `None` for both when it has none, and
//! then the file's relative path is the id); `ConversationTime` read in
//! `ConversationLocation` (an IANA zone) is the start.

use serde::Deserialize;

use super::{Conversation, DocumentContext, ReadError, Speaker, Turn, seconds_to_ms};

const WHAT: &str = "post-call analytics file";

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawFile {
    #[serde(default)]
    conversation_analytics: Option<RawAnalytics>,
    speech_segments: Vec<RawSegment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawAnalytics {
    #[serde(default, rename = "GUID")]
    guid: Option<String>,
    #[serde(default)]
    agent: Option<String>,
    #[serde(default)]
    conversation_time: Option<String>,
    #[serde(default)]
    conversation_location: Option<String>,
    #[serde(default)]
    speaker_labels: Vec<RawLabel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawLabel {
    speaker: String,
    display_text: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawSegment {
    segment_start_time: f64,
    segment_end_time: f64,
    segment_speaker: String,
    display_text: String,
}

/// PCA writes `"None"` for a value it does not have.
fn present(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v != "None")
}

fn speaker_of_label(label: &str) -> Option<Speaker> {
    match label.trim().to_ascii_lowercase().as_str() {
        "agent" => Some(Speaker::Agent),
        "customer" | "caller" => Some(Speaker::Customer),
        "system" | "ivr" => Some(Speaker::System),
        _ => None,
    }
}

/// `2021-11-25 13:35:14.215558` in the zone `location`.
fn start_time(cx: &DocumentContext, time: &str, location: &str) -> Result<jiff::Zoned, ReadError> {
    let field = "invalid post-call analytics file: field ConversationAnalytics";
    let civil: jiff::civil::DateTime = time.replacen(' ', "T", 1).parse().map_err(|err| {
        cx.invalid(
            1,
            format!("{field}.ConversationTime: {time:?} is not a date and time: {err}"),
        )
    })?;
    let zone = jiff::tz::TimeZone::get(location).map_err(|err| {
        cx.invalid(
            1,
            format!("{field}.ConversationLocation: {location:?}: {err}"),
        )
    })?;
    civil.to_zoned(zone).map_err(|err| {
        cx.invalid(
            1,
            format!("{field}.ConversationTime: {time:?} in {location}: {err}"),
        )
    })
}

/// Parses one post-call analytics file.
pub fn parse(bytes: &[u8], cx: &DocumentContext) -> Result<Conversation, ReadError> {
    let raw: RawFile = cx.json(bytes, WHAT)?;
    let analytics = raw.conversation_analytics.unwrap_or(RawAnalytics {
        guid: None,
        agent: None,
        conversation_time: None,
        conversation_location: None,
        speaker_labels: Vec::new(),
    });
    let id = present(analytics.guid).unwrap_or_else(|| cx.default_id.to_string());
    let mut conversation = Conversation::new(id, cx.source(1));
    conversation.agent_id = present(analytics.agent);
    conversation.channel = Some("voice".into());
    if let (Some(time), Some(location)) = (
        present(analytics.conversation_time),
        present(analytics.conversation_location),
    ) {
        conversation.started_at = Some(start_time(cx, &time, &location)?);
    }
    for (index, segment) in raw.speech_segments.into_iter().enumerate() {
        let label = segment.segment_speaker.trim();
        let speaker = if cx.agent_speakers.is_empty() {
            analytics
                .speaker_labels
                .iter()
                .find(|l| l.speaker.trim() == label)
                .and_then(|l| speaker_of_label(&l.display_text))
                .ok_or_else(|| {
                    cx.invalid(
                        1,
                        format!(
                            "invalid {WHAT}: field SpeechSegments[{index}].SegmentSpeaker: {label:?} has no Agent or Customer label in ConversationAnalytics.SpeakerLabels; name the agent's speaker with --agent-speakers"
                        ),
                    )
                })?
        } else if cx.is_listed_agent(label) {
            Speaker::Agent
        } else {
            Speaker::Customer
        };
        let timing = |name: &str, seconds: f64| {
            seconds_to_ms(seconds).ok_or_else(|| {
                cx.invalid(
                    1,
                    format!("invalid {WHAT}: field SpeechSegments[{index}].{name}: {seconds} is not a time in seconds"),
                )
            })
        };
        let start = timing("SegmentStartTime", segment.segment_start_time)?;
        let end = timing("SegmentEndTime", segment.segment_end_time)?.max(start);
        let mut turn = Turn::new(speaker, segment.display_text.trim());
        turn.start_ms = Some(start);
        turn.end_ms = Some(end);
        conversation.turns.push(turn);
    }
    Ok(conversation)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const FILE: &str = r#"{"ConversationAnalytics":{"GUID":"None","Agent":"None","ConversationTime":"2021-11-25 13:35:14.215558","ConversationLocation":"America/New_York",
        "SpeakerLabels":[{"Speaker":"spk_0","DisplayText":"Agent"},{"Speaker":"spk_1","DisplayText":"Customer"}]},
        "SpeechSegments":[{"SegmentStartTime":0.04,"SegmentEndTime":0.25,"SegmentSpeaker":"spk_0","DisplayText":"MM.","SegmentInterruption":false},
                          {"SegmentStartTime":0.64,"SegmentEndTime":3.7,"SegmentSpeaker":"spk_1","DisplayText":"Thank you for calling."}]}"#;

    fn parse_with(text: &str, agents: &[&str]) -> Result<Conversation, ReadError> {
        let file: Arc<str> = Arc::from("pca.json");
        let agents: Vec<String> = agents.iter().map(|s| s.to_string()).collect();
        let cx = DocumentContext {
            file: &file,
            default_id: "pca.json",
            agent_speakers: &agents,
        };
        parse(text.as_bytes(), &cx)
    }

    #[test]
    fn labels_come_from_the_file_unless_the_command_line_names_the_agents() {
        use Speaker::*;
        let cases: [(&[&str], [Speaker; 2]); 3] = [
            (&[], [Agent, Customer]),
            (&["spk_1"], [Customer, Agent]),
            (&["SPK_0"], [Agent, Customer]),
        ];
        for (agents, expected) in cases {
            let c = parse_with(FILE, agents).unwrap();
            let speakers: Vec<Speaker> = c.turns.iter().map(|t| t.speaker).collect();
            assert_eq!(speakers, expected, "{agents:?}");
            assert_eq!(c.id, "pca.json");
            assert_eq!(c.agent_id, None);
            assert_eq!(
                (c.turns[1].start_ms, c.turns[1].end_ms),
                (Some(640), Some(3700))
            );
            assert_eq!(
                crate::transcript::format_rfc3339(c.started_at.as_ref().unwrap()),
                "2021-11-25T13:35:14.215558-05:00"
            );
        }
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                FILE.replace(
                    "\"spk_1\",\"DisplayText\":\"Thank",
                    "\"spk_9\",\"DisplayText\":\"Thank",
                ),
                "SpeechSegments[1].SegmentSpeaker: \"spk_9\"",
            ),
            (
                FILE.replace("0.64", "\"0.64\""),
                "SpeechSegments[1].SegmentStartTime",
            ),
            (
                FILE.replace("America/New_York", "Mars/Olympus"),
                "ConversationLocation",
            ),
            (
                FILE.replace("SpeechSegments", "Segments"),
                "missing field `SpeechSegments`",
            ),
        ];
        for (text, needle) in cases {
            let err = parse_with(&text, &[]).unwrap_err();
            assert!(
                err.message.contains(needle),
                "{} lacks {needle}",
                err.message
            );
        }
    }
}

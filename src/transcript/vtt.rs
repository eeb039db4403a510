//! WebVTT captions with voice tags, as meeting and call recorders export them:
//!
//! ```text
//! WEBVTT
//!
//! 1
//! 00:00:01.000 --> 00:00:04.200
//! <v Agent Sam>Thanks for calling, this is Sam.</v>
//! ```
//!
//! Each voice span of a cue is a turn with the cue's timing (a cue line without a voice tag
//! continues the voice before it). Who is the agent: a voice `--agent-speakers` names; else
//! the voice name's first word says it (`Agent …`; `Customer …` / `Caller …`; `System …` /
//! `IVR …` / `Bot …`); else, when `--agent-speakers` was given, a customer. A voice nothing
//! places makes the file a skip whose message says to use `--agent-speakers`.
//! `NOTE`, `STYLE` and `REGION` blocks are skipped; other tags (`<i>`, `<c.x>`, inline
//! timestamps) are dropped and character references decoded. One conversation per file, its
//! relative path as id; each turn keeps the line of its cue's timing for findings.

use super::script::parse_clock;
use super::{Conversation, DocumentContext, ReadError, SkipKind, Speaker, Turn};

/// Parses one WebVTT file.
pub fn parse(bytes: &[u8], cx: &DocumentContext) -> Result<Conversation, ReadError> {
    let text = cx.text(bytes, "WebVTT file")?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim_end()));
    let header_ok = lines.next().is_some_and(|(_, first)| {
        first == "WEBVTT" || first.starts_with("WEBVTT ") || first.starts_with("WEBVTT\t")
    });
    if !header_ok {
        return Err(ReadError {
            source: cx.source(1),
            kind: SkipKind::Malformed,
            message: "not a WebVTT file: the first line is not `WEBVTT`".into(),
        });
    }
    let mut conversation = Conversation::new(cx.default_id, cx.source(1));
    let mut first_cue = None;
    let mut voice: Option<String> = None;
    // Blocks are separated by blank lines.
    let mut block: Vec<(u64, &str)> = Vec::new();
    let mut lines = lines.peekable();
    while lines.peek().is_some() || !block.is_empty() {
        match lines.next() {
            Some((number, line)) if !line.trim().is_empty() => {
                block.push((number, line));
                continue;
            }
            _ => {}
        }
        if block.is_empty() {
            continue;
        }
        let cue = std::mem::take(&mut block);
        let Some(timing_at) = cue.iter().take(2).position(|(_, l)| l.contains("-->")) else {
            let first = cue[0].1;
            if ["NOTE", "STYLE", "REGION"]
                .iter()
                .any(|w| first == *w || first.starts_with(&format!("{w} ")))
                || conversation.turns.is_empty() && first_cue.is_none()
            {
                // Comments, styles, regions, and header lines before the first cue.
                continue;
            }
            return Err(cx.invalid(
                cue[0].0,
                format!("expected a cue timing `start --> end`, found {first:?}"),
            ));
        };
        let (line_number, timing) = cue[timing_at];
        let (start, end) = parse_timing(timing).ok_or_else(|| {
            cx.invalid(
                line_number,
                format!("cue timing {timing:?} is not `hh:mm:ss.ttt --> hh:mm:ss.ttt`"),
            )
        })?;
        first_cue.get_or_insert(line_number);
        for (name, words) in voice_spans(&cue[timing_at + 1..], &mut voice) {
            let Some(name) = name else {
                return Err(cx.invalid(
                    line_number,
                    "cue has no voice tag (`<v Name>`), so its speaker is unknown".into(),
                ));
            };
            let speaker = speaker_of_voice(cx, &name).ok_or_else(|| {
                cx.invalid(
                    line_number,
                    format!("voice {name:?} is neither `Agent …` nor `Customer …`; name the agents with --agent-speakers"),
                )
            })?;
            let mut turn = Turn::new(speaker, words);
            turn.start_ms = Some(start);
            turn.end_ms = Some(end);
            turn.line = Some(line_number);
            conversation.turns.push(turn);
        }
    }
    conversation.source.line = first_cue.unwrap_or(1);
    Ok(conversation)
}

/// `00:00:01.000 --> 00:00:04.200 align:start` → (1000, 4200).
fn parse_timing(line: &str) -> Option<(i64, i64)> {
    let (start, rest) = line.split_once("-->")?;
    let end = rest.split_whitespace().next()?;
    let start = parse_clock(start.trim())?;
    let end = parse_clock(end)?;
    (end >= start).then_some((start, end))
}

fn speaker_of_voice(cx: &DocumentContext, name: &str) -> Option<Speaker> {
    if cx.is_listed_agent(name) {
        return Some(Speaker::Agent);
    }
    let first_word = name
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_end_matches([':', ',']);
    match Speaker::of_role(first_word) {
        Some(speaker) => Some(speaker),
        // With --agent-speakers, whoever it does not name is a customer.
        None if !cx.agent_speakers.is_empty() => Some(Speaker::Customer),
        None => None,
    }
}

/// The (voice, text) spans of a cue's payload, in order; `voice` carries the last voice
/// over from cue to cue.
fn voice_spans(
    payload: &[(u64, &str)],
    voice: &mut Option<String>,
) -> Vec<(Option<String>, String)> {
    let mut spans: Vec<(Option<String>, String)> = Vec::new();
    for (_, line) in payload {
        let mut rest: &str = line;
        while !rest.is_empty() {
            let (text, next) = match rest.find("<v") {
                Some(at) if is_voice_tag(&rest[at..]) => (&rest[..at], Some(at)),
                _ => (rest, None),
            };
            push_text(&mut spans, voice, text);
            let Some(at) = next else { break };
            let tag_end = rest[at..].find('>').map_or(rest.len(), |e| at + e + 1);
            let annotation = rest[at + 2..tag_end.saturating_sub(1).max(at + 2)]
                .trim_start_matches(|c: char| {
                    c == '.' || c.is_alphanumeric() || c == '-' || c == '_'
                });
            *voice = Some(decode(annotation.trim()));
            spans.push((voice.clone(), String::new()));
            rest = &rest[tag_end..];
        }
    }
    spans
        .into_iter()
        .map(|(v, t)| (v, t.trim().to_string()))
        .filter(|(_, t)| !t.is_empty())
        .collect()
}

/// `<v Name>` or `<v.class Name>`, not `<vid>`-like text.
fn is_voice_tag(text: &str) -> bool {
    matches!(text.as_bytes().get(2), Some(b' ' | b'.' | b'\t'))
}

/// Adds text (tags dropped, references decoded) to the current span of the current voice.
fn push_text(spans: &mut Vec<(Option<String>, String)>, voice: &Option<String>, text: &str) {
    let clean = decode(&strip_tags(text));
    if clean.trim().is_empty() {
        return;
    }
    match spans.last_mut() {
        Some((v, t)) if v == voice => {
            if !t.is_empty() {
                t.push(' ');
            }
            t.push_str(clean.trim());
        }
        _ => spans.push((voice.clone(), clean.trim().to_string())),
    }
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&nbsp;", " ")
        .replace("&lrm;", "")
        .replace("&rlm;", "")
        .replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn parse_with(text: &str, agents: &[&str]) -> Result<Conversation, ReadError> {
        let file: Arc<str> = Arc::from("call.vtt");
        let agents: Vec<String> = agents.iter().map(|s| s.to_string()).collect();
        let cx = DocumentContext {
            file: &file,
            default_id: "call.vtt",
            agent_speakers: &agents,
        };
        parse(text.as_bytes(), &cx)
    }

    /// (speaker, text, start, end, line) of a turn.
    type TurnView<'a> = (Speaker, &'a str, Option<i64>, Option<i64>, Option<u64>);

    fn turns(c: &Conversation) -> Vec<TurnView<'_>> {
        c.turns
            .iter()
            .map(|t| (t.speaker, t.text.as_str(), t.start_ms, t.end_ms, t.line))
            .collect()
    }

    #[test]
    fn cues_voices_and_roles() {
        use Speaker::*;
        let text = "WEBVTT - call 17\n\nNOTE recorded by the dialer\n\n1\n00:00:01.000 --> 00:00:04.200 align:start\n<v Agent Sam>Thanks for calling, <i>this</i> is Sam.</v>\n\n00:03.500 --> 00:06.000\n<v.loud Customer Ana>I&apos;ve waited &amp; waited\nfor a week</v>\n<v Agent Sam>I see.</v>\n\n00:06.500 --> 00:07.000\nso sorry\n";
        let c = parse_with(text, &[]).unwrap();
        assert_eq!(
            turns(&c),
            vec![
                (
                    Agent,
                    "Thanks for calling, this is Sam.",
                    Some(1000),
                    Some(4200),
                    Some(6)
                ),
                (
                    Customer,
                    "I've waited & waited for a week",
                    Some(3500),
                    Some(6000),
                    Some(9)
                ),
                (Agent, "I see.", Some(3500), Some(6000), Some(9)),
                (Agent, "so sorry", Some(6500), Some(7000), Some(14)),
            ]
        );
        assert_eq!(c.source.line, 6);
        let named = parse_with(
            "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Sam Lee>hi</v>\n<v Ana>hello</v>\n",
            &["sam lee"],
        )
        .unwrap();
        let speakers: Vec<Speaker> = named.turns.iter().map(|t| t.speaker).collect();
        assert_eq!(speakers, [Agent, Customer]);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "1\n00:01.000 --> 00:02.000\n<v Agent>hi</v>",
                1,
                SkipKind::Malformed,
                "first line is not `WEBVTT`",
            ),
            (
                "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Sam Lee>hi</v>",
                3,
                SkipKind::Invalid,
                "--agent-speakers",
            ),
            (
                "WEBVTT\n\n00:01.000 --> soon\n<v Agent>hi</v>",
                3,
                SkipKind::Invalid,
                "is not `hh:mm:ss.ttt",
            ),
            (
                "WEBVTT\n\n00:01.000 --> 00:02.000\nhello",
                3,
                SkipKind::Invalid,
                "no voice tag",
            ),
            (
                "WEBVTT\n\n00:01.000 --> 00:02.000\n<v Agent>hi</v>\n\nstray words",
                6,
                SkipKind::Invalid,
                "expected a cue timing",
            ),
        ];
        for (text, line, kind, needle) in cases {
            let err = parse_with(text, &[]).unwrap_err();
            assert_eq!((err.source.line, err.kind), (line, kind), "{text}");
            assert!(
                err.message.contains(needle),
                "{} lacks {needle}",
                err.message
            );
        }
    }
}

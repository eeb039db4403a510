//! The plain-text script form: one turn per line, `speaker: text`.
//!
//! ```text
//! # a comment
//! agent: Thanks for calling, this is Sam.
//! [00:02.3-00:04.8] customer: This is the third time I'm calling!
//! agent: [00:04.1-00:06.0] I'm so sorry about that.
//!     an indented line continues the turn above
//! ```
//!
//! Speakers are role words in any case (`agent`; `customer` or `caller`; `system`, `supervisor`,
//! `ivr` or `bot`, each of them `system`), alone or before a name (`Agent Sam:`); a line
//! without a label continues the turn above, as an indented one does. Timings `[mm:ss.s-mm:ss.s]` (or
//! `[h:mm:ss.s-…]`) may stand before the speaker or right after the colon. Rule examples are
//! written in this form, and agent scripts kept in a repository are audited in it, so every
//! turn remembers its own line for findings.

use std::sync::Arc;

use super::{
    Conversation, DocumentContext, ReadError, SkipKind, Source, Speaker, Suppression, Turn,
};

/// Parses a script file (UTF-8) into one conversation whose id is the file's relative path.
pub fn parse_document(bytes: &[u8], cx: &DocumentContext) -> Result<Conversation, ReadError> {
    let text = cx.text(bytes, "script")?;
    parse_script(text, cx.file, cx.default_id)
}

/// Parses a whole script into one conversation with the given id.
pub fn parse_script(text: &str, file: &Arc<str>, id: &str) -> Result<Conversation, ReadError> {
    parse_script_from_line(text, file, id, 1)
}

/// As [`parse_script`], for a script that starts at `first_line` of its file.
pub fn parse_script_from_line(
    text: &str,
    file: &Arc<str>,
    id: &str,
    first_line: u64,
) -> Result<Conversation, ReadError> {
    let mut turns: Vec<Turn> = Vec::new();
    let mut suppressions: Vec<Suppression> = Vec::new();
    // Directives in the comment lines right above the next turn.
    let mut pending: Vec<Option<Vec<String>>> = Vec::new();
    let mut first_turn_line = None;
    for (offset, raw_line) in text.lines().enumerate() {
        let line_number = first_line + offset as u64;
        let error = |message: String| ReadError {
            source: Source {
                file: file.clone(),
                line: line_number,
            },
            kind: SkipKind::Invalid,
            message,
        };
        let line = raw_line.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            pending.clear();
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if let Some(rules) = ignore_directive(comment) {
                pending.push(rules);
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            match turns.last_mut() {
                Some(turn) => {
                    turn.text.push(' ');
                    turn.text.push_str(trimmed);
                    continue;
                }
                None => return Err(error("an indented line continues no turn".into())),
            }
        }
        let Some(turn) = parse_turn_line(trimmed).map_err(error)? else {
            // A line without a speaker's label continues the turn above.
            match turns.last_mut() {
                Some(turn) => {
                    turn.text.push(' ');
                    turn.text.push_str(trimmed);
                    continue;
                }
                None => {
                    return Err(error(format!(
                        "{trimmed:?} comes before the first turn: expected `speaker: text` \
                         (or a `#` comment)"
                    )));
                }
            }
        };
        for rules in pending.drain(..) {
            suppressions.push(Suppression {
                turn: turns.len(),
                rules,
            });
        }
        first_turn_line.get_or_insert(line_number);
        turns.push(Turn {
            line: Some(line_number),
            ..turn
        });
    }
    let source = Source {
        file: file.clone(),
        line: first_turn_line.unwrap_or(first_line),
    };
    Ok(Conversation {
        turns,
        suppressions,
        ..Conversation::new(id, source)
    })
}

/// Reads `callqa: ignore` (every rule) or `callqa: ignore blame, apology` from a comment's
/// text (after the `#`); any other comment is `None`.
fn ignore_directive(comment: &str) -> Option<Option<Vec<String>>> {
    let rest = comment.trim().strip_prefix("callqa:")?.trim_start();
    let rules = rest.strip_prefix("ignore")?;
    if !(rules.is_empty() || rules.starts_with(char::is_whitespace)) {
        return None;
    }
    let ids: Vec<String> = rules
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .collect();
    Some(if ids.is_empty() { None } else { Some(ids) })
}

/// Parses `[timing] speaker: [timing] text`, where the speaker's label is a role word
/// ([`Speaker::of_role`]), alone or followed by a name (`Agent Sam:`, `Customer (Jane):`).
/// `None` for a line with no such label, which continues the turn above; an error for a
/// timing without a label, or a single unknown word before a colon (`agnet:`), which is
/// more likely a mistyped label than words of the turn above.
fn parse_turn_line(line: &str) -> Result<Option<Turn>, String> {
    /// The most words a label with a name has (`Agent Mary Ann Smith`).
    const LABEL_WORDS: usize = 5;
    let (timing_before, rest) = take_timing(line)?;
    let label = rest.find(':').map(|colon| (colon, rest[..colon].trim()));
    let speaker = label.and_then(|(colon, label)| {
        let mut words = label.split_whitespace();
        let role = Speaker::of_role(words.next()?)?;
        (words.count() < LABEL_WORDS).then_some((colon, role))
    });
    let Some((colon, speaker)) = speaker else {
        return match label {
            Some((_, label))
                if !label.is_empty() && label.chars().all(|c| c.is_alphabetic() || c == '_') =>
            {
                Err(format!(
                    "unknown speaker {label:?} (expected agent, customer, caller, system, \
                     supervisor, ivr or bot, alone or before a name)"
                ))
            }
            _ if timing_before.is_some() => Err(format!(
                "expected `speaker: text` after the timing, found {line:?}"
            )),
            _ => Ok(None),
        };
    };
    let (timing_after, text) = take_timing(rest[colon + 1..].trim_start())?;
    if timing_before.is_some() && timing_after.is_some() {
        return Err("a turn has two timings".into());
    }
    let timing = timing_before.or(timing_after);
    let mut turn = Turn::new(speaker, text.trim());
    if let Some((start, end)) = timing {
        turn.start_ms = Some(start);
        turn.end_ms = Some(end);
    }
    Ok(Some(turn))
}

/// Takes a leading `[start-end]` timing off `text`, if there is one.
/// A turn's start and end, in ms.
type Timing = (i64, i64);

fn take_timing(text: &str) -> Result<(Option<Timing>, &str), String> {
    let Some(inner_start) = text.strip_prefix('[') else {
        return Ok((None, text));
    };
    let Some(close) = inner_start.find(']') else {
        return Err(format!("unclosed timing in {text:?}"));
    };
    let inner = &inner_start[..close];
    // `[noise]`-style marks are text; only digits, colons, dots and a dash make a timing.
    let looks_like_timing = !inner.is_empty()
        && inner
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'.' | b'-' | b' '));
    if !looks_like_timing {
        return Ok((None, text));
    }
    let Some((start, end)) = inner.split_once('-') else {
        return Err(format!("timing [{inner}] is not [mm:ss.s-mm:ss.s]"));
    };
    let start_ms = parse_clock(start.trim())
        .ok_or_else(|| format!("timing [{inner}]: {start:?} is not mm:ss.s"))?;
    let end_ms = parse_clock(end.trim())
        .ok_or_else(|| format!("timing [{inner}]: {end:?} is not mm:ss.s"))?;
    if end_ms < start_ms {
        return Err(format!("timing [{inner}] ends before it starts"));
    }
    Ok((Some((start_ms, end_ms)), &inner_start[close + 1..]))
}

/// Parses `mm:ss`, `mm:ss.s` or `h:mm:ss.s` into milliseconds.
pub(crate) fn parse_clock(clock: &str) -> Option<i64> {
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return None;
    }
    let (seconds_part, whole_parts) = parts.split_last()?;
    let mut minutes: i64 = 0;
    for part in whole_parts {
        if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        minutes = minutes * 60 + part.parse::<i64>().ok()?;
    }
    let (secs, frac) = match seconds_part.split_once('.') {
        Some((secs, frac)) => (secs, frac),
        None => (*seconds_part, ""),
    };
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 3 {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let frac_ms: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    Some((minutes * 60 + secs) * 1000 + frac_ms)
}

/// Formats milliseconds as `m:ss.s`, or `h:mm:ss.s` from an hour on, for people to read.
pub(crate) fn format_clock(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let ms = ms.unsigned_abs();
    let tenths = (ms % 1000) / 100;
    let total_seconds = ms / 1000;
    let (hours, minutes, seconds) = (
        total_seconds / 3600,
        total_seconds / 60 % 60,
        total_seconds % 60,
    );
    if hours > 0 {
        format!("{sign}{hours}:{minutes:02}:{seconds:02}.{tenths}")
    } else {
        format!("{sign}{minutes}:{seconds:02}.{tenths}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Arc<str> {
        Arc::from("example")
    }

    #[test]
    fn clocks() {
        let cases = [
            ("00:01.5", Some(1500)),
            ("1:02", Some(62_000)),
            ("1:00:00.25", Some(3_600_250)),
            ("12", None),
            ("a:00", None),
            ("00:01.2345", None),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_clock(input), expected, "{input}");
        }
        assert_eq!(format_clock(62_340), "1:02.3");
        // Past an hour, hours: parse_clock reads it back.
        assert_eq!(format_clock(3_599_900), "59:59.9");
        assert_eq!(format_clock(3_600_000), "1:00:00.0");
        assert_eq!(format_clock(434_268_000), "120:37:48.0");
        assert_eq!(format_clock(-3_723_400), "-1:02:03.4");
        assert_eq!(parse_clock("120:37:48.0"), Some(434_268_000));
    }

    #[test]
    fn turns_with_and_without_timings() {
        let text = "# greeting\nagent: Hello there\n[00:01.0-00:02.5] Customer: hi: it's me\nAGENT: [00:02.0-00:03.0] ok\n  and more\n";
        let conversation = parse_script(text, &file(), "ex").unwrap();
        let turns = &conversation.turns;
        assert_eq!(turns.len(), 3);
        assert_eq!(turns[0].text, "Hello there");
        assert_eq!(turns[0].line, Some(2));
        assert_eq!(turns[1].speaker, Speaker::Customer);
        assert_eq!(turns[1].text, "hi: it's me");
        assert_eq!(
            (turns[1].start_ms, turns[1].end_ms),
            (Some(1000), Some(2500))
        );
        assert_eq!(turns[2].text, "ok and more");
        let marks = parse_script(
            "agent: [noise]\ncustomer: [00:01.0-00:02.0] <unk>",
            &file(),
            "m",
        )
        .unwrap();
        assert_eq!(marks.turns[0].text, "[noise]");
        assert_eq!(marks.turns[1].start_ms, Some(1000));
        assert_eq!(conversation.source.line, 2);
    }

    /// Named role labels, a supervisor, and lines without a label that continue the turn
    /// above, as exported scripts write them.
    #[test]
    fn named_labels_supervisors_and_continuation_lines() {
        let text = "Agent Sam: Thanks for calling, this is Sam.\nCustomer: my order never came and\nit is the third time I'm calling.\nSupervisor: This call may be monitored.\nAGENT SAM: [00:04.1-00:06.0] I'm so sorry: let me check.\nCustomer (Jane Doe): ok\nCaller: thanks\n[00:07.0-00:08.0] IVR: goodbye\nNote the time: 5 pm\n";
        let conversation = parse_script(text, &file(), "ex").unwrap();
        let turns: Vec<(Speaker, &str, Option<u64>)> = conversation
            .turns
            .iter()
            .map(|t| (t.speaker, t.text.as_str(), t.line))
            .collect();
        assert_eq!(
            turns,
            [
                (Speaker::Agent, "Thanks for calling, this is Sam.", Some(1)),
                (
                    Speaker::Customer,
                    "my order never came and it is the third time I'm calling.",
                    Some(2)
                ),
                (Speaker::System, "This call may be monitored.", Some(4)),
                (Speaker::Agent, "I'm so sorry: let me check.", Some(5)),
                (Speaker::Customer, "ok", Some(6)),
                (Speaker::Customer, "thanks", Some(7)),
                (Speaker::System, "goodbye Note the time: 5 pm", Some(8)),
            ]
        );
        assert_eq!(conversation.turns[3].start_ms, Some(4100));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "nobody said this\nagent: hi",
                1,
                "comes before the first turn",
            ),
            ("agent: hi\nagnet: sorry", 2, "unknown speaker \"agnet\""),
            ("robot: beep", 1, "unknown speaker"),
            ("\n[00:03-00:01] agent: hi", 2, "ends before it starts"),
            ("  orphan", 1, "continues no turn"),
            ("[0:01-0:02] agent: [0:01-0:02] hi", 1, "two timings"),
            ("[12] agent: hi", 1, "is not [mm:ss.s-mm:ss.s]"),
        ];
        for (text, line, needle) in cases {
            let err = parse_script(text, &file(), "ex").unwrap_err();
            assert_eq!(err.source.line, line, "{text}");
            assert!(err.message.contains(needle), "{}", err.message);
        }
    }

    #[test]
    fn ignore_directives_attach_to_the_turn_below() {
        let file: Arc<str> = Arc::from("s.txt");
        let text = "# callqa: ignore blame, apology\nagent: a\n# callqa: ignore\n# a note\nagent: b\n# callqa: ignore closing\n\nagent: c\n# callqa: ignored\n# callqa:ignore  x\nagent: d\n";
        let conversation = parse_script(text, &file, "s").unwrap();
        assert_eq!(
            conversation.suppressions,
            vec![
                Suppression {
                    turn: 0,
                    rules: Some(vec!["blame".into(), "apology".into()]),
                },
                Suppression {
                    turn: 1,
                    rules: None
                },
                // A blank line ends the directive's reach (turn c has none); `ignored` is not
                // a directive.
                Suppression {
                    turn: 3,
                    rules: Some(vec!["x".into()]),
                },
            ]
        );
    }
}

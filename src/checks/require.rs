//! `require`: the speaker says one of the phrases inside a window of its own turns (the first
//! or last N turns with words, or the turns that start in the last S seconds of the
//! conversation), or there is one finding. Turns made only of `ignore` phrases (a goodbye)
//! count in no window.
//!
//! Whether courtesy turns are skipped is set per rule and per channel (`skip_courtesies`,
//! `[rule.channel.voice]`): a call closes with "anything else?" and a goodbye after the recap,
//! while a written reply is judged as it was sent. When every turn of the speaker is a
//! courtesy, none is skipped: a goodbye alone is judged. With `merge_parts`, consecutive
//! messages of the speaker that continue one reply ("1/2" … "2/2", a short trailing fragment)
//! count as one turn of a `first_turns`/`last_turns` window; so do consecutive timed turns of
//! the speaker (speech cut at its pauses).
//!
//! The window's answerable agent is the agent of the first agent turn (`first_turns`) or of
//! the last agent turn that counts in the window (`last_turns`, `last_seconds`; with courtesies
//! skipped, the last substantive one): the rule is applicable to that agent only, and the
//! finding points at the turn that closes the window (a merged reply's last part).

use super::{Context, Outcome, shorten};
use crate::rules::{Role, Rule, Window};
use crate::transcript::Speaker;
use crate::wording::plural;

pub(crate) fn check(
    context: &Context,
    index: u32,
    rule: &Rule,
    window: Window,
    outcome: &mut Outcome,
) {
    // A turn of nothing but `ignore` phrases ("okay bye bye") counts in no window: on a call
    // the summary comes before the goodbye.
    //
    // The speaker's turns and the window are walked as iterators (from the end for a closing
    // window), and the window is described only for a finding: no vector and no string for
    // a conversation that passes. Callgrind, 10 MB corpus, `audit -q -j1`: require::check
    // 17.4 M instructions with vectors, 4.6 M without.
    let courtesy = |turn: usize| context.all_words_covered(turn, index, Role::Ignore);
    let settings = rule.structure.on(context.conversation.channel.as_deref());
    let skip =
        settings.skip_courtesies && context.turns_of(rule.speaker).any(|turn| !courtesy(turn));
    let speaker_turns = || {
        context
            .turns_of(rule.speaker)
            .filter(move |&turn| !(skip && courtesy(turn)))
    };
    let Some(last_spoken) = speaker_turns().next_back() else {
        return;
    };
    let merge = settings.merge_parts;
    let turns = context.conversation_turns();
    let window_scan = match window {
        Window::FirstTurns(n) => scan(
            context,
            index,
            replies(speaker_turns(), n, true, |t| {
                merge && continues_reply(context, t)
            }),
        ),
        Window::LastTurns(n) => scan(
            context,
            index,
            replies(speaker_turns().rev(), n, false, |t| {
                merge && continues_reply(context, t)
            }),
        ),
        Window::LastMillis(ms) => {
            if !context.is_timed() {
                return;
            }
            let conversation_end = (0..context.turn_count())
                .filter(|&t| context.has_words(t))
                .filter_map(|t| turns[t].end_ms)
                .max()
                .unwrap_or(0);
            let from = conversation_end - ms;
            // Not a suffix of the speaker's turns: times need not grow with the turns.
            scan(
                context,
                index,
                speaker_turns().filter(|&t| turns[t].start_ms.is_some_and(|start| start >= from)),
            )
        }
    };
    let closing = matches!(window, Window::LastTurns(_) | Window::LastMillis(_));
    let answerable_turn = if closing && rule.speaker == Speaker::Agent {
        Some(last_spoken)
    } else if closing {
        context.turns_of(Speaker::Agent).next_back()
    } else {
        context.turns_of(Speaker::Agent).next()
    };
    let agent = match answerable_turn {
        Some(turn) => context.agent_of(turn),
        None => context.conversation.default_agent(),
    };
    outcome.applicable(agent, index);
    let WindowScan::Unsaid { last_in_window } = window_scan else {
        return;
    };
    // The finding points at the turn that closes the window (or the speaker's last turn when
    // the window is empty: a last-seconds window the speaker did not speak in).
    let at_turn = if closing {
        last_in_window.unwrap_or(last_spoken)
    } else {
        let Some(turn) = last_in_window else { return };
        turn
    };
    let described = match window {
        Window::FirstTurns(n) => {
            format!("the first {n} {} turn{}", rule.speaker, plural(n as u64))
        }
        Window::LastTurns(n) => format!("the last {n} {} turn{}", rule.speaker, plural(n as u64)),
        Window::LastMillis(ms) => {
            let seconds = ms as f64 / 1000.0;
            format!("the {} turns of the last {seconds} s", rule.speaker)
        }
    };
    // A merged reply is shown whole: its parts, first to last.
    let mut first_part = at_turn;
    while merge && continues_reply(context, first_part) {
        match (0..first_part).rev().find(|&t| context.has_words(t)) {
            Some(previous) => first_part = previous,
            None => break,
        }
    }
    let said: Vec<String> = (first_part..=at_turn)
        .filter(|&t| context.has_words(t))
        .map(|t| context.shown_text(t, |text| text.trim().to_string()))
        .collect();
    let evidence = format!(
        "nothing of the required phrases in {described}; said: \"{}\"",
        shorten(&said.join(" "), 100)
    );
    let finding = context.finding(index, agent, at_turn, evidence, None);
    outcome.fail(finding);
}

/// The turns of the first `n` replies of `turns`, given in conversation order (`forward`) or
/// from the end, where `continues(t)` says that turn `t` continues the reply before it.
fn replies(
    turns: impl Iterator<Item = usize>,
    n: usize,
    forward: bool,
    continues: impl Fn(usize) -> bool,
) -> impl Iterator<Item = usize> {
    let mut replies = 0;
    turns.take_while(move |&turn| {
        // Forward, a reply starts at a turn that does not continue; from the end, it starts
        // (is entered) at its last part and is left past a turn that does not continue.
        let new_reply = !continues(turn);
        if forward {
            if new_reply {
                if replies == n {
                    return false;
                }
                replies += 1;
            }
        } else {
            if replies == n {
                return false;
            }
            if new_reply {
                replies += 1;
            }
        }
        true
    })
}

/// Whether `turn` continues the reply of the turn before it (the previous turn with words,
/// by the same speaker): both are timed speech (a recognizer cuts one reply at its pauses),
/// that turn is numbered as a part before the last ("… 1/2"), this one as a later part
/// ("2/2 …"), or this one is a short fragment (at most 3 words besides handles, links and
/// sign-offs).
pub(crate) fn continues_reply(context: &Context, turn: usize) -> bool {
    if turn >= context.turn_count() || !context.has_words(turn) {
        return false;
    }
    let Some(previous) = (0..turn).rev().find(|&t| context.has_words(t)) else {
        return false;
    };
    if context.speaker(previous) != context.speaker(turn) {
        return false;
    }
    let turns = context.conversation_turns();
    let spoken = |t: usize| turns[t].end_ms.is_some();
    (spoken(previous) && spoken(turn))
        || matches!(part_number(&turns[previous].text), Some((k, n)) if k < n)
        || matches!(part_number(&turns[turn].text), Some((k, _)) if k > 1)
        || is_fragment(&turns[turn].text)
}

/// The part number of a message numbered `k/n` (1 ≤ k ≤ n ≤ 9, as a word of its own, maybe in
/// brackets): `(k, n)`.
fn part_number(text: &str) -> Option<(u32, u32)> {
    text.split_whitespace().find_map(|word| {
        let word = word.trim_matches(|c: char| "()[].,…".contains(c));
        let (k, n) = word.split_once('/')?;
        let (k, n): (u32, u32) = (k.parse().ok()?, n.parse().ok()?);
        (1 <= k && k <= n && (2..=9).contains(&n)).then_some((k, n))
    })
}

/// A message of at most 3 words once @handles, links and sign-offs (`^AB`, `*AB`, `-Name`)
/// are left out.
fn is_fragment(text: &str) -> bool {
    text.split_whitespace()
        .filter(|word| !(word.starts_with(['@', '^', '*', '-']) || word.starts_with("http")))
        .count()
        <= 3
}

/// What the turns of a window said.
#[derive(Debug, PartialEq, Eq)]
enum WindowScan {
    /// One of them holds a required phrase.
    Said,
    /// None does; the window's last turn in conversation order (`None`: the window is empty).
    Unsaid { last_in_window: Option<usize> },
}

/// Looks for a required phrase in the window's turns, given in either order.
fn scan(context: &Context, index: u32, window: impl Iterator<Item = usize>) -> WindowScan {
    let mut last_in_window = None;
    for turn in window {
        if context.has_hit(turn, index, Role::Phrase, Role::Unless) {
            return WindowScan::Said;
        }
        last_in_window = last_in_window.max(Some(turn));
    }
    WindowScan::Unsaid { last_in_window }
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, audit_on, finding_turns, rule_set};

    #[test]
    fn last_turns_table() {
        let rules =
            rule_set("kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\", \"next step\"]");
        let cases: [(&str, &[usize]); 6] = [
            (
                "customer: help\nagent: Please DM us your order number.",
                &[],
            ),
            (
                "customer: help\nagent: DM us please\ncustomer: ok\nagent: Thanks!",
                &[4],
            ),
            (
                "customer: help\nagent: thanks!\nagent: [noise]\nagent: ...",
                &[2],
            ),
            ("customer: help", &[]),
            ("agent: the next step is a reset\ncustomer: ok", &[]),
            ("agent: hello\ncustomer: bye", &[1]),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    #[test]
    fn goodbyes_can_be_left_out_of_the_window() {
        let rules = rule_set(
            "kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\"]\nignore = [\"bye\", \"okay\", \"thank you\"]",
        );
        let cases: [(&str, &[usize]); 3] = [
            (
                "agent: please DM us your number\ncustomer: thanks\nagent: okay bye bye",
                &[],
            ),
            ("agent: hello\ncustomer: thanks\nagent: okay bye bye", &[1]),
            // Nothing but courtesies: a goodbye alone is judged.
            ("agent: okay\nagent: thank you bye", &[2]),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    /// The default pack's shape: written replies judged literally, calls skipping courtesies
    /// back to the recap and merging speech cut at pauses.
    const CLOSING: &str = "kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\", \"balance is\", \"hours are\"]\nunless = [\"dm us if\"]\nskip_courtesies = false\nignore = [\"is there anything else\", \"i can help you with\", \"thank you for calling\", \"thanks\", \"bye\", \"okay\"]\nchannel.voice.skip_courtesies = true\nchannel.voice.merge_parts = true";

    #[test]
    fn calls_close_before_the_courtesies_and_written_replies_as_sent() {
        let rules = rule_set(CLOSING);
        let cases: [(&str, &str, &[usize]); 10] = [
            // recap, "anything else?", goodbye: the recap is the close
            (
                "voice",
                "customer: my balance?\nagent: your balance is ten dollars\nagent: is there anything else i can help you with\ncustomer: no\nagent: okay thank you for calling bye",
                &[],
            ),
            // no recap: the finding is on the last substantive turn
            (
                "voice",
                "customer: pay a bill\nagent: what is the amount\ncustomer: ten\nagent: is there anything else i can help you with\nagent: thank you for calling",
                &[2],
            ),
            // goodbye only
            (
                "voice",
                "customer: hi\nagent: okay thank you for calling bye",
                &[2],
            ),
            // the same call written: the offer is the last reply, and no next step
            (
                "twitter",
                "customer: my balance?\nagent: your balance is ten dollars\nagent: is there anything else i can help you with",
                &[3],
            ),
            (
                "twitter",
                "customer: help\nagent: dm us\nagent: thanks",
                &[3],
            ),
            // a bare "dm us if you need anything" is cancelled
            (
                "twitter",
                "customer: help\nagent: dm us if you need anything",
                &[2],
            ),
            // a channel without settings of its own takes the rule's
            ("chat", "customer: help\nagent: dm us\nagent: thanks", &[3]),
            // numbered parts are one reply on a channel that merges
            (
                "voice",
                "customer: hours?\nagent: the branch hours are nine to five\nagent: on weekdays only today is closed\ncustomer: ok",
                &[3],
            ),
            (
                "voice",
                "customer: hours?\nagent: the branch hours are nine\nagent: to five",
                &[],
            ),
            // the recap two replies back is outside a one-reply window
            (
                "voice",
                "customer: hours?\nagent: the branch hours are nine\ncustomer: and?\nagent: to five",
                &[4],
            ),
        ];
        for (channel, script, expected) in cases {
            assert_eq!(
                finding_turns(&audit_on(&rules, script, channel)),
                expected,
                "{channel}: {script}"
            );
        }
    }

    #[test]
    fn a_skipped_close_is_the_substantive_turns_agent_s() {
        let rules = rule_set(CLOSING);
        let mut conversation = crate::transcript::script::parse_script(
            "customer: pay a bill\nagent: what is the amount\nagent: is there anything else i can help you with\nagent: thank you for calling",
            &std::sync::Arc::from("t"),
            "c",
        )
        .unwrap();
        conversation.agent_id = Some("a-1".into());
        conversation.channel = Some("voice".into());
        conversation.turns[3].agent_id = Some("a-2".into());
        let result = crate::checks::Auditor::new(&rules).audit(&conversation);
        assert_eq!(finding_turns(&result), [2]);
        assert_eq!(result.findings[0].agent_id, "a-1");
    }

    #[test]
    fn split_replies_are_one_turn_when_merged() {
        let merged = rule_set(
            "kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\"]\nmerge_parts = true",
        );
        let literal = rule_set("kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\"]");
        // (script, findings when merged, findings when not)
        let cases: [(&str, &[usize], &[usize]); 6] = [
            // numbered parts: the step in the first, the finding on the last part
            (
                "customer: help\nagent: @c Please DM us your number 1/2\nagent: @c 2/2 https://t.co/x",
                &[],
                &[3],
            ),
            (
                "customer: help\nagent: @c we looked into it and found nothing 1/2\nagent: @c so sorry about all of this 2/2",
                &[3],
                &[3],
            ),
            // a short trailing fragment
            (
                "customer: help\nagent: please dm us your order number\nagent: thanks! ^AB",
                &[],
                &[3],
            ),
            // a full second message is a reply of its own
            (
                "customer: help\nagent: please dm us your order number\nagent: we want to sort this out for you today",
                &[3],
                &[3],
            ),
            // the customer spoke between: not one reply
            (
                "agent: dm us 1/2\ncustomer: ok\nagent: 2/2 thanks",
                &[3],
                &[3],
            ),
            (
                "customer: help\nagent: ok (1/3)\nagent: dm us (2/3)\nagent: bye (3/3)",
                &[],
                &[4],
            ),
        ];
        for (script, merged_turns, literal_turns) in cases {
            assert_eq!(
                finding_turns(&audit(&merged, script)),
                merged_turns,
                "merged: {script}"
            );
            assert_eq!(
                finding_turns(&audit(&literal, script)),
                literal_turns,
                "literal: {script}"
            );
        }
    }

    #[test]
    fn a_merged_reply_is_shown_whole() {
        let rules = rule_set(CLOSING);
        let result = audit_on(
            &rules,
            "customer: book it\nagent: four thirty\nagent: p m\nagent: is there anything else i can help you with",
            "voice",
        );
        assert_eq!(finding_turns(&result), [3]);
        assert_eq!(
            result.findings[0].evidence,
            "nothing of the required phrases in the last 1 agent turn; said: \"four thirty p m\""
        );
    }

    #[test]
    fn part_numbers() {
        let cases = [
            ("Please DM us 1/2", Some((1, 2))),
            ("(2/3) thanks", Some((2, 3))),
            ("...2/2.", Some((2, 2))),
            ("open 24/7", None),
            ("on 3/4 at noon", Some((3, 4))),
            ("no number", None),
        ];
        for (text, expected) in cases {
            assert_eq!(super::part_number(text), expected, "{text}");
        }
    }

    #[test]
    fn a_goodbye_is_left_out_only_when_ignore_phrases_cover_every_word() {
        // Overlapping phrases cover; a word between two phrases does not.
        let rules = rule_set(
            "kind = \"require\"\nlast_turns = 1\nphrases = [\"dm us\"]\nignore = [\"thanks so\", \"so much\", \"bye\"]",
        );
        let cases: [(&str, &[usize]); 4] = [
            ("agent: dm us\nagent: thanks so much bye", &[]),
            ("agent: dm us\nagent: thanks so much and bye", &[2]),
            ("agent: dm us\nagent: now bye", &[2]),
            ("agent: dm us\nagent: thanks so much bye now", &[2]),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    #[test]
    fn a_last_seconds_window_follows_the_times_not_the_order() {
        // The second turn starts before the first: the window of the last 10 s holds the
        // first turn only.
        let closing =
            rule_set("kind = \"require\"\nlast_seconds = 10\nphrases = [\"anything else\"]");
        let said = "[00:15.0-00:22.0] agent: anything else?\n[00:05.0-00:06.0] agent: ok bye";
        let unsaid = "[00:15.0-00:22.0] agent: hello\n[00:05.0-00:06.0] agent: anything else";
        assert_eq!(finding_turns(&audit(&closing, said)), [] as [usize; 0]);
        assert_eq!(finding_turns(&audit(&closing, unsaid)), [1]);
    }

    #[test]
    fn first_turns_and_last_seconds() {
        let greeting =
            rule_set("kind = \"require\"\nfirst_turns = 2\nphrases = [\"thank you for calling\"]");
        assert_eq!(
            finding_turns(&audit(&greeting, "agent: hi\nagent: thank you for calling")),
            [] as [usize; 0]
        );
        assert_eq!(
            finding_turns(&audit(
                &greeting,
                "agent: hi\nagent: yes\nagent: thank you for calling"
            )),
            [2]
        );

        let closing =
            rule_set("kind = \"require\"\nlast_seconds = 10\nphrases = [\"anything else\"]");
        let in_window = "[00:15.0-00:18.0] agent: anything else?\n[00:20.0-00:22.0] customer: no";
        let too_early = "[00:00.0-00:05.0] agent: anything else\n[00:20.0-00:22.0] customer: no";
        let not_said = "[00:00.0-00:05.0] agent: anything else\n[00:20.0-00:25.0] agent: bye";
        assert_eq!(finding_turns(&audit(&closing, in_window)), [] as [usize; 0]);
        assert_eq!(finding_turns(&audit(&closing, too_early)), [1]);
        assert_eq!(finding_turns(&audit(&closing, not_said)), [2]);
        assert_eq!(
            finding_turns(&audit(&closing, "agent: bye")),
            [] as [usize; 0],
            "untimed: not applicable"
        );
    }
}

//! `require`: the speaker says one of the phrases inside a window of its own turns (the first
//! or last N turns with words, or the turns that start in the last S seconds of the
//! conversation), or there is one finding. Turns made only of `ignore` phrases (a goodbye)
//! count in no window.
//!
//! The window's answerable agent is the agent of the first agent turn (`first_turns`) or of
//! the last agent turn (`last_turns`, `last_seconds`): the rule is applicable to that agent
//! only, and the finding points at the turn that closes the window.

use super::{Context, Outcome, shorten};
use crate::rules::{Role, Rule, Window};
use crate::transcript::Speaker;

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
    let speaker_turns = || {
        context
            .turns_of(rule.speaker)
            .filter(move |&turn| !context.all_words_covered(turn, index, Role::Ignore))
    };
    let Some(last_spoken) = speaker_turns().next_back() else {
        return;
    };
    let turns = context.conversation_turns();
    let window_scan = match window {
        Window::FirstTurns(n) => scan(context, index, speaker_turns().take(n)),
        Window::LastTurns(n) => scan(context, index, speaker_turns().rev().take(n)),
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
    let answerable_turn = if closing {
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
        Window::FirstTurns(n) => format!("the first {n} {} turn{}", rule.speaker, plural(n)),
        Window::LastTurns(n) => format!("the last {n} {} turn{}", rule.speaker, plural(n)),
        Window::LastMillis(ms) => {
            let seconds = ms as f64 / 1000.0;
            format!("the {} turns of the last {seconds} s", rule.speaker)
        }
    };
    let evidence = format!(
        "nothing of the required phrases in {described}; said: \"{}\"",
        shorten(&turns[at_turn].text, 100)
    );
    let finding = context.finding(index, agent, at_turn, evidence, None);
    outcome.fail(finding);
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

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, finding_turns, rule_set};

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
            ("agent: okay\nagent: thank you bye", &[]),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
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

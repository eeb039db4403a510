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
    let speaker_turns: Vec<usize> = context
        .turns_of(rule.speaker)
        .filter(|&turn| !context.all_words_covered(turn, index, Role::Ignore))
        .collect();
    if speaker_turns.is_empty() {
        return;
    }
    let turns = context.conversation_turns();
    let (in_window, described): (Vec<usize>, String) = match window {
        Window::FirstTurns(n) => (
            speaker_turns.iter().copied().take(n).collect(),
            format!("the first {n} {} turn{}", rule.speaker, plural(n)),
        ),
        Window::LastTurns(n) => (
            speaker_turns[speaker_turns.len().saturating_sub(n)..].to_vec(),
            format!("the last {n} {} turn{}", rule.speaker, plural(n)),
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
            let seconds = ms as f64 / 1000.0;
            (
                speaker_turns
                    .iter()
                    .copied()
                    .filter(|&t| turns[t].start_ms.is_some_and(|start| start >= from))
                    .collect(),
                format!("the {} turns of the last {seconds} s", rule.speaker),
            )
        }
    };
    let closing = matches!(window, Window::LastTurns(_) | Window::LastMillis(_));
    let agent_turns: Vec<usize> = context.turns_of(Speaker::Agent).collect();
    let answerable_turn = if closing {
        agent_turns.last().copied()
    } else {
        agent_turns.first().copied()
    };
    let agent = match answerable_turn {
        Some(turn) => context.agent_of(turn),
        None => context.conversation.default_agent(),
    };
    outcome.applicable(agent, index);
    let said = in_window
        .iter()
        .any(|&turn| context.has_hit(turn, index, Role::Phrase, Role::Unless));
    if said {
        return;
    }
    // The finding points at the turn that closes the window (or the speaker's last turn when
    // the window is empty: a last-seconds window the speaker did not speak in).
    let at_turn = if closing {
        in_window.last().or(speaker_turns.last())
    } else {
        in_window.last()
    };
    let Some(&at_turn) = at_turn else { return };
    let evidence = format!(
        "nothing of the required phrases in {described}; said: \"{}\"",
        shorten(&turns[at_turn].text, 100)
    );
    let finding = context.finding(index, agent, at_turn, evidence, None);
    outcome.fail(finding);
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

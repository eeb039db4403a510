//! `respond`: when the trigger speaker says a trigger phrase, the speaker must say one of the
//! phrases within its next `within_turns` turns (however few remain; none remaining counts as
//! unanswered). One finding per unanswered trigger, at the trigger's turn.
//!
//! With `count_earlier = true`, a phrase the speaker already said before the trigger answers
//! it too: an apology given earlier covers a complaint repeated later.
//!
//! A trigger is answerable by the agent of the first agent turn after it, or of the last agent
//! turn when none follows; the rule is applicable to that agent.

use super::{Context, Outcome};
use crate::rules::{Role, Rule};
use crate::transcript::Speaker;

pub(crate) struct Settings {
    pub(crate) trigger_speaker: Speaker,
    pub(crate) within_turns: usize,
    pub(crate) count_earlier: bool,
}

pub(crate) fn check(
    context: &Context,
    index: u32,
    rule: &Rule,
    settings: Settings,
    outcome: &mut Outcome,
) {
    let Settings {
        trigger_speaker,
        within_turns,
        count_earlier,
    } = settings;
    let speaker_turns = context.spoken_turns(rule.speaker);
    // `said[i]`: how many of the speaker's first `i` turns hold a response, made at the first
    // trigger. A window of turns is then answered when the count grows across it: linear in
    // the turns, however long the window (a window walked per trigger was quadratic).
    let mut said: Vec<u32> = Vec::new();
    // Answerable when no agent turn follows a trigger: the last agent turn's agent.
    let last_agent_turn = context.turns_of(Speaker::Agent).next_back();
    for trigger_turn in context.turns_of(trigger_speaker) {
        let Some((start, end)) = context
            .effective_hits(trigger_turn, index, Role::Trigger, Role::TriggerUnless)
            .next()
        else {
            continue;
        };
        let agent = match context.next_agent_turn(trigger_turn).or(last_agent_turn) {
            Some(turn) => context.agent_of(turn),
            None => context.conversation.default_agent(),
        };
        outcome.applicable(agent, index);
        if said.is_empty() {
            said.push(0);
            for &turn in speaker_turns {
                let responded = context.has_hit(turn, index, Role::Phrase, Role::Unless);
                said.push(said[said.len() - 1] + u32::from(responded));
            }
        }
        let before = speaker_turns.partition_point(|&t| t < trigger_turn);
        let after = speaker_turns.partition_point(|&t| t <= trigger_turn);
        let window_end = after.saturating_add(within_turns).min(speaker_turns.len());
        let answered = said[window_end] > said[after] || (count_earlier && said[before] > 0);
        if answered {
            continue;
        }
        let (from, to) = context.original_range(trigger_turn, start, end);
        // A window that runs past the end is said as what it is: the rest of the conversation.
        let remaining = window_end - after;
        let window = if remaining < within_turns {
            "the rest of the conversation".to_string()
        } else {
            format!(
                "the next {within_turns} {} turn{}",
                rule.speaker,
                if within_turns == 1 { "" } else { "s" }
            )
        };
        let evidence = format!(
            "{}: \"{}\"; no response in {window}",
            trigger_speaker,
            context.excerpt_of(trigger_turn, from, to),
        );
        let finding = context.finding(index, agent, trigger_turn, evidence, Some((from, to)));
        outcome.fail(finding);
    }
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, finding_turns, rule_set};

    #[test]
    fn respond_table() {
        let rules = rule_set(
            "kind = \"respond\"\nwithin_turns = 2\nphrases = [\"sorry\", \"apologize\"]\nunless = [\"sorry but\"]\ntrigger.phrases = [\"ridiculous\", \"still waiting\"]\ntrigger.unless = [\"not ridiculous\"]",
        );
        let cases: [(&str, &[usize]); 8] = [
            ("customer: This is ridiculous\nagent: I'm so sorry", &[]),
            (
                "customer: This is ridiculous\nagent: ok\nagent: we apologize",
                &[],
            ),
            (
                "customer: This is ridiculous\nagent: ok\nagent: hm\nagent: sorry",
                &[1],
            ),
            ("customer: This is ridiculous", &[1]),
            ("customer: still waiting!\nagent: sorry but no", &[1]),
            ("customer: that is not ridiculous\nagent: ok", &[]),
            ("agent: sorry\ncustomer: ridiculous\nagent: ok", &[2]),
            (
                "customer: ridiculous\ncustomer: still waiting\nagent: sorry",
                &[],
            ),
        ];
        for (script, expected) in cases {
            assert_eq!(finding_turns(&audit(&rules, script)), expected, "{script}");
        }
    }

    #[test]
    fn earlier_responses_count_when_asked() {
        let body = "kind = \"respond\"\nwithin_turns = 1\nphrases = [\"sorry\"]\ntrigger.phrases = [\"worst\"]";
        let strict = rule_set(body);
        let lenient = rule_set(&format!("{body}\ncount_earlier = true"));
        let cases: [(&str, &[usize], &[usize]); 3] = [
            (
                "customer: worst\nagent: so sorry\ncustomer: still the worst\nagent: ok",
                &[3],
                &[],
            ),
            (
                "agent: sorry for the wait\ncustomer: worst\nagent: ok",
                &[2],
                &[],
            ),
            (
                "customer: worst\nagent: ok\ncustomer: worst",
                &[1, 3],
                &[1, 3],
            ),
        ];
        for (script, strict_turns, lenient_turns) in cases {
            assert_eq!(
                finding_turns(&audit(&strict, script)),
                strict_turns,
                "strict: {script}"
            );
            assert_eq!(
                finding_turns(&audit(&lenient, script)),
                lenient_turns,
                "lenient: {script}"
            );
        }
    }

    #[test]
    fn the_finding_names_the_trigger() {
        let rules = rule_set(
            "kind = \"respond\"\nwithin_turns = 1\nphrases = [\"sorry\"]\ntrigger.phrases = [\"worst\"]",
        );
        let result = audit(&rules, "customer: you are the worst\nagent: ok");
        assert_eq!(
            result.findings[0].evidence,
            "customer: \"you are the «worst»\"; no response in the next 1 agent turn"
        );
        assert_eq!(result.findings[0].agent_id, "a-1");
        let unanswered = audit(&rules, "agent: hi\ncustomer: you are the worst");
        assert_eq!(
            unanswered.findings[0].evidence,
            "customer: \"you are the «worst»\"; no response in the rest of the conversation"
        );
    }
}

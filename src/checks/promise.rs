//! `promise`: the speaker promises a later contact. Detection only: every turn of the speaker
//! with an effective `phrases` hit is one promise, with its moment (the conversation's start
//! plus the turn's offset) and its deadline (from the turn's own time words, see
//! [`crate::deadline`]). Whether it was kept is decided after the whole input is read
//! ([`crate::callbacks`]), so this check records no finding and no applicability; the verdicts
//! come back through [`fold_judged`].

use std::collections::HashMap;

use jiff::SignedDuration;

use super::{Context, Outcome};
use crate::deadline::{Windows, find_deadline};
use crate::model::{ConversationAudit, Promise, PromiseState, RuleState};
use crate::rules::{Role, Rule};
use crate::transcript::Speaker;

pub(crate) fn check(
    context: &Context,
    index: u32,
    rule: &Rule,
    windows: &Windows,
    outcome: &mut Outcome,
) {
    let conversation = context.conversation;
    for turn in context.turns_of(rule.speaker) {
        let hits = context.effective_hits(turn, index, Role::Phrase, Role::Unless);
        let Some((start, end)) = hits.min() else {
            continue;
        };
        // A suppressed turn's promise is not tracked: it can be neither kept nor broken.
        if outcome.is_suppressed(turn, index) {
            continue;
        }
        let (evidence, span) = context.excerpt(turn, start, end);
        let spoken = &conversation.turns[turn];
        let made_at = conversation.started_at.as_ref().and_then(|started| {
            started
                .checked_add(SignedDuration::from_millis(spoken.start_ms.unwrap_or(0)))
                .ok()
        });
        let deadline = made_at
            .as_ref()
            .and_then(|moment| find_deadline(&spoken.text, span.0, moment, windows));
        let agent = if rule.speaker == Speaker::Agent {
            context.agent_of(turn)
        } else {
            context.agent_near(turn)
        };
        let (deadline, time_words) = match deadline {
            Some(d) => (Some(d.at), d.words),
            None => (None, None),
        };
        outcome.promises.push(Promise {
            conversation_id: conversation.id.clone(),
            agent_id: agent.to_string(),
            customer_id: conversation.customer_id.clone(),
            rule: index,
            turn: turn + 1,
            at_ms: spoken.start_ms,
            made_at,
            deadline,
            time_words,
            evidence,
            span: Some(span),
            source: conversation.turn_source(turn),
            state: PromiseState::Unverifiable,
            kept_by: None,
            carried: false,
        });
    }
}

/// Folds judged promises into their conversation's findings and agent states: each broken
/// promise becomes a finding, and the promise rule becomes failed for an agent with a broken
/// promise there, passed for one whose promises were kept.
pub fn fold_judged(audit: &mut ConversationAudit) {
    // Past a few agents, each promise's agent is looked up in a map, not walked to: a
    // conversation of thousands of agents and promises stays linear.
    let by_agent: HashMap<String, usize> = if audit.agents.len() > super::FEW_AGENTS {
        (audit.agents.iter().enumerate())
            .map(|(index, part)| (part.agent_id.clone(), index))
            .collect()
    } else {
        HashMap::new()
    };
    for promise in &audit.promises {
        let found = if by_agent.is_empty() {
            (audit.agents.iter()).position(|a| a.agent_id == promise.agent_id)
        } else {
            by_agent.get(&promise.agent_id).copied()
        };
        let Some(index) = found else {
            continue;
        };
        let state = &mut audit.agents[index].states[promise.rule as usize];
        match promise.state {
            PromiseState::Broken => {
                *state = RuleState::Failed;
                audit.findings.push(promise.finding());
            }
            PromiseState::Kept if *state == RuleState::NotApplicable => {
                *state = RuleState::Passed;
            }
            _ => {}
        }
    }
    audit.findings.sort_by_key(|f| (f.turn, f.rule));
}

#[cfg(test)]
mod tests {
    use crate::checks::test_support::{audit, rule_set};

    #[test]
    fn every_turn_with_a_promise_is_one_promise() {
        let rules = rule_set(
            "kind = \"promise\"\nphrases = [\"call you back\", \"follow up\"]\nunless = [\"us and well follow up\"]",
        );
        let cases: [(&str, &[usize]); 5] = [
            ("agent: I'll call you back tomorrow", &[1]),
            (
                "customer: call me back\nagent: sure, we'll follow up. I'll call you back",
                &[2],
            ),
            ("agent: DM us and we'll follow up", &[]),
            ("customer: I'll call you back", &[]),
            (
                "agent: we will follow up\ncustomer: ok\nagent: we'll call you back",
                &[1, 3],
            ),
        ];
        for (script, expected) in cases {
            let result = audit(&rules, script);
            let turns: Vec<usize> = result.promises.iter().map(|p| p.turn).collect();
            assert_eq!(turns, expected, "{script}");
            assert!(result.findings.is_empty());
        }
    }
}

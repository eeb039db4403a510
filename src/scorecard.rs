//! Per-agent aggregates: how many conversations, the sum of their scores, findings, and per
//! rule how often it applied and failed.
//!
//! Scores are summed as whole micro-points (score × 10⁶, rounded once per conversation), so
//! partial scorecards merge associatively and commutatively: any split of the input into
//! chunks, merged in any order, gives the same bytes out.

use std::collections::BTreeMap;

use crate::callbacks::{Promise, PromiseState};
use crate::checks::{ConversationAudit, RuleState};
use crate::rules::{RuleKind, RuleSet};

/// How often a rule applied and failed (conversations, for an agent; agent-conversations, in
/// the run's totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCount {
    pub applicable: u64,
    pub failed: u64,
    /// Promises only: not yet due at `as_of`.
    pub pending: u64,
    /// Promises only: no customer id or no start time.
    pub unverifiable: u64,
}

impl RuleCount {
    fn merge(&mut self, other: &RuleCount) {
        self.applicable += other.applicable;
        self.failed += other.failed;
        self.pending += other.pending;
        self.unverifiable += other.unverifiable;
    }

    /// Counts one judged promise: kept and broken ones are applicable, broken ones failed.
    fn count_promise(&mut self, state: PromiseState) {
        match state {
            PromiseState::Kept => self.applicable += 1,
            PromiseState::Broken => {
                self.applicable += 1;
                self.failed += 1;
            }
            PromiseState::Pending => self.pending += 1,
            PromiseState::Unverifiable => self.unverifiable += 1,
        }
    }

    /// failed / applicable, or `None` when the rule never applied.
    pub fn rate(&self) -> Option<f64> {
        (self.applicable > 0).then(|| self.failed as f64 / self.applicable as f64)
    }
}

/// One agent's aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentCard {
    pub conversations: u64,
    /// Sum of per-conversation scores in micro-points.
    pub score_micros: u64,
    pub findings: u64,
    /// Indexed like the rule set.
    pub rules: Vec<RuleCount>,
}

impl AgentCard {
    /// The mean score over the agent's conversations.
    pub fn score(&self) -> f64 {
        if self.conversations == 0 {
            100.0
        } else {
            self.score_micros as f64 / 1e6 / self.conversations as f64
        }
    }

    fn merge(&mut self, other: &AgentCard) {
        self.conversations += other.conversations;
        self.score_micros += other.score_micros;
        self.findings += other.findings;
        if self.rules.len() < other.rules.len() {
            self.rules.resize(other.rules.len(), RuleCount::default());
        }
        for (mine, theirs) in self.rules.iter_mut().zip(&other.rules) {
            mine.merge(theirs);
        }
    }
}

/// Every agent's aggregate, by agent id, and the run's per-rule totals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scorecards {
    pub agents: BTreeMap<String, AgentCard>,
    pub totals: Vec<RuleCount>,
}

impl Scorecards {
    pub fn new(rule_count: usize) -> Scorecards {
        Scorecards {
            agents: BTreeMap::new(),
            totals: vec![RuleCount::default(); rule_count],
        }
    }

    /// Adds one audited conversation (its promises judged already). A promise rule's counts
    /// are of promises, not conversations; its state only weighs in the conversation's score.
    pub fn add(&mut self, audit: &ConversationAudit, rules: &RuleSet) {
        self.add_as(audit, rules, None);
    }

    /// As [`Scorecards::add`], with every agent's part, finding and promise counted under
    /// `group` instead of the agent (a team roll-up) when it is given.
    pub fn add_as(&mut self, audit: &ConversationAudit, rules: &RuleSet, group: Option<&str>) {
        let rule_count = rules.rules.len();
        for part in &audit.agents {
            let card = self.card(group.unwrap_or(&part.agent_id), rule_count);
            card.conversations += 1;
            card.score_micros += (part.score(rules) * 1e6).round() as u64;
            let mut counted = vec![RuleCount::default(); rule_count];
            for (index, state) in part.states.iter().enumerate() {
                if matches!(rules.rules[index].kind, RuleKind::Promise { .. }) {
                    continue;
                }
                let count = &mut counted[index];
                match state {
                    RuleState::NotApplicable => {}
                    RuleState::Passed => count.applicable += 1,
                    RuleState::Failed => {
                        count.applicable += 1;
                        count.failed += 1;
                    }
                }
            }
            for (mine, add) in card.rules.iter_mut().zip(&counted) {
                mine.merge(add);
            }
            for (total, add) in self.totals.iter_mut().zip(&counted) {
                total.merge(add);
            }
        }
        self.count_findings(audit, group);
        for promise in &audit.promises {
            let index = promise.rule as usize;
            self.card(group.unwrap_or(&promise.agent_id), rule_count)
                .rules[index]
                .count_promise(promise.state);
            self.totals[index].count_promise(promise.state);
        }
    }

    /// For a conversation held until its promises are judged: opens its agents' cards (as
    /// [`Scorecards::add_as`] will) and counts its findings now, so that they need not wait
    /// in memory; `add_as` then counts only the findings added later (of broken promises).
    pub fn count_findings_ahead(
        &mut self,
        audit: &ConversationAudit,
        rules: &RuleSet,
        group: Option<&str>,
    ) {
        for part in &audit.agents {
            self.card(group.unwrap_or(&part.agent_id), rules.rules.len());
        }
        self.count_findings(audit, group);
    }

    /// Each finding counts for its agent's card (or the group's), when there is one.
    fn count_findings(&mut self, audit: &ConversationAudit, group: Option<&str>) {
        for finding in &audit.findings {
            if let Some(card) = self.agents.get_mut(group.unwrap_or(&finding.agent_id)) {
                card.findings += 1;
            }
        }
    }

    /// The agent's card, created empty when missing; the totals grow to `rule_count`.
    fn card(&mut self, agent: &str, rule_count: usize) -> &mut AgentCard {
        if self.totals.len() < rule_count {
            self.totals.resize(rule_count, RuleCount::default());
        }
        // A lookup first: most calls find the card, and `entry` would copy the key each time.
        if !self.agents.contains_key(agent) {
            self.agents.insert(
                agent.to_string(),
                AgentCard {
                    rules: vec![RuleCount::default(); rule_count],
                    ..AgentCard::default()
                },
            );
        }
        self.agents
            .get_mut(agent)
            .expect("the card was inserted above")
    }

    /// Counts one judged promise for its agent and in the totals; a broken promise carried
    /// from an earlier run also counts as the agent's finding (its conversation was scored in
    /// the run that read it).
    pub fn add_carried(&mut self, promise: &Promise, rules: &RuleSet) {
        self.count_promise(promise, rules.rules.len());
        if promise.state == PromiseState::Broken
            && let Some(card) = self.agents.get_mut(&promise.agent_id)
        {
            card.findings += 1;
        }
    }

    fn count_promise(&mut self, promise: &Promise, rule_count: usize) {
        let index = promise.rule as usize;
        self.card(&promise.agent_id, rule_count).rules[index].count_promise(promise.state);
        self.totals[index].count_promise(promise.state);
    }

    /// Merges another partial scorecard into this one.
    pub fn merge(&mut self, other: &Scorecards) {
        for (agent, card) in &other.agents {
            self.agents.entry(agent.clone()).or_default().merge(card);
        }
        if self.totals.len() < other.totals.len() {
            self.totals.resize(other.totals.len(), RuleCount::default());
        }
        for (mine, theirs) in self.totals.iter_mut().zip(&other.totals) {
            mine.merge(theirs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::{AgentPart, ConversationAudit};

    fn audit(agent: &str, states: Vec<RuleState>) -> ConversationAudit {
        ConversationAudit {
            findings: Vec::new(),
            agents: vec![AgentPart {
                agent_id: agent.into(),
                states,
            }],
            promises: Vec::new(),
            suppressed: 0,
        }
    }

    #[test]
    fn merging_is_associative_and_commutative() {
        let rules = crate::checks::test_support::rule_set("kind = \"forbid\"\nphrases = [\"x\"]");
        let audits = [
            audit("a", vec![RuleState::Failed]),
            audit("b", vec![RuleState::Passed]),
            audit("a", vec![RuleState::NotApplicable]),
            audit("c", vec![RuleState::Failed]),
        ];
        let single = |items: &[ConversationAudit]| {
            let mut cards = Scorecards::new(1);
            for item in items {
                cards.add(item, &rules);
            }
            cards
        };
        let whole = single(&audits);
        let mut left_then_right = single(&audits[..2]);
        left_then_right.merge(&single(&audits[2..]));
        let mut right_then_left = single(&audits[2..]);
        right_then_left.merge(&single(&audits[..2]));
        assert_eq!(whole, left_then_right);
        assert_eq!(whole, right_then_left);
        let a = &whole.agents["a"];
        assert_eq!(a.conversations, 2);
        assert_eq!(a.score(), 50.0);
        assert_eq!(
            a.rules[0],
            RuleCount {
                applicable: 1,
                failed: 1,
                ..RuleCount::default()
            }
        );
        assert_eq!(
            whole.totals[0],
            RuleCount {
                applicable: 3,
                failed: 2,
                ..RuleCount::default()
            }
        );
    }
}

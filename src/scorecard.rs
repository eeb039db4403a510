//! Per-agent aggregates: how many conversations, the sum of their scores, findings, and per
//! rule how often it applied and failed.
//!
//! Scores are summed as whole micro-points (score × 10⁶, rounded once per conversation), so
//! partial scorecards merge associatively and commutatively: any split of the input into
//! chunks, merged in any order, gives the same bytes out.
//!
//! A run adds its conversations to a `Tally`, whose cards are found by hashing their key,
//! and sorts it into [`Scorecards`] (cards by key, what the reports read) once, at the end.

use std::collections::BTreeMap;

use hashbrown::HashMap;

use crate::model::{ConversationAudit, Promise, PromiseState, RuleState};
use crate::rules::{RuleKind, RuleSet};

/// How often a rule applied and failed (conversations, for an agent; agent-conversations, in
/// the run's totals).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RuleCount {
    pub(crate) applicable: u64,
    pub(crate) failed: u64,
    /// Promises only: not yet due at `as_of`.
    pub(crate) pending: u64,
    /// Promises only: no customer id or no start time.
    pub(crate) unverifiable: u64,
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
    pub(crate) fn rate(&self) -> Option<f64> {
        (self.applicable > 0).then(|| self.failed as f64 / self.applicable as f64)
    }
}

/// One agent's aggregate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AgentCard {
    pub(crate) conversations: u64,
    /// Sum of per-conversation scores in micro-points.
    pub(crate) score_micros: u64,
    pub(crate) findings: u64,
    /// Indexed like the rule set.
    pub(crate) rules: Vec<RuleCount>,
}

impl AgentCard {
    /// The mean score over the agent's conversations.
    pub(crate) fn score(&self) -> f64 {
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
    pub(crate) agents: BTreeMap<String, AgentCard>,
    pub(crate) totals: Vec<RuleCount>,
}

impl Scorecards {
    pub fn new(rule_count: usize) -> Scorecards {
        Scorecards {
            agents: BTreeMap::new(),
            totals: vec![RuleCount::default(); rule_count],
        }
    }

    /// Adds one audited conversation (its promises judged already): a `Tally` of it alone,
    /// merged in.
    pub fn add(&mut self, audit: &ConversationAudit, rules: &RuleSet) {
        let mut one = Tally::new(rules.rules.len());
        one.add_as(audit, rules, None);
        self.merge(&one.into_scorecards());
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

/// Scorecards while a run adds to them, one conversation at a time: the cards found by a hash
/// of their key, sorted into [`Scorecards`] once, at the end. The merge looks up the card of
/// every agent (and team) of every conversation, and of every finding; a `BTreeMap<String, _>`
/// took a dozen string comparisons for each.
#[derive(Debug)]
pub(crate) struct Tally {
    cards: HashMap<String, AgentCard>,
    /// Indexed like the rule set.
    totals: Vec<RuleCount>,
}

impl Tally {
    pub(crate) fn new(rule_count: usize) -> Tally {
        Tally {
            cards: HashMap::default(),
            totals: vec![RuleCount::default(); rule_count],
        }
    }

    /// Adds one audited conversation (its promises judged already), with every agent's part,
    /// finding and promise counted under `group` instead of the agent (a team roll-up) when
    /// it is given. A promise rule's counts are of promises, not conversations; its state
    /// only weighs in the conversation's score.
    pub(crate) fn add_as(
        &mut self,
        audit: &ConversationAudit,
        rules: &RuleSet,
        group: Option<&str>,
    ) {
        let rule_count = rules.rules.len();
        for part in &audit.agents {
            let card = card(&mut self.cards, group.unwrap_or(&part.agent_id), rule_count);
            card.conversations += 1;
            card.score_micros += (part.score(rules) * 1e6).round() as u64;
            for ((state, rule), (mine, total)) in part
                .states
                .iter()
                .zip(&rules.rules)
                .zip(card.rules.iter_mut().zip(&mut self.totals))
            {
                if matches!(rule.kind, RuleKind::Promise { .. }) {
                    continue;
                }
                let failed = match state {
                    RuleState::NotApplicable => continue,
                    RuleState::Passed => 0,
                    RuleState::Failed => 1,
                };
                for count in [mine, total] {
                    count.applicable += 1;
                    count.failed += failed;
                }
            }
        }
        self.count_findings(audit, group);
        for promise in &audit.promises {
            self.count_promise(promise, group, rule_count);
        }
    }

    /// For a conversation held until its promises are judged: opens its agents' cards (as
    /// [`Tally::add_as`] will) and counts its findings now, so that they need not wait in
    /// memory; `add_as` then counts only the findings added later (of broken promises).
    pub(crate) fn count_findings_ahead(
        &mut self,
        audit: &ConversationAudit,
        rules: &RuleSet,
        group: Option<&str>,
    ) {
        for part in &audit.agents {
            card(
                &mut self.cards,
                group.unwrap_or(&part.agent_id),
                rules.rules.len(),
            );
        }
        self.count_findings(audit, group);
    }

    /// Each finding counts for its agent's card (or the group's), when there is one.
    fn count_findings(&mut self, audit: &ConversationAudit, group: Option<&str>) {
        if let Some(group) = group {
            if let Some(card) = self.cards.get_mut(group) {
                card.findings += audit.findings.len() as u64;
            }
            return;
        }
        for finding in &audit.findings {
            if let Some(card) = self.cards.get_mut(finding.agent_id.as_str()) {
                card.findings += 1;
            }
        }
    }

    /// Counts one judged promise for its agent (or the group) and in the totals.
    fn count_promise(&mut self, promise: &Promise, group: Option<&str>, rule_count: usize) {
        let index = promise.rule as usize;
        card(
            &mut self.cards,
            group.unwrap_or(&promise.agent_id),
            rule_count,
        )
        .rules[index]
            .count_promise(promise.state);
        self.totals[index].count_promise(promise.state);
    }

    /// Counts one judged promise for its agent and in the totals; a broken promise carried
    /// from an earlier run also counts as the agent's finding (its conversation was scored in
    /// the run that read it).
    pub(crate) fn add_carried(&mut self, promise: &Promise, rules: &RuleSet) {
        self.count_promise(promise, None, rules.rules.len());
        if promise.state == PromiseState::Broken
            && let Some(card) = self.cards.get_mut(promise.agent_id.as_str())
        {
            card.findings += 1;
        }
    }

    /// The cards sorted by key.
    pub(crate) fn into_scorecards(self) -> Scorecards {
        Scorecards {
            agents: self.cards.into_iter().collect(),
            totals: self.totals,
        }
    }
}

/// The card of `key`, created empty (with `rule_count` rules) when missing; the key is copied
/// only then.
fn card<'c>(
    cards: &'c mut HashMap<String, AgentCard>,
    key: &str,
    rule_count: usize,
) -> &'c mut AgentCard {
    cards.entry_ref(key).or_insert_with(|| AgentCard {
        rules: vec![RuleCount::default(); rule_count],
        ..AgentCard::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentPart, ConversationAudit};

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

    fn with_findings(mut audit: ConversationAudit, agents: &[&str]) -> ConversationAudit {
        for agent in agents {
            audit.findings.push(crate::model::Finding {
                conversation_id: "c".into(),
                agent_id: (*agent).into(),
                rule: 0,
                turn: 1,
                at_ms: None,
                evidence: String::new(),
                source: crate::transcript::Source {
                    file: "f".into(),
                    line: 1,
                },
                span: None,
            });
        }
        audit
    }

    #[test]
    fn a_tally_counts_agents_and_teams_and_sorts_them_by_key() {
        let rules = crate::checks::test_support::rule_set("kind = \"forbid\"\nphrases = [\"x\"]");
        let mut two_agents = with_findings(audit("b", vec![RuleState::Failed]), &["b"]);
        two_agents.agents.push(AgentPart {
            agent_id: "a".into(),
            states: vec![RuleState::Passed],
        });
        // A finding of an agent without a card yet counts nowhere.
        let stray = with_findings(audit("c", vec![RuleState::Failed]), &["c", "z"]);
        let mut agents = Tally::new(1);
        let mut teams = Tally::new(1);
        for (conversation, team) in [(&two_agents, "t-2"), (&stray, "t-1")] {
            agents.add_as(conversation, &rules, None);
            teams.add_as(conversation, &rules, Some(team));
        }
        let (agents, teams) = (agents.into_scorecards(), teams.into_scorecards());
        // key, conversations, score, findings, rule 0 applicable and failed
        let expected_agents = [
            ("a", 1, 100.0, 0, 1, 0),
            ("b", 1, 0.0, 1, 1, 1),
            ("c", 1, 0.0, 1, 1, 1),
        ];
        // A team counts each agent's part of a conversation, and all its findings.
        let expected_teams = [("t-1", 1, 0.0, 2, 1, 1), ("t-2", 2, 50.0, 1, 2, 1)];
        for (cards, expected) in [
            (&agents, &expected_agents[..]),
            (&teams, &expected_teams[..]),
        ] {
            let got: Vec<_> = cards
                .agents
                .iter()
                .map(|(key, card)| {
                    let rule = card.rules[0];
                    let score = card.score();
                    (
                        key.as_str(),
                        card.conversations,
                        score,
                        card.findings,
                        rule.applicable,
                        rule.failed,
                    )
                })
                .collect();
            assert_eq!(got, expected);
            assert_eq!((cards.totals[0].applicable, cards.totals[0].failed), (3, 2));
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

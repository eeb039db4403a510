//! The run's shared vocabulary: what the checks find, how each rule went for each agent, the
//! promises of a later contact and how they were judged, the conversations kept for the page,
//! and the run's counts. The checks and the callback join produce these; the scorecards, the
//! finding store and the writers read them. This module depends on the rule set and the
//! transcript model only, so every stage can share it without importing another stage.

use std::collections::BTreeMap;

use jiff::Zoned;

use crate::rules::{RuleSet, Severity};
use crate::transcript::{SkipKind, Source, Speaker, format_rfc3339};

/// One thing a rule found wrong, with its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub conversation_id: String,
    pub agent_id: String,
    /// Index of the rule in its [`RuleSet`].
    pub rule: u32,
    /// 1-based index of the turn the finding points at.
    pub turn: usize,
    pub at_ms: Option<i64>,
    /// The words that matched with a little context, or what was missing.
    pub evidence: String,
    /// Where a person finds it: the conversation's line (a script: the turn's line).
    pub source: Source,
    /// The matched words' byte range in the turn's original text, for highlighting.
    pub span: Option<(usize, usize)>,
}

/// How a rule went for one agent in one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleState {
    NotApplicable,
    Passed,
    Failed,
}

/// One agent's part of a conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentPart {
    pub agent_id: String,
    /// Indexed like the rule set.
    pub states: Vec<RuleState>,
}

impl AgentPart {
    /// 100 × (1 − failed weight / applicable weight); 0 when a critical rule failed; 100 when
    /// nothing applied.
    pub fn score(&self, rules: &RuleSet) -> f64 {
        let mut applicable = 0u64;
        let mut failed = 0u64;
        for (state, rule) in self.states.iter().zip(&rules.rules) {
            match state {
                RuleState::NotApplicable => {}
                RuleState::Passed => applicable += u64::from(rule.weight),
                RuleState::Failed => {
                    if rule.severity == Severity::Critical {
                        return 0.0;
                    }
                    applicable += u64::from(rule.weight);
                    failed += u64::from(rule.weight);
                }
            }
        }
        if applicable == 0 {
            100.0
        } else {
            100.0 * (1.0 - failed as f64 / applicable as f64)
        }
    }
}

/// The result of auditing one conversation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConversationAudit {
    /// Sorted by turn, then rule order.
    pub findings: Vec<Finding>,
    /// In order of each agent's first turn.
    pub agents: Vec<AgentPart>,
    /// The promises of later contact, by turn then rule; judged only after the whole input
    /// is read ([`crate::callbacks`]).
    pub promises: Vec<Promise>,
    /// Findings a script's `# callqa: ignore` directive suppressed.
    pub suppressed: u64,
}

/// How a promise was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PromiseState {
    Kept,
    Broken,
    Pending,
    Unverifiable,
}

impl PromiseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PromiseState::Kept => "kept",
            PromiseState::Broken => "broken",
            PromiseState::Pending => "pending",
            PromiseState::Unverifiable => "unverifiable",
        }
    }

    pub fn parse(text: &str) -> Option<PromiseState> {
        Some(match text {
            "kept" => PromiseState::Kept,
            "broken" => PromiseState::Broken,
            "pending" => PromiseState::Pending,
            "unverifiable" => PromiseState::Unverifiable,
            _ => return None,
        })
    }
}

/// One promise of a later contact.
#[derive(Debug, Clone, PartialEq)]
pub struct Promise {
    pub conversation_id: String,
    pub agent_id: String,
    pub customer_id: Option<String>,
    /// Index of the rule in its [`RuleSet`].
    pub rule: u32,
    /// 1-based turn of the promise.
    pub turn: usize,
    pub at_ms: Option<i64>,
    /// The conversation's start plus the turn's offset, in the conversation's offset.
    pub made_at: Option<Zoned>,
    pub deadline: Option<Zoned>,
    /// The time words that set the deadline (none: the rule's `default_within`).
    pub time_words: Option<String>,
    /// The promise words with a little context.
    pub evidence: String,
    pub span: Option<(usize, usize)>,
    pub source: Source,
    pub state: PromiseState,
    /// The conversation that kept it, and when that one started.
    pub kept_by: Option<(String, Zoned)>,
    /// Carried from an earlier run's `promises.csv`.
    pub carried: bool,
}

impl Promise {
    /// The finding a broken promise makes.
    pub fn finding(&self) -> Finding {
        let deadline = self
            .deadline
            .as_ref()
            .map(format_rfc3339)
            .unwrap_or_default();
        Finding {
            conversation_id: self.conversation_id.clone(),
            agent_id: self.agent_id.clone(),
            rule: self.rule,
            turn: self.turn,
            at_ms: self.at_ms,
            evidence: format!("{}; deadline {deadline}", self.evidence),
            source: self.source.clone(),
            span: self.span,
        }
    }
}

/// How a run's promises of one rule went: made in its input or carried from an earlier run,
/// and how all of them were judged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PromiseCount {
    pub made: u64,
    pub carried: u64,
    pub kept: u64,
    pub broken: u64,
    pub pending: u64,
    pub unverifiable: u64,
}

impl PromiseCount {
    fn add(&mut self, promise: &Promise) {
        *if promise.carried {
            &mut self.carried
        } else {
            &mut self.made
        } += 1;
        *match promise.state {
            PromiseState::Kept => &mut self.kept,
            PromiseState::Broken => &mut self.broken,
            PromiseState::Pending => &mut self.pending,
            PromiseState::Unverifiable => &mut self.unverifiable,
        } += 1;
    }
}

/// The counts of a run's judged promises, by rule index: what the summary says of them,
/// kept as the promises are judged so that they need not stay in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PromiseCounts {
    per_rule: Vec<PromiseCount>,
}

impl PromiseCounts {
    pub fn add(&mut self, promise: &Promise) {
        let rule = promise.rule as usize;
        if self.per_rule.len() <= rule {
            self.per_rule.resize(rule + 1, PromiseCount::default());
        }
        self.per_rule[rule].add(promise);
    }

    /// The counts of rule `rule`.
    pub fn of_rule(&self, rule: u32) -> PromiseCount {
        self.per_rule
            .get(rule as usize)
            .copied()
            .unwrap_or_default()
    }

    /// The counts of every rule together.
    pub fn total(&self) -> PromiseCount {
        let mut total = PromiseCount::default();
        for count in &self.per_rule {
            total.made += count.made;
            total.carried += count.carried;
            total.kept += count.kept;
            total.broken += count.broken;
            total.pending += count.pending;
            total.unverifiable += count.unverifiable;
        }
        total
    }
}

/// A turn kept for the HTML report.
#[derive(Debug, Clone, PartialEq)]
pub struct RetainedTurn {
    pub speaker: Speaker,
    /// Who spoke it, for agent turns.
    pub agent_id: Option<String>,
    /// The original text, unredacted: writers redact it.
    pub text: String,
    pub start_ms: Option<i64>,
}

/// A conversation with findings whose turns are kept for the HTML report.
#[derive(Debug, Clone, PartialEq)]
pub struct RetainedConversation {
    pub source: Source,
    pub turns: Vec<RetainedTurn>,
}

/// How the `--metadata` join went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetadataStats {
    pub rows: u64,
    /// Rows no conversation matched.
    pub unmatched_rows: u64,
    /// Audited conversations that matched no row.
    pub unmatched_conversations: u64,
}

/// Counts of what was read, for the summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Conversations read: audited + skipped.
    pub read: u64,
    pub audited: u64,
    pub skipped: BTreeMap<SkipKind, u64>,
    /// Files (or folders) that could not be opened or read to their end.
    pub unreadable_files: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
    /// Present when `--metadata` was given.
    pub metadata: Option<MetadataStats>,
    /// Findings suppressed by `# callqa: ignore` directives in scripts.
    pub suppressed: u64,
}

impl RunStats {
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

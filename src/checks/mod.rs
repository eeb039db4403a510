//! Checks: given one conversation and the phrase hits in its turns, the findings of every rule
//! and, for each agent who spoke, which rules applied to them and which failed.
//!
//! [`Auditor::audit`] normalizes each turn once and scans it once with the rule set's single
//! automaton; the hits are then sorted by rule so that each kind's check (one file per kind)
//! asks cheap questions: "does turn 7 hold a `phrases` hit of rule 2 that no `unless` cancels?".
//! Attribution follows SPEC: a finding belongs to the agent who spoke the turn (forbid,
//! overlap), to the agent of the first agent turn after the trigger or of the last agent turn
//! when none follows (respond), or to the agent of the last agent turn (require on a closing
//! window). Each agent is scored on their own part of the conversation.
//!
//! Every check is linear (or n log n) in the turns and hits of a conversation: a turn's hits
//! of one rule and role are a sorted slice found by binary search, each speaker's turns are
//! listed once, and nothing compares every hit or turn with every other. [`Auditor::work`]
//! counts the steps, which the tests hold linear instead of timing (40,000 turns once took 23
//! times as long as 4,000, and 200,000 hits in one turn 50 times as long as 20,000).

mod forbid;
mod overlap;
mod promise;
mod require;
mod respond;

pub use promise::fold_judged;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::engine::{
    Hit, Normalized, ScanBuffer, SentenceMap, Sentences, TurnText, find_cues, normalize_into,
    normalize_text_into,
};
use crate::model::{AgentPart, ConversationAudit, Finding, Promise, RuleState};
use crate::redact::{Redacted, Redactor};
use crate::rules::{Role, Rule, RuleKind, RuleSet};
use crate::transcript::{Conversation, Speaker};

/// In a [`RuleHit`]'s `start`, the bit that says the hit is a cue: the rest of `start` is the
/// index of its original span in [`Context::cue_spans`] (and `end` is `start` + 1).
const CUE_BIT: u32 = 1 << 31;

/// A rule's hit in a turn: which rule, in which role, where in the normalized text (or, for
/// a cue, which cue: [`CUE_BIT`]). The
/// fields' order is the sort order of a turn's hits, which [`Context::all_words_covered`]
/// relies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RuleHit {
    rule: u32,
    role: Role,
    start: u32,
    end: u32,
}

/// What the checks of one conversation look at: the conversation, each turn's normalized
/// text, and each turn's rule hits.
pub(crate) struct Context<'a> {
    pub(crate) conversation: &'a Conversation,
    normalized: &'a [Normalized],
    hits: &'a [RuleHit],
    /// `hits[turn_hits[t].0..turn_hits[t].1]` are turn t's hits, sorted.
    turn_hits: &'a [(usize, usize)],
    /// The last turn normalized again with byte origins ([`Context::original_range`]).
    with_origins: &'a RefCell<WithOrigins>,
    /// The original spans of the cues found in the conversation's turns.
    cue_spans: &'a [(usize, usize)],
    /// Redacts turns before evidence is cut from them (`None`: `--no-redact`).
    redactor: Option<&'a Redactor>,
    /// The last turn redacted for evidence ([`Context::shown`]).
    shown: &'a RefCell<Shown>,
    /// Per speaker (`Speaker as usize`), the turns with words, in order.
    spoken: &'a [Vec<usize>; 3],
    /// Steps taken by the checks' inner loops (hits, cancels and turns looked at): a
    /// measure of work that tests hold linear in turns and hits ([`Auditor::work`]).
    work: &'a Cell<u64>,
}

/// The turn last redacted for evidence, kept by the [`Auditor`]: a turn with many hits is
/// redacted once.
#[derive(Default)]
struct Shown {
    turn: Option<usize>,
    /// `None`: nothing in the turn was redacted.
    redacted: Option<Redacted<'static>>,
}

/// A turn normalized with byte origins for the evidence of findings, kept by the [`Auditor`]:
/// its buffers are reused from one finding to the next and a turn with several findings is
/// normalized once.
#[derive(Default)]
struct WithOrigins {
    turn: Option<usize>,
    normalized: Normalized,
}

impl Context<'_> {
    pub(crate) fn turn_count(&self) -> usize {
        self.conversation.turns.len()
    }

    pub(crate) fn conversation_turns(&self) -> &[crate::transcript::Turn] {
        &self.conversation.turns
    }

    pub(crate) fn speaker(&self, turn: usize) -> Speaker {
        self.conversation.turns[turn].speaker
    }

    pub(crate) fn normalized(&self, turn: usize) -> &Normalized {
        &self.normalized[turn]
    }

    /// Whether the turn has any words (an empty or `[noise]`-only turn has none).
    pub(crate) fn has_words(&self, turn: usize) -> bool {
        self.normalized[turn].has_words()
    }

    /// Turns of `speaker` that have words, in order (or from the end, with `rev`/`next_back`).
    pub(crate) fn turns_of(&self, speaker: Speaker) -> impl DoubleEndedIterator<Item = usize> + '_ {
        self.spoken_turns(speaker).iter().copied()
    }

    /// The turns of `speaker` that have words, in order: a sorted slice, for binary search.
    pub(crate) fn spoken_turns(&self, speaker: Speaker) -> &[usize] {
        &self.spoken[speaker as usize]
    }

    /// Counts `steps` steps of work ([`Context::work`]).
    pub(crate) fn step(&self, steps: usize) {
        self.work.set(self.work.get() + steps as u64);
    }

    /// The hits of `role` in `turn` for `rule`, in order of start: a turn's hits are sorted
    /// by rule, role and start, so they lie together and are found by binary search.
    fn rule_hits(&self, turn: usize, rule: u32, role: Role) -> &[RuleHit] {
        let (from, to) = self.turn_hits[turn];
        let hits = &self.hits[from..to];
        let first = hits.partition_point(|h| (h.rule, h.role) < (rule, role));
        let count = hits[first..].partition_point(|h| (h.rule, h.role) == (rule, role));
        &hits[first..first + count]
    }

    /// The places in `turn` where a hit of `role` for `rule` stands that no hit of `cancel`
    /// overlaps, in order: hits that overlap one another ("not our fault" inside "is not our
    /// fault") are one place, spanning them all, so that one place is one finding.
    ///
    /// One walk over both lists, in order of start: the cancels that start before a hit only
    /// grow from one hit to the next, so the furthest end among them is kept as they pass;
    /// of the others, the first starts earliest. Linear in the hits (a turn of 200,000 hits
    /// once took minutes when every hit was compared with every cancel).
    pub(crate) fn effective_hits(
        &self,
        turn: usize,
        rule: u32,
        role: Role,
        cancel: Role,
    ) -> impl Iterator<Item = (u32, u32)> + '_ {
        // A turn looked at is a step, and so is each hit and cancel walked past.
        self.step(1);
        let cancels = self.rule_hits(turn, rule, cancel);
        let mut passed = 0;
        let mut reach = 0;
        let hits = self
            .rule_hits(turn, rule, role)
            .iter()
            .filter(move |hit| {
                let before = passed;
                while passed < cancels.len() && cancels[passed].start < hit.start {
                    reach = reach.max(cancels[passed].end);
                    passed += 1;
                }
                self.step(1 + passed - before);
                let covered_from_before = reach > hit.start;
                let starts_inside = cancels.get(passed).is_some_and(|c| c.start < hit.end);
                !(covered_from_before || starts_inside)
            })
            .map(|hit| (hit.start, hit.end));
        places(hits)
    }

    /// Whether `turn` holds an effective hit.
    pub(crate) fn has_hit(&self, turn: usize, rule: u32, role: Role, cancel: Role) -> bool {
        self.effective_hits(turn, rule, role, cancel)
            .next()
            .is_some()
    }

    /// Whether every word of `turn` is covered by hits of `role` for `rule`.
    ///
    /// A turn's hits are sorted by rule, role and then start, so those of one rule and role
    /// come in order of their start and are walked where they lie: no copy to sort. (This is
    /// asked of most turns, by `overlap` and `require`; callgrind, 10 MB corpus, `audit -q
    /// -j1`: 10.8 M instructions with a sorted copy, 2.3 M without.)
    pub(crate) fn all_words_covered(&self, turn: usize, rule: u32, role: Role) -> bool {
        let text_len = self.normalized[turn].text.len() as u32;
        let mut any = false;
        let mut covered_to = 1; // first byte of the first word
        for hit in self.rule_hits(turn, rule, role) {
            self.step(1);
            if hit.start & CUE_BIT != 0 {
                // Cues come last, and cover no word.
                break;
            }
            if hit.start > covered_to {
                return false;
            }
            covered_to = covered_to.max(hit.end + 1);
            any = true;
        }
        any && covered_to >= text_len
    }

    /// The agent who spoke an agent turn.
    pub(crate) fn agent_of(&self, turn: usize) -> &str {
        self.conversation.agent_of_turn(turn)
    }

    /// The agent answerable for something at `turn`: the agent of the latest agent turn up to
    /// it, else of the first agent turn after it, else the conversation's agent.
    pub(crate) fn agent_near(&self, turn: usize) -> &str {
        let agent_turns = self.spoken_turns(Speaker::Agent);
        let after = agent_turns.partition_point(|&t| t <= turn);
        let near = match after {
            0 => agent_turns.first(),
            _ => agent_turns.get(after - 1),
        };
        match near {
            Some(&t) => self.agent_of(t),
            None => self.conversation.default_agent(),
        }
    }

    /// The first agent turn with words after `turn`, if any.
    pub(crate) fn next_agent_turn(&self, turn: usize) -> Option<usize> {
        let agent_turns = self.spoken_turns(Speaker::Agent);
        agent_turns
            .get(agent_turns.partition_point(|&t| t <= turn))
            .copied()
    }

    /// Whether every turn with words has a start and an end time.
    pub(crate) fn is_timed(&self) -> bool {
        let mut any = false;
        for (t, turn) in self.conversation.turns.iter().enumerate() {
            if self.has_words(t) {
                if turn.start_ms.is_none() || turn.end_ms.is_none() {
                    return false;
                }
                any = true;
            }
        }
        any
    }

    /// The original byte range of `turn`'s normalized range `start..end`. The auditor keeps
    /// no byte origins (most turns never need them): the turn is normalized again with them,
    /// into the auditor's buffer, unless it is the turn normalized last.
    pub(crate) fn original_range(&self, turn: usize, start: u32, end: u32) -> (usize, usize) {
        if start & CUE_BIT != 0 {
            return self.cue_spans[(start & !CUE_BIT) as usize];
        }
        let mut with_origins = self.with_origins.borrow_mut();
        if with_origins.turn != Some(turn) {
            normalize_into(
                &self.conversation.turns[turn].text,
                &mut with_origins.normalized,
            );
            with_origins.turn = Some(turn);
        }
        with_origins
            .normalized
            .original_range(start as usize, end as usize)
    }

    /// The evidence for a hit: the speaker's words around it, the match in «», and the
    /// match's original byte range.
    pub(crate) fn excerpt(&self, turn: usize, start: u32, end: u32) -> (String, (usize, usize)) {
        let (from, to) = self.original_range(turn, start, end);
        (self.excerpt_of(turn, from, to), (from, to))
    }

    /// The original byte range `from..to` of `turn` with some context, as evidence shows it:
    /// cut from the turn redacted whole, so no cut splits private data.
    pub(crate) fn excerpt_of(&self, turn: usize, from: usize, to: usize) -> String {
        self.shown(turn, |shown| {
            let (from, to) = match shown {
                Some(redacted) => redacted.range(from, to),
                None => (from, to),
            };
            let text = shown.map_or(self.conversation.turns[turn].text.as_str(), |r| &r.text);
            excerpt(text, from, to)
        })
    }

    /// `turn`'s text as evidence shows it (redacted unless the run keeps private data).
    pub(crate) fn shown_text<T>(&self, turn: usize, show: impl FnOnce(&str) -> T) -> T {
        self.shown(turn, |shown| {
            show(shown.map_or(self.conversation.turns[turn].text.as_str(), |r| &r.text))
        })
    }

    /// Calls `show` with `turn` redacted (`None`: nothing to redact, or no redaction).
    fn shown<T>(&self, turn: usize, show: impl FnOnce(Option<&Redacted<'static>>) -> T) -> T {
        let Some(redactor) = self.redactor else {
            return show(None);
        };
        let mut shown = self.shown.borrow_mut();
        if shown.turn != Some(turn) {
            shown.redacted = redactor
                .redacted(&self.conversation.turns[turn].text)
                .changed();
            shown.turn = Some(turn);
        }
        show(shown.redacted.as_ref())
    }

    pub(crate) fn finding(
        &self,
        rule: u32,
        agent: &str,
        turn: usize,
        evidence: String,
        span: Option<(usize, usize)>,
    ) -> Finding {
        Finding {
            conversation_id: self.conversation.id.clone(),
            agent_id: agent.to_string(),
            rule,
            turn: turn + 1,
            at_ms: self.conversation.turns[turn].start_ms,
            evidence,
            source: self.conversation.turn_source(turn),
            span,
        }
    }
}

/// How many characters of context an excerpt shows on each side of the match.
const CONTEXT_CHARS: usize = 40;

/// `text[from..to]` marked with «», with up to 40 characters each side, cut at
/// a word edge and marked `…` where cut; line breaks become spaces.
pub(crate) fn excerpt(text: &str, from: usize, to: usize) -> String {
    let before = &text[..from];
    let after = &text[to..];
    let mut left_start = before
        .char_indices()
        .rev()
        .nth(CONTEXT_CHARS - 1)
        .map_or(0, |(i, _)| i);
    if left_start > 0 {
        // Start at the next word: after the first white space, which may be more than one
        // byte (a no-break space U+00A0 is two, an ideographic space U+3000 three).
        left_start = before[left_start..]
            .char_indices()
            .find(|&(_, c)| c.is_whitespace())
            .map_or(left_start, |(i, space)| left_start + i + space.len_utf8())
            .min(from);
    }
    let mut right_end = after
        .char_indices()
        .nth(CONTEXT_CHARS)
        .map_or(after.len(), |(i, _)| i);
    if right_end < after.len() {
        right_end = after[..right_end]
            .rfind(char::is_whitespace)
            .unwrap_or(right_end);
    }
    let mut out = String::new();
    if left_start > 0 {
        out.push('…');
    }
    out.push_str(before[left_start..].trim_start());
    out.push('«');
    out.push_str(&text[from..to]);
    out.push('»');
    out.push_str(after[..right_end].trim_end());
    if right_end < after.len() {
        out.push('…');
    }
    flatten(out)
}

/// A turn's text shortened to about `max` characters for "what was said" evidence.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    let text = text.trim();
    let cut = text.char_indices().nth(max).map(|(i, _)| i);
    let shown = match cut {
        None => text.to_string(),
        Some(cut) => {
            let end = text[..cut].rfind(char::is_whitespace).unwrap_or(cut);
            format!("{}…", text[..end].trim_end())
        }
    };
    flatten(shown)
}

/// `text` on one line: each run of line breaks and tabs becomes one space. Most texts have
/// none and are given back as they are.
fn flatten(text: String) -> String {
    if text.contains(['\n', '\r', '\t']) {
        text.split(['\n', '\r', '\t'])
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        text
    }
}

/// Collects the agents of a conversation and their rule states while checks run.
pub(crate) struct Outcome {
    rule_count: usize,
    /// The first `speakers` parts are the agents who spoke a turn with words, in order of
    /// their first turn: registered before any check runs.
    agents: Vec<AgentPart>,
    speakers: usize,
    findings: Vec<Finding>,
    promises: Vec<Promise>,
    /// Per `# callqa: ignore` directive, sorted by turn: the 0-based turn and the rules
    /// (indices; `None`: every rule) whose findings there are suppressed.
    suppressions: Vec<(usize, Option<Vec<u32>>)>,
    /// Findings dropped by those directives.
    suppressed: u64,
    /// The index of each agent in `agents`, once there are more than [`FEW_AGENTS`]: a
    /// conversation of thousands of agents must not compare every finding's with each.
    by_agent: HashMap<String, usize>,
}

/// Up to this many agents, an agent's part is found by walking them.
const FEW_AGENTS: usize = 16;

impl Outcome {
    fn part(&mut self, agent: &str) -> &mut AgentPart {
        let found = if self.agents.len() <= FEW_AGENTS {
            self.agents.iter().position(|a| a.agent_id == agent)
        } else {
            self.by_agent.get(agent).copied()
        };
        let index = match found {
            Some(index) => index,
            None => {
                self.agents.push(AgentPart {
                    agent_id: agent.to_string(),
                    states: vec![RuleState::NotApplicable; self.rule_count],
                });
                let index = self.agents.len() - 1;
                if self.agents.len() > FEW_AGENTS {
                    if self.by_agent.is_empty() {
                        for (i, part) in self.agents.iter().enumerate() {
                            self.by_agent.insert(part.agent_id.clone(), i);
                        }
                    } else {
                        self.by_agent.insert(agent.to_string(), index);
                    }
                }
                index
            }
        };
        &mut self.agents[index]
    }

    /// The rule could fire on this agent here.
    pub(crate) fn applicable(&mut self, agent: &str, rule: u32) {
        let state = &mut self.part(agent).states[rule as usize];
        if *state == RuleState::NotApplicable {
            *state = RuleState::Passed;
        }
    }

    /// The rule could fire on every agent who spoke.
    pub(crate) fn applicable_to_speakers(&mut self, rule: u32) {
        for part in &mut self.agents[..self.speakers] {
            let state = &mut part.states[rule as usize];
            if *state == RuleState::NotApplicable {
                *state = RuleState::Passed;
            }
        }
    }

    /// Whether a directive suppresses `rule`'s findings on `turn` (0-based).
    pub(crate) fn is_suppressed(&self, turn: usize, rule: u32) -> bool {
        // Sorted by turn: the directives of `turn` are found by binary search.
        let first = self.suppressions.partition_point(|(t, _)| *t < turn);
        self.suppressions[first..]
            .iter()
            .take_while(|(t, _)| *t == turn)
            .any(|(_, rules)| rules.as_ref().is_none_or(|r| r.contains(&rule)))
    }

    /// The rule fired on this agent: record the finding, unless a directive suppresses it
    /// (the rule then counts as applied and passed, and the finding as suppressed).
    pub(crate) fn fail(&mut self, finding: Finding) {
        if self.is_suppressed(finding.turn - 1, finding.rule) {
            self.applicable(&finding.agent_id, finding.rule);
            self.suppressed += 1;
            return;
        }
        let rule = finding.rule as usize;
        self.part(&finding.agent_id).states[rule] = RuleState::Failed;
        self.findings.push(finding);
    }
}

/// Audits conversations against a rule set, reusing its buffers from one to the next.
pub struct Auditor<'r> {
    rules: &'r RuleSet,
    normalized: Vec<Normalized>,
    /// The phrase hits of each turn.
    hits: Vec<Vec<Hit>>,
    /// The matcher's scratch space.
    scan_buffer: ScanBuffer,
    rule_hits: Vec<RuleHit>,
    turn_hits: Vec<(usize, usize)>,
    with_origins: RefCell<WithOrigins>,
    /// The sentences of the turn whose candidate hits are being checked.
    sentences: Sentences,
    /// The cues of the conversation's turns: their original spans, and those of one turn.
    cue_spans: Vec<(usize, usize)>,
    turn_cues: Vec<(crate::engine::Cue, usize, usize)>,
    /// The hits of the turn that are variants of a phrase with several: (index in
    /// `rule_hits`, the phrase).
    variant_hits: Vec<(usize, u32)>,
    /// Redacts the turns evidence is cut from (`None`: evidence keeps private data).
    redactor: Option<Redactor>,
    shown: RefCell<Shown>,
    /// Per speaker, the turns with words ([`Context::spoken_turns`]).
    spoken: [Vec<usize>; 3],
    /// The work of the last conversation audited ([`Auditor::work`]).
    work: Cell<u64>,
    /// Set on Ctrl-C: looked at between turns and between rules, so that one long
    /// conversation does not hold up the end of an interrupted run.
    cancel: Option<Arc<AtomicBool>>,
}

impl<'r> Auditor<'r> {
    /// Evidence is cut from turns redacted by `redactor` (by default it is not redacted).
    pub fn redacting(mut self, redactor: Option<Redactor>) -> Auditor<'r> {
        self.redactor = redactor;
        self
    }

    pub fn new(rules: &'r RuleSet) -> Auditor<'r> {
        Auditor {
            rules,
            normalized: Vec::new(),
            hits: Vec::new(),
            scan_buffer: ScanBuffer::default(),
            rule_hits: Vec::new(),
            turn_hits: Vec::new(),
            with_origins: RefCell::default(),
            sentences: Sentences::default(),
            cue_spans: Vec::new(),
            turn_cues: Vec::new(),
            variant_hits: Vec::new(),
            redactor: None,
            shown: RefCell::default(),
            spoken: Default::default(),
            work: Cell::new(0),
            cancel: None,
        }
    }

    /// Stops auditing, between turns and between rules, once `cancel` is set: the audit of
    /// the conversation at hand is then empty, for a run that will be thrown away.
    pub fn cancelled_by(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Gives back an auditor as new (its rules, redaction and cancel flag kept): after the
    /// checks panicked on a conversation, none of the scratch state they left is trusted.
    pub(crate) fn reset(&mut self) {
        let cancel = self.cancel.take();
        let redactor = self.redactor.take();
        *self = Auditor::new(self.rules).redacting(redactor);
        self.cancel = cancel;
    }

    fn cancelled(&self) -> bool {
        self.cancel
            .as_ref()
            .is_some_and(|cancel| cancel.load(Ordering::Relaxed))
    }

    /// Steps of work the checks took on the last conversation audited: hits, cancels and
    /// turns looked at. Linear in its turns and hits (tests hold it so, instead of timing).
    pub fn work(&self) -> u64 {
        self.work.get()
    }

    /// Turns the phrase hits of `turn` (whose text is `original`) into rule hits: each use of
    /// a literal phrase as it is, each use of a pattern when its candidate check passes, the
    /// cues when some rule uses one; then sorted, less those a `{sentence}` exception cancels.
    fn add_rule_hits(&mut self, original: &str, turn: usize) {
        let from = self.rule_hits.len();
        let text = TurnText {
            original,
            normalized: &self.normalized[turn].text,
        };
        self.sentences.start_turn();
        self.variant_hits.clear();
        for hit in &self.hits[turn] {
            for phrase_use in &self.rules.uses[hit.phrase as usize] {
                // A literal phrase's hit counts as it is; a pattern's is a candidate.
                let (start, end) = match phrase_use.check {
                    None => (hit.start, hit.end),
                    Some(check) => {
                        let candidate = &self.rules.candidates[check as usize];
                        let Some(span) =
                            candidate.verify(text, hit.start, hit.end, &mut self.sentences)
                        else {
                            continue;
                        };
                        if let Some(pattern) = candidate.pattern {
                            self.variant_hits.push((self.rule_hits.len(), pattern));
                        }
                        span
                    }
                };
                self.rule_hits.push(RuleHit {
                    rule: phrase_use.rule,
                    role: phrase_use.role,
                    start,
                    end,
                });
            }
        }
        if !self.rules.cues.is_empty() {
            self.turn_cues.clear();
            let ascii = self.rules.cues.iter().any(|(cue, _)| cue.is_ascii());
            find_cues(text.original, ascii, &mut self.turn_cues);
            for &(cue, from, to) in &self.turn_cues {
                let index = self.cue_spans.len() as u32 | CUE_BIT;
                self.cue_spans.push((from, to));
                for (_, cue_use) in self.rules.cues.iter().filter(|(c, _)| *c == cue) {
                    self.rule_hits.push(RuleHit {
                        rule: cue_use.rule,
                        role: cue_use.role,
                        start: index,
                        end: index + 1,
                    });
                }
            }
        }
        if self.variant_hits.len() > 1 {
            let steps = keep_longest_variants(&mut self.rule_hits, &self.variant_hits);
            self.work.set(self.work.get() + steps as u64);
        }
        let turn_hits = &mut self.rule_hits[from..];
        turn_hits.sort_unstable();
        if self.rules.sentence_exceptions {
            let kept = cancel_by_sentence(turn_hits, text, &mut self.sentences, &self.cue_spans);
            self.rule_hits.truncate(from + kept);
        }
        self.turn_hits.push((from, self.rule_hits.len()));
    }

    pub fn audit(&mut self, conversation: &Conversation) -> ConversationAudit {
        let turns = &conversation.turns;
        if self.normalized.len() < turns.len() {
            self.normalized
                .resize_with(turns.len(), Normalized::default);
        }
        self.rule_hits.clear();
        self.turn_hits.clear();
        self.cue_spans.clear();
        self.work.set(0);
        for (turn, normalized) in turns.iter().zip(&mut self.normalized) {
            normalize_text_into(&turn.text, normalized);
        }
        if self.hits.len() < turns.len() {
            self.hits.resize_with(turns.len(), Vec::new);
        }
        // All turns at once: the matcher walks them as one text, in stretches in lock-step.
        self.rules.matcher.find_each_into(
            &self.normalized[..turns.len()],
            &mut self.hits,
            &mut self.scan_buffer,
        );
        for spoken in &mut self.spoken {
            spoken.clear();
        }
        for (index, turn) in turns.iter().enumerate() {
            if self.cancelled() {
                return ConversationAudit::default();
            }
            self.add_rule_hits(&turn.text, index);
            if self.normalized[index].has_words() {
                self.spoken[turn.speaker as usize].push(index);
            }
        }
        // The turn kept with origins was of the conversation before.
        self.with_origins.get_mut().turn = None;
        self.shown.get_mut().turn = None;
        let context = Context {
            conversation,
            normalized: &self.normalized[..turns.len()],
            hits: &self.rule_hits,
            turn_hits: &self.turn_hits,
            with_origins: &self.with_origins,
            cue_spans: &self.cue_spans,
            redactor: self.redactor.as_ref(),
            shown: &self.shown,
            spoken: &self.spoken,
            work: &self.work,
        };
        let mut outcome = Outcome {
            rule_count: self.rules.rules.len(),
            agents: Vec::new(),
            speakers: 0,
            findings: Vec::new(),
            promises: Vec::new(),
            suppressions: conversation
                .suppressions
                .iter()
                .map(|s| {
                    let rules = s.rules.as_ref().map(|ids| {
                        ids.iter()
                            .filter_map(|id| self.rules.rules.iter().position(|r| r.id == *id))
                            .map(|index| index as u32)
                            .collect()
                    });
                    (s.turn, rules)
                })
                .collect(),
            suppressed: 0,
            by_agent: HashMap::new(),
        };
        outcome.suppressions.sort_by_key(|(turn, _)| *turn);
        // Every agent who spoke is scored, even where no rule applies to them. (A run of turns
        // of one agent is looked up once.)
        let mut previous = None;
        for turn in context.turns_of(Speaker::Agent) {
            let agent = context.agent_of(turn);
            if previous != Some(agent) {
                outcome.part(agent);
                previous = Some(agent);
            }
        }
        outcome.speakers = outcome.agents.len();
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if !rule.applies_to_channel(conversation.channel.as_deref()) {
                continue;
            }
            if self.cancelled() {
                return ConversationAudit::default();
            }
            run_rule(&context, index as u32, rule, &mut outcome);
        }
        outcome.findings.sort_by_key(|f| (f.turn, f.rule));
        outcome.promises.sort_by_key(|p| (p.turn, p.rule));
        ConversationAudit {
            findings: outcome.findings,
            agents: outcome.agents,
            promises: outcome.promises,
            suppressed: outcome.suppressed,
        }
    }
}

/// Joins the spans of `hits` (sorted by start) that overlap into one: the places they cover,
/// in order. Spans that only touch (`sorry, sorry`) stay apart.
fn places(hits: impl Iterator<Item = (u32, u32)>) -> impl Iterator<Item = (u32, u32)> {
    let mut hits = hits.peekable();
    std::iter::from_fn(move || {
        let (start, mut end) = hits.next()?;
        while let Some(&(next_start, next_end)) = hits.peek() {
            if next_start >= end {
                break;
            }
            end = end.max(next_end);
            hits.next();
        }
        Some((start, end))
    })
}

/// Of the overlapping hits of the variants of one phrase (`variants`: index in `hits`, phrase),
/// keeps the longest (the first of equals); the others are removed from `hits`. Returns the
/// steps taken ([`Context::step`]).
///
/// A hit is dropped when an overlapping hit of the same phrase and rule is longer, or as long
/// and earlier in `variants`. The hits of one phrase and rule are taken in order of start, and
/// each is compared only with those that start less than the longest of them before it, up to
/// its end: linear in the hits for a phrase of bounded length, where comparing every pair was
/// quadratic in a turn that repeats one phrase.
fn keep_longest_variants(hits: &mut Vec<RuleHit>, variants: &[(usize, u32)]) -> usize {
    // (phrase, rule, start, position in `variants`)
    let mut order: Vec<(u32, u32, u32, usize)> = variants
        .iter()
        .enumerate()
        .map(|(position, &(index, phrase))| (phrase, hits[index].rule, hits[index].start, position))
        .collect();
    order.sort_unstable();
    let hit = |position: usize| hits[variants[position].0];
    let mut steps = order.len();
    let mut dropped: Vec<usize> = Vec::new();
    for group in order.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        let longest = group
            .iter()
            .map(|&(.., p)| hit(p).end - hit(p).start)
            .max()
            .unwrap_or(0);
        for (k, &(.., position)) in group.iter().enumerate() {
            let x = hit(position);
            let first = group[..k].partition_point(|g| g.2.saturating_add(longest) <= x.start);
            let neighbours = group[first..].iter().take_while(|g| g.2 < x.end);
            let mut beaten = false;
            for &(.., other) in neighbours {
                steps += 1;
                let y = hit(other);
                let overlaps = x.start < y.end && y.start < x.end;
                let (x_len, y_len) = (x.end - x.start, y.end - y.start);
                if overlaps && (y_len > x_len || (y_len == x_len && other < position)) {
                    beaten = true;
                    break;
                }
            }
            if beaten {
                dropped.push(variants[position].0);
            }
        }
    }
    if dropped.is_empty() {
        return steps;
    }
    dropped.sort_unstable();
    let mut index = 0;
    hits.retain(|_| {
        index += 1;
        dropped.binary_search(&(index - 1)).is_err()
    });
    steps
}

/// Cancels the hits of `hits` (one turn's, sorted) that share a sentence with an
/// `unless_sentence` hit of their rule (or a trigger hit with a `trigger.unless_sentence`
/// one), keeping the others in order at the front; returns how many are kept.
fn cancel_by_sentence(
    hits: &mut [RuleHit],
    text: TurnText,
    sentences: &mut Sentences,
    cue_spans: &[(usize, usize)],
) -> usize {
    let exceptions: Vec<(u32, Role, u32)> = hits
        .iter()
        .filter_map(|h| Some((h.rule, h.role.cancels_in_sentence()?, h.start)))
        .collect();
    if exceptions.is_empty() {
        return hits.len();
    }
    let map = sentences.get(text.original);
    let sentence_of = |map: &SentenceMap, start: u32| {
        if start & CUE_BIT != 0 {
            map.sentence_of_original(cue_spans[(start & !CUE_BIT) as usize].0)
        } else {
            map.sentence_of(start as usize)
        }
    };
    let mut exceptions: Vec<(u32, Role, usize)> = exceptions
        .into_iter()
        .map(|(rule, role, start)| (rule, role, sentence_of(map, start)))
        .collect();
    // Sorted, so that each hit looks its sentence up instead of walking every exception.
    exceptions.sort_unstable();
    let mut kept = 0;
    for index in 0..hits.len() {
        let hit = hits[index];
        let of_rule = exceptions.partition_point(|e| (e.0, e.1) < (hit.rule, hit.role));
        let cancelled = exceptions
            .get(of_rule)
            .is_some_and(|e| (e.0, e.1) == (hit.rule, hit.role))
            && exceptions
                .binary_search(&(hit.rule, hit.role, sentence_of(map, hit.start)))
                .is_ok();
        if !cancelled {
            hits[kept] = hit;
            kept += 1;
        }
    }
    kept
}

fn run_rule(context: &Context, index: u32, rule: &Rule, outcome: &mut Outcome) {
    match &rule.kind {
        RuleKind::Forbid => forbid::check(context, index, rule, outcome),
        RuleKind::Require { window } => require::check(context, index, rule, *window, outcome),
        RuleKind::Respond {
            trigger_speaker,
            within_turns,
            count_earlier,
        } => respond::check(
            context,
            index,
            rule,
            respond::Settings {
                trigger_speaker: *trigger_speaker,
                within_turns: *within_turns,
                count_earlier: *count_earlier,
            },
            outcome,
        ),
        RuleKind::Overlap {
            min_overlap_ms,
            max_gap_ms,
            min_words,
        } => overlap::check(
            context,
            index,
            rule,
            overlap::Settings {
                min_overlap_ms: *min_overlap_ms,
                max_gap_ms: *max_gap_ms,
                min_words: *min_words,
            },
            outcome,
        ),
        RuleKind::Promise { windows, .. } => promise::check(context, index, rule, windows, outcome),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers for the table-driven tests of each check.
    use std::sync::Arc;

    use super::*;
    use crate::rules::RuleSource;
    use crate::transcript::script::parse_script;

    /// Compiles one rule given as the body of a `[[rule]]` table (examples added).
    pub fn rule_set(body: &str) -> RuleSet {
        let text = format!(
            "version = 1\n[[rule]]\nid = \"r\"\nseverity = \"major\"\nmessage = \"m\"\n{body}\nexamples.fail = [\"agent: x\"]\nexamples.pass = [\"agent: y\"]\n"
        );
        RuleSet::load(&[RuleSource {
            name: "t.toml".into(),
            text,
        }])
        .unwrap()
    }

    /// Audits a script (with agent ids set by `agent(a-2):`-free scripts: all agent turns are
    /// the conversation's agent `a-1`).
    pub fn audit(rules: &RuleSet, script: &str) -> ConversationAudit {
        let mut conversation = parse_script(script, &Arc::from("t"), "c").unwrap();
        conversation.agent_id = Some("a-1".into());
        Auditor::new(rules).audit(&conversation)
    }

    /// Audits a script as [`audit`] does, its evidence redacted.
    pub fn audit_redacted(rules: &RuleSet, script: &str) -> ConversationAudit {
        let mut conversation = parse_script(script, &Arc::from("t"), "c").unwrap();
        conversation.agent_id = Some("a-1".into());
        Auditor::new(rules)
            .redacting(Some(Redactor::new()))
            .audit(&conversation)
    }

    /// Audits a script as a conversation of `channel`.
    pub fn audit_on(rules: &RuleSet, script: &str, channel: &str) -> ConversationAudit {
        let mut conversation = parse_script(script, &Arc::from("t"), "c").unwrap();
        conversation.agent_id = Some("a-1".into());
        conversation.channel = Some(channel.into());
        Auditor::new(rules).audit(&conversation)
    }

    /// The turns (1-based) the findings point at.
    pub fn finding_turns(audit: &ConversationAudit) -> Vec<usize> {
        audit.findings.iter().map(|f| f.turn).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Private data on either side of a match, at every distance from it (so that the edge
    /// of the excerpt cuts it at every place), never shows in part: the turn is redacted
    /// whole before the excerpt is cut (issue 20). Words or a bare `/` between, so that the
    /// edge also falls where no space is.
    #[test]
    fn excerpt_edges_never_cut_private_data() {
        let rules = test_support::rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let redacting = Auditor::new(&rules).redacting(Some(Redactor::new()));
        let mut auditor = redacting;
        let private = [
            ("4539 1488 0343 6467", "[card]"),
            ("+1 415 555 0199", "[phone]"),
            ("jo.doe@example.com", "[email]"),
            ("123-45-6789", "[national-id]"),
            ("AB 12 34 56 C", "[national-id]"),
        ];
        for (data, label) in private {
            for gap in 0..60 {
                for glue in [" ", "/"] {
                    let filler = "w".repeat(gap);
                    let texts = [
                        format!("{data}{glue}{filler}{glue}calm down"),
                        format!("calm down{glue}{filler}{glue}{data}"),
                        format!("x {data} {filler} calm down {filler} {data} y"),
                    ];
                    for text in texts {
                        let script = format!("agent: {text}");
                        let conversation = crate::transcript::script::parse_script(
                            &script,
                            &std::sync::Arc::from("t"),
                            "c",
                        )
                        .unwrap();
                        let audit = auditor.audit(&conversation);
                        let evidence = &audit.findings[0].evidence;
                        let rest = evidence.replace(label, "");
                        assert!(
                            !rest.contains(|c: char| c.is_ascii_digit() || c == '@')
                                && !rest.contains("jo.")
                                && !rest.contains("AB "),
                            "{text:?} gives {evidence:?}"
                        );
                        assert!(evidence.contains("«calm down»"), "{evidence}");
                    }
                }
            }
        }
        // Without a redactor, the evidence is the text as it was said.
        let audit = test_support::audit(&rules, "agent: call 555 123 4567 now, calm down");
        assert_eq!(
            audit.findings[0].evidence,
            "call 555 123 4567 now, «calm down»"
        );
    }

    #[test]
    fn excerpts_mark_the_match_with_some_context() {
        let cases = [
            (
                "Well, you should have read the terms.",
                "you should have read",
                "Well, «you should have read» the terms.",
            ),
            (
                "This is a long sentence with many words before the match that we want and then a lot of words after it so it gets cut.",
                "match",
                "…sentence with many words before the «match» that we want and then a lot of words…",
            ),
            ("line one\nline two", "two", "line one line «two»"),
            // White space of more than one byte where the left context is cut: the cut lands
            // on the no-break space U+00A0 (two bytes) or the ideographic space U+3000 (three);
            // stepping one byte past it split the character, and the run panicked (a fuzzer's
            // find).
            (
                "Ten words,\u{a0}then thirty-eight more characters here match",
                "match",
                "…then thirty-eight more characters here «match»",
            ),
            (
                "Ten words,\u{3000}then thirty-eight more characters here match",
                "match",
                "…then thirty-eight more characters here «match»",
            ),
        ];
        for (text, needle, expected) in cases {
            let from = text.find(needle).unwrap();
            assert_eq!(excerpt(text, from, from + needle.len()), expected);
        }
    }

    #[test]
    fn a_cancel_covers_the_hits_it_overlaps_wherever_it_starts() {
        let rules = test_support::rule_set(
            "kind = \"forbid\"\nphrases = [\"b\", \"c d\", \"e\"]\nunless = [\"a b c\", \"d e\"]",
        );
        // `b` inside the first cancel, `c d` overlapping its end, `e` its second's; then a
        // `b` and an `e` that no cancel reaches.
        let audit = test_support::audit(&rules, "agent: a b c d e then b and e");
        let evidence: Vec<&str> = audit.findings.iter().map(|f| f.evidence.as_str()).collect();
        assert_eq!(
            evidence,
            ["a b c d e then «b» and e", "a b c d e then b and «e»"]
        );
    }

    #[test]
    fn a_cancelled_audit_stops_between_turns() {
        let rules = test_support::rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let conversation = crate::transcript::script::parse_script(
            "agent: calm down\nagent: calm down\n",
            &std::sync::Arc::from("t"),
            "c",
        )
        .unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let mut auditor = Auditor::new(&rules).cancelled_by(cancel.clone());
        assert_eq!(auditor.audit(&conversation).findings.len(), 2);
        cancel.store(true, Ordering::Relaxed);
        assert_eq!(auditor.audit(&conversation), ConversationAudit::default());
        assert_eq!(auditor.work(), 0, "no check ran");
    }

    /// The work of auditing one conversation, and its findings.
    fn work_and_findings(rules: &RuleSet, script: &str) -> (u64, usize) {
        let mut conversation =
            crate::transcript::script::parse_script(script, &std::sync::Arc::from("t"), "c")
                .unwrap();
        conversation.agent_id = Some("a-1".into());
        let mut auditor = Auditor::new(rules);
        let findings = auditor.audit(&conversation).findings.len();
        (auditor.work(), findings)
    }

    /// Ten times the turns, or ten times the hits in one turn, is about ten times the work
    /// (counted in steps, not timed): no check compares every turn or hit with every other.
    #[test]
    fn work_grows_linearly_with_turns_and_hits() {
        /// What grows: pairs of turns (`n` turns, one finding a pair), or the hits of one
        /// agent turn (`n` hits, one finding each).
        enum Grows {
            TurnPairs(&'static str),
            HitsInOneTurn(&'static str),
        }
        let script = |grows: &Grows, n: usize| match grows {
            Grows::TurnPairs(pair) => (pair.repeat(n / 2), n / 2),
            Grows::HitsInOneTurn(hit) => (format!("customer: hi\nagent: {}", hit.repeat(n)), n),
        };
        let complaint = Grows::TurnPairs("customer: this is ridiculous\nagent: mm-hmm\n");
        let cases = [
            // a complaint in every other turn, never answered, with the longest window
            (
                "kind = \"respond\"\nwithin_turns = 1000000\ncount_earlier = true\nphrases = [\"sorry\"]\ntrigger.phrases = [\"ridiculous\"]\ntrigger.unless = [\"not ridiculous\"]",
                &complaint,
            ),
            // every hit of one turn, with an exception to compare each with
            (
                "kind = \"forbid\"\nphrases = [\"you people\"]\nunless = [\"you people are great\"]",
                &Grows::HitsInOneTurn("you people. "),
            ),
            // the overlapping variants of a pattern, one kept per place
            (
                "kind = \"forbid\"\nphrases = [\"[so|very] sorry [for that]\"]",
                &Grows::HitsInOneTurn("so sorry for that. "),
            ),
            // the customer's words, answered by the nearest agent
            (
                "kind = \"forbid\"\nspeaker = \"customer\"\nphrases = [\"ridiculous\"]",
                &complaint,
            ),
        ];
        for (body, grows) in cases {
            let rules = test_support::rule_set(body);
            let (small_script, small_expected) = script(grows, 2_000);
            let (large_script, large_expected) = script(grows, 20_000);
            let (small, small_findings) = work_and_findings(&rules, &small_script);
            let (large, large_findings) = work_and_findings(&rules, &large_script);
            assert_eq!(
                (small_findings, large_findings),
                (small_expected, large_expected),
                "{body}"
            );
            assert!(small > 0, "{body}: no work counted");
            assert!(
                large <= 11 * small,
                "{body}: work {small} for 2,000, {large} for 20,000"
            );
        }
    }

    #[test]
    fn scores_follow_weights_and_critical() {
        let rules = test_support::rule_set("kind = \"forbid\"\nweight = 3\nphrases = [\"bad\"]");
        let part = |state| AgentPart {
            agent_id: "a".into(),
            states: vec![state],
        };
        assert_eq!(part(RuleState::NotApplicable).score(&rules), 100.0);
        assert_eq!(part(RuleState::Passed).score(&rules), 100.0);
        assert_eq!(part(RuleState::Failed).score(&rules), 0.0);
    }

    #[test]
    fn applicable_to_speakers_marks_only_the_agents_who_spoke() {
        let mut outcome = Outcome {
            rule_count: 2,
            agents: Vec::new(),
            speakers: 0,
            findings: Vec::new(),
            promises: Vec::new(),
            suppressions: Vec::new(),
            suppressed: 0,
            by_agent: HashMap::new(),
        };
        outcome.part("a-1");
        outcome.part("a-2");
        outcome.speakers = 2;
        // Answerable without having spoken (a conversation's own agent).
        outcome.part("a-3");
        outcome.part("a-2").states[1] = RuleState::Failed;
        outcome.applicable_to_speakers(1);
        let states: Vec<RuleState> = outcome.agents.iter().map(|a| a.states[1]).collect();
        assert_eq!(
            states,
            [
                RuleState::Passed,
                RuleState::Failed,
                RuleState::NotApplicable
            ]
        );
        assert!(
            outcome
                .agents
                .iter()
                .all(|a| a.states[0] == RuleState::NotApplicable)
        );
    }

    #[test]
    fn every_agent_who_spoke_is_scored_on_their_own_part() {
        let rules = test_support::rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let mut conversation = crate::transcript::script::parse_script(
            "agent: hello\ncustomer: this is awful\nagent: calm down please\n",
            &std::sync::Arc::from("t"),
            "c",
        )
        .unwrap();
        conversation.agent_id = Some("a-1".into());
        conversation.turns[2].agent_id = Some("a-2".into());
        let audit = Auditor::new(&rules).audit(&conversation);
        assert_eq!(audit.agents.len(), 2);
        assert_eq!(audit.agents[0].states, vec![RuleState::Passed]);
        assert_eq!(audit.agents[1].agent_id, "a-2");
        assert_eq!(audit.agents[1].states, vec![RuleState::Failed]);
        assert_eq!(audit.findings[0].agent_id, "a-2");
        assert_eq!(audit.findings[0].evidence, "«calm down» please");
    }
}

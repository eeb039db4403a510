//! The parallel audit: read, check, merge in input order.
//!
//! Three stages run at once. A reader thread walks the files in order and cuts them into
//! numbered `Chunk`s (decompression happens there, overlapped with parsing). `threads`
//! worker threads parse and audit chunks as they come, each with its own reusable
//! [`Auditor`] buffers; nothing shared is locked on that path. The calling thread merges the
//! chunk results strictly in chunk order, through a small reorder buffer, so duplicates are
//! resolved exactly as a sequential reader would ("the first copy in path and line order"),
//! and findings and scorecards come out the same for any number of threads. What the merge
//! does not keep of a result goes back to the worker that made it, to be freed there. The
//! chunk and result channels are bounded, so memory stays bounded by a few chunks per worker
//! whatever the input size.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::callbacks::{Contacts, CustomerNumber, Judge};
use crate::checks::{Auditor, fold_judged};
use crate::conversation_ids::{ConversationIds, ConversationNumber, NotAdded};
use crate::finding_store::{
    FileNumbers, FindingStore, Record, Store, read_array, read_optional, read_text, read_usize,
    write_optional, write_text,
};
use crate::input::{Chunk, InputFile, Payload, ReadOptions, read_chunks};
use crate::metadata::Metadata;
use crate::model::{
    AgentPart, ConversationAudit, MetadataStats, Promise, PromiseCounts, PromiseState,
    RetainedConversation, RetainedTurn, RuleState, RunStats,
};
use crate::redact::Redactor;
use crate::rules::RuleSet;
use crate::scorecard::{Scorecards, Tally};
use crate::transcript::{Direction, ReadError, SkipKind, Source};

/// How the audit runs.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Worker threads (at least 1).
    pub threads: usize,
    pub read: ReadOptions,
    /// The moment the export was taken (default: the latest start time read).
    pub as_of: Option<jiff::Zoned>,
    /// Pending promises of an earlier run, judged again against this run's contacts.
    pub carried_promises: Vec<Promise>,
    /// Set (by a SIGINT handler) to stop reading; the run then returns what it merged.
    pub cancel: Arc<AtomicBool>,
    /// `--metadata`, read once and shared read-only by the workers, which join it onto each
    /// conversation before auditing it.
    pub metadata: Option<Arc<Metadata>>,
    /// Keep the turns of at most this many conversations with findings (the first ones in
    /// input order), for the HTML report; 0 keeps none.
    pub retain_turns: usize,
    /// Memory for findings before they spill to disk (default
    /// `crate::finding_store::DEFAULT_BUDGET_BYTES`).
    pub finding_budget_bytes: Option<usize>,
    /// Redacts private data in each turn evidence is cut from (`None`: `--no-redact`). It is
    /// done here, on whole turns, because an excerpt's edge can cut a number in two.
    pub redactor: Option<Redactor>,
}

impl AuditOptions {
    /// A run on every core that keeps no turns, with the default finding budget.
    pub fn on_all_cores(
        read: ReadOptions,
        metadata: Option<Arc<Metadata>>,
        as_of: Option<jiff::Zoned>,
        carried_promises: Vec<Promise>,
    ) -> AuditOptions {
        AuditOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            read,
            metadata,
            as_of,
            carried_promises,
            ..AuditOptions::default()
        }
    }
}

/// Why an audit could not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("cannot start a thread: {0}")]
    Spawn(std::io::Error),
    #[error("cannot keep the findings in a temporary file: {0}")]
    Spill(#[from] std::io::Error),
    #[error("cannot write the partial: {0}")]
    Partial(std::io::Error),
    #[error("more than 4,294,967,295 conversations in one run; split the input")]
    TooManyConversations,
}

fn retain(conversation: &crate::transcript::Conversation) -> RetainedConversation {
    RetainedConversation {
        source: conversation.source.clone(),
        turns: conversation
            .turns
            .iter()
            .enumerate()
            .map(|(index, turn)| RetainedTurn {
                speaker: turn.speaker,
                agent_id: (turn.speaker == crate::transcript::Speaker::Agent)
                    .then(|| conversation.agent_of_turn(index).to_string()),
                text: turn.text.clone(),
                start_ms: turn.start_ms,
            })
            .collect(),
    }
}

/// Everything an audit produced.
#[derive(Debug, Default)]
pub struct AuditRun {
    pub scorecards: Scorecards,
    /// The same aggregates per team (conversations without a team under [`NO_TEAM`]); a
    /// promise carried from an earlier run counts for its agent only, not for a team.
    pub(crate) teams: Scorecards,
    /// Read sorted by conversation id, then turn, then rule order.
    pub findings: FindingStore,
    pub stats: RunStats,
    /// Every skip and file error, in input order.
    pub problems: Vec<ReadError>,
    /// The latest `started_at` of the audited conversations.
    pub(crate) latest_started_at: Option<jiff::Zoned>,
    /// The `as_of` promises were judged at: the option, else the latest start time.
    pub(crate) as_of: Option<jiff::Zoned>,
    /// Every promise of the run (this input's and the carried ones), judged, read sorted by
    /// conversation id, turn and rule.
    pub(crate) promises: Store<Promise>,
    /// How they were judged, per rule.
    pub(crate) promise_counts: PromiseCounts,
    /// The turns of the first [`AuditOptions::retain_turns`] conversations with findings, in
    /// input order, by conversation id.
    pub(crate) retained: BTreeMap<String, RetainedConversation>,
    /// Conversations the page would keep but whose turns were not at hand (see
    /// `turn_gap`): always 0 for one run.
    pub(crate) turn_gaps: u64,
}

impl AuditRun {
    /// Conversations the page would keep whose turns a merge did not have (0 for one run):
    /// the page then shows fewer conversations' turns than one run's would.
    pub fn turn_gaps(&self) -> u64 {
        self.turn_gaps
    }
}

/// The team row of conversations that name no team.
pub(crate) const NO_TEAM: &str = "(none)";

fn team_key(team: &Option<String>) -> &str {
    match team.as_deref().map(str::trim) {
        Some(team) if !team.is_empty() => team,
        _ => NO_TEAM,
    }
}

/// One conversation's result as a worker hands it to the merge (or to a shard's partial,
/// [`crate::partial`], which records it for a later merge to replay).
#[derive(Debug)]
pub(crate) enum Item {
    Audited {
        id: String,
        source: Source,
        started_at: Option<jiff::Zoned>,
        customer_id: Option<String>,
        direction: Option<Direction>,
        /// The conversation's team, for the team roll-up.
        team: Option<String>,
        audit: ConversationAudit,
        /// Its turns, when the report keeps them and it has findings or promises.
        turns: Option<Box<RetainedConversation>>,
        /// The `--metadata` row joined onto it.
        metadata_row: Option<usize>,
    },
    Skipped(ReadError),
    FileError(ReadError),
}

/// The results of one chunk, in input order.
#[derive(Debug)]
pub(crate) struct ChunkResult {
    pub(crate) seq: u64,
    /// The file the chunk was cut from, as findings name it.
    pub(crate) file: Arc<str>,
    pub(crate) items: Vec<Item>,
    /// Uncompressed bytes the chunk covered.
    pub(crate) bytes: u64,
    /// The worker that made the items, where they go once the sink has taken what it keeps,
    /// so that their memory is freed by the thread that allocated it. Freeing a worker's
    /// strings on the merge's thread cost the allocator a cross-thread free each (mimalloc):
    /// 4.96 against 4.82 s of CPU time at `-j2` on a 1 GiB export file. `None`: the items
    /// are dropped where the sink is.
    pub(crate) worker: Option<crossbeam_channel::Sender<Vec<Item>>>,
}

impl ChunkResult {
    /// Hands what is left of the items back to their worker (or drops them here).
    fn give_back(self) {
        if let Some(worker) = self.worker {
            // A worker that has ended no longer takes them: they are dropped here.
            let _ = worker.send(self.items);
        }
    }
}

/// What takes the chunk results, strictly in input order: the run's merge, or a shard's
/// partial. The sink moves out of `result.items` what it keeps; the caller disposes of the
/// rest ([`ChunkResult::give_back`]). `turns_full` tells the workers to stop copying turns
/// for the page.
pub(crate) trait ChunkSink {
    fn take(&mut self, result: &mut ChunkResult, turns_full: &AtomicBool)
    -> Result<(), AuditError>;
    /// Conversations taken so far, for the progress bar.
    fn conversations(&self) -> u64;
}

fn audit_chunk(
    auditor: &mut Auditor,
    chunk: Chunk,
    metadata: Option<&Metadata>,
    retain_turns: &RetainTurns,
) -> ChunkResult {
    let seq = chunk.seq;
    let bytes = chunk.bytes;
    let file = chunk.file.clone();
    let relative = chunk.relative.clone();
    let mut items = Vec::new();
    if let Payload::FileError(error) = &chunk.payload {
        items.push(Item::FileError(error.clone()));
    }
    chunk.for_each_conversation(|read| match read {
        Ok(mut conversation) => {
            let metadata_row = metadata.and_then(|m| m.join(&mut conversation, &relative));
            if let Err(error) = conversation.validate() {
                items.push(Item::Skipped(error));
                return;
            }
            let audit = match guarded(|| auditor.audit(&conversation)) {
                Ok(audit) => audit,
                Err(panic) => {
                    auditor.reset();
                    items.push(Item::Skipped(checks_failed(&conversation, &panic)));
                    return;
                }
            };
            let turns = (retain_turns.wanted()
                && !(audit.findings.is_empty() && audit.promises.is_empty()))
            .then(|| Box::new(retain(&conversation)));
            items.push(Item::Audited {
                id: conversation.id,
                source: conversation.source,
                started_at: conversation.started_at,
                customer_id: conversation.customer_id,
                direction: conversation.direction,
                team: conversation.team,
                audit,
                turns,
                metadata_row,
            });
            // Its turns' memory is reused by the next JSON line this worker parses.
            crate::transcript::jsonl::recycle_turns(conversation.turns);
        }
        Err(error) => items.push(Item::Skipped(error)),
    });
    ChunkResult {
        seq,
        file,
        items,
        bytes,
        worker: None,
    }
}

/// Runs `work`, or gives back the message of the panic it ended in. The checks of one
/// conversation run under this guard: a bug that panics on one conversation costs that
/// conversation (skipped as `internal_error`, named with its place), not the whole run. The
/// panic hook has already written the panic and where it happened to standard error.
fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).map_err(|panic| {
        (panic.downcast_ref::<&str>().map(|text| text.to_string()))
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_string())
    })
}

/// The skip of a conversation the checks panicked on.
fn checks_failed(conversation: &crate::transcript::Conversation, panic: &str) -> ReadError {
    ReadError {
        source: conversation.source.clone(),
        kind: SkipKind::Internal,
        message: format!(
            "internal error: conversation {:?}: the checks failed on it ({panic}); it is \
             counted as skipped. This is a bug in callqa: please report it with this line",
            conversation.id
        ),
    }
}

/// Whether workers copy the turns of conversations with findings for the report: while the
/// report keeps turns and the merge has not yet kept as many as it may. Once it has, no
/// later conversation (in input order) can be kept, so copying them is wasted work.
struct RetainTurns {
    enabled: bool,
    full: AtomicBool,
}

impl RetainTurns {
    fn of(options: &AuditOptions) -> RetainTurns {
        RetainTurns {
            enabled: options.retain_turns > 0,
            full: AtomicBool::new(false),
        }
    }

    fn wanted(&self) -> bool {
        self.enabled && !self.full.load(Ordering::Relaxed)
    }
}

/// Whether the page would keep a conversation that came without its turns. One run never
/// has one (its workers copy turns until the page is full); a merge can, when a shard kept
/// the turns of a conversation that turned out to be a duplicate of another shard's, and so
/// not those of a later one.
fn turn_gap(
    audit: &ConversationAudit,
    cap: usize,
    retained_promises: usize,
    retained: usize,
) -> bool {
    let wanted =
        !audit.findings.is_empty() || (!audit.promises.is_empty() && retained_promises < cap);
    wanted && retained < cap
}

/// A conversation held for the promise join: what scoring it needs once its promises are
/// judged. Held in a [`Store`] in merge order, spilled past the budget like findings, so
/// that the merge's memory does not grow with the conversations that make promises.
#[derive(Debug, Clone)]
struct Held {
    /// Its place among the held conversations: the store's order.
    number: u64,
    /// Its number in the run's [`ConversationIds`]: its own contact never keeps its promises.
    conversation: ConversationNumber,
    /// Its customer's number in the run's [`Contacts`] (`None`: it added no contact).
    customer: Option<CustomerNumber>,
    team: Option<String>,
    agents: Vec<AgentPart>,
    promises: Vec<Promise>,
}

impl Record for Held {
    fn order(&self, other: &Held) -> std::cmp::Ordering {
        self.number.cmp(&other.number)
    }

    fn rule(&self) -> Option<u32> {
        None
    }

    fn text_bytes(&self) -> usize {
        let agents: usize = (self.agents.iter())
            .map(|a| a.agent_id.capacity() + a.states.capacity() + 2 * 16)
            .sum();
        let promises: usize = self.promises.iter().map(Record::text_bytes).sum();
        self.team.as_ref().map_or(0, |team| team.capacity() + 16)
            + self.agents.capacity() * std::mem::size_of::<AgentPart>()
            + agents
            + self.promises.capacity() * std::mem::size_of::<Promise>()
            + promises
    }

    /// Its number, team, agents (id and a byte per rule state) and promises.
    fn encode(&self, files: &mut FileNumbers, out: &mut Vec<u8>) -> std::io::Result<()> {
        out.extend_from_slice(&self.number.to_le_bytes());
        out.extend_from_slice(&self.conversation.to_le_bytes());
        write_optional(out, self.customer, |out, customer| {
            out.extend_from_slice(&customer.to_le_bytes())
        });
        write_optional(out, self.team.as_deref(), write_text);
        out.extend_from_slice(&(self.agents.len() as u64).to_le_bytes());
        for agent in &self.agents {
            write_text(out, &agent.agent_id);
            out.extend_from_slice(&(agent.states.len() as u64).to_le_bytes());
            out.extend(agent.states.iter().map(|&state| state as u8));
        }
        out.extend_from_slice(&(self.promises.len() as u64).to_le_bytes());
        for promise in &self.promises {
            promise.encode(files, out)?;
        }
        Ok(())
    }

    fn decode(reader: &mut impl std::io::Read, files: &[Arc<str>]) -> std::io::Result<Held> {
        let number = u64::from_le_bytes(read_array(reader)?);
        let conversation = u32::from_le_bytes(read_array(reader)?);
        let customer = read_optional(reader, |r| Ok(u32::from_le_bytes(read_array(r)?)))?;
        let team = read_optional(reader, read_text)?;
        let mut agents = Vec::new();
        for _ in 0..read_usize(reader)? {
            let agent_id = read_text(reader)?;
            let mut states = Vec::new();
            for _ in 0..read_usize(reader)? {
                states.push(match read_array::<1>(reader)?[0] {
                    0 => RuleState::NotApplicable,
                    1 => RuleState::Passed,
                    _ => RuleState::Failed,
                });
            }
            agents.push(AgentPart { agent_id, states });
        }
        let mut promises = Vec::new();
        for _ in 0..read_usize(reader)? {
            promises.push(Promise::decode(reader, files)?);
        }
        Ok(Held {
            number,
            conversation,
            customer,
            team,
            agents,
            promises,
        })
    }
}

/// Adds conversation `number`'s contact for the promise join when it names its customer and
/// its start; the customer's number.
fn add_contact(
    contacts: &mut Contacts,
    customer: Option<&str>,
    started: Option<&jiff::Zoned>,
    direction: Option<Direction>,
    number: ConversationNumber,
) -> Option<CustomerNumber> {
    let outbound = direction == Some(Direction::Outbound);
    contacts.add(customer?, started?, outbound, number)
}

/// Folds chunk results, in order, into the run's result.
struct Merger<'r> {
    rules: &'r RuleSet,
    /// The run's result, but for its scorecards, which are tallied apart (below) until the end.
    run: AuditRun,
    /// [`AuditRun::scorecards`] as they are added up.
    scorecards: Tally,
    /// [`AuditRun::teams`] as they are added up.
    teams: Tally,
    /// Every audited conversation's id and where it was read: the duplicate check, and the
    /// names the promise join gives.
    ids: ConversationIds,
    /// Per `--metadata` row, whether a conversation matched it.
    matched_rows: Vec<bool>,
    /// Every audited conversation's customer, start and direction, for the promise join.
    contacts: Contacts,
    /// Conversations with promises: scored only once their promises are judged.
    held: Store<Held>,
    /// How many are held.
    held_count: u64,
    /// [`AuditOptions::retain_turns`].
    retain_turns: usize,
    /// The turns of conversations with promises but no finding yet, in input order.
    retained_promises: BTreeMap<String, RetainedConversation>,
    /// Whether the promise join at the end reads and judges on a second thread (see `finish`).
    join_ahead: bool,
}

impl ChunkSink for Merger<'_> {
    fn take(
        &mut self,
        result: &mut ChunkResult,
        turns_full: &AtomicBool,
    ) -> Result<(), AuditError> {
        self.take_chunk(result, turns_full)
    }

    fn conversations(&self) -> u64 {
        self.run.stats.read
    }
}

impl<'r> Merger<'r> {
    /// A merge of nothing yet: `retain_turns` as [`AuditOptions::retain_turns`], findings,
    /// judged promises and held conversations spilled past `finding_budget` bytes in all,
    /// `metadata_rows` the rows of `--metadata`; the promise join at the end on `threads`.
    fn new(
        rules: &'r RuleSet,
        retain_turns: usize,
        finding_budget: usize,
        metadata_rows: Option<u64>,
        threads: usize,
    ) -> Merger<'r> {
        Merger {
            rules,
            run: AuditRun {
                // One budget for the three stores that wait for the end of the run: half for
                // the findings, a quarter each for the judged promises and the conversations
                // held for the promise join.
                findings: FindingStore::new(finding_budget / 2),
                promises: Store::new(finding_budget / 4),
                stats: RunStats {
                    metadata: metadata_rows.map(|rows| MetadataStats {
                        rows,
                        ..MetadataStats::default()
                    }),
                    ..RunStats::default()
                },
                ..AuditRun::default()
            },
            scorecards: Tally::new(rules.rules.len()),
            teams: Tally::new(rules.rules.len()),
            ids: ConversationIds::default(),
            contacts: Contacts::default(),
            held: Store::new(finding_budget / 4),
            held_count: 0,
            retain_turns,
            retained_promises: BTreeMap::new(),
            join_ahead: threads > 1,
            matched_rows: vec![false; metadata_rows.map_or(0, |rows| rows as usize)],
        }
    }

    /// Moves out of `result`'s items what the run keeps. Fails when findings cannot be
    /// spilled to disk, or past 2^32 − 1 conversations.
    fn take_chunk(
        &mut self,
        result: &mut ChunkResult,
        turns_full: &AtomicBool,
    ) -> Result<(), AuditError> {
        let run = &mut self.run;
        run.stats.bytes += result.bytes;
        for item in &mut result.items {
            match item {
                Item::Audited {
                    id,
                    source,
                    started_at,
                    customer_id,
                    direction,
                    team,
                    audit,
                    turns,
                    metadata_row,
                } => {
                    let metadata_row = *metadata_row;
                    run.stats.read += 1;
                    if let Some(row) = metadata_row
                        && let Some(matched) = self.matched_rows.get_mut(row)
                    {
                        *matched = true;
                    }
                    let number = match self.ids.add(id, source) {
                        Ok(number) => number,
                        Err(NotAdded::Duplicate(first)) => {
                            *run.stats.skipped.entry(SkipKind::Duplicate).or_default() += 1;
                            run.problems.push(ReadError {
                                message: format!(
                                    "duplicate conversation id {id:?}: already read at {first}; skipped"
                                ),
                                source: source.clone(),
                                kind: SkipKind::Duplicate,
                            });
                            continue;
                        }
                        Err(NotAdded::TooMany) => return Err(AuditError::TooManyConversations),
                    };
                    run.stats.audited += 1;
                    run.stats.suppressed += audit.suppressed;
                    if metadata_row.is_none()
                        && let Some(stats) = &mut run.stats.metadata
                    {
                        stats.unmatched_conversations += 1;
                    }
                    if turns.is_none()
                        && turn_gap(
                            audit,
                            self.retain_turns,
                            self.retained_promises.len(),
                            run.retained.len(),
                        )
                    {
                        run.turn_gaps += 1;
                    }
                    if let Some(turns) = turns.take() {
                        // Conversations with findings fill the cap; those with only promises
                        // wait apart until the join says whether one was broken.
                        let (kept, cap) = if audit.findings.is_empty() {
                            (&mut self.retained_promises, self.retain_turns)
                        } else {
                            (&mut run.retained, self.retain_turns)
                        };
                        if kept.len() < cap {
                            kept.insert(id.clone(), *turns);
                        }
                        if run.retained.len() >= self.retain_turns {
                            // Conversations with only promises move into `retained` at the
                            // end only while it has room: none is needed any more either.
                            turns_full.store(true, Ordering::Relaxed);
                        }
                    }
                    // Held for the promise join: its findings are counted now (and stored,
                    // below), those of its broken promises once they are judged.
                    let held = !audit.promises.is_empty();
                    if held {
                        self.scorecards
                            .count_findings_ahead(audit, self.rules, None);
                        self.teams
                            .count_findings_ahead(audit, self.rules, Some(team_key(team)));
                    } else {
                        self.scorecards.add_as(audit, self.rules, None);
                        self.teams.add_as(audit, self.rules, Some(team_key(team)));
                    }
                    for finding in audit.findings.drain(..) {
                        run.findings.push(finding)?;
                    }
                    let (customer, started) = (customer_id.as_deref(), started_at.as_ref());
                    let customer =
                        add_contact(&mut self.contacts, customer, started, *direction, number);
                    if held {
                        self.held.push(Held {
                            number: self.held_count,
                            conversation: number,
                            customer,
                            team: team.take(),
                            agents: std::mem::take(&mut audit.agents),
                            promises: std::mem::take(&mut audit.promises),
                        })?;
                        self.held_count += 1;
                    }
                    if let Some(started) = started_at
                        && run
                            .latest_started_at
                            .as_ref()
                            .is_none_or(|latest| started.timestamp() > latest.timestamp())
                    {
                        run.latest_started_at = started_at.take();
                    }
                }
                Item::Skipped(error) => {
                    run.stats.read += 1;
                    *run.stats.skipped.entry(error.kind).or_default() += 1;
                    run.problems.push(error.clone());
                }
                Item::FileError(error) => {
                    run.stats.unreadable_files += 1;
                    run.problems.push(error.clone());
                }
            }
        }
        Ok(())
    }

    /// Judges every promise against the whole input's contacts and folds the outcomes into
    /// the findings and scorecards; then sorts the promises (the findings sort as they are read).
    fn finish(
        mut self,
        as_of: Option<jiff::Zoned>,
        carried: Vec<Promise>,
    ) -> std::io::Result<AuditRun> {
        if let Some(stats) = &mut self.run.stats.metadata {
            stats.unmatched_rows = self.matched_rows.iter().filter(|m| !**m).count() as u64;
        }
        let as_of = as_of.or_else(|| self.run.latest_started_at.clone());
        let judge = Judge::new(
            self.rules,
            std::mem::take(&mut self.contacts),
            &self.ids,
            as_of.as_ref(),
        );
        let run = &mut self.run;
        // The conversations kept for their promises that a broken one lets onto the page.
        let mut broken_kept = std::collections::BTreeSet::new();
        let mut keep = |run: &mut AuditRun, promise: Promise| {
            if promise.state == PromiseState::Broken
                && self
                    .retained_promises
                    .contains_key(&promise.conversation_id)
            {
                broken_kept.insert(promise.conversation_id.clone());
            }
            run.promise_counts.add(&promise);
            run.promises.push(promise)
        };
        let mut held = std::mem::take(&mut self.held);
        // On more than one thread, the held conversations are read back and judged on a second
        // thread while this one folds them: the join runs after the last chunk, when nothing
        // else overlaps it (a quarter of a callback-heavy run's end on one thread).
        let judge_one = |conversation: &mut Held| {
            for promise in &mut conversation.promises {
                judge.judge_held(promise, conversation.conversation, conversation.customer);
            }
        };
        held.visit_ahead(self.join_ahead, judge_one, |conversation| {
            let mut audit = ConversationAudit {
                agents: conversation.agents,
                promises: conversation.promises,
                ..ConversationAudit::default()
            };
            fold_judged(&mut audit);
            self.scorecards.add_as(&audit, self.rules, None);
            self.teams
                .add_as(&audit, self.rules, Some(team_key(&conversation.team)));
            for finding in audit.findings.drain(..) {
                run.findings.push(finding)?;
            }
            for promise in audit.promises.drain(..) {
                keep(run, promise)?;
            }
            Ok(())
        })?;
        for mut promise in carried {
            // A conversation read again in this run was judged from its own copy.
            if self.ids.contains(&promise.conversation_id) {
                continue;
            }
            judge.judge(&mut promise, None);
            self.scorecards.add_carried(&promise, self.rules);
            if promise.state == PromiseState::Broken {
                run.findings.push(promise.finding())?;
            }
            keep(run, promise)?;
        }
        run.as_of = as_of;
        run.scorecards = self.scorecards.into_scorecards();
        run.teams = self.teams.into_scorecards();
        // A conversation kept for its promises stays when a broken one became a finding, in
        // the promises' order (by conversation id) while there is room.
        for id in broken_kept {
            if run.retained.len() < self.retain_turns
                && let Some(turns) = self.retained_promises.remove(&id)
            {
                run.retained.insert(id, turns);
            }
        }
        Ok(self.run)
    }
}

/// Audits `files` against `rules`. `on_progress(conversations)` is called on the calling thread
/// after each chunk is merged.
pub fn run(
    files: &[InputFile],
    rules: &RuleSet,
    options: &AuditOptions,
    on_progress: &mut dyn FnMut(u64),
) -> Result<AuditRun, AuditError> {
    let mut merger = Merger::new(
        rules,
        options.retain_turns,
        options
            .finding_budget_bytes
            .unwrap_or(crate::finding_store::DEFAULT_BUDGET_BYTES),
        options.metadata.as_ref().map(|m| m.rows.len() as u64),
        options.threads,
    );
    run_into(files, rules, options, &mut merger, on_progress)?;
    Ok(merger.finish(options.as_of.clone(), options.carried_promises.clone())?)
}

/// A run's merge fed with chunk results recorded elsewhere (the partials of a sharded run,
/// [`crate::partial`]), in input order: the same merge, so the same run.
pub(crate) struct Replay<'r> {
    merger: Merger<'r>,
    turns_full: AtomicBool,
}

impl<'r> Replay<'r> {
    /// As [`run`] would merge with `retain_turns`, `finding_budget` and `--metadata`'s rows,
    /// judging the promises on `threads`.
    pub(crate) fn new(
        rules: &'r RuleSet,
        retain_turns: usize,
        finding_budget: usize,
        metadata_rows: Option<u64>,
        threads: usize,
    ) -> Replay<'r> {
        Replay {
            merger: Merger::new(rules, retain_turns, finding_budget, metadata_rows, threads),
            turns_full: AtomicBool::new(false),
        }
    }

    pub(crate) fn take(&mut self, mut result: ChunkResult) -> Result<(), AuditError> {
        self.merger.take_chunk(&mut result, &self.turns_full)
    }

    /// Conversations taken so far.
    pub(crate) fn conversations(&self) -> u64 {
        self.merger.run.stats.read
    }

    /// Judges the promises, as the end of [`run`] does.
    pub(crate) fn finish(
        self,
        as_of: Option<jiff::Zoned>,
        carried: Vec<Promise>,
    ) -> Result<AuditRun, AuditError> {
        Ok(self.merger.finish(as_of, carried)?)
    }
}

/// Audits `files` against `rules` and hands each chunk's results, in input order, to `sink`
/// (the run's merge, or a shard's partial): the three stages, the reader, the workers, and
/// `sink` on the calling thread.
pub(crate) fn run_into(
    files: &[InputFile],
    rules: &RuleSet,
    options: &AuditOptions,
    sink: &mut dyn ChunkSink,
    on_progress: &mut dyn FnMut(u64),
) -> Result<(), AuditError> {
    let threads = options.threads.max(1);
    if threads == 1 {
        // `-j1`: each chunk read, audited and merged in turn on this thread, so that one
        // thread is all the run uses (the figure of a one-core machine). Chunks come in input
        // order, so the merge takes each as it is audited.
        let retain_turns = RetainTurns::of(options);
        let mut auditor = Auditor::new(rules)
            .redacting(options.redactor.clone())
            .cancelled_by(options.cancel.clone());
        let mut failure = None;
        read_chunks(files, &options.read, |chunk| {
            if options.cancel.load(Ordering::Relaxed) {
                return false;
            }
            let mut result = audit_chunk(
                &mut auditor,
                chunk,
                options.metadata.as_deref(),
                &retain_turns,
            );
            match sink.take(&mut result, &retain_turns.full) {
                Ok(()) => {
                    on_progress(sink.conversations());
                    true
                }
                Err(error) => {
                    failure = Some(error);
                    false
                }
            }
        });
        return failure.map_or(Ok(()), Err);
    }
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(threads * 2);
    let (result_tx, result_rx) = crossbeam_channel::bounded::<ChunkResult>(threads * 4);
    let retain_turns = RetainTurns::of(options);
    let metadata = options.metadata.as_deref();
    let mut failure = None;
    let retain_turns = &retain_turns;
    std::thread::scope(|scope| {
        let read_options = &options.read;
        let cancel = &options.cancel;
        // Named, so that profiles tell the stages apart.
        let spawned = std::thread::Builder::new()
            .name("callqa-reader".into())
            .spawn_scoped(scope, move || {
                read_chunks(files, read_options, |chunk| {
                    !cancel.load(Ordering::Relaxed) && chunk_tx.send(chunk).is_ok()
                });
            });
        let spawned = spawned.and_then(|_| {
            (0..threads).try_for_each(|worker| {
                let (chunk_rx, result_tx) = (chunk_rx.clone(), result_tx.clone());
                std::thread::Builder::new()
                    .name(format!("callqa-worker-{worker}"))
                    .spawn_scoped(scope, move || {
                        let mut auditor = Auditor::new(rules)
                            .redacting(options.redactor.clone())
                            .cancelled_by(cancel.clone());
                        // The items of this worker's results, back from the merge.
                        let (give_back, given_back) = crossbeam_channel::unbounded();
                        for chunk in chunk_rx {
                            given_back.try_iter().for_each(drop);
                            let mut result =
                                audit_chunk(&mut auditor, chunk, metadata, retain_turns);
                            result.worker = Some(give_back.clone());
                            // A closed channel means the merge has stopped; nothing to do then.
                            if result_tx.send(result).is_err() {
                                break;
                            }
                        }
                    })
                    .map(drop)
            })
        });
        // The workers hold their own ends: the merge below ends when the last worker has.
        drop((chunk_rx, result_tx));
        if let Err(error) = spawned {
            failure = Some(AuditError::Spawn(error));
            return;
        }
        let mut waiting: BTreeMap<u64, ChunkResult> = BTreeMap::new();
        let mut next_seq = 0u64;
        'merge: for result in result_rx {
            waiting.insert(result.seq, result);
            while let Some(mut result) = waiting.remove(&next_seq) {
                let taken = sink.take(&mut result, &retain_turns.full);
                result.give_back();
                if let Err(error) = taken {
                    // Stop the reader; the workers then run dry.
                    options.cancel.store(true, Ordering::Relaxed);
                    failure = Some(error);
                    break 'merge;
                }
                next_seq += 1;
                on_progress(sink.conversations());
            }
        }
    });
    failure.map_or(Ok(()), Err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{InputFormat, discover};

    /// The guard around one conversation's checks: a value passes, a panic becomes its message,
    /// and the skip it makes names the conversation, its place and the bug; an auditor reset
    /// after it audits the next conversation as a fresh one would.
    #[test]
    fn a_panic_in_the_checks_costs_its_conversation_only() {
        /// Work that ends in a value or a panic, and what the guard gives back for it.
        type Case = (fn() -> u32, Result<u32, &'static str>);
        let cases: [Case; 3] = [
            (|| 7, Ok(7)),
            (|| panic!("a static message"), Err("a static message")),
            (|| panic!("turn {} of {}", 2, 3), Err("turn 2 of 3")),
        ];
        for (work, expected) in cases {
            assert_eq!(guarded(work), expected.map_err(str::to_string));
        }
        let file: Arc<str> = Arc::from("calls/one.txt");
        let text = "Customer: this is ridiculous\nAgent: calm down";
        let conversation = crate::transcript::script::parse_script(text, &file, "call-7").unwrap();
        let skip = checks_failed(&conversation, "byte index 11 is not a char boundary");
        assert_eq!(skip.kind, SkipKind::Internal);
        assert_eq!(SkipKind::Internal.key(), "internal_error");
        assert_eq!(
            skip.to_string(),
            "calls/one.txt:1: internal error: conversation \"call-7\": the checks failed on it \
             (byte index 11 is not a char boundary); it is counted as skipped. This is a bug in \
             callqa: please report it with this line"
        );
        let rules = RuleSet::default_pack().unwrap();
        let fresh = Auditor::new(&rules).audit(&conversation);
        let mut auditor = Auditor::new(&rules);
        let caught = guarded(|| {
            auditor.audit(&conversation);
            panic!("half way through")
        });
        assert_eq!(caught, Err("half way through".to_string()));
        auditor.reset();
        assert_eq!(auditor.audit(&conversation), fresh);
    }

    #[test]
    fn duplicates_and_skips_are_counted_and_threads_change_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let line = |id: &str, text: &str| {
            format!(
                "{{\"id\":\"{id}\",\"agent_id\":\"a\",\"turns\":[{{\"speaker\":\"agent\",\"text\":\"{text}\"}}]}}\n"
            )
        };
        let mut first = String::new();
        for i in 0..300 {
            first.push_str(&line(&format!("c{i}"), "calm down please"));
        }
        first.push_str("{oops\n");
        first.push_str("{\"id\":\"empty\",\"turns\":[]}\n");
        std::fs::write(dir.path().join("a.jsonl"), &first).unwrap();
        std::fs::write(dir.path().join("b.jsonl"), line("c5", "hello")).unwrap();
        let files = discover(&[dir.path().to_path_buf()], Some(InputFormat::Jsonl)).files;
        let rules =
            crate::checks::test_support::rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        // threads, memory for findings: the 1-thread run keeps them all in memory, the others
        // spill them to disk in many runs.
        let mut results: Vec<AuditRun> = [(1, usize::MAX), (2, 1000), (3, 0)]
            .iter()
            .map(|&(threads, budget)| {
                let options = AuditOptions {
                    threads,
                    read: ReadOptions {
                        chunk_bytes: 997,
                        ..ReadOptions::default()
                    },
                    finding_budget_bytes: Some(budget),
                    ..AuditOptions::default()
                };
                run(&files, &rules, &options, &mut |_| {}).unwrap()
            })
            .collect();
        let expected = results[0].findings.to_vec().unwrap();
        assert_eq!(results[0].findings.spilled_runs(), 0);
        assert!(results[1].findings.spilled_runs() > 1);
        for other in &mut results[1..] {
            assert_eq!(other.findings.to_vec().unwrap(), expected);
        }
        let run = &results[0];
        assert_eq!(run.stats.read, 303);
        assert_eq!(run.stats.audited, 300);
        assert_eq!(run.stats.skipped_total(), 3);
        assert_eq!(run.stats.skipped[&SkipKind::Duplicate], 1);
        assert_eq!(run.findings.len(), 300);
        assert!(
            run.problems
                .iter()
                .any(|p| p.message.contains("already read at"))
        );
        for other in &results[1..] {
            assert_eq!(other.scorecards, run.scorecards);
            assert_eq!(other.stats, run.stats);
        }
    }

    /// Held conversations and judged promises spilled to disk (budget 0) come back as they
    /// were kept in memory: the same verdicts, findings, scores and order.
    #[test]
    fn promises_judged_from_disk_are_judged_as_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let mut lines = String::new();
        for i in 0..120 {
            let (day, customer) = (10 + i % 9, i % 60);
            lines.push_str(&format!(
                "{{\"id\":\"c{:03}\",\"agent_id\":\"a{}\",\"team\":\"t{}\",\"customer_id\":\"cu{customer}\",\"started_at\":\"2026-11-{day}T10:00:00+01:00\",\"turns\":[{{\"speaker\":\"agent\",\"text\":\"I will call you back\"}}]}}\n",
                (i * 37) % 120,
                i % 4,
                i % 3
            ));
        }
        std::fs::write(dir.path().join("a.jsonl"), &lines).unwrap();
        let files = discover(&[dir.path().to_path_buf()], Some(InputFormat::Jsonl)).files;
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nphrases = [\"call you back\"]",
        );
        let mut results: Vec<AuditRun> = [usize::MAX, 0]
            .iter()
            .map(|&budget| {
                let options = AuditOptions {
                    threads: 2,
                    finding_budget_bytes: Some(budget),
                    retain_turns: 10,
                    ..AuditOptions::default()
                };
                run(&files, &rules, &options, &mut |_| {}).unwrap()
            })
            .collect();
        let promises = results[0].promises.to_vec().unwrap();
        assert_eq!(promises.len(), 120);
        assert!(promises.iter().any(|p| p.state == PromiseState::Broken));
        assert!(promises.iter().any(|p| p.state == PromiseState::Kept));
        let findings = results[0].findings.to_vec().unwrap();
        assert_eq!(results[1].promises.to_vec().unwrap(), promises);
        assert_eq!(results[1].findings.to_vec().unwrap(), findings);
        assert_eq!(results[1].scorecards, results[0].scorecards);
        assert_eq!(results[1].teams, results[0].teams);
        assert_eq!(results[1].promise_counts, results[0].promise_counts);
        assert_eq!(results[1].retained, results[0].retained);
    }
}

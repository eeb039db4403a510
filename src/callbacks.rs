//! The callback join: every promise of a later contact, judged against the start times of the
//! same customer's conversations in the whole input.
//!
//! The workers find promises conversation by conversation ([`crate::checks`]); what reaches
//! this module is only what the join needs: per conversation its customer, start time and
//! direction ([`Contacts`]), and per promise its turn, moment, deadline, agent and evidence
//! excerpt ([`Promise`]). No transcript text is held, so memory grows with the number of
//! conversations, not their size.
//!
//! A promise is **kept** when the customer has another conversation that starts after the
//! promise moment and no later than the deadline (only outbound ones with `kept_by =
//! "outbound"`), the earliest such one (ties: the smaller conversation id) keeping it; else
//! **broken** when the deadline is before `as_of`; else **pending**; **unverifiable** when the
//! conversation has no customer id or no start time. The judgement depends only on the set of
//! conversations, never on the order they were read in.
//!
//! `promises.csv` (written by [`crate::report::promises_csv`], read by [`read_promises_csv`]) lists every promise of a run; the
//! pending ones of an earlier run are carried into the next with `--promises`, where that run's
//! contacts can keep them or their deadline can break them.

use std::sync::Arc;

use jiff::{Timestamp, Zoned};

use crate::checks::{ConversationAudit, Finding, RuleState};
use crate::conversation_ids::{ConversationIds, ConversationNumber, StringNumbers};
use crate::rules::{KeptBy, RuleKind, RuleSet};
use crate::transcript::{Source, format_rfc3339, parse_started_at};

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

    fn parse(text: &str) -> Option<PromiseState> {
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

/// One conversation as the join sees it ([`CONTACT_BYTES`]); its id is in the run's
/// [`ConversationIds`], by number.
#[derive(Debug, Clone)]
struct Contact {
    customer: u32,
    outbound: bool,
    start: Timestamp,
    start_offset: jiff::tz::Offset,
    conversation: ConversationNumber,
}

/// The size of one contact: with the conversation's entry in [`ConversationIds`] (see
/// [`crate::conversation_ids::BYTES_PER_CONVERSATION`]) and one customer-id entry per distinct
/// customer, what the join keeps per conversation, whatever the conversation's length.
pub const CONTACT_BYTES: usize = std::mem::size_of::<Contact>();
// The README states this figure; a change to `Contact` must update it there.
const _: () = assert!(CONTACT_BYTES <= 32);

/// The start times of every conversation with a customer id, by customer.
#[derive(Debug, Default)]
pub struct Contacts {
    customers: StringNumbers,
    list: Vec<Contact>,
    sorted: bool,
}

impl Contacts {
    pub fn add(
        &mut self,
        customer: &str,
        start: &Zoned,
        outbound: bool,
        conversation: ConversationNumber,
    ) {
        // No more customers than conversations, which are numbered by u32 too.
        let Some(customer) = self.customers.find_or_add(customer) else {
            return;
        };
        self.list.push(Contact {
            customer,
            outbound,
            start: start.timestamp(),
            start_offset: start.offset(),
            conversation,
        });
        self.sorted = false;
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Ties of customer and start are ordered by conversation id.
    fn sort(&mut self, ids: &ConversationIds) {
        if !self.sorted {
            // The ids are looked up only on a tie: they live elsewhere in memory. Ids are
            // unique in a run, so the order is total and an unstable sort gives the same
            // list without a stable sort's scratch buffer (up to 8 MB, at the run's peak).
            self.list.sort_unstable_by(|a, b| {
                (a.customer, a.start)
                    .cmp(&(b.customer, b.start))
                    .then_with(|| ids.id(a.conversation).cmp(ids.id(b.conversation)))
            });
            self.sorted = true;
        }
    }

    /// The earliest contact of `customer` after `after` and no later than `until`.
    fn keeping(
        &self,
        customer: &str,
        after: Timestamp,
        until: Timestamp,
        outbound_only: bool,
        except: &str,
        ids: &ConversationIds,
    ) -> Option<&Contact> {
        let customer = self.customers.find(customer)?;
        let from = self
            .list
            .partition_point(|c| (c.customer, c.start) <= (customer, after));
        self.list[from..]
            .iter()
            .take_while(|c| c.customer == customer && c.start <= until)
            .find(|c| (!outbound_only || c.outbound) && ids.id(c.conversation) != except)
    }
}

/// Judges every promise against the contacts; `as_of` tells broken from pending.
pub struct Judge<'a> {
    rules: &'a RuleSet,
    contacts: Contacts,
    /// The run's conversations, by which contacts name theirs.
    ids: &'a ConversationIds,
    as_of: Option<Timestamp>,
}

impl<'a> Judge<'a> {
    pub fn new(
        rules: &'a RuleSet,
        mut contacts: Contacts,
        ids: &'a ConversationIds,
        as_of: Option<&Zoned>,
    ) -> Judge<'a> {
        contacts.sort(ids);
        Judge {
            rules,
            contacts,
            ids,
            as_of: as_of.map(Zoned::timestamp),
        }
    }

    pub fn judge(&self, promise: &mut Promise) {
        promise.kept_by = None;
        let (Some(customer), Some(made_at), Some(deadline)) =
            (&promise.customer_id, &promise.made_at, &promise.deadline)
        else {
            promise.state = PromiseState::Unverifiable;
            return;
        };
        let outbound_only = matches!(
            self.rules.rules[promise.rule as usize].kind,
            RuleKind::Promise {
                kept_by: KeptBy::Outbound,
                ..
            }
        );
        let keeping = self.contacts.keeping(
            customer,
            made_at.timestamp(),
            deadline.timestamp(),
            outbound_only,
            &promise.conversation_id,
            self.ids,
        );
        promise.state = if let Some(contact) = keeping {
            let start = contact
                .start
                .to_zoned(jiff::tz::TimeZone::fixed(contact.start_offset));
            promise.kept_by = Some((self.ids.id(contact.conversation).to_string(), start));
            PromiseState::Kept
        } else if self.as_of.is_some_and(|as_of| deadline.timestamp() < as_of) {
            PromiseState::Broken
        } else {
            PromiseState::Pending
        };
    }

    /// Judges the promises of one audited conversation and folds them into it: each broken
    /// promise becomes a finding, and the promise rule becomes failed for an agent with a
    /// broken promise there, passed for one whose promises were kept.
    pub fn fold(&self, audit: &mut ConversationAudit) {
        for promise in &mut audit.promises {
            self.judge(promise);
        }
        fold_judged(audit);
    }
}

/// Folds already judged promises into their conversation's findings and agent states.
pub fn fold_judged(audit: &mut ConversationAudit) {
    for promise in &audit.promises {
        let Some(part) = audit
            .agents
            .iter_mut()
            .find(|a| a.agent_id == promise.agent_id)
        else {
            continue;
        };
        let state = &mut part.states[promise.rule as usize];
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

/// The file a report folder lists every promise in.
pub const PROMISES_FILE: &str = "promises.csv";

/// The columns of `promises.csv`, in order.
pub const COLUMNS: [&str; 13] = [
    "conversation_id",
    "agent_id",
    "customer_id",
    "rule",
    "turn",
    "made_at",
    "deadline",
    "time_words",
    "state",
    "kept_by_conversation",
    "kept_at",
    "evidence",
    "source",
];

/// Why a `promises.csv` could not be carried.
#[derive(Debug, thiserror::Error)]
pub enum CarryError {
    #[error("{file}: {message}")]
    Unreadable { file: String, message: String },
    #[error("{file}:{line}: {message}")]
    Row {
        file: String,
        line: u64,
        message: String,
    },
}

/// A cell as written before the CSV-injection guard prefixed it with `'`.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    }
}

/// Reads the still-pending promises of an earlier run's `promises.csv` for rules of `rules`
/// (rows of other states are settled; rows of rules no longer loaded are left out).
pub fn read_promises_csv(
    file: &str,
    text: &str,
    rules: &RuleSet,
) -> Result<Vec<Promise>, CarryError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|err| CarryError::Unreadable {
        file: file.into(),
        message: err.to_string(),
    })?;
    if headers.iter().collect::<Vec<_>>() != COLUMNS {
        return Err(CarryError::Unreadable {
            file: file.into(),
            message: format!("not a callqa promises.csv (header: {})", COLUMNS.join(",")),
        });
    }
    let mut carried = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|err| CarryError::Unreadable {
            file: file.into(),
            message: err.to_string(),
        })?;
        let line = record.position().map_or(0, |p| p.line());
        let row_error = |message: String| CarryError::Row {
            file: file.into(),
            line,
            message,
        };
        let field = |i: usize| unguard(record.get(i).unwrap_or(""));
        let state = PromiseState::parse(field(8))
            .ok_or_else(|| row_error(format!("unknown state {:?}", field(8))))?;
        if state != PromiseState::Pending {
            continue;
        }
        let Some(rule) = rules.rules.iter().position(|r| r.id == field(3)) else {
            continue;
        };
        let time = |i: usize| -> Result<Option<Zoned>, CarryError> {
            if field(i).is_empty() {
                Ok(None)
            } else {
                parse_started_at(field(i)).map(Some).map_err(&row_error)
            }
        };
        let turn: usize = field(4)
            .parse()
            .map_err(|_| row_error(format!("turn {:?} is not a number", field(4))))?;
        let source_text = field(12);
        let source = match source_text.rsplit_once(':') {
            Some((path, line)) if line.parse::<u64>().is_ok() => Source {
                file: Arc::from(path),
                line: line.parse().unwrap_or(0),
            },
            _ => Source {
                file: Arc::from(source_text),
                line: 0,
            },
        };
        let made_at = time(5)?;
        carried.push(Promise {
            conversation_id: field(0).to_string(),
            agent_id: field(1).to_string(),
            customer_id: Some(field(2).to_string()).filter(|c| !c.is_empty()),
            rule: rule as u32,
            turn,
            at_ms: None,
            made_at,
            deadline: time(6)?,
            time_words: Some(field(7).to_string()).filter(|w| !w.is_empty()),
            evidence: field(11).to_string(),
            span: None,
            source,
            state,
            kept_by: None,
            carried: true,
        });
    }
    Ok(carried)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zoned(text: &str) -> Zoned {
        parse_started_at(text).unwrap()
    }

    #[test]
    fn kept_by_outbound_counts_only_outbound_contacts() {
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nkept_by = \"outbound\"\nphrases = [\"call you back\"]",
        );
        let mut contacts = Contacts::default();
        let mut ids = ConversationIds::default();
        let mut add = |at: &str, outbound: bool, id: &str| {
            let number = ids.add(id, &test_source()).unwrap();
            contacts.add("cu", &zoned(at), outbound, number);
        };
        add("2026-11-19T11:00:00Z", false, "chase");
        add("2026-11-19T12:00:00Z", true, "callback");
        let judge = Judge::new(&rules, contacts, &ids, Some(&zoned("2026-11-25T00:00:00Z")));
        let mut promise = test_promise("2026-11-20T10:00:00Z");
        judge.judge(&mut promise);
        assert_eq!(promise.state, PromiseState::Kept);
        assert_eq!(promise.kept_by.unwrap().0, "callback");
    }

    fn test_source() -> Source {
        Source {
            file: Arc::from("f"),
            line: 1,
        }
    }

    fn test_promise(deadline: &str) -> Promise {
        Promise {
            conversation_id: "c".into(),
            agent_id: "a".into(),
            customer_id: Some("cu".into()),
            rule: 0,
            turn: 1,
            at_ms: None,
            made_at: Some(zoned("2026-11-19T10:00:00Z")),
            deadline: Some(zoned(deadline)),
            time_words: None,
            evidence: String::new(),
            span: None,
            source: Source {
                file: Arc::from("f"),
                line: 1,
            },
            state: PromiseState::Pending,
            kept_by: None,
            carried: false,
        }
    }

    #[test]
    fn the_earliest_contact_in_the_window_keeps_a_promise() {
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nphrases = [\"call you back\"]",
        );
        let mut contacts = Contacts::default();
        let mut ids = ConversationIds::default();
        let mut add = |customer: &str, at: &str, id: &str| {
            let number = ids.add(id, &test_source()).unwrap();
            contacts.add(customer, &zoned(at), false, number);
        };
        add("cu", "2026-11-20T12:00:00Z", "late");
        add("cu", "2026-11-19T09:00:00Z", "before");
        add("cu", "2026-11-20T10:00:00Z", "at-deadline");
        add("other", "2026-11-20T09:00:00Z", "other");
        let promise = test_promise;
        let judge = Judge::new(&rules, contacts, &ids, Some(&zoned("2026-11-25T00:00:00Z")));
        let cases = [
            (
                "2026-11-20T10:00:00Z",
                PromiseState::Kept,
                Some("at-deadline"),
            ),
            ("2026-11-20T09:59:59Z", PromiseState::Broken, None),
            (
                "2026-11-26T00:00:00Z",
                PromiseState::Kept,
                Some("at-deadline"),
            ),
        ];
        for (deadline, state, kept_by) in cases {
            let mut p = promise(deadline);
            judge.judge(&mut p);
            assert_eq!(p.state, state, "{deadline}");
            assert_eq!(p.kept_by.as_ref().map(|k| k.0.as_str()), kept_by);
        }
        let mut pending = promise("2026-11-26T00:00:00Z");
        pending.customer_id = Some("nobody".into());
        judge.judge(&mut pending);
        assert_eq!(pending.state, PromiseState::Pending);
        pending.customer_id = None;
        judge.judge(&mut pending);
        assert_eq!(pending.state, PromiseState::Unverifiable);
    }
}

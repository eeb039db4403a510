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
//! The join only gives verdicts: a judged promise becomes a finding and an agent's rule state
//! in [`crate::checks::fold_judged`]. `promises.csv` (`crate::report::promises`) lists every
//! promise of a run; the pending ones of an earlier run are carried into the next with
//! `--promises`, where that run's contacts can keep them or their deadline can break them.

use jiff::{Timestamp, Zoned};

use crate::chunked::Chunked;
use crate::conversation_ids::{ConversationIds, ConversationNumber, StringNumbers};
use crate::model::{Promise, PromiseState};
use crate::rules::{KeptBy, RuleKind, RuleSet};

/// One conversation as the join sees it ([`CONTACT_BYTES`]); its id is in the run's
/// [`ConversationIds`], by number.
#[derive(Debug, Clone)]
struct Contact {
    /// The start: seconds and nanoseconds of [`Timestamp`], whose order is theirs.
    start_second: i64,
    start_nanosecond: i32,
    customer: u32,
    conversation: ConversationNumber,
    /// The start's UTC offset in seconds, times two, plus one when the conversation is
    /// outbound: the two share a word, so a contact takes 24 bytes, not 32.
    offset_and_outbound: i32,
}

impl Contact {
    fn start(&self) -> (i64, i32) {
        (self.start_second, self.start_nanosecond)
    }

    fn outbound(&self) -> bool {
        self.offset_and_outbound & 1 == 1
    }

    /// The start, in the conversation's offset.
    fn started(&self) -> Zoned {
        let offset = jiff::tz::Offset::from_seconds(self.offset_and_outbound >> 1)
            .unwrap_or(jiff::tz::Offset::UTC);
        let start = Timestamp::new(self.start_second, self.start_nanosecond)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        start.to_zoned(jiff::tz::TimeZone::fixed(offset))
    }
}

/// A time as [`Contact`] orders it.
fn instant(time: Timestamp) -> (i64, i32) {
    (time.as_second(), time.subsec_nanosecond())
}

/// The size of one contact: with the conversation's entry in [`ConversationIds`] (see
/// [`crate::conversation_ids::BYTES_PER_CONVERSATION`]) and one customer-id entry per distinct
/// customer, what the join keeps per conversation, whatever the conversation's length.
pub(crate) const CONTACT_BYTES: usize = std::mem::size_of::<Contact>();
// The README states this figure; a change to `Contact` must update it there.
const _: () = assert!(CONTACT_BYTES <= 24);

/// A customer's number in [`Contacts`], given by [`Contacts::add`].
pub(crate) type CustomerNumber = u32;

/// The start times of every conversation with a customer id, by customer.
#[derive(Debug, Default)]
pub struct Contacts {
    customers: StringNumbers,
    /// Contacts as they are added, in chunks: the list grows to the run's end without a
    /// doubling vector's moment of holding two copies.
    added: Chunked<Contact>,
    /// The contacts by customer and start, once [`Contacts::sort`] has moved `added` here.
    list: Vec<Contact>,
}

impl Contacts {
    /// Adds a contact of `customer`; the customer's number, which [`Judge::judge_held`] takes
    /// for this customer's promises.
    pub(crate) fn add(
        &mut self,
        customer: &str,
        start: &Zoned,
        outbound: bool,
        conversation: ConversationNumber,
    ) -> Option<CustomerNumber> {
        // No more customers than conversations, which are numbered by u32 too.
        let customer = self.customers.find_or_add(customer)?;
        let (start_second, start_nanosecond) = instant(start.timestamp());
        self.added.push(Contact {
            start_second,
            start_nanosecond,
            customer,
            conversation,
            offset_and_outbound: start.offset().seconds() * 2 + i32::from(outbound),
        });
        Some(customer)
    }

    pub fn len(&self) -> usize {
        self.list.len() + self.added.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Ties of customer and start are ordered by conversation id. The customers are indexed
    /// too: the judge looks one up per promise.
    fn sort(&mut self, ids: &ConversationIds) {
        self.customers.index();
        if !self.added.is_empty() {
            let added = std::mem::take(&mut self.added);
            if self.list.is_empty() {
                self.list = added.into_vec();
            } else {
                self.list.extend(added.into_vec());
            }
            // The ids are looked up only on a tie: they live elsewhere in memory. Ids are
            // unique in a run, so the order is total and an unstable sort gives the same
            // list without a stable sort's scratch buffer (up to 8 MB, at the run's peak).
            self.list.sort_unstable_by(|a, b| {
                (a.customer, a.start())
                    .cmp(&(b.customer, b.start()))
                    .then_with(|| ids.id(a.conversation).cmp(ids.id(b.conversation)))
            });
        }
    }

    /// The earliest contact of `customer` after `after` and no later than `until`, other than
    /// conversation `except`.
    fn keeping(
        &self,
        customer: CustomerNumber,
        after: Timestamp,
        until: Timestamp,
        outbound_only: bool,
        except: Option<ConversationNumber>,
    ) -> Option<&Contact> {
        let (after, until) = (instant(after), instant(until));
        let from = self
            .list
            .partition_point(|c| (c.customer, c.start()) <= (customer, after));
        self.list[from..]
            .iter()
            .take_while(|c| c.customer == customer && c.start() <= until)
            .find(|c| (!outbound_only || c.outbound()) && Some(c.conversation) != except)
    }
}

/// Judges every promise against the contacts; `as_of` tells broken from pending.
pub(crate) struct Judge<'a> {
    rules: &'a RuleSet,
    contacts: Contacts,
    /// The run's conversations, by which contacts name theirs.
    ids: &'a ConversationIds,
    as_of: Option<Timestamp>,
}

impl<'a> Judge<'a> {
    pub(crate) fn new(
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

    /// Judges `promise`, made in conversation `own` of this run (`None`: one not read in this
    /// run, as a carried promise's), whose own contact never keeps it.
    pub(crate) fn judge(&self, promise: &mut Promise, own: Option<ConversationNumber>) {
        self.judge_as(promise, own, self.customer_of(promise));
    }

    /// As [`Judge::judge`], for a promise of conversation `own` of this run whose customer
    /// [`Contacts::add`] numbered `customer` (`None`: no contact was added for it): no lookup
    /// of the customer's id (a hash and a cache miss per promise, a quarter of the judging
    /// thread's time on a callback-heavy run).
    pub(crate) fn judge_held(
        &self,
        promise: &mut Promise,
        own: ConversationNumber,
        customer: Option<CustomerNumber>,
    ) {
        let customer = customer.or_else(|| self.customer_of(promise));
        self.judge_as(promise, Some(own), customer);
    }

    /// The number of `promise`'s customer, looked up by id.
    fn customer_of(&self, promise: &Promise) -> Option<CustomerNumber> {
        let id = promise.customer_id.as_deref()?;
        self.contacts.customers.find(id)
    }

    /// Judges `promise` against the contacts of customer number `customer` (`None`: none).
    fn judge_as(
        &self,
        promise: &mut Promise,
        own: Option<ConversationNumber>,
        customer: Option<CustomerNumber>,
    ) {
        promise.kept_by = None;
        let (Some(_), Some(made_at), Some(deadline)) =
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
        let keeping = customer.and_then(|customer| {
            self.contacts.keeping(
                customer,
                made_at.timestamp(),
                deadline.timestamp(),
                outbound_only,
                own,
            )
        });
        promise.state = if let Some(contact) = keeping {
            promise.kept_by = Some((
                self.ids.id(contact.conversation).to_string(),
                contact.started(),
            ));
            PromiseState::Kept
        } else if self.as_of.is_some_and(|as_of| deadline.timestamp() < as_of) {
            PromiseState::Broken
        } else {
            PromiseState::Pending
        };
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transcript::{Source, parse_started_at};

    fn zoned(text: &str) -> Zoned {
        parse_started_at(text).unwrap()
    }

    /// Adds conversation `id` of `customer`, started `at`, to both tables; its number.
    fn add_contact(
        contacts: &mut Contacts,
        ids: &mut ConversationIds,
        (customer, at, outbound, id): (&str, &str, bool, &str),
    ) -> ConversationNumber {
        let number = ids.add(id, &test_source()).unwrap();
        contacts.add(customer, &zoned(at), outbound, number);
        number
    }

    #[test]
    fn kept_by_outbound_counts_only_outbound_contacts() {
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nkept_by = \"outbound\"\nphrases = [\"call you back\"]",
        );
        let mut contacts = Contacts::default();
        let mut ids = ConversationIds::default();
        let mut add = |at: &str, outbound: bool, id: &str| {
            add_contact(&mut contacts, &mut ids, ("cu", at, outbound, id));
        };
        add("2026-11-19T11:00:00Z", false, "chase");
        add("2026-11-19T12:00:00Z", true, "callback");
        let judge = Judge::new(&rules, contacts, &ids, Some(&zoned("2026-11-25T00:00:00Z")));
        let mut promise = test_promise("2026-11-20T10:00:00Z");
        judge.judge(&mut promise, None);
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
            add_contact(&mut contacts, &mut ids, (customer, at, false, id));
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
            judge.judge(&mut p, None);
            assert_eq!(p.state, state, "{deadline}");
            assert_eq!(p.kept_by.as_ref().map(|k| k.0.as_str()), kept_by);
        }
        let mut pending = promise("2026-11-26T00:00:00Z");
        pending.customer_id = Some("nobody".into());
        judge.judge(&mut pending, None);
        assert_eq!(pending.state, PromiseState::Pending);
        pending.customer_id = None;
        judge.judge(&mut pending, None);
        assert_eq!(pending.state, PromiseState::Unverifiable);
    }

    #[test]
    fn a_promise_is_never_kept_by_its_own_conversation() {
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nphrases = [\"call you back\"]",
        );
        let mut contacts = Contacts::default();
        let mut ids = ConversationIds::default();
        // The promise's own conversation starts inside the window (a clock skew, or a
        // promise made before the conversation's stated start); another contact keeps it later.
        let mut add =
            |at: &str, id: &str| add_contact(&mut contacts, &mut ids, ("cu", at, false, id));
        let own = add("2026-11-19T11:00:00Z", "c");
        let other = add("2026-11-19T12:00:00Z", "later");
        let judge = Judge::new(&rules, contacts, &ids, Some(&zoned("2026-11-25T00:00:00Z")));
        let cases = [
            (Some(own), Some("later")),
            (Some(other), Some("c")),
            (None, Some("c")),
        ];
        for (excluded, kept_by) in cases {
            let mut promise = test_promise("2026-11-20T10:00:00Z");
            judge.judge(&mut promise, excluded);
            assert_eq!(promise.state, PromiseState::Kept, "{excluded:?}");
            assert_eq!(promise.kept_by.as_ref().map(|k| k.0.as_str()), kept_by);
        }
    }

    /// A held conversation's promise is judged by the customer number its contact got, with
    /// the verdict a lookup of the customer's id gives; without a number, by the id.
    #[test]
    fn a_held_promise_judged_by_its_customer_number_gets_the_same_verdict() {
        let rules = crate::checks::test_support::rule_set(
            "kind = \"promise\"\nphrases = [\"call you back\"]",
        );
        let mut contacts = Contacts::default();
        let mut ids = ConversationIds::default();
        let mut add = |customer: &str, at: &str, id: &str| {
            let number = ids.add(id, &test_source()).unwrap();
            let customer = contacts.add(customer, &zoned(at), false, number);
            (number, customer)
        };
        let (own, cu) = add("cu", "2026-11-19T11:00:00Z", "own");
        add("other", "2026-11-19T12:00:00Z", "other's");
        let (_, cu_again) = add("cu", "2026-11-20T09:00:00Z", "later");
        assert_eq!(cu, cu_again, "one number a customer");
        let judge = Judge::new(&rules, contacts, &ids, Some(&zoned("2026-11-25T00:00:00Z")));
        for (deadline, state) in [
            ("2026-11-20T10:00:00Z", PromiseState::Kept),
            ("2026-11-20T08:00:00Z", PromiseState::Broken),
        ] {
            let mut by_id = test_promise(deadline);
            judge.judge(&mut by_id, Some(own));
            assert_eq!(by_id.state, state, "{deadline}");
            for customer in [cu, None] {
                let mut held = test_promise(deadline);
                judge.judge_held(&mut held, own, customer);
                assert_eq!(held.state, by_id.state, "{deadline} {customer:?}");
                assert_eq!(held.kept_by, by_id.kept_by, "{deadline} {customer:?}");
            }
        }
    }
}

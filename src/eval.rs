//! `callqa eval`: how well a rule set agrees with a team's own labels. The labels are JSON
//! Lines, one conversation per line:
//!
//! ```text
//! {"conversation_id": "c-1", "expect": {"apology": true, "closing": false}}
//! ```
//!
//! `true` says the rule should produce at least one finding in that conversation; for a rule
//! of kind `promise`, that the conversation holds a promise (detection is what is measured:
//! whether a promise was kept needs the other conversations and `--as-of`, and is not
//! labelled). Each labelled conversation is audited on its own, as `callqa explain` audits
//! one, so no figure depends on `--as-of` or on the other conversations read.
//!
//! The invariant: every count comes from labelled conversations that were found in the input
//! (the first conversation of an id, in path and line order); a label whose conversation was
//! not found is counted as missing and in nothing else. Only rules the labels name are
//! reported, in the rule set's order.
//!
//! With `--intervals`, each F1 comes with a 95% bootstrap interval: the rule's labelled
//! conversations drawn again with replacement, as many as there are, 2,000 times, from a fixed
//! seed (the same labels give the same interval on every run); the interval is the 2.5th and
//! 97.5th percentile of the F1 of those draws. It says how far the figure could move on other
//! conversations of the same kind: with 150 labels, often ±0.08.
//!
//! With `--against RULES`, each labelled conversation is audited by a second rule set too, and
//! each rule's F1 is compared with the other set's on the same conversations: the change and its
//! 95% interval, from the same draws made in pairs (a draw takes a conversation's verdict under
//! both sets), so that the many conversations where the sets agree do not widen it.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::checks::Auditor;
use crate::load::Sources;
use crate::model::ConversationAudit;
use crate::rules::{RuleKind, RuleSet};
use crate::transcript::{Conversation, ReadError};

/// A labels file that cannot be used: the file, the 1-based line and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub(crate) struct LabelError {
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) message: String,
}

/// One line of a labels file, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelLine {
    conversation_id: String,
    expect: HashMap<String, bool>,
}

/// One labelled conversation: for some rules (indexes into the rule set, ascending), whether
/// the rule should fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Label {
    pub(crate) conversation_id: String,
    pub(crate) expect: Vec<(u32, bool)>,
}

/// How `callqa eval` prints its figures (`--format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalFormat {
    /// A table, a row per rule
    Text,
    /// An object per rule per line
    Json,
}

/// The labels of a file, in file order; each conversation id once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Labels {
    pub(crate) labels: Vec<Label>,
}

impl Labels {
    /// Hands `each` the first conversation of each labelled id in `sources` (in path and line
    /// order, with `--metadata` joined), with the index of its label; returns, per label,
    /// whether its conversation was found, and the files and conversations that could not be
    /// read.
    pub(crate) fn each_labelled(
        &self,
        sources: &Sources,
        mut each: impl FnMut(usize, Conversation),
    ) -> (Vec<bool>, Vec<ReadError>) {
        let by_id: HashMap<&str, usize> = (self.labels.iter().enumerate())
            .map(|(index, label)| (label.conversation_id.as_str(), index))
            .collect();
        let mut found = vec![false; self.labels.len()];
        let (files, read) = (&sources.discovery.files, &sources.read);
        let metadata = sources.metadata.as_deref();
        let problems = crate::conversations::each(files, read, metadata, |conversation| {
            if let Some(&index) = by_id.get(conversation.id.as_str())
                && !std::mem::replace(&mut found[index], true)
            {
                each(index, conversation);
            }
        });
        (found, problems)
    }

    /// The rules some label names, by index.
    pub(crate) fn named_rules(&self) -> BTreeSet<u32> {
        (self.labels.iter())
            .flat_map(|label| label.expect.iter().map(|&(rule, _)| rule))
            .collect()
    }

    /// Reads the labels file `path` (`--labels`) for `rules`; the error names the flag.
    pub fn read(path: &std::path::Path, rules: &RuleSet) -> Result<Labels, String> {
        let file = path.display().to_string();
        let text =
            std::fs::read_to_string(path).map_err(|err| format!("--labels: {file}: {err}"))?;
        Labels::parse(&file, &text, rules).map_err(|err| format!("--labels: {err}"))
    }

    /// Reads the labels in `text` (the contents of `file`) against `rules`. A line that is
    /// not a label, a rule not in `rules` and a conversation id given twice are errors that
    /// name the line; blank lines are skipped.
    pub(crate) fn parse(file: &str, text: &str, rules: &RuleSet) -> Result<Labels, LabelError> {
        let mut labels = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let error = |message: String| LabelError {
                file: file.to_string(),
                line: index + 1,
                message,
            };
            if line.trim().is_empty() {
                continue;
            }
            let written: LabelLine =
                serde_json::from_str(line).map_err(|err| error(format!("not a label ({err})")))?;
            let mut expect = Vec::with_capacity(written.expect.len());
            for (rule_id, expected) in written.expect {
                let Some(rule) = rules.rules.iter().position(|r| r.id == rule_id) else {
                    let known: Vec<&str> = rules.rules.iter().map(|r| r.id.as_str()).collect();
                    return Err(error(format!(
                        "unknown rule {rule_id:?}; the rules loaded are {}",
                        known.join(", ")
                    )));
                };
                expect.push((rule as u32, expected));
            }
            expect.sort_unstable();
            if let Some(first) = first_line.insert(written.conversation_id.clone(), index + 1) {
                return Err(error(format!(
                    "conversation {:?} is labelled twice (first on line {first})",
                    written.conversation_id
                )));
            }
            labels.push(Label {
                conversation_id: written.conversation_id,
                expect,
            });
        }
        Ok(Labels { labels })
    }
}

/// How one rule agreed with the labels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuleScore {
    pub(crate) rule: String,
    /// Labelled conversations found in the input that name this rule.
    pub(crate) n: u64,
    pub(crate) tp: u64,
    pub(crate) fp: u64,
    pub(crate) fn_: u64,
    /// Labels naming this rule whose conversation was not in the input.
    pub(crate) missing: u64,
    /// The ids of the conversations where the rule fired against its label, in input order.
    pub(crate) false_positives: Vec<String>,
    /// The ids of the conversations where the rule did not fire as its label expected.
    pub(crate) false_negatives: Vec<String>,
}

impl RuleScore {
    /// Counts one labelled conversation: whether the rule `fired` and was `expected` to.
    pub(crate) fn record(&mut self, id: &str, fired: bool, expected: bool) {
        self.n += 1;
        match (fired, expected) {
            (true, true) => self.tp += 1,
            (true, false) => {
                self.fp += 1;
                self.false_positives.push(id.to_string());
            }
            (false, true) => {
                self.fn_ += 1;
                self.false_negatives.push(id.to_string());
            }
            (false, false) => {}
        }
    }

    /// tp / (tp + fp); undefined when the rule never fired.
    pub(crate) fn precision(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn); undefined when no label expected the rule to fire.
    pub(crate) fn recall(&self) -> Option<f64> {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// 2·tp / (2·tp + fp + fn), the harmonic mean of precision and recall; undefined only when
    /// the rule never fired and no label expected it to (0 when it fired only wrongly or
    /// never where expected).
    pub(crate) fn f1(&self) -> Option<f64> {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }
}

impl RuleScore {
    /// The 95% bootstrap interval of [`RuleScore::f1`] (see the module comment); undefined
    /// when F1 is undefined in every draw.
    pub(crate) fn f1_interval(&self) -> Option<(f64, f64)> {
        // The outcomes as consecutive ranges of 0..n: tp, fp, fn, then agreed silence.
        let ends = [
            self.tp,
            self.tp + self.fp,
            self.tp + self.fp + self.fn_,
            self.n,
        ];
        let mut random = SplitMix64(0x0ca1_10a0_e7a1_5eed_u64.wrapping_add(self.n));
        let mut counts = [0u64; 4];
        let f1s = (0..BOOTSTRAP_DRAWS)
            .filter_map(|_| {
                draw(&ends, &mut random, &mut counts);
                f1_of(counts)
            })
            .collect();
        middle_95(f1s)
    }
}

/// How many times the bootstrap draws the labelled conversations again.
const BOOTSTRAP_DRAWS: usize = 2_000;

/// One bootstrap draw: as many picks as the last of `ends`, each falling in the category whose
/// range of `ends` (consecutive, from 0) holds it, counted into `counts`.
fn draw(ends: &[u64], random: &mut SplitMix64, counts: &mut [u64]) {
    counts.fill(0);
    let n = ends.last().copied().unwrap_or(0);
    for _ in 0..n {
        let pick = random.below(n);
        let category = ends.partition_point(|&end| end <= pick);
        counts[category] += 1;
    }
}

/// The 2.5th and 97.5th percentile of `values`; `None` when there are none.
fn middle_95(mut values: Vec<f64>) -> Option<(f64, f64)> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at =
        |quantile: f64| values[((quantile * values.len() as f64) as usize).min(values.len() - 1)];
    Some((at(0.025), at(0.975)))
}

/// The SplitMix64 generator (Steele, Lea and Flood 2014): a fixed seed, so that an interval is
/// the same on every run.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `bound` (> 0), by multiplying and keeping the high half.
    fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }
}

fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// What `callqa eval` measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// One per rule the labels name, in the rule set's order.
    pub(crate) scores: Vec<RuleScore>,
    /// Labelled conversations.
    pub(crate) labelled: u64,
    /// Labelled conversation ids not found in the input, in label-file order.
    pub(crate) missing: Vec<String>,
    /// Files and conversations that could not be read, in input order.
    pub problems: Vec<ReadError>,
    /// With `--against`: the other rule set's scores and the paired outcomes, one per score.
    pub(crate) against: Option<Vec<Paired>>,
}

/// A rule under this rule set and under the `--against` one, on the same conversations: how
/// many conversations had each pair of outcomes (`[outcome here][outcome there]`, each outcome
/// tp, fp, fn or agreed silence, as [`outcome`] numbers them), from which both scores follow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Paired {
    pub(crate) outcomes: [[u64; 4]; 4],
    /// The conversations this rule set judged as labelled and the other did not, in input
    /// order.
    pub(crate) better: Vec<String>,
    /// The conversations the other rule set judged as labelled and this one did not.
    pub(crate) worse: Vec<String>,
}

/// How many conversations of `outcomes` (`[here][there]`) had each outcome on one `side`:
/// `|here, _| here` or `|_, there| there`.
fn count_sides(outcomes: &[[u64; 4]; 4], side: fn(usize, usize) -> usize) -> [u64; 4] {
    let mut counts = [0u64; 4];
    for (here, row) in outcomes.iter().enumerate() {
        for (there, count) in row.iter().enumerate() {
            counts[side(here, there)] += count;
        }
    }
    counts
}

/// F1 from the counts of tp, fp, fn (and silence, unused).
fn f1_of(counts: [u64; 4]) -> Option<f64> {
    ratio(2 * counts[0], 2 * counts[0] + counts[1] + counts[2])
}

/// A conversation's outcome for a rule: 0 tp, 1 fp, 2 fn, 3 silent as expected.
fn outcome(fired: bool, expected: bool) -> usize {
    match (fired, expected) {
        (true, true) => 0,
        (true, false) => 1,
        (false, true) => 2,
        (false, false) => 3,
    }
}

impl Paired {
    /// Counts one labelled conversation: whether the rule fired `here` and under the other
    /// rule set (`there`), and whether it was `expected` to.
    fn record(&mut self, id: &str, here: bool, there: bool, expected: bool) {
        self.outcomes[outcome(here, expected)][outcome(there, expected)] += 1;
        if here != there {
            let ids = if here == expected {
                &mut self.better
            } else {
                &mut self.worse
            };
            ids.push(id.to_string());
        }
    }

    /// The rule's score under the `--against` rule set (counts only).
    pub(crate) fn there(&self) -> RuleScore {
        let [tp, fp, fn_, silent] = self.counts(|_, there| there);
        RuleScore {
            n: tp + fp + fn_ + silent,
            tp,
            fp,
            fn_,
            ..RuleScore::default()
        }
    }

    /// How many conversations had each outcome, read from a pair (here, there) by `side`.
    fn counts(&self, side: fn(usize, usize) -> usize) -> [u64; 4] {
        count_sides(&self.outcomes, side)
    }

    /// How F1 changed from the `--against` rule set to this one (`here` its score), and the
    /// 95% interval of the change over draws in pairs (see the module comment); `None` where
    /// either F1 is undefined.
    pub(crate) fn change(&self) -> Option<(f64, (f64, f64))> {
        let change = f1_of(self.counts(|here, _| here))? - f1_of(self.counts(|_, there| there))?;
        // The 16 pairs of outcomes as consecutive ranges of 0..n.
        let mut ends = [0u64; 16];
        let mut end = 0;
        for (index, count) in self.outcomes.iter().flatten().enumerate() {
            end += count;
            ends[index] = end;
        }
        let mut random = SplitMix64(0x0ca1_10a0_c0a1_5eed_u64.wrapping_add(end));
        let mut drawn = [[0u64; 4]; 4];
        let changes = (0..BOOTSTRAP_DRAWS)
            .filter_map(|_| {
                draw(&ends, &mut random, drawn.as_flattened_mut());
                Some(
                    f1_of(count_sides(&drawn, |here, _| here))?
                        - f1_of(count_sides(&drawn, |_, there| there))?,
                )
            })
            .collect();
        Some((change, middle_95(changes)?))
    }
}

/// Audits the conversations of `files` that `labels` name (with `metadata` joined) and
/// compares what each rule did with what its labels expected; with `against`, also what the
/// rule of the same id in that set did. A rule the labels name that `against` lacks is an
/// error naming it.
pub fn evaluate(
    sources: &Sources,
    rules: &RuleSet,
    labels: &Labels,
    against: Option<&RuleSet>,
) -> Result<Evaluation, String> {
    // The index in `against` of each rule of `rules`.
    let mut there: Vec<Option<u32>> = vec![None; rules.rules.len()];
    if let Some(other) = against {
        for label in &labels.labels {
            for &(rule, _) in &label.expect {
                let id = &rules.rules[rule as usize].id;
                let index = other
                    .rules
                    .iter()
                    .position(|r| &r.id == id)
                    .ok_or_else(|| {
                        format!("the labels name rule `{id}`, which the --against rules lack")
                    })?;
                there[rule as usize] = Some(index as u32);
            }
        }
    }
    let mut scores = score_table(rules);
    let mut paired: Vec<Paired> = vec![Paired::default(); scores.len()];
    let mut auditor = Auditor::new(rules);
    let mut other_auditor = against.map(Auditor::new);
    let (found, problems) = labels.each_labelled(sources, |index, conversation| {
        let audit = auditor.audit(&conversation);
        let other_audit = other_auditor
            .as_mut()
            .map(|other| other.audit(&conversation));
        for &(rule, expected) in &labels.labels[index].expect {
            let here = fired(rules, &audit, rule);
            if let (Some(other), Some(other_audit), Some(other_rule)) =
                (against, &other_audit, there[rule as usize])
            {
                let there = fired(other, other_audit, other_rule);
                paired[rule as usize].record(&conversation.id, here, there, expected);
            }
            scores[rule as usize].record(&conversation.id, here, expected);
        }
    });
    let mut missing = Vec::new();
    for (label, found) in labels.labels.iter().zip(&found) {
        if !found {
            missing.push(label.conversation_id.clone());
            for &(rule, _) in &label.expect {
                scores[rule as usize].missing += 1;
            }
        }
    }
    let named = labels.named_rules();
    let named_only = |index: &usize| named.contains(&(*index as u32));
    Ok(Evaluation {
        scores: scores
            .into_iter()
            .enumerate()
            .filter(|(index, _)| named_only(index))
            .map(|(_, score)| score)
            .collect(),
        labelled: labels.labels.len() as u64,
        missing,
        problems,
        against: against.map(|_| {
            paired
                .into_iter()
                .enumerate()
                .filter(|(index, _)| named_only(index))
                .map(|(_, pair)| pair)
                .collect()
        }),
    })
}

/// An empty score for every rule of the set, indexed like it.
fn score_table(rules: &RuleSet) -> Vec<RuleScore> {
    rules
        .rules
        .iter()
        .map(|rule| RuleScore {
            rule: rule.id.clone(),
            ..RuleScore::default()
        })
        .collect()
}

/// Whether `rule` fired in `audit`: a finding, or for a promise rule a promise.
pub(crate) fn fired(rules: &RuleSet, audit: &ConversationAudit, rule: u32) -> bool {
    match rules.rules[rule as usize].kind {
        RuleKind::Promise { .. } => audit.promises.iter().any(|p| p.rule == rule),
        _ => audit.findings.iter().any(|f| f.rule == rule),
    }
}

/// A figure with three decimals, `-` when undefined.
fn decimal(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_string(), |value| format!("{value:.3}"))
}

impl Evaluation {
    /// The line that names the labelled conversations missing from the input (the first 20
    /// unless `all`), if there are any.
    pub fn missing_line(&self, all: bool) -> Option<String> {
        const SHOWN: usize = 20;
        let missing = &self.missing;
        if missing.is_empty() {
            return None;
        }
        let shown = if all {
            missing.len()
        } else {
            SHOWN.min(missing.len())
        };
        let more = if shown < missing.len() { " …" } else { "" };
        Some(format!(
            "{} of {} labelled conversations not in the input, left out of every count (`missing`): {}{more}",
            missing.len(),
            self.labelled,
            missing[..shown].join(" ")
        ))
    }

    /// The evaluation in `format`, rule by rule; with `verbose`, the ids each rule got wrong;
    /// with `intervals`, each F1's 95% bootstrap interval.
    pub fn render(&self, format: EvalFormat, verbose: bool, intervals: bool) -> String {
        match format {
            EvalFormat::Text => self.text(verbose, intervals),
            EvalFormat::Json => self.json_lines(verbose, intervals),
        }
    }

    /// A table, a row per rule: rule, n, tp, fp, fn, missing, precision, recall, f1 (and with
    /// `intervals`, `f1 95%`: its bootstrap interval, `low-high`). With `verbose`, the ids of
    /// the false positives and false negatives of each rule follow.
    pub(crate) fn text(&self, verbose: bool, intervals: bool) -> String {
        let width = self
            .scores
            .iter()
            .map(|score| score.rule.len())
            .chain([4])
            .max()
            .unwrap_or(4);
        let mut out = format!(
            "{:<width$} {:>5} {:>5} {:>5} {:>5} {:>7} {:>9} {:>6} {:>5}",
            "rule", "n", "tp", "fp", "fn", "missing", "precision", "recall", "f1"
        );
        if intervals {
            let _ = write!(out, " {:>11}", "f1 95%");
        }
        out.push('\n');
        for score in &self.scores {
            let _ = write!(
                out,
                "{:<width$} {:>5} {:>5} {:>5} {:>5} {:>7} {:>9} {:>6} {:>5}",
                score.rule,
                score.n,
                score.tp,
                score.fp,
                score.fn_,
                score.missing,
                decimal(score.precision()),
                decimal(score.recall()),
                decimal(score.f1()),
            );
            if intervals {
                let interval = score.f1_interval().map_or_else(
                    || "-".to_string(),
                    |(low, high)| format!("{low:.3}-{high:.3}"),
                );
                let _ = write!(out, " {interval:>11}");
            }
            out.push('\n');
        }
        if let Some(against) = &self.against {
            let _ = writeln!(
                out,
                "compared with the --against rules on the same conversations:\n\
                 {:<width$} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7} {:>16}",
                "rule", "n", "tp", "fp", "fn", "f1", "change", "change 95%"
            );
            for (score, pair) in self.scores.iter().zip(against) {
                let there = pair.there();
                let (change, interval) = match pair.change() {
                    Some((change, (low, high))) => {
                        (format!("{change:+.3}"), format!("{low:+.3} to {high:+.3}"))
                    }
                    None => ("-".to_string(), "-".to_string()),
                };
                let _ = writeln!(
                    out,
                    "{:<width$} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7} {:>16}",
                    score.rule,
                    there.n,
                    there.tp,
                    there.fp,
                    there.fn_,
                    decimal(there.f1()),
                    change,
                    interval,
                );
            }
        }
        if verbose {
            for (index, score) in self.scores.iter().enumerate() {
                let mut lists = vec![
                    ("false positives", &score.false_positives),
                    ("false negatives", &score.false_negatives),
                ];
                if let Some(pair) = self.against.as_ref().and_then(|a| a.get(index)) {
                    lists.push(("right where --against is wrong", &pair.better));
                    lists.push(("wrong where --against is right", &pair.worse));
                }
                for (kind, ids) in lists {
                    let _ = write!(out, "{} {kind} ({}):", score.rule, ids.len());
                    for id in ids {
                        out.push(' ');
                        out.push_str(id);
                    }
                    out.push('\n');
                }
            }
        }
        out
    }

    /// JSON Lines, an object per rule with `rule`, `n`, `tp`, `fp`, `fn`, `precision`,
    /// `recall`, `f1` (`null` where undefined) and `missing`; with `intervals`, also
    /// `f1_interval` (`[low, high]`, or `null`); with `verbose`, also `false_positives` and
    /// `false_negatives` (conversation ids); with `--against`, also `against`, `f1_change` and
    /// `f1_change_interval`, and with `verbose` the ids `better` and `worse`.
    pub(crate) fn json_lines(&self, verbose: bool, intervals: bool) -> String {
        let mut out = String::new();
        for (index, score) in self.scores.iter().enumerate() {
            let pair = self.against.as_ref().and_then(|against| against.get(index));
            let change = pair.and_then(Paired::change);
            let row = JsonRow {
                rule: &score.rule,
                n: score.n,
                figures: JsonFigures::of(score),
                missing: score.missing,
                f1_interval: intervals.then(|| score.f1_interval().map(|(low, high)| [low, high])),
                against: pair.map(|pair| JsonFigures::of(&pair.there())),
                f1_change: pair.map(|_| change.map(|(change, _)| change)),
                f1_change_interval: pair.map(|_| change.map(|(_, (low, high))| [low, high])),
                false_positives: verbose.then_some(&score.false_positives),
                false_negatives: verbose.then_some(&score.false_negatives),
                better: pair.filter(|_| verbose).map(|pair| &pair.better),
                worse: pair.filter(|_| verbose).map(|pair| &pair.worse),
            };
            // Serializing plain numbers and strings into memory cannot fail.
            out.push_str(&serde_json::to_string(&row).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

/// One rule's line of `--format json`, its keys in this order.
#[derive(serde::Serialize)]
struct JsonRow<'a> {
    rule: &'a str,
    n: u64,
    #[serde(flatten)]
    figures: JsonFigures,
    missing: u64,
    /// Present with `--intervals` (then `null` where undefined).
    #[serde(skip_serializing_if = "Option::is_none")]
    f1_interval: Option<Option<[f64; 2]>>,
    /// Present with `--against`: that rule set's figures, the change of F1 from it and the
    /// change's 95% interval (`null` where undefined).
    #[serde(skip_serializing_if = "Option::is_none")]
    against: Option<JsonFigures>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f1_change: Option<Option<f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    f1_change_interval: Option<Option<[f64; 2]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    false_positives: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    false_negatives: Option<&'a Vec<String>>,
    /// With `--against` and `--verbose`: the ids this set judged right and the other wrong,
    /// and the other way round.
    #[serde(skip_serializing_if = "Option::is_none")]
    better: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worse: Option<&'a Vec<String>>,
}

/// A rule's counts and figures in a line of `--format json` (and under `against`).
#[derive(serde::Serialize)]
pub(crate) struct JsonFigures {
    tp: u64,
    fp: u64,
    #[serde(rename = "fn")]
    fn_: u64,
    precision: Option<f64>,
    recall: Option<f64>,
    f1: Option<f64>,
}

impl JsonFigures {
    pub(crate) fn of(score: &RuleScore) -> JsonFigures {
        JsonFigures {
            tp: score.tp,
            fp: score.fp,
            fn_: score.fn_,
            precision: score.precision(),
            recall: score.recall(),
            f1: score.f1(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(tp: u64, fp: u64, fn_: u64) -> RuleScore {
        RuleScore {
            rule: "r".to_string(),
            n: tp + fp + fn_,
            tp,
            fp,
            fn_,
            ..RuleScore::default()
        }
    }

    #[test]
    fn metrics() {
        // (tp, fp, fn) → (precision, recall, f1)
        let cases = [
            ((1, 1, 1), (Some(0.5), Some(0.5), Some(0.5))),
            ((3, 1, 0), (Some(0.75), Some(1.0), Some(6.0 / 7.0))),
            ((2, 0, 2), (Some(1.0), Some(0.5), Some(4.0 / 6.0))),
            // Never fired, nothing expected: nothing is defined.
            ((0, 0, 0), (None, None, None)),
            // Never fired where it was expected: precision undefined, the rest 0.
            ((0, 0, 4), (None, Some(0.0), Some(0.0))),
            // Fired only wrongly, nothing expected: recall undefined, the rest 0.
            ((0, 2, 0), (Some(0.0), None, Some(0.0))),
            ((0, 1, 1), (Some(0.0), Some(0.0), Some(0.0))),
        ];
        for ((tp, fp, fn_), expected) in cases {
            let s = score(tp, fp, fn_);
            assert_eq!(
                (s.precision(), s.recall(), s.f1()),
                expected,
                "{tp} {fp} {fn_}"
            );
        }
    }

    #[test]
    fn f1_intervals_hold_the_figure_and_narrow_as_labels_grow() {
        fn with_n(tp: u64, fp: u64, fn_: u64, n: u64) -> RuleScore {
            RuleScore {
                n,
                ..score(tp, fp, fn_)
            }
        }
        // No labels, or labels that all agree the rule should stay quiet: F1 is undefined in
        // every draw.
        assert_eq!(with_n(0, 0, 0, 0).f1_interval(), None);
        assert_eq!(with_n(0, 0, 0, 10).f1_interval(), None);
        // Every draw of a perfect rule is perfect.
        assert_eq!(with_n(10, 0, 0, 12).f1_interval(), Some((1.0, 1.0)));
        // (tp, fp, fn, n) → the widest the interval may be
        let cases = [((37, 11, 13, 141), 0.25), ((370, 110, 130, 1410), 0.08)];
        for ((tp, fp, fn_, n), widest) in cases {
            let rule = with_n(tp, fp, fn_, n);
            let f1 = rule.f1().unwrap();
            let (low, high) = rule.f1_interval().unwrap();
            assert!(low < f1 && f1 < high, "{low} {f1} {high}");
            assert!(high - low < widest, "{low} {high}");
            assert!(high - low > widest / 4.0, "{low} {high}");
            // The seed is fixed: the same labels, the same interval.
            assert_eq!(rule.f1_interval(), Some((low, high)));
        }
    }

    #[test]
    fn a_change_is_measured_on_the_same_conversations() {
        // 100 conversations: the two sets agree on all but `moved` of them, where this set
        // turns the other's false negative into a true positive.
        let paired = |moved: u64| {
            let mut outcomes = [[0u64; 4]; 4];
            outcomes[0][0] = 30; // tp under both
            outcomes[1][1] = 10; // fp under both
            outcomes[2][2] = 10 - moved; // fn under both
            outcomes[0][2] = moved; // tp here, fn there
            outcomes[3][3] = 50; // silent as expected under both
            let pair = Paired {
                outcomes,
                ..Paired::default()
            };
            assert_eq!(
                (pair.there().tp, pair.there().fp, pair.there().fn_),
                (30, 10, 10)
            );
            pair.change()
        };
        // The same verdicts: no change, and an interval of none.
        assert_eq!(paired(0), Some((0.0, (0.0, 0.0))));
        // Five more true positives: F1 60/80 → 70/85, and every draw moves the same way.
        let (change, (low, high)) = paired(5).unwrap();
        assert!((change - (70.0 / 85.0 - 60.0 / 80.0)).abs() < 1e-12);
        assert!(
            0.0 < low && low < change && change < high,
            "{low} {change} {high}"
        );
        // An undefined F1 on either side leaves nothing to compare.
        let quiet = Paired {
            outcomes: [[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 3]],
            ..Paired::default()
        };
        assert_eq!(quiet.change(), None);
    }

    #[test]
    fn undefined_figures_are_dash_and_null() {
        let evaluation = Evaluation {
            scores: vec![score(0, 0, 0)],
            ..Evaluation::default()
        };
        assert!(
            evaluation
                .text(false, false)
                .ends_with("     -      -     -\n")
        );
        let json: serde_json::Value =
            serde_json::from_str(evaluation.json_lines(false, false).trim()).unwrap();
        for key in ["precision", "recall", "f1"] {
            assert!(json[key].is_null(), "{key}");
        }
    }

    fn rules() -> RuleSet {
        RuleSet::default_pack().expect("the default pack loads")
    }

    #[test]
    fn labels_parse() {
        let rules = rules();
        let apology = rules.rules.iter().position(|r| r.id == "apology").unwrap() as u32;
        let closing = rules.rules.iter().position(|r| r.id == "closing").unwrap() as u32;
        let text = concat!(
            r#"{"conversation_id": "c-1", "expect": {"closing": false, "apology": true}}"#,
            "\n\n",
            r#"{"conversation_id": "c-2", "expect": {}}"#,
            "\n"
        );
        let labels = Labels::parse("l.jsonl", text, &rules).unwrap();
        let mut expect = vec![(apology, true), (closing, false)];
        expect.sort_unstable();
        assert_eq!(
            labels.labels,
            vec![
                Label {
                    conversation_id: "c-1".to_string(),
                    expect,
                },
                Label {
                    conversation_id: "c-2".to_string(),
                    expect: Vec::new(),
                },
            ]
        );
    }

    #[test]
    fn label_errors_name_the_line() {
        let good = r#"{"conversation_id": "c-1", "expect": {"apology": true}}"#;
        // (second line, the start of the message after FILE:LINE: )
        let cases = [
            (
                r#"{"conversation_id": "c-2", "expect": {"apologie": true}}"#,
                "unknown rule \"apologie\"; the rules loaded are interruption, blame,",
            ),
            ("{not json", "not a label ("),
            (
                r#"{"conversation_id": "c-2"}"#,
                "not a label (missing field `expect`",
            ),
            (
                r#"{"conversation_id": "c-2", "expect": {"apology": "yes"}}"#,
                "not a label (invalid type",
            ),
            (
                r#"{"conversation_id": "c-2", "expect": {}, "note": 1}"#,
                "not a label (unknown field `note`",
            ),
            (
                good,
                "conversation \"c-1\" is labelled twice (first on line 1)",
            ),
        ];
        let rules = rules();
        for (line, message) in cases {
            let text = format!("{good}\n{line}\n");
            let err = Labels::parse("labels.jsonl", &text, &rules).unwrap_err();
            assert_eq!((err.file.as_str(), err.line), ("labels.jsonl", 2), "{line}");
            assert!(err.message.starts_with(message), "{line}: {}", err.message);
            assert!(err.to_string().starts_with("labels.jsonl:2: "), "{err}");
        }
    }
}

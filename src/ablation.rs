//! `callqa eval --ablate`: which entries of a rule's phrase lists earn their place on a team's
//! own labels. Each entry (a line of `phrases`, `unless`, `trigger.phrases`, `trigger.unless`
//! or `ignore`) of every rule the labels name is taken out in turn, the rule set is compiled
//! again without it, and the labelled conversations are audited again: the rule's figures
//! without the entry, and the change of its F1.
//!
//! An entry whose removal raises F1 costs more findings than it earns on these labels (a
//! pattern that mostly fires wrongly, an exception that mostly cancels true findings); one whose
//! removal lowers F1 earns its place; one whose removal changes nothing is not exercised by
//! them. That is evidence about the labels as much as about the entry: with a few hundred
//! labels, one conversation moves F1 by about 0.01, so a small gain is a reason to read the
//! conversations it moved, not to delete the line. The items of a `[lists]` list are part of
//! the patterns that name the list, and are not taken out one by one.
//!
//! The invariant: every figure is computed as [`crate::eval::evaluate`] computes its own, on
//! the same conversations (the first of each labelled id), by a rule set that differs from the
//! loaded one by exactly one entry.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::checks::Auditor;
use crate::eval::{EvalFormat, JsonFigures, Labels, RuleScore, fired};
use crate::load::Sources;
use crate::rules::{RuleSet, RuleSource};
use crate::transcript::Conversation;

/// One entry taken out, and what its rule scored without it.
#[derive(Debug, Clone, PartialEq)]
pub struct Ablated {
    pub(crate) field: &'static str,
    pub(crate) written: String,
    /// The rule's figures on the labels without the entry (its `rule` names the rule).
    pub(crate) without: RuleScore,
    /// F1 without the entry minus F1 with it; undefined when either is.
    pub(crate) f1_change: Option<f64>,
    /// The labelled conversations the rule judges as labelled without the entry and not with
    /// it, in input order (what the entry costs).
    pub(crate) better: Vec<String>,
    /// The conversations it judges as labelled with the entry and not without it (what the
    /// entry earns).
    pub(crate) worse: Vec<String>,
}

impl Ablated {
    /// Whether taking the entry out changed the verdict on some labelled conversation.
    fn changed(&self) -> bool {
        !self.better.is_empty() || !self.worse.is_empty()
    }
}

/// Every entry of the labelled rules taken out in turn, in the order the files wrote them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Ablation {
    pub(crate) entries: Vec<Ablated>,
}

/// Takes out each entry of each rule `labels` name, in turn, from the rule set `rule_sources`
/// compile to (`rules`, as loaded), and scores that rule on the labelled conversations of
/// `sources`. The conversations are read once; the rule sets are compiled and the audits run
/// on the global thread pool.
pub fn ablate(
    sources: &Sources,
    rule_sources: &[RuleSource],
    rules: &RuleSet,
    labels: &Labels,
) -> Result<Ablation, String> {
    // The first conversation of each labelled id, with its label's index, in input order.
    // Files and conversations that could not be read are reported by the evaluation itself.
    let mut labelled: Vec<(usize, Conversation)> = Vec::new();
    let _ = labels.each_labelled(sources, |index, conversation| {
        labelled.push((index, conversation));
    });
    let named = labels.named_rules();
    let entries = RuleSet::entries(rule_sources).map_err(|err| err.to_string())?;
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|entry| named.contains(&entry.rule))
        .collect();
    let score = |set: &RuleSet, rule: u32| {
        let mut auditor = Auditor::new(set);
        let mut score = RuleScore {
            rule: set.rules[rule as usize].id.clone(),
            ..RuleScore::default()
        };
        for (index, conversation) in &labelled {
            let expected = labels.labels[*index]
                .expect
                .iter()
                .find(|&&(r, _)| r == rule)
                .map(|&(_, expected)| expected);
            if let Some(expected) = expected {
                let audit = auditor.audit(conversation);
                score.record(&conversation.id, fired(set, &audit, rule), expected);
            }
        }
        score
    };
    // Each labelled rule's figures with every entry, as `callqa eval` gives them.
    let with: HashMap<u32, RuleScore> = (named.iter())
        .map(|&rule| (rule, score(rules, rule)))
        .collect();
    let entries = entries
        .par_iter()
        .map(|entry| {
            let set = RuleSet::load_without(rule_sources, Some((entry.rule, entry.index)))
                .map_err(|err| err.to_string())?;
            let without = score(&set, entry.rule);
            let with = &with[&entry.rule];
            let f1_change = without
                .f1()
                .zip(with.f1())
                .map(|(without, with)| without - with);
            let wrong = |score: &RuleScore| -> HashSet<String> {
                (score.false_positives.iter())
                    .chain(&score.false_negatives)
                    .cloned()
                    .collect()
            };
            let (wrong_with, wrong_without) = (wrong(with), wrong(&without));
            let ids = labelled.iter().map(|(_, conversation)| &conversation.id);
            let (mut better, mut worse) = (Vec::new(), Vec::new());
            for id in ids {
                match (wrong_with.contains(id), wrong_without.contains(id)) {
                    (true, false) => better.push(id.clone()),
                    (false, true) => worse.push(id.clone()),
                    _ => {}
                }
            }
            Ok(Ablated {
                field: entry.field,
                written: entry.written.clone(),
                without,
                f1_change,
                better,
                worse,
            })
        })
        .collect::<Result<Vec<Ablated>, String>>()?;
    Ok(Ablation { entries })
}

impl Ablation {
    /// The ablation in `format`: after `callqa eval`'s own table or lines; with `verbose`,
    /// the conversations each entry's removal moved.
    pub fn render(&self, format: EvalFormat, verbose: bool) -> String {
        match format {
            EvalFormat::Text => self.text(verbose),
            EvalFormat::Json => self.json_lines(verbose),
        }
    }

    /// The entries whose removal changed the verdict on some labelled conversation, the
    /// largest rise of F1 first (ties in file order, undefined changes last), each with the
    /// ids it moved when `verbose`; then a line per rule: how many of its entries changed
    /// nothing on these labels.
    pub(crate) fn text(&self, verbose: bool) -> String {
        use std::fmt::Write as _;
        let changed: Vec<&Ablated> = {
            let mut changed: Vec<&Ablated> = self
                .entries
                .iter()
                .filter(|entry| entry.changed())
                .collect();
            changed.sort_by(|a, b| {
                let key = |entry: &Ablated| entry.f1_change.unwrap_or(f64::NEG_INFINITY);
                key(b).total_cmp(&key(a))
            });
            changed
        };
        let rule_width = (self.entries.iter())
            .map(|entry| entry.without.rule.len())
            .chain(["rule".len()])
            .max()
            .unwrap_or_default();
        let field_width = (self.entries.iter())
            .map(|entry| entry.field.len())
            .chain(["field".len()])
            .max()
            .unwrap_or_default();
        let mut out = String::from("without one entry at a time:\n");
        let _ = writeln!(
            out,
            "{:<rule_width$} {:<field_width$} {:>5} {:>5} {:>5} {:>5} {:>7}  entry",
            "rule", "field", "tp", "fp", "fn", "f1", "change"
        );
        for entry in &changed {
            let score = &entry.without;
            let f1 = score
                .f1()
                .map_or_else(|| "-".to_string(), |f1| format!("{f1:.3}"));
            let change = entry
                .f1_change
                .map_or_else(|| "-".to_string(), |change| format!("{change:+.3}"));
            let _ = writeln!(
                out,
                "{:<rule_width$} {:<field_width$} {:>5} {:>5} {:>5} {:>5} {:>7}  {}",
                score.rule, entry.field, score.tp, score.fp, score.fn_, f1, change, entry.written
            );
            if verbose {
                for (kind, ids) in [
                    ("right without it", &entry.better),
                    ("wrong without it", &entry.worse),
                ] {
                    if !ids.is_empty() {
                        let _ = writeln!(out, "  {kind} ({}): {}", ids.len(), ids.join(" "));
                    }
                }
            }
        }
        let mut rules: Vec<&str> = Vec::new();
        for entry in &self.entries {
            if !rules.contains(&entry.without.rule.as_str()) {
                rules.push(&entry.without.rule);
            }
        }
        for rule in rules {
            let of_rule = self.entries.iter().filter(|e| e.without.rule == rule);
            let (all, unchanged) = of_rule.fold((0, 0), |(all, unchanged), entry| {
                (all + 1, unchanged + usize::from(!entry.changed()))
            });
            let _ = writeln!(
                out,
                "{rule}: {unchanged} of {all} entries change nothing on these labels"
            );
        }
        out
    }

    /// A JSON line per entry, in file order: `rule`, `field`, `entry`, then the rule's `n`,
    /// `tp`, `fp`, `fn`, `precision`, `recall` and `f1` without it, and `f1_change` (`null`
    /// where undefined); with `verbose`, also `better` and `worse` (the ids judged right and
    /// wrong without the entry that were judged otherwise with it).
    pub(crate) fn json_lines(&self, verbose: bool) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            let score = &entry.without;
            let row = JsonEntry {
                rule: &score.rule,
                field: entry.field,
                entry: &entry.written,
                n: score.n,
                figures: JsonFigures::of(score),
                f1_change: entry.f1_change,
                better: verbose.then_some(&entry.better),
                worse: verbose.then_some(&entry.worse),
            };
            // Serializing plain numbers and strings into memory cannot fail.
            out.push_str(&serde_json::to_string(&row).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

/// One entry's line of `--ablate --format json`, its keys in this order.
#[derive(serde::Serialize)]
struct JsonEntry<'a> {
    rule: &'a str,
    field: &'a str,
    entry: &'a str,
    n: u64,
    #[serde(flatten)]
    figures: JsonFigures,
    f1_change: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    better: Option<&'a Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    worse: Option<&'a Vec<String>>,
}

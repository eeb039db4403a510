//! The summary of a run: `summary.json` in the report folder, and the lines printed at the
//! end of a run.

use std::collections::BTreeMap;

use super::is_promise;
use crate::model::{PromiseCounts, RunStats};
use crate::rules::RuleSet;
use crate::scorecard::Scorecards;
use crate::transcript::SkipKind;
use crate::wording::counted;

/// What `summary.json` and the end-of-run summary report.
pub struct Summary<'a> {
    pub(crate) rules: &'a RuleSet,
    pub(crate) stats: &'a RunStats,
    pub(crate) scorecards: &'a Scorecards,
    /// How many findings each rule has, in rule order.
    pub(crate) findings_per_rule: Vec<u64>,
    /// How the run's promises were judged.
    pub(crate) promises: &'a PromiseCounts,
    /// RFC 3339, when known.
    pub(crate) as_of: Option<String>,
    /// Files read, per input format.
    pub(crate) files_by_format: BTreeMap<&'static str, u64>,
    /// With `--baseline`: how many findings it holds.
    pub(crate) baselined: Option<u64>,
}

impl Summary<'_> {
    /// How many findings in all.
    pub(crate) fn findings(&self) -> u64 {
        self.findings_per_rule.iter().sum()
    }

    /// A promise rule's totals: made (in this input), carried (from an earlier run), and
    /// how all of them were judged.
    fn promise_totals(&self, rule: u32) -> serde_json::Value {
        let count = self.promises.of_rule(rule);
        serde_json::json!({
            "made": count.made,
            "carried": count.carried,
            "kept": count.kept,
            "broken": count.broken,
            "pending": count.pending,
            "unverifiable": count.unverifiable,
        })
    }

    pub(crate) fn to_json(&self) -> Vec<u8> {
        let per_rule = &self.findings_per_rule;
        let skipped: serde_json::Map<String, serde_json::Value> = SkipKind::ALL
            .iter()
            .map(|kind| {
                (
                    kind.key().to_string(),
                    self.stats.skipped.get(kind).copied().unwrap_or(0).into(),
                )
            })
            .collect();
        let rules: Vec<serde_json::Value> = self
            .rules
            .rules
            .iter()
            .enumerate()
            .map(|(index, rule)| {
                let total = self
                    .scorecards
                    .totals
                    .get(index)
                    .copied()
                    .unwrap_or_default();
                let mut object = serde_json::json!({
                    "id": rule.id,
                    "kind": rule.kind.name(),
                    "severity": rule.severity.as_str(),
                    "weight": rule.weight,
                    "applicable": total.applicable,
                    "failed": total.failed,
                    "findings": per_rule.get(index).copied().unwrap_or(0),
                });
                if is_promise(rule) {
                    object["promises"] = self.promise_totals(index as u32);
                }
                object
            })
            .collect();
        let summary = serde_json::json!({
            "callqa_version": env!("CARGO_PKG_VERSION"),
            "rule_set": { "name": self.rules.name, "digest": self.rules.digest },
            "as_of": self.as_of,
            "conversations": {
                "read": self.stats.read,
                "audited": self.stats.audited,
                "skipped": self.stats.skipped_total(),
                "skipped_by_reason": skipped,
            },
            "files": {
                "by_format": self.files_by_format,
                "unreadable": self.stats.unreadable_files,
            },
            "bytes": self.stats.bytes,
            "agents": self.scorecards.agents.len(),
            "findings": self.findings(),
            "suppressed": self.stats.suppressed,
            "rules": rules,
        });
        let mut summary = summary;
        if let (Some(baselined), Some(object)) = (self.baselined, summary.as_object_mut()) {
            object.insert("baselined".into(), baselined.into());
        }
        if let (Some(m), Some(object)) = (&self.stats.metadata, summary.as_object_mut()) {
            object.insert(
                "metadata".into(),
                serde_json::json!({
                    "rows": m.rows,
                    "unmatched_rows": m.unmatched_rows,
                    "unmatched_conversations": m.unmatched_conversations,
                }),
            );
        }
        let mut out = serde_json::to_vec_pretty(&summary).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// The end-of-run summary, a line each (without the `callqa: ` every message starts
    /// with): what was read, the findings per rule, the promises, the baseline, the metadata
    /// join, and the time the run took.
    pub fn lines(&self, seconds: f64) -> Vec<String> {
        let stats = self.stats;
        let mut lines = vec![self.read_line(), self.findings_line()];
        let promises = self.promises.total();
        if promises.made + promises.carried > 0 {
            lines.push(format!(
                "promises: {} made, {} carried; {} kept, {} broken, {} pending, {} unverifiable",
                promises.made,
                promises.carried,
                promises.kept,
                promises.broken,
                promises.pending,
                promises.unverifiable
            ));
        }
        if let Some(baselined) = self.baselined {
            lines.push(format!(
                "baseline: {baselined} of {} are in it, {} new",
                counted(self.findings(), "finding"),
                self.findings() - baselined
            ));
        }
        if let Some(metadata) = &stats.metadata {
            lines.push(format!(
                "metadata: {} rows, {} matched no conversation; {} audited conversations matched no row",
                metadata.rows, metadata.unmatched_rows, metadata.unmatched_conversations
            ));
        }
        let megabytes = stats.bytes as f64 / 1e6;
        let rate = if seconds > 0.0 {
            megabytes / seconds
        } else {
            0.0
        };
        lines.push(format!(
            "{seconds:.2} s, {megabytes:.1} MB at {rate:.1} MB/s"
        ));
        lines
    }

    /// Conversations read, audited and skipped (with reasons), from how many files.
    fn read_line(&self) -> String {
        let stats = self.stats;
        let files: u64 = self.files_by_format.values().sum();
        let mut skipped = String::new();
        if stats.skipped_total() > 0 {
            let reasons: Vec<String> = SkipKind::ALL
                .iter()
                .filter_map(|kind| {
                    stats
                        .skipped
                        .get(kind)
                        .map(|n| format!("{} {n}", kind.key()))
                })
                .collect();
            skipped = format!(" ({})", reasons.join(", "));
        }
        let unreadable = if stats.unreadable_files > 0 {
            format!("; {}", counted(stats.unreadable_files, "unreadable file"))
        } else {
            String::new()
        };
        format!(
            "{} read from {}: {} audited, {} skipped{skipped}{unreadable}",
            counted(stats.read, "conversation"),
            counted(files, "file"),
            stats.audited,
            stats.skipped_total(),
        )
    }

    /// Agents and findings per rule.
    fn findings_line(&self) -> String {
        let per_rule: Vec<String> = self
            .findings_per_rule
            .iter()
            .zip(&self.rules.rules)
            .map(|(count, rule)| format!("{} {count}", rule.id))
            .collect();
        let suppressed = if self.stats.suppressed > 0 {
            format!(
                "; {} suppressed by `# callqa: ignore`",
                self.stats.suppressed
            )
        } else {
            String::new()
        };
        format!(
            "{}, {} ({}){suppressed}",
            counted(self.scorecards.agents.len() as u64, "agent"),
            counted(self.findings(), "finding"),
            per_rule.join(", "),
        )
    }
}

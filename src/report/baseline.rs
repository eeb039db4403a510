//! `--baseline`: the findings of an earlier run, so that a gate fails only on new ones.

use super::{Render, unguard};
use crate::model::Finding;
use crate::rules::RuleSet;

/// The findings of an earlier run (`--baseline PREVIOUS/findings.csv`), matched on
/// conversation id, rule and evidence: not on turn or line numbers, which shift when a script
/// or an export changes around a finding.
#[derive(Debug, Default)]
pub struct Baseline {
    /// How many rows hold each (conversation id, rule, evidence).
    rows: std::collections::HashMap<(String, String, String), usize>,
}

impl Baseline {
    /// Reads a `findings.csv` (the columns `conversation_id`, `rule` and `evidence` are
    /// required; the others are ignored). `file` names it in errors.
    pub(crate) fn read(file: &str, text: &str) -> Result<Baseline, String> {
        let mut reader = csv::ReaderBuilder::new()
            .flexible(false)
            .from_reader(crate::transcript::CrlfAsLf::new(text.as_bytes()));
        let headers = reader
            .headers()
            .map_err(|err| format!("{file}: {err}"))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("{file}:1: not a findings.csv: no `{name}` column"))
        };
        let (id, rule, evidence) = (
            column("conversation_id")?,
            column("rule")?,
            column("evidence")?,
        );
        let mut baseline = Baseline::default();
        for record in reader.records() {
            let record = record.map_err(|err| {
                let line = err.position().map_or(0, |p| p.line());
                format!("{file}:{line}: {err}")
            })?;
            let key = (
                unguard(&record[id]).to_string(),
                record[rule].to_string(),
                unguard(&record[evidence]).to_string(),
            );
            *baseline.rows.entry(key).or_default() += 1;
        }
        Ok(baseline)
    }

    /// Whether the baseline holds `finding`, asked of the findings in the run's order. Each
    /// baseline row matches one finding at most, so a second identical finding in a
    /// conversation is new.
    pub(crate) fn take(&mut self, finding: &Finding, rules: &RuleSet, render: &Render) -> bool {
        let key = (
            crate::visible::strip(&finding.conversation_id).into_owned(),
            rules.rules[finding.rule as usize].id.clone(),
            render.evidence(&finding.evidence).into_owned(),
        );
        match self.rows.get_mut(&key) {
            Some(count) if *count > 0 => {
                *count -= 1;
                true
            }
            _ => false,
        }
    }
}

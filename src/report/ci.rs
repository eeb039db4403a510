//! Findings for CI: GitHub Actions workflow commands and SARIF 2.1.0.
//!
//! Both point each finding at the file and line a person would open: for a plain-text script
//! the turn's line, for JSON Lines the conversation's line ([`Finding::source`]). Evidence goes
//! through the same [`Render`] as every other output, so it is redacted unless `--no-redact`.
//! Findings a `--baseline` already holds are left out of the workflow commands (they would
//! annotate every pull request again) and marked `baselineState: "unchanged"` in SARIF.

use serde_json::json;

use super::Render;
use crate::checks::Finding;
use crate::rules::{RuleSet, Severity};

/// The workflow-command level of a severity: critical and major fail a check, minor warns.
fn github_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::Major => "error",
        Severity::Minor => "warning",
    }
}

/// Escapes a workflow command's message: `%`, CR and LF.
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value: as the message, and `:` and `,`.
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// One workflow command per finding not in the baseline (`in_baseline[i]` for `findings[i]`):
/// `::error file=F,line=L,title=callqa RULE (SEVERITY)::MESSAGE: "EVIDENCE"`.
pub fn findings_github(
    findings: &[Finding],
    rules: &RuleSet,
    render: &Render,
    in_baseline: &[bool],
) -> Vec<u8> {
    let mut out = String::new();
    for (index, finding) in findings.iter().enumerate() {
        if in_baseline.get(index).copied().unwrap_or(false) {
            continue;
        }
        let rule = &rules.rules[finding.rule as usize];
        let mut properties = format!("file={}", escape_property(&finding.source.file));
        if finding.source.line > 0 {
            properties.push_str(&format!(",line={}", finding.source.line));
        }
        properties.push_str(&format!(
            ",title={}",
            escape_property(&format!("callqa {} ({})", rule.id, rule.severity.as_str()))
        ));
        let message = format!(
            "{}: \"{}\" (conversation {}, turn {})",
            rule.message,
            render.evidence(&finding.evidence),
            finding.conversation_id,
            finding.turn
        );
        out.push_str(&format!(
            "::{} {properties}::{}\n",
            github_level(rule.severity),
            escape_data(&message)
        ));
    }
    out.into_bytes()
}

/// The SARIF level of a severity.
fn sarif_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical | Severity::Major => "error",
        Severity::Minor => "warning",
    }
}

/// A file path as a URI reference: unreserved characters and `/` kept, the rest
/// percent-encoded byte by byte.
fn uri_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A SARIF 2.1.0 log with one run: the rules as the driver's rules, a result per finding.
/// With a baseline, each result says whether it is `new` or `unchanged`.
pub fn findings_sarif(
    findings: &[Finding],
    rules: &RuleSet,
    render: &Render,
    in_baseline: Option<&[bool]>,
) -> Vec<u8> {
    let descriptors: Vec<serde_json::Value> = rules
        .rules
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id,
                "shortDescription": { "text": rule.message },
                "defaultConfiguration": { "level": sarif_level(rule.severity) },
                "properties": {
                    "kind": rule.kind.name(),
                    "severity": rule.severity.as_str(),
                    "weight": rule.weight,
                },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = findings
        .iter()
        .enumerate()
        .map(|(index, finding)| {
            let rule = &rules.rules[finding.rule as usize];
            let mut physical = json!({
                "artifactLocation": { "uri": uri_reference(&finding.source.file) },
            });
            if finding.source.line > 0 {
                physical["region"] = json!({ "startLine": finding.source.line });
            }
            let mut result = json!({
                "ruleId": rule.id,
                "ruleIndex": finding.rule,
                "level": sarif_level(rule.severity),
                "message": {
                    "text": format!("{}: \"{}\"", rule.message, render.evidence(&finding.evidence)),
                },
                "locations": [{ "physicalLocation": physical }],
                "properties": {
                    "conversation_id": finding.conversation_id,
                    "agent_id": finding.agent_id,
                    "turn": finding.turn,
                    "at_ms": finding.at_ms,
                },
            });
            if let Some(in_baseline) = in_baseline {
                result["baselineState"] =
                    json!(if in_baseline.get(index).copied().unwrap_or(false) {
                        "unchanged"
                    } else {
                        "new"
                    });
            }
            result
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "callqa",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": descriptors,
                },
            },
            "properties": { "rule_set": rules.name, "digest": rules.digest },
            "results": results,
        }],
    });
    let mut out = serde_json::to_vec_pretty(&log).unwrap_or_default();
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workflow_command_escapes() {
        assert_eq!(escape_data("100% done\r\nnext"), "100%25 done%0D%0Anext");
        assert_eq!(
            escape_property("scripts/a:b,c%.txt"),
            "scripts/a%3Ab%2Cc%25.txt"
        );
    }

    #[test]
    fn paths_become_uri_references() {
        assert_eq!(
            uri_reference("scripts/late delivery #2.txt"),
            "scripts/late%20delivery%20%232.txt"
        );
        assert_eq!(uri_reference("-"), "-");
    }
}

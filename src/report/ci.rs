//! Findings for CI: GitHub Actions workflow commands and SARIF 2.1.0.
//!
//! Both point each finding at the file and line a person would open: for a plain-text script
//! the turn's line, for JSON Lines the conversation's line ([`Finding::source`]). Evidence goes
//! through the same [`Render`] as every other output, so it is redacted unless `--no-redact`.
//! Findings a `--baseline` already holds are left out of the workflow commands (they would
//! annotate every pull request again) and marked `baselineState: "unchanged"` in SARIF.

use std::io::Write;

use serde_json::json;

use super::Render;
use crate::model::Finding;
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

/// The workflow command of a finding:
/// `::error file=F,line=L,title=callqa RULE (SEVERITY)::MESSAGE: "EVIDENCE"`. Findings a
/// `--baseline` holds get none (the caller leaves them out).
pub(crate) fn finding_github(
    finding: &Finding,
    rules: &RuleSet,
    render: &Render,
    out: &mut Vec<u8>,
) {
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
    let _ = writeln!(
        out,
        "::{} {properties}::{}",
        github_level(rule.severity),
        escape_data(&message)
    );
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

/// Stands for the results while the frame of a SARIF log is rendered.
const RESULTS_MARK: &str = "callqa:results";

/// A SARIF 2.1.0 log with one run, written a result at a time: the rules as the driver's
/// rules, a result per finding. With a baseline, each result says whether it is `new` or
/// `unchanged`. The bytes are those of `serde_json::to_vec_pretty` on the whole log: the frame
/// is rendered with a mark in place of the results, and each result is pretty-printed and
/// indented to the mark's depth.
pub(crate) struct SarifLog {
    /// The log up to the results (or, with none, the whole log).
    head: String,
    /// The mark's indentation.
    indent: String,
    /// The log after the results.
    tail: String,
    with_baseline: bool,
    written: u64,
}

impl SarifLog {
    /// `results`: how many findings will come (none: an empty `results` list).
    pub(crate) fn new(rules: &RuleSet, results: u64, with_baseline: bool) -> SarifLog {
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
        let marks: Vec<&str> = if results > 0 {
            vec![RESULTS_MARK]
        } else {
            Vec::new()
        };
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
                "results": marks,
            }],
        });
        let mut text = serde_json::to_string_pretty(&log).unwrap_or_default();
        text.push('\n');
        let quoted = format!("\"{RESULTS_MARK}\"");
        match text.find(&quoted) {
            Some(at) => {
                let line_start = text[..at].rfind('\n').map_or(0, |n| n + 1);
                SarifLog {
                    head: text[..line_start].to_string(),
                    indent: text[line_start..at].to_string(),
                    tail: text[at + quoted.len()..].to_string(),
                    with_baseline,
                    written: 0,
                }
            }
            None => SarifLog {
                head: text,
                indent: String::new(),
                tail: String::new(),
                with_baseline,
                written: 0,
            },
        }
    }

    pub(crate) fn begin(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.head.as_bytes());
    }

    pub(crate) fn result(
        &mut self,
        finding: &Finding,
        rules: &RuleSet,
        render: &Render,
        in_baseline: bool,
        out: &mut Vec<u8>,
    ) {
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
        if self.with_baseline {
            result["baselineState"] = json!(if in_baseline { "unchanged" } else { "new" });
        }
        if self.written > 0 {
            out.extend_from_slice(b",\n");
        }
        self.written += 1;
        let text = serde_json::to_string_pretty(&result).unwrap_or_default();
        // JSON text holds no raw line breaks inside strings: every line is indented.
        for (index, line) in text.split('\n').enumerate() {
            if index > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(self.indent.as_bytes());
            out.extend_from_slice(line.as_bytes());
        }
    }

    pub(crate) fn end(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tail.as_bytes());
    }
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

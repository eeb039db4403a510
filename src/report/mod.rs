//! The writers: scorecards and findings as CSV, the summary as JSON, findings as text lines
//! or JSON lines for standard output, and the atomic report folder ([`atomic`]).
//!
//! Every writer renders into memory from sorted data, so the bytes depend only on the input
//! and the rules, never on the thread count; number formats are fixed (scores with 2
//! decimals, rates with 4).

pub mod atomic;
mod baseline;
pub(crate) mod ci;
pub mod html;
pub(crate) mod promises;
mod summary;

pub use baseline::Baseline;
pub(crate) use promises::{PROMISES_FILE, write_promises_csv};
pub(crate) use summary::Summary;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{Arc, mpsc};

use serde::Serialize;

use crate::redact::Redactor;

use crate::model::Finding;
use crate::rules::{RuleKind, RuleSet};
use crate::scorecard::Scorecards;

/// How text is made safe for the people who read the output.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Render<'a> {
    /// Redact private data in the turns the HTML report shows (`None`: `--no-redact`).
    pub(crate) redactor: Option<&'a Redactor>,
    /// Neutralize CSV cells a spreadsheet would run as a formula (off with `--raw-csv`).
    pub(crate) csv_guard: bool,
}

impl Render<'_> {
    /// Evidence as people see it: its private data was redacted when it was cut from its
    /// turn (`AuditOptions::redactor`, which must agree with `redactor`), and it is written
    /// without hidden characters ([`crate::visible`]).
    pub(crate) fn evidence<'t>(&self, text: &'t str) -> Cow<'t, str> {
        crate::visible::strip(text)
    }

    /// A CSV text cell: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
    /// (once hidden characters, which the output drops, are gone) gets a leading `'`, so a
    /// spreadsheet shows it instead of running it (OWASP, CSV injection).
    pub(crate) fn cell<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let text = crate::visible::strip(text);
        if self.csv_guard && text.starts_with(FORMULA_STARTS) {
            Cow::Owned(format!("'{text}"))
        } else {
            text
        }
    }
}

/// The first characters that make a spreadsheet run a cell as a formula.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// A CSV cell as written before the spreadsheet guard ([`Render::cell`]): a `'` callqa put
/// before a formula's first character is taken off, so guarded and raw files read the same.
fn unguard(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

/// The names of the files a report folder holds.
pub(crate) const SCORECARDS_FILE: &str = "scorecards.csv";
pub(crate) const FINDINGS_FILE: &str = "findings.csv";
pub(crate) const SUMMARY_FILE: &str = "summary.json";
pub(crate) const TEAMS_FILE: &str = "teams.csv";
pub(crate) const HTML_FILE: &str = "report.html";

fn is_promise(rule: &crate::rules::Rule) -> bool {
    matches!(rule.kind, RuleKind::Promise { .. })
}

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new())
}

fn finish(writer: csv::Writer<Vec<u8>>) -> Vec<u8> {
    // Writing into a Vec cannot fail.
    writer.into_inner().unwrap_or_default()
}

/// `scorecards.csv`: one row per agent, sorted by agent id.
pub(crate) fn scorecards_csv(cards: &Scorecards, rules: &RuleSet, render: &Render) -> Vec<u8> {
    cards_csv("agent_id", cards, rules, render)
}

/// `teams.csv`: the scorecard columns per team, sorted by team (`(none)`: no team).
pub(crate) fn teams_csv(teams: &Scorecards, rules: &RuleSet, render: &Render) -> Vec<u8> {
    cards_csv("team", teams, rules, render)
}

fn cards_csv(key: &str, cards: &Scorecards, rules: &RuleSet, render: &Render) -> Vec<u8> {
    let mut writer = csv_writer();
    let mut header: Vec<String> = [key, "conversations", "score", "findings"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for rule in &rules.rules {
        for column in ["applicable", "failed", "rate"] {
            header.push(format!("{}_{column}", rule.id));
        }
        if is_promise(rule) {
            for column in ["pending", "unverifiable"] {
                header.push(format!("{}_{column}", rule.id));
            }
        }
    }
    let _ = writer.write_record(&header);
    for (agent, card) in &cards.agents {
        let mut row = vec![
            render.cell(agent).into_owned(),
            card.conversations.to_string(),
            format!("{:.2}", card.score()),
            card.findings.to_string(),
        ];
        for index in 0..rules.rules.len() {
            let count = card.rules.get(index).copied().unwrap_or_default();
            row.push(count.applicable.to_string());
            row.push(count.failed.to_string());
            row.push(count.rate().map(|r| format!("{r:.4}")).unwrap_or_default());
            if is_promise(&rules.rules[index]) {
                row.push(count.pending.to_string());
                row.push(count.unverifiable.to_string());
            }
        }
        let _ = writer.write_record(&row);
    }
    finish(writer)
}

/// The columns of `findings.csv`.
pub(crate) const FINDINGS_COLUMNS: [&str; 9] = [
    "conversation_id",
    "agent_id",
    "rule",
    "severity",
    "turn",
    "at_ms",
    "evidence",
    "message",
    "source",
];

/// Findings per batch [`FindingsCsv`] renders at once, and per task of a batch.
const CSV_BATCH: usize = 4_096;
const CSV_ROWS_PER_TASK: usize = 256;
/// Batches rendering while the caller reads on: one, while the caller collects the next (more
/// hold more memory at the report's end for no gain on two cores).
const CSV_BATCHES_IN_FLIGHT: usize = 1;

/// `findings.csv`, written as the findings are read in the run's order (conversation id, then
/// turn), so that no run holds it whole in memory. Rows are rendered (redaction is most of the
/// work) in batches spread over the global rayon pool, in the background: the caller goes on
/// reading the next batch's findings (a merge of sorted runs, on its own thread) while the pool
/// renders, and the batches are written in order as they come back. The caller must not be a
/// thread of that pool (it waits for the pool's work).
pub(crate) struct FindingsCsv<W: Write> {
    out: W,
    rows: Arc<RowRenderer>,
    batch: Vec<Finding>,
    /// The rendered rows of the batches handed to the pool, oldest first.
    in_flight: VecDeque<mpsc::Receiver<Vec<Vec<u8>>>>,
}

/// What rendering a finding's row needs, owned, so that a batch can render on the pool while
/// the caller holds on to its borrows.
struct RowRenderer {
    /// Per rule: id, severity and message, the message as its cell ([`Render::cell`]).
    rules: Vec<(String, &'static str, String)>,
    redactor: Option<Redactor>,
    csv_guard: bool,
}

impl RowRenderer {
    fn render(&self) -> Render<'_> {
        Render {
            redactor: self.redactor.as_ref(),
            csv_guard: self.csv_guard,
        }
    }

    /// The rows of `findings` (no header).
    fn rows(&self, findings: &[Finding]) -> Vec<u8> {
        let render = self.render();
        let mut writer = csv_writer();
        for finding in findings {
            let (rule_id, severity, message) = &self.rules[finding.rule as usize];
            // The cell strips hidden characters as `Render::evidence` does, once.
            let _ = writer.write_record([
                render.cell(&finding.conversation_id).as_ref(),
                render.cell(&finding.agent_id).as_ref(),
                rule_id.as_str(),
                severity,
                &finding.turn.to_string(),
                &finding.at_ms.map(|ms| ms.to_string()).unwrap_or_default(),
                render.cell(&finding.evidence).as_ref(),
                message.as_str(),
                render.cell(&finding.source.to_string()).as_ref(),
            ]);
        }
        finish(writer)
    }
}

impl<W: Write> FindingsCsv<W> {
    /// Writes the header.
    pub(crate) fn new(mut out: W, rules: &RuleSet, render: &Render) -> io::Result<Self> {
        let mut header = csv_writer();
        header.write_record(FINDINGS_COLUMNS)?;
        out.write_all(&finish(header))?;
        let rows = RowRenderer {
            rules: rules
                .rules
                .iter()
                .map(|rule| {
                    (
                        rule.id.clone(),
                        rule.severity.as_str(),
                        render.cell(&rule.message).into_owned(),
                    )
                })
                .collect(),
            redactor: render.redactor.cloned(),
            csv_guard: render.csv_guard,
        };
        Ok(FindingsCsv {
            out,
            rows: Arc::new(rows),
            batch: Vec::with_capacity(CSV_BATCH),
            in_flight: VecDeque::new(),
        })
    }

    pub(crate) fn write(&mut self, finding: Finding) -> io::Result<()> {
        self.batch.push(finding);
        if self.batch.len() >= CSV_BATCH {
            self.send_batch();
            while self.in_flight.len() > CSV_BATCHES_IN_FLIGHT {
                self.write_oldest()?;
            }
        }
        Ok(())
    }

    /// Hands the batch to the pool; renders it here when the pool has one thread (`-j1` is a
    /// one-core run: the pool's thread would render beside this one).
    fn send_batch(&mut self) {
        use rayon::prelude::*;
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(CSV_BATCH));
        let (sender, receiver) = mpsc::sync_channel(1);
        self.in_flight.push_back(receiver);
        if rayon::current_num_threads() == 1 {
            // The receiver was just made: the send cannot fail.
            let _ = sender.send(vec![self.rows.rows(&batch)]);
            return;
        }
        let rows = Arc::clone(&self.rows);
        rayon::spawn(move || {
            let pieces: Vec<Vec<u8>> = batch
                .par_chunks(CSV_ROWS_PER_TASK)
                .map(|findings| rows.rows(findings))
                .collect();
            // The receiver is gone only when the writer failed and was dropped.
            let _ = sender.send(pieces);
        });
    }

    /// Waits for the oldest batch in flight and writes it.
    fn write_oldest(&mut self) -> io::Result<()> {
        let Some(receiver) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let pieces = receiver
            .recv()
            .map_err(|_| io::Error::other("rendering findings.csv rows failed"))?;
        for piece in pieces {
            self.out.write_all(&piece)?;
        }
        Ok(())
    }

    /// Writes what is left and gives the writer back.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.batch.is_empty() {
            self.send_batch();
        }
        while !self.in_flight.is_empty() {
            self.write_oldest()?;
        }
        Ok(self.out)
    }
}

/// One finding per line: `file:line: rule severity: message "evidence"`. Inside the quotes a
/// `"` or `\` of the evidence is written after a backslash, so the evidence ends at the first
/// unescaped quote however many quotes the transcript holds.
pub(crate) fn finding_text(finding: &Finding, rules: &RuleSet, render: &Render, out: &mut Vec<u8>) {
    let rule = &rules.rules[finding.rule as usize];
    let _ = writeln!(
        out,
        "{}: {} {}: {} \"{}\"",
        finding.source,
        rule.id,
        rule.severity.as_str(),
        rule.message,
        escape_quoted(&render.evidence(&finding.evidence))
    );
}

/// `text` with a backslash before each `"` and `\`: the inside of a double-quoted string.
fn escape_quoted(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['"', '\\']) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for ch in text.chars() {
        if ch == '"' || ch == '\\' {
            escaped.push('\\');
        }
        escaped.push(ch);
    }
    std::borrow::Cow::Owned(escaped)
}

#[derive(Serialize)]
struct FindingJson<'a> {
    conversation_id: &'a str,
    agent_id: &'a str,
    rule: &'a str,
    severity: &'a str,
    turn: usize,
    at_ms: Option<i64>,
    evidence: &'a str,
    message: &'a str,
    file: &'a str,
    line: u64,
}

/// One finding object per line.
pub(crate) fn finding_json_line(
    finding: &Finding,
    rules: &RuleSet,
    render: &Render,
    out: &mut Vec<u8>,
) {
    let rule = &rules.rules[finding.rule as usize];
    let evidence = render.evidence(&finding.evidence);
    let object = FindingJson {
        conversation_id: &finding.conversation_id,
        agent_id: &finding.agent_id,
        rule: &rule.id,
        severity: rule.severity.as_str(),
        turn: finding.turn,
        at_ms: finding.at_ms,
        evidence: &evidence,
        message: &rule.message,
        file: &finding.source.file,
        line: finding.source.line,
    };
    // Serializing plain strings and numbers into memory cannot fail.
    let _ = serde_json::to_writer(&mut *out, &object);
    out.push(b'\n');
}

/// The findings formats of standard output (`--format text|json|github|sarif`), written a
/// finding at a time into a buffer the caller empties as it likes.
pub(crate) struct FindingsStream<'a> {
    kind: StreamKind,
    rules: &'a RuleSet,
    render: &'a Render<'a>,
}

enum StreamKind {
    Text,
    Json,
    Github,
    Sarif(ci::SarifLog),
}

/// Which findings format [`FindingsStream`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FindingsFormat {
    Text,
    Json,
    Github,
    Sarif,
}

impl<'a> FindingsStream<'a> {
    /// `findings` is how many will come (SARIF writes an empty list differently); `baseline`
    /// whether a `--baseline` was given (SARIF then marks each result new or unchanged).
    pub(crate) fn new(
        format: FindingsFormat,
        rules: &'a RuleSet,
        render: &'a Render<'a>,
        findings: u64,
        baseline: bool,
    ) -> Self {
        let kind = match format {
            FindingsFormat::Text => StreamKind::Text,
            FindingsFormat::Json => StreamKind::Json,
            FindingsFormat::Github => StreamKind::Github,
            FindingsFormat::Sarif => {
                StreamKind::Sarif(ci::SarifLog::new(rules, findings, baseline))
            }
        };
        FindingsStream {
            kind,
            rules,
            render,
        }
    }

    /// What comes before the first finding.
    pub(crate) fn begin(&mut self, out: &mut Vec<u8>) {
        if let StreamKind::Sarif(log) = &mut self.kind {
            log.begin(out);
        }
    }

    /// One finding; `in_baseline`: whether `--baseline` holds it.
    pub(crate) fn finding(&mut self, finding: &Finding, in_baseline: bool, out: &mut Vec<u8>) {
        let (rules, render) = (self.rules, self.render);
        match &mut self.kind {
            StreamKind::Text => finding_text(finding, rules, render, out),
            StreamKind::Json => finding_json_line(finding, rules, render, out),
            StreamKind::Github => {
                if !in_baseline {
                    ci::finding_github(finding, rules, render, out);
                }
            }
            StreamKind::Sarif(log) => log.result(finding, rules, render, in_baseline, out),
        }
    }

    /// What comes after the last finding.
    pub(crate) fn end(&mut self, out: &mut Vec<u8>) {
        if let StreamKind::Sarif(log) = &mut self.kind {
            log.end(out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::test_support::{audit, audit_redacted, rule_set};
    use crate::scorecard::Scorecards;

    fn findings_csv(findings: &[Finding], rules: &RuleSet, render: &Render) -> String {
        let mut csv = FindingsCsv::new(Vec::new(), rules, render).unwrap();
        for finding in findings {
            csv.write(finding.clone()).unwrap();
        }
        String::from_utf8(csv.finish().unwrap()).unwrap()
    }

    /// Many batches in flight come back in order: the file is the rows one by one.
    #[test]
    fn findings_csv_writes_batches_in_order() {
        let rules = rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let result = audit_redacted(&rules, "agent: please calm down, card 4111 1111 1111 1111");
        let redactor = Redactor::new();
        let render = Render {
            redactor: Some(&redactor),
            csv_guard: true,
        };
        let count = CSV_BATCH * (CSV_BATCHES_IN_FLIGHT + 3) + 17;
        let findings: Vec<Finding> = (0..count)
            .map(|n| Finding {
                conversation_id: format!("c-{n:06}"),
                turn: n % 7 + 1,
                ..result.findings[0].clone()
            })
            .collect();
        // The same rows rendered in one piece, on this thread.
        let whole = FindingsCsv::new(Vec::new(), &rules, &render).unwrap();
        let mut expected = String::from_utf8(whole.out.clone()).unwrap();
        expected.push_str(&String::from_utf8(whole.rows.rows(&findings)).unwrap());
        let all = findings_csv(&findings, &rules, &render);
        assert!(all.contains("[card]"), "evidence is redacted");
        assert_eq!(all.lines().count(), count + 1);
        assert_eq!(all, expected);
    }

    #[test]
    fn csv_columns_and_number_formats() {
        let rules = rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let result = audit(&rules, "agent: please, calm down, \"sir\"\ncustomer: =cmd");
        let mut cards = Scorecards::new(1);
        cards.add(&result, &rules);
        let render = Render::default();
        let scorecards = String::from_utf8(scorecards_csv(&cards, &rules, &render)).unwrap();
        assert_eq!(
            scorecards,
            "agent_id,conversations,score,findings,r_applicable,r_failed,r_rate\na-1,1,0.00,1,1,1,1.0000\n"
        );
        let findings = findings_csv(&result.findings, &rules, &render);
        assert_eq!(
            findings,
            "conversation_id,agent_id,rule,severity,turn,at_ms,evidence,message,source\n\
             c,a-1,r,major,1,,\"please, «calm down», \"\"sir\"\"\",m,t:1\n"
        );
        let mut text = Vec::new();
        finding_text(&result.findings[0], &rules, &render, &mut text);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "t:1: r major: m \"please, «calm down», \\\"sir\\\"\"\n"
        );
        assert_eq!(escape_quoted(r#"a "b" c\d"#), r#"a \"b\" c\\d"#);
        assert_eq!(escape_quoted("plain"), "plain");
    }

    #[test]
    fn spreadsheet_formulas_and_private_data_are_neutralized() {
        let rules = rule_set("kind = \"forbid\"\nphrases = [\"calm down\"]");
        let result = audit(
            &rules,
            "agent: calm down and call 555-123-4567 =HYPERLINK(x)",
        );
        let redacted = audit_redacted(
            &rules,
            "agent: calm down and call 555-123-4567 =HYPERLINK(x)",
        );
        let redactor = Redactor::new();
        let guarded = Render {
            redactor: Some(&redactor),
            csv_guard: true,
        };
        let mut findings = result.findings.clone();
        findings[0].evidence = format!("={}", findings[0].evidence);
        findings[0].agent_id = "@agent".into();
        let mut redacted_findings = findings.clone();
        redacted_findings[0].evidence = format!("={}", redacted.findings[0].evidence);
        let csv = findings_csv(&redacted_findings, &rules, &guarded);
        assert!(csv.contains(",'@agent,"), "{csv}");
        assert!(
            csv.contains(",'=«calm down» and call [phone] =HYPERLINK(x),"),
            "{csv}"
        );
        let raw = findings_csv(&findings, &rules, &Render::default());
        assert!(
            raw.contains(",@agent,") && raw.contains("555-123-4567"),
            "{raw}"
        );
    }
}

//! The report pipeline: a finished run in, the report folder and standard output out.
//!
//! One pass over the run's sorted findings (read back from disk when they spilled) serves the
//! baseline, the severity gate, `findings.csv` and the page's findings; meanwhile another
//! thread writes the files that do not need that pass (scorecards, promises, teams), each
//! rendered just before it is written; then the summary and the page are written, and the
//! folder is replaced whole or not at all (`atomic::Staging`). Then the findings (or the scorecards) are streamed to
//! standard output in the chosen format, and the gates are judged. The command line only
//! chooses the options and prints what comes back; a `merge` of sharded runs would call the
//! same [`publish`].

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::audit::AuditRun;
use crate::finding_store::FindingStore;
use crate::model::Finding;
use crate::redact::Redactor;
use crate::report::html::{HtmlFindings, HtmlReport};
use crate::report::{self, Baseline, FindingsCsv, FindingsFormat, Render, Summary, atomic};
use crate::rules::{RuleSet, Severity};
use crate::transcript::format_rfc3339;
use crate::visible::Visible;
use crate::wording::plural;

/// What standard output carries (`--format`); its doc lines are the values' help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The scorecards CSV
    Csv,
    /// A line per finding: file:line: rule severity: message "evidence"
    Text,
    /// A finding object per line
    Json,
    /// GitHub Actions workflow commands (`::error file=…,line=…::…`), one per finding
    Github,
    /// A SARIF 2.1.0 log, for code-scanning dashboards
    Sarif,
}

/// How a finished run is reported, and which gates it must pass.
#[derive(Debug, Default)]
pub struct ReportOptions {
    /// The report folder (`-o`), replaced whole.
    pub output: Option<PathBuf>,
    /// What standard output carries, if anything.
    pub stdout: Option<OutputFormat>,
    /// Redact private data in what people read (off with `--no-redact`).
    pub redact: bool,
    /// Guard CSV cells against spreadsheet formulas (off with `--raw-csv`).
    pub csv_guard: bool,
    /// `--baseline`: the findings of an earlier run.
    pub baseline: Option<Baseline>,
    /// `--fail-on`: the severity at which a finding fails the run.
    pub fail_on: Option<Severity>,
    /// `--fail-under`: the score under which an agent fails the run.
    pub fail_under: Option<f64>,
}

/// Why a report could not be written; each is a failed run (exit 2).
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot write the report: {0}")]
    Report(#[from] atomic::WriteError),
    #[error("cannot read back the findings: {0}")]
    ReadBack(io::Error),
    #[error("cannot write the findings: {0}")]
    Findings(io::Error),
    #[error("cannot write to standard output: {0}")]
    Stdout(io::Error),
}

/// A gate the run failed.
#[derive(Debug, Clone, PartialEq)]
pub enum GateFailure {
    /// `--fail-under`: the agents (id, score) who scored below the threshold.
    ScoreBelow {
        threshold: f64,
        agents: Vec<(String, f64)>,
    },
    /// `--fail-on`: findings of the severity or worse that the baseline does not hold.
    SevereFindings {
        severity: Severity,
        new: u64,
        /// With `--baseline`: how many more the baseline holds.
        in_baseline: Option<u64>,
    },
}

/// How many agents a failed `--fail-under` names.
const AGENTS_NAMED: usize = 10;

impl std::fmt::Display for GateFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GateFailure::ScoreBelow { threshold, agents } => {
                let named: Vec<String> = agents
                    .iter()
                    .take(AGENTS_NAMED)
                    .map(|(agent, score)| format!("{agent} ({score:.2})"))
                    .collect();
                write!(
                    f,
                    "gate failed: {} agent{} scored below {threshold}: {}",
                    agents.len(),
                    plural(agents.len() as u64),
                    named.join(", ")
                )
            }
            GateFailure::SevereFindings {
                severity,
                new,
                in_baseline,
            } => {
                let (new_word, more) = match in_baseline {
                    Some(held) => ("new ", format!(" ({held} more in the baseline)")),
                    None => ("", String::new()),
                };
                write!(
                    f,
                    "gate failed: {new} {new_word}finding{} of severity {} or worse{more}",
                    plural(*new),
                    severity.as_str()
                )
            }
        }
    }
}

/// What a published run leaves for the caller: the gates it failed, in the order
/// `--fail-under`, `--fail-on`.
#[derive(Debug, Default)]
pub struct Published {
    pub failed_gates: Vec<GateFailure>,
    /// With `--baseline`: how many findings it held.
    pub baselined: Option<u64>,
}

/// Why a finished run must not be reported: nothing could be read, or (with `strict`) some
/// of it could not. The message follows `callqa: `.
pub fn input_failure(run: &AuditRun, strict: bool, problems: usize) -> Option<String> {
    if run.stats.audited == 0 {
        Some("error: no conversation could be read".to_string())
    } else if strict && problems > 0 {
        let s = plural(problems as u64);
        Some(format!(
            "error: {problems} input problem{s} under --strict; no report written"
        ))
    } else {
        None
    }
}

/// The summary of a finished run, for `summary.json` and the end-of-run lines;
/// `files_by_format` counts the files read per input format, `baselined` the findings
/// `--baseline` held.
pub fn summary<'a>(
    run: &'a AuditRun,
    rules: &'a RuleSet,
    files_by_format: &BTreeMap<&'static str, u64>,
    baselined: Option<u64>,
) -> Summary<'a> {
    let mut findings_per_rule = run.findings.per_rule().to_vec();
    findings_per_rule.resize(rules.rules.len(), 0);
    Summary {
        rules,
        stats: &run.stats,
        scorecards: &run.scorecards,
        findings_per_rule,
        promises: &run.promise_counts,
        as_of: run.as_of.as_ref().map(format_rfc3339),
        files_by_format: files_by_format.clone(),
        baselined,
    }
}

/// The findings of `--fail-on`'s severity or worse.
#[derive(Debug, Default)]
struct SevereFindings {
    new: u64,
    in_baseline: u64,
}

/// What the one pass over the findings gathered.
struct FindingsPass {
    /// Per finding in order, whether the baseline held it (empty without a baseline).
    in_baseline: Vec<bool>,
    severe: SevereFindings,
}

impl FindingsPass {
    /// With a baseline: how many findings it held.
    fn baselined(&self, had_baseline: bool) -> Option<u64> {
        had_baseline.then(|| self.in_baseline.iter().filter(|held| **held).count() as u64)
    }
}

/// Writes the report folder and standard output for `run`, and judges the gates; sets the
/// summary's baseline count. `stdout` is where the stdout format goes; a closed pipe there
/// ends the output quietly.
pub fn publish(
    run: &mut AuditRun,
    rules: &RuleSet,
    files_by_format: &BTreeMap<&'static str, u64>,
    mut options: ReportOptions,
    stdout: &mut dyn Write,
) -> Result<Published, PublishError> {
    // What reaches a terminal or a log holds no hidden characters.
    let mut stdout = Visible::new(stdout);
    let stdout: &mut dyn Write = &mut stdout;
    let redactor = Redactor::new();
    let render = Render {
        redactor: options.redact.then_some(&redactor),
        csv_guard: options.csv_guard,
    };
    let mut baseline = options.baseline.take();
    let had_baseline = baseline.is_some();
    let pass = match &options.output {
        Some(dir) => {
            let report = Report {
                rules,
                files_by_format,
                options: &options,
                render: &render,
            };
            report.write(run, &mut baseline, dir)?
        }
        None => {
            let findings = &mut run.findings;
            visit_findings(
                findings,
                rules,
                &options,
                &mut baseline,
                &render,
                |_| Ok(()),
            )?
        }
    };
    let findings_format = match options.stdout {
        None => None,
        Some(OutputFormat::Csv) => {
            let csv = report::scorecards_csv(&run.scorecards, rules, &render);
            quiet_on_closed_pipe(stdout.write_all(&csv).and_then(|()| stdout.flush()))
                .map_err(PublishError::Stdout)?;
            None
        }
        Some(OutputFormat::Text) => Some(FindingsFormat::Text),
        Some(OutputFormat::Json) => Some(FindingsFormat::Json),
        Some(OutputFormat::Github) => Some(FindingsFormat::Github),
        Some(OutputFormat::Sarif) => Some(FindingsFormat::Sarif),
    };
    if let Some(format) = findings_format {
        stream_findings(run, rules, &render, format, had_baseline, &pass, stdout)?;
    }
    Ok(Published {
        failed_gates: gates(run, &options, had_baseline, &pass.severe),
        baselined: pass.baselined(had_baseline),
    })
}

/// One pass over the run's findings in order: the baseline and the severity gate, and
/// `each` for whatever else is written of them.
fn visit_findings(
    findings: &mut FindingStore,
    rules: &RuleSet,
    options: &ReportOptions,
    baseline: &mut Option<Baseline>,
    render: &Render,
    mut each: impl FnMut(Finding) -> Result<(), PublishError>,
) -> Result<FindingsPass, PublishError> {
    let mut pass = FindingsPass {
        in_baseline: Vec::new(),
        severe: SevereFindings::default(),
    };
    // A failed write, told apart from a failed read of the findings.
    let mut write_error = None;
    let visited = findings.visit(|finding| {
        let baselined = match baseline {
            Some(baseline) => {
                let held = baseline.take(&finding, rules, render);
                pass.in_baseline.push(held);
                held
            }
            None => false,
        };
        if let Some(severity) = options.fail_on
            && rules.rules[finding.rule as usize].severity >= severity
        {
            if baselined {
                pass.severe.in_baseline += 1;
            } else {
                pass.severe.new += 1;
            }
        }
        each(finding).map_err(|err| {
            write_error = Some(err);
            io::Error::other("the report failed")
        })
    });
    if let Some(err) = write_error {
        return Err(err);
    }
    visited.map_err(PublishError::ReadBack)?;
    Ok(pass)
}

/// What the report folder is written from, besides the run.
struct Report<'a> {
    rules: &'a RuleSet,
    files_by_format: &'a BTreeMap<&'static str, u64>,
    options: &'a ReportOptions,
    render: &'a Render<'a>,
}

impl Report<'_> {
    /// Writes the six files of the report folder, replacing it whole. The files that do not
    /// depend on the pass over the findings (the scorecards, promises and teams) are written
    /// on a thread of their own while this one reads the findings (on one thread, after
    /// them), then the summary and the page, which need that pass.
    fn write(
        &self,
        run: &mut AuditRun,
        baseline: &mut Option<Baseline>,
        dir: &Path,
    ) -> Result<FindingsPass, PublishError> {
        let (rules, render) = (self.rules, self.render);
        let staging = atomic::Staging::new(dir)?;
        let mut html_findings = HtmlFindings::new(&run.retained);
        // Each file is rendered just before it is written, so that only one is in memory;
        // the page, the largest, is written as it is made.
        let write = |name: &str, bytes: &[u8]| {
            staging.write_with(name, |out| {
                let mut out = Visible::new(out);
                out.write_all(bytes)?;
                out.into_inner().map(drop)
            })
        };
        let (findings, scorecards, teams, promises) = (
            &mut run.findings,
            &run.scorecards,
            &run.teams,
            &mut run.promises,
        );
        let mut write_others = || -> Result<(), atomic::WriteError> {
            write(
                report::SCORECARDS_FILE,
                &report::scorecards_csv(scorecards, rules, render),
            )?;
            // Not through `Visible`, as `findings.csv`: each text cell is stripped where it is
            // made (`Render::cell`), the rest is ASCII (ids of rules, states, times, numbers).
            staging.write_with(report::PROMISES_FILE, |out| {
                report::write_promises_csv(promises, rules, render, out)
            })?;
            write(report::TEAMS_FILE, &report::teams_csv(teams, rules, render))
        };
        // `-j1` (a rayon pool of one, built by the audit command) is a one-core run: the
        // files one after another on this thread.
        let (pass, others) = if rayon::current_num_threads() == 1 {
            let pass = self.write_findings(findings, baseline, &mut html_findings, &staging);
            (pass, write_others())
        } else {
            std::thread::scope(|scope| {
                let others = std::thread::Builder::new()
                    .name("callqa-report".into())
                    .spawn_scoped(scope, write_others);
                let pass = self.write_findings(findings, baseline, &mut html_findings, &staging);
                let others = match others {
                    Ok(thread) => thread
                        .join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                    Err(error) => Err(atomic::WriteError::Io {
                        path: staging.path(report::SCORECARDS_FILE),
                        source: error,
                    }),
                };
                (pass, others)
            })
        };
        // The first failure in the order the files were once written one after another.
        let pass = pass?;
        others?;
        let summary = summary(
            run,
            rules,
            self.files_by_format,
            pass.baselined(baseline.is_some()),
        );
        let html = HtmlReport {
            rules,
            stats: &run.stats,
            scorecards: &run.scorecards,
            teams: &run.teams,
            findings: &html_findings,
            retained: &run.retained,
            as_of: summary.as_of.as_deref(),
            extra_totals: std::iter::once(("suppressed", run.stats.suppressed))
                .chain(summary.baselined.map(|n| ("in the baseline", n)))
                .collect(),
            render,
        };
        write(report::SUMMARY_FILE, &summary.to_json())?;
        staging.write_with(report::HTML_FILE, |out| {
            let mut out = Visible::new(out);
            html.write_html_to(&mut out)?;
            out.into_inner().map(drop)
        })?;
        staging.commit()?;
        Ok(pass)
    }

    /// `findings.csv`, and the page's findings, in one pass over the findings.
    fn write_findings(
        &self,
        findings: &mut FindingStore,
        baseline: &mut Option<Baseline>,
        html_findings: &mut HtmlFindings,
        staging: &atomic::Staging,
    ) -> Result<FindingsPass, PublishError> {
        let (rules, render) = (self.rules, self.render);
        let file = staging.create(report::FINDINGS_FILE)?;
        let findings_io = |source| atomic::WriteError::Io {
            path: staging.path(report::FINDINGS_FILE),
            source,
        };
        // Not through `Visible`: every text cell of a row is stripped of hidden characters
        // where the pool renders it (`Render::cell`), and the rest (the header, rule ids,
        // severities, numbers) is ASCII. A second scan of each byte on this thread, the one
        // the end of a run waits for, cost about a sixth of its time.
        let out = io::BufWriter::with_capacity(256 << 10, file);
        let mut csv = FindingsCsv::new(out, rules, render).map_err(findings_io)?;
        let pass = visit_findings(findings, rules, self.options, baseline, render, |finding| {
            html_findings.add(&finding);
            csv.write(finding).map_err(|err| findings_io(err).into())
        })?;
        let file = csv
            .finish()
            .and_then(|out| out.into_inner().map_err(io::IntoInnerError::into_error))
            .map_err(findings_io)?;
        staging.sync(report::FINDINGS_FILE, file)?;
        Ok(pass)
    }
}

/// Streams the findings to standard output in `format`.
fn stream_findings(
    run: &mut AuditRun,
    rules: &RuleSet,
    render: &Render,
    format: FindingsFormat,
    had_baseline: bool,
    pass: &FindingsPass,
    stdout: &mut dyn Write,
) -> Result<(), PublishError> {
    let mut stream =
        report::FindingsStream::new(format, rules, render, run.findings.len(), had_baseline);
    let mut buffer = Vec::with_capacity(128 << 10);
    stream.begin(&mut buffer);
    let mut index = 0usize;
    let streamed = run.findings.visit(|finding| {
        let in_baseline = pass.in_baseline.get(index).copied().unwrap_or(false);
        stream.finding(&finding, in_baseline, &mut buffer);
        index += 1;
        if buffer.len() >= 64 << 10 {
            stdout.write_all(&buffer)?;
            buffer.clear();
        }
        Ok(())
    });
    stream.end(&mut buffer);
    let written = streamed
        .and_then(|()| stdout.write_all(&buffer))
        .and_then(|()| stdout.flush());
    quiet_on_closed_pipe(written).map_err(PublishError::Findings)
}

/// A closed pipe (`| head`) ends the output quietly.
pub fn quiet_on_closed_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// `--fail-under` on every agent's score; `--fail-on` on the findings `--baseline` does not
/// hold.
fn gates(
    run: &AuditRun,
    options: &ReportOptions,
    had_baseline: bool,
    severe: &SevereFindings,
) -> Vec<GateFailure> {
    let mut failed = Vec::new();
    if let Some(threshold) = options.fail_under {
        let agents: Vec<(String, f64)> = run
            .scorecards
            .agents
            .iter()
            .filter(|(_, card)| card.score() < threshold)
            .map(|(agent, card)| (agent.clone(), card.score()))
            .collect();
        if !agents.is_empty() {
            failed.push(GateFailure::ScoreBelow { threshold, agents });
        }
    }
    if let Some(severity) = options.fail_on
        && severe.new > 0
    {
        failed.push(GateFailure::SevereFindings {
            severity,
            new: severe.new,
            in_baseline: had_baseline.then_some(severe.in_baseline),
        });
    }
    failed
}

//! The commands: glue between the flags and the library. Each command returns the exit code
//! it earned; messages go to standard error, results to standard output or the report folder.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use anyhow::{Context as _, anyhow};

use callqa::audit::{self, AuditOptions, AuditRun};
use callqa::callbacks::PromiseState;
use callqa::checks::Auditor;
use callqa::input::{self, Discovery, InputFormat, ReadOptions};
use callqa::metadata::Metadata;
use callqa::redact::Redactor;
use callqa::report::{self, Render, Summary, atomic};
use callqa::rules::verify::run_examples;
use callqa::rules::{RuleSet, RuleSource, Severity};
use callqa::transcript::{SkipKind, format_rfc3339, parse_started_at};

use crate::cli::{
    AuditArgs, Cli, Command, ConvertArgs, ExplainArgs, InputArgs, OutputFormat, RulesCommand,
    SourceArgs,
};
use crate::progress::Progress;

/// Exit codes, in one place. When several apply, the highest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Exit {
    Success = 0,
    /// A quality gate (`--fail-under`, `--fail-on`) failed.
    GateFailed = 1,
    /// Usage error or invalid rule file (or a misbehaving rule example).
    Usage = 2,
    /// Input errors under `--strict`, or nothing could be read at all.
    Input = 3,
    /// Stopped by SIGINT (Ctrl-C), after a message; no report written.
    Interrupted = 130,
}

pub fn run(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Audit(args) => audit(args),
        Command::Rules(RulesCommand::Test { paths }) => rules_test(&paths),
        Command::Rules(RulesCommand::List { paths, phrases }) => rules_list(&paths, phrases),
        Command::Rules(RulesCommand::Print { pack }) => {
            if pack != callqa::rules::DEFAULT_PACK_NAME {
                eprintln!(
                    "callqa: rules print: unknown pack {pack:?}; the built-in pack is \"{}\"",
                    callqa::rules::DEFAULT_PACK_NAME
                );
                return Ok(Exit::Usage);
            }
            write_stdout(callqa::rules::DEFAULT_PACK.as_bytes())?;
            Ok(Exit::Success)
        }
        Command::Explain(args) => explain(args),
        Command::Convert(args) => convert(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "callqa", &mut out);
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(<Cli as clap::CommandFactory>::command())
                .render(&mut out)
                .context("cannot render the manual page")?;
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
    }
}

/// The input side of a command: the files found, how to read them, and the metadata to
/// join onto what they hold.
struct Sources {
    discovery: Discovery,
    read: ReadOptions,
    metadata: Option<Arc<Metadata>>,
}

/// Finds the files and reads `--metadata`; an unreadable metadata file is a usage error.
fn open_sources(paths: &[PathBuf], args: &SourceArgs) -> Result<Sources, Exit> {
    let metadata = match &args.metadata {
        Some(path) => Some(Arc::new(Metadata::load(path).map_err(|err| {
            eprintln!("callqa: --metadata: {err}");
            Exit::Usage
        })?)),
        None => None,
    };
    let forced: Option<InputFormat> = args.input_format;
    Ok(Sources {
        discovery: input::discover(paths, forced),
        read: ReadOptions {
            agent_speakers: args
                .agent_speakers
                .iter()
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect(),
            max_line_bytes: args.max_line_bytes,
            max_file_bytes: args.max_file_bytes,
            ..ReadOptions::default()
        },
        metadata,
    })
}

/// Says which format each file is read as, and which files are ignored (`--verbose`).
fn print_formats(discovery: &Discovery) {
    for file in &discovery.files {
        eprintln!(
            "callqa: {}: {}{}",
            file.display,
            file.format.name(),
            if file.gzip { " (gzip)" } else { "" }
        );
    }
    for ignored in &discovery.ignored {
        eprintln!(
            "callqa: {}: ignored (no format callqa reads has this name)",
            ignored.display()
        );
    }
}

/// Loads the rules named on the command line (the default pack when none); a rule file
/// error is printed as FILE:LINE: field: message.
fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, Exit> {
    let result = (|| {
        let mut sources = Vec::new();
        if paths.is_empty() {
            sources.push(RuleSource::default_pack());
        }
        for path in paths {
            sources.extend(RuleSource::from_arg(path)?);
        }
        RuleSet::load(&sources)
    })();
    result.map_err(|err| {
        eprintln!("callqa: {err}");
        Exit::Usage
    })
}

fn rules_test(paths: &[PathBuf]) -> anyhow::Result<Exit> {
    let rules = match load_rules(paths) {
        Ok(rules) => rules,
        Err(code) => return Ok(code),
    };
    let (count, failures) = run_examples(&rules);
    for failure in &failures {
        eprintln!("callqa: {failure}");
    }
    let outcome = if failures.is_empty() {
        "all behaved".to_string()
    } else {
        format!("{} misbehaved", failures.len())
    };
    write_stdout(
        format!(
            "{}: {} rules, {count} examples, {outcome}\n",
            rules.name,
            rules.rules.len()
        )
        .as_bytes(),
    )?;
    Ok(if failures.is_empty() {
        Exit::Success
    } else {
        Exit::Usage
    })
}

fn rules_list(paths: &[PathBuf], phrases: bool) -> anyhow::Result<Exit> {
    let rules = match load_rules(paths) {
        Ok(rules) => rules,
        Err(code) => return Ok(code),
    };
    let mut out = String::new();
    if phrases {
        for phrase in &rules.written_phrases {
            out.push_str(phrase);
            out.push('\n');
        }
    } else {
        for rule in &rules.rules {
            out.push_str(&format!(
                "{}\t{}\t{}\tweight={}\tspeaker={}\t{}:{}\t{}\n",
                rule.id,
                rule.kind.name(),
                rule.severity.as_str(),
                rule.weight,
                rule.speaker,
                rule.file,
                rule.line,
                rule.message
            ));
        }
    }
    write_stdout(out.as_bytes())?;
    Ok(Exit::Success)
}

/// What audit and explain load before reading transcripts: the rules, `--as-of` and the
/// promises carried by `--promises`; or the exit code of the first that fails.
fn load_inputs(
    input: &InputArgs,
) -> Result<
    (
        RuleSet,
        Option<jiff::Zoned>,
        Vec<callqa::callbacks::Promise>,
    ),
    Exit,
> {
    let rules = load_rules(&input.rules)?;
    let as_of = parse_as_of(input)?;
    let carried = carried_promises(input, &rules)?;
    Ok((rules, as_of, carried))
}

/// Reads the pending promises of `--promises`, or exits 2.
fn carried_promises(
    input: &InputArgs,
    rules: &RuleSet,
) -> Result<Vec<callqa::callbacks::Promise>, Exit> {
    let Some(path) = &input.promises else {
        return Ok(Vec::new());
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| {
        eprintln!("callqa: --promises: {file}: {err}");
        Exit::Usage
    })?;
    callqa::callbacks::read_promises_csv(&file, &text, rules).map_err(|err| {
        eprintln!("callqa: --promises: {err}");
        Exit::Usage
    })
}

/// Parses `--as-of`, or exits 2.
fn parse_as_of(input: &InputArgs) -> Result<Option<jiff::Zoned>, Exit> {
    match &input.as_of {
        None => Ok(None),
        Some(text) => parse_started_at(text).map(Some).map_err(|err| {
            eprintln!("callqa: --as-of: {}", err.replace("started_at", "time"));
            Exit::Usage
        }),
    }
}

fn audit(args: AuditArgs) -> anyhow::Result<Exit> {
    let started = Instant::now();
    // Ctrl-C stops the reader; the run then ends cleanly, writes nothing and exits 130. A
    // second Ctrl-C (or a handler that cannot be set) falls back to the default: the report
    // folder is replaced whole or not at all either way.
    let cancel = Arc::new(AtomicBool::new(false));
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted as i32);
        }
    });
    let (rules, as_of, carried) = match load_inputs(&args.input) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let baseline = match &args.baseline {
        None => None,
        Some(path) => {
            let file = path.display().to_string();
            let read = std::fs::read_to_string(path)
                .map_err(|err| format!("{file}: {err}"))
                .and_then(|text| report::Baseline::read(&file, &text));
            match read {
                Ok(baseline) => Some(baseline),
                Err(message) => {
                    eprintln!("callqa: --baseline: {message}");
                    return Ok(Exit::Usage);
                }
            }
        }
    };
    if let Some(threads) = args.threads
        && threads == 0
    {
        eprintln!("callqa: -j must be 1 or more");
        return Ok(Exit::Usage);
    }
    let Sources {
        discovery,
        read,
        metadata,
    } = match open_sources(&args.input.paths, &args.input.source) {
        Ok(sources) => sources,
        Err(code) => return Ok(code),
    };
    if args.verbose {
        print_formats(&discovery);
    }
    let mut files_by_format: BTreeMap<&'static str, u64> = BTreeMap::new();
    for file in &discovery.files {
        *files_by_format.entry(file.format.name()).or_default() += 1;
    }
    let total_bytes = discovery.files.iter().map(|f| f.size).sum::<Option<u64>>();
    let progress = Progress::new(total_bytes, args.quiet);
    let options = AuditOptions {
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        read,
        metadata,
        cancel: cancel.clone(),
        as_of,
        carried_promises: carried,
        retain_turns: if args.output.is_some() {
            report::html::KEEP_CONVERSATIONS
        } else {
            0
        },
        finding_budget_bytes: Some(usize::try_from(args.findings_memory).unwrap_or(usize::MAX)),
    };
    // The report's rows are rendered on rayon's global pool: as many threads as the audit's.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .thread_name(|i| format!("callqa-output-{i}"))
        .build_global();
    let bytes_read = options.read.bytes_read.clone();
    let mut run = audit::run(&discovery.files, &rules, &options, &mut |conversations| {
        progress.update(bytes_read.load(Ordering::Relaxed), conversations);
    })?;
    progress.finish();
    if options.cancel.load(Ordering::SeqCst) {
        eprintln!("callqa: interrupted; no report written");
        return Ok(Exit::Interrupted);
    }
    let redactor = Redactor::new();
    let render = Render {
        redactor: (!args.input.no_redact).then_some(&redactor),
        csv_guard: !args.raw_csv,
    };
    // Folders and files that could not be listed count as unreadable files.
    run.stats.unreadable_files += discovery.errors.len() as u64;
    let mut problems = discovery.errors.clone();
    problems.append(&mut run.problems);

    let as_of_text = run.as_of.as_ref().map(format_rfc3339);
    let mut findings_per_rule = run.findings.per_rule().to_vec();
    findings_per_rule.resize(rules.rules.len(), 0);

    report_problems(&problems, args.verbose);
    let mut exit = Exit::Success;
    let input_failed = (args.strict && !problems.is_empty()) || run.stats.audited == 0;
    if run.stats.audited == 0 {
        eprintln!("callqa: error: no conversation could be read");
    } else if args.strict && !problems.is_empty() {
        eprintln!(
            "callqa: error: {} input problem{} under --strict; no report written",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    let mut summary = Summary {
        rules: &rules,
        stats: &run.stats,
        scorecards: &run.scorecards,
        findings_per_rule,
        promises: &run.promises,
        as_of: as_of_text,
        files_by_format,
        baselined: None,
    };
    if input_failed {
        exit = Exit::Input;
    } else {
        // One pass over the sorted findings (read back from disk when they spilled) serves
        // the baseline, the severity gate, findings.csv and the page's findings.
        let staging = match &args.output {
            Some(dir) => match atomic::Staging::new(dir) {
                Ok(staging) => Some(staging),
                Err(err) => {
                    eprintln!("callqa: error: cannot write the report: {err}");
                    return Ok(Exit::Usage);
                }
            },
            None => None,
        };
        let mut matcher = baseline;
        let mut in_baseline: Vec<bool> = Vec::new();
        let mut severe = SevereFindings::default();
        let fail_on: Option<Severity> = args.fail_on.map(Into::into);
        let mut html_findings = report::html::HtmlFindings::new(&run.retained);
        let mut findings_csv = match &staging {
            Some(staging) => {
                let file = match staging.create(report::FINDINGS_FILE) {
                    Ok(file) => file,
                    Err(err) => {
                        eprintln!("callqa: error: cannot write the report: {err}");
                        return Ok(Exit::Usage);
                    }
                };
                let out = std::io::BufWriter::with_capacity(256 << 10, file);
                Some(report::FindingsCsv::new(out, &rules, &render)?)
            }
            None => None,
        };
        // A failed write of findings.csv, told apart from a failed read of the findings.
        let mut csv_error = None;
        let visited = run.findings.visit(|finding| {
            let baselined = match &mut matcher {
                Some(baseline) => {
                    let held = baseline.take(&finding, &rules, &render);
                    in_baseline.push(held);
                    held
                }
                None => false,
            };
            if let Some(severity) = fail_on
                && rules.rules[finding.rule as usize].severity >= severity
            {
                severe.add(baselined);
            }
            if let Some(csv) = &mut findings_csv {
                html_findings.add(&finding);
                if let Err(err) = csv.write(finding) {
                    csv_error = Some(err);
                    return Err(std::io::Error::other("findings.csv failed"));
                }
            }
            Ok(())
        });
        if let (Some(source), Some(staging)) = (csv_error, &staging) {
            let path = staging.path(report::FINDINGS_FILE).display().to_string();
            eprintln!("callqa: error: cannot write the report: {path}: {source}");
            return Ok(Exit::Usage);
        }
        visited.context("cannot read back the findings")?;
        summary.baselined = matcher
            .as_ref()
            .map(|_| in_baseline.iter().filter(|b| **b).count() as u64);
        if let (Some(staging), Some(csv)) = (staging, findings_csv) {
            let written = csv
                .finish()
                .and_then(|out| {
                    out.into_inner()
                        .map_err(std::io::IntoInnerError::into_error)
                })
                .map_err(|source| atomic::WriteError::Io {
                    path: staging.path(report::FINDINGS_FILE),
                    source,
                })
                .and_then(|file| staging.sync(report::FINDINGS_FILE, &file));
            let html = report::html::HtmlReport {
                rules: &rules,
                stats: &run.stats,
                scorecards: &run.scorecards,
                teams: &run.teams,
                findings: &html_findings,
                retained: &run.retained,
                as_of: summary.as_of.as_deref(),
                extra_totals: std::iter::once(("suppressed", run.stats.suppressed))
                    .chain(summary.baselined.map(|n| ("in the baseline", n)))
                    .collect(),
                render: &render,
            };
            // Each file is rendered just before it is written, so that only one is in memory;
            // the page, the largest, is written as it is made.
            let files: [(&str, &dyn Fn() -> Vec<u8>); 4] = [
                (report::SCORECARDS_FILE, &|| {
                    report::scorecards_csv(&run.scorecards, &rules, &render)
                }),
                (report::SUMMARY_FILE, &|| summary.to_json()),
                (report::PROMISES_FILE, &|| {
                    report::promises_csv(&run.promises, &rules, &render)
                }),
                (report::TEAMS_FILE, &|| {
                    report::teams_csv(&run.teams, &rules, &render)
                }),
            ];
            let written = written
                .and_then(|()| {
                    files
                        .iter()
                        .try_for_each(|(name, render)| staging.write(name, &render()))
                })
                .and_then(|()| {
                    staging.write_with(report::HTML_FILE, |out| html.write_html_to(out))
                });
            if let Err(err) = written.and_then(|()| staging.commit()) {
                eprintln!("callqa: error: cannot write the report: {err}");
                return Ok(Exit::Usage);
            }
        }
        let stdout_format = match (args.format, &args.output) {
            (Some(format), _) => Some(format),
            (None, None) => Some(OutputFormat::Csv),
            (None, Some(_)) => None,
        };
        let findings_format = match stdout_format {
            None => None,
            Some(OutputFormat::Csv) => {
                write_stdout(&report::scorecards_csv(&run.scorecards, &rules, &render))?;
                None
            }
            Some(OutputFormat::Text) => Some(report::FindingsFormat::Text),
            Some(OutputFormat::Json) => Some(report::FindingsFormat::Json),
            Some(OutputFormat::Github) => Some(report::FindingsFormat::Github),
            Some(OutputFormat::Sarif) => Some(report::FindingsFormat::Sarif),
        };
        if let Some(format) = findings_format {
            let mut stream = report::FindingsStream::new(
                format,
                &rules,
                &render,
                run.findings.len(),
                summary.baselined.is_some(),
            );
            let mut stdout = std::io::stdout().lock();
            let mut buffer = Vec::with_capacity(128 << 10);
            stream.begin(&mut buffer);
            let mut index = 0usize;
            let streamed = run.findings.visit(|finding| {
                stream.finding(
                    &finding,
                    in_baseline.get(index).copied().unwrap_or(false),
                    &mut buffer,
                );
                index += 1;
                if buffer.len() >= 64 << 10 {
                    stdout.write_all(&buffer)?;
                    buffer.clear();
                }
                Ok(())
            });
            stream.end(&mut buffer);
            match streamed
                .and_then(|()| stdout.write_all(&buffer))
                .and_then(|()| stdout.flush())
            {
                Ok(()) => {}
                // A closed pipe (`| head`) ends the output quietly.
                Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => {}
                Err(err) => return Err(anyhow!("cannot write the findings: {err}")),
            }
        }
        exit = exit.max(gates(&args, &run, &severe));
    }
    if !args.quiet {
        print_summary(&summary, started.elapsed().as_secs_f64());
    }
    Ok(exit)
}

/// The findings of `--fail-on`'s severity or worse.
#[derive(Debug, Default)]
struct SevereFindings {
    new: u64,
    in_baseline: u64,
}

impl SevereFindings {
    fn add(&mut self, in_baseline: bool) {
        if in_baseline {
            self.in_baseline += 1;
        } else {
            self.new += 1;
        }
    }
}

/// `--fail-under` on every agent's score; `--fail-on` on the findings `--baseline` does not
/// hold.
fn gates(args: &AuditArgs, run: &AuditRun, severe: &SevereFindings) -> Exit {
    let mut exit = Exit::Success;
    if let Some(threshold) = args.fail_under {
        let below: Vec<String> = run
            .scorecards
            .agents
            .iter()
            .filter(|(_, card)| card.score() < threshold)
            .map(|(agent, card)| format!("{agent} ({:.2})", card.score()))
            .collect();
        if !below.is_empty() {
            eprintln!(
                "callqa: gate failed: {} agent{} scored below {threshold}: {}",
                below.len(),
                if below.len() == 1 { "" } else { "s" },
                below
                    .iter()
                    .take(10)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            exit = Exit::GateFailed;
        }
    }
    if let Some(severity) = args.fail_on {
        let severity: Severity = severity.into();
        let count = severe.new;
        let (new_word, in_the_baseline) = if args.baseline.is_some() {
            (
                "new ",
                format!(" ({} more in the baseline)", severe.in_baseline),
            )
        } else {
            ("", String::new())
        };
        if count > 0 {
            eprintln!(
                "callqa: gate failed: {count} {new_word}finding{} of severity {} or worse{in_the_baseline}",
                if count == 1 { "" } else { "s" },
                severity.as_str()
            );
            exit = Exit::GateFailed;
        }
    }
    exit
}

/// How many problems are printed without `--verbose`.
const PROBLEMS_SHOWN: usize = 20;

fn report_problems(problems: &[callqa::transcript::ReadError], verbose: bool) {
    let shown = if verbose {
        problems.len()
    } else {
        PROBLEMS_SHOWN.min(problems.len())
    };
    for problem in &problems[..shown] {
        eprintln!("callqa: {problem}");
    }
    if shown < problems.len() {
        eprintln!(
            "callqa: … and {} more problems (all of them with --verbose)",
            problems.len() - shown
        );
    }
}

fn print_summary(summary: &Summary, seconds: f64) {
    let stats = summary.stats;
    let files: u64 = summary.files_by_format.values().sum();
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
    eprintln!(
        "callqa: {} conversation{} read from {files} file{}: {} audited, {} skipped{skipped}{}",
        stats.read,
        if stats.read == 1 { "" } else { "s" },
        if files == 1 { "" } else { "s" },
        stats.audited,
        stats.skipped_total(),
        if stats.unreadable_files > 0 {
            format!("; {} unreadable file(s)", stats.unreadable_files)
        } else {
            String::new()
        }
    );
    let per_rule: Vec<String> = summary
        .findings_per_rule
        .iter()
        .zip(&summary.rules.rules)
        .map(|(count, rule)| format!("{} {count}", rule.id))
        .collect();
    eprintln!(
        "callqa: {} agents, {} findings ({}){}",
        summary.scorecards.agents.len(),
        summary.findings(),
        per_rule.join(", "),
        if stats.suppressed > 0 {
            format!("; {} suppressed by `# callqa: ignore`", stats.suppressed)
        } else {
            String::new()
        }
    );
    if !summary.promises.is_empty() {
        let count =
            |state: PromiseState| summary.promises.iter().filter(|p| p.state == state).count();
        let carried = summary.promises.iter().filter(|p| p.carried).count();
        eprintln!(
            "callqa: promises: {} made, {carried} carried; {} kept, {} broken, {} pending, {} unverifiable",
            summary.promises.len() - carried,
            count(PromiseState::Kept),
            count(PromiseState::Broken),
            count(PromiseState::Pending),
            count(PromiseState::Unverifiable)
        );
    }
    if let Some(baselined) = summary.baselined {
        eprintln!(
            "callqa: baseline: {baselined} of {} findings are in it, {} new",
            summary.findings(),
            summary.findings() - baselined
        );
    }
    if let Some(metadata) = &stats.metadata {
        eprintln!(
            "callqa: metadata: {} rows, {} matched no conversation; {} audited conversations matched no row",
            metadata.rows, metadata.unmatched_rows, metadata.unmatched_conversations
        );
    }
    let megabytes = stats.bytes as f64 / 1e6;
    eprintln!(
        "callqa: {:.2} s, {:.1} MB at {:.1} MB/s",
        seconds,
        megabytes,
        if seconds > 0.0 {
            megabytes / seconds
        } else {
            0.0
        }
    );
}

fn explain(args: ExplainArgs) -> anyhow::Result<Exit> {
    let (rules, as_of, carried) = match load_inputs(&args.input) {
        Ok(loaded) => loaded,
        Err(code) => return Ok(code),
    };
    let sources = match open_sources(&args.input.paths, &args.input.source) {
        Ok(sources) => sources,
        Err(code) => return Ok(code),
    };
    report_problems(&sources.discovery.errors, false);
    let mut found = None;
    input::read_chunks(&sources.discovery.files, &sources.read, |chunk| {
        let relative = chunk.relative.clone();
        chunk.for_each_conversation(|item| {
            if found.is_none()
                && let Ok(mut conversation) = item
                && conversation.id == args.id
            {
                if let Some(metadata) = &sources.metadata {
                    metadata.join(&mut conversation, &relative);
                }
                found = Some(conversation);
            }
        });
        found.is_none()
    });
    let Some(conversation) = found else {
        eprintln!("callqa: no conversation with id {:?} in the input", args.id);
        return Ok(Exit::Input);
    };
    let mut audit = Auditor::new(&rules).audit(&conversation);
    if !audit.promises.is_empty() {
        // Promises are judged against the whole input: audit it all (text is not kept).
        let options = AuditOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            read: sources.read.clone(),
            metadata: sources.metadata.clone(),
            as_of,
            carried_promises: carried,
            ..AuditOptions::default()
        };
        let run = audit::run(&sources.discovery.files, &rules, &options, &mut |_| {})
            .context("cannot start the worker threads")?;
        audit.promises = run
            .promises
            .into_iter()
            .filter(|p| p.conversation_id == conversation.id && !p.carried)
            .collect();
        callqa::callbacks::fold_judged(&mut audit);
    }
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let redactor = Redactor::new();
    let text = callqa::explain::render(
        &conversation,
        &audit,
        &rules,
        color,
        (!args.input.no_redact).then_some(&redactor),
    );
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

/// `callqa convert`: every conversation read (with `--metadata` joined), as canonical JSON
/// Lines in input order. What cannot be read is reported on standard error and left out;
/// nothing read at all exits 3, as an audit would.
fn convert(args: ConvertArgs) -> anyhow::Result<Exit> {
    let sources = match open_sources(&args.paths, &args.source) {
        Ok(sources) => sources,
        Err(code) => return Ok(code),
    };
    let mut out: Vec<u8> = Vec::new();
    let mut problems = sources.discovery.errors.clone();
    let mut converted = 0u64;
    // convert copies text as it is, for other tools; --redact makes a copy safe to share.
    let redactor = args.redact.then(Redactor::new);
    input::read_chunks(&sources.discovery.files, &sources.read, |chunk| {
        if let input::Payload::FileError(error) = &chunk.payload {
            problems.push(error.clone());
        }
        let relative = chunk.relative.clone();
        chunk.for_each_conversation(|item| match item {
            Ok(mut conversation) => {
                if let Some(metadata) = &sources.metadata {
                    metadata.join(&mut conversation, &relative);
                }
                if let Some(redactor) = &redactor {
                    for turn in &mut conversation.turns {
                        if let Cow::Owned(redacted) = redactor.redact(&turn.text) {
                            turn.text = redacted;
                        }
                    }
                }
                let value = callqa::transcript::jsonl::to_json_value(&conversation);
                // Serializing a JSON value into memory cannot fail.
                let _ = serde_json::to_writer(&mut out, &value);
                out.push(b'\n');
                converted += 1;
            }
            Err(error) => problems.push(error),
        });
        true
    });
    report_problems(&problems, false);
    let files = sources.discovery.files.len();
    eprintln!(
        "callqa: {converted} conversation{} converted from {files} file{}; {} problem{}",
        if converted == 1 { "" } else { "s" },
        if files == 1 { "" } else { "s" },
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    if converted == 0 {
        eprintln!("callqa: error: no conversation could be read");
        return Ok(Exit::Input);
    }
    match &args.output {
        Some(path) => write_file_atomically(path, &out)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => write_stdout(&out)?,
    }
    Ok(Exit::Success)
}

/// Writes `bytes` to `path` through a temporary file beside it, so a killed run leaves the
/// old file or the new one, never half of one.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = dir.join(format!(".{name}.callqa-{}.tmp", std::process::id()));
    let result = std::fs::write(&temporary, bytes).and_then(|()| std::fs::rename(&temporary, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly.
fn write_stdout(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(anyhow!("cannot write to standard output: {err}")),
    }
}

//! The commands: glue between the flags and the library. Each command returns the exit code
//! it earned, or the [`Failure`] that ended it; messages go through [`crate::messages`],
//! results to standard output or the report folder.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use callqa::audit::{self, AuditError, AuditOptions};
use callqa::conversations;
use callqa::input::{self, Discovery, ReadOptions};
use callqa::metadata::Metadata;
use callqa::model::Promise;
use callqa::publish::{self, PublishError};
use callqa::redact::Redactor;
use callqa::report::{self, Baseline};
use callqa::rule_examples::run_examples;
use callqa::rules::{RuleSet, RuleSource};
use callqa::transcript::{ReadError, parse_started_at};

use crate::cli::{AuditArgs, Cli, Command, ConvertArgs, ExplainArgs, InputArgs, RulesCommand};
use crate::cli::{EvalArgs, EvalFormat, SourceArgs, report_options};
use crate::messages::{err_message, message};
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

/// Why a command stopped before its end. The message is printed after `callqa: `.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A flag, a rule file, `--metadata`, `--promises` or `--baseline` that cannot be used.
    #[error("{0}")]
    Usage(String),
    /// Nothing to work on in the input.
    #[error("{0}")]
    Input(String),
    #[error("error: {0}")]
    Audit(#[from] AuditError),
    #[error("error: {0}")]
    Publish(#[from] PublishError),
    /// Output that could not be written.
    #[error("error: {0}")]
    Output(String),
}

impl Failure {
    /// The one place a failure becomes an exit code.
    pub fn exit(&self) -> Exit {
        match self {
            Failure::Input(_) => Exit::Input,
            Failure::Usage(_) | Failure::Audit(_) | Failure::Publish(_) | Failure::Output(_) => {
                Exit::Usage
            }
        }
    }
}

pub fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Audit(args) => audit(args),
        Command::Rules(RulesCommand::Test { paths }) => rules_test(&paths),
        Command::Rules(RulesCommand::List { paths, phrases }) => rules_list(&paths, phrases),
        Command::Rules(RulesCommand::Print { pack }) => {
            if pack != callqa::rules::DEFAULT_PACK_NAME {
                return Err(Failure::Usage(format!(
                    "rules print: unknown pack {pack:?}; the built-in pack is \"{}\"",
                    callqa::rules::DEFAULT_PACK_NAME
                )));
            }
            write_stdout(callqa::rules::DEFAULT_PACK.as_bytes())?;
            Ok(Exit::Success)
        }
        Command::Explain(args) => explain(args),
        Command::Convert(args) => convert(args),
        Command::Eval(args) => eval(args),
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
                .map_err(|err| Failure::Output(format!("cannot render the manual page: {err}")))?;
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
fn open_sources(paths: &[PathBuf], args: &SourceArgs) -> Result<Sources, Failure> {
    let metadata = match &args.metadata {
        Some(path) => {
            Some(Arc::new(Metadata::load(path).map_err(|err| {
                Failure::Usage(format!("--metadata: {err}"))
            })?))
        }
        None => None,
    };
    Ok(Sources {
        discovery: input::discover(paths, args.input_format()),
        read: args.read_options(),
        metadata,
    })
}

/// Says which format each file is read as, and which files are ignored (`--verbose`).
fn print_formats(discovery: &Discovery) {
    for file in &discovery.files {
        let gzip = if file.gzip { " (gzip)" } else { "" };
        message!("{}: {}{gzip}", file.display, file.format.name());
    }
    for ignored in &discovery.ignored {
        message!(
            "{}: ignored (no format callqa reads has this name)",
            ignored.display()
        );
    }
}

/// Loads the rules named on the command line (the default pack when none); a rule file
/// error is FILE:LINE: field: message.
fn load_rules(paths: &[PathBuf]) -> Result<RuleSet, Failure> {
    let mut sources = Vec::new();
    if paths.is_empty() {
        sources.push(RuleSource::default_pack());
    }
    let usage = |err: callqa::rules::RuleError| Failure::Usage(err.to_string());
    for path in paths {
        sources.extend(RuleSource::from_arg(path).map_err(usage)?);
    }
    RuleSet::load(&sources).map_err(usage)
}

fn rules_test(paths: &[PathBuf]) -> Result<Exit, Failure> {
    let rules = load_rules(paths)?;
    let (count, failures) = run_examples(&rules);
    for failure in &failures {
        err_message!("{failure}");
    }
    let outcome = if failures.is_empty() {
        "all behaved".to_string()
    } else {
        format!("{} misbehaved", failures.len())
    };
    let rule_count = rules.rules.len();
    let line = format!(
        "{}: {rule_count} rules, {count} examples, {outcome}\n",
        rules.name
    );
    write_stdout(line.as_bytes())?;
    Ok(if failures.is_empty() {
        Exit::Success
    } else {
        Exit::Usage
    })
}

fn rules_list(paths: &[PathBuf], phrases: bool) -> Result<Exit, Failure> {
    let rules = load_rules(paths)?;
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
/// promises carried by `--promises`.
fn load_inputs(input: &InputArgs) -> Result<(RuleSet, Option<jiff::Zoned>, Vec<Promise>), Failure> {
    let rules = load_rules(&input.judged.rules)?;
    let as_of = parse_as_of(input.as_of.as_deref())?;
    let carried = match &input.promises {
        None => Vec::new(),
        Some(path) => {
            let file = path.display().to_string();
            let usage = |err: String| Failure::Usage(format!("--promises: {err}"));
            let text = std::fs::read_to_string(path).map_err(|e| usage(format!("{file}: {e}")))?;
            report::promises::read_promises_csv(&file, &text, &rules)
                .map_err(|e| usage(e.to_string()))?
        }
    };
    Ok((rules, as_of, carried))
}

/// Reads `--as-of`; a time that is not RFC 3339 with an offset is a usage error.
fn parse_as_of(text: Option<&str>) -> Result<Option<jiff::Zoned>, Failure> {
    text.map(|text| {
        parse_started_at(text).map_err(|err| {
            Failure::Usage(format!("--as-of: {}", err.replace("started_at", "time")))
        })
    })
    .transpose()
}

/// Reads `--baseline`.
fn load_baseline(path: &Path) -> Result<Baseline, Failure> {
    let file = path.display().to_string();
    std::fs::read_to_string(path)
        .map_err(|err| format!("{file}: {err}"))
        .and_then(|text| Baseline::read(&file, &text))
        .map_err(|message| Failure::Usage(format!("--baseline: {message}")))
}

/// Ctrl-C stops the reader; the run then ends cleanly, writes nothing and exits 130. A
/// second Ctrl-C (or a handler that cannot be set) falls back to the default: the report
/// folder is replaced whole or not at all either way.
fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let on_signal = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if on_signal.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted as i32);
        }
    });
    cancel
}

fn audit(args: AuditArgs) -> Result<Exit, Failure> {
    let started = Instant::now();
    let cancel = cancel_on_ctrl_c();
    let (rules, as_of, carried) = load_inputs(&args.input)?;
    let baseline = args.baseline.as_deref().map(load_baseline).transpose()?;
    let threads = args.threads().map_err(Failure::Usage)?;
    let sources = open_sources(&args.input.judged.paths, &args.input.judged.source)?;
    if args.verbose {
        print_formats(&sources.discovery);
    }
    let files = &sources.discovery.files;
    let mut files_by_format: BTreeMap<&'static str, u64> = BTreeMap::new();
    for file in files {
        *files_by_format.entry(file.format.name()).or_default() += 1;
    }
    let progress = Progress::new(files.iter().map(|f| f.size).sum(), args.quiet);
    let options = AuditOptions {
        threads,
        read: sources.read,
        metadata: sources.metadata,
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
    let mut run = audit::run(files, &rules, &options, &mut |conversations| {
        progress.update(bytes_read.load(Ordering::Relaxed), conversations);
    })?;
    progress.finish();
    if cancel.load(Ordering::SeqCst) {
        message!("interrupted; no report written");
        return Ok(Exit::Interrupted);
    }
    // Folders and files that could not be listed count as unreadable files.
    run.stats.unreadable_files += sources.discovery.errors.len() as u64;
    let mut problems = sources.discovery.errors.clone();
    problems.append(&mut run.problems);
    report_problems(&problems, args.verbose);
    let mut exit = Exit::Success;
    let mut baselined = None;
    if run.stats.audited == 0 {
        err_message!("error: no conversation could be read");
        exit = Exit::Input;
    } else if args.strict && !problems.is_empty() {
        let count = problems.len();
        let s = if count == 1 { "" } else { "s" };
        err_message!("error: {count} input problem{s} under --strict; no report written");
        exit = Exit::Input;
    } else {
        let options = report_options(&args, baseline);
        let mut stdout = std::io::stdout().lock();
        let published = publish::publish(&mut run, &rules, &files_by_format, options, &mut stdout)?;
        for gate in &published.failed_gates {
            message!("{gate}");
            exit = Exit::GateFailed;
        }
        baselined = published.baselined;
    }
    if !args.quiet {
        let summary = publish::summary(&run, &rules, &files_by_format, baselined);
        for line in summary.lines(started.elapsed().as_secs_f64()) {
            message!("{line}");
        }
    }
    Ok(exit)
}

/// How many problems are printed without `--verbose`.
const PROBLEMS_SHOWN: usize = 20;

fn report_problems(problems: &[ReadError], verbose: bool) {
    let shown = if verbose {
        problems.len()
    } else {
        PROBLEMS_SHOWN.min(problems.len())
    };
    for problem in &problems[..shown] {
        message!("{problem}");
    }
    if shown < problems.len() {
        let more = problems.len() - shown;
        message!("… and {more} more problems (all of them with --verbose)");
    }
}

fn explain(args: ExplainArgs) -> Result<Exit, Failure> {
    let (rules, as_of, carried) = load_inputs(&args.input)?;
    let sources = open_sources(&args.input.judged.paths, &args.input.judged.source)?;
    report_problems(&sources.discovery.errors, false);
    let files = &sources.discovery.files;
    let metadata = sources.metadata.as_deref();
    let Some(conversation) = conversations::find(files, &sources.read, metadata, &args.id) else {
        return Err(Failure::Input(format!(
            "no conversation with id {:?} in the input",
            args.id
        )));
    };
    let mut audit = callqa::checks::Auditor::new(&rules).audit(&conversation);
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
        let run = audit::run(files, &rules, &options, &mut |_| {})?;
        audit.promises = run
            .promises
            .into_iter()
            .filter(|p| p.conversation_id == conversation.id && !p.carried)
            .collect();
        callqa::checks::fold_judged(&mut audit);
    }
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let redactor = Redactor::new();
    let redactor = (!args.input.no_redact).then_some(&redactor);
    let text = callqa::explain::render(&conversation, &audit, &rules, color, redactor);
    write_stdout(text.as_bytes())?;
    Ok(Exit::Success)
}

/// `callqa convert`: every conversation read (with `--metadata` joined), as canonical JSON
/// Lines in input order. What cannot be read is reported on standard error and left out;
/// nothing read at all exits 3, as an audit would.
fn convert(args: ConvertArgs) -> Result<Exit, Failure> {
    let sources = open_sources(&args.paths, &args.source)?;
    // convert copies text as it is, for other tools; --redact makes a copy safe to share.
    let redactor = args.redact.then(Redactor::new);
    let files = &sources.discovery.files;
    let metadata = sources.metadata.as_deref();
    let mut converted = conversations::convert(files, &sources.read, metadata, redactor.as_ref());
    let mut problems = sources.discovery.errors.clone();
    problems.append(&mut converted.problems);
    report_problems(&problems, false);
    let count = converted.conversations;
    message!(
        "{count} conversation{} converted from {} file{}; {} problem{}",
        if count == 1 { "" } else { "s" },
        files.len(),
        if files.len() == 1 { "" } else { "s" },
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    if count == 0 {
        return Err(Failure::Input(
            "error: no conversation could be read".to_string(),
        ));
    }
    match &args.output {
        Some(path) => write_file_atomically(path, &converted.json_lines)
            .map_err(|err| Failure::Output(format!("cannot write {}: {err}", path.display())))?,
        None => write_stdout(&converted.json_lines)?,
    }
    Ok(Exit::Success)
}

/// `callqa eval`: audits each labelled conversation and prints, per rule the labels name,
/// how often it agreed with them. Labels that name an unknown rule, or are not labels, are a
/// usage error naming the line; labelled conversations missing from the input are reported.
fn eval(args: EvalArgs) -> Result<Exit, Failure> {
    let rules = load_rules(&args.judged.rules)?;
    // Checked as for audit, then unused: no figure depends on it (see callqa::eval).
    parse_as_of(args.as_of.as_deref())?;
    let file = args.labels.display().to_string();
    let usage = |message: String| Failure::Usage(format!("--labels: {message}"));
    let text = std::fs::read_to_string(&args.labels).map_err(|e| usage(format!("{file}: {e}")))?;
    let labels =
        callqa::eval::Labels::parse(&file, &text, &rules).map_err(|e| usage(e.to_string()))?;
    let sources = open_sources(&args.judged.paths, &args.judged.source)?;
    let files = &sources.discovery.files;
    let metadata = sources.metadata.as_deref();
    let mut evaluation = callqa::eval::evaluate(files, &sources.read, metadata, &rules, &labels);
    let mut problems = sources.discovery.errors.clone();
    problems.append(&mut evaluation.problems);
    report_problems(&problems, args.verbose);
    let missing = &evaluation.missing;
    if !missing.is_empty() {
        let shown = if args.verbose {
            missing.len()
        } else {
            PROBLEMS_SHOWN.min(missing.len())
        };
        let more = if shown < missing.len() { " …" } else { "" };
        message!(
            "{} of {} labelled conversations not in the input, left out of every count (`missing`): {}{more}",
            missing.len(),
            evaluation.labelled,
            missing[..shown].join(" ")
        );
    }
    let out = match args.format {
        EvalFormat::Text => evaluation.text(args.verbose),
        EvalFormat::Json => evaluation.json_lines(args.verbose),
    };
    write_stdout(out.as_bytes())?;
    Ok(Exit::Success)
}

/// Writes `bytes` to `path` through a temporary file beside it, so a killed run leaves the
/// old file or the new one, never half of one.
fn write_file_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".callqa-")
        .tempfile_in(dir)?;
    temporary.write_all(bytes)?;
    temporary.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly.
fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = std::io::stdout().lock();
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    publish::quiet_on_closed_pipe(written)
        .map_err(|err| Failure::Output(format!("cannot write to standard output: {err}")))
}

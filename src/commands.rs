//! The commands: glue between the flags and the library. Each command returns the exit code
//! it earned, or the [`Failure`] that ended it; messages go through [`crate::messages`],
//! results to standard output or the report folder.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use callqa::audit::{self, AuditError, AuditOptions};
use callqa::conversations;
use callqa::input::Discovery;
use callqa::load::{self, LoadError, Sources};
use callqa::model::Promise;
use callqa::partial::{self, PartialError, Partials, ShardSpec};
use callqa::progress::Progress;
use callqa::publish::{self, PublishError};
use callqa::redact::Redactor;
use callqa::report;
use callqa::rule_examples::run_examples;
use callqa::rules::RuleSet;
use callqa::transcript::ReadError;
use callqa::visible::Visible;

use crate::cli::{AuditArgs, Cli, Command, ConvertArgs, ExplainArgs, InputArgs, RulesCommand};
use crate::cli::{EvalArgs, GateArgs, MergeArgs, SourceArgs, report_options, stdout_format};
use crate::messages::{err_message, message};

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
    #[error("{0}")]
    Load(#[from] LoadError),
    #[error("error: {0}")]
    Audit(#[from] AuditError),
    #[error("error: {0}")]
    Publish(#[from] PublishError),
    #[error("error: {0}")]
    Partial(#[from] PartialError),
    /// Output that could not be written.
    #[error("error: {0}")]
    Output(String),
}

impl Failure {
    /// The one place a failure becomes an exit code.
    pub fn exit(&self) -> Exit {
        if matches!(self, Failure::Input(_)) {
            Exit::Input
        } else {
            Exit::Usage
        }
    }
}

pub fn run(cli: Cli) -> Result<Exit, Failure> {
    match cli.command {
        Command::Audit(args) => audit(args),
        Command::Rules(RulesCommand::Test { paths }) => rules_test(&paths),
        Command::Rules(RulesCommand::List { paths, phrases }) => rules_list(&paths, phrases),
        Command::Rules(RulesCommand::Print { pack }) => {
            let toml = callqa::rules::built_in_pack(&pack).map_err(Failure::Usage)?;
            write_stdout(toml.as_bytes())?;
            Ok(Exit::Success)
        }
        Command::Explain(args) => explain(args),
        Command::Convert(args) => convert(args),
        Command::Eval(args) => eval(args),
        Command::Merge(args) => merge(args),
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut command, "callqa", &mut out);
            write_stdout(&out)?;
            Ok(Exit::Success)
        }
        Command::Man { subcommand, dir } => {
            manual_pages(&subcommand, dir.as_deref())?;
            Ok(Exit::Success)
        }
    }
}

/// Finds the files and reads `--metadata`; an unreadable metadata file is a usage error, and
/// so is a URL of a scheme callqa does not read.
fn open_sources(paths: &[PathBuf], args: &SourceArgs) -> Result<Sources, Failure> {
    check_urls(paths)?;
    let metadata = args.metadata.as_deref();
    Ok(Sources::open(
        paths,
        args.input_format,
        args.read_options(),
        metadata,
    )?)
}

/// Refuses a URL callqa cannot read or write (`gs://`, `az://`: only `s3://` is tested).
fn check_urls(paths: &[PathBuf]) -> Result<(), Failure> {
    paths
        .iter()
        .try_for_each(|path| callqa::remote::check(path))
        .map_err(Failure::Usage)
}

/// Says which format each file is read as, and which files are ignored (`--verbose`).
fn print_formats(discovery: &Discovery) {
    for line in discovery.format_lines() {
        message!("{line}");
    }
}

fn rules_test(paths: &[PathBuf]) -> Result<Exit, Failure> {
    let rules = load::rules(paths)?;
    let (count, failures) = run_examples(&rules);
    for failure in &failures {
        err_message!("{failure}");
    }
    let line = callqa::rule_examples::summary_line(&rules, count, failures.len());
    write_stdout(format!("{line}\n").as_bytes())?;
    Ok(if failures.is_empty() {
        Exit::Success
    } else {
        Exit::Usage
    })
}

fn rules_list(paths: &[PathBuf], phrases: bool) -> Result<Exit, Failure> {
    let rules = load::rules(paths)?;
    write_stdout(rules.listing(phrases).as_bytes())?;
    Ok(Exit::Success)
}

/// The `--baseline` of audit or merge, read, when it is given.
fn load_baseline(gates: &GateArgs) -> Result<Option<report::Baseline>, Failure> {
    Ok(gates.baseline.as_deref().map(load::baseline).transpose()?)
}

/// What audit and explain load before reading transcripts: the rules, `--as-of` and the
/// promises carried by `--promises`.
fn load_inputs(input: &InputArgs) -> Result<(RuleSet, Option<jiff::Zoned>, Vec<Promise>), Failure> {
    let rules = load::rules(&input.judged.rules)?;
    let as_of = load::as_of(input.as_of.as_deref())?;
    let carried = load::carried_promises(input.promises.as_deref(), &rules)?;
    Ok((rules, as_of, carried))
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
    if args.shards.partial.is_some() {
        return shard(args);
    }
    let started = Instant::now();
    let cancel = cancel_on_ctrl_c();
    let (rules, as_of, carried) = load_inputs(&args.input)?;
    let baseline = load_baseline(&args.gates)?;
    let (threads, warning) = args.threads().map_err(Failure::Usage)?;
    if let Some(warning) = warning {
        message!("{warning}");
    }
    // A target that cannot take the report is refused before anything is read.
    if let Some(output) = &args.output {
        report::atomic::check_target(output).map_err(|err| Failure::Usage(err.to_string()))?;
    }
    let sources = open_sources(&audit_paths(&args)?, &args.input.judged.source)?;
    for line in sources.discovery.assumed_lines() {
        message!("{line}");
    }
    if args.verbose {
        print_formats(&sources.discovery);
    }
    let files = &sources.discovery.files;
    let files_by_format = sources.discovery.files_by_format();
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
        redactor: args.input.redactor(),
    };
    // The report's rows are rendered on rayon's global pool: as many threads as the audit's.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(options.threads)
        .thread_name(|i| format!("callqa-output-{i}"))
        .build_global();
    let bytes_read = options.read.bytes_read.clone();
    let run = audit::run(files, &rules, &options, &mut |conversations| {
        progress.update(bytes_read.load(Ordering::Relaxed), conversations);
    })?;
    progress.finish();
    if cancel.load(Ordering::SeqCst) {
        message!("interrupted; no report written");
        return Ok(Exit::Interrupted);
    }
    let ended = Ended {
        rules: &rules,
        files_by_format: &files_by_format,
        strict: args.strict,
        verbose: args.verbose,
        quiet: args.quiet,
        started,
    };
    let report = report_options(&args, baseline);
    let mut exit = ended.report(run, sources.discovery.errors.clone(), report)?;
    // A path named on the command line that cannot be read (reported above, by name) is a
    // usage error once the rest is audited and reported, as in ripgrep.
    if sources.discovery.named_unreadable > 0 {
        exit = exit.max(Exit::Usage);
    }
    Ok(exit)
}

/// A finished run (one audit's, or the merge of shards'), and how to end it.
struct Ended<'a> {
    rules: &'a RuleSet,
    files_by_format: &'a std::collections::BTreeMap<&'static str, u64>,
    strict: bool,
    verbose: bool,
    quiet: bool,
    started: Instant,
}

impl Ended<'_> {
    /// Reports the problems, writes the report unless the input failed, judges the gates
    /// and prints the summary: the exit code the run earned.
    fn report(
        &self,
        mut run: audit::AuditRun,
        discovery_errors: Vec<ReadError>,
        options: callqa::publish::ReportOptions,
    ) -> Result<Exit, Failure> {
        let (rules, files_by_format) = (self.rules, self.files_by_format);
        // Folders and files that could not be listed count as unreadable files.
        run.stats.unreadable_files += discovery_errors.len() as u64;
        let mut problems = discovery_errors;
        problems.append(&mut run.problems);
        report_problems(&problems, self.verbose);
        let mut exit = Exit::Success;
        let mut baselined = None;
        let mut failed_gates = Vec::new();
        if let Some(failure) = publish::input_failure(&run, self.strict, problems.len()) {
            err_message!("{failure}");
            exit = Exit::Input;
        } else {
            let mut stdout = std::io::stdout().lock();
            let published =
                publish::publish(&mut run, rules, files_by_format, options, &mut stdout)?;
            if !published.failed_gates.is_empty() {
                exit = Exit::GateFailed;
            }
            failed_gates = published.failed_gates;
            baselined = published.baselined;
        }
        if !self.quiet {
            let summary = publish::summary(&run, rules, files_by_format, baselined);
            for line in summary.lines(self.started.elapsed().as_secs_f64()) {
                message!("{line}");
            }
        }
        // Last, under the summary: the line a CI log's reader looks for.
        for gate in &failed_gates {
            message!("{gate}");
        }
        // The report is written and in place, and the process ends next: freeing the run's
        // findings, promises and kept turns one by one would only delay the exit.
        std::mem::forget(run);
        Ok(exit)
    }
}

/// The PATHs of an audit: those of the command line, then those of `--manifest`.
fn audit_paths(args: &AuditArgs) -> Result<Vec<PathBuf>, Failure> {
    let mut paths = args.input.judged.paths.clone();
    if let Some(manifest) = &args.shards.manifest {
        paths.extend(partial::read_manifest(manifest).map_err(Failure::Usage)?);
    }
    Ok(paths)
}

/// The settings a shard records, which every partial of a merge must share.
fn shard_settings(
    args: &AuditArgs,
    metadata_rows: Option<u64>,
) -> Result<partial::Settings, Failure> {
    let source = &args.input.judged.source;
    let metadata = match (&source.metadata, metadata_rows) {
        (Some(path), Some(rows)) => Some(partial::MetadataEntry {
            digest: partial::file_digest(path)
                .map_err(|err| Failure::Usage(format!("--metadata: {}: {err}", path.display())))?,
            rows,
        }),
        _ => None,
    };
    let as_of = load::as_of(args.input.as_of.as_deref())?;
    let read = source.read_options();
    Ok(partial::Settings {
        redact: !args.input.no_redact,
        raw_csv: args.raw_csv,
        strict: args.strict,
        as_of: as_of.map(|t| t.to_string()),
        metadata,
        input_format: source
            .input_format
            .and_then(|f| clap::ValueEnum::to_possible_value(&f))
            .map(|v| v.get_name().to_string()),
        agent_speakers: read.agent_speakers,
        max_line_bytes: read.max_line_bytes,
        max_file_bytes: read.max_file_bytes,
        keep_turns: report::html::KEEP_CONVERSATIONS,
    })
}

/// `callqa audit --shard I/N --partial FILE`: audits the shard's slice of the inputs and
/// writes its partial; the report is `callqa merge`'s to write.
fn shard(args: AuditArgs) -> Result<Exit, Failure> {
    let cancel = cancel_on_ctrl_c();
    let spec_text = args.shards.shard.as_deref().unwrap_or("0/1");
    let spec =
        ShardSpec::parse(spec_text, |name| std::env::var(name).ok()).map_err(Failure::Usage)?;
    let paths = audit_paths(&args)?;
    check_urls(args.shards.partial.as_slice())?;
    if paths.is_empty() || paths.iter().any(|path| path.as_os_str() == "-") {
        return Err(Failure::Usage(
            "standard input cannot be sharded: give every shard the same PATHs or --manifest"
                .into(),
        ));
    }
    let rule_sources = load::rule_sources(&args.input.judged.rules)?;
    let rules = RuleSet::load(&rule_sources).map_err(LoadError::from)?;
    let (threads, warning) = args.threads().map_err(Failure::Usage)?;
    if let Some(warning) = warning {
        message!("{warning}");
    }
    let sources = open_sources(&paths, &args.input.judged.source)?;
    for line in sources.discovery.assumed_lines() {
        message!("{line}");
    }
    if args.verbose {
        print_formats(&sources.discovery);
    }
    let metadata_rows = sources.metadata.as_ref().map(|m| m.rows() as u64);
    let settings = shard_settings(&args, metadata_rows)?;
    let files = partial::shard_files(&sources.discovery.files, spec);
    let header = partial::header(
        &rules,
        &rule_sources,
        &sources.discovery,
        spec,
        settings,
        &files,
    );
    let progress = Progress::new(files.iter().map(|f| f.size).sum(), args.quiet);
    let options = AuditOptions {
        threads,
        read: sources.read,
        metadata: sources.metadata,
        cancel: cancel.clone(),
        retain_turns: report::html::KEEP_CONVERSATIONS,
        redactor: args.input.redactor(),
        ..AuditOptions::default()
    };
    let target = args
        .shards
        .partial
        .as_deref()
        .expect("a shard has --partial");
    let bytes_read = options.read.bytes_read.clone();
    let (conversations, written) =
        partial::write_partial(target, &header, &files, &rules, &options, &mut |read| {
            progress.update(bytes_read.load(Ordering::Relaxed), read);
        })?;
    progress.finish();
    if cancel.load(Ordering::SeqCst) {
        message!("interrupted; no partial written");
        return Ok(Exit::Interrupted);
    }
    if !args.quiet {
        let (i, n, count) = (spec.index, spec.count, files.len());
        let s = if count == 1 { "" } else { "s" };
        message!(
            "shard {i}/{n}: {count} file{s}, {conversations} conversations read; wrote {} ({written} bytes)",
            target.display()
        );
    }
    // A path named on the command line that cannot be read was reported above, by name; the
    // partial records it, and the merge exits 2 for it, as one run does.
    Ok(Exit::Success)
}

/// `callqa merge PARTIAL...`: the report one audit over every partial's inputs would write.
fn merge(args: MergeArgs) -> Result<Exit, Failure> {
    let started = Instant::now();
    let (threads, warning) = args.threads().map_err(Failure::Usage)?;
    if let Some(warning) = warning {
        message!("{warning}");
    }
    // The join reads ahead on a second thread, and the report is rendered and written, on as
    // many threads as `-j` says, as in an audit.
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("callqa-output-{i}"))
        .build_global();
    check_urls(&args.partials)?;
    let partials = Partials::open(&args.partials)?;
    let rules = partials.rules();
    let as_of = match load::as_of(args.as_of.as_deref())? {
        Some(as_of) => Some(as_of),
        None => partials.as_of()?,
    };
    let carried = load::carried_promises(args.promises.as_deref(), rules)?;
    let baseline = load_baseline(&args.gates)?;
    let settings = partials.settings().clone();
    let keep_turns = if args.output.is_some() {
        settings.keep_turns
    } else {
        0
    };
    let budget = usize::try_from(args.findings_memory).unwrap_or(usize::MAX);
    let run = partials.replay(keep_turns, budget, as_of, carried, &mut |_| {})?;
    if run.turn_gaps() > 0 {
        message!(
            "note: the page lacks the turns of {} conversations one run would show (a shard kept those of a duplicate instead)",
            run.turn_gaps()
        );
    }
    let files_by_format = partials.files_by_format();
    let ended = Ended {
        rules,
        files_by_format: &files_by_format,
        strict: args.strict || settings.strict,
        verbose: args.verbose,
        quiet: args.quiet,
        started,
    };
    let report = callqa::publish::ReportOptions {
        output: args.output.clone(),
        stdout: stdout_format(args.format, args.output.as_deref()),
        redact: settings.redact,
        csv_guard: !settings.raw_csv,
        baseline,
        fail_on: args.gates.fail_on,
        fail_under: args.gates.fail_under,
    };
    let mut exit = ended.report(run, partials.discovery_errors(), report)?;
    // A PATH named to a shard that could not be read: a usage error once the rest is
    // reported, as in one run.
    if partials.named_unreadable() > 0 {
        exit = exit.max(Exit::Usage);
    }
    Ok(exit)
}

fn report_problems(problems: &[ReadError], verbose: bool) {
    for line in Discovery::problem_lines(problems, verbose) {
        message!("{line}");
    }
}

fn explain(args: ExplainArgs) -> Result<Exit, Failure> {
    let (rules, as_of, carried) = load_inputs(&args.input)?;
    let sources = open_sources(&args.input.judged.paths, &args.input.judged.source)?;
    report_problems(&sources.discovery.errors, false);
    // Promises are judged against the whole input, audited for that with these options.
    let metadata = sources.metadata.clone();
    let mut options = AuditOptions::on_all_cores(sources.read.clone(), metadata, as_of, carried);
    options.redactor = args.input.redactor();
    let color = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    match conversations::explain(&sources, &rules, &options, &args.id, color)? {
        Some(text) => write_stdout(text.as_bytes())?,
        None => {
            let id = &args.id;
            return Err(Failure::Input(format!(
                "no conversation with id {id:?} in the input"
            )));
        }
    }
    Ok(Exit::Success)
}

/// `callqa convert`: every conversation read (with `--metadata` joined), as canonical JSON
/// Lines in input order. What cannot be read is reported on standard error and left out;
/// nothing read at all exits 3, as an audit would.
fn convert(args: ConvertArgs) -> Result<Exit, Failure> {
    let sources = open_sources(&args.paths, &args.source)?;
    // convert copies text as it is, for other tools; --redact makes a copy safe to share.
    let redactor = args.redact.then(Redactor::new);
    let converted = conversations::convert(&sources, redactor.as_ref());
    report_problems(&converted.problems, false);
    message!("{}", converted.summary_line(sources.discovery.files.len()));
    if converted.conversations == 0 {
        let message = "error: no conversation could be read".to_string();
        return Err(Failure::Input(message));
    }
    match &args.output {
        Some(path) => report::atomic::write_file(path, &converted.json_lines)
            .map_err(|err| Failure::Output(format!("cannot write {}: {err}", path.display())))?,
        None => write_stdout(&converted.json_lines)?,
    }
    Ok(Exit::Success)
}

/// `callqa eval`: audits each labelled conversation and prints, per rule the labels name,
/// how often it agreed with them. Labels that name an unknown rule, or are not labels, are a
/// usage error naming the line; labelled conversations missing from the input are reported.
fn eval(args: EvalArgs) -> Result<Exit, Failure> {
    let rule_sources = load::rule_sources(&args.judged.rules)?;
    let rules = RuleSet::load(&rule_sources).map_err(LoadError::from)?;
    // Checked as for audit, then unused: no figure depends on it (see callqa::eval).
    load::as_of(args.as_of.as_deref())?;
    let labels = callqa::eval::Labels::read(&args.labels, &rules).map_err(Failure::Usage)?;
    let sources = open_sources(&args.judged.paths, &args.judged.source)?;
    let against = if args.against.is_empty() {
        None
    } else {
        Some(load::rules(&args.against)?)
    };
    let evaluation = callqa::eval::evaluate(&sources, &rules, &labels, against.as_ref())
        .map_err(Failure::Usage)?;
    report_problems(&evaluation.problems, args.verbose);
    if let Some(line) = evaluation.missing_line(args.verbose) {
        message!("{line}");
    }
    let mut out = evaluation.render(args.format, args.verbose, args.intervals);
    if args.ablate {
        let ablation = callqa::ablation::ablate(&sources, &rule_sources, &rules, &labels)
            .map_err(Failure::Usage)?;
        out.push_str(&ablation.render(args.format, args.verbose));
    }
    write_stdout(out.as_bytes())?;
    Ok(Exit::Success)
}

/// Writes to standard output; a closed pipe (`| head`) ends the output quietly.
/// `callqa man [SUBCOMMAND]...`: the page of callqa or of one subcommand, every option of
/// it included, on standard output; with `--dir`, every page written into that folder (the
/// pages callqa's own page refers to).
fn manual_pages(path: &[String], dir: Option<&std::path::Path>) -> Result<(), Failure> {
    let mut command = <Cli as clap::CommandFactory>::command().disable_help_subcommand(true);
    // Building names the subcommands' pages as the main page refers to them (callqa-audit).
    command.build();
    if let Some(dir) = dir {
        return clap_mangen::generate_to(command, dir).map_err(|err| {
            Failure::Output(format!(
                "cannot write the manual pages into {}: {err}",
                dir.display()
            ))
        });
    }
    let mut page = &command;
    for name in path {
        page = page.find_subcommand(name).ok_or_else(|| {
            let names: Vec<&str> = page
                .get_subcommands()
                .map(clap::Command::get_name)
                .collect();
            Failure::Usage(format!(
                "man: {} has no subcommand `{name}` (it has: {})",
                page.get_display_name().unwrap_or(page.get_name()),
                names.join(", ")
            ))
        })?;
    }
    let mut out = Vec::new();
    clap_mangen::Man::new(page.clone())
        .render(&mut out)
        .map_err(|err| Failure::Output(format!("cannot render the manual page: {err}")))?;
    write_stdout(&out)
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    let mut stdout = Visible::new(std::io::stdout().lock());
    let written = stdout.write_all(bytes).and_then(|()| stdout.flush());
    publish::quiet_on_closed_pipe(written)
        .map_err(|err| Failure::Output(format!("cannot write to standard output: {err}")))
}

//! The command line: clap definitions, and their translation into plain settings the
//! commands use. Nothing here reads a file or audits anything.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use callqa::eval::EvalFormat;
use callqa::input::{InputFormat, ReadOptions, parse_size};
use callqa::publish::{OutputFormat, ReportOptions};
use callqa::report::Baseline;
use callqa::rules::Severity;

#[derive(Debug, Parser)]
#[command(
    name = "callqa",
    version,
    about = "Audit customer-service transcripts against rule files; write per-agent scorecards with evidence",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Audit transcripts and write scorecards, findings and a summary
    Audit(AuditArgs),
    /// Validate rule files, run their examples, or list what they match
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Show one conversation turn by turn, with its findings under the turns that caused them
    Explain(ExplainArgs),
    /// Write the conversations of any readable input as canonical JSON Lines
    Convert(ConvertArgs),
    /// Merge the partials of sharded audits into the report one audit of all their inputs
    /// would write
    Merge(MergeArgs),
    /// Precision, recall and F1 per rule against a team's own labels
    Eval(EvalArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish)
    Completions {
        /// The shell to complete for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff), for `man -l -`: callqa's, or a subcommand's with every
    /// option (`callqa man audit`, `callqa man rules test`); or write them all with --dir
    Man {
        /// The subcommand whose page to print (none: callqa's own page)
        #[arg(value_name = "SUBCOMMAND")]
        subcommand: Vec<String>,
        /// Write every page (callqa.1, callqa-audit.1, …) into this folder instead
        #[arg(long, value_name = "DIR", conflicts_with = "subcommand")]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Files or folders to read (folders recursively; `-` or nothing: standard input)
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub source: SourceArgs,

    /// Write the JSON Lines to FILE instead of standard output
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Replace card numbers, national ids, e-mail addresses and phone numbers in the text
    #[arg(long)]
    pub redact: bool,
}

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Validate rule files and run the examples they carry (default: the built-in pack)
    Test {
        /// Rule files or folders of them; `default` is the built-in pack
        paths: Vec<PathBuf>,
    },
    /// Print a built-in pack's TOML (`default`), to start a team file from or to read
    Print {
        /// The pack: `default`
        #[arg(default_value = "default")]
        pack: String,
    },
    /// Print the rules that would run, one per line
    List {
        /// Rule files or folders of them; `default` is the built-in pack
        paths: Vec<PathBuf>,
        /// Print every phrase the rules match instead, one per line
        #[arg(long)]
        phrases: bool,
    },
}

/// How input files are read (shared by audit, explain and convert).
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Input format, instead of detecting it from the file name (and, for .json, its keys)
    #[arg(long, value_enum, value_name = "FMT", help_heading = "Input")]
    pub input_format: Option<InputFormat>,

    /// Speaker labels (post-call analytics `spk_N`) or voice names (WebVTT) that are agents;
    /// every other speaker of those files is a customer. Overrides the file's own labels
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        help_heading = "Input"
    )]
    pub agent_speakers: Vec<String>,

    /// CSV of conversation metadata (conversation_id or file; agent_id, customer_id,
    /// started_at, direction, channel, team), joined onto the conversations read
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub metadata: Option<PathBuf>,

    /// Skip (and report) a JSON line longer than this many bytes
    #[arg(long, value_name = "BYTES", default_value = "64M", value_parser = parse_size, help_heading = "Limits")]
    pub max_line_bytes: u64,

    /// Stop reading (and report) a file after this many decompressed bytes
    #[arg(long, value_name = "BYTES", default_value = "64G", value_parser = parse_size, help_heading = "Limits")]
    pub max_file_bytes: u64,
}

impl SourceArgs {
    /// How the files are read.
    pub fn read_options(&self) -> ReadOptions {
        ReadOptions {
            agent_speakers: self
                .agent_speakers
                .iter()
                .map(|name| name.trim().to_string())
                .filter(|name| !name.is_empty())
                .collect(),
            max_line_bytes: self.max_line_bytes,
            max_file_bytes: self.max_file_bytes,
            ..ReadOptions::default()
        }
    }
}

/// Where conversations come from and which rules judge them (shared by audit, explain and
/// eval).
#[derive(Debug, Args)]
pub struct JudgedArgs {
    /// Files or folders to read (folders recursively; `s3://BUCKET/PREFIX/` a folder of
    /// objects, `s3://BUCKET/KEY` one; `-` or nothing: standard input)
    pub paths: Vec<PathBuf>,

    /// Rule file or folder (repeatable; `default` names the built-in pack)
    #[arg(
        long = "rules",
        short = 'r',
        value_name = "FILE|DIR",
        help_heading = "Rules"
    )]
    pub rules: Vec<PathBuf>,

    #[command(flatten)]
    pub source: SourceArgs,
}

/// What audit and explain read: conversations, rules, and the state promises are judged in.
#[derive(Debug, Args)]
pub struct InputArgs {
    #[command(flatten)]
    pub judged: JudgedArgs,

    /// The moment the export was taken (RFC 3339); default: the latest start time seen
    #[arg(long, value_name = "TIME", help_heading = "Input")]
    pub as_of: Option<String>,

    /// An earlier run's promises.csv: its pending promises are judged again in this run
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub promises: Option<PathBuf>,

    /// Keep card numbers, national ids, e-mail addresses and phone numbers in the output
    #[arg(long, help_heading = "Output")]
    pub no_redact: bool,
}

impl InputArgs {
    /// What redacts the turns evidence is cut from: none with `--no-redact`.
    pub fn redactor(&self) -> Option<callqa::redact::Redactor> {
        (!self.no_redact).then(callqa::redact::Redactor::new)
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// Write the report into this folder: scorecards.csv, findings.csv, summary.json,
    /// promises.csv, teams.csv and report.html
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        help_heading = "Output"
    )]
    pub output: Option<PathBuf>,

    /// What standard output carries (default: csv without -o, nothing with -o)
    #[arg(long, value_enum, value_name = "FMT", help_heading = "Output")]
    pub format: Option<OutputFormat>,

    /// Worker threads (default: the number of cores; at most 4 × the cores, and 256); `-j1`
    /// does all the work on one thread
    #[arg(short = 'j', long = "threads", value_name = "N", help_heading = "Run")]
    pub threads: Option<usize>,

    /// No progress bar and no summary on standard error
    #[arg(short, long, help_heading = "Run")]
    pub quiet: bool,

    /// Print every skipped conversation and the format of every file
    #[arg(short, long, help_heading = "Run")]
    pub verbose: bool,

    /// Fail (exit 3) on any conversation that cannot be read, instead of skipping it
    #[arg(long, help_heading = "Run")]
    pub strict: bool,

    /// Memory for findings waiting to be sorted (half of it) and for promises and the
    /// conversations that hold them, waiting for the promise join (a quarter each); beyond it
    /// they are sorted in runs in a temporary file ($TMPDIR) and merged from there. The output
    /// is the same either way
    #[arg(long, value_name = "BYTES", default_value = "8M", value_parser = parse_size, help_heading = "Limits")]
    pub findings_memory: u64,

    /// Write CSV cells as they are (no `'` before a leading = + - @), for machine consumers
    #[arg(long, help_heading = "Output")]
    pub raw_csv: bool,

    #[command(flatten)]
    pub gates: GateArgs,

    #[command(flatten)]
    pub shards: ShardArgs,
}

/// The gates of a run, the same for `audit` and `merge`.
#[derive(Debug, Args)]
pub struct GateArgs {
    /// Exit 1 when some agent's score is below SCORE (0 to 100)
    #[arg(long, value_name = "SCORE", value_parser = parse_score, help_heading = "Gates")]
    pub fail_under: Option<f64>,

    /// Exit 1 when some finding has this severity or worse
    #[arg(long, value_enum, value_name = "SEVERITY", help_heading = "Gates")]
    pub fail_on: Option<Severity>,

    /// An earlier run's findings.csv: findings it holds (same conversation, rule and
    /// evidence) do not fail --fail-on and are not annotated by --format github
    #[arg(long, value_name = "FILE", help_heading = "Gates")]
    pub baseline: Option<PathBuf>,
}

/// A sharded audit: a slice of the inputs into a partial, for `callqa merge`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// A file of input paths or `s3://` URLs, one per line (relative paths from the
    /// manifest's folder), read as if given as PATHs
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub manifest: Option<PathBuf>,

    /// Audit slice I (0-based) of N of the inputs; `auto/N` reads I from
    /// JOB_COMPLETION_INDEX, AWS_BATCH_JOB_ARRAY_INDEX or SLURM_ARRAY_TASK_ID (less
    /// SLURM_ARRAY_TASK_MIN)
    #[arg(
        long,
        value_name = "I/N",
        requires = "partial",
        help_heading = "Shards"
    )]
    pub shard: Option<String>,

    /// Write a partial for `callqa merge` to FILE (a path or an `s3://` URL) instead of a
    /// report
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["output", "format", "fail_under", "fail_on", "baseline", "promises"],
        help_heading = "Shards"
    )]
    pub partial: Option<PathBuf>,
}

impl AuditArgs {
    /// The worker threads: `-j`, else the number of cores; with a warning to print when `-j`
    /// asks for more than [`max_threads`].
    pub fn threads(&self) -> Result<(usize, Option<String>), String> {
        thread_count(self.threads)
    }
}

impl MergeArgs {
    /// The threads of the merge's join and report, as [`AuditArgs::threads`].
    pub fn threads(&self) -> Result<(usize, Option<String>), String> {
        thread_count(self.threads)
    }
}

/// `-j` as asked (`None`: the number of cores), or a usage error for 0, and a warning to print
/// when it asks for more than [`max_threads`].
fn thread_count(asked: Option<usize>) -> Result<(usize, Option<String>), String> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match asked {
        Some(0) => Err("-j must be 1 or more".to_string()),
        Some(threads) if threads > max_threads(cores) => {
            let max = max_threads(cores);
            let warning = format!(
                "-j {threads} is more than 4 × the {cores} cores (or {MAX_THREADS}); using {max}"
            );
            Ok((max, Some(warning)))
        }
        Some(threads) => Ok((threads, None)),
        None => Ok((cores, None)),
    }
}

/// The most worker threads `-j` gets, whatever it asks: more only cost memory and start-up
/// (100,000 threads once ran for ten minutes on a one-line file).
const MAX_THREADS: usize = 256;

/// 4 × `cores`, and at most [`MAX_THREADS`].
fn max_threads(cores: usize) -> usize {
    cores.saturating_mul(4).clamp(1, MAX_THREADS)
}

/// A `--fail-under` score: a number from 0 to 100 (not NaN, which no score is below).
fn parse_score(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(score) if (0.0..=100.0).contains(&score) => Ok(score),
        _ => Err("a score is a number from 0 to 100".to_string()),
    }
}

/// How an audit's report is written and gated, from its flags and the read `--baseline`.
pub fn report_options(args: &AuditArgs, baseline: Option<Baseline>) -> ReportOptions {
    ReportOptions {
        output: args.output.clone(),
        stdout: stdout_format(args.format, args.output.as_deref()),
        redact: !args.input.no_redact,
        csv_guard: !args.raw_csv,
        baseline,
        fail_on: args.gates.fail_on,
        fail_under: args.gates.fail_under,
    }
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Partials written by `callqa audit --shard I/N --partial FILE`, in any order; a folder
    /// (or an `s3://BUCKET/PREFIX/`) stands for every file (object) under it
    #[arg(required = true, value_name = "PARTIAL")]
    pub partials: Vec<PathBuf>,

    /// Write scorecards.csv, findings.csv, summary.json and promises.csv into this folder
    #[arg(
        short = 'o',
        long = "output",
        value_name = "DIR",
        help_heading = "Output"
    )]
    pub output: Option<PathBuf>,

    /// What standard output carries (default: csv without -o, nothing with -o)
    #[arg(long, value_enum, value_name = "FMT", help_heading = "Output")]
    pub format: Option<OutputFormat>,

    /// The moment the export was taken (RFC 3339); default: the shards' --as-of, else the
    /// latest start time seen
    #[arg(long, value_name = "TIME", help_heading = "Input")]
    pub as_of: Option<String>,

    /// An earlier run's promises.csv: its pending promises are judged again in this run
    #[arg(long, value_name = "FILE", help_heading = "Input")]
    pub promises: Option<PathBuf>,

    /// Threads for the promise join and the report (default: the number of cores; at most 4 ×
    /// the cores, and 256); `-j1` does all the work on one thread
    #[arg(short = 'j', long = "threads", value_name = "N", help_heading = "Run")]
    pub threads: Option<usize>,

    /// No summary on standard error
    #[arg(short, long, help_heading = "Run")]
    pub quiet: bool,

    /// Print every skipped conversation
    #[arg(short, long, help_heading = "Run")]
    pub verbose: bool,

    /// Fail (exit 3) on any conversation that could not be read (as when a shard had it)
    #[arg(long, help_heading = "Run")]
    pub strict: bool,

    /// Memory for findings, promises and the conversations that hold them, waiting for the
    /// end of the run; beyond it they go to a temporary file
    #[arg(long, value_name = "BYTES", default_value = "8M", value_parser = parse_size, help_heading = "Limits")]
    pub findings_memory: u64,

    #[command(flatten)]
    pub gates: GateArgs,
}

/// What standard output carries: `--format`, else the scorecards without `-o`.
pub fn stdout_format(
    format: Option<OutputFormat>,
    output: Option<&std::path::Path>,
) -> Option<OutputFormat> {
    match (format, output) {
        (Some(format), _) => Some(format),
        (None, None) => Some(OutputFormat::Csv),
        (None, Some(_)) => None,
    }
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub input: InputArgs,

    /// The conversation to show
    #[arg(long, value_name = "CONVERSATION_ID")]
    pub id: String,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub judged: JudgedArgs,

    /// The labels: JSON Lines, `{"conversation_id": "c-1", "expect": {"apology": true}}`
    #[arg(long, value_name = "FILE")]
    pub labels: PathBuf,

    /// A rule set to compare with (repeatable; `default` names the built-in pack): each F1's
    /// change from it on the same conversations, and the change's 95% interval
    #[arg(long, value_name = "FILE|DIR", help_heading = "Rules")]
    pub against: Vec<PathBuf>,

    /// Accepted as for audit and explain; the figures do not depend on it (a promise rule is
    /// scored on detection, not on whether the promise was kept)
    #[arg(long, value_name = "TIME", help_heading = "Input")]
    pub as_of: Option<String>,

    /// What standard output carries: a table, or a JSON object per rule
    #[arg(
        long,
        value_enum,
        value_name = "FMT",
        default_value = "text",
        help_heading = "Output"
    )]
    pub format: EvalFormat,

    /// List the ids of the conversations each rule got wrong
    #[arg(short, long, help_heading = "Output")]
    pub verbose: bool,

    /// Give each F1 its 95% bootstrap interval (2,000 draws of the labelled conversations,
    /// from a fixed seed)
    #[arg(long, help_heading = "Output")]
    pub intervals: bool,

    /// Then take each entry of the labelled rules' phrase lists out in turn and show how the
    /// rule's figures change without it: the entries whose removal raises F1 first
    #[arg(long, conflicts_with = "against", help_heading = "Output")]
    pub ablate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scores_are_0_to_100() {
        for good in ["0", "72.5", "100", " 90 "] {
            assert!(parse_score(good).is_ok(), "{good}");
        }
        for bad in [
            "NaN", "nan", "inf", "-inf", "150", "-1", "100.01", "ninety", "",
        ] {
            assert!(parse_score(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn threads_are_clamped_to_4_per_core_and_256() {
        assert_eq!(max_threads(1), 4);
        assert_eq!(max_threads(2), 8);
        assert_eq!(max_threads(64), 256);
        assert_eq!(max_threads(0), 1);
    }
}

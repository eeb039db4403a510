//! Writes a seeded corpus of realistic conversations for benchmarks (see `benches/corpus/`).
//!
//! ```text
//! cargo run --release --example gen_corpus -- --bytes 1G --files 16 --format jsonl|csv \
//!     [--gzip] [--seed 7] [--profile export|callback-heavy] [--rules FILE]... --out DIR|-
//! ```
//!
//! `--bytes` is the total uncompressed size, shared evenly by `--files` files named
//! `part-NNN.jsonl` (or `.csv`, `.gz` added with `--gzip`) in DIR, written in parallel. With
//! `--out -` the corpus streams to standard output as one file (for a test that must not be
//! stored: `gen_corpus --bytes 4G --out - | callqa audit -`). The phrases planted are those of
//! the built-in pack, or of the `--rules` files given, at the rates of `--profile`: `export`
//! (a promise in one conversation in twenty, as real exports) or `callback-heavy` (a promise
//! in four conversations in five). A line of counts goes to standard error.

#[path = "../benches/corpus/mod.rs"]
mod corpus;

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use rayon::prelude::*;

use callqa::rules::{RuleSet, RuleSource};
use corpus::{Format, Pack, Profile, Stats};

#[derive(Parser, Debug)]
#[command(about = "Write a seeded corpus of realistic conversations")]
struct Args {
    /// Total uncompressed size: 1G, 200M, 64k, or bytes.
    #[arg(long, value_parser = parse_size)]
    bytes: u64,
    /// Number of files the size is shared by (ignored with `--out -`).
    #[arg(long, default_value_t = 1)]
    files: u32,
    #[arg(long, value_parser = ["jsonl", "csv"], default_value = "jsonl")]
    format: String,
    /// Compress each file with gzip (level 6).
    #[arg(long)]
    gzip: bool,
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The rates of what is planted: `export` (as real exports) or `callback-heavy`.
    #[arg(long, value_parser = corpus::Profile::NAMES, default_value = "export")]
    profile: String,
    /// Rule files whose phrases to plant (default: the built-in pack).
    #[arg(long)]
    rules: Vec<PathBuf>,
    /// Folder to write the files into, or `-` for standard output.
    #[arg(long)]
    out: PathBuf,
}

fn parse_size(text: &str) -> Result<u64, String> {
    corpus::parse_size(text).ok_or_else(|| format!("{text:?} is not a size like 1G or 200M"))
}

fn pack(paths: &[PathBuf]) -> Result<Pack, String> {
    let rules = if paths.is_empty() {
        RuleSet::default_pack()
    } else {
        let mut sources = Vec::new();
        for path in paths {
            sources.extend(RuleSource::from_arg(path).map_err(|e| e.to_string())?);
        }
        RuleSet::load(&sources)
    };
    rules
        .map(|rules| Pack::from_rules(&rules))
        .map_err(|e| e.to_string())
}

fn write_one(
    pack: &Pack,
    profile: Profile,
    args: &Args,
    format: Format,
    file: u32,
    bytes: u64,
    out: Box<dyn Write>,
) -> io::Result<Stats> {
    if args.gzip {
        let mut encoder = flate2::write::GzEncoder::new(out, flate2::Compression::default());
        let stats =
            corpus::write_file(pack, profile, args.seed, file, format, bytes, &mut encoder)?;
        encoder.finish()?.flush()?;
        Ok(stats)
    } else {
        let mut out = out;
        let stats = corpus::write_file(pack, profile, args.seed, file, format, bytes, &mut out)?;
        out.flush()?;
        Ok(stats)
    }
}

fn run(args: &Args) -> Result<Stats, String> {
    let pack = pack(&args.rules)?;
    let profile = Profile::parse(&args.profile).unwrap_or_default();
    let format = if args.format == "csv" {
        Format::Csv
    } else {
        Format::Jsonl
    };
    if args.out.as_os_str() == "-" {
        let stdout = Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()));
        return write_one(&pack, profile, args, format, 0, args.bytes, stdout).or_else(|err| {
            // A reader that stops early (`| head`) is not an error.
            if err.kind() == io::ErrorKind::BrokenPipe {
                Ok(Stats::default())
            } else {
                Err(format!("stdout: {err}"))
            }
        });
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let files = args.files.max(1);
    let per_file = args.bytes.div_ceil(u64::from(files));
    let results: Vec<Result<Stats, String>> = (0..files)
        .into_par_iter()
        .map(|file| {
            let name = format!(
                "part-{file:03}.{}{}",
                format.extension(),
                if args.gzip { ".gz" } else { "" }
            );
            let path = args.out.join(name);
            let created = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let out = Box::new(BufWriter::with_capacity(1 << 20, created));
            write_one(&pack, profile, args, format, file, per_file, out)
                .map_err(|e| format!("{}: {e}", path.display()))
        })
        .collect();
    let mut total = Stats::default();
    for result in results {
        total.add(result?);
    }
    Ok(total)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(stats) => {
            eprintln!(
                "gen_corpus: {} conversations, {} turns, {} bytes ({} bytes of turn text)",
                stats.conversations, stats.turns, stats.bytes, stats.text_bytes
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("gen_corpus: {message}");
            ExitCode::FAILURE
        }
    }
}

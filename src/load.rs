//! What a command loads before it reads transcripts: the rule files, `--as-of`, the promises
//! `--promises` carries, the findings `--baseline` holds and the `--metadata` table. Each
//! error names the flag and the file, and is a usage error of the command line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Zoned;

use crate::input::{self, Discovery, InputFormat, ReadOptions};
use crate::metadata::Metadata;
use crate::model::Promise;
use crate::report::Baseline;
use crate::report::promises::read_promises_csv;
use crate::rules::{RuleError, RuleSet, RuleSource};
use crate::transcript::parse_started_at;

/// Why something a command needs could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// FILE:LINE: field: message.
    #[error("{0}")]
    Rules(#[from] RuleError),
    #[error("--as-of: {0}")]
    AsOf(String),
    #[error("--promises: {0}")]
    Promises(String),
    #[error("--baseline: {0}")]
    Baseline(String),
    #[error("--metadata: {0}")]
    Metadata(String),
}

/// The rules of `paths` (files, folders, or `default` for the built-in pack); the built-in
/// pack when there are none.
pub fn rules(paths: &[PathBuf]) -> Result<RuleSet, LoadError> {
    Ok(RuleSet::load(&rule_sources(paths)?)?)
}

/// The rule files of `paths` as [`rules`] reads them (a partial carries their text).
pub fn rule_sources(paths: &[PathBuf]) -> Result<Vec<RuleSource>, LoadError> {
    let mut sources = Vec::new();
    if paths.is_empty() {
        sources.push(RuleSource::default_pack());
    }
    for path in paths {
        sources.extend(RuleSource::from_arg(path)?);
    }
    Ok(sources)
}

/// `--as-of`, an RFC 3339 time.
pub fn as_of(text: Option<&str>) -> Result<Option<Zoned>, LoadError> {
    text.map(|text| {
        parse_started_at(text).map_err(|err| LoadError::AsOf(err.replace("started_at", "time")))
    })
    .transpose()
}

/// The pending promises of an earlier run's `promises.csv` (`--promises`), for `rules`.
pub fn carried_promises(path: Option<&Path>, rules: &RuleSet) -> Result<Vec<Promise>, LoadError> {
    let Some(path) = path else {
        return Ok(Vec::new());
    };
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|err| LoadError::Promises(format!("{file}: {err}")))?;
    read_promises_csv(&file, &text, rules).map_err(|err| LoadError::Promises(err.to_string()))
}

/// The findings of an earlier run's `findings.csv` (`--baseline`).
pub fn baseline(path: &Path) -> Result<Baseline, LoadError> {
    let file = path.display().to_string();
    std::fs::read_to_string(path)
        .map_err(|err| format!("{file}: {err}"))
        .and_then(|text| Baseline::read(&file, &text))
        .map_err(LoadError::Baseline)
}

/// The `--metadata` table.
pub(crate) fn metadata(path: &Path) -> Result<Metadata, LoadError> {
    Metadata::load(path).map_err(|err| LoadError::Metadata(err.to_string()))
}

/// The input side of a command: the files found, how to read them, and the metadata to join
/// onto what they hold.
#[derive(Debug)]
pub struct Sources {
    pub discovery: Discovery,
    pub read: ReadOptions,
    pub metadata: Option<Arc<Metadata>>,
}

impl Sources {
    /// Finds the files of `paths` (standard input when there are none) and reads
    /// `--metadata`.
    pub fn open(
        paths: &[PathBuf],
        forced: Option<InputFormat>,
        read: ReadOptions,
        metadata_path: Option<&Path>,
    ) -> Result<Sources, LoadError> {
        let metadata = metadata_path.map(metadata).transpose()?;
        Ok(Sources {
            discovery: input::discover(paths, forced),
            read,
            metadata: metadata.map(Arc::new),
        })
    }
}

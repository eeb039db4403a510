//! Finding the input files and cutting them into chunks of whole conversations.
//!
//! [`discover`] turns the PATHs of the command line into a sorted list of [`InputFile`]s
//! (folders walked recursively, hidden entries skipped, symbolic links to folders not followed
//! so a link loop cannot trap the walk). [`read_chunks`] then reads them one after the other,
//! decompressing `.gz` on the fly, and hands out [`Chunk`]s: for JSON Lines a few MiB of whole
//! lines, so that one big file is parsed on every core; for formats that are parsed as a
//! stream (CSV) or as a whole (scripts, captions and the contact-center JSON exports, whose
//! `.json` files are told apart by the top-level keys of their first JSON value, see
//! [`detect`]), batches of conversations already parsed. Every chunk
//! carries its sequence number, so results can be merged in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::transcript::amazon::{self, Flavor};
use crate::transcript::csv::CsvReader;
use crate::transcript::{
    Conversation, DocumentContext, ReadError, SkipKind, Source, ccai, jsonl, pca, script, vtt,
};

/// The input formats callqa reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InputFormat {
    /// Canonical JSON Lines, one conversation per line.
    Jsonl,
    /// Turn-per-row CSV.
    Csv,
    /// Plain-text script, one conversation per file.
    Script,
    /// WebVTT captions with voice tags, one conversation per file.
    Vtt,
    /// Amazon Transcribe Call Analytics output JSON, one call per file.
    Transcribe,
    /// Amazon Connect Contact Lens output JSON (voice or chat), one contact per file.
    ContactLens,
    /// Amazon Transcribe post-call analytics (PCA) output JSON, one call per file.
    Pca,
    /// Google CCAI Insights conversation JSON, one conversation per file.
    Ccai,
}

impl InputFormat {
    pub const ALL: [InputFormat; 8] = [
        InputFormat::Jsonl,
        InputFormat::Csv,
        InputFormat::Script,
        InputFormat::Vtt,
        InputFormat::Transcribe,
        InputFormat::ContactLens,
        InputFormat::Pca,
        InputFormat::Ccai,
    ];

    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Jsonl => "jsonl",
            InputFormat::Csv => "csv",
            InputFormat::Script => "script",
            InputFormat::Vtt => "vtt",
            InputFormat::Transcribe => "transcribe",
            InputFormat::ContactLens => "contact-lens",
            InputFormat::Pca => "pca",
            InputFormat::Ccai => "ccai",
        }
    }

    /// The format a file name says, looking through a `.gz` ending. A `.json` file says
    /// JSON Lines here; [`detect`] looks inside it.
    pub fn from_file_name(name: &str) -> Option<InputFormat> {
        let lower = name.to_ascii_lowercase();
        let stem = lower.strip_suffix(".gz").unwrap_or(&lower);
        let extension = stem.rsplit_once('.').map(|(_, ext)| ext)?;
        match extension {
            "jsonl" | "ndjson" | "json" => Some(InputFormat::Jsonl),
            "csv" => Some(InputFormat::Csv),
            "txt" | "script" => Some(InputFormat::Script),
            "vtt" => Some(InputFormat::Vtt),
            _ => None,
        }
    }

    /// The format the top-level keys of a JSON file's first value say: `SpeechSegments` is
    /// post-call analytics, `entries` CCAI Insights, `Transcript` Amazon's (Contact Lens when
    /// it lists `Participants` and names no Transcribe `JobName`), anything else JSON Lines.
    pub fn from_json_keys<'k>(keys: impl IntoIterator<Item = &'k str>) -> InputFormat {
        let keys: std::collections::BTreeSet<&str> = keys.into_iter().collect();
        if keys.contains("SpeechSegments") {
            InputFormat::Pca
        } else if keys.contains("entries") {
            InputFormat::Ccai
        } else if keys.contains("Transcript") {
            if keys.contains("Participants") && !keys.contains("JobName") {
                InputFormat::ContactLens
            } else {
                InputFormat::Transcribe
            }
        } else {
            InputFormat::Jsonl
        }
    }
}

/// The format of a file: the one forced, else the name's, else (for `.json`) the one the
/// top-level keys of its first JSON value say. Only that first value is read: a JSON Lines
/// file is not read to its end here.
pub fn detect(path: &Path, forced: Option<InputFormat>) -> InputFormat {
    if let Some(format) = forced {
        return format;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let by_name = InputFormat::from_file_name(&name).unwrap_or(InputFormat::Jsonl);
    let stem = name.strip_suffix(".gz").unwrap_or(&name);
    if !stem.ends_with(".json") {
        return by_name;
    }
    sniff_json(path, name.ends_with(".gz")).unwrap_or(by_name)
}

fn sniff_json(path: &Path, gzip: bool) -> Option<InputFormat> {
    let file = File::open(path).ok()?;
    let mut reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    // The first MiB is kept, for the case the first value does not parse.
    let mut prefix = Vec::new();
    (&mut reader).take(1 << 20).read_to_end(&mut prefix).ok()?;
    let start = if prefix.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let first = serde_json::Deserializer::from_reader(prefix[start..].chain(reader))
        .into_iter::<BTreeMap<String, serde::de::IgnoredAny>>()
        .next()?;
    match first {
        Ok(keys) => Some(InputFormat::from_json_keys(keys.keys().map(String::as_str))),
        // A broken first value that spans lines is a document, not a JSON line: name its
        // format by the keys it shows, so that its reader reports it once, as a whole.
        Err(err) if err.line() > 1 => {
            let text = String::from_utf8_lossy(&prefix);
            let keys = [
                "SpeechSegments",
                "entries",
                "Transcript",
                "Participants",
                "JobName",
            ];
            Some(InputFormat::from_json_keys(
                keys.into_iter()
                    .filter(|key| text.contains(&format!("\"{key}\""))),
            ))
        }
        Err(_) => None,
    }
}

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// `None` for standard input.
    pub path: Option<PathBuf>,
    /// The name findings and messages use: the path as given or found, `-` for stdin.
    pub display: Arc<str>,
    /// The path relative to the folder it was found in (the file name for a named file): the
    /// conversation id of a one-conversation file that has none.
    pub relative: String,
    pub format: InputFormat,
    pub gzip: bool,
    /// Size on disk, when known (for the progress bar).
    pub size: Option<u64>,
}

/// What discovery found: the files, and the paths that could not be read.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<InputFile>,
    pub errors: Vec<ReadError>,
    /// Files in folders whose name says no format callqa reads.
    pub ignored: Vec<PathBuf>,
}

/// Expands the command line's PATHs into the files to read, sorted by path.
pub fn discover(paths: &[PathBuf], forced: Option<InputFormat>) -> Discovery {
    let mut discovery = Discovery::default();
    let mut paths: Vec<&PathBuf> = paths.iter().collect();
    if paths.is_empty() {
        discovery.files.push(stdin_file(forced));
        return discovery;
    }
    paths.sort();
    paths.dedup();
    for path in paths {
        if path.as_os_str() == "-" {
            discovery.files.push(stdin_file(forced));
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, path, forced, &mut discovery),
            Ok(meta) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                discovery
                    .files
                    .push(input_file(path, name, forced, Some(meta.len())));
            }
            Err(err) => discovery.errors.push(path_error(path, &err)),
        }
    }
    discovery.files.sort_by(|a, b| a.display.cmp(&b.display));
    discovery.files.dedup_by(|a, b| a.display == b.display);
    discovery
}

fn stdin_file(forced: Option<InputFormat>) -> InputFile {
    InputFile {
        path: None,
        display: Arc::from("-"),
        relative: "-".into(),
        format: forced.unwrap_or(InputFormat::Jsonl),
        gzip: false,
        size: None,
    }
}

fn input_file(
    path: &Path,
    relative: String,
    forced: Option<InputFormat>,
    size: Option<u64>,
) -> InputFile {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    InputFile {
        path: Some(path.to_path_buf()),
        display: Arc::from(path.display().to_string()),
        relative,
        format: detect(path, forced),
        gzip: name.to_ascii_lowercase().ends_with(".gz"),
        size,
    }
}

fn path_error(path: &Path, err: &io::Error) -> ReadError {
    ReadError {
        source: Source {
            file: Arc::from(path.display().to_string()),
            line: 0,
        },
        kind: SkipKind::Unreadable,
        message: format!("cannot read: {err}"),
    }
}

fn walk(root: &Path, dir: &Path, forced: Option<InputFormat>, discovery: &mut Discovery) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            discovery.errors.push(path_error(dir, &err));
            return;
        }
    };
    let mut children: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                if !entry.file_name().to_string_lossy().starts_with('.') {
                    children.push(entry.path());
                }
            }
            Err(err) => discovery.errors.push(path_error(dir, &err)),
        }
    }
    children.sort();
    for child in children {
        let link_meta = match std::fs::symlink_metadata(&child) {
            Ok(meta) => meta,
            Err(err) => {
                discovery.errors.push(path_error(&child, &err));
                continue;
            }
        };
        if link_meta.is_dir() {
            walk(root, &child, forced, discovery);
            continue;
        }
        // A link is followed to a file, never to a folder (no loops).
        let meta = if link_meta.file_type().is_symlink() {
            match std::fs::metadata(&child) {
                Ok(meta) if meta.is_dir() => continue,
                Ok(meta) => meta,
                Err(err) => {
                    discovery.errors.push(path_error(&child, &err));
                    continue;
                }
            }
        } else {
            link_meta
        };
        let name = child
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if forced.is_none() && InputFormat::from_file_name(&name).is_none() {
            discovery.ignored.push(child);
            continue;
        }
        let relative = child
            .strip_prefix(root)
            .unwrap_or(&child)
            .to_string_lossy()
            .replace('\\', "/");
        discovery
            .files
            .push(input_file(&child, relative, forced, Some(meta.len())));
    }
}

/// What a chunk holds.
#[derive(Debug)]
pub enum Payload {
    /// Whole JSON lines; `first_line` is the 1-based line of the first. A line longer than
    /// `max_line_bytes` is skipped as too large.
    Lines {
        data: Vec<u8>,
        first_line: u64,
        max_line_bytes: u64,
    },
    /// Conversations a streaming reader already parsed.
    Parsed(Vec<Result<Conversation, ReadError>>),
    /// The file could not be read (or not to its end): not a conversation, but reported.
    FileError(ReadError),
}

/// A piece of input, numbered in input order.
#[derive(Debug)]
pub struct Chunk {
    pub seq: u64,
    pub file: Arc<str>,
    /// The file's path relative to the audited folder (see [`InputFile::relative`]), by which
    /// `--metadata` rows can name it.
    pub relative: Arc<str>,
    pub payload: Payload,
    /// Uncompressed bytes this chunk covers.
    pub bytes: u64,
}

impl Chunk {
    /// Calls `each` on every conversation (or read error) of the chunk, in order.
    pub fn for_each_conversation(self, mut each: impl FnMut(Result<Conversation, ReadError>)) {
        match self.payload {
            Payload::Lines {
                data,
                first_line,
                max_line_bytes,
            } => {
                // memchr finds the newlines a vector at a time; the byte-at-a-time split cost
                // about 3 instructions a byte (callgrind), as much as a tenth of a run.
                let mut start = 0usize;
                let ends = memchr::memchr_iter(b'\n', &data).chain(std::iter::once(data.len()));
                for (line_number, end) in (first_line..).zip(ends) {
                    let line = &data[start..end];
                    start = end + 1;
                    let trimmed = trim_ascii_whitespace(line);
                    if trimmed.is_empty() {
                        continue;
                    }
                    if line.len() as u64 > max_line_bytes {
                        each(Err(ReadError {
                            source: Source {
                                file: self.file.clone(),
                                line: line_number,
                            },
                            kind: SkipKind::TooLarge,
                            message: format!(
                                "line of {} bytes is longer than --max-line-bytes ({max_line_bytes}); skipped",
                                line.len()
                            ),
                        }));
                        continue;
                    }
                    each(jsonl::parse_line(trimmed, &self.file, line_number));
                }
            }
            Payload::Parsed(items) => items.into_iter().for_each(each),
            Payload::FileError(_) => {}
        }
    }
}

fn trim_ascii_whitespace(line: &[u8]) -> &[u8] {
    let start = line
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    &line[start..end]
}

/// Counts the bytes read from disk (or stdin), for the progress bar.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// How the reader cuts files.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Target size of a chunk of JSON lines (and of a batch of parsed conversations).
    pub chunk_bytes: usize,
    /// Counter of raw bytes read, shared with the progress bar.
    pub bytes_read: Arc<AtomicU64>,
    /// A longer JSON line is skipped (and reported) without being held in memory.
    pub max_line_bytes: u64,
    /// Reading a file stops (and is reported) past this many decompressed bytes.
    pub max_file_bytes: u64,
    /// `--agent-speakers`: the speaker labels or voice names that are agents.
    pub agent_speakers: Vec<String>,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            // About 2 × threads + 3 chunks are in flight (queued, in the workers, being
            // read): 1 MiB chunks took ~25 MB off peak RSS against 4 MiB on a 256 MB
            // corpus at -j2 (benches/compare.sh), with no loss of throughput measured.
            chunk_bytes: 1 << 20,
            bytes_read: Arc::new(AtomicU64::new(0)),
            max_line_bytes: 64 << 20,
            max_file_bytes: 64 << 30,
            agent_speakers: Vec::new(),
        }
    }
}

/// Opens a file for reading: its bytes, decompressed if it is gzip.
/// Fails a read once more than `limit` bytes came through: the cap on a file's decompressed
/// size, so one runaway file (a gzip bomb) cannot sink the night.
struct LimitReader<R> {
    inner: R,
    limit: u64,
    seen: u64,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let allowed = self.limit - self.seen;
        if allowed == 0 {
            // At the limit: the file is fine if it ends here.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "the file is larger than --max-file-bytes ({} bytes) decompressed; the rest is not read",
                    self.limit
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(allowed).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.seen += n as u64;
        Ok(n)
    }
}

fn open(file: &InputFile, options: &ReadOptions) -> io::Result<Box<dyn BufRead + Send>> {
    let counter = &options.bytes_read;
    let raw: Box<dyn Read + Send> = match &file.path {
        Some(path) => Box::new(File::open(path)?),
        None => Box::new(io::stdin()),
    };
    let counted = CountingReader {
        inner: raw,
        counter: counter.clone(),
    };
    let decompressed: Box<dyn Read + Send> = if file.gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 << 10,
            counted,
        )))
    } else {
        Box::new(counted)
    };
    let limited = LimitReader {
        inner: decompressed,
        limit: options.max_file_bytes,
        seen: 0,
    };
    Ok(Box::new(BufReader::with_capacity(256 << 10, limited)))
}

/// Reads every file in order and hands each chunk to `emit`; stops early when `emit` returns
/// false (the receiving side has gone).
pub fn read_chunks(
    files: &[InputFile],
    options: &ReadOptions,
    mut emit: impl FnMut(Chunk) -> bool,
) {
    let mut seq = 0u64;
    for file in files {
        let relative: Arc<str> = Arc::from(file.relative.as_str());
        let mut next = |file: &Arc<str>, payload: Payload, bytes: u64| {
            let chunk = Chunk {
                seq,
                file: file.clone(),
                relative: relative.clone(),
                payload,
                bytes,
            };
            seq += 1;
            emit(chunk)
        };
        let name = file.display.clone();
        let reader = match open(file, options) {
            Ok(reader) => reader,
            Err(err) => {
                let error = ReadError {
                    source: Source {
                        file: name.clone(),
                        line: 0,
                    },
                    kind: SkipKind::Unreadable,
                    message: format!("cannot open: {err}"),
                };
                if !next(&name, Payload::FileError(error), 0) {
                    return;
                }
                continue;
            }
        };
        let go_on = match file.format {
            InputFormat::Jsonl => read_jsonl(reader, &name, options, &mut next),
            InputFormat::Csv => read_csv(reader, &name, options, &mut next),
            format => read_document(reader, file, format, options, &mut next),
        };
        if !go_on {
            return;
        }
    }
}

type Emit<'a> = dyn FnMut(&Arc<str>, Payload, u64) -> bool + 'a;

fn read_error(name: &Arc<str>, line: u64, err: &io::Error) -> ReadError {
    ReadError {
        source: Source {
            file: name.clone(),
            line,
        },
        kind: SkipKind::Unreadable,
        message: format!("read error after line {}: {err}", line.saturating_sub(1)),
    }
}

fn read_jsonl(
    mut reader: Box<dyn BufRead + Send>,
    name: &Arc<str>,
    options: &ReadOptions,
    emit: &mut Emit,
) -> bool {
    let mut carry: Vec<u8> = Vec::new();
    let mut first_line = 1u64;
    // A UTF-8 byte order mark is not part of the first line.
    if let Ok(start) = reader.fill_buf()
        && start.starts_with(b"\xEF\xBB\xBF")
    {
        reader.consume(3);
    }
    loop {
        let mut data = std::mem::take(&mut carry);
        let mut failure = None;
        // Fill the chunk to its target size; a carried line longer than a chunk (no newline
        // yet) makes the target grow, so that every round reads something.
        let target = if data.len() >= options.chunk_bytes {
            data.len() + options.chunk_bytes
        } else {
            options.chunk_bytes
        };
        data.reserve(target - data.len());
        while data.len() < target {
            let want = target - data.len();
            match (&mut reader).take(want as u64).read_to_end(&mut data) {
                Ok(0) => break,
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let finished = data.len() < target || failure.is_some();
        if !finished {
            // Keep the partial last line for the next chunk; a line longer than a chunk makes
            // the chunk grow until it ends.
            match memchr::memrchr(b'\n', &data) {
                Some(last_newline) => carry = data.split_off(last_newline + 1),
                None if data.len() as u64 > options.max_line_bytes => {
                    // An overlong line: drop it without holding it in memory, and report it.
                    let mut length = data.len() as u64;
                    drop(data);
                    let ended = match skip_past_newline(&mut reader) {
                        Ok((skipped, found_newline)) => {
                            // The newline ends the line; it is not part of it.
                            length += skipped - u64::from(found_newline);
                            !found_newline
                        }
                        Err(err) => {
                            return emit(
                                name,
                                Payload::FileError(read_error(name, first_line, &err)),
                                0,
                            );
                        }
                    };
                    let error = ReadError {
                        source: Source {
                            file: name.clone(),
                            line: first_line,
                        },
                        kind: SkipKind::TooLarge,
                        message: format!(
                            "line of {length} bytes is longer than --max-line-bytes ({}); skipped",
                            options.max_line_bytes
                        ),
                    };
                    if !emit(name, Payload::Parsed(vec![Err(error)]), length) {
                        return false;
                    }
                    first_line += 1;
                    if ended {
                        return true;
                    }
                    continue;
                }
                None => {
                    carry = data;
                    continue;
                }
            }
        } else if failure.is_some() {
            // What follows the last newline is a cut-off line: the error reports it.
            if let Some(last_newline) = memchr::memrchr(b'\n', &data) {
                data.truncate(last_newline + 1);
            } else {
                data.clear();
            }
        }
        let lines = memchr::memchr_iter(b'\n', &data).count() as u64;
        let bytes = data.len() as u64;
        let payload = Payload::Lines {
            data,
            first_line,
            max_line_bytes: options.max_line_bytes,
        };
        if bytes > 0 && !emit(name, payload, bytes) {
            return false;
        }
        first_line += lines;
        if let Some(err) = failure {
            return emit(
                name,
                Payload::FileError(read_error(name, first_line, &err)),
                0,
            );
        }
        if finished {
            return true;
        }
    }
}

/// Reads past the next newline; returns the bytes skipped and whether a newline ended them.
fn skip_past_newline(reader: &mut dyn BufRead) -> io::Result<(u64, bool)> {
    let mut skipped = 0u64;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        if buffer.is_empty() {
            return Ok((skipped, false));
        }
        if let Some(at) = memchr::memchr(b'\n', buffer) {
            reader.consume(at + 1);
            return Ok((skipped + at as u64 + 1, true));
        }
        let length = buffer.len();
        reader.consume(length);
        skipped += length as u64;
    }
}

fn read_csv(
    reader: Box<dyn BufRead + Send>,
    name: &Arc<str>,
    options: &ReadOptions,
    emit: &mut Emit,
) -> bool {
    let csv_reader = match CsvReader::new(reader, name.clone()) {
        Ok(reader) => reader,
        Err(error) => return emit(name, Payload::FileError(error), 0),
    };
    let mut batch = Vec::new();
    let mut batch_bytes = 0u64;
    for item in csv_reader {
        if let Err(error) = &item
            && error.kind == SkipKind::Unreadable
        {
            if !batch.is_empty()
                && !emit(
                    name,
                    Payload::Parsed(std::mem::take(&mut batch)),
                    batch_bytes,
                )
            {
                return false;
            }
            return emit(name, Payload::FileError(error.clone()), 0);
        }
        if let Ok(conversation) = &item {
            batch_bytes += conversation
                .turns
                .iter()
                .map(|t| t.text.len() as u64 + 16)
                .sum::<u64>();
        }
        batch.push(item);
        if batch_bytes >= options.chunk_bytes as u64 {
            if !emit(
                name,
                Payload::Parsed(std::mem::take(&mut batch)),
                batch_bytes,
            ) {
                return false;
            }
            batch_bytes = 0;
        }
    }
    batch.is_empty() || emit(name, Payload::Parsed(batch), batch_bytes)
}

/// Reads a one-conversation file whole and parses it with the reader of its format.
fn read_document(
    mut reader: Box<dyn BufRead + Send>,
    file: &InputFile,
    format: InputFormat,
    options: &ReadOptions,
    emit: &mut Emit,
) -> bool {
    let name = &file.display;
    let mut bytes = Vec::new();
    if let Err(err) = reader.read_to_end(&mut bytes) {
        return emit(name, Payload::FileError(read_error(name, 1, &err)), 0);
    }
    let cx = DocumentContext {
        file: name,
        default_id: &file.relative,
        agent_speakers: &options.agent_speakers,
    };
    let item = parse_document(format, &bytes, &cx);
    emit(name, Payload::Parsed(vec![item]), bytes.len() as u64)
}

/// Parses a whole file of a one-conversation format (the stream formats are not).
pub fn parse_document(
    format: InputFormat,
    bytes: &[u8],
    cx: &DocumentContext,
) -> Result<Conversation, ReadError> {
    match format {
        InputFormat::Script => script::parse_document(bytes, cx),
        InputFormat::Vtt => vtt::parse(bytes, cx),
        InputFormat::Transcribe => amazon::parse(bytes, cx, Flavor::CallAnalytics),
        InputFormat::ContactLens => amazon::parse(bytes, cx, Flavor::ContactLens),
        InputFormat::Pca => pca::parse(bytes, cx),
        InputFormat::Ccai => ccai::parse(bytes, cx),
        InputFormat::Jsonl | InputFormat::Csv => Err(cx.invalid(
            0,
            format!("{} is not a one-conversation format", format.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jsonl_file(dir: &Path, name: &str, text: &[u8]) -> InputFile {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        input_file(&path, name.into(), None, None)
    }

    /// Reads every conversation id and error line, in order.
    fn read_all(files: &[InputFile], chunk_bytes: usize) -> (Vec<String>, Vec<String>) {
        let options = ReadOptions {
            chunk_bytes,
            ..ReadOptions::default()
        };
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        read_chunks(files, &options, |chunk| {
            if let Payload::FileError(err) = &chunk.payload {
                errors.push(format!("{}:{}", err.source.line, err.kind.key()));
            }
            chunk.for_each_conversation(|item| match item {
                Ok(c) => ids.push(format!("{}@{}", c.id, c.source.line)),
                Err(e) => errors.push(format!("{}:{}", e.source.line, e.kind.key())),
            });
            true
        });
        (ids, errors)
    }

    #[test]
    fn chunks_keep_line_numbers_whatever_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        text.extend_from_slice(b"\xEF\xBB\xBF");
        for i in 1..=20 {
            if i == 7 {
                text.extend_from_slice(b"not json\r\n");
            } else if i == 9 {
                text.extend_from_slice(b"\n");
            } else {
                text.extend_from_slice(format!("{{\"id\":\"c{i}\",\"turns\":[]}}\r\n").as_bytes());
            }
        }
        let file = jsonl_file(dir.path(), "a.jsonl", &text);
        let expected = read_all(std::slice::from_ref(&file), 1 << 20);
        assert_eq!(expected.0.len(), 18);
        assert_eq!(expected.0[0], "c1@1");
        assert_eq!(expected.1, vec!["7:malformed"]);
        for chunk_bytes in [1, 7, 30, 64, 100] {
            assert_eq!(
                read_all(std::slice::from_ref(&file), chunk_bytes),
                expected,
                "chunk {chunk_bytes}"
            );
        }
    }

    #[test]
    fn gzip_and_truncated_gzip() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        for i in 1..=200 {
            writeln!(encoder, "{{\"id\":\"c{i}\",\"turns\":[{{\"speaker\":\"agent\",\"text\":\"hello number {i}\"}}]}}").unwrap();
        }
        let compressed = encoder.finish().unwrap();
        let whole = jsonl_file(dir.path(), "whole.jsonl.gz", &compressed);
        let (ids, errors) = read_all(&[whole], 1 << 20);
        assert_eq!((ids.len(), errors.len()), (200, 0));
        let cut = jsonl_file(
            dir.path(),
            "cut.jsonl.gz",
            &compressed[..compressed.len() / 2],
        );
        let (ids, errors) = read_all(&[cut], 256);
        assert!(ids.len() < 200);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].ends_with(":unreadable"), "{errors:?}");
    }

    #[test]
    fn json_files_are_told_apart_by_their_top_level_keys() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&str, &str, InputFormat); 8] = [
            (
                "a.json",
                "{\"id\":\"c1\",\"turns\":[]}\n{\"id\":\"c2\",\"turns\":[]}\n",
                InputFormat::Jsonl,
            ),
            (
                "b.json",
                "{\"SpeechSegments\":[],\"ConversationAnalytics\":{}}",
                InputFormat::Pca,
            ),
            ("c.json", "\u{feff}{\"entries\":[]}", InputFormat::Ccai),
            (
                "d.json",
                "{\"Participants\":[],\"Transcript\":[]}",
                InputFormat::ContactLens,
            ),
            (
                "e.json",
                "{\"JobName\":\"j\",\"Participants\":[],\"Transcript\":[]}",
                InputFormat::Transcribe,
            ),
            ("f.json", "{\"Transcript\":[]}", InputFormat::Transcribe),
            // A broken document spanning lines is still named by the keys it shows.
            (
                "g.json",
                "{\n\"SpeechSegments\": [\n{\"Segm",
                InputFormat::Pca,
            ),
            ("h.jsonl", "{\"entries\":[]}", InputFormat::Jsonl),
        ];
        for (name, text, expected) in cases {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            assert_eq!(detect(&path, None), expected, "{name}");
            assert_eq!(detect(&path, Some(InputFormat::Vtt)), InputFormat::Vtt);
        }
    }

    #[test]
    fn discovery_sorts_walks_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("b/.hidden")).unwrap();
        for name in [
            "b/z.jsonl",
            "b/a.csv.gz",
            "a.txt",
            "b/.hidden/x.jsonl",
            "b/.dot.jsonl",
            "b/readme.md",
        ] {
            std::fs::write(root.join(name), "").unwrap();
        }
        let found = discover(&[root.to_path_buf()], None);
        let relative: Vec<(&str, InputFormat, bool)> = found
            .files
            .iter()
            .map(|f| (f.relative.as_str(), f.format, f.gzip))
            .collect();
        assert_eq!(
            relative,
            vec![
                ("a.txt", InputFormat::Script, false),
                ("b/a.csv.gz", InputFormat::Csv, true),
                ("b/z.jsonl", InputFormat::Jsonl, false)
            ]
        );
        assert_eq!(found.ignored.len(), 1);
        let missing = discover(&[root.join("nope")], None);
        assert_eq!(missing.errors.len(), 1);
    }
}

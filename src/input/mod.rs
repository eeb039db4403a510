//! The input side: which files to read, in which format, cut into chunks of whole
//! conversations.
//!
//! [`discover`] turns the PATHs of the command line into a sorted list of [`InputFile`]s
//! (folders walked recursively, hidden entries skipped, symbolic links to folders not followed
//! so a link loop cannot trap the walk). `read_chunks` then reads them one after the other,
//! decompressing `.gz` on the fly, and hands out `Chunk`s: for JSON Lines a few MiB of whole
//! lines, so that one big file is parsed on every core; for formats that are parsed as a
//! stream (CSV) or as a whole (scripts, captions and the contact-center JSON exports, whose
//! `.json` files are told apart by the top-level keys of their first JSON value, see
//! [`detect`]), batches of conversations already parsed. Every chunk
//! carries its sequence number, so results can be merged in input order.
//!
//! Three parts: `formats` (the one table of formats: names, extensions, JSON keys, readers;
//! detection reads it), `walk` (discovery, opening, gzip and the size cap) and `chunk`
//! (cutting files into chunks, each format read by its reader).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

mod chunk;
mod formats;
mod walk;

pub(crate) use chunk::{Chunk, Payload, read_chunks};
pub use formats::{InputFormat, detect, parse_document};
pub use walk::{Discovery, discover};

/// One file to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// `None` for standard input.
    pub(crate) path: Option<PathBuf>,
    /// The name findings and messages use: the path as given or found, `-` for stdin.
    pub(crate) display: Arc<str>,
    /// The path relative to the folder it was found in (the file name for a named file): the
    /// conversation id of a one-conversation file that has none.
    pub(crate) relative: String,
    pub format: InputFormat,
    /// Whether the name ends in `.gz`, for `--verbose`; the bytes decide how a file is read.
    pub(crate) gzip: bool,
    /// Size on disk, when known (for the progress bar).
    pub size: Option<u64>,
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

/// Parses `123`, `64K`, `64M`, `8G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (digits, multiplier) = match text.chars().last() {
        Some('k' | 'K') => (&text[..text.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&text[..text.len() - 1], 1 << 20),
        Some('g' | 'G') => (&text[..text.len() - 1], 1 << 30),
        _ => (text, 1),
    };
    let value: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size such as 1048576, 64K, 64M or 8G"))?;
    match value.checked_mul(multiplier) {
        Some(bytes) if bytes > 0 => Ok(bytes),
        _ => Err(format!("{text:?} is not a size from 1 byte to 16E")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases = [
            ("100", Ok(100)),
            ("64K", Ok(65_536)),
            ("1m", Ok(1 << 20)),
            ("2G", Ok(2 << 30)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_size(text), expected, "{text}");
        }
        for bad in ["", "0", "12X", "-1", "99999999999G"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}

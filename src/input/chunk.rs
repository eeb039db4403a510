//! Cutting the files into chunks of whole conversations, each read by its format's reader.
//!
//! [`read_chunks`] reads the files one after the other and hands out [`Chunk`]s, each with its
//! sequence number so results can be merged in input order. What a chunk holds depends on the
//! reader of the file's format: for JSON Lines a few MiB of whole lines, so that one big file is
//! parsed on every core; for a stream format (CSV), batches of conversations already parsed;
//! for a one-conversation format, the one conversation its file holds.
//!
//! JSON lines are read straight into a chunk's buffer, which the worker gives back once the
//! chunk is audited ([`LineBuffer`]): past the first few chunks, reading a chunk allocates,
//! zeroes and copies nothing but the partial line it carries to the next. (6 MB corpus,
//! `audit -j1`, callgrind: the reader took 7.8 M instructions and a memset 4.7 M more; now
//! 1.9 M and none.)

use std::io::{self, BufRead, Read};
use std::sync::{Arc, Mutex};

use super::formats::{ParseDocument, Reader, StreamReader};
use super::walk::open;
use super::{InputFile, ReadOptions};
use crate::transcript::{Conversation, DocumentContext, ReadError, SkipKind, Source, jsonl};

/// What a chunk holds.
#[derive(Debug)]
pub(crate) enum Payload {
    /// Whole JSON lines; `first_line` is the 1-based line of the first. A line longer than
    /// `max_line_bytes` is skipped as too large.
    Lines {
        data: LineBuffer,
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
pub(crate) struct Chunk {
    pub(crate) seq: u64,
    pub(crate) file: Arc<str>,
    /// The file's path relative to the audited folder (see [`InputFile::relative`]), by which
    /// `--metadata` rows can name it.
    pub(crate) relative: Arc<str>,
    pub(crate) payload: Payload,
    /// Uncompressed bytes this chunk covers.
    pub(crate) bytes: u64,
}

impl Chunk {
    /// Calls `each` on every conversation (or read error) of the chunk, in order.
    pub(crate) fn for_each_conversation(
        self,
        mut each: impl FnMut(Result<Conversation, ReadError>),
    ) {
        match self.payload {
            Payload::Lines {
                data,
                first_line,
                max_line_bytes,
            } => {
                // memchr finds the newlines a vector at a time; the byte-at-a-time split cost
                // about 3 instructions a byte (callgrind), as much as a tenth of a run.
                let mut start = 0usize;
                let data = data.bytes();
                let ends = memchr::memchr_iter(b'\n', data).chain(std::iter::once(data.len()));
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

/// The bytes of a chunk of JSON lines: `filled` bytes read into a buffer that is all
/// initialized, so that it is read into again without a memset. Dropped (once its chunk is
/// audited), it goes back to its [`BufferPool`] for the reader to fill again.
pub(crate) struct LineBuffer {
    buffer: Vec<u8>,
    filled: usize,
    pool: BufferPool,
}

impl LineBuffer {
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.buffer[..self.filled]
    }
}

impl std::fmt::Debug for LineBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineBuffer")
            .field("filled", &self.filled)
            .finish_non_exhaustive()
    }
}

impl Drop for LineBuffer {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buffer));
    }
}

/// The chunk buffers of one [`read_chunks`] call that their chunks are done with. As many are
/// in use at once as chunks are in flight (a few per worker, the channels are bounded), so
/// the reader soon fills only buffers it filled before: no allocation, page faults or memset
/// per chunk. A buffer grown for a line longer than a chunk is freed, not kept.
#[derive(Clone)]
struct BufferPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
    /// Buffers larger than this are not kept.
    keep_up_to: usize,
}

/// At most this many free buffers are kept (more are never in flight at once).
const POOL_BUFFERS: usize = 64;

impl BufferPool {
    fn new(chunk_bytes: usize) -> BufferPool {
        BufferPool {
            free: Arc::default(),
            keep_up_to: chunk_bytes.saturating_mul(2),
        }
    }

    /// A buffer of at least `size` initialized bytes (and room for `carry`), holding `carry`
    /// at its start.
    fn take(&self, size: usize, carry: &[u8]) -> Vec<u8> {
        let size = size.max(carry.len());
        let reused = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut buffer = match reused {
            Some(buffer) => buffer,
            // Zeroed memory comes from the allocator without a memset where it can.
            None => vec![0; size],
        };
        if buffer.len() < size {
            buffer.resize(size, 0);
        }
        buffer[..carry.len()].copy_from_slice(carry);
        buffer
    }

    fn give_back(&self, buffer: Vec<u8>) {
        if buffer.is_empty() || buffer.len() > self.keep_up_to {
            return;
        }
        if let Ok(mut free) = self.free.lock()
            && free.len() < POOL_BUFFERS
        {
            free.push(buffer);
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

/// Reads every file in order and hands each chunk to `emit`; stops early when `emit` returns
/// false (the receiving side has gone).
pub(crate) fn read_chunks(
    files: &[InputFile],
    options: &ReadOptions,
    mut emit: impl FnMut(Chunk) -> bool,
) {
    let mut seq = 0u64;
    let pool = BufferPool::new(options.chunk_bytes);
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
        let mut reader = match open(file, options) {
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
        // A file with no bytes (once decompressed) holds no conversation, whatever its
        // format: nothing to read and nothing wrong with it, as an empty JSON Lines file.
        if reader.fill_buf().is_ok_and(|bytes| bytes.is_empty()) {
            continue;
        }
        let go_on = match file.format.reader() {
            Reader::Lines => read_jsonl(reader, &name, options, &pool, &mut next),
            Reader::Stream(stream) => read_stream(reader, &name, stream, options, &mut next),
            Reader::Document(parse) => read_document(reader, file, parse, options, &mut next),
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
    pool: &BufferPool,
    emit: &mut Emit,
) -> bool {
    let mut first_line = 1u64;
    // A UTF-8 byte order mark is not part of the first line.
    if let Ok(start) = reader.fill_buf()
        && start.starts_with(b"\xEF\xBB\xBF")
    {
        reader.consume(3);
    }
    // `buffer[..filled]` has been read: at the start of a round, the partial line carried
    // from the chunk before. Reads go straight into the buffer (the `BufReader` passes a
    // read as large as its own buffer through), which is initialized once, when allocated.
    let mut buffer = pool.take(options.chunk_bytes, &[]);
    let mut filled = 0;
    loop {
        let mut failure = None;
        // Fill the chunk to its target size; a carried line longer than a chunk (no newline
        // yet) makes the target grow, so that every round reads something.
        let target = if filled >= options.chunk_bytes {
            filled + options.chunk_bytes
        } else {
            options.chunk_bytes
        };
        if buffer.len() < target {
            buffer.resize(target, 0);
        }
        while filled < target {
            match reader.read(&mut buffer[filled..target]) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            }
        }
        let finished = filled < target || failure.is_some();
        // The chunk is `buffer[..end]`; the rest is carried to the next.
        let end = if !finished {
            // Keep the partial last line for the next chunk; a line longer than a chunk makes
            // the chunk grow until it ends.
            match memchr::memrchr(b'\n', &buffer[..filled]) {
                Some(last_newline) => last_newline + 1,
                None if filled as u64 > options.max_line_bytes => {
                    // An overlong line: drop it without holding it in memory, and report it.
                    let mut length = filled as u64;
                    buffer = pool.take(options.chunk_bytes, &[]);
                    filled = 0;
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
                None => continue,
            }
        } else if failure.is_some() {
            // What follows the last newline is a cut-off line: the error reports it.
            memchr::memrchr(b'\n', &buffer[..filled]).map_or(0, |last_newline| last_newline + 1)
        } else {
            filled
        };
        let lines = memchr::memchr_iter(b'\n', &buffer[..end]).count() as u64;
        let bytes = end as u64;
        let next = if finished {
            Vec::new()
        } else {
            pool.take(options.chunk_bytes, &buffer[end..filled])
        };
        let carried = filled - end;
        let payload = Payload::Lines {
            data: LineBuffer {
                buffer: std::mem::replace(&mut buffer, next),
                filled: end,
                pool: pool.clone(),
            },
            first_line,
            max_line_bytes: options.max_line_bytes,
        };
        filled = carried;
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

/// Reads a file of a stream format with its reader, in batches of about a chunk's bytes.
fn read_stream(
    reader: Box<dyn BufRead + Send>,
    name: &Arc<str>,
    stream: StreamReader,
    options: &ReadOptions,
    emit: &mut Emit,
) -> bool {
    let conversations = match stream(reader, name.clone()) {
        Ok(reader) => reader,
        Err(error) => return emit(name, Payload::FileError(error), 0),
    };
    let mut batch = Vec::new();
    let mut batch_bytes = 0u64;
    for item in conversations {
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
    parse: ParseDocument,
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
    let item = parse(&bytes, &cx);
    emit(name, Payload::Parsed(vec![item]), bytes.len() as u64)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::input::walk::input_file;

    fn jsonl_file(dir: &Path, name: &str, text: &[u8]) -> InputFile {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        input_file(&path, name.into(), None, None)
    }

    /// Reads every conversation id and error line, in order.
    fn read_all(files: &[InputFile], chunk_bytes: usize) -> (Vec<String>, Vec<String>) {
        read_with(
            files,
            &ReadOptions {
                chunk_bytes,
                ..ReadOptions::default()
            },
        )
    }

    fn read_with(files: &[InputFile], options: &ReadOptions) -> (Vec<String>, Vec<String>) {
        let mut ids = Vec::new();
        let mut errors = Vec::new();
        read_chunks(files, options, |chunk| {
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
    fn overlong_lines_are_skipped_whatever_the_chunk_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut text = Vec::new();
        for i in 1..=12 {
            let padding = if i % 4 == 2 {
                "x".repeat(150 + i * 10)
            } else {
                String::new()
            };
            text.extend_from_slice(
                format!("{{\"id\":\"c{i}\",\"p\":\"{padding}\",\"turns\":[]}}\n").as_bytes(),
            );
        }
        // The last line is overlong and has no newline.
        text.extend_from_slice(
            format!("{{\"id\":\"last\",\"p\":\"{}\"}}", "y".repeat(300)).as_bytes(),
        );
        let file = jsonl_file(dir.path(), "long.jsonl", &text);
        let read = |chunk_bytes| {
            let options = ReadOptions {
                chunk_bytes,
                max_line_bytes: 100,
                ..ReadOptions::default()
            };
            read_with(std::slice::from_ref(&file), &options)
        };
        let expected = read(1 << 20);
        assert_eq!(expected.0.len(), 9, "{expected:?}");
        assert_eq!(
            expected.1,
            ["2:too_large", "6:too_large", "10:too_large", "13:too_large"]
        );
        for chunk_bytes in [1, 5, 50, 99, 100, 101, 180, 400] {
            assert_eq!(read(chunk_bytes), expected, "chunk {chunk_bytes}");
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
}

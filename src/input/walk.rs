//! Finding the files to read, and opening them: the folder walk, gzip and the size cap.
//!
//! [`discover`] turns the PATHs of the command line into a sorted list of [`InputFile`]s
//! (folders walked recursively, hidden entries skipped, symbolic links to folders not followed
//! so a link loop cannot trap the walk; in a folder, only files whose name says a format are
//! taken, unless the format is forced). [`open`] gives a file's bytes, decompressed when it is
//! `.gz`, counted for the progress bar and cut off past `--max-file-bytes`. An `s3://` PATH is
//! a folder when it ends in `/` (its objects taken in key order, as a folder's files are) and
//! an object otherwise; its bytes come from `crate::remote`, and go the same way from there.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{InputFile, InputFormat, ReadOptions, detect};
use crate::transcript::{ReadError, SkipKind, Source};

/// What discovery found: the files, and the paths that could not be read.
#[derive(Debug, Default)]
pub struct Discovery {
    pub files: Vec<InputFile>,
    pub errors: Vec<ReadError>,
    /// How many of `errors` are paths named on the command line that cannot be read (a typo
    /// in a CI job): the run goes on, and then exits 2, as ripgrep does.
    pub named_unreadable: usize,
    /// Files in folders whose name says no format callqa reads.
    pub(crate) ignored: Vec<PathBuf>,
    /// Files named on the command line whose name says no format: read as JSON Lines.
    pub(crate) assumed: Vec<PathBuf>,
}

impl Discovery {
    /// How many files of each format were found, by the format's name.
    pub fn files_by_format(&self) -> std::collections::BTreeMap<&'static str, u64> {
        let mut counts = std::collections::BTreeMap::new();
        for file in &self.files {
            *counts.entry(file.format.name()).or_default() += 1;
        }
        counts
    }

    /// A line per file saying which format it is read as, then one per file ignored.
    pub fn format_lines(&self) -> Vec<String> {
        let read = self.files.iter().map(|file| {
            let gzip = if file.gzip { " (gzip)" } else { "" };
            format!("{}: {}{gzip}", file.display, file.format.name())
        });
        let ignored = self.ignored.iter().map(|path| {
            format!(
                "{}: ignored (no format callqa reads has this name)",
                path.display()
            )
        });
        read.chain(ignored).collect()
    }

    /// A line per file named on the command line whose name says no format: such a file is
    /// read as JSON Lines, and when it is something else every line of it fails, so the
    /// reason is said first.
    pub fn assumed_lines(&self) -> Vec<String> {
        self.assumed
            .iter()
            .map(|path| {
                format!(
                    "{}: its name says no format callqa reads; read as JSON Lines \
                     (--input-format names another)",
                    path.display()
                )
            })
            .collect()
    }

    /// The lines that report `problems` (all of them, or the first 20 with a line saying how
    /// many more there are).
    pub fn problem_lines(problems: &[ReadError], all: bool) -> Vec<String> {
        const SHOWN: usize = 20;
        let shown = if all {
            problems.len()
        } else {
            SHOWN.min(problems.len())
        };
        let mut lines: Vec<String> = problems[..shown].iter().map(ToString::to_string).collect();
        if shown < problems.len() {
            let more = problems.len() - shown;
            lines.push(format!(
                "… and {more} more problem{} (all of them with --verbose)",
                crate::wording::plural(more as u64)
            ));
        }
        lines
    }
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
        if let Some(url) = crate::remote::url(path) {
            discover_url(url, forced, &mut discovery);
            continue;
        }
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, path, forced, &mut discovery),
            Ok(meta) => {
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if forced.is_none() && InputFormat::from_file_name(&name).is_none() {
                    discovery.assumed.push(path.clone());
                }
                discovery
                    .files
                    .push(input_file(path, name, forced, Some(meta.len())));
            }
            Err(err) => {
                discovery.errors.push(path_error(path, &err));
                discovery.named_unreadable += 1;
            }
        }
    }
    discovery.files.sort_by(|a, b| a.display.cmp(&b.display));
    discovery.files.dedup_by(|a, b| a.display == b.display);
    discovery
}

/// An `s3://` PATH: a folder's objects (listed in key order, as a folder is walked), or one
/// object.
fn discover_url(url: &str, forced: Option<InputFormat>, discovery: &mut Discovery) {
    let path = Path::new(url);
    let named_error = |discovery: &mut Discovery, err: io::Error| {
        discovery.errors.push(path_error(path, &err));
        discovery.named_unreadable += 1;
    };
    if !crate::remote::is_folder(url) {
        match crate::remote::size(url) {
            Ok(size) => {
                let name = url.rsplit('/').next().unwrap_or(url).to_string();
                discovery
                    .files
                    .push(input_file(path, name, forced, Some(size)));
            }
            Err(err) => named_error(discovery, err),
        }
        return;
    }
    match crate::remote::list(url) {
        Ok(objects) => {
            for object in objects {
                let name = object.url.rsplit('/').next().unwrap_or_default();
                let path = PathBuf::from(&object.url);
                if forced.is_none() && InputFormat::from_file_name(name).is_none() {
                    discovery.ignored.push(path);
                    continue;
                }
                discovery.files.push(input_file(
                    &path,
                    object.relative,
                    forced,
                    Some(object.size),
                ));
            }
        }
        Err(err) => named_error(discovery, err),
    }
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

pub(super) fn input_file(
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

/// Gzip's first two bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// The bytes of `raw`, decompressed when they start with gzip's magic bytes, whatever the
/// name says: standard input has no name, and exports are misnamed. (A `.gz` name alone once
/// decided, and gzip piped in was read as 833 lines of malformed JSON.)
pub(super) fn decompressed<'a>(
    mut raw: impl Read + Send + 'a,
) -> io::Result<Box<dyn Read + Send + 'a>> {
    let mut head = [0u8; GZIP_MAGIC.len()];
    let mut len = 0;
    while len < head.len() {
        match raw.read(&mut head[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let gzip = head[..len] == GZIP_MAGIC;
    let whole = Prefixed {
        head,
        from: 0,
        len,
        inner: raw,
    };
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 << 10,
            whole,
        )))
    } else {
        Box::new(whole)
    })
}

/// A reader's first bytes, already read to look at them, given back before the rest: in the
/// same read where there is room, so that a buffer above fills as far as it would have (the
/// JSON Lines reader looks for a byte order mark in its first fill).
struct Prefixed<R> {
    head: [u8; GZIP_MAGIC.len()],
    from: usize,
    len: usize,
    inner: R,
}

impl<R: Read> Read for Prefixed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.from == self.len {
            return self.inner.read(buf);
        }
        let n = (self.len - self.from).min(buf.len());
        buf[..n].copy_from_slice(&self.head[self.from..self.from + n]);
        self.from += n;
        if self.from < self.len || n == buf.len() {
            return Ok(n);
        }
        // An error here is met again by the next read, which goes to `inner` alone.
        Ok(n + self.inner.read(&mut buf[n..]).unwrap_or(0))
    }
}

/// The bytes of a file, or of an object when `path` is an `s3://` URL, as they are stored.
pub(super) fn open_raw(path: &Path) -> io::Result<Box<dyn Read + Send>> {
    Ok(match crate::remote::url(path) {
        Some(url) => Box::new(crate::remote::open(url)?),
        None => Box::new(File::open(path)?),
    })
}

/// Opens a file for reading: its bytes, decompressed if it is gzip ([`decompressed`]).
pub(super) fn open(file: &InputFile, options: &ReadOptions) -> io::Result<Box<dyn BufRead + Send>> {
    let counter = &options.bytes_read;
    let raw: Box<dyn Read + Send> = match &file.path {
        Some(path) => open_raw(path)?,
        None => Box::new(io::stdin()),
    };
    let counted = CountingReader {
        inner: raw,
        counter: counter.clone(),
    };
    let limited = LimitReader {
        inner: decompressed(counted)?,
        limit: options.max_file_bytes,
        seen: 0,
    };
    Ok(Box::new(BufReader::with_capacity(256 << 10, limited)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_is_known_by_its_magic_bytes() {
        let text = b"\xEF\xBB\xBF{\"id\":\"c\"}\n".to_vec();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut encoder, &text).unwrap();
        let compressed = encoder.finish().unwrap();
        for (input, first_fill) in [(&text, text.len()), (&compressed, text.len())] {
            let mut reader = BufReader::new(decompressed(input.as_slice()).unwrap());
            assert_eq!(reader.fill_buf().unwrap().len(), first_fill, "one fill");
            let mut read = Vec::new();
            reader.read_to_end(&mut read).unwrap();
            assert_eq!(read, text);
        }
        for short in [&b""[..], b"\x1f"] {
            let mut read = Vec::new();
            decompressed(short).unwrap().read_to_end(&mut read).unwrap();
            assert_eq!(read, short);
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
        let missing = discover(&[root.join("nope"), root.join("b")], None);
        assert_eq!(missing.errors.len(), 1);
        assert_eq!(missing.named_unreadable, 1);
        assert_eq!(missing.files.len(), 2);
    }
}

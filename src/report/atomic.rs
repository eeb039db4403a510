//! Writing the report folder whole or not at all.
//!
//! The files of a run are written into a staging folder beside the target
//! (`.NAME.callqa-new-PID`), flushed to disk, and then the staging folder takes the target's
//! place by rename: the previous report is first renamed aside (`.NAME.callqa-old-PID`) and
//! removed once the new one is in place. A run killed at any moment therefore leaves the
//! previous report or none at that path, never a partial file and never files of two runs side
//! by side; leftovers of a killed run are removed by the next one.
//!
//! Because the whole folder is replaced, callqa refuses a target folder that holds files it did
//! not write, and a target that is a file; both are left as they are.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::thread::JoinHandle;

/// Every file name a report folder may hold (later features add to the report).
pub(crate) const REPORT_FILES: &[&str] = &[
    "scorecards.csv",
    "findings.csv",
    "summary.json",
    "promises.csv",
    "teams.csv",
    "report.html",
];

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{dir} holds {found:?}, which callqa did not write; the report replaces the whole folder, so give -o a new or empty folder (or one callqa wrote)"
    )]
    ForeignFiles { dir: PathBuf, found: String },
    #[error(
        "{0} is a file, not a folder; -o names the folder the report is written into (left as it is)"
    )]
    NotAFolder(PathBuf),
}

fn io_at(path: &Path) -> impl Fn(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `bytes` to the file `path` through a temporary file beside it, so a killed run
/// leaves the old file or the new one, never half of one.
pub fn write_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut temporary = tempfile::Builder::new()
        .prefix(".callqa-")
        .tempfile_in(dir)?;
    io::Write::write_all(&mut temporary, bytes)?;
    temporary.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// Writes `files` (name, contents) as the folder `dir`, replacing what was there.
pub fn write_report_dir(dir: &Path, files: &[(&str, Vec<u8>)]) -> Result<(), WriteError> {
    let staging = Staging::new(dir)?;
    for (file_name, contents) in files {
        staging.write(file_name, contents)?;
    }
    staging.commit()
}

/// A report folder being written: files go into the staging folder, and [`Staging::commit`]
/// puts it in the target's place. Dropped without a commit, it removes what it wrote, so
/// the target keeps the previous report.
#[derive(Debug)]
pub(crate) struct Staging {
    dir: PathBuf,
    parent: PathBuf,
    name: String,
    staging: PathBuf,
    committed: bool,
    /// Files being flushed to disk, each on a thread of its own, with their paths: a flush
    /// waits for the disk, not for a core, so the next file is made meanwhile (a 128 MB
    /// `findings.csv` took about 40 ms to flush, the page as long to make). [`Staging::commit`]
    /// waits for every one before the rename.
    flushing: Mutex<Vec<(PathBuf, JoinHandle<io::Result<()>>)>>,
}

impl Staging {
    /// Checks the target `dir` (callqa's files only), removes leftovers of killed runs and
    /// creates the staging folder.
    pub(crate) fn new(dir: &Path) -> Result<Staging, WriteError> {
        let dir = absolute(dir).map_err(io_at(dir))?;
        let parent = dir.parent().unwrap_or(Path::new("/")).to_path_buf();
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "report".into());
        check_target(&dir)?;
        fs::create_dir_all(&parent).map_err(io_at(&parent))?;
        remove_leftovers(&parent, &name);
        let staging = parent.join(format!(".{name}.callqa-new-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir(&staging).map_err(io_at(&staging))?;
        Ok(Staging {
            dir,
            parent,
            name,
            staging,
            committed: false,
            flushing: Mutex::new(Vec::new()),
        })
    }

    /// Where the staged file `file_name` is written (for messages).
    pub(crate) fn path(&self, file_name: &str) -> PathBuf {
        self.staging.join(file_name)
    }

    /// Creates the staged file `file_name`, for writing in pieces; [`Staging::sync`] it when
    /// done.
    pub(crate) fn create(&self, file_name: &str) -> Result<fs::File, WriteError> {
        let path = self.path(file_name);
        fs::File::create(&path).map_err(io_at(&path))
    }

    /// Flushes a file made by [`Staging::create`] to disk, on a thread of its own;
    /// [`Staging::commit`] waits for it and reports its failure.
    pub(crate) fn sync(&self, file_name: &str, file: fs::File) -> Result<(), WriteError> {
        let path = self.path(file_name);
        let flush = std::thread::Builder::new()
            .name("callqa-flush".into())
            .spawn(move || file.sync_all())
            .map_err(io_at(&path))?;
        self.flushing
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((path, flush));
        Ok(())
    }

    /// Waits for every file [`Staging::sync`] flushes; the first failure, with its path.
    fn wait_for_flushes(&self) -> Result<(), WriteError> {
        let flushing =
            std::mem::take(&mut *self.flushing.lock().unwrap_or_else(PoisonError::into_inner));
        let mut first_error = None;
        for (path, flush) in flushing {
            let flushed = flush
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            if let Err(source) = flushed {
                first_error.get_or_insert(WriteError::Io { path, source });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Writes the staged file `file_name` as `write` makes it, through a buffer, and syncs it.
    pub(crate) fn write_with(
        &self,
        file_name: &str,
        write: impl FnOnce(&mut io::BufWriter<fs::File>) -> io::Result<()>,
    ) -> Result<(), WriteError> {
        let path = self.path(file_name);
        let mut out = io::BufWriter::with_capacity(256 << 10, self.create(file_name)?);
        write(&mut out).map_err(io_at(&path))?;
        let file = out
            .into_inner()
            .map_err(|err| err.into_error())
            .map_err(io_at(&path))?;
        self.sync(file_name, file)
    }

    /// Writes the staged file `file_name` whole.
    pub(crate) fn write(&self, file_name: &str, contents: &[u8]) -> Result<(), WriteError> {
        let path = self.path(file_name);
        let mut file = self.create(file_name)?;
        file.write_all(contents).map_err(io_at(&path))?;
        self.sync(file_name, file)
    }

    /// Puts the staging folder in the target's place.
    pub(crate) fn commit(mut self) -> Result<(), WriteError> {
        self.wait_for_flushes()?;
        let (dir, parent, staging) = (&self.dir, &self.parent, &self.staging);
        if dir.exists() {
            let old = parent.join(format!(".{}.callqa-old-{}", self.name, std::process::id()));
            fs::rename(dir, &old).map_err(io_at(dir))?;
            fs::rename(staging, dir).map_err(io_at(dir))?;
            remove_any(&old);
        } else {
            fs::rename(staging, dir).map_err(io_at(dir))?;
        }
        self.committed = true;
        // Make the renames durable where the platform allows it.
        if let Ok(parent_dir) = fs::File::open(parent) {
            let _ = parent_dir.sync_all();
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

fn absolute(path: &Path) -> io::Result<PathBuf> {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()?.join(path)
    };
    // Resolve `.` and `..` so that the folder has a name and a parent.
    let mut clean = PathBuf::new();
    for part in joined.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    Ok(clean)
}

/// Whether `dir` can take a report: a folder that does not exist yet, or one that holds only
/// callqa's files. Anything else there (a file, a folder of someone else's) is refused and
/// left as it is. Asked before a run reads anything, and again when the report is written.
pub fn check_target(dir: &Path) -> Result<(), WriteError> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => check_only_report_files(dir),
        Ok(_) => Err(WriteError::NotAFolder(dir.to_path_buf())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(WriteError::Io {
            path: dir.to_path_buf(),
            source: err,
        }),
    }
}

/// Removes `path`, a folder with what it holds or a file, if it is there.
fn remove_any(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            let _ = fs::remove_dir_all(path);
        }
        Ok(_) => {
            let _ = fs::remove_file(path);
        }
        Err(_) => {}
    }
}

fn check_only_report_files(dir: &Path) -> Result<(), WriteError> {
    let entries = fs::read_dir(dir).map_err(io_at(dir))?;
    for entry in entries {
        let entry = entry.map_err(io_at(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !REPORT_FILES.contains(&name.as_str()) {
            return Err(WriteError::ForeignFiles {
                dir: dir.to_path_buf(),
                found: name,
            });
        }
    }
    Ok(())
}

/// Removes the staging and set-aside folders of earlier runs that were killed.
fn remove_leftovers(parent: &Path, name: &str) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    let new_prefix = format!(".{name}.callqa-new-");
    let old_prefix = format!(".{name}.callqa-old-");
    for entry in entries.flatten() {
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        if entry_name.starts_with(&new_prefix) || entry_name.starts_with(&old_prefix) {
            remove_any(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_whole_folder() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_report_dir(
            &out,
            &[
                ("findings.csv", b"a".to_vec()),
                ("summary.json", b"{}".to_vec()),
            ],
        )
        .unwrap();
        write_report_dir(&out, &[("findings.csv", b"b".to_vec())]).unwrap();
        assert_eq!(fs::read(out.join("findings.csv")).unwrap(), b"b");
        assert!(
            !out.join("summary.json").exists(),
            "files of two runs side by side"
        );
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["out"]);
    }

    #[test]
    fn refuses_a_folder_with_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = write_report_dir(dir.path(), &[("findings.csv", Vec::new())]).unwrap_err();
        assert!(err.to_string().contains("notes.txt"), "{err}");
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn a_staging_folder_dropped_uncommitted_leaves_the_previous_report() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_report_dir(&out, &[("findings.csv", b"old".to_vec())]).unwrap();
        let staging = Staging::new(&out).unwrap();
        staging.write("findings.csv", b"half").unwrap();
        drop(staging);
        assert_eq!(fs::read(out.join("findings.csv")).unwrap(), b"old");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["out"]);
    }

    #[test]
    fn refuses_a_file_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("out");
        fs::write(&file, "mine").unwrap();
        let err = write_report_dir(&file, &[("findings.csv", Vec::new())]).unwrap_err();
        assert!(matches!(err, WriteError::NotAFolder(_)), "{err}");
        assert_eq!(fs::read(&file).unwrap(), b"mine");
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["out"]);
    }

    #[test]
    fn cleans_leftovers_of_killed_runs() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".out.callqa-new-1")).unwrap();
        fs::create_dir(dir.path().join(".out.callqa-old-2")).unwrap();
        // What an earlier callqa left when it set a file aside.
        fs::write(dir.path().join(".out.callqa-old-3"), "old").unwrap();
        write_report_dir(&dir.path().join("out"), &[("findings.csv", Vec::new())]).unwrap();
        assert!(!dir.path().join(".out.callqa-new-1").exists());
        assert!(!dir.path().join(".out.callqa-old-2").exists());
        assert!(!dir.path().join(".out.callqa-old-3").exists());
    }
}

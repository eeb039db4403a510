//! What the integration tests share: the package root, the binary run in it, and the one
//! bless switch. `CALLQA_BLESS=1 cargo test` rewrites every expected file a test compares
//! with (and, through `tests/cmd.rs`, the command cases) instead of failing; review the diff.
//!
//! Each test file declares `mod common;` and uses the part it needs.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The package root. The binary runs here, so the paths it prints read `fixtures/…`.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The callqa binary, to run in the package root with colour off and standard input empty.
pub fn command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_callqa"));
    command
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// The callqa binary as [`command`] runs it, started by a shell that first runs `limit` (a
/// `ulimit` command lowering its limit on open files), then becomes callqa.
pub fn command_under(limit: &str) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", &format!("{limit} && exec \"$0\" \"$@\"")])
        .arg(env!("CARGO_BIN_EXE_callqa"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    command
}

/// Every file a report folder holds.
pub const REPORT_FILES: [&str; 6] = [
    "scorecards.csv",
    "findings.csv",
    "summary.json",
    "promises.csv",
    "teams.csv",
    "report.html",
];

/// Runs callqa with `args` and returns what it printed and its exit status.
pub fn callqa(args: &[&str]) -> Output {
    command()
        .args(args)
        .output()
        .expect("the callqa binary runs")
}

/// Runs callqa with `args`, writing `input` to its standard input.
pub fn callqa_with_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = command()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the callqa binary runs");
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

pub fn code(output: &Output) -> i32 {
    output.status.code().expect("exited with a code")
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Whether this run rewrites the expected files (`CALLQA_BLESS` set) instead of checking them.
pub fn blessing() -> bool {
    std::env::var_os("CALLQA_BLESS").is_some()
}

/// Compares `actual` with the file at `path` byte for byte, or writes it there when blessing.
pub fn assert_file(path: &Path, actual: &[u8]) {
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(path)
        .unwrap_or_else(|err| panic!("{}: {err} (bless with CALLQA_BLESS=1)", path.display()));
    if expected != actual {
        panic!(
            "{} differs from the output (bless with CALLQA_BLESS=1):\n--- expected\n{}\n--- actual\n{}",
            path.display(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(actual)
        );
    }
}

/// [`assert_file`] on `tests/expected/NAME`.
pub fn assert_expected(name: &str, actual: &[u8]) {
    assert_file(&root().join("tests/expected").join(name), actual);
}

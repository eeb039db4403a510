//! A run that is killed or interrupted leaves the previous report or none: never a partial
//! file, never files of two runs side by side. Ctrl-C (SIGINT) ends with a message and exit 130.
#![cfg(unix)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const REPORT_FILES: [&str; 6] = [
    "findings.csv",
    "promises.csv",
    "report.html",
    "scorecards.csv",
    "summary.json",
    "teams.csv",
];

fn callqa() -> Command {
    let mut command = common::command();
    command.stdout(Stdio::null()).stderr(Stdio::piped());
    command
}

/// A JSON Lines input big enough that auditing it takes a while.
fn big_input(dir: &Path) -> PathBuf {
    let path = dir.join("big.jsonl");
    let mut text = String::with_capacity(48 << 20);
    for i in 0..120_000 {
        text.push_str(&format!(
            "{{\"id\":\"k-{i}\",\"agent_id\":\"a-{}\",\"turns\":[{{\"speaker\":\"customer\",\"text\":\"this is ridiculous, I have been waiting for my refund for three weeks and nobody calls back\",\"start_ms\":0,\"end_ms\":5000}},{{\"speaker\":\"agent\",\"text\":\"calm down, you should have read the terms, anyway thanks for reaching out and have a nice day\",\"start_ms\":3000,\"end_ms\":9000}}]}}\n",
            i % 50
        ));
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes a first, small report and returns its files' bytes.
fn previous_report(report: &Path) -> Vec<Vec<u8>> {
    let status = callqa()
        .args(["audit", "fixtures/demo", "-q", "-o"])
        .arg(report)
        .status()
        .unwrap();
    assert!(status.success());
    REPORT_FILES
        .iter()
        .map(|name| std::fs::read(report.join(name)).unwrap())
        .collect()
}

fn start_audit(input: &Path, report: &Path) -> Child {
    callqa()
        .args(["audit", "-q", "-j", "2", "-o"])
        .arg(report)
        .arg(input)
        .spawn()
        .unwrap()
}

/// The report folder holds the previous report, or a whole new one, or nothing.
fn assert_whole(report: &Path, previous: &[Vec<u8>], conversations: u64) -> &'static str {
    if !report.exists() {
        return "none";
    }
    let mut names: Vec<String> = std::fs::read_dir(report)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, REPORT_FILES, "exactly one run's files");
    let current: Vec<Vec<u8>> = REPORT_FILES
        .iter()
        .map(|name| std::fs::read(report.join(name)).unwrap())
        .collect();
    if current == previous {
        return "previous";
    }
    let summary: serde_json::Value = serde_json::from_slice(&current[4]).expect("a whole summary");
    assert_eq!(
        summary["conversations"]["read"], conversations,
        "a whole new report"
    );
    // Every conversation of the input is alike: as many findings each, all of them written.
    let total = summary["findings"].as_u64().expect("a count of findings");
    assert!(
        total > 0 && total.is_multiple_of(conversations),
        "{total} findings"
    );
    let findings = String::from_utf8(current[0].clone()).unwrap();
    assert_eq!(
        findings.lines().count() as u64,
        1 + total,
        "every finding row"
    );
    "new"
}

#[test]
fn sigkill_at_any_moment_leaves_a_whole_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = big_input(dir.path());
    let report = dir.path().join("report");
    let mut outcomes = Vec::new();
    for delay_ms in [0, 30, 100, 300, 700, 1500, 3000] {
        let previous = previous_report(&report);
        let mut child = start_audit(&input, &report);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        outcomes.push(assert_whole(&report, &previous, 120_000));
    }
    // The next run cleans up what the killed ones left beside the report.
    previous_report(&report);
    let leftovers: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".callqa-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(outcomes.contains(&"previous"), "{outcomes:?}");
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let input = big_input(dir.path());
    let report = dir.path().join("report");
    let previous = previous_report(&report);
    let child = start_audit(&input, &report);
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("callqa: interrupted; no report written"),
        "{stderr}"
    );
    assert_eq!(assert_whole(&report, &previous, 120_000), "previous");
}

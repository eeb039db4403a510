//! Bad input through the real binary: every fault is reported as FILE:LINE with what is wrong,
//! counted in the summary, and the run goes on (or exits 3 under `--strict`). Every test
//! checks the invariant "read = audited + skipped".

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::root;

struct Run {
    output: Output,
    summary: Option<serde_json::Value>,
}

impl Run {
    fn code(&self) -> i32 {
        self.output.status.code().expect("exited with a code")
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn summary(&self) -> &serde_json::Value {
        self.summary.as_ref().expect("a report was written")
    }

    /// (read, audited, skipped), after checking read = audited + skipped.
    fn counts(&self) -> (u64, u64, u64) {
        let conversations = &self.summary()["conversations"];
        let read = conversations["read"].as_u64().unwrap();
        let audited = conversations["audited"].as_u64().unwrap();
        let skipped = conversations["skipped"].as_u64().unwrap();
        assert_eq!(read, audited + skipped, "read = audited + skipped");
        let by_reason: u64 = conversations["skipped_by_reason"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(skipped, by_reason, "skips add up by reason");
        (read, audited, skipped)
    }

    fn skipped(&self, reason: &str) -> u64 {
        self.summary()["conversations"]["skipped_by_reason"][reason]
            .as_u64()
            .unwrap()
    }

    fn assert_stderr_has(&self, needles: &[&str]) {
        let err = self.stderr();
        for needle in needles {
            assert!(err.contains(needle), "stderr lacks {needle:?}:\n{err}");
        }
    }
}

/// Audits `paths` (relative to the project root) into a fresh report folder.
fn audit(paths: &[&Path], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let output = common::command()
        .arg("audit")
        .args(paths)
        .arg("-o")
        .arg(&report)
        .args(["--verbose"])
        .args(extra)
        .output()
        .unwrap();
    let summary = std::fs::read(report.join("summary.json"))
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    Run { output, summary }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from("fixtures/bad").join(name)
}

#[test]
fn malformed_lines() {
    let run = audit(&[&fixture("malformed.jsonl")], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (6, 1, 5));
    assert_eq!(run.skipped("malformed"), 1);
    assert_eq!(run.skipped("invalid"), 2);
    run.assert_stderr_has(&[
        "fixtures/bad/malformed.jsonl:2: malformed JSON: EOF while parsing a string",
    ]);
}

#[test]
fn truncated_gzip() {
    let run = audit(&[&fixture("truncated.jsonl.gz")], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let (read, audited, _) = run.counts();
    assert!(
        read > 0 && read < 40,
        "some whole lines were read before the cut: {read}"
    );
    assert_eq!(read, audited);
    assert_eq!(run.summary()["files"]["unreadable"], 1);
    run.assert_stderr_has(&[&format!(
        "fixtures/bad/truncated.jsonl.gz:{}: read error after line {read}:",
        read + 1
    )]);
}

#[test]
fn invalid_utf8() {
    let run = audit(&[&fixture("invalid-utf8.jsonl")], &[]);
    assert_eq!(run.counts(), (3, 2, 1));
    assert_eq!(run.skipped("malformed"), 1);
    run.assert_stderr_has(&["fixtures/bad/invalid-utf8.jsonl:2: malformed JSON: invalid unicode"]);
}

/// A CSV row that is not UTF-8 costs its own conversation only (issue 20, item 4): once, the
/// conversation before it was skipped in its place and its own audited without the row.
#[test]
fn invalid_utf8_in_a_csv_row_skips_its_own_conversation() {
    let run = audit(&[&fixture("invalid-utf8.csv")], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (5, 3, 2));
    assert_eq!(run.skipped("malformed"), 2);
    run.assert_stderr_has(&[
        "fixtures/bad/invalid-utf8.csv:4: conversation \"u2\": field 3 is not UTF-8",
        "fixtures/bad/invalid-utf8.csv:7: conversation \"u\u{fffd}4\": field 1 is not UTF-8",
    ]);
    for id in ["u1", "u3", "u5"] {
        let shown = common::callqa(&["explain", "fixtures/bad/invalid-utf8.csv", "--id", id]);
        assert_eq!(common::code(&shown), 0, "{id}: {}", common::stderr(&shown));
    }
}

#[test]
fn byte_order_mark_and_crlf_read_fine() {
    let run = audit(&[&fixture("bom-crlf.jsonl")], &[]);
    assert_eq!(run.counts(), (2, 2, 0));
    assert_eq!(run.summary()["findings"], 0);
}

/// A file with no bytes holds no conversation, whatever its format: not an unreadable file.
#[test]
fn an_empty_file_is_nothing_to_audit() {
    for name in ["empty.jsonl", "empty.csv"] {
        let run = audit(&[&fixture(name)], &[]);
        assert_eq!(run.code(), 3);
        assert!(
            run.summary.is_none(),
            "no report for a run that read nothing"
        );
        run.assert_stderr_has(&[
            "no conversation could be read",
            "0 conversations read from 1 file: 0 audited, 0 skipped\n",
        ]);
    }
}

#[test]
fn negative_and_reversed_timings() {
    let run = audit(&[&fixture("timings.jsonl")], &[]);
    assert_eq!(run.counts(), (3, 1, 2));
    assert_eq!(run.skipped("invalid"), 2);
    run.assert_stderr_has(&[
        "fixtures/bad/timings.jsonl:1: invalid conversation: conversation \"t-negative\", turn 1: start_ms -5 is negative",
        "fixtures/bad/timings.jsonl:2: invalid conversation: conversation \"t-reversed\", turn 2: end_ms 1500 is before start_ms 2000",
    ]);
}

/// A turn whose offset overflows when added to `started_at`, or that lasts over 24 hours,
/// is invalid; a thread whose turns are days apart is fine (issue 20).
#[test]
fn timings_past_any_date_or_a_day_long() {
    let run = audit(&[&fixture("huge-timings.jsonl")], &[]);
    assert_eq!(run.counts(), (3, 1, 2));
    assert_eq!(run.skipped("invalid"), 2);
    run.assert_stderr_has(&[
        "fixtures/bad/huge-timings.jsonl:1: invalid conversation: conversation \"h-overflow\", turn 2: start_ms 9223372036854775000 added to started_at is past any date",
        "fixtures/bad/huge-timings.jsonl:2: invalid conversation: conversation \"h-long-turn\", turn 1: the turn lasts 90000000 ms (end_ms 90000000 - start_ms 0), over a day",
    ]);
}

#[test]
fn ragged_csv_rows() {
    let run = audit(&[&fixture("ragged.csv")], &[]);
    assert_eq!(run.counts(), (3, 1, 2));
    run.assert_stderr_has(&[
        "fixtures/bad/ragged.csv:3: conversation \"r1\": the row has 2 fields, the header 4 columns",
        "fixtures/bad/ragged.csv:5: conversation \"r3\": the row has 6 fields, the header 4 columns",
    ]);
}

/// A CSV file with CRLF line ends: each message names the line its row starts on, after a
/// quoted field that spans two lines too (issue 20: they were one too low).
#[test]
fn crlf_csv_lines_are_counted_right() {
    let run = audit(&[&fixture("crlf.csv")], &[]);
    assert_eq!(run.counts(), (4, 2, 2));
    run.assert_stderr_has(&[
        "fixtures/bad/crlf.csv:5: conversation \"c2\": the row has 2 fields, the header 3 columns",
        "fixtures/bad/crlf.csv:6: conversation \"c3\": the row has 4 fields, the header 3 columns",
    ]);
}

#[test]
fn csv_without_the_required_columns() {
    let run = audit(
        &[&fixture("missing-columns.csv"), &fixture("bom-crlf.jsonl")],
        &[],
    );
    assert_eq!(run.code(), 0);
    assert_eq!(run.counts(), (2, 2, 0));
    assert_eq!(run.summary()["files"]["unreadable"], 1);
    run.assert_stderr_has(&["fixtures/bad/missing-columns.csv:1: the header lacks the required column `conversation_id`"]);
}

#[test]
fn duplicate_ids_within_and_across_files() {
    let run = audit(&[&fixture("dup-b.jsonl"), &fixture("dup-a.jsonl")], &[]);
    assert_eq!(run.counts(), (5, 3, 2));
    assert_eq!(run.skipped("duplicate_id"), 2);
    run.assert_stderr_has(&[
        "fixtures/bad/dup-a.jsonl:3: duplicate conversation id \"dup-1\": already read at fixtures/bad/dup-a.jsonl:1; skipped",
        "fixtures/bad/dup-b.jsonl:1: duplicate conversation id \"dup-2\": already read at fixtures/bad/dup-a.jsonl:2; skipped",
    ]);
}

#[test]
fn a_100_mb_line_is_skipped_without_sinking_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.jsonl");
    let small = |id: &str| {
        format!("{{\"id\":\"{id}\",\"turns\":[{{\"speaker\":\"agent\",\"text\":\"hello\"}}]}}\n")
    };
    let mut text = small("before");
    text.push_str("{\"id\":\"huge\",\"turns\":[{\"speaker\":\"agent\",\"text\":\"");
    text.push_str(&"a".repeat(100 << 20));
    text.push_str("\"}]}\n");
    text.push_str(&small("after"));
    std::fs::write(&path, text).unwrap();
    let run = audit(&[&path], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (3, 2, 1));
    assert_eq!(run.skipped("too_large"), 1);
    run.assert_stderr_has(&[&format!(
        "{}:2: line of 104857653 bytes is longer than --max-line-bytes (67108864); skipped",
        path.display()
    )]);
}

#[test]
fn configurable_line_and_file_caps() {
    let lines = audit(&[&fixture("dup-a.jsonl")], &["--max-line-bytes", "100"]);
    assert_eq!(lines.code(), 3, "nothing was audited");
    lines.assert_stderr_has(&[
        "fixtures/bad/dup-a.jsonl:3: line of 152 bytes is longer than --max-line-bytes (100); skipped",
        "3 conversations read from 1 file: 0 audited, 3 skipped (too_large 3)",
    ]);
    let files = audit(
        &[&fixture("bom-crlf.jsonl"), &fixture("dup-a.jsonl")],
        &["--max-file-bytes", "400"],
    );
    assert_eq!(files.code(), 0, "{}", files.stderr());
    assert_eq!(
        files.counts(),
        (4, 4, 0),
        "the lines before the cap are audited"
    );
    assert_eq!(files.summary()["files"]["unreadable"], 1);
    files.assert_stderr_has(&["fixtures/bad/dup-a.jsonl:3: read error after line 2: the file is larger than --max-file-bytes (400 bytes)"]);
}

#[cfg(unix)]
#[test]
fn links_that_loop_or_lead_nowhere() {
    let dir = tempfile::tempdir().unwrap();
    let root_dir = dir.path();
    std::fs::create_dir(root_dir.join("sub")).unwrap();
    std::fs::copy(
        root().join("fixtures/bad/bom-crlf.jsonl"),
        root_dir.join("sub/good.jsonl"),
    )
    .unwrap();
    std::os::unix::fs::symlink(root_dir, root_dir.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink(
        root_dir.join("nowhere.jsonl"),
        root_dir.join("broken.jsonl"),
    )
    .unwrap();
    std::os::unix::fs::symlink(root_dir.join("self.jsonl"), root_dir.join("self.jsonl")).unwrap();
    let run = audit(&[root_dir], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (2, 2, 0));
    assert_eq!(run.summary()["files"]["unreadable"], 2);
    run.assert_stderr_has(&["broken.jsonl: cannot read:", "self.jsonl: cannot read:"]);
}

#[test]
fn scripts_with_named_labels_a_supervisor_and_continuation_lines_read_fine() {
    let run = audit(&[&fixture("script-labels.txt")], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (1, 1, 0));
}

#[test]
fn a_script_line_that_cannot_be_read_is_named() {
    let run = audit(&[&fixture("script-orphan.txt")], &[]);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    run.assert_stderr_has(&[
        "fixtures/bad/script-orphan.txt:1: \"Call with Jane, 20 November\" comes before the first turn",
        "1 conversation read from 1 file: 0 audited, 1 skipped (invalid 1)",
    ]);
}

/// White space wider than one byte (a no-break space, an ideographic space, an em space) just
/// inside the context an excerpt shows: once the cut stepped one byte past it, split the
/// character and took the whole run down (found by the `audit` fuzz target).
#[test]
fn wide_white_space_before_a_match_is_cut_whole() {
    let run = audit(&[&fixture("wide-spaces.jsonl")], &["--format", "text"]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (3, 3, 0));
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    for evidence in [
        "wide-spaces.jsonl:1: blame major: Agent blamed the customer or deflected responsibility \"…then thirty-eight more characters here «calm down»\"",
        "wide-spaces.jsonl:2: apology major: Customer complained and the agent did not apologize \"customer: \\\"…then thirty-eight more characters here «unacceptable»\\\"",
        "wide-spaces.jsonl:3: blame major: Agent blamed the customer or deflected responsibility \"…thirty-eight more characters here, «as I already told you».\"",
    ] {
        assert!(stdout.contains(evidence), "{evidence}\nnot in:\n{stdout}");
    }
}

#[test]
fn the_whole_bad_corpus_in_one_run() {
    let run = audit(&[Path::new("fixtures/bad")], &[]);
    assert_eq!(run.code(), 0, "{}", run.stderr());
    assert_eq!(run.counts(), (48, 29, 19));
    assert_eq!(
        run.summary()["files"]["unreadable"],
        2,
        "the truncated gzip and the CSV without its columns"
    );
    let strict = audit(&[Path::new("fixtures/bad")], &["--strict"]);
    assert_eq!(strict.code(), 3);
    assert!(strict.summary.is_none());
}

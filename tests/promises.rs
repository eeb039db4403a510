//! Callback promises through the real binary: each state and edge is a folder under
//! `fixtures/promises/` with its input and the whole report it must produce (`expected/`).
//! `CALLQA_BLESS=1 cargo test --test promises` rewrites the expected files after a deliberate
//! change; review the diff before committing it.

mod common;

use std::path::{Path, PathBuf};

use common::root;

const RULES: &str = "fixtures/promises/rules.toml";
const REPORT: [&str; 4] = [
    "scorecards.csv",
    "findings.csv",
    "summary.json",
    "promises.csv",
];

/// Runs `callqa audit` in the package root (paths in the report stay relative) and returns
/// the report folder.
fn audit(inputs: &[&str], extra: &[&str], out: &Path) {
    audit_by(common::command(), inputs, extra, out);
}

/// As [`audit`], through `command`, which runs callqa with the arguments it is given.
fn audit_by(mut command: std::process::Command, inputs: &[&str], extra: &[&str], out: &Path) {
    let output = command
        .arg("audit")
        .args(inputs)
        .args(["--rules", RULES, "--quiet", "-o"])
        .arg(out)
        .args(extra)
        .output()
        .expect("callqa runs");
    assert!(
        output.status.success(),
        "callqa audit {inputs:?} {extra:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Compares every report file with `expected` (or writes it, when blessing).
fn compare(out: &Path, expected: &Path) {
    for name in REPORT {
        let actual = std::fs::read(out.join(name)).expect("report file written");
        common::assert_file(&expected.join(name), &actual);
    }
}

fn check_fixture(name: &str) {
    let temp = tempfile::tempdir().unwrap();
    let out = temp.path().join("report");
    let input = format!("fixtures/promises/{name}/input");
    audit(&[&input], &["-j", "2"], &out);
    compare(
        &out,
        &root().join(format!("fixtures/promises/{name}/expected")),
    );
}

#[test]
fn a_contact_before_the_deadline_keeps_the_promise() {
    check_fixture("kept");
}

#[test]
fn a_deadline_passed_without_contact_is_a_broken_promise_and_a_finding() {
    check_fixture("broken");
}

#[test]
fn a_deadline_after_as_of_is_pending() {
    check_fixture("pending");
}

#[test]
fn without_customer_or_start_time_a_promise_is_unverifiable() {
    check_fixture("unverifiable");
}

#[test]
fn tomorrow_at_23_30_minus_5_ends_with_that_offsets_next_day() {
    check_fixture("tomorrow-late-offset");
}

#[test]
fn two_business_days_from_a_friday_skip_the_weekend() {
    check_fixture("business-days-friday");
}

#[test]
fn a_contact_exactly_at_the_deadline_keeps_the_promise() {
    check_fixture("contact-at-deadline");
}

#[test]
fn conversations_out_of_time_order_across_files_are_joined() {
    check_fixture("out-of-order");
}

#[test]
fn three_nights_carry_pending_promises_and_break_each_once() {
    let temp = tempfile::tempdir().unwrap();
    let mut previous: Option<PathBuf> = None;
    for night in 1..=3 {
        let out = temp.path().join(format!("night-{night}"));
        let input = format!("fixtures/promises/nights/{night}/input");
        let carried = previous.as_ref().map(|p| p.join("promises.csv"));
        let mut extra: Vec<&str> = Vec::new();
        if let Some(carried) = &carried {
            extra.push("--promises");
            extra.push(carried.to_str().unwrap());
        }
        audit(&[&input], &extra, &out);
        compare(
            &out,
            &root().join(format!("fixtures/promises/nights/{night}/expected")),
        );
        previous = Some(out);
    }
}

#[test]
fn file_order_and_threads_change_nothing() {
    // Every fixture input at once, in path order and with the files renamed so that the
    // order reverses; with 1 and 3 threads.
    let temp = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut stack = vec![root().join("fixtures/promises")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if !path.ends_with("nights") {
                    stack.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "jsonl") {
                files.push(path);
            }
        }
    }
    files.sort();
    let forward = temp.path().join("forward");
    let backward = temp.path().join("backward");
    std::fs::create_dir_all(&forward).unwrap();
    std::fs::create_dir_all(&backward).unwrap();
    let count = files.len();
    for (i, file) in files.iter().enumerate() {
        std::fs::copy(file, forward.join(format!("{i:02}.jsonl"))).unwrap();
        std::fs::copy(file, backward.join(format!("{:02}.jsonl", count - 1 - i))).unwrap();
    }
    let mut reports = Vec::new();
    for (dir, threads) in [
        (&forward, "1"),
        (&backward, "1"),
        (&forward, "3"),
        (&backward, "3"),
    ] {
        let out = temp.path().join(format!(
            "out-{}-{threads}",
            dir.file_name().unwrap().to_string_lossy()
        ));
        audit(&[dir.to_str().unwrap()], &["-j", threads], &out);
        let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
        // The source column names the copied file, so it is left out of the comparison.
        let drop_source = |text: String| -> String {
            text.lines()
                .map(|line| line.rsplit_once(',').map_or(line, |(rest, _)| rest))
                .collect::<Vec<_>>()
                .join("\n")
        };
        reports.push((
            read("scorecards.csv"),
            drop_source(read("findings.csv")),
            drop_source(read("promises.csv")),
            read("summary.json"),
        ));
    }
    assert!(reports[0].2.contains("kept") && reports[0].2.contains("broken"));
    for other in &reports[1..] {
        assert_eq!(other, &reports[0]);
    }
}

/// 1,500 conversations, every one holding a promise, in `dir`: more than the join hands over
/// in one batch. Customers come back within hours or days, so promises end kept, broken and
/// pending.
fn many_held_conversations(dir: &Path) -> PathBuf {
    let mut text = String::new();
    for i in 0..1500u32 {
        let (day, hour) = (10 + i % 15, i % 24);
        text.push_str(&format!(
            "{{\"id\": \"m-{i:04}\", \"agent_id\": \"a-{}\", \"customer_id\": \"cu-{}\", \
             \"started_at\": \"2026-11-{day:02}T{hour:02}:00:00Z\", \"turns\": [\
             {{\"speaker\": \"customer\", \"text\": \"my line is down\"}}, \
             {{\"speaker\": \"agent\", \"text\": \"I'll call you back within {} hours.\"}}]}}\n",
            i % 7,
            i % 97,
            1 + i % 30,
        ));
    }
    let input = dir.join("many.jsonl");
    std::fs::write(&input, text).unwrap();
    input
}

#[test]
fn a_join_of_many_held_conversations_is_the_same_on_any_thread_count() {
    // With 4 KiB of memory the held conversations spill to disk.
    let temp = tempfile::tempdir().unwrap();
    let input = many_held_conversations(temp.path());
    let mut reports = Vec::new();
    for (threads, memory) in [("1", "32M"), ("2", "32M"), ("2", "4K"), ("3", "4K")] {
        let out = temp.path().join(format!("out-{threads}-{memory}"));
        audit(
            &[input.to_str().unwrap()],
            &["-j", threads, "--findings-memory", memory],
            &out,
        );
        let files: Vec<Vec<u8>> = REPORT
            .iter()
            .map(|name| std::fs::read(out.join(name)).unwrap())
            .collect();
        reports.push(files);
    }
    let promises = String::from_utf8(reports[0][3].clone()).unwrap();
    for state in ["kept", "broken", "pending"] {
        assert!(promises.contains(state), "no {state} promise");
    }
    for (other, setting) in reports[1..].iter().zip(["-j2", "-j2 4K", "-j3 4K"]) {
        for (index, name) in REPORT.iter().enumerate() {
            assert!(
                other[index] == reports[0][index],
                "{name} differs with {setting}"
            );
        }
    }
}

/// A budget of one byte spills every record: thousands of runs of findings, promises and held
/// conversations. Unless they are merged as they pile up (or appended, for records that come
/// in order), a run needs a file open for each, and fails with "Too many open files" under a
/// common limit.
#[cfg(unix)]
#[test]
fn a_one_byte_budget_stays_under_a_low_open_file_limit() {
    let temp = tempfile::tempdir().unwrap();
    let input = many_held_conversations(temp.path());
    let roomy = temp.path().join("roomy");
    audit(
        &[input.to_str().unwrap()],
        &["--findings-memory", "32M"],
        &roomy,
    );
    let tight = temp.path().join("tight");
    audit_by(
        common::command_under("ulimit -n 256"),
        &[input.to_str().unwrap()],
        &["--findings-memory", "1"],
        &tight,
    );
    for name in REPORT {
        assert!(
            std::fs::read(roomy.join(name)).unwrap() == std::fs::read(tight.join(name)).unwrap(),
            "{name} differs with one byte of memory"
        );
    }
}
#[test]
fn explain_shows_each_promise_with_its_state_and_keeper() {
    let output = common::command()
        .args([
            "explain",
            "fixtures/promises/out-of-order/input",
            "--rules",
            RULES,
            "--id",
            "o-1",
        ])
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    let wanted = "promises\n  turn 2 (a-1): «You'll hear from us» by Monday.\n    made 2026-11-20T09:01:00-05:00, deadline 2026-11-23T23:59:59-05:00 (\"Monday\"): kept by conversation o-2 at 2026-11-21T09:00:00-05:00\n";
    assert!(text.contains(wanted), "{text}");
}

#[test]
fn promise_examples_test_detection_only() {
    for rules in [RULES, "default"] {
        let output = common::command()
            .args(["rules", "test", rules])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

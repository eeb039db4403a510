//! Sharded audits and their merge (issue 21): `callqa audit --shard I/N --partial FILE` on
//! every slice, then `callqa merge`, writes byte for byte the report one `callqa audit` over
//! all the inputs writes, whatever N; and `merge` refuses what cannot make one run.
//!
//! The fixture, `fixtures/shards/`, mixes JSON Lines, CSV, gzip and plain-text scripts, with a
//! malformed line, a promise made in one file and kept by a contact in another, and
//! conversation ids that come back in later files; the test checks that the shards do split
//! those across partials.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use common::{REPORT_FILES, callqa, code, command, stderr, stdout};

const INPUT: &str = "fixtures/shards";

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes the N partials of `args` into `dir`, `part-I`, and returns their paths.
fn shards(dir: &Path, n: u32, args: &[&str]) -> Vec<PathBuf> {
    (0..n)
        .map(|i| {
            let partial = dir.join(format!("part-{i}"));
            let shard = format!("{i}/{n}");
            let mut all = vec![
                "audit",
                "--shard",
                &shard,
                "--partial",
                path(&partial),
                "-q",
            ];
            all.extend_from_slice(args);
            let out = callqa(&all);
            assert_eq!(code(&out), 0, "shard {shard}: {}", stderr(&out));
            assert_eq!(
                stdout(&out),
                "",
                "a shard writes nothing on standard output"
            );
            partial
        })
        .collect()
}

/// Runs `callqa merge` with `options`, then `partials`.
fn merge<P: AsRef<Path>>(options: &[&str], partials: &[P]) -> std::process::Output {
    let mut args = vec!["merge"];
    args.extend_from_slice(options);
    args.extend(partials.iter().map(|p| path(p.as_ref())));
    callqa(&args)
}

/// The first line of a partial: its JSON header.
fn header(partial: &Path) -> serde_json::Value {
    let file = std::fs::File::open(partial).unwrap();
    let mut line = String::new();
    BufReader::new(flate2::read::MultiGzDecoder::new(file))
        .read_line(&mut line)
        .unwrap();
    serde_json::from_str(&line).unwrap()
}

/// The partial (by index) whose header lists a file ending in `name`.
fn shard_of(partials: &[PathBuf], name: &str) -> usize {
    partials
        .iter()
        .position(|p| {
            header(p)["files"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["path"].as_str().unwrap().ends_with(name))
        })
        .unwrap_or_else(|| panic!("no partial covers {name}"))
}

fn assert_same_report(expected: &Path, actual: &Path, what: &str) {
    for file in REPORT_FILES {
        let a = std::fs::read(expected.join(file)).unwrap();
        let b = std::fs::read(actual.join(file)).unwrap();
        assert!(
            a == b,
            "{what}: {file} differs\n--- one run\n{}\n--- merged\n{}",
            String::from_utf8_lossy(&a),
            String::from_utf8_lossy(&b)
        );
    }
}

#[test]
fn merged_shards_write_the_report_of_one_run_for_any_n() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let out = callqa(&["audit", INPUT, "-o", path(&single), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let single_text = callqa(&[
        "audit",
        INPUT,
        "--format",
        "json",
        "--fail-on",
        "major",
        "-q",
    ]);
    assert_eq!(code(&single_text), 1);
    for n in [1u32, 2, 3, 7] {
        let parts = dir.path().join(format!("n{n}"));
        std::fs::create_dir(&parts).unwrap();
        let partials = shards(&parts, n, &[INPUT]);
        if n > 1 {
            // The promise of 01-calls is kept by 04-followups; call-0001 comes back in
            // 03-older: each pair is split across shards.
            let calls = shard_of(&partials, "01-calls.jsonl");
            assert_ne!(calls, shard_of(&partials, "04-followups.jsonl"), "N = {n}");
            assert_ne!(calls, shard_of(&partials, "03-older.jsonl.gz"), "N = {n}");
        }
        // Any order of the partials.
        let mut given = partials.clone();
        given.reverse();
        let merged = parts.join("merged");
        let out = merge(&["-o", path(&merged)], &given);
        assert_eq!(code(&out), 0, "N = {n}: {}", stderr(&out));
        assert!(stderr(&out).contains("duplicate conversation id \"call-0001\""));
        assert!(stderr(&out).contains("20 conversations read from 7 files: 17 audited"));
        assert_same_report(&single, &merged, &format!("N = {n}"));
        // Standard output and the exit code of a gate, as one run gives them.
        let out = merge(&["--format", "json", "--fail-on", "major", "-q"], &given);
        assert_eq!(code(&out), 1, "N = {n}");
        assert_eq!(stdout(&out), stdout(&single_text), "N = {n}");
    }
}

#[test]
fn a_retried_shard_writes_the_same_bytes_and_auto_reads_the_array_index() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first");
    let out = callqa(&["audit", INPUT, "--shard", "1/3", "--partial", path(&first)]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let variables: [&[(&str, &str)]; 3] = [
        &[("JOB_COMPLETION_INDEX", "1")],
        &[("AWS_BATCH_JOB_ARRAY_INDEX", "1")],
        &[("SLURM_ARRAY_TASK_ID", "5"), ("SLURM_ARRAY_TASK_MIN", "4")],
    ];
    for set in variables {
        let again = dir.path().join("again");
        let mut cmd = command();
        for name in [
            "JOB_COMPLETION_INDEX",
            "AWS_BATCH_JOB_ARRAY_INDEX",
            "SLURM_ARRAY_TASK_ID",
            "SLURM_ARRAY_TASK_MIN",
        ] {
            cmd.env_remove(name);
        }
        cmd.envs(set.iter().copied());
        let out = cmd
            .args([
                "audit",
                INPUT,
                "--shard",
                "auto/3",
                "--partial",
                path(&again),
                "-q",
            ])
            .output()
            .unwrap();
        assert_eq!(code(&out), 0, "{set:?}: {}", stderr(&out));
        assert!(
            std::fs::read(&first).unwrap() == std::fs::read(&again).unwrap(),
            "{set:?}: the partial changed"
        );
    }
}

#[test]
fn partials_of_different_runs_merge_as_one_audit_of_all_their_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let out = callqa(&["audit", INPUT, "-o", path(&single), "-q"]);
    assert_eq!(code(&out), 0);
    // One run of two shards over the first files, one run of the rest from a manifest
    // (relative paths, from the manifest's folder).
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let mut run_a = shards(
        &a,
        2,
        &[
            "fixtures/shards/02-chats.csv",
            "fixtures/shards/01-calls.jsonl",
        ],
    );
    let manifest = common::root().join("fixtures/shards.manifest.tmp");
    let mut file = std::fs::File::create(&manifest).unwrap();
    writeln!(
        file,
        "# the rest\nshards/03-older.jsonl.gz\n\nshards/04-followups.jsonl\nshards/05-more.jsonl.gz\nshards/scripts"
    )
    .unwrap();
    drop(file);
    let run_b = shards(&b, 1, &["--manifest", "fixtures/shards.manifest.tmp"]);
    std::fs::remove_file(&manifest).unwrap();
    run_a.extend(run_b);
    let merged = dir.path().join("merged");
    let out = merge(&["-o", path(&merged), "-q"], &run_a);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_report(&single, &merged, "two runs");
}

#[test]
fn merge_refuses_what_is_not_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let partials = shards(dir.path(), 3, &[INPUT]);
    let (p0, p1, p2) = (path(&partials[0]), path(&partials[1]), path(&partials[2]));
    let out = merge(&[], &[p0, p2]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("incomplete sharded run: shard 1/3 is missing"),
        "{}",
        stderr(&out)
    );
    let out = merge(&[], &[p0, p1, p2, p1]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("shard 1/3 is given more than once"));

    let other = dir.path().join("other-rules");
    let out = callqa(&[
        "audit",
        INPUT,
        "--rules",
        "fixtures/promises/rules.toml",
        "--partial",
        path(&other),
    ]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = merge(&[], &[p0, p1, p2, path(&other)]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("different rule sets"),
        "{}",
        stderr(&out)
    );

    let unredacted = dir.path().join("unredacted");
    let out = callqa(&[
        "audit",
        INPUT,
        "--no-redact",
        "--partial",
        path(&unredacted),
    ]);
    assert_eq!(code(&out), 0);
    let out = merge(&[], &[p0, p1, p2, path(&unredacted)]);
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("redact is true and false"),
        "{}",
        stderr(&out)
    );

    // Cut short: the end line is missing.
    let bytes = std::fs::read(&partials[1]).unwrap();
    let mut text = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::MultiGzDecoder::new(&bytes[..]),
        &mut text,
    )
    .unwrap();
    let cut = dir.path().join("cut");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text[..text.len() - 40]).unwrap();
    std::fs::write(&cut, gz.finish().unwrap()).unwrap();
    let out = merge(&[], &[p0, path(&cut), p2]);
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("corrupt partial"), "{}", stderr(&out));
}

#[test]
fn the_settings_travel_in_the_partials_and_empty_shards_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let settings = [
        "--metadata",
        "fixtures/formats-metadata.csv",
        "--no-redact",
        "--raw-csv",
        "--as-of",
        "2026-11-21T00:00:00Z",
    ];
    let single = dir.path().join("single");
    let mut args = vec!["audit", INPUT, "-o", path(&single), "-q"];
    args.extend(settings);
    assert_eq!(code(&callqa(&args)), 0);
    // More shards than files: two of them read nothing.
    let partials = shards(dir.path(), 9, &[&[INPUT][..], &settings].concat());
    let merged = dir.path().join("merged");
    let out = merge(&["-o", path(&merged), "-q"], &partials);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_report(&single, &merged, "settings");

    // --strict is recorded too: the merge fails on the malformed line as one run does.
    let strict = dir.path().join("strict");
    std::fs::create_dir(&strict).unwrap();
    let partials = shards(&strict, 2, &[INPUT, "--strict"]);
    let out = merge(&[], &partials);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("3 input problems under --strict"),
        "{}",
        stderr(&out)
    );

    // Nothing read at all is the merge's exit 3, not the shards'.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let partials = shards(&empty, 2, &["fixtures/bad/empty.jsonl"]);
    let out = merge(&[], &partials);
    assert_eq!(code(&out), 3);
    assert!(stderr(&out).contains("no conversation could be read"));
}

#[test]
fn a_missing_path_fails_the_merge_as_it_fails_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let missing = "fixtures/shards/not-there.jsonl";
    let single = dir.path().join("single");
    let out = callqa(&["audit", INPUT, missing, "-o", path(&single), "-q"]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    // Each shard writes its partial and leaves the exit code to the merge.
    let partials = shards(dir.path(), 3, &[INPUT, missing]);
    let merged = dir.path().join("merged");
    let out = merge(&["-o", path(&merged), "-q"], &partials);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(stderr(&out).contains("not-there.jsonl"), "{}", stderr(&out));
    assert_same_report(&single, &merged, "a missing path");
}

/// Runs callqa with `args` under `limit` (see `common::command_under`).
#[cfg(unix)]
fn callqa_under(limit: &str, args: &[&str]) -> std::process::Output {
    common::command_under(limit)
        .args(args)
        .output()
        .expect("sh runs")
}

/// A merge reads every partial at once, a file open for each: more partials than a shell's
/// limit on open files (often 1,024; 256 on macOS) failed with "Too many open files". The
/// merge raises its soft limit as far as the hard one allows, and when that is not enough says
/// so before it opens any. A folder given to `merge` stands for the partials in it (hidden
/// files, as a partial being written, left out).
#[cfg(unix)]
#[test]
fn a_merge_of_more_partials_than_files_may_be_open_raises_the_limit_or_says_how() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let out = callqa(&["audit", INPUT, "-o", path(&single), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let parts = dir.path().join("parts");
    std::fs::create_dir(&parts).unwrap();
    shards(&parts, 40, &[INPUT]);
    std::fs::write(parts.join(".part-being-written"), "not a partial").unwrap();

    let merged = dir.path().join("merged");
    let out = callqa_under(
        "ulimit -Sn 24",
        &["merge", path(&parts), "-o", path(&merged), "-q"],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_same_report(
        &single,
        &merged,
        "40 partials under a soft limit of 24 files",
    );

    let out = callqa_under(
        "ulimit -n 24",
        &[
            "merge",
            path(&parts),
            "-o",
            path(&dir.path().join("not")),
            "-q",
        ],
    );
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains(
            "40 partials are read at once, and this process may open 24 files (`ulimit -n`, which callqa could not raise further): raise it to 296 at least"
        ),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("not").exists(), "no report is written");

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = merge(&["-q"], &[&empty]);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("empty: no partial in this folder"),
        "{}",
        stderr(&out)
    );
}

/// `--partial` makes its folder when missing, as `-o` does: the tasks of an array job name
/// `parts/part-$INDEX` before any of them has run.
#[test]
fn a_partial_in_a_missing_folder_makes_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let partial = dir.path().join("parts/2026-12/part-0");
    let out = callqa(&["audit", INPUT, "--partial", path(&partial), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(header(&partial)["run"]["shard"], 0);
}

/// `callqa merge -j N` runs the join and the report on N threads, with the report of one run
/// whatever N; `-j0` is a usage error, as in an audit.
#[test]
fn merge_threads_change_no_byte() {
    let dir = tempfile::tempdir().unwrap();
    let single = dir.path().join("single");
    let out = callqa(&["audit", INPUT, "-o", path(&single), "-q"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let partials = shards(dir.path(), 3, &[INPUT]);
    for threads in ["1", "3"] {
        let merged = dir.path().join(format!("merged-{threads}"));
        let out = merge(&["-j", threads, "-o", path(&merged), "-q"], &partials);
        assert_eq!(code(&out), 0, "-j{threads}: {}", stderr(&out));
        assert_same_report(&single, &merged, &format!("-j{threads}"));
    }
    let out = merge(&["-j", "0", "-q"], &partials);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("-j must be 1 or more"),
        "{}",
        stderr(&out)
    );
}

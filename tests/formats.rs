//! The readers of real export formats, through the real binary: what `callqa convert` reads
//! from each fixture (compared whole to an expected file), a folder mixing every format
//! audited in one run, the `--metadata` join, broken files skipped with the field named, and
//! the CI gate on a folder of agent scripts.
//!
//! Expected files live in tests/expected/formats/; run with `CALLQA_BLESS=1` to rewrite
//! them after a deliberate change, then review the diff.

mod common;

use std::path::Path;
use std::process::Output;

use common::{callqa, root};

/// Runs `callqa audit ARGS -o DIR` into a fresh folder; returns the run and the folder.
fn audit_to_dir(args: &[&str]) -> (Output, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", dir.to_str().unwrap()]);
    (callqa(&all), out)
}

/// A file of the report folder `audit_to_dir` wrote.
fn report_file(out: &tempfile::TempDir, name: &str) -> String {
    std::fs::read_to_string(out.path().join("report").join(name)).unwrap()
}

fn summary(out: &tempfile::TempDir) -> serde_json::Value {
    serde_json::from_str(&report_file(out, "summary.json")).unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Compares `actual` with `tests/expected/formats/NAME`, or writes it under `CALLQA_BLESS=1`.
fn expect_file(name: &str, actual: &str) {
    common::assert_expected(&format!("formats/{name}"), actual.as_bytes());
}

#[test]
fn convert_pins_what_each_format_reads() {
    // (fixture, extra flags, expected file)
    let cases: [(&str, &[&str], &str); 10] = [
        ("contact-lens-voice.json", &[], "contact-lens-voice.jsonl"),
        ("contact-lens-chat.json", &[], "contact-lens-chat.jsonl"),
        (
            "contact-lens-voice-interrupt.json",
            &[],
            "contact-lens-voice-interrupt.jsonl",
        ),
        (
            "transcribe-call-analytics.json",
            &[],
            "transcribe-call-analytics.jsonl",
        ),
        // The file's own labels are swapped: the command line names the real agent.
        (
            "transcribe-pca-ui-testfile.json",
            &["--agent-speakers", "spk_1"],
            "transcribe-pca-ui-testfile.jsonl",
        ),
        ("ccai-chat.json", &[], "ccai-chat.jsonl"),
        ("meeting-call.vtt", &[], "meeting-call.jsonl"),
        ("agent-script.txt", &[], "agent-script.jsonl"),
        ("canonical.jsonl", &[], "canonical.jsonl"),
        ("chat-export.csv", &[], "chat-export.jsonl"),
    ];
    for (fixture, flags, expected) in cases {
        let path = format!("fixtures/formats/{fixture}");
        let mut args = vec!["convert", path.as_str()];
        args.extend_from_slice(flags);
        let output = callqa(&args);
        assert!(
            output.status.success(),
            "{fixture}: {}",
            text(&output.stderr)
        );
        expect_file(expected, &text(&output.stdout));
    }
}

#[test]
fn pca_speaker_labels_come_from_the_file_unless_overridden() {
    let file = "fixtures/formats/transcribe-pca-ui-testfile.json";
    let first_speaker = |args: &[&str]| {
        let output = callqa(args);
        let line = text(&output.stdout);
        let value: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
        value["turns"][1]["speaker"].as_str().unwrap().to_string()
    };
    // Turn 2 is "Thank you for calling Networks abc technical Support." (spk_1).
    assert_eq!(first_speaker(&["convert", file]), "customer");
    assert_eq!(
        first_speaker(&["convert", file, "--agent-speakers", "spk_1"]),
        "agent"
    );
    assert_eq!(
        first_speaker(&[
            "convert",
            file,
            "--input-format",
            "pca",
            "--agent-speakers=spk_1"
        ]),
        "agent"
    );
}

#[test]
fn a_folder_mixing_every_format_is_audited_in_one_run() {
    let (output, out) =
        audit_to_dir(&["fixtures/formats", "--agent-speakers", "spk_1", "--verbose"]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    for (file, format) in [
        ("agent-script.txt", "script"),
        ("canonical.jsonl", "jsonl"),
        ("ccai-chat.json", "ccai"),
        ("chat-export.csv", "csv"),
        ("contact-lens-chat.json", "contact-lens"),
        ("contact-lens-voice.json", "contact-lens"),
        ("meeting-call.vtt", "vtt"),
        ("transcribe-call-analytics.json", "transcribe"),
        ("transcribe-pca-ui-testfile.json", "pca"),
    ] {
        let line = format!("callqa: fixtures/formats/{file}: {format}\n");
        assert!(stderr.contains(&line), "no {line:?} in\n{stderr}");
    }
    assert!(
        stderr.contains("10 conversations read from 10 files: 10 audited, 0 skipped"),
        "{stderr}"
    );
    assert_eq!(
        summary(&out)["files"]["by_format"],
        serde_json::json!({"ccai": 1, "contact-lens": 3, "csv": 1, "jsonl": 1, "pca": 1,
                           "script": 1, "transcribe": 1, "vtt": 1})
    );
    expect_file("mixed-findings.csv", &report_file(&out, "findings.csv"));
}

#[test]
fn contact_lens_voice_with_metadata_scores_the_right_agent_on_real_timings() {
    let (output, out) = audit_to_dir(&[
        "fixtures/formats/contact-lens-voice-interrupt.json",
        "--metadata",
        "fixtures/formats-metadata.csv",
    ]);
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let scorecards = report_file(&out, "scorecards.csv");
    let rows: Vec<&str> = scorecards.lines().collect();
    assert_eq!(rows.len(), 2, "{scorecards}");
    // interruption failed (the agent cut in at 6.8 s, the customer spoke until 9.4 s);
    // blame, apology and closing passed or did not apply.
    assert!(
        rows[1].starts_with("a-dana,1,71.43,1,1,1,1.0000,1,0,0.0000,0,0,,1,0,0.0000"),
        "{scorecards}"
    );
    let findings = report_file(&out, "findings.csv");
    let finding = findings.lines().nth(1).unwrap();
    assert!(
        finding.starts_with("contact-lens-voice-interrupt.json,a-dana,interruption,minor,3,6800,"),
        "{finding}"
    );
    assert!(finding.contains("(2.6 s over)"), "{finding}");
    assert_eq!(
        summary(&out)["metadata"],
        serde_json::json!({"rows": 3, "unmatched_rows": 2, "unmatched_conversations": 0})
    );
    assert!(
        stderr.contains(
            "metadata: 3 rows, 2 matched no conversation; 0 audited conversations matched no row"
        ),
        "{stderr}"
    );
    // The join shows in convert too: agent, customer, start time and team from the CSV.
    let converted = callqa(&[
        "convert",
        "fixtures/formats/contact-lens-voice-interrupt.json",
        "--metadata",
        "fixtures/formats-metadata.csv",
    ]);
    let mut value: serde_json::Value = serde_json::from_slice(&converted.stdout).unwrap();
    value["turns"] = serde_json::Value::Null;
    assert_eq!(
        value,
        serde_json::json!({"id": "contact-lens-voice-interrupt.json", "agent_id": "a-dana",
            "customer_id": "cu-311", "started_at": "2024-03-05T09:12:00-05:00",
            "channel": "voice", "direction": "inbound", "team": "broadband", "turns": null})
    );
}

#[test]
fn metadata_counts_conversations_without_a_row() {
    let output = callqa(&[
        "audit",
        "fixtures/formats",
        "--metadata",
        "fixtures/formats-metadata.csv",
        "--quiet",
        "--format",
        "csv",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let scorecards = text(&output.stdout);
    for agent in ["a-dana,", "a-17b,", "a-9,"] {
        assert!(
            scorecards.contains(&format!("\n{agent}")),
            "{agent} in\n{scorecards}"
        );
    }
    let loud = callqa(&[
        "audit",
        "fixtures/formats",
        "--metadata",
        "fixtures/formats-metadata.csv",
    ]);
    let stderr = text(&loud.stderr);
    assert!(
        stderr.contains(
            "metadata: 3 rows, 1 matched no conversation; 8 audited conversations matched no row"
        ),
        "{stderr}"
    );
}

#[test]
fn a_bad_metadata_file_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.csv");
    std::fs::write(&path, "conversation_id,agent_id\nc1,a\nc1,b\n").unwrap();
    let output = callqa(&[
        "audit",
        "fixtures/formats",
        "--metadata",
        path.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("meta.csv:3: conversation_id \"c1\" is already on line 2")
    );
}

#[test]
fn broken_files_of_known_formats_are_skipped_with_the_field_named() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let output = callqa(&[
        "audit",
        "fixtures/formats-invalid",
        "-o",
        dir.to_str().unwrap(),
    ]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    for needle in [
        "fixtures/formats-invalid/contact-lens-missing-content.json:1: invalid Contact Lens file: field Transcript[1].Content: missing",
        "fixtures/formats-invalid/ccai-wrong-type.json:3: invalid CCAI Insights conversation: field entries[0].start_timestamp_usec: invalid type",
        "fixtures/formats-invalid/pca-truncated.json:5: malformed JSON in a post-call analytics file",
        "fixtures/formats-invalid/unnamed-voices.vtt:3: voice \"Sam\" is neither",
    ] {
        assert!(stderr.contains(needle), "no {needle:?} in\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    let summary = summary(&out);
    assert_eq!(summary["conversations"]["read"], 5);
    assert_eq!(summary["conversations"]["audited"], 1);
    assert_eq!(summary["conversations"]["skipped_by_reason"]["invalid"], 3);
    assert_eq!(
        summary["conversations"]["skipped_by_reason"]["malformed"],
        1
    );
    let strict = callqa(&["audit", "fixtures/formats-invalid", "--strict", "--quiet"]);
    assert_eq!(strict.status.code(), Some(3));
}

#[test]
fn convert_writes_a_file_and_fails_on_nothing_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.jsonl");
    let output = callqa(&[
        "convert",
        "fixtures/formats",
        "--agent-speakers",
        "spk_1",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(output.stdout.is_empty());
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.lines().count(), 10);
    // What convert writes, callqa reads back as the same conversations.
    let again = callqa(&["convert", path.to_str().unwrap()]);
    assert_eq!(text(&again.stdout), written);
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let nothing = callqa(&["convert", empty.to_str().unwrap()]);
    assert_eq!(nothing.status.code(), Some(3));
}

/// `callqa audit scripts/ --fail-on major` is the CI gate on agent script changes.
#[test]
fn the_scripts_ci_gate() {
    let gate = |folder: &str| callqa(&["audit", folder, "--fail-on", "major", "--format", "text"]);
    let good = gate("fixtures/scripts/good");
    assert_eq!(good.status.code(), Some(0), "{}", text(&good.stderr));
    assert!(good.stdout.is_empty(), "{}", text(&good.stdout));
    let bad = gate("fixtures/scripts/bad");
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let findings = text(&bad.stdout);
    // Findings point at the script line, so a CI log leads to the line to fix.
    assert!(
        findings.contains("fixtures/scripts/bad/deflect.txt:2: blame major:"),
        "{findings}"
    );
    assert!(
        findings.contains("fixtures/scripts/bad/deflect.txt:3: blame major:"),
        "{findings}"
    );
    assert!(text(&bad.stderr).contains("gate failed: 3 findings of severity major or worse"));
    assert!(Path::new(&root().join("fixtures/scripts/bad/late-delivery.txt")).exists());
}

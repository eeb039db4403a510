//! What callqa writes for people is redacted of private data and safe to open in a
//! spreadsheet, unless asked otherwise (`--no-redact`, `--raw-csv`); `convert` copies text as
//! it is unless `--redact` is given.

mod common;

use std::path::PathBuf;

use common::{callqa, stdout};

const PII: &str = "fixtures/privacy/pii.jsonl";
const PRIVATE: [&str; 5] = [
    "4111 1111 1111 1111",
    "sam.lee@example.com",
    "555-123-4567",
    "123-45-6789",
    "help@example.org",
];

#[test]
fn every_output_format_is_redacted_by_default() {
    for format in ["text", "json", "csv", "github", "sarif"] {
        let output = callqa(&["audit", PII, "-q", "--format", format]);
        assert_eq!(output.status.code(), Some(0));
        for private in PRIVATE {
            assert!(
                !stdout(&output).contains(private),
                "{format} shows {private}"
            );
        }
    }
    let text = stdout(&callqa(&["audit", PII, "-q", "--format", "text"]));
    assert!(
        text.contains("email me at [email] or call [phone]"),
        "{text}"
    );
    let explain = stdout(&callqa(&["explain", PII, "--id", "pii-2"]));
    assert!(
        explain.contains("My SSN is [national-id] and you still lost my file"),
        "{explain}"
    );
    assert!(explain.contains("write to [email]"), "{explain}");
}

#[test]
fn no_redact_keeps_the_text() {
    let text = stdout(&callqa(&[
        "audit",
        PII,
        "-q",
        "--format",
        "text",
        "--no-redact",
    ]));
    assert!(
        text.contains("sam.lee@example.com or call 555-123-4567"),
        "{text}"
    );
    let explain = stdout(&callqa(&["explain", PII, "--id", "pii-2", "--no-redact"]));
    assert!(explain.contains("123-45-6789"), "{explain}");
}

#[test]
fn csv_cells_cannot_become_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let report: PathBuf = dir.path().join("report");
    let output = callqa(&["audit", PII, "-q", "-o", report.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    let findings = std::fs::read_to_string(report.join("findings.csv")).unwrap();
    let scorecards = std::fs::read_to_string(report.join("scorecards.csv")).unwrap();
    for line in findings.lines().chain(scorecards.lines()).skip(1) {
        for cell in line.split(',') {
            let cell = cell.trim_start_matches('"');
            assert!(
                !cell.starts_with(['=', '+', '-', '@']),
                "{cell:?} in {line}"
            );
        }
    }
    assert!(findings.contains("\"'=HYPERLINK("), "{findings}");
    assert!(findings.contains(",'@agent-7,"), "{findings}");
    assert!(scorecards.contains("\n'@agent-7,"), "{scorecards}");
    let raw = stdout(&callqa(&["audit", PII, "-q", "--raw-csv"]));
    assert!(raw.contains("\n@agent-7,"), "{raw}");
}

#[test]
fn convert_copies_text_unless_asked_to_redact() {
    let copy = stdout(&callqa(&["convert", PII]));
    assert!(copy.contains("4111 1111 1111 1111"));
    let redacted = stdout(&callqa(&["convert", PII, "--redact"]));
    for private in PRIVATE {
        assert!(
            !redacted.contains(private),
            "convert --redact kept {private}"
        );
    }
    assert!(
        redacted.contains("My card [card] was charged twice"),
        "{redacted}"
    );
}

#[test]
fn the_html_report_is_redacted_and_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let report: PathBuf = dir.path().join("report");
    let output = callqa(&[
        "audit",
        PII,
        "fixtures/report",
        "-q",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    for private in PRIVATE {
        assert!(!html.contains(private), "report.html shows {private}");
    }
    // The turns are there, redacted, with the matched words marked.
    assert!(
        html.contains("<mark title=\"blame\">calm down</mark>, call me at [phone]"),
        "turn not highlighted"
    );
    // Markup in ids, teams and turns is text, never markup.
    for raw in [
        "<img",
        "<b>1</b>",
        "<i>x</i>",
        "<mobile>",
        "</script><script>window",
    ] {
        assert!(!html.contains(raw), "report.html holds {raw:?} unescaped");
    }
    assert!(html.contains("&lt;img src=x onerror="));
    assert!(html.contains("web &amp; &lt;mobile&gt;"));
    // Self-contained: no resource is referenced, and the page forbids loading any.
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none';"));
    for external in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!html.contains(external), "report.html loads {external}");
    }
    let unredacted = dir.path().join("raw");
    callqa(&[
        "audit",
        PII,
        "-q",
        "--no-redact",
        "-o",
        unredacted.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(unredacted.join("report.html")).unwrap();
    assert!(html.contains("555-123-4567"));
}

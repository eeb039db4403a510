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

/// A private number, address or id cut by the edge of an evidence excerpt is redacted whole:
/// none of its parts shows in any output (issue 20). `fixtures/privacy/edges.jsonl` puts a card
/// and an e-mail address across the right edge and a phone and a national id across the left.
const EDGES: &str = "fixtures/privacy/edges.jsonl";
const EDGE_PARTS: [&str; 9] = [
    "4539", "1488", "6467", "415", "0199", "12 34", "56 C", "jo.doe", "@exa",
];

fn assert_no_edge_parts(output: &str, what: &str) {
    for part in EDGE_PARTS {
        assert!(!output.contains(part), "{what} shows {part:?}:\n{output}");
    }
}

#[test]
fn excerpt_edges_never_cut_private_data() {
    for format in ["text", "json", "github", "sarif"] {
        let output = callqa(&["audit", EDGES, "-q", "--format", format]);
        assert_eq!(output.status.code(), Some(0));
        assert_no_edge_parts(&stdout(&output), format);
    }
    let text = stdout(&callqa(&["audit", EDGES, "-q", "--format", "text"]));
    for shown in [
        "on my bill [card]…",
        "…[phone] and then okay",
        "\\\"…and well so, okay this is «ridiculous»\\\"",
        "«that is on you»/[email]",
    ] {
        assert!(text.contains(shown), "{shown:?} not in\n{text}");
    }
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let output = callqa(&["audit", EDGES, "-q", "-o", report.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    for file in ["findings.csv", "report.html", "promises.csv"] {
        let written = std::fs::read_to_string(report.join(file)).unwrap();
        assert_no_edge_parts(&written, file);
    }
    for id in ["edge-card", "edge-phone", "edge-id", "edge-email"] {
        let explain = stdout(&callqa(&["explain", EDGES, "--id", id]));
        assert_no_edge_parts(&explain, id);
    }
    let raw = stdout(&callqa(&[
        "audit",
        EDGES,
        "-q",
        "--format",
        "text",
        "--no-redact",
    ]));
    assert!(raw.contains("my bill 4539 1488…"), "{raw}");
}

/// Bidirectional controls and zero-width characters in ids, teams and turns
/// (`fixtures/privacy/hidden.jsonl`) reach no output, where they could reorder what a
/// reviewer reads (issue 20); matching still sees them as it did ("calm<ZWSP> down" is
/// "calm down").
const HIDDEN: &str = "fixtures/privacy/hidden.jsonl";

fn assert_nothing_hidden(output: &[u8], what: &str) {
    let text = String::from_utf8_lossy(output);
    let hidden: Vec<String> = text
        .chars()
        .filter(|&c| callqa::visible::is_hidden(c))
        .map(|c| format!("U+{:04X}", c as u32))
        .collect();
    assert!(hidden.is_empty(), "{what} holds {hidden:?}:\n{text}");
}

#[test]
fn hidden_characters_reach_no_output() {
    for format in ["text", "json", "csv", "github", "sarif"] {
        let output = callqa(&["audit", HIDDEN, "--format", format]);
        assert_eq!(output.status.code(), Some(0), "{format}");
        assert_nothing_hidden(&output.stdout, format);
        assert_nothing_hidden(&output.stderr, "standard error");
    }
    let text = stdout(&callqa(&["audit", HIDDEN, "-q", "--format", "text"]));
    assert!(text.contains("Please «calm down», it is fine ok"), "{text}");
    assert!(text.contains("This is «ridiculous», my bill"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let output = callqa(&["audit", HIDDEN, "-q", "-o", report.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    for file in std::fs::read_dir(&report).unwrap() {
        let path = file.unwrap().path();
        assert_nothing_hidden(&std::fs::read(&path).unwrap(), &path.display().to_string());
    }
    let findings = std::fs::read_to_string(report.join("findings.csv")).unwrap();
    assert!(findings.contains("hidden-1,'=1+2,"), "{findings}");
    for id in ["hid\u{202E}den-1", "hidden-2\u{200D}"] {
        let explain = callqa(&["explain", HIDDEN, "--id", id]);
        assert_eq!(explain.status.code(), Some(0));
        assert_nothing_hidden(&explain.stdout, id);
    }
    // convert keeps them for other programs, as JSON escapes a terminal shows as they are.
    let copy = callqa(&["convert", HIDDEN]);
    assert_nothing_hidden(&copy.stdout, "convert");
    assert!(stdout(&copy).contains("This is \\u202eridiculous\\u202c"));
    // A file name is output too.
    let named = dir.path().join("calls\u{202E}lsonj.jsonl");
    std::fs::copy(HIDDEN, &named).unwrap();
    let output = callqa(&["audit", named.to_str().unwrap(), "--format", "github"]);
    assert_nothing_hidden(&output.stdout, "a file name in stdout");
    assert_nothing_hidden(&output.stderr, "a file name in stderr");
}

/// callqa's own markup in evidence is never redacted: turns 10^14 ms into a conversation put
/// ten-digit minutes in the interruption's times, which the phone pattern used to eat
/// ("until [phone]:55.8", issue 20). Only turn text is redacted.
#[test]
fn callqa_own_times_are_never_redacted() {
    let output = callqa(&[
        "audit",
        "fixtures/privacy/markup.jsonl",
        "-q",
        "--format",
        "text",
    ]);
    let text = stdout(&output);
    let overlap = text
        .lines()
        .find(|line| line.contains("interruption"))
        .expect("the turns overlap");
    assert!(overlap.contains(":55.8 (13.8 s over)"), "{overlap}");
    assert!(!overlap.contains("[phone]"), "{overlap}");
}

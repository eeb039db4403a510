//! The HTML report as a person sees it: rendered in headless Chromium.
//!
//! The page carries a self-test that runs when its URL has `?selftest=1`: it sorts the agents
//! table by score (both ways) and by id, filters it, checks the charts, and collects every
//! error the page raised (`window.onerror`, `console.error`), then writes the results into
//! `<pre id="selftest">`. This test opens the report of a fixture run with
//! `chromium --headless --dump-dom` and reads that block: the page loaded without errors, the
//! table has one row per agent of `scorecards.csv`, and the browser's sort put them in the
//! order the scorecards say.
//!
//! Chromium is Debian's `chromium` package (`.ci/run` installs it). Without it the test prints
//! why it skipped and passes; set `CALLQA_CHROMIUM` to use another binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The Chromium binary: `CALLQA_CHROMIUM`, else the first of the usual names on PATH.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CALLQA_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in [
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

/// Runs headless Chromium on `url` with its own profile folder and returns the dumped DOM.
fn dump_dom(browser: &Path, profile: &Path, url: &str) -> String {
    let output = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs");
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The text of `<pre id="selftest">` in a dumped DOM, entities decoded.
fn selftest_block(dom: &str) -> String {
    let start = dom
        .find("<pre id=\"selftest\">")
        .unwrap_or_else(|| panic!("no visible self-test block in the page:\n{dom}"));
    let rest = &dom[start + "<pre id=\"selftest\">".len()..];
    let end = rest.find("</pre>").expect("the block ends");
    rest[..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

#[test]
fn the_report_loads_and_sorts_in_a_browser() {
    let Some(browser) = chromium() else {
        println!(
            "SKIPPED the_report_loads_and_sorts_in_a_browser: no chromium on PATH \
             (apt-get install -y chromium, or set CALLQA_CHROMIUM); .ci/run installs it"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let output = common::command()
        .args(["audit", "fixtures/demo", "fixtures/report", "-q", "-o"])
        .arg(&report)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // What the table must hold, in the order a sort by score (then id) gives.
    let scorecards = std::fs::read_to_string(report.join("scorecards.csv")).unwrap();
    let mut reader = csv::Reader::from_reader(scorecards.as_bytes());
    let mut expected: Vec<(f64, String)> = reader
        .records()
        .map(|record| {
            let record = record.unwrap();
            (record[2].parse().unwrap(), record[0].to_string())
        })
        .collect();
    expected.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let expected_order: Vec<&str> = expected.iter().map(|(_, agent)| agent.as_str()).collect();

    let url = format!("file://{}?selftest=1", report.join("report.html").display());
    let dom = dump_dom(&browser, &dir.path().join("profile"), &url);
    let block = selftest_block(&dom);
    println!("{block}");
    let lines: Vec<&str> = block.lines().collect();
    assert!(
        !lines.iter().any(|line| line.starts_with("FAIL")),
        "{block}"
    );
    for check in [
        "PASS sort by score ascending",
        "PASS sort by score descending",
        "PASS sort by agent",
        "PASS filter",
        "PASS clear filter",
        "PASS charts drawn",
    ] {
        assert!(lines.contains(&check), "{check} missing:\n{block}");
    }
    assert!(
        lines.contains(&"errors []"),
        "the page raised errors:\n{block}"
    );
    assert!(
        lines.contains(&format!("rows {}", expected_order.len()).as_str()),
        "{block}"
    );
    let order_line = lines
        .iter()
        .find_map(|line| line.strip_prefix("order "))
        .expect("the sorted order");
    let order: Vec<String> = serde_json::from_str(order_line).unwrap();
    assert_eq!(order, expected_order, "the browser's sort by score");
    // The agent with markup in its id is one row, shown as text.
    assert!(order.iter().any(|agent| agent == "a-<i>x</i>"));
}

/// 2,000 agents and 100,000 findings: the page stays a few megabytes, says what it left out,
/// and still loads, sorts and filters in the browser.
#[test]
fn a_large_run_stays_usable() {
    let Some(browser) = chromium() else {
        println!("SKIPPED a_large_run_stays_usable: no chromium on PATH; .ci/run installs it");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("large.jsonl");
    let mut text = String::new();
    for i in 0..25_000 {
        // Four findings each: blame twice, no apology, no closing.
        text.push_str(&format!(
            "{{\"id\":\"c-{i:06}\",\"agent_id\":\"agent-{:04}\",\"team\":\"team-{}\",\"turns\":[{{\"speaker\":\"customer\",\"text\":\"where is my order, this is ridiculous\"}},{{\"speaker\":\"agent\",\"text\":\"calm down, you should have read the terms\"}}]}}\n",
            i % 2000,
            i % 12
        ));
    }
    std::fs::write(&input, text).unwrap();
    let report = dir.path().join("report");
    let output = common::command()
        .args(["audit", "-q", "-o"])
        .arg(&report)
        .arg(&input)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let findings = std::fs::read_to_string(report.join("findings.csv"))
        .unwrap()
        .lines()
        .count()
        - 1;
    assert_eq!(findings, 100_000);
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(html.len() < 12 << 20, "report.html is {} bytes", html.len());
    assert!(
        html.contains("10000 of 100000 findings are listed here"),
        "the page says what it left out"
    );
    assert!(html.contains("The turns of 2000 of the 25000 conversations with findings"));
    let started = std::time::Instant::now();
    let url = format!("file://{}?selftest=1", report.join("report.html").display());
    let block = selftest_block(&dump_dom(&browser, &dir.path().join("profile"), &url));
    let seconds = started.elapsed().as_secs_f64();
    let lines: Vec<&str> = block.lines().collect();
    assert!(
        lines.contains(&"rows 2000"),
        "{}",
        &block[..block.len().min(300)]
    );
    assert!(lines.contains(&"errors []"));
    assert!(!lines.iter().any(|line| line.starts_with("FAIL")));
    println!(
        "large report: {} bytes, loaded and self-tested in {seconds:.1} s",
        html.len()
    );
}

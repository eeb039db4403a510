//! Integration tests: the real binary on the fixtures, whole outputs compared with the
//! expected files under `tests/expected/`.
//!
//! When a change to the rules or the output is intended, regenerate the expected files with
//! `CALLQA_BLESS=1 cargo test --test cli` and review the diff before committing.

mod common;

use std::path::{Path, PathBuf};

use common::{
    REPORT_FILES, assert_expected, callqa, callqa_with_stdin, code, root, stderr, stdout,
};

/// Runs `callqa audit ARGS... -o REPORT` into a fresh folder: the output, the folder (removed
/// when dropped) and the report folder in it.
fn audit_into_report(args: &[&str]) -> (std::process::Output, tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let mut all = vec!["audit"];
    all.extend(args);
    all.extend(["-o", report.to_str().unwrap()]);
    (callqa(&all), dir, report)
}

/// Asserts that `text` (`what`, for the message) holds every one of `needles`.
fn assert_has(text: &str, what: &str, needles: &[&str]) {
    for needle in needles {
        assert!(text.contains(needle), "{what} lacks {needle}");
    }
}

fn assert_report_dir(name: &str, dir: &Path) {
    for file in REPORT_FILES {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        assert_expected(&format!("{name}/{file}"), &bytes);
    }
}

#[test]
fn demo_audit_writes_the_report_folder() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let output = callqa(&["audit", "fixtures/demo", "-o", dir.to_str().unwrap()]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        output.stdout.is_empty(),
        "with -o and no --format, stdout stays empty"
    );
    assert_report_dir("demo", &dir);
    let err = stderr(&output);
    assert!(
        err.contains("11 conversations read from 3 files: 10 audited, 1 skipped (duplicate_id 1)"),
        "{err}"
    );
    assert!(
        err.contains("fixtures/demo/older/2026-11-19.jsonl.gz:1: duplicate conversation id \"call-0001\": already read at fixtures/demo/calls.jsonl:1; skipped"),
        "{err}"
    );
}

#[test]
fn thread_count_changes_no_byte() {
    // A generated input large enough to be cut into many chunks and spread over workers.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..3000 {
        let agent = format!("a-{}", i % 17);
        let phrase = match i % 5 {
            0 => "calm down, you should have read the terms",
            1 => "I'm so sorry about that, DM us your order number",
            2 => "thanks",
            3 => "we'll send a replacement today",
            _ => "is there anything else",
        };
        text.push_str(&format!(
            "{{\"id\":\"g-{:05}\",\"agent_id\":\"{agent}\",\"turns\":[{{\"speaker\":\"customer\",\"text\":\"this is ridiculous, still waiting\",\"start_ms\":0,\"end_ms\":4000}},{{\"speaker\":\"agent\",\"text\":\"{phrase}\",\"start_ms\":{},\"end_ms\":6000}}]}}\n",
            (i * 7919) % 3000,
            1000 + (i % 4) * 1000
        ));
    }
    std::fs::write(dir.path().join("big.jsonl"), &text).unwrap();
    let input = dir.path().join("big.jsonl");
    let mut reports = Vec::new();
    // The last run keeps 4 KiB of findings in memory: it sorts them in dozens of runs on disk.
    for (threads, findings_memory) in [("1", "32M"), ("2", "32M"), ("4", "32M"), ("2", "4K")] {
        let report = dir.path().join(format!("out-{threads}-{findings_memory}"));
        let output = callqa(&[
            "audit",
            input.to_str().unwrap(),
            "-j",
            threads,
            "--findings-memory",
            findings_memory,
            "-q",
            "-o",
            report.to_str().unwrap(),
        ]);
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        reports.push(report);
    }
    for file in REPORT_FILES {
        let first = std::fs::read(reports[0].join(file)).unwrap();
        assert!(first.len() > 100);
        for other in &reports[1..] {
            assert_eq!(
                first,
                std::fs::read(other.join(file)).unwrap(),
                "{file} differs with -j or --findings-memory"
            );
        }
    }
}

#[test]
fn stdout_formats() {
    let csv = callqa(&["audit", "fixtures/demo", "-q"]);
    assert_eq!(code(&csv), 0);
    assert_expected("demo/scorecards.csv", &csv.stdout);
    let text = callqa(&["audit", "fixtures/demo", "-q", "--format", "text"]);
    assert_expected("demo/findings.txt", &text.stdout);
    let json = callqa(&["audit", "fixtures/demo", "-q", "--format", "json"]);
    assert_expected("demo/findings.jsonl", &json.stdout);
    for line in stdout(&json).lines() {
        let object: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(object["rule"].is_string() && object["line"].is_u64());
    }
}

#[test]
fn standard_input_is_read() {
    let calls = std::fs::read(root().join("fixtures/demo/calls.jsonl")).unwrap();
    let output = callqa_with_stdin(&["audit", "--format", "text"], &calls);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("\n-:2: blame major: "),
        "{}",
        stdout(&output)
    );
}

#[test]
fn a_team_pack_runs_beside_the_default() {
    let output = callqa(&[
        "audit",
        "fixtures/demo/calls.jsonl",
        "--rules",
        "default",
        "--rules",
        "fixtures/rules/team.toml",
        "-q",
    ]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let header = stdout(&output).lines().next().unwrap().to_string();
    assert!(header.ends_with("greeting_applicable,greeting_failed,greeting_rate,guarantee_applicable,guarantee_failed,guarantee_rate"), "{header}");
    let twice = callqa(&[
        "audit",
        "fixtures/demo",
        "--rules",
        "fixtures/rules/team.toml",
        "--rules",
        "fixtures/rules/team.toml",
    ]);
    assert_eq!(code(&twice), 2);
    assert!(
        stderr(&twice).contains("defined twice"),
        "{}",
        stderr(&twice)
    );
}

#[test]
fn bad_lines_are_reported_and_skipped() {
    let output = callqa(&["audit", "fixtures/bad/malformed.jsonl", "--format", "text"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let err = stderr(&output);
    for expected in [
        "fixtures/bad/malformed.jsonl:2: malformed JSON: EOF while parsing a string",
        "fixtures/bad/malformed.jsonl:3: invalid conversation: conversation \"bad-speaker-3\", turn 1: unknown speaker \"bot\"",
        "fixtures/bad/malformed.jsonl:4: conversation \"no-turns-4\" has no turns",
        "fixtures/bad/malformed.jsonl:5: invalid conversation: missing field `id`",
        "fixtures/bad/malformed.jsonl:6: duplicate conversation id \"ok-1\": already read at fixtures/bad/malformed.jsonl:1; skipped",
        "6 conversations read from 1 file: 1 audited, 5 skipped (malformed 1, invalid 2, no_turns 1, duplicate_id 1)",
    ] {
        assert!(err.contains(expected), "stderr lacks {expected:?}:\n{err}");
    }
    let strict_dir = tempfile::tempdir().unwrap();
    let report = strict_dir.path().join("r");
    let strict = callqa(&[
        "audit",
        "fixtures/bad/malformed.jsonl",
        "--strict",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code(&strict), 3);
    assert!(
        !report.exists(),
        "no report is written when --strict fails the run"
    );
}

#[test]
fn nothing_readable_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.jsonl"), "").unwrap();
    let output = callqa(&["audit", dir.path().to_str().unwrap()]);
    assert_eq!(code(&output), 3);
    assert!(stderr(&output).contains("no conversation could be read"));
    let missing = callqa(&["audit", "fixtures/no-such-folder"]);
    assert_eq!(code(&missing), 3);
    assert!(
        stderr(&missing).contains("fixtures/no-such-folder: cannot read"),
        "{}",
        stderr(&missing)
    );
}

#[test]
fn gates() {
    let cases: [(&[&str], i32); 6] = [
        (&["--fail-on", "major"], 1),
        (&["--fail-on", "critical"], 0),
        (&["--fail-under", "90"], 1),
        (&["--fail-under", "0"], 0),
        (&["--fail-under", "0", "--fail-on", "minor"], 1),
        (&["--as-of", "not a time"], 2),
    ];
    for (flags, expected) in cases {
        let mut args = vec!["audit", "fixtures/demo", "-q", "--format", "text"];
        args.extend_from_slice(flags);
        let output = callqa(&args);
        assert_eq!(code(&output), expected, "{flags:?}: {}", stderr(&output));
    }
}

#[test]
fn rule_file_errors_exit_2_naming_file_line_and_field() {
    let cases = [
        (
            "fixtures/rules/typo-key.toml",
            "fixtures/rules/typo-key.toml:9: unknown field `phrase`",
        ),
        (
            "fixtures/rules/bad-kind.toml",
            "fixtures/rules/bad-kind.toml:6: unknown variant `forbidden`",
        ),
    ];
    for (file, expected) in cases {
        for command in [
            vec!["audit", "fixtures/demo", "--rules", file],
            vec!["rules", "test", file],
        ] {
            let output = callqa(&command);
            assert_eq!(code(&output), 2, "{command:?}");
            assert!(
                stderr(&output).contains(expected),
                "{command:?}: {}",
                stderr(&output)
            );
        }
    }
    let failing = callqa(&["rules", "test", "fixtures/rules/failing-example.toml"]);
    assert_eq!(code(&failing), 2);
    assert!(
        stderr(&failing).contains("fixtures/rules/failing-example.toml:11: field `examples.pass`: rule `blame` found please «calm down», sir in this example"),
        "{}",
        stderr(&failing)
    );
}

#[test]
fn shipped_packs_pass_their_own_tests() {
    let output = callqa(&["rules", "test"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("examples, all behaved"),
        "{}",
        stdout(&output)
    );
    let team = callqa(&["rules", "test", "fixtures/rules/team.toml", "default"]);
    assert_eq!(code(&team), 0, "{}", stderr(&team));
}

#[test]
fn rules_list() {
    let output = callqa(&["rules", "list", "fixtures/rules/team.toml"]);
    assert_eq!(
        stdout(&output),
        "greeting\trequire\tminor\tweight=1\tspeaker=agent\tfixtures/rules/team.toml:5\tAgent did not name the bank in the greeting\n\
         guarantee\tforbid\tcritical\tweight=5\tspeaker=agent\tfixtures/rules/team.toml:17\tAgent promised an outcome the bank cannot guarantee\n"
    );
    let phrases = callqa(&["rules", "list", "fixtures/rules/team.toml", "--phrases"]);
    assert_eq!(
        stdout(&phrases),
        "northwind bank\nnorthwind\ni guarantee\n100% guaranteed\nguaranteed approval\ncannot guarantee\ncan't guarantee\n"
    );
    let default = callqa(&["rules", "list"]);
    let ids: Vec<&str> = std::str::from_utf8(&default.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').next().unwrap())
        .collect();
    assert!(
        ids.starts_with(&["interruption", "blame", "apology", "closing"]),
        "{ids:?}"
    );
}

#[test]
fn explain_shows_findings_under_their_turns() {
    let output = callqa(&["explain", "fixtures/demo", "--id", "call-0002"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_expected("demo/explain-call-0002.txt", &output.stdout);
    let missing = callqa(&["explain", "fixtures/demo", "--id", "nope"]);
    assert_eq!(code(&missing), 3);
}

#[test]
fn a_folder_of_someone_else_is_not_replaced() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "keep me").unwrap();
    let output = callqa(&["audit", "fixtures/demo", "-o", dir.path().to_str().unwrap()]);
    assert_eq!(code(&output), 2);
    assert!(stderr(&output).contains("notes.txt"), "{}", stderr(&output));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).unwrap(),
        "keep me"
    );
}

#[test]
fn the_harper_valley_excerpt_has_real_timings() {
    let output = callqa(&["audit", "fixtures/harper-valley", "-q", "--format", "text"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    assert_expected("harper-valley/findings.txt", &output.stdout);
}

#[test]
fn ci_formats_are_pinned() {
    let github = callqa(&["audit", "fixtures/demo", "-q", "--format", "github"]);
    assert_eq!(code(&github), 0, "{}", stderr(&github));
    assert_expected("demo/findings.github.txt", &github.stdout);
    let sarif = callqa(&["audit", "fixtures/demo", "-q", "--format", "sarif"]);
    assert_eq!(code(&sarif), 0, "{}", stderr(&sarif));
    assert_expected("demo/findings.sarif", &sarif.stdout);
    let scripts = callqa(&["audit", "fixtures/scripts", "-q", "--format", "sarif"]);
    assert_expected("scripts/findings.sarif", &scripts.stdout);
}

/// Findings sorted on disk (a byte of memory for them: a run per finding) come out as they do
/// from memory, in the report folder and in every standard-output format.
#[test]
fn findings_sorted_on_disk_change_no_byte() {
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("report");
    let spill = ["--findings-memory", "1", "-q"];
    let report = callqa(
        &[
            &["audit", "fixtures/demo", "-o", dir.to_str().unwrap()],
            &spill[..],
        ]
        .concat(),
    );
    assert_eq!(code(&report), 0, "{}", stderr(&report));
    assert_report_dir("demo", &dir);
    for (format, expected) in [
        ("text", "demo/findings.txt"),
        ("json", "demo/findings.jsonl"),
        ("github", "demo/findings.github.txt"),
        ("sarif", "demo/findings.sarif"),
    ] {
        let output =
            callqa(&[&["audit", "fixtures/demo", "--format", format], &spill[..]].concat());
        assert_eq!(code(&output), 0, "{}", stderr(&output));
        assert_expected(expected, &output.stdout);
    }
}

/// The SARIF output of the demo and of the scripts validates against the OASIS schema.
#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let mut schema: serde_json::Value = serde_json::from_slice(
        &std::fs::read(root().join("fixtures/sarif/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    // The published file has one defect the validator's meta-schema check refuses: region's
    // `anyOf` (one of startLine, charOffset, byteOffset is required) sits inside
    // `properties`, as if it were a property. Move it where the spec means it to be.
    let region = &mut schema["definitions"]["region"];
    let any_of = region["properties"]
        .as_object_mut()
        .unwrap()
        .remove("anyOf")
        .expect("the known defect is still there");
    region["anyOf"] = any_of;
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for input in ["fixtures/demo", "fixtures/scripts", "fixtures/formats"] {
        let output = callqa(&["audit", input, "-q", "--format", "sarif"]);
        let log: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&log)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{input}: {errors:#?}");
        assert!(!log["runs"][0]["results"].as_array().unwrap().is_empty());
    }
    // The validator is not vacuous: a result without a message is refused.
    let mut broken: serde_json::Value = serde_json::from_slice(
        &callqa(&["audit", "fixtures/demo", "-q", "--format", "sarif"]).stdout,
    )
    .unwrap();
    broken["runs"][0]["results"][0]
        .as_object_mut()
        .unwrap()
        .remove("message");
    assert!(!validator.is_valid(&broken));
}

/// A script with blame language fails the gate, and the workflow command names its file and
/// the line of the turn, so the finding shows on the pull request.
#[test]
fn a_blaming_script_fails_the_github_gate_at_its_line() {
    let output = callqa(&[
        "audit",
        "fixtures/scripts/bad",
        "--fail-on",
        "major",
        "--format",
        "github",
    ]);
    assert_eq!(code(&output), 1, "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.lines().any(|line| line.starts_with(
            "::error file=fixtures/scripts/bad/deflect.txt,line=2,title=callqa blame (major)::Agent blamed the customer"
        )),
        "{out}"
    );
    let good = callqa(&[
        "audit",
        "fixtures/scripts/good",
        "--fail-on",
        "major",
        "--format",
        "github",
    ]);
    assert_eq!(code(&good), 0, "{}", stdout(&good));
    assert!(!stdout(&good).contains("::error"), "{}", stdout(&good));
}

#[test]
fn completions_and_the_man_page_are_generated_from_the_flags() {
    let expectations = [
        ("bash", "_callqa()"),
        ("zsh", "#compdef callqa"),
        ("fish", "complete -c callqa"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[callqa]"),
    ];
    for (shell, marker) in expectations {
        let output = callqa(&["completions", shell]);
        assert_eq!(code(&output), 0, "{shell}: {}", stderr(&output));
        let script = stdout(&output);
        assert!(script.contains(marker), "{shell} lacks {marker}");
        // Flags of the subcommands are completed, the new ones included.
        for flag in ["fail-on", "format", "baseline"] {
            assert!(script.contains(flag), "{shell} lacks {flag}");
        }
    }
    assert_eq!(code(&callqa(&["completions", "tcsh"])), 2);
    let man = callqa(&["man"]);
    assert_eq!(code(&man), 0, "{}", stderr(&man));
    let page = stdout(&man);
    assert!(
        page.starts_with(".ie \\n(.g .ds Aq"),
        "{}",
        &page[..80.min(page.len())]
    );
    assert_has(
        &page,
        "the man page",
        &[
            ".TH callqa 1",
            ".SH SUBCOMMANDS",
            "callqa\\-audit",
            "completions",
        ],
    );
    // A page per subcommand, with every option: `callqa man audit`, `callqa man rules test`.
    let audit = stdout(&callqa(&["man", "audit"]));
    assert_has(
        &audit,
        "callqa man audit",
        &[
            ".TH callqa-audit 1",
            "\\-\\-fail\\-under",
            "\\-\\-output",
            "\\-\\-input\\-format",
            "\\-\\-strict",
            "\\-\\-baseline",
        ],
    );
    let rules_test = stdout(&callqa(&["man", "rules", "test"]));
    assert!(
        rules_test.contains(".TH callqa-rules-test 1"),
        "{rules_test}"
    );
    let unknown = callqa(&["man", "audits"]);
    assert_eq!(code(&unknown), 2);
    assert!(
        stderr(&unknown).contains("no subcommand `audits`"),
        "{}",
        stderr(&unknown)
    );
    // Every page the main page refers to can be written.
    let dir = tempfile::tempdir().unwrap();
    let written = callqa(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(code(&written), 0, "{}", stderr(&written));
    for page in [
        "callqa.1",
        "callqa-audit.1",
        "callqa-rules.1",
        "callqa-rules-test.1",
        "callqa-man.1",
    ] {
        assert!(dir.path().join(page).is_file(), "--dir wrote no {page}");
    }
}

/// One agent, one team, one conversation: no "1 agents" anywhere a person reads.
#[test]
fn counts_of_one_are_singular() {
    let (output, _out, dir) = audit_into_report(&["tests/cmd/explain-long-call.in/call.txt"]);
    assert_eq!(code(&output), 0, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(
        err.contains("1 conversation read from 1 file: 1 audited"),
        "{err}"
    );
    assert!(err.contains("callqa: 1 agent, 2 findings ("), "{err}");
    let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert_has(
        &page,
        "report.html",
        &[
            "<b>1</b><span>conversation read</span>",
            "<b>1</b><span>agent</span>",
            "<b>1</b><span>team</span>",
            "<b>2</b><span>findings</span>",
        ],
    );
}

#[test]
fn the_help_of_o_names_every_file_it_writes() {
    let help = stdout(&callqa(&["audit", "--help"]));
    let line = help
        .split("-o, --output <DIR>")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .expect("audit --help documents -o");
    for file in REPORT_FILES {
        assert!(line.contains(file), "-o's help lacks {file}: {line}");
    }
}

#[test]
fn a_team_extends_the_default_pack_instead_of_copying_it() {
    let print = callqa(&["rules", "print", "default"]);
    assert_eq!(code(&print), 0);
    assert_eq!(
        print.stdout,
        std::fs::read(root().join("rules/default.toml")).unwrap()
    );
    assert_eq!(code(&callqa(&["rules", "print", "team"])), 2);

    let file = "fixtures/rules/extends-default.toml";
    let list = callqa(&["rules", "list", file]);
    let rows: Vec<Vec<String>> = stdout(&list)
        .lines()
        .map(|line| line.split('\t').take(4).map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows,
        [
            ["blame", "forbid", "critical", "weight=5"],
            ["apology", "respond", "major", "weight=3"],
            ["closing", "require", "major", "weight=2"],
            ["callback", "promise", "major", "weight=3"],
            ["guarantee", "forbid", "critical", "weight=5"],
        ]
    );
    let test = callqa(&["rules", "test", file]);
    assert_eq!(code(&test), 0, "{}", stderr(&test));
    // Blame is critical in the extended pack: the gate on critical now fails.
    let gate = |rules: &str| {
        code(&callqa(&[
            "audit",
            "fixtures/scripts/bad",
            "-q",
            "--rules",
            rules,
            "--fail-on",
            "critical",
        ]))
    };
    assert_eq!(gate("default"), 0);
    assert_eq!(gate(file), 1);

    // A window override really changes the rule: the default pack's own closing example
    // (a thank-you after a "DM us" turn) no longer fails with the last two turns in view.
    let dir = tempfile::tempdir().unwrap();
    let wider = dir.path().join("wider.toml");
    std::fs::write(
        &wider,
        "version = 1\ninclude = [\"default\"]\n\n[override.closing]\nlast_turns = 2\n",
    )
    .unwrap();
    let test = callqa(&["rules", "test", wider.to_str().unwrap()]);
    assert_eq!(code(&test), 2);
    assert!(
        stderr(&test).contains("field `examples.fail`: rule `closing` found nothing"),
        "{}",
        stderr(&test)
    );
    let unknown = dir.path().join("unknown.toml");
    std::fs::write(
        &unknown,
        "version = 1\ninclude = [\"default\"]\ndisable = [\"blame\", \"greeting\"]\n",
    )
    .unwrap();
    let output = callqa(&[
        "audit",
        "fixtures/demo",
        "--rules",
        unknown.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 2);
    assert!(
        stderr(&output).contains("unknown.toml:3: field `disable`: unknown rule id `greeting`"),
        "{}",
        stderr(&output)
    );
}

/// `# callqa: ignore RULE` above a turn suppresses that rule's findings there (`# callqa:
/// ignore`: every rule's); they are counted, and the gate does not see them.
#[test]
fn inline_suppressions_in_scripts() {
    let (output, dir, report) = audit_into_report(&[
        "fixtures/scripts/suppressed",
        "--fail-on",
        "minor",
        "--format",
        "text",
    ]);
    assert_eq!(code(&output), 0, "{}", stdout(&output));
    assert!(output.stdout.is_empty(), "{}", stdout(&output));
    assert!(
        stderr(&output).contains("0 findings (interruption 0, blame 0, apology 0, closing 0, callback 0); 3 suppressed by `# callqa: ignore`"),
        "{}",
        stderr(&output)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["suppressed"], 3);
    // Without the directives the same script fails.
    let script =
        std::fs::read_to_string(root().join("fixtures/scripts/suppressed/double-charge.txt"))
            .unwrap();
    let plain: String = script
        .lines()
        .filter(|line| !line.starts_with("# callqa:"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(dir.path().join("plain.txt"), plain).unwrap();
    let output = callqa(&[
        "audit",
        dir.path().join("plain.txt").to_str().unwrap(),
        "--fail-on",
        "major",
        "--format",
        "text",
    ]);
    assert_eq!(code(&output), 1);
    assert_eq!(stdout(&output).lines().count(), 3, "{}", stdout(&output));
}

/// `--baseline PREVIOUS/findings.csv`: only findings the baseline lacks fail the gate, matched
/// on conversation, rule and evidence, so lines that shift do not make old findings new.
#[test]
fn a_baseline_lets_only_new_findings_fail_the_gate() {
    let dir = tempfile::tempdir().unwrap();
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).unwrap();
    let original =
        std::fs::read_to_string(root().join("fixtures/scripts/bad/deflect.txt")).unwrap();
    std::fs::write(scripts.join("deflect.txt"), &original).unwrap();
    let base = dir.path().join("base");
    let first = callqa(&[
        "audit",
        scripts.to_str().unwrap(),
        "-q",
        "-o",
        base.to_str().unwrap(),
    ]);
    assert_eq!(code(&first), 0);
    let baseline = base.join("findings.csv");
    let baseline = baseline.to_str().unwrap();
    let gate = |extra: &[&str]| {
        let mut args = vec![
            "audit",
            scripts.to_str().unwrap(),
            "--baseline",
            baseline,
            "--fail-on",
            "major",
            "--format",
            "github",
        ];
        args.extend_from_slice(extra);
        callqa(&args)
    };
    let same = gate(&[]);
    assert_eq!(code(&same), 0, "{}", stderr(&same));
    assert!(same.stdout.is_empty(), "{}", stdout(&same));
    assert!(
        stderr(&same).contains("baseline: 4 of 4 findings are in it, 0 new"),
        "{}",
        stderr(&same)
    );
    // Two lines on top shift every turn; one new blaming turn at the end.
    std::fs::write(
        scripts.join("deflect.txt"),
        format!("# reviewed 2026-11\n\n{original}agent: Calm down, please.\n"),
    )
    .unwrap();
    let changed = gate(&["-o", dir.path().join("after").to_str().unwrap()]);
    assert_eq!(code(&changed), 1, "{}", stderr(&changed));
    let annotations: Vec<String> = stdout(&changed).lines().map(str::to_string).collect();
    assert_eq!(annotations.len(), 1, "{annotations:?}");
    assert!(
        annotations[0].contains("deflect.txt,line=6,title=callqa blame (major)::"),
        "{annotations:?}"
    );
    assert!(
        stderr(&changed).contains(
            "gate failed: 1 new finding of severity major or worse (3 more in the baseline)"
        ),
        "{}",
        stderr(&changed)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("after/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["baselined"], 3);
    // SARIF says which results are new.
    let sarif = callqa(&[
        "audit",
        scripts.to_str().unwrap(),
        "--baseline",
        baseline,
        "--format",
        "sarif",
    ]);
    let log: serde_json::Value = serde_json::from_slice(&sarif.stdout).unwrap();
    let states: Vec<&str> = log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["baselineState"].as_str().unwrap())
        .collect();
    assert_eq!(
        states.iter().filter(|s| **s == "new").count(),
        1,
        "{states:?}"
    );

    std::fs::write(dir.path().join("bad.csv"), "id,rule\nx,blame\n").unwrap();
    let bad = callqa(&[
        "audit",
        scripts.to_str().unwrap(),
        "--baseline",
        dir.path().join("bad.csv").to_str().unwrap(),
    ]);
    assert_eq!(code(&bad), 2);
    assert!(
        stderr(&bad).contains("bad.csv:1: not a findings.csv: no `conversation_id` column"),
        "{}",
        stderr(&bad)
    );
}

/// The example workflow runs the gate the README describes.
#[test]
fn the_example_workflow_runs_the_gate() {
    let workflow = std::fs::read_to_string(root().join("examples/github-workflow.yml")).unwrap();
    assert!(workflow.contains("pull_request:"));
    assert!(workflow.contains("run: callqa audit scripts/ --fail-on major --format github"));
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("## callqa in CI") && readme.contains("examples/github-workflow.yml"));
}

/// Compressed input is known by its magic bytes, not only by a `.gz` name: on standard input
/// and in a file named as plain JSON Lines (issue 20, item 11).
#[test]
fn gzip_is_known_by_its_bytes() {
    let calls = std::fs::read(root().join("fixtures/demo/calls.jsonl")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut encoder, &calls).unwrap();
    let compressed = encoder.finish().unwrap();
    let plain = callqa_with_stdin(&["audit", "-q", "--format", "text"], &calls);
    let zipped = callqa_with_stdin(&["audit", "-q", "--format", "text"], &compressed);
    assert_eq!(code(&zipped), 0, "{}", stderr(&zipped));
    assert_eq!(stdout(&zipped), stdout(&plain));
    let dir = tempfile::tempdir().unwrap();
    let misnamed = dir.path().join("calls.jsonl");
    std::fs::write(&misnamed, &compressed).unwrap();
    let from_file = callqa(&["audit", "-q", "--format", "csv", misnamed.to_str().unwrap()]);
    let expected = callqa(&[
        "audit",
        "-q",
        "--format",
        "csv",
        "fixtures/demo/calls.jsonl",
    ]);
    assert_eq!(code(&from_file), 0, "{}", stderr(&from_file));
    assert_eq!(stdout(&from_file), stdout(&expected));
}

/// `-o` naming a file is refused before anything is read, and the file is left as it was,
/// with nothing beside it (issue 20, item 6).
#[test]
fn an_existing_file_given_to_o_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.csv");
    std::fs::write(&file, "mine").unwrap();
    let output = callqa(&["audit", "fixtures/demo", "-o", file.to_str().unwrap()]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("report.csv") && stderr(&output).contains("not a folder"),
        "{}",
        stderr(&output)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["report.csv"], "leftovers beside the file");
}

/// A path that does not exist, named beside good ones, is reported by name, the rest is
/// audited and the report written, and the run exits 2, as ripgrep does (issue 20, item 12).
#[test]
fn a_missing_path_beside_good_ones_exits_2_after_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("out");
    let output = callqa(&[
        "audit",
        "fixtures/demo",
        "fixtures/nothere.jsonl",
        "-o",
        report.to_str().unwrap(),
    ]);
    assert_eq!(code(&output), 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("fixtures/nothere.jsonl"),
        "{}",
        stderr(&output)
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("summary.json")).unwrap()).unwrap();
    assert!(summary["conversations"]["audited"].as_u64().unwrap() > 0);
}

/// `-j` past 4 × the cores (or 256) is clamped with a warning; the output is the same as
/// ever (issue 20, item 13).
#[test]
fn a_thread_count_past_the_machine_is_clamped_with_a_warning() {
    let many = callqa(&[
        "audit",
        "fixtures/demo",
        "-q",
        "-j",
        "100000",
        "--format",
        "text",
    ]);
    let one = callqa(&[
        "audit",
        "fixtures/demo",
        "-q",
        "-j",
        "1",
        "--format",
        "text",
    ]);
    assert_eq!(code(&many), 0, "{}", stderr(&many));
    assert!(
        stderr(&many).contains("-j 100000 is more than") && stderr(&many).contains("using"),
        "{}",
        stderr(&many)
    );
    assert_eq!(stdout(&many), stdout(&one));
    assert!(!stderr(&one).contains("-j"), "{}", stderr(&one));
}

#[test]
fn a_named_file_whose_name_says_no_format_is_read_as_json_lines_and_said_so() {
    // Named on the command line: read as JSON Lines, with a line saying why; in a folder the
    // same file is ignored (and listed by --verbose), and --input-format silences the line.
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("calls.export");
    std::fs::copy(root().join("fixtures/demo/calls.jsonl"), &export).unwrap();
    let said = "calls.export: its name says no format callqa reads; read as JSON Lines";
    let (named, _out, _) = audit_into_report(&[export.to_str().unwrap(), "-q"]);
    assert_eq!(code(&named), 0, "{}", stderr(&named));
    assert!(stderr(&named).contains(said), "{}", stderr(&named));
    let (forced, _out, _) =
        audit_into_report(&[export.to_str().unwrap(), "-q", "--input-format", "jsonl"]);
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert!(!stderr(&forced).contains(said), "{}", stderr(&forced));
    let (folder, _out, _) = audit_into_report(&[dir.path().to_str().unwrap(), "-v"]);
    assert!(!stderr(&folder).contains(said), "{}", stderr(&folder));
    assert!(
        stderr(&folder).contains("calls.export: ignored"),
        "{}",
        stderr(&folder)
    );
}

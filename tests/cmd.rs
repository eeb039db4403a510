//! Command cases: the real binary's standard output, standard error and exit code, pinned
//! together, one case per file under `tests/cmd/` (trycmd's `*.toml`, with `*.stdout`,
//! `*.stderr`, `*.stdin` beside it and a `*.in/` folder where the case reads its own files).
//! A case without `*.in/` runs in the project root, so its paths read as in the README.
//!
//! `CALLQA_BLESS=1 cargo test --test cmd` rewrites the `*.stdout` and `*.stderr` files, keeping
//! their `[..]` wildcards where it can (trycmd's `TRYCMD=overwrite`); review the diff.

mod common;

/// Only what changes from run to run, the time a run took and its rate (`[..]` in the
/// summary's last line), is left out; everything else is pinned byte for byte.
#[test]
fn cmd_cases() {
    if common::blessing() && std::env::var_os("TRYCMD").is_none() {
        // trycmd takes its mode from `TRYCMD` alone, and setting a variable of this process is
        // unsafe code, which the crate forbids: run this test again with it set.
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["cmd_cases", "--exact"])
            .env("TRYCMD", "overwrite")
            .status()
            .expect("the test binary runs again");
        assert!(status.success(), "blessing the command cases failed");
        return;
    }
    trycmd::TestCases::new()
        .default_bin_path(trycmd::cargo::cargo_bin!("callqa"))
        // Colour is off whatever the terminal or the caller's environment says.
        .env("NO_COLOR", "1")
        .case("tests/cmd/*.toml");
}

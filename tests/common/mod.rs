//! What the integration tests share: the project root, the binary run in it, and the
//! comparison of an output with its expected file, which `CALLQA_BLESS=1` rewrites instead.
#![allow(dead_code)] // Each test file uses its own part of this module.

pub fn blessing() -> bool {
    std::env::var_os("CALLQA_BLESS").is_some()
}

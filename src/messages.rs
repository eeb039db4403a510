//! Every message the binary prints on standard error goes through here, as ripgrep's
//! `messages.rs` does: one prefix, and a flag that remembers whether an error was reported.

use std::sync::atomic::{AtomicBool, Ordering};

static ERRORED: AtomicBool = AtomicBool::new(false);

/// Prints `callqa: MESSAGE` on standard error.
macro_rules! message {
    ($($arg:tt)*) => {
        eprintln!("callqa: {}", format_args!($($arg)*))
    };
}

/// Prints `callqa: MESSAGE` on standard error and remembers that an error was reported.
macro_rules! err_message {
    ($($arg:tt)*) => {{
        $crate::messages::set_errored();
        eprintln!("callqa: {}", format_args!($($arg)*))
    }};
}

pub(crate) use {err_message, message};

/// Remembers that an error was reported.
pub fn set_errored() {
    ERRORED.store(true, Ordering::SeqCst);
}

/// Whether an error was reported.
pub fn errored() -> bool {
    ERRORED.load(Ordering::SeqCst)
}

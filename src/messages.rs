//! Every message the binary prints on standard error goes through here, as ripgrep's
//! `messages.rs` does: one prefix, and a flag that remembers whether an error was reported.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static ERRORED: AtomicBool = AtomicBool::new(false);

/// Prints `callqa: MESSAGE` on standard error.
macro_rules! message {
    ($($arg:tt)*) => {
        $crate::messages::print(format_args!($($arg)*))
    };
}

/// Prints `callqa: MESSAGE` on standard error and remembers that an error was reported.
macro_rules! err_message {
    ($($arg:tt)*) => {{
        $crate::messages::set_errored();
        $crate::messages::print(format_args!($($arg)*))
    }};
}

pub(crate) use {err_message, message};

/// Prints `callqa: MESSAGE` on standard error, without the hidden characters a file name or
/// an id may hold ([`callqa::visible`]).
pub fn print(message: std::fmt::Arguments) {
    let line = format!("callqa: {message}\n");
    let _ = std::io::stderr().write_all(callqa::visible::strip(&line).as_bytes());
}

/// Remembers that an error was reported.
pub fn set_errored() {
    ERRORED.store(true, Ordering::SeqCst);
}

/// Whether an error was reported.
pub fn errored() -> bool {
    ERRORED.load(Ordering::SeqCst)
}

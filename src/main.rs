//! The `callqa` binary: parse the flags, run the command, map the result to an exit code.

mod cli;
mod commands;
mod progress;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("callqa: error: {err:#}");
            commands::Exit::Usage
        }
    };
    ExitCode::from(code as u8)
}

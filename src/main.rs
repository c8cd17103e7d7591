//! The `whoisit` binary: everything is in the library's command line.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    match whoisit::cli::main() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` gives the whole cause chain on one report, never a backtrace: the message
            // is for the user, and says what to do.
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

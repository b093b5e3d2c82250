//! The `qingdan` command line. Each subcommand lives in its own module under
//! `cli/`; this module parses the arguments and maps outcomes to exit codes
//! (0 success / pass, 1 a check failed, 2 invalid input or usage).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod catalogue;
pub mod new;

/// Exit code for "the check ran and failed".
pub const EXIT_FAIL: u8 = 1;
/// Exit code for "the input was invalid" (and for usage errors).
pub const EXIT_INVALID: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "qingdan",
    version,
    about = "Basic elderly-care service lists: catalogues, county plugins and the floor proof"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with catalogue files (the declarative lists).
    #[command(subcommand)]
    Catalogue(catalogue::CatalogueCommand),
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_INVALID } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let outcome = match cli.command {
        Command::Catalogue(cmd) => catalogue::run(cmd),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

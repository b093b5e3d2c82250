//! The `qingdan` command. Everything it does lives in the library
//! ([`qingdan::cli`]); this file only hands over the arguments.

use std::process::ExitCode;

fn main() -> ExitCode {
    qingdan::cli::main()
}

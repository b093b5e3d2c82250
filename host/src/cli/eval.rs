//! `qingdan eval`: what one person is entitled to, line by line, with the
//! reason for each — from the baseline catalogue alone, or with a county
//! plugin under the guard.

use super::{EXIT_INVALID, baseline_in_force, parse_person, today};
use crate::evaluate::{self, Binding};
use crate::runtime::{Limits, Runtime};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `qingdan eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The baseline catalogue file (other editions and parents are read from
    /// the same folder; the edition in force on --as-of is used).
    #[arg(long)]
    pub catalogue: PathBuf,
    /// The person as JSON, e.g. '{"age":92,"hukou":"local","ability":"intact",
    /// "assistance":"none","disability":"none"}', or @FILE to read it from a file.
    #[arg(long)]
    pub person: String,
    /// Evaluation date (YYYY-MM-DD); default today (UTC+8).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// A county plugin (.wasm component) to evaluate under the guard.
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Runs `qingdan eval`; returns the exit code.
pub fn run(args: EvalArgs) -> anyhow::Result<u8> {
    let person = match parse_person(&args.person) {
        Ok(person) => person,
        Err(e) => {
            eprintln!("error: --person: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let as_of = args.as_of.unwrap_or_else(today);
    let (library, code) = match baseline_in_force(&args.catalogue, as_of) {
        Ok(found) => found,
        Err(exit) => return Ok(exit),
    };
    let Some(catalogue) = library.in_force(&code, as_of) else {
        return Ok(EXIT_INVALID);
    };
    let evaluation = match &args.plugin {
        None => evaluate::evaluate(catalogue, None, &person, as_of),
        Some(path) => {
            let runtime = Runtime::new(Limits::default(), super::compiler())
                .context("starting the runtime")?;
            let plugin = match runtime.load_file(path) {
                Ok(plugin) => plugin,
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Ok(EXIT_INVALID);
                }
            };
            let binding = match Binding::new(catalogue, plugin.description()) {
                Ok(binding) => binding,
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Ok(EXIT_INVALID);
                }
            };
            evaluate::evaluate(catalogue, Some((&plugin, &binding)), &person, as_of)
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&evaluation)?);
    } else {
        print!("{evaluation}");
    }
    Ok(0)
}

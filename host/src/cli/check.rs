//! `qingdan check`: the floor proof of a county plugin, with exactly the
//! production engine and limits. The component is materialised into its
//! answer table (twice, to check it answers the same however it is asked),
//! the table is compared with the baseline its county is bound to by the
//! jurisdiction register, and the table is kept in the table cache for
//! `qingdan eval --plugin`.

use super::{EXIT_FAIL, EXIT_INVALID, county_baseline, prove, today};
use crate::runtime::{Limits, Runtime};
use crate::verify::Options;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

/// Arguments of `qingdan check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The county plugin (.wasm component).
    pub plugin: PathBuf,
    /// A catalogue file of the county's parent list (a draft edition, say;
    /// the edition in force on --as-of in its folder is used). Default: the
    /// parent's list from the jurisdiction register, in `catalogues/` (or
    /// $QINGDAN_CATALOGUES).
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// Prove against the baseline edition in force on this date (YYYY-MM-DD);
    /// default today (UTC+8).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// Print the report as JSON (schema `qingdan.verify-report/2`).
    #[arg(long)]
    pub json: bool,
    /// Threads; default the machine's cores.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `qingdan check`; returns 0 pass, 1 fail, 2 invalid.
pub fn run(args: CheckArgs) -> anyhow::Result<u8> {
    let as_of = args.as_of.unwrap_or_else(today);
    let runtime =
        Runtime::new(Limits::default(), super::compiler()).context("starting the runtime")?;
    let plugin = match runtime.load_file(&args.plugin) {
        Ok(plugin) => plugin,
        Err(e) => {
            eprintln!("invalid: {}: {e}", args.plugin.display());
            return Ok(EXIT_INVALID);
        }
    };
    let catalogue = match county_baseline(plugin.description(), args.catalogue.as_deref(), as_of) {
        Ok(catalogue) => catalogue,
        Err(e) => {
            eprintln!("invalid: {}: {e}", args.plugin.display());
            return Ok(EXIT_INVALID);
        }
    };
    let mut options = Options {
        fuel_per_person: runtime.limits().fuel_per_evaluation,
        ..Options::default()
    };
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    let proof = match prove(&plugin, &catalogue, &options) {
        Ok(proof) => proof,
        Err(e) => {
            eprintln!("invalid: {}: {e}", args.plugin.display());
            return Ok(EXIT_INVALID);
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&proof.report)?);
    } else {
        print!("{}", proof.report);
    }
    Ok(if proof.report.passed { 0 } else { EXIT_FAIL })
}

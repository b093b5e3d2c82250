//! `qingdan check`: the floor proof of a county plugin, with exactly the
//! production engine and limits.

use super::{EXIT_FAIL, EXIT_INVALID, baseline_in_force, today};
use crate::runtime::{Limits, Runtime};
use crate::verify::{self, Options};
use anyhow::Context;
use clap::Args;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Arguments of `qingdan check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The county plugin (.wasm component).
    pub plugin: PathBuf,
    /// The baseline catalogue file. Default: the list the plugin names,
    /// in force on --as-of, from the folder `catalogues/` (or $QINGDAN_CATALOGUES).
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// Prove against the baseline edition in force on this date (YYYY-MM-DD);
    /// default today (UTC+8).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// Print the report as JSON (schema `qingdan.verify-report/1`).
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
    let wanted = plugin.description().baseline.clone();
    let file = match &args.catalogue {
        Some(file) => file.clone(),
        None => {
            let dir = std::env::var_os("QINGDAN_CATALOGUES")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("catalogues"));
            match super::find_catalogue(&dir, &wanted, as_of) {
                Ok(file) => file,
                Err(e) => {
                    eprintln!("invalid: {e}");
                    return Ok(EXIT_INVALID);
                }
            }
        }
    };
    let (library, code) = match baseline_in_force(&file, as_of) {
        Ok(found) => found,
        Err(exit) => return Ok(exit),
    };
    let Some(catalogue) = library.in_force(&code, as_of) else {
        return Ok(EXIT_INVALID);
    };
    let mut options = Options {
        fuel_per_person: runtime.limits().fuel_per_evaluation,
        ..Options::default()
    };
    if let Some(threads) = args.threads {
        options.threads = threads.max(1);
    }
    let tty = std::io::stderr().is_terminal();
    let shown = AtomicUsize::new(usize::MAX);
    let progress = |done: usize, total: usize| {
        if !tty {
            return;
        }
        let percent = done * 100 / total.max(1);
        if shown.swap(percent, Ordering::Relaxed) != percent {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\rproving over {total} persons: {percent:>3}%");
            let _ = err.flush();
        }
    };
    let report = match verify::verify(&plugin, catalogue, &options, &progress) {
        Ok(report) => report,
        Err(e) => {
            if tty {
                eprintln!();
            }
            eprintln!("invalid: {}: {e}", args.plugin.display());
            return Ok(EXIT_INVALID);
        }
    };
    if tty {
        eprintln!();
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(if report.passed { 0 } else { EXIT_FAIL })
}

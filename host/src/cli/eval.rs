//! `qingdan eval`: what one person is entitled to, line by line, with the
//! reason for each — from the baseline catalogue alone, or with a county
//! plugin served exactly as production serves it: from its answer table
//! (materialised and proven once, then taken from the table cache), merged
//! with the baseline under the guard.

use super::{EXIT_INVALID, baseline_in_force, county_baseline, parse_person, prove, today};
use crate::evaluate::{self, County, Fault, PluginRef, Served};
use crate::runtime::{Limits, Runtime};
use crate::table::TableCache;
use crate::verify::Options;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `qingdan eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The baseline catalogue file (other editions and parents are read from
    /// the same folder; the edition in force on --as-of is used). With
    /// --plugin it must be the county's parent list, and may be left out: the
    /// jurisdiction register then finds it.
    #[arg(long)]
    pub catalogue: Option<PathBuf>,
    /// The person as JSON, e.g. '{"age":92,"hukou":"local","ability":"intact",
    /// "assistance":"none","disability":"none"}', or @FILE to read it from a file.
    #[arg(long)]
    pub person: String,
    /// Evaluation date (YYYY-MM-DD); default today (UTC+8).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// A county plugin (.wasm component), served from its answer table.
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
    let evaluation = match &args.plugin {
        None => {
            let Some(file) = &args.catalogue else {
                eprintln!("error: give --catalogue (the list to evaluate), or --plugin");
                return Ok(EXIT_INVALID);
            };
            let catalogue = match edition_in_force(file, as_of) {
                Ok(catalogue) => catalogue,
                Err(exit) => return Ok(exit),
            };
            evaluate::evaluate(&catalogue, County::None, &person, as_of)
        }
        Some(path) => {
            let runtime = Runtime::new(Limits::default(), super::compiler())
                .context("starting the runtime")?;
            let plugin = match runtime.load_file(path) {
                Ok(plugin) => plugin,
                Err(e) => {
                    // The elder still gets the baseline, with the fault.
                    let Some(file) = &args.catalogue else {
                        eprintln!(
                            "error: {}: {e} (give --catalogue to see the baseline lines)",
                            path.display()
                        );
                        return Ok(EXIT_INVALID);
                    };
                    let catalogue = match edition_in_force(file, as_of) {
                        Ok(catalogue) => catalogue,
                        Err(exit) => return Ok(exit),
                    };
                    let plugin = PluginRef {
                        digest: String::new(),
                        county_code: String::new(),
                        county_name: path.display().to_string(),
                        table: None,
                    };
                    let fault = Fault {
                        kind: "load".into(),
                        message: e.to_string(),
                    };
                    let evaluation = evaluate::evaluate(
                        &catalogue,
                        County::Unavailable(&plugin, &fault),
                        &person,
                        as_of,
                    );
                    return print(&evaluation, args.json);
                }
            };
            let catalogue =
                match county_baseline(plugin.description(), args.catalogue.as_deref(), as_of) {
                    Ok(catalogue) => catalogue,
                    Err(e) => {
                        eprintln!("error: {}: {e}", path.display());
                        return Ok(EXIT_INVALID);
                    }
                };
            let cache = TableCache::new(TableCache::default_dir());
            let table = match cache.get_for(plugin.digest(), &catalogue.digest) {
                Some(table) => Ok(table),
                None => {
                    let options = Options {
                        fuel_per_person: runtime.limits().fuel_per_evaluation,
                        ..Options::default()
                    };
                    match prove(&plugin, &catalogue, &options) {
                        Ok(proof) => {
                            if !proof.report.passed {
                                eprintln!(
                                    "note: {} does not pass the floor proof (`qingdan check` shows why); the guard keeps every line at least at the baseline",
                                    path.display()
                                );
                            }
                            proof.table.ok_or_else(|| {
                                let first = proof.report.faults.first().map_or_else(
                                    || "its two materialisations differ".to_string(),
                                    |f| format!("[{}] {}", f.kind, f.message),
                                );
                                Fault {
                                    kind: "no-table".into(),
                                    message: format!(
                                        "the component's answers could not be materialised: {first}"
                                    ),
                                }
                            })
                        }
                        Err(e) => Err(Fault {
                            kind: "bind".into(),
                            message: e.to_string(),
                        }),
                    }
                }
            };
            let plugin_ref = PluginRef {
                digest: plugin.digest().to_string(),
                county_code: plugin.description().county_code.clone(),
                county_name: plugin.description().county_name.clone(),
                table: None,
            };
            let served = table.and_then(|t| {
                Served::new(Arc::new(t), &catalogue).map_err(|e| Fault {
                    kind: "table".into(),
                    message: e.to_string(),
                })
            });
            match &served {
                Ok(served) => evaluate::evaluate(&catalogue, County::Table(served), &person, as_of),
                Err(fault) => evaluate::evaluate(
                    &catalogue,
                    County::Unavailable(&plugin_ref, fault),
                    &person,
                    as_of,
                ),
            }
        }
    };
    print(&evaluation, args.json)
}

/// The edition of `file`'s list in force on `as_of` (its folder read for
/// the other editions and the parents); on failure the message is printed
/// and the exit code returned.
fn edition_in_force(
    file: &std::path::Path,
    as_of: jiff::civil::Date,
) -> Result<crate::catalogue::Catalogue, u8> {
    let (library, code) = baseline_in_force(file, as_of)?;
    library.in_force(&code, as_of).cloned().ok_or(EXIT_INVALID)
}

fn print(evaluation: &evaluate::Evaluation, json: bool) -> anyhow::Result<u8> {
    if json {
        println!("{}", serde_json::to_string_pretty(evaluation)?);
    } else {
        print!("{evaluation}");
    }
    Ok(0)
}

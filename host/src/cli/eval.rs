//! `qingdan eval`: what one person is entitled to, line by line, with the
//! reason for each — from the baseline catalogue alone, or with a county
//! plugin under the guard.

use super::{EXIT_INVALID, baseline_in_force, parse_person, today};
use crate::catalogue::{Catalogue, Item};
use crate::evaluate::{self, Binding, Evaluation, ResultLine};
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
            let runtime = Runtime::new(Limits::default()).context("starting the runtime")?;
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
        let mut value = serde_json::to_value(&evaluation)?;
        add_details_json(&mut value, &evaluation, catalogue);
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!(
            "{}",
            with_details(&evaluation.to_string(), &evaluation, catalogue)
        );
    }
    Ok(0)
}

/// The catalogue item a result line names, if it is a baseline item.
fn item_of<'c>(catalogue: &'c Catalogue, line: &ResultLine) -> Option<&'c Item> {
    catalogue.items.get(catalogue.item_index(&line.item)?)
}

/// Adds the item's 服务内容 / 服务标准 / 支出责任 / 责任单位 to each JSON
/// line that has them, as `content`, `standard`, `funding`, `department`.
fn add_details_json(value: &mut serde_json::Value, evaluation: &Evaluation, catalogue: &Catalogue) {
    let Some(lines) = value.get_mut("lines").and_then(|l| l.as_array_mut()) else {
        return;
    };
    for (json, line) in lines.iter_mut().zip(&evaluation.lines) {
        let (Some(object), Some(item)) = (json.as_object_mut(), item_of(catalogue, line)) else {
            continue;
        };
        for detail in item.details() {
            object.insert(detail.key.to_string(), detail.text.into());
        }
    }
}

/// The text of an evaluation with, under each line whose item gives them,
/// one line each for 服务内容, 服务标准, 支出责任 and 责任单位.
fn with_details(text: &str, evaluation: &Evaluation, catalogue: &Catalogue) -> String {
    let rows: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len());
    let mut next = 0;
    let mut unplaced = Vec::new();
    for line in &evaluation.lines {
        let details = item_of(catalogue, line)
            .map(Item::details)
            .unwrap_or_default();
        if details.is_empty() {
            continue;
        }
        let header = format!(" {}: {}", line.item, line.benefit);
        let Some(at) = rows[next..].iter().position(|r| r.ends_with(&header)) else {
            unplaced.push((line, details));
            continue;
        };
        // The line's block: its header and the indented lines under it.
        let mut end = next + at + 1;
        while rows.get(end).is_some_and(|r| r.starts_with(' ')) {
            end += 1;
        }
        for row in &rows[next..end] {
            out.push_str(row);
            out.push('\n');
        }
        for d in details {
            out.push_str(&format!("{:14}   {}: {}\n", "", d.heading, d.text));
        }
        next = end;
    }
    for row in &rows[next..] {
        out.push_str(row);
        out.push('\n');
    }
    for (line, details) in unplaced {
        for d in details {
            out.push_str(&format!("{} {}: {}\n", line.item, d.heading, d.text));
        }
    }
    out
}

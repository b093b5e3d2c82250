//! `qingdan catalogue …`: validate catalogue files and check each against the
//! lists above it.

use crate::catalogue::{Catalogue, CatalogueErrors, ChainReport, Library};
use crate::cli::{EXIT_FAIL, EXIT_INVALID};
use crate::register::{REGISTER_DIR, Register};
use clap::Subcommand;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// `qingdan catalogue` subcommands.
#[derive(Debug, Subcommand)]
pub enum CatalogueCommand {
    /// Validate catalogue files and check each against its parent list.
    ///
    /// Each file is validated; the lists it must not fall below (its parent,
    /// the parent's parent, … up to the national list) are loaded from the
    /// same directory, and the file is checked against every edition of each
    /// of them in force at the same time, over the whole person domain.
    ///
    /// Exit code: 0 every file valid and every check passed; 1 a check
    /// failed; 2 a file is invalid (errors on stderr as
    /// FILE:LINE:COLUMN: FIELD: PROBLEM).
    Check {
        /// Catalogue files (TOML). Without files: every `*.toml` file in
        /// `./catalogues/`.
        files: Vec<PathBuf>,
        /// Print the report as JSON on stdout (on invalid files:
        /// `{"passed": false, "errors": [...]}`, the errors also on stderr).
        #[arg(long)]
        json: bool,
    },
}

/// Runs a catalogue subcommand; returns the exit code.
pub fn run(cmd: CatalogueCommand) -> anyhow::Result<u8> {
    match cmd {
        CatalogueCommand::Check { files, json } => check(files, json),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
struct FileReport {
    file: String,
    list: String,
    items: usize,
    effective_from: String,
    effective_to: Option<String>,
    checks: Vec<ChainReport>,
}

#[derive(Serialize)]
struct Report {
    passed: bool,
    catalogues: Vec<FileReport>,
}

fn default_files() -> anyhow::Result<Vec<PathBuf>> {
    let dir = Path::new("catalogues");
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("no files given and cannot read {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn check(files: Vec<PathBuf>, json: bool) -> anyhow::Result<u8> {
    let files = if files.is_empty() {
        default_files()?
    } else {
        files
    };
    if files.is_empty() {
        anyhow::bail!("no catalogue files to check");
    }
    let library = Library::load_files(&files).and_then(|l| check_register(&files, &l).map(|()| l));
    let library = match library {
        Ok(l) => l,
        Err(errors) => {
            if json {
                let out = serde_json::json!({ "passed": false, "errors": errors });
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            for e in errors.errors() {
                eprintln!("{e}");
            }
            eprintln!("{} problem(s); nothing was checked", errors.errors().len());
            return Ok(EXIT_INVALID);
        }
    };
    let named: Vec<&Catalogue> = library
        .catalogues()
        .iter()
        .filter(|c| files.iter().any(|f| same(f, &c.path)))
        .collect();
    let mut report = Report {
        passed: true,
        catalogues: Vec::new(),
    };
    for c in named {
        let checks = library.check_chain(c);
        report.passed &= checks.iter().all(|r| r.passed);
        report.catalogues.push(FileReport {
            file: c.path.display().to_string(),
            list: c.label(),
            items: c.items.len(),
            effective_from: c.effective_from.to_string(),
            effective_to: c.effective_to.map(|d| d.to_string()),
            checks,
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for f in &report.catalogues {
            let to = f.effective_to.as_deref().unwrap_or("");
            println!(
                "{} ({}): valid, {} items, in force {}..{to}",
                f.list, f.file, f.items, f.effective_from
            );
            if f.checks.is_empty() {
                println!("  no list above it is in force during this edition: nothing to check");
            }
            for c in &f.checks {
                for line in c.to_string().lines() {
                    println!("  {line}");
                }
            }
        }
        println!(
            "{}",
            if report.passed {
                "all checks passed"
            } else {
                "a check FAILED"
            }
        );
    }
    Ok(if report.passed { 0 } else { EXIT_FAIL })
}

/// Where a folder of the files has a jurisdiction register
/// (`register/`), every catalogue of that folder must agree with it.
fn check_register(files: &[PathBuf], library: &Library) -> Result<(), CatalogueErrors> {
    let mut dirs: Vec<PathBuf> = files
        .iter()
        .map(|f| {
            f.parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut errors = Vec::new();
    for dir in dirs {
        if !dir.join(REGISTER_DIR).is_dir() {
            continue;
        }
        match Register::of_catalogues(&dir) {
            Ok(register) => errors.extend(
                register
                    .check_library(library)
                    .into_iter()
                    .filter(|e| same(e.file.parent().unwrap_or(Path::new(".")), &dir)),
            ),
            Err(e) => errors.extend(e.0),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CatalogueErrors(errors))
    }
}

fn same(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

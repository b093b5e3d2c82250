//! The `qingdan` command line. Each subcommand lives in its own module under
//! `cli/`; this module parses the arguments and maps outcomes to exit codes
//! (0 success / pass, 1 a check failed, 2 invalid input or usage).

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod batch;
mod catalogue;
mod check;
mod client;
mod eval;
pub mod new;
mod serve;
mod worker;

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
    /// What one person is entitled to, with the reason for every line.
    Eval(eval::EvalArgs),
    /// Prove a county plugin never falls below its baseline, over every person.
    Check(check::CheckArgs),
    /// Scaffold a county plugin crate that builds and passes `check` out of the box.
    New(new::NewArgs),
    /// Run the host server: registry, review (备案) and evaluation API.
    Serve(serve::ServeArgs),
    /// Create access tokens (city IT, on the server's database).
    #[command(subcommand)]
    Token(serve::TokenCommand),
    /// Check the audit log's hash chain.
    #[command(subcommand)]
    Audit(serve::AuditCommand),
    /// Upload a county plugin to a server and wait for its proof.
    Upload(client::UploadArgs),
    /// A county's plugin versions on a server.
    Status(client::StatusArgs),
    /// Publish a new baseline edition to a server (admins) and wait for the
    /// re-proofs of the county plugins under it.
    Publish(client::PublishArgs),
    /// A county's list over a population file: impact per item, name
    /// lists (服务找人) and reconciliation of receipts.
    Batch(batch::BatchArgs),
    /// Internal: compile one component under resource limits for the runtime
    /// that started this process (see `runtime::Compiler::Worker`).
    #[command(name = "compile-worker", hide = true)]
    CompileWorker(worker::WorkerArgs),
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
        Command::Eval(args) => eval::run(args),
        Command::Check(args) => check::run(args),
        Command::New(args) => new::run(args),
        Command::Serve(args) => serve::run_serve(args),
        Command::Token(cmd) => serve::run_token(cmd),
        Command::Audit(cmd) => serve::run_audit(cmd),
        Command::Upload(args) => client::run_upload(args),
        Command::Status(args) => client::run_status(args),
        Command::Publish(args) => client::run_publish(args),
        Command::Batch(args) => batch::run(args),
        Command::CompileWorker(args) => Ok(worker::run(args)),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_INVALID)
        }
    }
}

/// How the command line compiles components: in a compile worker that is
/// this very executable. Should the path of this executable be unknown, the
/// `qingdan` on `PATH` is tried; a different build is refused by the runtime
/// (its engine differs).
fn compiler() -> crate::runtime::Compiler {
    let exe = std::env::current_exe().unwrap_or_else(|_| std::path::PathBuf::from("qingdan"));
    crate::runtime::Compiler::Worker(exe)
}

/// Today's date in China (UTC+8), the default evaluation date.
fn today() -> jiff::civil::Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

/// Reads a person from JSON text, or from a file when the text is `@FILE`.
fn parse_person(text: &str) -> Result<crate::model::Person, String> {
    let json = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => text.to_string(),
    };
    let person: crate::model::Person =
        serde_json::from_str(&json).map_err(|e| format!("invalid person JSON: {e}"))?;
    person.normalized().map_err(|e| e.to_string())
}

/// The catalogue folder: `$QINGDAN_CATALOGUES`, else `catalogues/`.
fn catalogues_dir() -> std::path::PathBuf {
    std::env::var_os("QINGDAN_CATALOGUES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("catalogues"))
}

/// The baseline of a county component on `as_of`, chosen by the host: the
/// list of the county's parent in the jurisdiction register, in force on
/// that date. With `file`, that file's folder is read and its list must be
/// the parent's (a draft edition, say); without, the catalogue folder.
/// The component's own account of its baseline must agree. On failure the
/// message says which lists were named.
fn county_baseline(
    description: &crate::runtime::Description,
    file: Option<&std::path::Path>,
    as_of: jiff::civil::Date,
) -> Result<crate::catalogue::Catalogue, String> {
    let dir = match file {
        Some(file) => file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf(),
        None => catalogues_dir(),
    };
    let register = crate::register::Register::of_catalogues(&dir).map_err(|e| e.to_string())?;
    let county = &description.county_code;
    register
        .check_named_baseline(county, &description.baseline)
        .map_err(|e| e.to_string())?;
    match file {
        Some(file) => {
            let (library, code) = load_baseline(file)?;
            let catalogue = library.in_force(&code, as_of).ok_or_else(|| {
                format!(
                    "no edition of the list {code} is in force on {as_of} (see {})",
                    file.display()
                )
            })?;
            register
                .check_parent_list(county, catalogue)
                .map_err(|e| e.to_string())?;
            Ok(catalogue.clone())
        }
        None => {
            let library = crate::catalogue::Library::load_dir(&dir)
                .map_err(|e| format!("reading catalogues in {}: {e}", dir.display()))?;
            register
                .baseline_for(&library, county, as_of)
                .cloned()
                .map_err(|e| e.to_string())
        }
    }
}

/// Proves a component against its baseline with a progress line on a
/// terminal, and keeps the table proven in the table cache (a cache that
/// cannot be written only costs a proof next time).
fn prove(
    plugin: &crate::runtime::Plugin,
    catalogue: &crate::catalogue::Catalogue,
    options: &crate::verify::Options,
) -> Result<crate::verify::Proof, crate::verify::VerifyError> {
    use std::io::{IsTerminal, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let tty = std::io::stderr().is_terminal();
    let shown = AtomicUsize::new(usize::MAX);
    let progress = |done: usize, total: usize| {
        if !tty {
            return;
        }
        let percent = done * 100 / total.max(1);
        if shown.swap(percent, Ordering::Relaxed) != percent {
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rmaterialising and proving over every person, twice: {percent:>3}%"
            );
            let _ = err.flush();
        }
    };
    let proof = crate::verify::verify(plugin, catalogue, options, &progress);
    if tty {
        eprintln!();
    }
    if let Ok(proof) = &proof
        && let Some(table) = &proof.table
    {
        let _ = crate::table::TableCache::new(crate::table::TableCache::default_dir()).put(table);
    }
    proof
}

/// Loads the folder of a catalogue file (its other editions and its parents)
/// and returns the library with the file's jurisdiction code.
fn load_baseline(file: &std::path::Path) -> Result<(crate::catalogue::Library, String), String> {
    let catalogue = crate::catalogue::Catalogue::from_file(file).map_err(|e| e.to_string())?;
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let library = crate::catalogue::Library::load_dir(dir).map_err(|e| e.to_string())?;
    Ok((library, catalogue.jurisdiction.code))
}

/// The edition of the list in `file`'s folder in force on `as_of`; on
/// failure the message is already printed and the exit code is returned.
fn baseline_in_force(
    file: &std::path::Path,
    as_of: jiff::civil::Date,
) -> Result<(crate::catalogue::Library, String), u8> {
    let (library, code) = load_baseline(file).map_err(|e| {
        eprintln!("{e}");
        EXIT_INVALID
    })?;
    if library.in_force(&code, as_of).is_none() {
        eprintln!(
            "invalid: no edition of the list {code} is in force on {as_of} (see {})",
            file.display()
        );
        return Err(EXIT_INVALID);
    }
    Ok((library, code))
}

//! `qingdan batch`: a county's list over a population file — the impact
//! per item against the baseline, the name list (`--persons`), and the
//! reconciliation of receipts (`--receipts`). Served from the answer table
//! of the version in force in the server's database, or of a component
//! given with `--plugin` (proven on first use, then from the table cache).

use super::serve::DatabaseArgs;
use super::{EXIT_INVALID, today};
use crate::evaluate::Served;
use crate::population::{self, Context};
use anyhow::Context as _;
use clap::Args;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `qingdan batch`.
#[derive(Debug, Args)]
pub struct BatchArgs {
    /// The county code.
    #[arg(long)]
    pub county: String,
    /// The population file: CSV with a header row, or NDJSON.
    #[arg(long)]
    pub population: PathBuf,
    /// Evaluation date (YYYY-MM-DD); default today (UTC+8).
    #[arg(long)]
    pub as_of: Option<jiff::civil::Date>,
    /// Write the name list (every entitlement of every person, with the
    /// file's identifiers) to this CSV file.
    #[arg(long)]
    pub persons: Option<PathBuf>,
    /// Only these items in the name list (repeatable).
    #[arg(long = "item")]
    pub items: Vec<String>,
    /// Reconcile these receipts (CSV: the identifier columns, item,
    /// amount_fen or count) against the entitlements.
    #[arg(long)]
    pub receipts: Option<PathBuf>,
    /// Serve this component's answer table instead of the database's
    /// version in force.
    #[arg(long)]
    pub plugin: Option<PathBuf>,
    /// The baseline only (no county plugin).
    #[arg(long, conflicts_with = "plugin")]
    pub baseline_only: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The catalogue folder.
    #[arg(long, env = "QINGDAN_CATALOGUES", default_value = "catalogues")]
    pub catalogues: PathBuf,
    /// Threads; default the machine's cores.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Finds the table in force for `county` on `as_of` in the database.
fn table_in_force(
    args: &BatchArgs,
    county: &str,
    as_of: jiff::civil::Date,
) -> anyhow::Result<Option<(i64, crate::table::AnswerTable)>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let store = match &args.database.database_url {
            Some(url) => crate::store::Store::open(url).await?,
            None => {
                if !args
                    .database
                    .data_dir
                    .join(crate::store::SQLITE_FILE)
                    .is_file()
                {
                    return Ok(None);
                }
                crate::store::Store::open_dir(&args.database.data_dir).await?
            }
        };
        let activations = store.activations(county).await?;
        let Some(active) = crate::store::in_force(&activations, &as_of.to_string()) else {
            return Ok(None);
        };
        let Some(version) = store.version(county, active.version).await? else {
            return Ok(None);
        };
        if version.stored != crate::store::Stored::Approved {
            return Ok(None);
        }
        let Some(digest) = &version.table_digest else {
            return Ok(None);
        };
        let Some(bytes) = store.table_bytes(digest).await? else {
            return Ok(None);
        };
        Ok(Some((
            version.version,
            crate::table::AnswerTable::decode(&bytes, Some(digest))?,
        )))
    })
}

/// Runs `qingdan batch`.
pub fn run(args: BatchArgs) -> anyhow::Result<u8> {
    let as_of = args.as_of.unwrap_or_else(today);
    let catalogues = match crate::server::Catalogues::load(&args.catalogues) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let baseline = match catalogues
        .register
        .baseline_for(&catalogues.library, &args.county, as_of)
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: --county: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let table = if args.baseline_only {
        None
    } else if let Some(path) = &args.plugin {
        let runtime =
            crate::runtime::Runtime::new(crate::runtime::Limits::default(), super::compiler())
                .context("starting the runtime")?;
        let plugin = match runtime.load_file(path) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("error: {}: {e}", path.display());
                return Ok(EXIT_INVALID);
            }
        };
        if plugin.description().county_code != args.county {
            eprintln!(
                "error: {} is the plugin of {}, not of {}",
                path.display(),
                plugin.description().county_code,
                args.county
            );
            return Ok(EXIT_INVALID);
        }
        let cache = crate::table::TableCache::new(crate::table::TableCache::default_dir());
        match cache.get_for(plugin.digest(), &baseline.digest) {
            Some(t) => Some(t),
            None => {
                let options = crate::verify::Options {
                    fuel_per_person: runtime.limits().fuel_per_evaluation,
                    ..crate::verify::Options::default()
                };
                match super::prove(&plugin, baseline, &options) {
                    Ok(proof) => proof.table,
                    Err(e) => {
                        eprintln!("error: {}: {e}", path.display());
                        return Ok(EXIT_INVALID);
                    }
                }
            }
        }
    } else {
        match table_in_force(&args, &args.county, as_of)? {
            Some((version, table)) => {
                eprintln!(
                    "serving version {version} in force on {as_of} ({})",
                    table.digest()
                );
                Some(table)
            }
            None => {
                eprintln!(
                    "note: no plugin version of {} in force on {as_of} in the database: the baseline alone",
                    args.county
                );
                None
            }
        }
    };
    let served = match table {
        Some(t) => match Served::new(Arc::new(t), baseline) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!(
                    "note: the county's table cannot serve {}: {e}; the baseline alone",
                    baseline.label()
                );
                None
            }
        },
        None => None,
    };
    let ctx = Context::new(baseline, served.as_ref(), as_of);
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let tty = std::io::stderr().is_terminal();
    let started = std::time::Instant::now();
    let counts = match count_file(&ctx, &args.population, threads, tty)? {
        Ok(counts) => counts,
        Err(e) => {
            eprintln!("error: {}: {e}", args.population.display());
            return Ok(EXIT_INVALID);
        }
    };
    let impact = population::impact(&ctx, &counts);
    let elapsed = started.elapsed();
    let mut json = serde_json::json!({"impact": impact});
    // The name list and the reconciliation need every row's identifiers:
    // the file is read whole for them (the impact alone is streamed).
    let bytes = if args.persons.is_some() || args.receipts.is_some() {
        std::fs::read(&args.population)
            .with_context(|| format!("reading {}", args.population.display()))?
    } else {
        Vec::new()
    };
    if let Some(out) = &args.persons {
        let file =
            std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
        let mut writer = std::io::BufWriter::new(file);
        let (rows, _) = population::write_name_list(&ctx, &bytes, &args.items, &mut writer)?;
        std::io::Write::flush(&mut writer)?;
        eprintln!(
            "name list: {rows} entitlements written to {}",
            out.display()
        );
        json["name_list"] = serde_json::json!({"file": out.display().to_string(), "rows": rows});
    }
    let reconciliation = match &args.receipts {
        Some(path) => {
            let receipts =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            match population::reconcile(&ctx, &bytes, &receipts) {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("error: {}: {e}", path.display());
                    return Ok(EXIT_INVALID);
                }
            }
        }
        None => None,
    };
    if args.json {
        if let Some(r) = &reconciliation {
            json["reconciliation"] = serde_json::to_value(r)?;
        }
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{impact}");
        if let Some(r) = &reconciliation {
            print!("{r}");
        }
    }
    if tty {
        eprintln!(
            "\r{} rows in {:.3} s ({:.1} M rows/s)\x1b[K",
            counts.rows,
            elapsed.as_secs_f64(),
            counts.rows as f64 / elapsed.as_secs_f64().max(1e-9) / 1e6
        );
    }
    Ok(0)
}

/// How often the progress line on a terminal is redrawn.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Counts a population file read in blocks (memory stays at a piece of
/// the file whatever its size), with a progress line on a terminal.
/// The outer error is reading the file; the inner, a file that cannot be
/// counted at all.
fn count_file(
    ctx: &Context<'_>,
    path: &std::path::Path,
    threads: usize,
    tty: bool,
) -> anyhow::Result<Result<population::Counts, population::PopulationError>> {
    let mut file =
        std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let started = std::time::Instant::now();
    let mut shown = started;
    let mut show = |p: population::Progress| {
        if tty && shown.elapsed() >= PROGRESS_EVERY {
            shown = std::time::Instant::now();
            let rate = p.rows as f64 / started.elapsed().as_secs_f64().max(1e-9) / 1e6;
            eprint!(
                "\r{:5.1} % of {} bytes: {} rows ({} malformed), {rate:.1} M rows/s\x1b[K",
                p.bytes as f64 * 100.0 / size.max(1) as f64,
                size,
                p.rows,
                p.malformed,
            );
        }
    };
    let counted = population::count_reader(ctx, &mut file, threads, &mut show)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(counted.map(|(counts, _)| counts))
}

//! `qingdan serve`, `qingdan token create` and `qingdan audit verify`: the
//! host server and the two things city IT does to its database directly.

use super::{EXIT_FAIL, EXIT_INVALID};
use crate::server::{App, Config, DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use crate::store::{Role, Store};
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// Where the database is: the SQLite file in a data directory (default), or
/// a database URL.
#[derive(Debug, Args, Clone)]
pub struct DatabaseArgs {
    /// The data directory: the SQLite database and the compile cache.
    #[arg(long, env = "QINGDAN_DATA_DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// A PostgreSQL database instead of the SQLite file, e.g.
    /// postgres://user@127.0.0.1:5432/qingdan (or sqlite://FILE?mode=rwc).
    #[arg(long, env = "QINGDAN_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DatabaseArgs {
    async fn open(&self) -> anyhow::Result<Store> {
        Ok(match &self.database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_dir(&self.data_dir).await?,
        })
    }

    fn flags(&self) -> String {
        match &self.database_url {
            Some(_) => " --database-url …".to_string(),
            None if self.data_dir == std::path::Path::new(DEFAULT_DATA_DIR) => String::new(),
            None => format!(" --data-dir {}", self.data_dir.display()),
        }
    }
}

/// Arguments of `qingdan serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "QINGDAN_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The catalogue folder (with the jurisdiction register in `register/`).
    #[arg(long, env = "QINGDAN_CATALOGUES", default_value = "catalogues")]
    pub catalogues: PathBuf,
    /// Threads per proof; default the machine's cores.
    #[arg(long)]
    pub proof_threads: Option<usize>,
    /// Log as JSON lines (default: readable text).
    #[arg(long)]
    pub log_json: bool,
}

/// `qingdan token …`
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Creates a token and prints its secret (once) on stdout.
    Create(TokenArgs),
}

/// Arguments of `qingdan token create`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// admin (city IT), county (a county team), reviewer (a city's
    /// civil-affairs reviewer) or caseworker (evaluations only).
    #[arg(long)]
    pub role: String,
    /// The jurisdiction code it applies to: the county for a county token,
    /// the city (or province) for a reviewer, 000000 for everywhere.
    #[arg(long)]
    pub scope: String,
    /// Who holds it (shown on reviews and in the audit log).
    #[arg(long)]
    pub name: Option<String>,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The catalogue folder, to check the scope against the register.
    #[arg(long, env = "QINGDAN_CATALOGUES", default_value = "catalogues")]
    pub catalogues: PathBuf,
}

/// `qingdan audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Walks the audit chain: exit 0 when whole, 1 at the first edit or
    /// deletion, naming the record.
    Verify(AuditArgs),
}

/// Arguments of `qingdan audit verify`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Runs `qingdan serve`.
pub fn run_serve(args: ServeArgs) -> anyhow::Result<u8> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("QINGDAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if args.log_json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    runtime()?.block_on(async move {
        let config = Config {
            catalogues: args.catalogues.clone(),
            data_dir: args.database.data_dir.clone(),
            database_url: args.database.database_url.clone(),
            limits: crate::runtime::Limits::default(),
            compiler: super::compiler(),
            proof_threads: args.proof_threads,
        };
        let app = match App::start(config).await {
            Ok(app) => app,
            Err(e) => {
                eprintln!("error: {e}");
                return Ok(EXIT_INVALID);
            }
        };
        let listener = tokio::net::TcpListener::bind(&args.listen)
            .await
            .with_context(|| format!("listening on {}", args.listen))?;
        let addr = listener.local_addr()?;
        let where_ = match &args.database.database_url {
            Some(_) => "PostgreSQL (--database-url)".to_string(),
            None => format!(
                "SQLite in {}",
                args.database.data_dir.join(crate::store::SQLITE_FILE).display()
            ),
        };
        println!("qingdan {} listening on http://{addr}", env!("CARGO_PKG_VERSION"));
        println!("  database: {where_}; catalogues: {}", args.catalogues.display());
        println!("  API document: http://{addr}/openapi.json; metrics: http://{addr}/metrics");
        if app.store.token_count().await.unwrap_or(0) == 0 {
            println!(
                "  no tokens yet; create the first admin token with:\n    qingdan token create --role admin --scope 000000 --name \"city IT\"{}",
                args.database.flags()
            );
        }
        crate::server::serve(app, listener).await?;
        Ok(0)
    })
}

/// Runs `qingdan token create`.
pub fn run_token(cmd: TokenCommand) -> anyhow::Result<u8> {
    let TokenCommand::Create(args) = cmd;
    let role: Role = match args.role.parse() {
        Ok(role) => role,
        Err(e) => {
            eprintln!("error: --role: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    let catalogues = match crate::server::Catalogues::load(&args.catalogues) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if let Err(e) = crate::api::check_scope(&catalogues.register, role, &args.scope) {
        eprintln!("error: --scope: {e}");
        return Ok(EXIT_INVALID);
    }
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {}", role.key(), args.scope));
    if name.trim().is_empty() || name.chars().any(crate::text::is_unsafe) {
        eprintln!("error: --name: a name without control characters is required");
        return Ok(EXIT_INVALID);
    }
    runtime()?.block_on(async move {
        let store = args.database.open().await?;
        let (token, secret) = store
            .create_token(
                role,
                &args.scope,
                name.trim(),
                "qingdan token create (command line)",
            )
            .await?;
        eprintln!(
            "created token #{} ({} {}, {}); it is shown once:",
            token.id,
            token.role.key(),
            token.scope,
            token.name
        );
        println!("{secret}");
        Ok(0)
    })
}

/// Runs `qingdan audit verify`.
pub fn run_audit(cmd: AuditCommand) -> anyhow::Result<u8> {
    let AuditCommand::Verify(args) = cmd;
    runtime()?.block_on(async move {
        let store = args.database.open().await?;
        match store.audit_verify().await? {
            Ok(n) => {
                println!("audit log whole: {n} records, every hash chained to the one before");
                Ok(0)
            }
            Err(b) => {
                println!("audit log BROKEN: {b}");
                Ok(EXIT_FAIL)
            }
        }
    })
}

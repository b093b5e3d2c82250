//! The registry's storage: tokens, uploaded components, answer tables,
//! plugin versions and their review, activations, incidents and the audit
//! chain — in one SQL database through sqlx's `Any` driver.
//!
//! SQLite (one file in the data directory, zero set-up) is the default;
//! PostgreSQL serves several replicas. Both schemas live in
//! `host/migrations/{sqlite,postgres}` and are applied at start. Every query
//! is written once, in the SQL both understand (`$1` placeholders, numbered
//! in the order they appear), and binds only the types the `Any` driver
//! carries between both (`i64`, `String`, `Vec<u8>`).
//!
//! # Consistency
//!
//! Every change of state is one transaction that also appends its audit
//! record ([`audit`]): an upload inserts the component, the version and the
//! record together; a verdict, an approval with its activation, a
//! rejection, a suspension and a rollback likewise. A crash leaves either
//! the whole change or none of it. Status transitions are guarded in the
//! `UPDATE … WHERE status = …` itself, so two reviewers racing cannot both
//! win. The audit head row is updated in the same transaction, which
//! serialises appends on both databases (a row lock on PostgreSQL, the
//! write lock on SQLite).

pub mod audit;
pub mod editions;

use crate::register::Register;
use serde::Serialize;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};
use std::path::Path;
use std::str::FromStr;

pub use audit::{AuditBreak, AuditRecord, NewRecord};
pub use editions::{PublishedEdition, Reproof, ReproofOutcome, ReproofStatus};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// The database file inside a data directory.
pub const SQLITE_FILE: &str = "qingdan.db";

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed or refused a statement.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The data directory could not be created.
    #[error("data directory {path}: {message}")]
    DataDir {
        /// The directory.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// A URL that is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (use sqlite://FILE or postgres://…): {0}")]
    Url(String),
    /// A stored value is not what the schema promises.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Which database is behind the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The registry's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// A role a token carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// City IT: everything in its scope, except approving what it uploaded.
    Admin,
    /// A county team: uploads and sees its own county's versions.
    County,
    /// A reviewer of a city's (or province's) civil-affairs office: reviews
    /// the counties under its scope, never a version it uploaded.
    Reviewer,
    /// A caseworker or service platform: evaluates and replays in its scope.
    Caseworker,
}

impl Role {
    /// The key stored and shown.
    pub fn key(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::County => "county",
            Role::Reviewer => "reviewer",
            Role::Caseworker => "caseworker",
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "admin" => Ok(Role::Admin),
            "county" => Ok(Role::County),
            "reviewer" => Ok(Role::Reviewer),
            "caseworker" => Ok(Role::Caseworker),
            other => Err(format!(
                "unknown role {other:?} (admin, county, reviewer or caseworker)"
            )),
        }
    }
}

/// A token's record (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Row id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Jurisdiction code the role applies to (`000000`: everywhere).
    pub scope: String,
    /// Who holds it (shown in the audit log and on reviews).
    pub name: String,
    /// When it was created.
    pub created_at: String,
}

impl Token {
    /// Whether this token's scope covers the jurisdiction `code`: its own
    /// code, one of its ancestors in the register, or the nation.
    pub fn covers(&self, register: &Register, code: &str) -> bool {
        self.scope == "000000"
            || self.scope == code
            || register
                .ancestors(code)
                .iter()
                .any(|entry| entry.code == self.scope)
    }

    /// `张三 (reviewer 330200, #4)`, for audit records.
    pub fn actor(&self) -> String {
        format!(
            "{} ({} {}, #{})",
            self.name,
            self.role.key(),
            self.scope,
            self.id
        )
    }
}

/// The lifecycle state stored for a version. What readers see also
/// depends on the activations ([`Shown`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stored {
    /// Uploaded; being validated, compiled and proven.
    Validating,
    /// Proven; waiting for a reviewer.
    PendingReview,
    /// Refused by the proof or by a reviewer.
    Rejected,
    /// Approved (in force from its effective date; see [`Shown`]).
    Approved,
    /// Suspended: while it would be in force, the baseline is served.
    Suspended,
    /// Was in force and was rolled back.
    RolledBack,
}

impl Stored {
    /// The key stored.
    pub fn key(self) -> &'static str {
        match self {
            Stored::Validating => "validating",
            Stored::PendingReview => "pending-review",
            Stored::Rejected => "rejected",
            Stored::Approved => "approved",
            Stored::Suspended => "suspended",
            Stored::RolledBack => "rolled-back",
        }
    }

    fn parse(s: &str) -> Result<Stored, StoreError> {
        Ok(match s {
            "validating" => Stored::Validating,
            "pending-review" => Stored::PendingReview,
            "rejected" => Stored::Rejected,
            "approved" => Stored::Approved,
            "suspended" => Stored::Suspended,
            "rolled-back" => Stored::RolledBack,
            other => return Err(StoreError::Corrupt(format!("version status {other:?}"))),
        })
    }
}

/// A version's status as readers see it on a date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Shown {
    /// Being validated, compiled and proven.
    Validating,
    /// Waiting for a reviewer.
    PendingReview,
    /// Refused.
    Rejected,
    /// Approved, in force from a later date.
    Approved,
    /// In force.
    Active,
    /// Was in force; a later version replaced it.
    Superseded,
    /// Suspended.
    Suspended,
    /// Was in force; rolled back.
    RolledBack,
}

/// One version of a county's plugin, as stored.
#[derive(Clone, Debug, Serialize)]
pub struct Version {
    /// County code.
    pub county: String,
    /// Version number within the county (1, 2, …).
    pub version: i64,
    /// `sha256:` digest of the component.
    pub digest: String,
    /// Stored state.
    pub stored: Stored,
    /// Progress of the validation and proof, while validating.
    pub progress: String,
    /// Token id of the uploader.
    pub uploader_token: i64,
    /// Who uploaded it.
    pub uploader: String,
    /// When.
    pub uploaded_at: String,
    /// Component size in bytes.
    pub size: i64,
    /// The county name the component gives.
    pub county_name: Option<String>,
    /// The baseline edition proven against.
    pub baseline_label: Option<String>,
    /// Its digest.
    pub baseline_digest: Option<String>,
    /// The answer table's digest.
    pub table_digest: Option<String>,
    /// The proof report (JSON), when a proof ran.
    pub report: Option<serde_json::Value>,
    /// Why it was refused before or instead of a proof.
    pub error: Option<String>,
    /// When the proof finished.
    pub proved_at: Option<String>,
    /// How long validation, compilation and proof took.
    pub proof_ms: Option<i64>,
    /// Token id of the reviewer.
    pub reviewer_token: Option<i64>,
    /// Who reviewed it.
    pub reviewer: Option<String>,
    /// The reviewer's comment.
    pub review_comment: Option<String>,
    /// When.
    pub reviewed_at: Option<String>,
    /// The date it is in force from, once approved.
    pub effective_from: Option<String>,
}

const VERSION_COLUMNS: &str = "county, version, digest, status, progress, uploader_token, uploader, uploaded_at, size, county_name, baseline_label, baseline_digest, table_digest, report, error, proved_at, proof_ms, reviewer_token, reviewer, review_comment, reviewed_at, effective_from";

fn version_of(row: &AnyRow) -> Result<Version, StoreError> {
    let report: Option<String> = row.try_get("report")?;
    let report = match report {
        Some(text) => Some(
            serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("version report: {e}")))?,
        ),
        None => None,
    };
    Ok(Version {
        county: row.try_get("county")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        stored: Stored::parse(&row.try_get::<String, _>("status")?)?,
        progress: row.try_get("progress")?,
        uploader_token: row.try_get("uploader_token")?,
        uploader: row.try_get("uploader")?,
        uploaded_at: row.try_get("uploaded_at")?,
        size: row.try_get("size")?,
        county_name: row.try_get("county_name")?,
        baseline_label: row.try_get("baseline_label")?,
        baseline_digest: row.try_get("baseline_digest")?,
        table_digest: row.try_get("table_digest")?,
        report,
        error: row.try_get("error")?,
        proved_at: row.try_get("proved_at")?,
        proof_ms: row.try_get("proof_ms")?,
        reviewer_token: row.try_get("reviewer_token")?,
        reviewer: row.try_get("reviewer")?,
        review_comment: row.try_get("review_comment")?,
        reviewed_at: row.try_get("reviewed_at")?,
        effective_from: row.try_get("effective_from")?,
    })
}

/// What the serving snapshot needs of a version ([`Store::servable`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServableVersion {
    /// County code.
    pub county: String,
    /// Version number.
    pub version: i64,
    /// `sha256:` digest of the component.
    pub digest: String,
    /// Stored state.
    pub stored: Stored,
    /// The county name the component gives.
    pub county_name: Option<String>,
}

impl From<&Version> for ServableVersion {
    fn from(v: &Version) -> ServableVersion {
        ServableVersion {
            county: v.county.clone(),
            version: v.version,
            digest: v.digest.clone(),
            stored: v.stored,
            county_name: v.county_name.clone(),
        }
    }
}

/// One activation: a version in force from a date.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Activation {
    /// Row id: among activations of the same date, the later one wins.
    pub id: i64,
    /// County.
    pub county: String,
    /// Version.
    pub version: i64,
    /// In force from (YYYY-MM-DD).
    pub effective_from: String,
    /// `approval` or `rollback`.
    pub cause: String,
    /// Who.
    pub actor: String,
    /// When.
    pub at: String,
}

/// The activation in force on `date` (YYYY-MM-DD) among a county's
/// activations: the greatest `(effective_from, id)` not after the date.
pub fn in_force<'a>(activations: &'a [Activation], date: &str) -> Option<&'a Activation> {
    activations
        .iter()
        .filter(|a| a.effective_from.as_str() <= date)
        .max_by(|a, b| (a.effective_from.as_str(), a.id).cmp(&(b.effective_from.as_str(), b.id)))
}

/// What readers see of a version on `today`, given the county's activations.
pub fn shown(version: &Version, activations: &[Activation], today: &str) -> Shown {
    match version.stored {
        Stored::Validating => Shown::Validating,
        Stored::PendingReview => Shown::PendingReview,
        Stored::Rejected => Shown::Rejected,
        Stored::Suspended => Shown::Suspended,
        Stored::RolledBack => Shown::RolledBack,
        Stored::Approved => {
            if in_force(activations, today).is_some_and(|a| a.version == version.version) {
                Shown::Active
            } else if activations
                .iter()
                .any(|a| a.version == version.version && a.effective_from.as_str() <= today)
            {
                Shown::Superseded
            } else {
                Shown::Approved
            }
        }
    }
}

/// What an upload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    /// The version number.
    pub version: i64,
    /// The same bytes were already uploaded for this county: nothing new.
    pub duplicate: bool,
}

/// The outcome of validation, compilation and proof.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// `PendingReview` (passed) or `Rejected`.
    pub status: Stored,
    /// The county name the component gives.
    pub county_name: Option<String>,
    /// The baseline edition (label and digest).
    pub baseline: Option<(String, String)>,
    /// The answer table: digest, plugin digest, baseline digest, bytes.
    pub table: Option<crate::table::AnswerTable>,
    /// The report.
    pub report: Option<serde_json::Value>,
    /// Why it was refused before or instead of a proof.
    pub error: Option<String>,
    /// Milliseconds taken.
    pub ms: i64,
}

/// Why a lifecycle step was refused.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// No such version.
    #[error("county {county} has no version {version}")]
    NoVersion {
        /// County.
        county: String,
        /// Version.
        version: i64,
    },
    /// The version is not in a state that allows the step.
    #[error("version {version} is {status}; {step} needs a version that is {needs}")]
    WrongState {
        /// Version.
        version: i64,
        /// Its state.
        status: &'static str,
        /// The step.
        step: &'static str,
        /// What the step needs.
        needs: &'static str,
    },
    /// Nothing is in force, or nothing to roll back to.
    #[error("{0}")]
    Nothing(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for StepError {
    fn from(e: sqlx::Error) -> StepError {
        StepError::Store(StoreError::Database(e))
    }
}

/// The current time, RFC 3339 in UTC with milliseconds.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map(|t| t.to_string())
        .unwrap_or_else(|_| jiff::Timestamp::now().to_string())
}

/// A fresh token secret: `qd_` and 32 random bytes in hex.
pub fn new_secret() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| StoreError::Corrupt(format!("no randomness: {e}")))?;
    Ok(format!("qd_{}", hex::encode(bytes)))
}

/// The stored form of a token secret.
pub fn secret_hash(secret: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Opens (creating if needed) the SQLite file in `dir` and applies the
    /// migrations.
    pub async fn open_dir(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::DataDir {
            path: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let file = dir.join(SQLITE_FILE);
        Store::open(&format!("sqlite://{}?mode=rwc", file.display())).await
    }

    /// Opens a database by URL (`sqlite://FILE?mode=rwc`, `postgres://…`)
    /// and applies the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(crate::text::cap(url, 80).into_owned()));
        };
        let options = AnyPoolOptions::new().max_connections(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        });
        let options = if backend == Backend::Sqlite {
            options.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL lets readers go on while one writer commits; a
                    // writer waits for another instead of failing.
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = FULL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
        } else {
            options
        };
        let pool = options.connect(url).await?;
        match backend {
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store { pool, backend })
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    // ----- tokens -----

    /// Creates a token and its audit record; returns it and its secret
    /// (shown once, stored only as a hash).
    pub async fn create_token(
        &self,
        role: Role,
        scope: &str,
        name: &str,
        actor: &str,
    ) -> Result<(Token, String), StoreError> {
        let secret = new_secret()?;
        let created_at = now();
        let mut tx = self.pool.begin().await?;
        let id: i64 = sqlx::query(
            "INSERT INTO tokens (hash, role, scope, name, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(secret_hash(&secret))
        .bind(role.key())
        .bind(scope)
        .bind(name)
        .bind(created_at.clone())
        .fetch_one(&mut *tx)
        .await?
        .try_get("id")?;
        audit::append(
            &mut tx,
            NewRecord {
                actor: actor.to_string(),
                action: "token-create".into(),
                county: None,
                version: None,
                digest: None,
                result: "created".into(),
                detail: serde_json::json!({"token": id, "role": role.key(), "scope": scope, "name": name}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((
            Token {
                id,
                role,
                scope: scope.to_string(),
                name: name.to_string(),
                created_at,
            },
            secret,
        ))
    }

    /// The token whose secret this is, unless unknown or revoked.
    pub async fn token_by_secret(&self, secret: &str) -> Result<Option<Token>, StoreError> {
        let row = sqlx::query(
            "SELECT id, role, scope, name, created_at FROM tokens WHERE hash = $1 AND revoked_at IS NULL",
        )
        .bind(secret_hash(secret))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let role: String = row.try_get("role")?;
        Ok(Some(Token {
            id: row.try_get("id")?,
            role: role.parse().map_err(StoreError::Corrupt)?,
            scope: row.try_get("scope")?,
            name: row.try_get("name")?,
            created_at: row.try_get("created_at")?,
        }))
    }

    /// How many tokens exist.
    pub async fn token_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM tokens")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }

    // ----- blobs -----

    /// A stored component's bytes.
    pub async fn component(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM components WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("bytes")?),
            None => None,
        })
    }

    /// A stored answer table's bytes.
    pub async fn table_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM answer_tables WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get("bytes")?),
            None => None,
        })
    }

    // ----- versions -----

    /// Records an upload: the component (if new), a version in
    /// `validating`, and the audit record, in one transaction. The same
    /// bytes uploaded again for the same county are recognised by digest
    /// and give the existing version.
    pub async fn upload(
        &self,
        county: &str,
        bytes: &[u8],
        digest: &str,
        uploader: &Token,
    ) -> Result<Uploaded, StoreError> {
        let mut tx = self.pool.begin().await?;
        // The audit head is taken first: it serialises uploads, so two
        // cannot pick the same version number.
        audit::lock_head(&mut tx).await?;
        if let Some(row) =
            sqlx::query("SELECT version FROM versions WHERE county = $1 AND digest = $2")
                .bind(county)
                .bind(digest)
                .fetch_optional(&mut *tx)
                .await?
        {
            tx.rollback().await?;
            return Ok(Uploaded {
                version: row.try_get("version")?,
                duplicate: true,
            });
        }
        let at = now();
        let known = sqlx::query("SELECT 1 AS one FROM components WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !known {
            sqlx::query(
                "INSERT INTO components (digest, bytes, size, created_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(digest)
            .bind(bytes.to_vec())
            .bind(bytes.len() as i64)
            .bind(at.clone())
            .execute(&mut *tx)
            .await?;
        }
        let version: i64 = sqlx::query(
            "SELECT COALESCE(MAX(version), 0) + 1 AS next FROM versions WHERE county = $1",
        )
        .bind(county)
        .fetch_one(&mut *tx)
        .await?
        .try_get("next")?;
        sqlx::query(
            "INSERT INTO versions (county, version, digest, status, progress, uploader_token, uploader, uploaded_at, size) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(county)
        .bind(version)
        .bind(digest)
        .bind(Stored::Validating.key())
        .bind("queued")
        .bind(uploader.id)
        .bind(uploader.name.clone())
        .bind(at)
        .bind(bytes.len() as i64)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            NewRecord {
                actor: uploader.actor(),
                action: "upload".into(),
                county: Some(county.to_string()),
                version: Some(version),
                digest: Some(digest.to_string()),
                result: "validating".into(),
                detail: serde_json::json!({"size": bytes.len()}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Uploaded {
            version,
            duplicate: false,
        })
    }

    /// Records the progress of a validation or proof (not audited).
    pub async fn set_progress(
        &self,
        county: &str,
        version: i64,
        progress: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE versions SET progress = $1 WHERE county = $2 AND version = $3 AND status = $4",
        )
        .bind(progress)
        .bind(county)
        .bind(version)
        .bind(Stored::Validating.key())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a verdict: the answer table (if any), the report and the new
    /// status, with the audit record, in one transaction. Only a version
    /// still validating takes a verdict.
    pub async fn finish(
        &self,
        county: &str,
        version: i64,
        verdict: &Verdict,
    ) -> Result<(), StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        audit::lock_head(&mut tx).await?;
        let digest: Option<String> = sqlx::query(
            "SELECT digest FROM versions WHERE county = $1 AND version = $2 AND status = $3",
        )
        .bind(county)
        .bind(version)
        .bind(Stored::Validating.key())
        .fetch_optional(&mut *tx)
        .await?
        .map(|row| row.try_get("digest"))
        .transpose()?;
        let Some(digest) = digest else {
            tx.rollback().await?;
            return Ok(());
        };
        if let Some(table) = &verdict.table {
            editions::insert_table(&mut tx, table, &at).await?;
        }
        let report = verdict.report.as_ref().map(|r| r.to_string());
        sqlx::query(
            "UPDATE versions SET status = $1, progress = $2, county_name = $3, baseline_label = $4, baseline_digest = $5, table_digest = $6, report = $7, error = $8, proved_at = $9, proof_ms = $10 WHERE county = $11 AND version = $12",
        )
        .bind(verdict.status.key())
        .bind("done")
        .bind(verdict.county_name.clone())
        .bind(verdict.baseline.as_ref().map(|b| b.0.clone()))
        .bind(verdict.baseline.as_ref().map(|b| b.1.clone()))
        .bind(verdict.table.as_ref().map(|t| t.digest().to_string()))
        .bind(report)
        .bind(verdict.error.clone())
        .bind(at)
        .bind(verdict.ms)
        .bind(county)
        .bind(version)
        .execute(&mut *tx)
        .await?;
        audit::append(
            &mut tx,
            NewRecord {
                actor: "qingdan (proof)".into(),
                action: "verdict".into(),
                county: Some(county.to_string()),
                version: Some(version),
                digest: Some(digest),
                result: verdict.status.key().into(),
                detail: serde_json::json!({
                    "table": verdict.table.as_ref().map(|t| t.digest().to_string()),
                    "baseline": verdict.baseline.as_ref().map(|b| b.1.clone()),
                    "error": verdict.error,
                    "ms": verdict.ms,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Versions still validating (to resume after a restart).
    pub async fn validating(&self) -> Result<Vec<Version>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE status = $1 ORDER BY uploaded_at"
        ))
        .bind(Stored::Validating.key())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_of).collect()
    }

    /// A county's versions, newest first.
    pub async fn versions(&self, county: &str) -> Result<Vec<Version>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE county = $1 ORDER BY version DESC"
        ))
        .bind(county)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(version_of).collect()
    }

    /// One version.
    pub async fn version(&self, county: &str, version: i64) -> Result<Option<Version>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE county = $1 AND version = $2"
        ))
        .bind(county)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(version_of).transpose()
    }

    /// Every version that has been approved at some point (approved,
    /// suspended or rolled back): what the serving snapshot is built from.
    /// Only the columns serving needs are read (not the proof reports, tens
    /// of KB each), in one query.
    pub async fn servable(&self) -> Result<Vec<ServableVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT county, version, digest, status, county_name FROM versions WHERE status IN ('approved', 'suspended', 'rolled-back') ORDER BY county, version",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(ServableVersion {
                    county: row.try_get("county")?,
                    version: row.try_get("version")?,
                    digest: row.try_get("digest")?,
                    stored: Stored::parse(&row.try_get::<String, _>("status")?)?,
                    county_name: row.try_get("county_name")?,
                })
            })
            .collect()
    }

    /// A county's activations, oldest first.
    pub async fn activations(&self, county: &str) -> Result<Vec<Activation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, county, version, effective_from, cause, actor, at FROM activations WHERE county = $1 ORDER BY id",
        )
        .bind(county)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activation_of).collect()
    }

    /// Every activation, oldest first.
    pub async fn all_activations(&self) -> Result<Vec<Activation>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, county, version, effective_from, cause, actor, at FROM activations ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(activation_of).collect()
    }

    /// Approves a version pending review and schedules it in force from
    /// `effective_from`: the review, the activation and both audit records
    /// in one transaction.
    pub async fn approve(
        &self,
        county: &str,
        version: i64,
        reviewer: &Token,
        comment: &str,
        effective_from: &str,
    ) -> Result<Version, StepError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        audit::lock_head(&mut tx).await?;
        let current = self.locked_version(&mut tx, county, version).await?;
        if current.stored != Stored::PendingReview {
            return Err(StepError::WrongState {
                version,
                status: current.stored.key(),
                step: "approval",
                needs: "pending-review",
            });
        }
        sqlx::query("UPDATE versions SET status = $1, reviewer_token = $2, reviewer = $3, review_comment = $4, reviewed_at = $5, effective_from = $6 WHERE county = $7 AND version = $8 AND status = $9")
            .bind(Stored::Approved.key())
            .bind(reviewer.id)
            .bind(reviewer.name.clone())
            .bind(comment)
            .bind(at.clone())
            .bind(effective_from)
            .bind(county)
            .bind(version)
            .bind(Stored::PendingReview.key())
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO activations (county, version, effective_from, cause, actor, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(county)
            .bind(version)
            .bind(effective_from)
            .bind("approval")
            .bind(reviewer.actor())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        for (action, result) in [("approval", "approved"), ("activation", "scheduled")] {
            audit::append(
                &mut tx,
                NewRecord {
                    actor: reviewer.actor(),
                    action: action.into(),
                    county: Some(county.to_string()),
                    version: Some(version),
                    digest: Some(current.digest.clone()),
                    result: result.into(),
                    detail: serde_json::json!({"comment": comment, "effective_from": effective_from}),
                },
            )
            .await?;
        }
        tx.commit().await?;
        self.reread(county, version).await
    }

    /// Rejects a version pending review, with the reviewer's comment.
    pub async fn reject(
        &self,
        county: &str,
        version: i64,
        reviewer: &Token,
        comment: &str,
    ) -> Result<Version, StepError> {
        self.step(
            county,
            version,
            reviewer,
            comment,
            ("rejection", Stored::Rejected),
            &[Stored::PendingReview],
            "pending-review",
        )
        .await
    }

    /// Suspends a version pending review or approved: while it would be in
    /// force, the baseline is served with an incident.
    pub async fn suspend(
        &self,
        county: &str,
        version: i64,
        actor: &Token,
        comment: &str,
    ) -> Result<Version, StepError> {
        self.step(
            county,
            version,
            actor,
            comment,
            ("suspension", Stored::Suspended),
            &[Stored::PendingReview, Stored::Approved],
            "pending-review or approved",
        )
        .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        county: &str,
        version: i64,
        actor: &Token,
        comment: &str,
        (action, to): (&'static str, Stored),
        from: &[Stored],
        needs: &'static str,
    ) -> Result<Version, StepError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        audit::lock_head(&mut tx).await?;
        let current = self.locked_version(&mut tx, county, version).await?;
        if !from.contains(&current.stored) {
            return Err(StepError::WrongState {
                version,
                status: current.stored.key(),
                step: action,
                needs,
            });
        }
        if to == Stored::Rejected {
            // A rejection is a review: the reviewer is recorded.
            sqlx::query("UPDATE versions SET status = $1, reviewer_token = $2, reviewer = $3, review_comment = $4, reviewed_at = $5 WHERE county = $6 AND version = $7 AND status = $8")
                .bind(to.key())
                .bind(actor.id)
                .bind(actor.name.clone())
                .bind(comment)
                .bind(at)
                .bind(county)
                .bind(version)
                .bind(current.stored.key())
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query("UPDATE versions SET status = $1 WHERE county = $2 AND version = $3 AND status = $4")
                .bind(to.key())
                .bind(county)
                .bind(version)
                .bind(current.stored.key())
                .execute(&mut *tx)
                .await?;
        }
        audit::append(
            &mut tx,
            NewRecord {
                actor: actor.actor(),
                action: action.into(),
                county: Some(county.to_string()),
                version: Some(version),
                digest: Some(current.digest.clone()),
                result: to.key().into(),
                detail: serde_json::json!({"comment": comment, "from": current.stored.key()}),
            },
        )
        .await?;
        tx.commit().await?;
        self.reread(county, version).await
    }

    /// Rolls the county back: the version in force on `today` is marked
    /// rolled back and the version in force before it is in force again
    /// from `today`, in one transaction. Returns (rolled back, re-activated).
    pub async fn rollback(
        &self,
        county: &str,
        today: &str,
        actor: &Token,
        comment: &str,
    ) -> Result<(i64, i64), StepError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        audit::lock_head(&mut tx).await?;
        let rows = sqlx::query(
            "SELECT id, county, version, effective_from, cause, actor, at FROM activations WHERE county = $1 ORDER BY id",
        )
        .bind(county)
        .fetch_all(&mut *tx)
        .await?;
        let activations: Vec<Activation> =
            rows.iter().map(activation_of).collect::<Result<_, _>>()?;
        let Some(current) = in_force(&activations, today).cloned() else {
            return Err(StepError::Nothing(format!(
                "no version of county {county} is in force on {today}: nothing to roll back"
            )));
        };
        let current_version = self
            .locked_version(&mut tx, county, current.version)
            .await?;
        // The version in force before: the activations that precede the
        // current one in (effective_from, id) order, latest first, skipping
        // the current version and any no longer approved.
        let mut before: Vec<&Activation> = activations
            .iter()
            .filter(|a| {
                (a.effective_from.as_str(), a.id) < (current.effective_from.as_str(), current.id)
                    && a.version != current.version
            })
            .collect();
        before.sort_by(|a, b| {
            (b.effective_from.as_str(), b.id).cmp(&(a.effective_from.as_str(), a.id))
        });
        let mut previous = None;
        for a in before {
            let v = self.locked_version(&mut tx, county, a.version).await?;
            if v.stored == Stored::Approved {
                previous = Some(v);
                break;
            }
        }
        let Some(previous) = previous else {
            return Err(StepError::Nothing(format!(
                "county {county} has no earlier approved version to roll back to (suspend version {} to serve the baseline instead)",
                current.version
            )));
        };
        if current_version.stored == Stored::Approved {
            sqlx::query("UPDATE versions SET status = $1 WHERE county = $2 AND version = $3")
                .bind(Stored::RolledBack.key())
                .bind(county)
                .bind(current.version)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO activations (county, version, effective_from, cause, actor, at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(county)
            .bind(previous.version)
            .bind(today)
            .bind("rollback")
            .bind(actor.actor())
            .bind(at)
            .execute(&mut *tx)
            .await?;
        audit::append(
            &mut tx,
            NewRecord {
                actor: actor.actor(),
                action: "rollback".into(),
                county: Some(county.to_string()),
                version: Some(previous.version),
                digest: Some(previous.digest.clone()),
                result: "active".into(),
                detail: serde_json::json!({"rolled_back": current.version, "comment": comment, "effective_from": today}),
            },
        )
        .await?;
        tx.commit().await?;
        Ok((current.version, previous.version))
    }

    /// A version just changed, read back.
    async fn reread(&self, county: &str, version: i64) -> Result<Version, StepError> {
        self.version(county, version)
            .await?
            .ok_or(StepError::NoVersion {
                county: county.to_string(),
                version,
            })
    }

    async fn locked_version(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        county: &str,
        version: i64,
    ) -> Result<Version, StepError> {
        let row = sqlx::query(&format!(
            "SELECT {VERSION_COLUMNS} FROM versions WHERE county = $1 AND version = $2"
        ))
        .bind(county)
        .bind(version)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            Some(row) => Ok(version_of(&row)?),
            None => Err(StepError::NoVersion {
                county: county.to_string(),
                version,
            }),
        }
    }

    // ----- incidents -----

    /// Records an evaluation that fell back to the baseline because of a
    /// fault.
    pub async fn incident(
        &self,
        county: &str,
        version: Option<i64>,
        kind: &str,
        message: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO incidents (at, county, version, kind, message) VALUES ($1, $2, $3, $4, $5)")
            .bind(now())
            .bind(county)
            .bind(version)
            .bind(kind)
            .bind(crate::text::cap(message, 1024).into_owned())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    // ----- audit -----

    /// Appends a record on its own (a baseline publication, say).
    pub async fn audit(&self, record: NewRecord) -> Result<AuditRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let record = audit::append(&mut tx, record).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// The sequence number of the newest audit record (0 when none): it
    /// grows with every change of state, so replicas follow it.
    pub async fn audit_head(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT seq FROM audit_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?
            .try_get("seq")?)
    }

    /// The counties named by audit records after `seq`.
    pub async fn counties_changed_since(&self, seq: i64) -> Result<Vec<String>, StoreError> {
        let rows =
            sqlx::query("SELECT DISTINCT county FROM audit WHERE seq > $1 AND county IS NOT NULL")
                .bind(seq)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| r.try_get("county").map_err(StoreError::from))
            .collect()
    }

    /// Every audit record, oldest first (optionally of one county).
    pub async fn audit_records(
        &self,
        county: Option<&str>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        audit::records(&self.pool, county).await
    }

    /// Walks the whole audit chain; the number of records, or the first
    /// break.
    pub async fn audit_verify(&self) -> Result<Result<i64, AuditBreak>, StoreError> {
        audit::verify(&self.pool).await
    }
}

fn activation_of(row: &AnyRow) -> Result<Activation, StoreError> {
    Ok(Activation {
        id: row.try_get("id")?,
        county: row.try_get("county")?,
        version: row.try_get("version")?,
        effective_from: row.try_get("effective_from")?,
        cause: row.try_get("cause")?,
        actor: row.try_get("actor")?,
        at: row.try_get("at")?,
    })
}

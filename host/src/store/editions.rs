//! Baseline editions published through the server, and re-proofs: county
//! plugin versions proven against an edition other than the one of their
//! upload (DESIGN §2.5).
//!
//! A publication is one transaction: the edition's text, its audit record
//! (`baseline-publication`, no county: every replica reloads its
//! catalogues when it sees one) and a queued re-proof for every version it
//! concerns. A crash leaves the publication with all its queued re-proofs,
//! or nothing; a queued re-proof is resumed at start. A re-proof's result
//! is one transaction too: its answer table, the row's status (guarded by
//! `status = 'queued'`, so two replicas resuming the same one write it
//! once) and an audit record naming the county, so replicas reload it.

use super::{Store, StoreError, audit, now};
use crate::table::AnswerTable;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Row, Transaction};

/// An edition published through the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedEdition {
    /// `sha256:` digest of the text.
    pub digest: String,
    /// Jurisdiction code.
    pub code: String,
    /// Edition name.
    pub edition: String,
    /// First day in force (YYYY-MM-DD).
    pub effective_from: String,
    /// The file name it was published as (names it in errors).
    pub file_name: String,
    /// The catalogue text.
    pub text: String,
    /// Who published it.
    pub publisher: String,
    /// When.
    pub published_at: String,
    /// Its audit record's sequence number (publications apply in this order).
    pub seq: i64,
}

/// Where a re-proof stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ReproofStatus {
    /// Waiting for, or in, its proof.
    Queued,
    /// Nobody gets less than the edition: the table is served as it is.
    Passed,
    /// Someone gets less than the edition: the table is served with the
    /// guard raising them to the edition (each raise is an incident) until
    /// the county files a fixed version.
    Below,
    /// No table (the component failed to load, faulted or was not
    /// deterministic): the baseline alone is served under this edition.
    Failed,
}

impl ReproofStatus {
    /// The stored key.
    pub fn key(self) -> &'static str {
        match self {
            ReproofStatus::Queued => "queued",
            ReproofStatus::Passed => "passed",
            ReproofStatus::Below => "below",
            ReproofStatus::Failed => "failed",
        }
    }

    fn of_key(key: &str) -> Result<ReproofStatus, StoreError> {
        Ok(match key {
            "queued" => ReproofStatus::Queued,
            "passed" => ReproofStatus::Passed,
            "below" => ReproofStatus::Below,
            "failed" => ReproofStatus::Failed,
            other => {
                return Err(StoreError::Corrupt(format!(
                    "unknown re-proof status {other:?}"
                )));
            }
        })
    }
}

/// One version proven (or to be proven) against one edition.
#[derive(Clone, Debug)]
pub struct Reproof {
    /// The edition's digest.
    pub edition_digest: String,
    /// County code.
    pub county: String,
    /// Version number.
    pub version: i64,
    /// Where it stands.
    pub status: ReproofStatus,
    /// When it was queued.
    pub queued_at: String,
    /// The answer table (passed or below).
    pub table_digest: Option<String>,
    /// The proof report (JSON).
    pub report: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// When it finished.
    pub proved_at: Option<String>,
    /// How long it took.
    pub proof_ms: Option<i64>,
}

/// A re-proof's result.
#[derive(Debug)]
pub struct ReproofOutcome {
    /// Passed, below or failed.
    pub status: ReproofStatus,
    /// The table (passed or below).
    pub table: Option<AnswerTable>,
    /// The report (JSON).
    pub report: Option<serde_json::Value>,
    /// Why it failed.
    pub error: Option<String>,
    /// Milliseconds.
    pub ms: i64,
}

const REPROOF_COLUMNS: &str = "edition_digest, county, version, status, queued_at, table_digest, report, error, proved_at, proof_ms";

fn reproof_of(row: &AnyRow) -> Result<Reproof, StoreError> {
    let report: Option<String> = row.try_get("report")?;
    Ok(Reproof {
        edition_digest: row.try_get("edition_digest")?,
        county: row.try_get("county")?,
        version: row.try_get("version")?,
        status: ReproofStatus::of_key(&row.try_get::<String, _>("status")?)?,
        queued_at: row.try_get("queued_at")?,
        table_digest: row.try_get("table_digest")?,
        report: report.and_then(|r| serde_json::from_str(&r).ok()),
        error: row.try_get("error")?,
        proved_at: row.try_get("proved_at")?,
        proof_ms: row.try_get("proof_ms")?,
    })
}

/// Stores an answer table unless it is there already (tables are
/// content-addressed).
pub(super) async fn insert_table(
    tx: &mut Transaction<'_, Any>,
    table: &AnswerTable,
    at: &str,
) -> Result<(), StoreError> {
    let known = sqlx::query("SELECT 1 AS one FROM answer_tables WHERE digest = $1")
        .bind(table.digest())
        .fetch_optional(&mut **tx)
        .await?
        .is_some();
    if !known {
        sqlx::query("INSERT INTO answer_tables (digest, plugin_digest, baseline_digest, bytes, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(table.digest())
            .bind(table.plugin_digest())
            .bind(table.baseline_digest())
            .bind(table.encoded())
            .bind(at.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn queue(
    tx: &mut Transaction<'_, Any>,
    edition_digest: &str,
    county: &str,
    version: i64,
    at: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "INSERT INTO reproofs (edition_digest, county, version, status, queued_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(edition_digest)
    .bind(county)
    .bind(version)
    .bind(ReproofStatus::Queued.key())
    .bind(at.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() > 0)
}

impl Store {
    /// Publishes an edition with its audit record and the re-proofs it
    /// calls for, in one transaction; returns the record.
    pub async fn publish_edition(
        &self,
        edition: &PublishedEdition,
        detail: serde_json::Value,
        reproofs: &[(String, i64)],
    ) -> Result<audit::AuditRecord, StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        let record = audit::append(
            &mut tx,
            audit::NewRecord {
                actor: edition.publisher.clone(),
                action: "baseline-publication".into(),
                county: None,
                version: None,
                digest: Some(edition.digest.clone()),
                result: "published".into(),
                detail,
            },
        )
        .await?;
        sqlx::query("INSERT INTO editions (digest, code, edition, effective_from, file_name, text, publisher, published_at, seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(edition.digest.clone())
            .bind(edition.code.clone())
            .bind(edition.edition.clone())
            .bind(edition.effective_from.clone())
            .bind(edition.file_name.clone())
            .bind(edition.text.clone())
            .bind(edition.publisher.clone())
            .bind(at.clone())
            .bind(record.seq)
            .execute(&mut *tx)
            .await?;
        for (county, version) in reproofs {
            queue(&mut tx, &edition.digest, county, *version, &at).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    /// Every published edition, in publication order.
    pub async fn editions(&self) -> Result<Vec<PublishedEdition>, StoreError> {
        let rows = sqlx::query("SELECT digest, code, edition, effective_from, file_name, text, publisher, published_at, seq FROM editions ORDER BY seq")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PublishedEdition {
                    digest: r.try_get("digest")?,
                    code: r.try_get("code")?,
                    edition: r.try_get("edition")?,
                    effective_from: r.try_get("effective_from")?,
                    file_name: r.try_get("file_name")?,
                    text: r.try_get("text")?,
                    publisher: r.try_get("publisher")?,
                    published_at: r.try_get("published_at")?,
                    seq: r.try_get("seq")?,
                })
            })
            .collect()
    }

    /// Whether an edition was published after audit record `seq`.
    pub async fn published_since(&self, seq: i64) -> Result<bool, StoreError> {
        Ok(sqlx::query("SELECT 1 AS one FROM editions WHERE seq > $1")
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
            .is_some())
    }

    /// Queues re-proofs not queued (or done) before; returns how many were
    /// new.
    pub async fn queue_reproofs(
        &self,
        wanted: &[(String, String, i64)],
    ) -> Result<usize, StoreError> {
        if wanted.is_empty() {
            return Ok(0);
        }
        let at = now();
        let mut tx = self.pool.begin().await?;
        let mut new = 0;
        for (edition, county, version) in wanted {
            if queue(&mut tx, edition, county, *version, &at).await? {
                new += 1;
            }
        }
        tx.commit().await?;
        Ok(new)
    }

    /// Re-proofs still queued, oldest first.
    pub async fn queued_reproofs(&self) -> Result<Vec<Reproof>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REPROOF_COLUMNS} FROM reproofs WHERE status = $1 ORDER BY queued_at, county, version"
        ))
        .bind(ReproofStatus::Queued.key())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reproof_of).collect()
    }

    /// Every re-proof against an edition, by county and version.
    pub async fn reproofs_of(&self, edition_digest: &str) -> Result<Vec<Reproof>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REPROOF_COLUMNS} FROM reproofs WHERE edition_digest = $1 ORDER BY county, version"
        ))
        .bind(edition_digest)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reproof_of).collect()
    }

    /// Every re-proof of one version.
    pub async fn reproofs_for(
        &self,
        county: &str,
        version: i64,
    ) -> Result<Vec<Reproof>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {REPROOF_COLUMNS} FROM reproofs WHERE county = $1 AND version = $2 ORDER BY queued_at"
        ))
        .bind(county)
        .bind(version)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(reproof_of).collect()
    }

    /// Stores a re-proof's result with its table and audit record; nothing
    /// when it is no longer queued (another replica wrote it). Returns
    /// whether it was written.
    pub async fn finish_reproof(
        &self,
        edition_digest: &str,
        county: &str,
        version: i64,
        outcome: &ReproofOutcome,
    ) -> Result<bool, StoreError> {
        let at = now();
        let mut tx = self.pool.begin().await?;
        audit::lock_head(&mut tx).await?;
        let updated = sqlx::query("UPDATE reproofs SET status = $1, table_digest = $2, report = $3, error = $4, proved_at = $5, proof_ms = $6 WHERE edition_digest = $7 AND county = $8 AND version = $9 AND status = $10")
            .bind(outcome.status.key())
            .bind(outcome.table.as_ref().map(|t| t.digest().to_string()))
            .bind(outcome.report.as_ref().map(|r| r.to_string()))
            .bind(outcome.error.clone())
            .bind(at.clone())
            .bind(outcome.ms)
            .bind(edition_digest)
            .bind(county)
            .bind(version)
            .bind(ReproofStatus::Queued.key())
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        if let Some(table) = &outcome.table {
            insert_table(&mut tx, table, &at).await?;
        }
        audit::append(
            &mut tx,
            audit::NewRecord {
                actor: "qingdan (re-proof)".into(),
                action: "reproof".into(),
                county: Some(county.to_string()),
                version: Some(version),
                digest: Some(edition_digest.to_string()),
                result: outcome.status.key().into(),
                detail: serde_json::json!({
                    "edition": edition_digest,
                    "table": outcome.table.as_ref().map(|t| t.digest().to_string()),
                    "error": outcome.error,
                    "ms": outcome.ms,
                }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every stored answer table as (table digest, component digest,
    /// baseline edition digest), oldest first: what a whole snapshot needs
    /// to know of the tables, in one query (not one a version).
    pub async fn table_index(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT digest, plugin_digest, baseline_digest FROM answer_tables ORDER BY created_at, digest",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get("digest")?,
                    r.try_get("plugin_digest")?,
                    r.try_get("baseline_digest")?,
                ))
            })
            .collect()
    }

    /// The bytes of the stored answer tables among `digests`, in one
    /// query, as (digest, bytes); a digest not stored is left out.
    pub async fn tables_bytes(
        &self,
        digests: &[String],
    ) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=digests.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT digest, bytes FROM answer_tables WHERE digest IN ({})",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql);
        for digest in digests {
            query = query.bind(digest.as_str());
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| Ok((r.try_get("digest")?, r.try_get("bytes")?)))
            .collect()
    }

    /// The answer tables stored for a component, as (table digest,
    /// baseline edition digest).
    pub async fn tables_of(
        &self,
        plugin_digest: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT digest, baseline_digest FROM answer_tables WHERE plugin_digest = $1 ORDER BY created_at, digest",
        )
        .bind(plugin_digest)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("digest")?, r.try_get("baseline_digest")?)))
            .collect()
    }
}

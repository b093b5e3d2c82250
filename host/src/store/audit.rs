//! The audit log: append-only, each record carrying the hash of the one
//! before it.
//!
//! A record's hash is the SHA-256 of its canonical form — the JSON object
//! of its sequence number, time, actor, action, county, version, digest,
//! result, detail and the previous record's hash, in that order — so
//! changing any field of any record changes its hash, and every hash after
//! it. The head row (`audit_head`) holds the last sequence number and hash
//! and is updated in the same transaction as each append: deleting the
//! newest records, which would leave a chain that verifies on its own, is
//! detected because the head no longer matches. Sequence numbers are
//! contiguous from 1, so deleting a record in the middle is a gap.
//!
//! The head row is also the lock that serialises appends (and, through
//! [`lock_head`], whole lifecycle transactions): its `UPDATE` is the first
//! write of every transaction that appends, which on PostgreSQL takes the
//! row lock and on SQLite the database's write lock, before anything is
//! read.

use super::StoreError;
use serde::Serialize;
use sqlx::{Any, AnyPool, Row, Transaction};

/// The hash that stands before the first record.
pub const GENESIS: &str = "genesis";

/// A record to append.
#[derive(Clone, Debug)]
pub struct NewRecord {
    /// Who did it (a token's holder, or the host itself).
    pub actor: String,
    /// What (`upload`, `verdict`, `approval`, `activation`, `rejection`,
    /// `suspension`, `rollback`, `token-create`, `baseline-publication`).
    pub action: String,
    /// The county concerned.
    pub county: Option<String>,
    /// The version concerned.
    pub version: Option<i64>,
    /// The digest concerned (component, or catalogue edition).
    pub digest: Option<String>,
    /// The result (`validating`, `pending-review`, `approved`, …).
    pub result: String,
    /// Everything else, as JSON.
    pub detail: serde_json::Value,
}

/// A stored record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Sequence number, from 1, contiguous.
    pub seq: i64,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// County.
    pub county: Option<String>,
    /// Version.
    pub version: Option<i64>,
    /// Digest.
    pub digest: Option<String>,
    /// Result.
    pub result: String,
    /// Detail (JSON text, as hashed).
    pub detail: String,
    /// The previous record's hash ([`GENESIS`] for the first).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// Where the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
pub enum AuditBreak {
    /// A record's stored hash is not the hash of its contents.
    #[error("record {seq} was altered: its hash does not match its contents")]
    Altered {
        /// Sequence number.
        seq: i64,
    },
    /// A record does not carry the previous record's hash.
    #[error("record {seq} does not follow record {prev}: the chain is broken there")]
    Unlinked {
        /// Sequence number.
        seq: i64,
        /// The record before it.
        prev: i64,
    },
    /// Sequence numbers are not contiguous.
    #[error("records {after}..{seq} are missing (deleted)")]
    Gap {
        /// The last record present before the gap.
        after: i64,
        /// The next record present.
        seq: i64,
    },
    /// The head does not match the last record.
    #[error(
        "the log ends at record {last} but its head says {head}: records at the end were deleted or the head was edited"
    )]
    Head {
        /// The last record present.
        last: i64,
        /// The head's sequence number.
        head: i64,
    },
}

#[derive(Serialize)]
struct Canonical<'a> {
    seq: i64,
    at: &'a str,
    actor: &'a str,
    action: &'a str,
    county: Option<&'a str>,
    version: Option<i64>,
    digest: Option<&'a str>,
    result: &'a str,
    detail: &'a str,
    prev_hash: &'a str,
}

/// The hash of a record's contents and its predecessor's hash.
pub fn hash_of(r: &AuditRecord) -> String {
    use sha2::Digest;
    let canonical = Canonical {
        seq: r.seq,
        at: &r.at,
        actor: &r.actor,
        action: &r.action,
        county: r.county.as_deref(),
        version: r.version,
        digest: r.digest.as_deref(),
        result: &r.result,
        detail: &r.detail,
        prev_hash: &r.prev_hash,
    };
    // Serialising plain strings and integers cannot fail.
    let text = serde_json::to_string(&canonical).unwrap_or_default();
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// Takes the audit head's lock for the rest of the transaction (see the
/// module docs). Call it first in a transaction that reads, then writes.
pub async fn lock_head(tx: &mut Transaction<'_, Any>) -> Result<(), StoreError> {
    sqlx::query("UPDATE audit_head SET seq = seq WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Appends a record inside the caller's transaction.
pub async fn append(
    tx: &mut Transaction<'_, Any>,
    record: NewRecord,
) -> Result<AuditRecord, StoreError> {
    let head = sqlx::query("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
        .fetch_one(&mut **tx)
        .await?;
    let seq: i64 = head.try_get("seq")?;
    let prev_hash: String = head.try_get("hash")?;
    let mut stored = AuditRecord {
        seq,
        at: super::now(),
        actor: crate::text::cap(&record.actor, 200).into_owned(),
        action: record.action,
        county: record.county,
        version: record.version,
        digest: record.digest,
        result: record.result,
        detail: record.detail.to_string(),
        prev_hash,
        hash: String::new(),
    };
    stored.hash = hash_of(&stored);
    sqlx::query("INSERT INTO audit (seq, at, actor, action, county, version, digest, result, detail, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
        .bind(stored.seq)
        .bind(stored.at.clone())
        .bind(stored.actor.clone())
        .bind(stored.action.clone())
        .bind(stored.county.clone())
        .bind(stored.version)
        .bind(stored.digest.clone())
        .bind(stored.result.clone())
        .bind(stored.detail.clone())
        .bind(stored.prev_hash.clone())
        .bind(stored.hash.clone())
        .execute(&mut **tx)
        .await?;
    sqlx::query("UPDATE audit_head SET hash = $1 WHERE id = 1")
        .bind(stored.hash.clone())
        .execute(&mut **tx)
        .await?;
    Ok(stored)
}

fn record_of(row: &sqlx::any::AnyRow) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        seq: row.try_get("seq")?,
        at: row.try_get("at")?,
        actor: row.try_get("actor")?,
        action: row.try_get("action")?,
        county: row.try_get("county")?,
        version: row.try_get("version")?,
        digest: row.try_get("digest")?,
        result: row.try_get("result")?,
        detail: row.try_get("detail")?,
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

const COLUMNS: &str =
    "seq, at, actor, action, county, version, digest, result, detail, prev_hash, hash";

/// Every record, oldest first; with `county`, that county's only.
pub async fn records(pool: &AnyPool, county: Option<&str>) -> Result<Vec<AuditRecord>, StoreError> {
    let rows = match county {
        Some(county) => {
            sqlx::query(&format!(
                "SELECT {COLUMNS} FROM audit WHERE county = $1 ORDER BY seq"
            ))
            .bind(county)
            .fetch_all(pool)
            .await?
        }
        None => {
            sqlx::query(&format!("SELECT {COLUMNS} FROM audit ORDER BY seq"))
                .fetch_all(pool)
                .await?
        }
    };
    rows.iter().map(record_of).collect()
}

/// Walks the chain: the number of records when it is whole, else the first
/// break.
pub async fn verify(pool: &AnyPool) -> Result<Result<i64, AuditBreak>, StoreError> {
    let all = records(pool, None).await?;
    let head = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
        .fetch_one(pool)
        .await?;
    let head_seq: i64 = head.try_get("seq")?;
    let head_hash: String = head.try_get("hash")?;
    Ok(check_chain(&all, head_seq, &head_hash))
}

/// The chain check itself, on records already read.
pub fn check_chain(all: &[AuditRecord], head_seq: i64, head_hash: &str) -> Result<i64, AuditBreak> {
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_string();
    for r in all {
        if r.seq != prev_seq + 1 {
            return Err(AuditBreak::Gap {
                after: prev_seq,
                seq: r.seq,
            });
        }
        if hash_of(r) != r.hash {
            return Err(AuditBreak::Altered { seq: r.seq });
        }
        if r.prev_hash != prev_hash {
            return Err(AuditBreak::Unlinked {
                seq: r.seq,
                prev: prev_seq,
            });
        }
        prev_seq = r.seq;
        prev_hash = r.hash.clone();
    }
    if head_seq != prev_seq || head_hash != prev_hash {
        return Err(AuditBreak::Head {
            last: prev_seq,
            head: head_seq,
        });
    }
    Ok(prev_seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for seq in 1..=n {
            let mut r = AuditRecord {
                seq,
                at: format!("2026-12-02T00:00:0{seq}Z"),
                actor: "a".into(),
                action: "upload".into(),
                county: Some("330282".into()),
                version: Some(seq),
                digest: None,
                result: "validating".into(),
                detail: "{}".into(),
                prev_hash: out.last().map_or(GENESIS.to_string(), |r| r.hash.clone()),
                hash: String::new(),
            };
            r.hash = hash_of(&r);
            out.push(r);
        }
        out
    }

    #[test]
    fn a_whole_chain_verifies_and_every_edit_is_found() {
        let all = chain(4);
        let head = all[3].hash.clone();
        assert_eq!(check_chain(&all, 4, &head), Ok(4));

        let mut edited = all.clone();
        edited[1].result = "approved".into();
        assert_eq!(
            check_chain(&edited, 4, &head),
            Err(AuditBreak::Altered { seq: 2 })
        );

        // Recomputing the edited record's hash breaks the link after it.
        edited[1].hash = hash_of(&edited[1]);
        assert_eq!(
            check_chain(&edited, 4, &head),
            Err(AuditBreak::Unlinked { seq: 3, prev: 2 })
        );

        let mut deleted = all.clone();
        deleted.remove(1);
        assert_eq!(
            check_chain(&deleted, 4, &head),
            Err(AuditBreak::Gap { after: 1, seq: 3 })
        );

        let truncated = all[..3].to_vec();
        assert_eq!(
            check_chain(&truncated, 4, &head),
            Err(AuditBreak::Head { last: 3, head: 4 })
        );
        assert_eq!(check_chain(&[], 0, GENESIS), Ok(0));
    }
}

//! Publishing a baseline edition, and re-proving the county plugins under
//! it (DESIGN §2.5).
//!
//! # What a publication guarantees
//!
//! An admin publishes a new edition of a list with a date it takes force
//! from, tomorrow at the earliest. It is refused — nothing stored — when
//! its text is not a valid catalogue, its jurisdiction is not in the
//! register, it does not begin after every edition of its list, or it
//! falls below any edition above it (its province's, the national list)
//! that is in force with it ([`Library::check_chain`]). Otherwise it is
//! stored in one transaction with its audit record and a queued re-proof
//! for every county plugin version under that list that is in force on
//! some day of the new edition's period; the edition in force before it
//! ends the day before (its text and digest unchanged).
//!
//! Every re-proof is the full-domain proof of the upload, against the new
//! edition; it materialises a new answer table. The result is `passed`
//! (served as it is), `below` (someone gets less than the new edition:
//! the table is served, the guard raises those lines to the edition, and
//! every such answer is a `below-floor` incident, until the county files
//! a fixed version) or `failed` (no table: the baseline alone is served
//! under the new edition, with a `no-table` incident). The counties below
//! are listed with counterexamples (`GET /v1/editions/{digest}`), in the
//! audit log (`reproof` records) and in the metrics.
//!
//! The same re-proof is queued whenever a version would be in force under
//! an edition it has no table for — after an approval, and at start — so
//! a version approved after a publication is proven against it too
//! ([`App::ensure_reproofs`]). Queued re-proofs survive a crash (they are
//! rows) and are resumed at start; a result is written once, guarded by
//! its status, whichever replica proves it.

use super::{App, Catalogues, run_proof};
use crate::catalogue::{Catalogue, CatalogueErrors, ChainReport};
use crate::store::{PublishedEdition, ReproofOutcome, ReproofStatus, Stored};
use jiff::civil::Date;
use std::sync::Arc;
use std::time::Instant;

/// Largest edition text accepted (the richest catalogue is some 40 KiB).
pub const MAX_EDITION_BYTES: usize = 1 << 20;

/// Why a publication was refused.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The text is not a valid catalogue, or does not fit the editions
    /// already there (the errors name the line and field).
    #[error("{0}")]
    Invalid(CatalogueErrors),
    /// The edition falls below a list above it.
    #[error("{} falls below {}", .0.first().map_or_else(String::new, |r| r.child.clone()), .0.iter().filter(|r| !r.passed).map(|r| r.parent.clone()).collect::<Vec<_>>().join(", "))]
    Chain(Vec<ChainReport>),
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// A publication, as stored.
#[derive(Clone, Debug)]
pub struct Publication {
    /// The edition.
    pub edition: PublishedEdition,
    /// The editions it ended: (label, new last day).
    pub ended: Vec<(String, Date)>,
    /// The chain checks it passed.
    pub chain: Vec<ChainReport>,
    /// The versions queued for a re-proof: (county, version).
    pub reproofs: Vec<(String, i64)>,
}

impl App {
    /// Publishes a baseline edition (see the module docs): `new` is
    /// `text` parsed; its path's file name names it in errors and in the
    /// edition history.
    pub async fn publish(
        self: &Arc<Self>,
        new: Catalogue,
        text: &str,
        publisher: &str,
    ) -> Result<Publication, PublishError> {
        let file_name = new
            .path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file_name = file_name.as_str();
        let tomorrow = super::today().tomorrow().ok();
        // One publication at a time, and never while the snapshot is being
        // rebuilt: the check and the store see the same editions.
        let guard = self.refresh.lock().await;
        let current = self.catalogues();
        let library = current
            .library
            .publish(new.clone(), tomorrow)
            .map_err(PublishError::Invalid)?;
        let problems = current.register.check_library(&library);
        if !problems.is_empty() {
            return Err(PublishError::Invalid(CatalogueErrors(problems)));
        }
        let chain = library.check_chain(&new);
        if chain.iter().any(|r| !r.passed) {
            return Err(PublishError::Chain(chain));
        }
        let ended: Vec<(String, Date)> = current
            .library
            .catalogues()
            .iter()
            .filter(|c| c.jurisdiction.code == new.jurisdiction.code)
            .filter_map(|old| {
                let now = library
                    .catalogues()
                    .iter()
                    .find(|c| c.digest == old.digest)?;
                (now.effective_to != old.effective_to)
                    .then(|| (old.label(), now.effective_to))
                    .and_then(|(l, to)| to.map(|to| (l, to)))
            })
            .collect();
        let next = Arc::new(Catalogues {
            library,
            register: current.register.clone(),
        });
        let snapshot = self.snapshot();
        let reproofs: Vec<(String, i64)> = reproofs_needed(&next, &snapshot.counties)
            .into_iter()
            .filter(|(edition, _, _)| edition == &new.digest)
            .map(|(_, county, version)| (county, version))
            .collect();
        let edition = PublishedEdition {
            digest: new.digest.clone(),
            code: new.jurisdiction.code.clone(),
            edition: new.edition.clone(),
            effective_from: new.effective_from.to_string(),
            file_name: file_name.to_string(),
            text: text.to_string(),
            publisher: publisher.to_string(),
            published_at: String::new(),
            seq: 0,
        };
        let detail = serde_json::json!({
            "code": edition.code,
            "edition": edition.edition,
            "effective_from": edition.effective_from,
            "file_name": crate::text::cap(file_name, 200),
            "ended": ended.iter().map(|(l, to)| serde_json::json!({"edition": l, "effective_to": to.to_string()})).collect::<Vec<_>>(),
            "reproofs": reproofs.iter().map(|(c, v)| serde_json::json!({"county": c, "version": v})).collect::<Vec<_>>(),
        });
        let record = self
            .store
            .publish_edition(&edition, detail, &reproofs)
            .await?;
        self.rebuild(next).await?;
        drop(guard);
        self.metrics.publication(&edition.code);
        tracing::info!(code = %edition.code, edition = %edition.edition, from = %edition.effective_from, reproofs = reproofs.len(), "baseline edition published");
        self.reproof_wake.notify_one();
        Ok(Publication {
            edition: PublishedEdition {
                seq: record.seq,
                published_at: record.at,
                ..edition
            },
            ended,
            chain,
            reproofs,
        })
    }

    /// Queues a re-proof for every version that would be in force under an
    /// edition it has no table for (and was never queued against), and
    /// wakes the worker. Returns how many were queued.
    pub async fn ensure_reproofs(&self) -> Result<usize, crate::store::StoreError> {
        let snapshot = self.snapshot();
        let wanted = reproofs_needed(&snapshot.catalogues, &snapshot.counties);
        let queued = self.store.queue_reproofs(&wanted).await?;
        if queued > 0 {
            tracing::info!(
                queued,
                "re-proofs queued for versions in force under editions they were not proven against"
            );
        }
        self.reproof_wake.notify_one();
        Ok(queued)
    }

    /// Starts the task that works through queued re-proofs, one at a time
    /// and one proof at a time with the uploads' proofs.
    pub(super) fn spawn_reproof_worker(self: &Arc<Self>) {
        let app = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match app.store.queued_reproofs().await {
                    Ok(queued) => {
                        for r in queued {
                            app.reprove(&r.edition_digest, &r.county, r.version).await;
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "reading the queued re-proofs"),
                }
                app.reproof_wake.notified().await;
            }
        });
    }

    async fn reprove(self: &Arc<Self>, edition: &str, county: &str, version: i64) {
        let Ok(_permit) = self.proofs.acquire().await else {
            return;
        };
        let started = Instant::now();
        let outcome = self.reproof_outcome(edition, county, version).await;
        let ms = started.elapsed().as_millis() as i64;
        let outcome = ReproofOutcome { ms, ..outcome };
        self.metrics
            .reproof(county, edition, outcome.status.key(), started.elapsed());
        tracing::info!(%county, version, %edition, result = outcome.status.key(), ms, "re-proof");
        match self
            .store
            .finish_reproof(edition, county, version, &outcome)
            .await
        {
            Ok(_) => {
                if let Err(e) = self.refresh_county(county).await {
                    tracing::error!(%county, error = %e, "refreshing after a re-proof");
                }
            }
            Err(e) => tracing::error!(%county, version, error = %e, "storing a re-proof"),
        }
    }

    async fn reproof_outcome(
        self: &Arc<Self>,
        edition: &str,
        county: &str,
        version: i64,
    ) -> ReproofOutcome {
        let failed = |error: String| ReproofOutcome {
            status: ReproofStatus::Failed,
            table: None,
            report: None,
            error: Some(error),
            ms: 0,
        };
        let catalogues = self.catalogues();
        if catalogues.by_digest(edition).is_none() {
            return failed(format!("edition {edition} is not among the catalogues"));
        }
        let v = match self.store.version(county, version).await {
            Ok(Some(v)) => v,
            Ok(None) => return failed(format!("{county} has no version {version}")),
            Err(e) => return failed(format!("reading the version: {e}")),
        };
        let bytes = match self.store.component(&v.digest).await {
            Ok(Some(b)) => b,
            Ok(None) => return failed("the component's bytes are missing".into()),
            Err(e) => return failed(format!("reading the component: {e}")),
        };
        let app = Arc::clone(self);
        let edition = edition.to_string();
        let run = tokio::task::spawn_blocking(move || {
            let (tx, _rx) = tokio::sync::watch::channel(0usize);
            let plugin = app
                .runtime
                .load(&bytes)
                .map_err(|e| format!("invalid component: {e}"))?;
            let baseline = catalogues
                .by_digest(&edition)
                .ok_or_else(|| format!("edition {edition} is not among the catalogues"))?;
            run_proof(&app, &plugin, baseline, &tx)
        })
        .await;
        let proof = match run {
            Ok(Ok(proof)) => proof,
            Ok(Err(e)) => return failed(e),
            Err(e) => return failed(format!("the proof stopped: {e}")),
        };
        let report = serde_json::to_value(&proof.report).ok();
        match proof.table {
            None => ReproofOutcome {
                error: Some("no answer table: the proof did not complete or was not deterministic; see the report".into()),
                report,
                ..failed(String::new())
            },
            Some(table) => ReproofOutcome {
                status: if proof.report.passed {
                    ReproofStatus::Passed
                } else {
                    ReproofStatus::Below
                },
                table: Some(table),
                report,
                error: None,
                ms: 0,
            },
        }
    }
}

/// (edition digest, county, version) for every approved version that is
/// in force on some day, from today on, of an edition of its county's
/// baseline list it has no table for. The version in force only changes
/// on an activation's date, so the days to look at are the edition's
/// first day (or today) and the activation dates within its period.
pub(crate) fn reproofs_needed(
    catalogues: &Catalogues,
    counties: &std::collections::HashMap<String, Arc<super::CountyServing>>,
) -> Vec<(String, String, i64)> {
    let today = super::today();
    let mut wanted = Vec::new();
    let mut codes: Vec<&String> = counties.keys().collect();
    codes.sort();
    for county in codes {
        let serving = &counties[county];
        let Ok((_, parent)) = catalogues.register.county(county) else {
            continue;
        };
        for edition in catalogues.library.catalogues() {
            if edition.jurisdiction.code != parent.code
                || edition.effective_to.is_some_and(|to| to < today)
            {
                continue;
            }
            let first = edition.effective_from.max(today);
            let mut days = vec![first.to_string()];
            for a in &serving.activations {
                if let Ok(d) = a.effective_from.parse::<Date>()
                    && d > first
                    && edition.in_force(d)
                {
                    days.push(a.effective_from.clone());
                }
            }
            let mut versions: Vec<i64> = days
                .iter()
                .filter_map(|d| crate::store::in_force(&serving.activations, d))
                .map(|a| a.version)
                .collect();
            versions.sort_unstable();
            versions.dedup();
            for version in versions {
                if let Some(v) = serving.versions.get(&version)
                    && v.stored == Stored::Approved
                    && !v.served.contains_key(&edition.digest)
                {
                    wanted.push((edition.digest.clone(), county.clone(), version));
                }
            }
        }
    }
    wanted
}

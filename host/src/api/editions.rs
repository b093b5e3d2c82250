//! Baseline editions over HTTP: publishing one (admins), the edition
//! history (public), and one edition with its re-proofs — the counties
//! that fall below it, with counterexamples (any token). The rules are in
//! [`crate::server::App::publish`]'s module.

use super::{AppState, Caller, errors};
use crate::catalogue::Catalogue;
use crate::server::PublishError;
use crate::store::{ReproofStatus, Role};
use axum::Json;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use errors::{ApiError, ErrorBody, field_error};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Where a publication's text comes from.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PublishQuery {
    /// The file name the edition is known by (in errors and the history);
    /// default `CODE-EDITION.toml`.
    pub file_name: Option<String>,
}

/// An edition ended by a publication.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndedView {
    /// The edition.
    pub edition: String,
    /// Its last day now.
    pub effective_to: String,
}

/// A chain check passed by a publication.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChainView {
    /// The list above.
    pub parent: String,
    /// Whether nobody gets less (always true for a stored publication).
    pub passed: bool,
}

/// One county plugin version proven against an edition.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReproofView {
    /// County code.
    pub county: String,
    /// Version.
    pub version: i64,
    /// `queued`, `passed`, `below` (served with the guard raising the
    /// lines below the edition) or `failed` (the baseline alone is served).
    pub status: ReproofStatus,
    /// The answer table served under the edition.
    pub table: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// Items where the county falls below the edition, with how many
    /// persons and the smallest counterexamples (from the proof report).
    #[schema(value_type = Vec<Object>)]
    pub below: Vec<serde_json::Value>,
    /// When it finished.
    pub proved_at: Option<String>,
    /// Milliseconds.
    pub proof_ms: Option<i64>,
}

/// A publication, as answered.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicationView {
    /// `sha256:` digest of the text: the edition's identity.
    pub digest: String,
    /// The list's code.
    pub code: String,
    /// Edition name.
    pub edition: String,
    /// First day in force.
    pub effective_from: String,
    /// Who published it, and when.
    pub publisher: String,
    /// When.
    pub published_at: String,
    /// Editions it ended.
    pub ended: Vec<EndedView>,
    /// Chain checks against the lists above.
    pub chain: Vec<ChainView>,
    /// The re-proofs it queued.
    pub reproofs: Vec<ReproofView>,
}

/// One edition in the history.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditionView {
    /// Digest.
    pub digest: String,
    /// The list's code.
    pub code: String,
    /// Jurisdiction name.
    pub name: String,
    /// Edition name.
    pub edition: String,
    /// First day in force.
    pub effective_from: String,
    /// Last day in force, if ended.
    pub effective_to: Option<String>,
    /// The file it is known by.
    pub file: String,
    /// Published through the server (else it is in the catalogue folder).
    pub published: bool,
    /// Who published it (published editions).
    pub publisher: Option<String>,
    /// When.
    pub published_at: Option<String>,
}

/// One edition with its re-proofs.
#[derive(Debug, Serialize, ToSchema)]
pub struct EditionDetail {
    /// The edition.
    pub edition: EditionView,
    /// Every county plugin version proven against it after its upload.
    pub reproofs: Vec<ReproofView>,
    /// Counties with a version below it (served clamped).
    pub counties_below: Vec<String>,
}

fn reproof_view(r: crate::store::Reproof) -> ReproofView {
    let below = r
        .report
        .as_ref()
        .and_then(|rep| rep.get("failures"))
        .and_then(|f| f.as_array())
        .cloned()
        .unwrap_or_default();
    ReproofView {
        county: r.county,
        version: r.version,
        status: r.status,
        table: r.table_digest,
        error: r.error,
        below,
        proved_at: r.proved_at,
        proof_ms: r.proof_ms,
    }
}

fn publish_error(e: PublishError) -> ApiError {
    match e {
        PublishError::Invalid(errors) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_edition",
            &crate::text::cap(&errors.to_string(), 4096),
            Some("body"),
        ),
        PublishError::Chain(reports) => {
            let text: String = reports
                .iter()
                .filter(|r| !r.passed)
                .map(ToString::to_string)
                .collect();
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "below_parent",
                &crate::text::cap(&text, 4096),
                Some("body"),
            )
        }
        PublishError::Store(e) => ApiError::internal(&e),
    }
}

/// Publishes a baseline edition (`Content-Type: application/toml`, the
/// catalogue's text). It takes force from its `effective-from` (tomorrow
/// at the earliest) and ends the edition before it the day before; every
/// county plugin in force under it is re-proven against it in the
/// background (`GET /v1/editions/{digest}` for the results). Refused,
/// with nothing stored, when the text is invalid (line and field named),
/// does not begin after every edition of its list, or falls below a list
/// above it (the counterexamples named).
#[utoipa::path(post, path = "/v1/editions", tag = "editions",
    params(PublishQuery),
    request_body(content = String, content_type = "application/toml"),
    responses((status = 201, description = "published; re-proofs queued", body = PublicationView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, description = "invalid, out of order, or below a list above it", body = ErrorBody)))]
pub(super) async fn publish(
    State(app): State<AppState>,
    caller: Result<Caller, ApiError>,
    query: Result<Query<PublishQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<PublicationView>), ApiError> {
    let checked = caller.and_then(|caller| {
        if caller.0.role != Role::Admin {
            return Err(super::forbidden(format!(
                "a {} token cannot publish baseline editions",
                caller.0.role.key()
            )));
        }
        errors::require_content_types(&headers, &["application/toml", "text/plain"])?;
        let Query(query) = query.map_err(|e| field_error("file_name", &e.body_text()))?;
        Ok((caller, query))
    });
    let (caller, query) = match checked {
        Ok(c) => c,
        Err(e) => {
            errors::drain(request.into_body()).await;
            return Err(e);
        }
    };
    let bytes = errors::read_body(request, crate::server::MAX_EDITION_BYTES).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| field_error("body", &format!("the edition is not UTF-8 text: {e}")))?;
    if let Some(name) = &query.file_name
        && (name.is_empty()
            || name.len() > 200
            || !name.ends_with(".toml")
            || name.contains(['/', '\\'])
            || name.chars().any(crate::text::is_unsafe))
    {
        return Err(field_error(
            "file_name",
            "a file name is a plain name ending in .toml, at most 200 bytes, without slashes or control characters",
        ));
    }
    // Parsed here, for the scope check too: an admin publishes the lists
    // of the jurisdictions under its scope.
    let provisional = query
        .file_name
        .clone()
        .unwrap_or_else(|| "edition.toml".into());
    let mut parsed = Catalogue::parse(text, std::path::Path::new(&provisional))
        .map_err(|e| publish_error(PublishError::Invalid(e)))?;
    let code = parsed.jurisdiction.code.clone();
    if !caller.0.covers(app.register(), &code) {
        return Err(super::forbidden(format!(
            "this token's scope {} does not cover {}",
            caller.0.scope,
            app.register().label(&code)
        )));
    }
    if query.file_name.is_none() {
        parsed.path = format!("{code}-{}.toml", parsed.edition).into();
    }
    let publication = app
        .publish(parsed, text, &caller.0.actor())
        .await
        .map_err(publish_error)?;
    let reproofs = app
        .store
        .reproofs_of(&publication.edition.digest)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let e = publication.edition;
    Ok((
        StatusCode::CREATED,
        Json(PublicationView {
            digest: e.digest,
            code: e.code,
            edition: e.edition,
            effective_from: e.effective_from,
            publisher: e.publisher,
            published_at: e.published_at,
            ended: publication
                .ended
                .into_iter()
                .map(|(edition, to)| EndedView {
                    edition,
                    effective_to: to.to_string(),
                })
                .collect(),
            chain: publication
                .chain
                .iter()
                .map(|r| ChainView {
                    parent: r.parent.clone(),
                    passed: r.passed,
                })
                .collect(),
            reproofs: reproofs.into_iter().map(reproof_view).collect(),
        }),
    ))
}

async fn edition_views(app: &crate::server::App) -> Result<Vec<EditionView>, ApiError> {
    let published = app
        .store
        .editions()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let catalogues = app.catalogues();
    Ok(catalogues
        .library
        .catalogues()
        .iter()
        .map(|c| {
            let p = published.iter().find(|p| p.digest == c.digest);
            EditionView {
                digest: c.digest.clone(),
                code: c.jurisdiction.code.clone(),
                name: c.jurisdiction.name.clone(),
                edition: c.edition.clone(),
                effective_from: c.effective_from.to_string(),
                effective_to: c.effective_to.map(|d| d.to_string()),
                file: c
                    .path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                published: p.is_some(),
                publisher: p.map(|p| p.publisher.clone()),
                published_at: p.map(|p| p.published_at.clone()),
            }
        })
        .collect())
}

/// Every baseline edition served (the folder's and the published ones),
/// by level, code and start date. Public.
#[utoipa::path(get, path = "/v1/editions", tag = "editions",
    responses((status = 200, body = Vec<EditionView>)))]
pub(super) async fn list(State(app): State<AppState>) -> Result<Json<Vec<EditionView>>, ApiError> {
    Ok(Json(edition_views(&app).await?))
}

/// One edition with its re-proofs: which county plugin versions were
/// proven against it, which fall below it and where (counterexamples).
#[utoipa::path(get, path = "/v1/editions/{digest}", tag = "editions",
    params(("digest" = String, Path, description = "the edition's sha256: digest")),
    responses((status = 200, body = EditionDetail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get(
    State(app): State<AppState>,
    Path(digest): Path<String>,
    _caller: Caller,
) -> Result<Json<EditionDetail>, ApiError> {
    let edition = edition_views(&app)
        .await?
        .into_iter()
        .find(|e| e.digest == digest)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("no edition with digest {}", crate::text::cap(&digest, 80)),
                Some("digest"),
            )
        })?;
    let reproofs: Vec<ReproofView> = app
        .store
        .reproofs_of(&digest)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .into_iter()
        .map(reproof_view)
        .collect();
    let mut counties_below: Vec<String> = reproofs
        .iter()
        .filter(|r| r.status == ReproofStatus::Below)
        .map(|r| r.county.clone())
        .collect();
    counties_below.dedup();
    Ok(Json(EditionDetail {
        edition,
        reproofs,
        counties_below,
    }))
}

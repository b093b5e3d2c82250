//! The HTTP API (axum): registry, review (备案) and evaluation, with bearer
//! tokens, JSON errors that name the field, and the OpenAPI document
//! generated from the same route declarations that build the router.
//!
//! # Who may do what
//!
//! | route | roles (the token's scope must cover the county) |
//! |---|---|
//! | upload, list, get | county (its own county only), admin; list and get also reviewer, caseworker |
//! | approve, reject | reviewer of an ancestor of the county, never the uploader |
//! | suspend, rollback | reviewer, admin |
//! | evaluate, replay | any role |
//! | impact, impact runs, name list (persons) | admin, county (its own), reviewer, caseworker |
//! | publish an edition | admin (its scope covering the list's jurisdiction) |
//! | edition history | anyone, no token; one edition with its re-proofs: any role |
//! | tokens | admin (within its scope) |
//! | audit | admin, reviewer |
//!
//! Missing or unknown token: 401. Right token, wrong role or scope: 403.
//! Both are JSON errors, and nothing is changed.
//!
//! # Errors
//!
//! Every 4xx (and 5xx) body is `{"error": {"code", "message", "field"}}`:
//! `field` names the JSON path that failed (`person.age`), or the header,
//! the path segment or the rule.

mod editions;
mod errors;
mod population;
pub use population::{MAX_IMPACT_BYTES, MAX_POPULATION_BYTES, PopulationQuery, Runs};

use crate::evaluate::{Clamp, Status};
use crate::model::{Benefit, Category, Person};
use crate::server::{Answer, App, Incident};
use crate::store::{Role, Shown, Token, Version};
use axum::Json;
use axum::extract::{FromRequestParts, MatchedPath, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
pub use errors::{ApiError, ErrorBody, ErrorDetail};
use errors::{JsonBody, field_error};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Instant;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest JSON body accepted (a person and pins are a few hundred bytes).
pub const MAX_JSON_BYTES: usize = 64 * 1024;

type AppState = Arc<App>;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Qingdan",
        description = "Basic elderly-care service lists: county plugins, their review (备案), and what an elder is entitled to."
    ),
    components(schemas(ErrorBody, ErrorDetail))
)]
struct ApiDoc;

/// The router and its OpenAPI document, built from the same declarations.
pub fn parts(app: AppState) -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(create_token))
        .routes(routes!(list_versions, upload))
        .routes(routes!(get_version))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(suspend))
        .routes(routes!(rollback))
        .routes(routes!(evaluate))
        .routes(routes!(replay))
        .routes(routes!(population::impact))
        .routes(routes!(population::name_list))
        .routes(routes!(population::create_run))
        .routes(routes!(population::get_run))
        .routes(routes!(population::upload_run))
        .routes(routes!(audit_records))
        .routes(routes!(audit_verify))
        .routes(routes!(editions::publish, editions::list))
        .routes(routes!(editions::get))
        .split_for_parts();
    let document = openapi.clone();
    let router = router
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let document = document.clone();
                async move { Json(document) }
            }),
        )
        .merge(crate::web::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&app),
            observe,
        ))
        .with_state(app);
    (router, openapi)
}

/// The router of the whole API.
pub fn router(app: AppState) -> axum::Router {
    parts(app).0
}

/// The OpenAPI document alone.
pub fn openapi(app: AppState) -> utoipa::openapi::OpenApi {
    parts(app).1
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "no such route",
        Some("path"),
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
        Some("method"),
    )
}

/// Logs and counts every request by its route template.
async fn observe(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    // The route template is shared (`MatchedPath` holds an `Arc<str>`).
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    app.metrics.request(route, status);
    // Per request at debug level (`QINGDAN_LOG=debug`); changes of state
    // are logged at info where they happen.
    tracing::debug!(%method, route, status, micros = started.elapsed().as_micros() as u64, "request");
    response
}

// ----- authentication -----

/// The caller's verified token.
pub struct Caller(pub Token);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Caller, ApiError> {
        let unauthorized = |message: &str| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
                Some("authorization"),
            )
        };
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(unauthorized(
                "an Authorization: Bearer <token> header is required",
            ));
        };
        let secret = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header must be Bearer <token>"))?;
        match app.token(secret).await {
            Ok(Some(token)) => Ok(Caller(token)),
            Ok(None) => Err(unauthorized("unknown or revoked token")),
            Err(e) => Err(ApiError::internal(&e)),
        }
    }
}

pub(crate) fn forbidden(message: String) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        &message,
        Some("authorization"),
    )
}

impl Caller {
    /// Requires one of `roles` and a scope covering `county`.
    pub(crate) fn require(
        &self,
        app: &App,
        roles: &[Role],
        county: &str,
        what: &str,
    ) -> Result<(), ApiError> {
        let t = &self.0;
        if !roles.contains(&t.role) {
            return Err(forbidden(format!("a {} token cannot {what}", t.role.key())));
        }
        let covers = match t.role {
            // A county team acts for its own county only.
            Role::County => t.scope == county,
            _ => t.covers(app.register(), county),
        };
        if !covers {
            return Err(forbidden(format!(
                "this token's scope {} does not cover {}",
                t.scope,
                app.register().label(county)
            )));
        }
        Ok(())
    }
}

// ----- path parameters -----

/// A county with no baseline on the date asked for.
pub(crate) fn no_baseline(e: crate::register::BaselineError) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "no_baseline",
        &e.to_string(),
        Some("as_of"),
    )
}

pub(crate) fn county_of(app: &App, code: &str) -> Result<(), ApiError> {
    use crate::register::BaselineError;
    match app.register().county(code) {
        Ok(_) => Ok(()),
        Err(e @ BaselineError::UnknownCounty { .. }) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_county",
            &e.to_string(),
            Some("code"),
        )),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_a_county",
            &e.to_string(),
            Some("code"),
        )),
    }
}

fn version_number(text: &str) -> Result<i64, ApiError> {
    text.parse::<i64>().ok().filter(|v| *v >= 1).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            &format!(
                "a version is a whole number from 1, not {:?}",
                crate::text::cap(text, 40)
            ),
            Some("version"),
        )
    })
}

// ----- views -----

/// One version of a county's plugin.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionView {
    /// County code.
    pub county: String,
    /// Version number within the county.
    pub version: i64,
    /// Status today.
    pub status: Shown,
    /// Progress while validating.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// `sha256:` digest of the component.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// Who uploaded it, and when.
    pub uploader: String,
    /// When.
    pub uploaded_at: String,
    /// The county name the component gives.
    pub county_name: Option<String>,
    /// The baseline edition it was proven against.
    pub baseline: Option<String>,
    /// Its digest.
    pub baseline_digest: Option<String>,
    /// The answer table's digest.
    pub table: Option<String>,
    /// Why it was refused before or instead of a proof.
    pub error: Option<String>,
    /// When the proof finished.
    pub proved_at: Option<String>,
    /// Milliseconds of validation, compilation and proof.
    pub proof_ms: Option<i64>,
    /// The reviewer.
    pub reviewer: Option<String>,
    /// The reviewer's comment.
    pub review_comment: Option<String>,
    /// When reviewed.
    pub reviewed_at: Option<String>,
    /// In force from.
    pub effective_from: Option<String>,
    /// Whether these bytes had been uploaded before (upload responses).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// The proof report (`qingdan.verify-report/2`); in single-version
    /// responses only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub report: Option<serde_json::Value>,
}

async fn view(app: &App, v: Version, with_report: bool) -> Result<VersionView, ApiError> {
    let activations = app
        .store
        .activations(&v.county)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(view_with(app, v, &activations, with_report))
}

fn view_with(
    app: &App,
    v: Version,
    activations: &[crate::store::Activation],
    with_report: bool,
) -> VersionView {
    let today = crate::server::today().to_string();
    let status = crate::store::shown(&v, activations, &today);
    let progress = (status == Shown::Validating).then(|| {
        app.progress_of(&v.county, v.version)
            .unwrap_or(v.progress.clone())
    });
    VersionView {
        status,
        progress,
        county: v.county,
        version: v.version,
        digest: v.digest,
        size: v.size,
        uploader: v.uploader,
        uploaded_at: v.uploaded_at,
        county_name: v.county_name,
        baseline: v.baseline_label,
        baseline_digest: v.baseline_digest,
        table: v.table_digest,
        error: v.error,
        proved_at: v.proved_at,
        proof_ms: v.proof_ms,
        reviewer: v.reviewer,
        review_comment: v.review_comment,
        reviewed_at: v.reviewed_at,
        effective_from: v.effective_from,
        duplicate: false,
        report: if with_report { v.report } else { None },
    }
}

// ----- operations -----

/// Liveness: the process answers.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200, description = "alive")))]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers and the catalogues are loaded.
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200, description = "ready"), (status = 503, description = "not ready", body = ErrorBody)))]
async fn readyz(State(app): State<AppState>) -> Result<&'static str, ApiError> {
    app.store.ping().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            &format!("database: {e}"),
            None,
        )
    })?;
    Ok("ready\n")
}

/// Counters in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

// ----- tokens -----

/// A token to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// `admin`, `county`, `reviewer` or `caseworker`.
    pub role: Role,
    /// The jurisdiction code it applies to.
    pub scope: String,
    /// Who will hold it.
    pub name: String,
}

/// A created token: the secret is shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    /// Row id.
    pub id: i64,
    /// Role.
    pub role: Role,
    /// Scope.
    pub scope: String,
    /// Holder.
    pub name: String,
    /// The secret, for `Authorization: Bearer …`.
    pub token: String,
}

/// Creates a token (admin, within its scope).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn create_token(
    State(app): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    if caller.0.role != Role::Admin {
        return Err(forbidden("only an admin token creates tokens".into()));
    }
    check_scope(app.register(), body.role, &body.scope).map_err(|m| field_error("scope", &m))?;
    if !caller.0.covers(app.register(), &body.scope) {
        return Err(forbidden(format!(
            "this token's scope {} does not cover {}",
            caller.0.scope, body.scope
        )));
    }
    let name = body.name.trim();
    if name.is_empty() || name.chars().any(crate::text::is_unsafe) || name.len() > 200 {
        return Err(field_error(
            "name",
            "a name of 1 to 200 bytes without control characters is required",
        ));
    }
    let (token, secret) = app
        .store
        .create_token(body.role, &body.scope, name, &caller.0.actor())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            id: token.id,
            role: token.role,
            scope: token.scope,
            name: token.name,
            token: secret,
        }),
    ))
}

/// Checks that a scope fits a role: a county token's scope is a county; a
/// reviewer's a city or province above counties; anything registered (or
/// `000000`) for admins and caseworkers.
pub fn check_scope(
    register: &crate::register::Register,
    role: Role,
    scope: &str,
) -> Result<(), String> {
    if scope == "000000" {
        return if role == Role::County {
            Err("a county token's scope is its county code".into())
        } else {
            Ok(())
        };
    }
    let Some(entry) = register.get(scope) else {
        return Err(format!(
            "{} is not in the jurisdiction register",
            crate::text::escape(&crate::text::cap(scope, 40))
        ));
    };
    match role {
        Role::County if !entry.kind.files_plugins() => Err(format!(
            "{} is not a county-level jurisdiction; a county token's scope is its county code",
            entry.label()
        )),
        Role::Reviewer if entry.kind.files_plugins() => Err(format!(
            "{} is a county; a reviewer's scope is the city (or province) that reviews it",
            entry.label()
        )),
        _ => Ok(()),
    }
}

// ----- versions -----

/// A county's plugin versions, newest first.
#[utoipa::path(get, path = "/v1/counties/{code}/plugins", tag = "plugins",
    params(("code" = String, Path, description = "county code (GB/T 2260)")),
    responses((status = 200, body = Vec<VersionView>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn list_versions(
    State(app): State<AppState>,
    Path(code): Path<String>,
    caller: Caller,
) -> Result<Json<Vec<VersionView>>, ApiError> {
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::County, Role::Admin, Role::Reviewer, Role::Caseworker],
        &code,
        "see this county's versions",
    )?;
    let versions = app
        .store
        .versions(&code)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let activations = app
        .store
        .activations(&code)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(
        versions
            .into_iter()
            .map(|v| view_with(&app, v, &activations, false))
            .collect(),
    ))
}

/// Uploads a component (`Content-Type: application/wasm`): it is
/// validated, compiled and proven in the background (`GET` the version for
/// progress and the verdict). The same bytes again give the existing
/// version.
#[utoipa::path(post, path = "/v1/counties/{code}/plugins", tag = "plugins",
    params(("code" = String, Path, description = "county code (GB/T 2260)")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 202, description = "accepted; being validated and proven", body = VersionView), (status = 200, description = "the same bytes were uploaded before", body = VersionView),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn upload(
    State(app): State<AppState>,
    Path(code): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<VersionView>), ApiError> {
    // A refused upload is drained before the answer, so that the client,
    // still sending, reads the error instead of a reset connection.
    let checked = caller.and_then(|caller| {
        county_of(&app, &code)?;
        caller.require(&app, &[Role::County, Role::Admin], &code, "upload plugins")?;
        errors::require_content_type(&headers, "application/wasm")?;
        Ok(caller)
    });
    let caller = match checked {
        Ok(caller) => caller,
        Err(e) => {
            errors::drain(request.into_body()).await;
            return Err(e);
        }
    };
    let limit = app.runtime.limits().max_component_bytes;
    let bytes = errors::read_body(request, limit).await?;
    if bytes.is_empty() {
        return Err(field_error(
            "body",
            "the body is empty: send the component's bytes",
        ));
    }
    let digest = crate::table::digest_of(&bytes);
    let uploaded = app
        .store
        .upload(&code, &bytes, &digest, &caller.0)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if !uploaded.duplicate {
        app.spawn_proof(code.clone(), uploaded.version, digest);
    }
    let version = app
        .store
        .version(&code, uploaded.version)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::internal(&"the version just stored is missing"))?;
    let mut view = view(&app, version, false).await?;
    view.duplicate = uploaded.duplicate;
    let status = if uploaded.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok((status, Json(view)))
}

pub(crate) async fn load_version(
    app: &App,
    code: &str,
    version: &str,
) -> Result<Version, ApiError> {
    let number = version_number(version)?;
    app.store
        .version(code, number)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{} has no version {number}", app.register().label(code)),
                Some("version"),
            )
        })
}

/// One version with its proof report.
#[utoipa::path(get, path = "/v1/counties/{code}/plugins/{version}", tag = "plugins",
    params(("code" = String, Path, description = "county code"), ("version" = i64, Path, description = "version number")),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn get_version(
    State(app): State<AppState>,
    Path((code, version)): Path<(String, String)>,
    caller: Caller,
) -> Result<Json<VersionView>, ApiError> {
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::County, Role::Admin, Role::Reviewer, Role::Caseworker],
        &code,
        "see this county's versions",
    )?;
    let v = load_version(&app, &code, &version).await?;
    Ok(Json(view(&app, v, true).await?))
}

/// A review decision.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveRequest {
    /// The reviewer's comment (the 备案 record).
    pub comment: String,
    /// The date it is in force from (today or later, YYYY-MM-DD).
    #[schema(value_type = String, format = Date)]
    pub effective_from: Date,
}

/// A comment for a rejection, a suspension or a rollback.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentRequest {
    /// Why.
    pub comment: String,
}

pub(crate) fn check_comment(comment: &str) -> Result<(), ApiError> {
    if comment.trim().is_empty() {
        return Err(field_error(
            "comment",
            "a comment is required: it is part of the record",
        ));
    }
    if comment.len() > 4096 {
        return Err(field_error("comment", "a comment is at most 4,096 bytes"));
    }
    if comment
        .chars()
        .any(|c| crate::text::is_unsafe(c) && c != '\n')
    {
        return Err(field_error(
            "comment",
            "a comment may not hold control or bidirectional-formatting characters",
        ));
    }
    Ok(())
}

pub(crate) fn step_error(e: crate::store::StepError) -> ApiError {
    use crate::store::StepError;
    match e {
        StepError::NoVersion { .. } => ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            &e.to_string(),
            Some("version"),
        ),
        StepError::WrongState { .. } => ApiError::new(
            StatusCode::CONFLICT,
            "wrong_state",
            &e.to_string(),
            Some("status"),
        ),
        StepError::Nothing(_) => {
            ApiError::new(StatusCode::CONFLICT, "nothing_to_do", &e.to_string(), None)
        }
        StepError::Store(e) => ApiError::internal(&e),
    }
}

pub(crate) fn not_uploader(caller: &Token, v: &Version) -> Result<(), ApiError> {
    if caller.id == v.uploader_token || caller.name == v.uploader {
        return Err(forbidden(format!(
            "{} uploaded version {}; the uploader cannot review it",
            caller.name, v.version
        )));
    }
    Ok(())
}

pub(crate) fn reviewer_of(
    app: &App,
    caller: &Caller,
    code: &str,
    what: &str,
) -> Result<(), ApiError> {
    caller.require(app, &[Role::Reviewer], code, what)?;
    if caller.0.scope == code {
        return Err(forbidden(
            "a reviewer reviews the counties under its city, not its own jurisdiction".into(),
        ));
    }
    Ok(())
}

/// Approves a version pending review; it is in force from
/// `effective_from`, and the version in force before is superseded then.
#[utoipa::path(post, path = "/v1/counties/{code}/plugins/{version}/approve", tag = "review",
    params(("code" = String, Path, description = "county code"), ("version" = i64, Path, description = "version number")),
    request_body = ApproveRequest,
    responses((status = 200, body = VersionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn approve(
    State(app): State<AppState>,
    Path((code, version)): Path<(String, String)>,
    caller: Caller,
    JsonBody(body): JsonBody<ApproveRequest>,
) -> Result<Json<VersionView>, ApiError> {
    let approved = approve_version(
        &app,
        &caller,
        &code,
        &version,
        &body.comment,
        body.effective_from,
    )
    .await?;
    Ok(Json(view(&app, approved, false).await?))
}

/// Approves a version for the API and the review page alike: the reviewer
/// rules, the comment and the date checked, the serving state refreshed.
pub(crate) async fn approve_version(
    app: &App,
    caller: &Caller,
    code: &str,
    version: &str,
    comment: &str,
    effective_from: Date,
) -> Result<Version, ApiError> {
    county_of(app, code)?;
    reviewer_of(app, caller, code, "approve plugins")?;
    let v = load_version(app, code, version).await?;
    not_uploader(&caller.0, &v)?;
    check_comment(comment)?;
    let today = crate::server::today();
    if effective_from < today {
        return Err(field_error(
            "effective_from",
            &format!(
                "{effective_from} is in the past (today is {today}): a version takes force today or later"
            ),
        ));
    }
    let approved = app
        .store
        .approve(
            code,
            v.version,
            &caller.0,
            comment.trim(),
            &effective_from.to_string(),
        )
        .await
        .map_err(step_error)?;
    in_force_changed(app, code).await?;
    Ok(approved)
}

/// After a change of what is in force in a county: the serving state
/// refreshed, and a re-proof queued for a version now in force under an
/// edition it was not proven against (a published one).
async fn in_force_changed(app: &App, code: &str) -> Result<(), ApiError> {
    app.refresh_county(code)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    app.ensure_reproofs()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(())
}

/// Rejects a version pending review.
#[utoipa::path(post, path = "/v1/counties/{code}/plugins/{version}/reject", tag = "review",
    params(("code" = String, Path, description = "county code"), ("version" = i64, Path, description = "version number")),
    request_body = CommentRequest,
    responses((status = 200, body = VersionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn reject(
    State(app): State<AppState>,
    Path((code, version)): Path<(String, String)>,
    caller: Caller,
    JsonBody(body): JsonBody<CommentRequest>,
) -> Result<Json<VersionView>, ApiError> {
    let rejected = reject_version(&app, &caller, &code, &version, &body.comment).await?;
    Ok(Json(view(&app, rejected, false).await?))
}

/// Rejects a version for the API and the review page alike.
pub(crate) async fn reject_version(
    app: &App,
    caller: &Caller,
    code: &str,
    version: &str,
    comment: &str,
) -> Result<Version, ApiError> {
    county_of(app, code)?;
    reviewer_of(app, caller, code, "reject plugins")?;
    let v = load_version(app, code, version).await?;
    not_uploader(&caller.0, &v)?;
    check_comment(comment)?;
    app.store
        .reject(code, v.version, &caller.0, comment.trim())
        .await
        .map_err(step_error)
}

/// Suspends a version: while it would be in force, the baseline is served
/// with an incident.
#[utoipa::path(post, path = "/v1/counties/{code}/plugins/{version}/suspend", tag = "review",
    params(("code" = String, Path, description = "county code"), ("version" = i64, Path, description = "version number")),
    request_body = CommentRequest,
    responses((status = 200, body = VersionView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn suspend(
    State(app): State<AppState>,
    Path((code, version)): Path<(String, String)>,
    caller: Caller,
    JsonBody(body): JsonBody<CommentRequest>,
) -> Result<Json<VersionView>, ApiError> {
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::Reviewer, Role::Admin],
        &code,
        "suspend plugins",
    )?;
    let v = load_version(&app, &code, &version).await?;
    check_comment(&body.comment)?;
    let suspended = app
        .store
        .suspend(&code, v.version, &caller.0, body.comment.trim())
        .await
        .map_err(step_error)?;
    app.refresh_county(&code)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(view(&app, suspended, false).await?))
}

/// The outcome of a rollback.
#[derive(Debug, Serialize, ToSchema)]
pub struct RolledBack {
    /// The version that was in force and is rolled back.
    pub rolled_back: i64,
    /// The version in force again from today.
    pub active: i64,
}

/// Rolls the county back to the version in force before the current one,
/// from today.
#[utoipa::path(post, path = "/v1/counties/{code}/rollback", tag = "review",
    params(("code" = String, Path, description = "county code")),
    request_body = CommentRequest,
    responses((status = 200, body = RolledBack), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn rollback(
    State(app): State<AppState>,
    Path(code): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<CommentRequest>,
) -> Result<Json<RolledBack>, ApiError> {
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::Reviewer, Role::Admin],
        &code,
        "roll counties back",
    )?;
    check_comment(&body.comment)?;
    let today = crate::server::today().to_string();
    let (rolled_back, active) = app
        .store
        .rollback(&code, &today, &caller.0, body.comment.trim())
        .await
        .map_err(step_error)?;
    in_force_changed(&app, &code).await?;
    Ok(Json(RolledBack {
        rolled_back,
        active,
    }))
}

// ----- evaluation -----

/// A person to evaluate.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The person (never a name or an ID number).
    pub person: Person,
    /// The date (YYYY-MM-DD); default today (UTC+8).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Date)]
    pub as_of: Option<Date>,
}

/// What an answer was computed from: enough to replay it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Pins {
    /// `sha256:` digest of the baseline edition.
    pub baseline: String,
    /// `sha256:` digest of the plugin component, if one answered.
    #[serde(default)]
    pub plugin: Option<String>,
    /// `sha256:` digest of the answer table served, if any.
    #[serde(default)]
    pub table: Option<String>,
    /// The host version.
    #[serde(default)]
    pub host: Option<String>,
}

/// A replay: the same person and date, with the pins of an earlier answer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// The person.
    pub person: Person,
    /// The date of the original evaluation.
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// The pins of the original answer.
    pub pins: Pins,
}

/// One entitlement.
#[derive(Debug, Serialize, ToSchema)]
pub struct LineView {
    /// Item key.
    #[schema(value_type = String)]
    pub item: crate::text::Shared,
    /// Chinese name.
    #[schema(value_type = String)]
    pub name: crate::text::Shared,
    /// Category.
    pub category: Category,
    /// `baseline`, `raised`, `county-extra` or `clamped`.
    pub tag: Status,
    /// What the person gets.
    pub benefit: Benefit,
    /// What the baseline gives for this item, if anything.
    pub baseline: Option<Benefit>,
    /// Why.
    pub reason: String,
    /// The item's legal basis.
    #[schema(value_type = String)]
    pub legal_basis: crate::text::Shared,
    /// 服务内容
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub content: Option<crate::text::Shared>,
    /// 服务标准
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub standard: Option<crate::text::Shared>,
    /// Whether the line is the city's or the county's.
    #[schema(value_type = String)]
    pub source: crate::text::Shared,
}

/// What an elder is entitled to.
#[derive(Debug, Serialize, ToSchema)]
pub struct EvaluateResponse {
    /// County code.
    pub county: String,
    /// The date.
    #[schema(value_type = String, format = Date)]
    pub as_of: Date,
    /// The person evaluated.
    pub person: Person,
    /// The entitlements: baseline items in list order, then county extras.
    pub lines: Vec<LineView>,
    /// County lines the guard refused (below the baseline).
    pub clamps: Vec<Clamp>,
    /// Set when the baseline alone answered (no plugin in force, a
    /// suspended one, a fault).
    pub incident: Option<Incident>,
    /// The plugin version that answered.
    pub plugin_version: Option<i64>,
    /// The baseline edition, e.g. `宁波市 330200 2023`.
    pub baseline_edition: String,
    /// What the answer was computed from.
    pub pins: Pins,
}

pub(crate) fn response(county: &str, answer: Answer) -> EvaluateResponse {
    let e = answer.evaluation;
    let city = crate::text::Shared::from(e.baseline.name.as_str());
    let county_name =
        crate::text::Shared::from(e.plugin.as_ref().map_or("", |p| p.county_name.as_str()));
    let lines = e
        .lines
        .into_iter()
        .map(|l| LineView {
            source: match l.status {
                Status::Baseline | Status::Clamped => city.clone(),
                Status::Raised | Status::CountyExtra => county_name.clone(),
            },
            item: l.item,
            name: l.name,
            category: l.category,
            tag: l.status,
            benefit: l.benefit,
            baseline: l.baseline,
            reason: l.reason,
            legal_basis: l.legal_basis,
            content: l.content,
            standard: l.standard,
        })
        .collect();
    let incident = answer.incident.or_else(|| {
        e.fault.map(|f| Incident {
            kind: f.kind,
            message: f.message,
        })
    });
    EvaluateResponse {
        county: county.to_string(),
        as_of: e.as_of,
        person: e.person,
        lines,
        clamps: e.clamps,
        incident,
        plugin_version: answer.version,
        baseline_edition: format!(
            "{} {} {}",
            e.baseline.name, e.baseline.code, e.baseline.edition
        ),
        pins: Pins {
            baseline: e.baseline.digest,
            plugin: e.plugin.as_ref().map(|p| p.digest.clone()),
            table: e.plugin.and_then(|p| p.table),
            host: Some(e.host_version),
        },
    }
}

pub(crate) fn normalized(person: Person) -> Result<Person, ApiError> {
    person
        .normalized()
        .map_err(|e| field_error("person.age", &e.to_string()))
}

pub(crate) fn count(app: &App, county: &str, answer: &Answer, started: Instant) {
    let version = crate::metrics::version_label(answer.version);
    app.metrics.evaluation(
        county,
        &version,
        started.elapsed(),
        answer.evaluation.clamps.len(),
    );
    if let Some(incident) = &answer.incident {
        app.metrics.fallback(county, &version, &incident.kind);
    }
}

/// The serialised body without the spare capacity its growth left (up to
/// as much again), since it is kept in the answer cache, which counts its
/// length.
fn exact(body: serde_json::Result<Vec<u8>>) -> serde_json::Result<Vec<u8>> {
    body.map(|mut b| {
        b.shrink_to_fit();
        b
    })
}

/// The body `POST /v1/counties/{code}/evaluate` serves for `person` on
/// `as_of` once the caller is admitted: from the answer cache, or computed
/// under the decision of the current snapshot and kept. The route's whole
/// work but HTTP and the counters, so that a benchmark can measure it in
/// process.
pub fn served_answer(
    app: &App,
    code: &str,
    person: &Person,
    as_of: Date,
) -> Result<Arc<crate::server::CachedAnswer>, ApiError> {
    // One snapshot decides what serves; the answer is a function of that
    // decision and the person, so its body is kept and served again.
    let snapshot = app.snapshot();
    let decision = snapshot.decide(code, as_of).map_err(no_baseline)?;
    let key = decision.key(person, as_of);
    Ok(match app.cached_answer(&key) {
        Some(cached) => {
            if let Some(incident) = &cached.incident
                && incident.kind != "no-plugin"
            {
                app.record_incident(code, cached.version, incident);
            }
            cached
        }
        None => {
            let answer = app.answer(&decision, code, person, as_of);
            let kept = Arc::new(crate::server::CachedAnswer {
                version: answer.version,
                version_label: crate::metrics::version_label(answer.version),
                clamps: answer.evaluation.clamps.len(),
                incident: answer.incident.clone(),
                body: exact(serde_json::to_vec(&response(code, answer)))
                    .map_err(|e| ApiError::internal(&e))?
                    .into(),
            });
            app.keep_answer(key, Arc::clone(&kept));
            kept
        }
    })
}

/// What an elder is entitled to in a county on a date, served from the
/// answer table in force under the guard.
#[utoipa::path(post, path = "/v1/counties/{code}/evaluate", tag = "evaluation",
    params(("code" = String, Path, description = "county code")),
    request_body = EvaluateRequest,
    responses((status = 200, body = EvaluateResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn evaluate(
    State(app): State<AppState>,
    Path(code): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<EvaluateRequest>,
) -> Result<Response, ApiError> {
    let started = Instant::now();
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::Admin, Role::County, Role::Reviewer, Role::Caseworker],
        &code,
        "evaluate",
    )?;
    let person = normalized(body.person)?;
    let as_of = body.as_of.unwrap_or_else(crate::server::today);
    let cached = served_answer(&app, &code, &person, as_of)?;
    let version = &cached.version_label;
    app.metrics
        .evaluation(&code, version, started.elapsed(), cached.clamps);
    if let Some(incident) = &cached.incident {
        app.metrics.fallback(&code, version, &incident.kind);
    }
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        cached.body.clone(),
    )
        .into_response())
}

/// The answer an earlier evaluation gave, recomputed from its pins: the
/// same baseline edition and answer table, whatever is in force now.
#[utoipa::path(post, path = "/v1/counties/{code}/replay", tag = "evaluation",
    params(("code" = String, Path, description = "county code")),
    request_body = ReplayRequest,
    responses((status = 200, body = EvaluateResponse), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn replay(
    State(app): State<AppState>,
    Path(code): Path<String>,
    caller: Caller,
    JsonBody(body): JsonBody<ReplayRequest>,
) -> Result<Json<EvaluateResponse>, ApiError> {
    use crate::evaluate::{County, Fault, PluginRef, Served};
    county_of(&app, &code)?;
    caller.require(
        &app,
        &[Role::Admin, Role::County, Role::Reviewer, Role::Caseworker],
        &code,
        "replay",
    )?;
    let person = normalized(body.person)?;
    let pins = body.pins;
    let unavailable = |field: &str, message: String| {
        ApiError::new(
            StatusCode::CONFLICT,
            "pin_unavailable",
            &message,
            Some(field),
        )
    };
    let catalogues = app.catalogues();
    let catalogue = catalogues.by_digest(&pins.baseline).ok_or_else(|| {
        unavailable(
            "pins.baseline",
            format!(
                "no baseline edition with digest {} is loaded",
                crate::text::cap(&pins.baseline, 80)
            ),
        )
    })?;
    let (_, parent) = app
        .register()
        .county(&code)
        .map_err(|e| field_error("code", &e.to_string()))?;
    if catalogue.jurisdiction.code != parent.code {
        return Err(field_error(
            "pins.baseline",
            &format!(
                "{} is not the list of {}, the parent of {code}",
                catalogue.label(),
                parent.label()
            ),
        ));
    }
    let mut version = None;
    let answer = match (&pins.table, &pins.plugin) {
        (Some(table_digest), plugin) => {
            let table = app
                .table(table_digest)
                .await
                .map_err(|e| ApiError::internal(&e))?
                .ok_or_else(|| {
                    unavailable(
                        "pins.table",
                        format!(
                            "no answer table {} is stored",
                            crate::text::cap(table_digest, 80)
                        ),
                    )
                })?;
            if plugin
                .as_deref()
                .is_some_and(|p| p != table.plugin_digest())
            {
                return Err(field_error(
                    "pins.plugin",
                    "the answer table pinned is not the table of the plugin pinned",
                ));
            }
            if table.description().county_code != code {
                return Err(field_error(
                    "pins.table",
                    "the answer table pinned is another county's",
                ));
            }
            let served = Served::new(table, catalogue)
                .map_err(|e| field_error("pins.table", &e.to_string()))?;
            let versions = app
                .store
                .versions(&code)
                .await
                .map_err(|e| ApiError::internal(&e))?;
            version = versions
                .iter()
                .find(|v| v.digest == served.table().plugin_digest())
                .map(|v| v.version);
            crate::evaluate::evaluate(catalogue, County::Table(&served), &person, body.as_of)
        }
        (None, Some(plugin)) => {
            // The original answer was the baseline because the plugin could
            // not answer: so is the replay.
            let plugin = PluginRef {
                digest: plugin.clone(),
                county_code: code.clone(),
                county_name: String::new(),
                table: None,
            };
            let fault = Fault {
                kind: "replayed-fault".into(),
                message: "the original answer had no answer table: the baseline answered, and answers again".into(),
            };
            crate::evaluate::evaluate(
                catalogue,
                County::Unavailable(&plugin, &fault),
                &person,
                body.as_of,
            )
        }
        (None, None) => crate::evaluate::evaluate(catalogue, County::None, &person, body.as_of),
    };
    let answer = Answer {
        evaluation: answer,
        version,
        incident: None,
    };
    Ok(Json(response(&code, answer)))
}

// ----- audit -----

/// Which audit records.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// One county's records only.
    pub county: Option<String>,
}

/// The audit log, oldest first (admin; reviewers for a county in scope).
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<Object>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn audit_records(
    State(app): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<crate::store::AuditRecord>>, ApiError> {
    let query = audit_query(raw.as_deref())?;
    match &query.county {
        Some(county) => caller.require(
            &app,
            &[Role::Admin, Role::Reviewer],
            county,
            "read the audit log",
        )?,
        None => {
            if caller.0.role != Role::Admin || caller.0.scope != "000000" {
                return Err(forbidden(
                    "the whole audit log is for a national admin token; give ?county=".into(),
                ));
            }
        }
    }
    let records = app
        .store
        .audit_records(query.county.as_deref())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(records))
}

/// Parses `?county=CODE` (the only parameter), naming what is wrong.
fn audit_query(raw: Option<&str>) -> Result<AuditQuery, ApiError> {
    let mut query = AuditQuery { county: None };
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("county", code))
                if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) =>
            {
                query.county = Some(code.to_string());
            }
            Some(("county", _)) => {
                return Err(field_error("county", "a county code is six digits"));
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_field",
                    "the only query parameter is county",
                    Some(pair.split('=').next().unwrap_or(pair)),
                ));
            }
        }
    }
    Ok(query)
}

/// The result of walking the audit chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditVerified {
    /// Whether the chain is whole.
    pub ok: bool,
    /// Records checked.
    pub records: i64,
    /// Where it breaks.
    pub error: Option<String>,
}

/// Walks the whole audit chain (admin).
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = AuditVerified), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn audit_verify(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<AuditVerified>, ApiError> {
    if caller.0.role != Role::Admin {
        return Err(forbidden(
            "only an admin token verifies the audit log".into(),
        ));
    }
    let outcome = app
        .store
        .audit_verify()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(match outcome {
        Ok(n) => AuditVerified {
            ok: true,
            records: n,
            error: None,
        },
        Err(b) => AuditVerified {
            ok: false,
            records: 0,
            error: Some(b.to_string()),
        },
    }))
}

//! Population runs over HTTP: the impact of a county's list over a
//! population file (streamed: counted as it arrives, so a file of any size
//! needs a few megabytes of memory), the name list (服务找人), and impact
//! *runs* whose progress can be followed while they upload and count.
//!
//! # Runs
//!
//! A long upload is best followed: `POST /v1/counties/{code}/impact-runs`
//! creates a run (201, with its id and where to send the file), `PUT
//! /v1/impact-runs/{id}/population` sends the file (streamed; the answer is
//! the finished run, with its impact report), and meanwhile `GET
//! /v1/impact-runs/{id}` says how far it has come: bytes received (of the
//! declared length), rows counted, malformed rows, rows per second, and at
//! the end the report or the error. Whoever may run populations for the
//! county may see and feed its runs; ids are 128-bit random.
//!
//! Runs live in the memory of the process that created them (at most
//! [`MAX_RUNS`], each kept [`RUN_KEPT`] after it ended or since it was
//! created): behind a load balancer, pin a run's requests to one replica,
//! or use the one-shot `POST /v1/counties/{code}/impact`. The report of a
//! run is the same the one-shot route gives for the same file (tested).

use super::{AppState, Caller, county_of, errors};
use crate::population::{Counter, Impact};
use crate::server::App;
use crate::store::Role;
use axum::Json;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use errors::{ApiError, ErrorBody, ErrorDetail, field_error};
use jiff::civil::Date;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Largest population file accepted for a name list over HTTP (about 4
/// million rows; the name list needs every row's identifiers in memory; the
/// command line reads files of any size).
pub const MAX_POPULATION_BYTES: usize = 256 * 1024 * 1024;

/// Largest population file accepted for an impact over HTTP: 16 GiB, about
/// 190 million rows of the usual width. The impact is counted as the file
/// arrives, so this bounds the time a run holds one of the
/// [`crate::server::POPULATION_RUNS`] slots, not memory.
pub const MAX_IMPACT_BYTES: u64 = 16 << 30;

/// Body chunks in flight between the upload and the counting thread.
const CHUNKS_IN_FLIGHT: usize = 16;

/// Runs a process keeps at once.
pub const MAX_RUNS: usize = 64;

/// How long a run is kept after it ended (or, never fed, after it was
/// created).
pub const RUN_KEPT: Duration = Duration::from_secs(3600);

/// The roles that may run populations (with a scope covering the county).
const POPULATION_ROLES: &[Role] = &[Role::Admin, Role::County, Role::Reviewer, Role::Caseworker];

/// The content types of a population file.
const POPULATION_TYPES: &[&str] = &["text/csv", "application/x-ndjson", "application/jsonl"];

/// Options of a population run.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PopulationQuery {
    /// The date (YYYY-MM-DD); default today (UTC+8).
    pub as_of: Option<String>,
    /// Only this item in a name list (repeatable).
    pub item: Vec<String>,
}

fn population_query(raw: Option<&str>) -> Result<(Date, Vec<String>), ApiError> {
    let mut as_of = None;
    let mut items = Vec::new();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("as_of", d)) => {
                as_of =
                    Some(d.parse::<Date>().map_err(|e| {
                        field_error("as_of", &format!("not a date (YYYY-MM-DD): {e}"))
                    })?);
            }
            Some(("item", key))
                if !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
            {
                items.push(key.to_string());
            }
            Some(("item", _)) => {
                return Err(field_error(
                    "item",
                    "an item key (lower-case letters, digits and -)",
                ));
            }
            _ => {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unknown_field",
                    "the query parameters are as_of and item",
                    Some(pair.split('=').next().unwrap_or(pair)),
                ));
            }
        }
    }
    Ok((as_of.unwrap_or_else(crate::server::today), items))
}

/// Reads a population upload (CSV or NDJSON) after the checks.
async fn population_body(
    app: &App,
    code: &str,
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
    request: Request,
    query_ok: bool,
) -> Result<axum::body::Bytes, ApiError> {
    if !query_ok {
        // The query's error is the answer (after authentication's); read
        // the body away first.
        errors::drain(request.into_body()).await;
        return caller.map(|_| axum::body::Bytes::new());
    }
    let checked = admit(app, code, caller, headers);
    if let Err(e) = checked {
        errors::drain(request.into_body()).await;
        return Err(e);
    }
    errors::read_body(request, MAX_POPULATION_BYTES).await
}

/// The name list (服务找人): every entitlement of every person of a
/// population file, as CSV with the file's identifier columns; `?item=`
/// keeps only some items.
#[utoipa::path(post, path = "/v1/counties/{code}/persons", tag = "population",
    params(("code" = String, Path, description = "county code"), PopulationQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "CSV: identifiers, item, name, tag, benefit, monthly_fen, reason", content_type = "text/csv"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn name_list(
    State(app): State<AppState>,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let query = population_query(raw.as_deref());
    // At most POPULATION_RUNS bodies are held in memory; others wait
    // before reading theirs.
    let _permit = app
        .populations
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let bytes = population_body(&app, &code, caller, &headers, request, query.is_ok()).await?;
    let (as_of, items) = query?;
    let app2 = Arc::clone(&app);
    let csv = tokio::task::spawn_blocking(move || {
        app2.with_population(&code, as_of, |ctx| {
            let mut out = Vec::new();
            crate::population::write_name_list(ctx, &bytes, &items, &mut out)
                .map_err(|e| field_error("body", &e.to_string()))?;
            Ok(out)
        })
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], csv).into_response())
}

/// The checks before a population body is read: the caller, the county,
/// the role and scope, the content type.
fn admit(
    app: &App,
    code: &str,
    caller: Result<Caller, ApiError>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let caller = caller?;
    county_of(app, code)?;
    caller.require(app, POPULATION_ROLES, code, "run populations")?;
    errors::require_content_types(headers, POPULATION_TYPES)
}

/// The length a request declares, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        &format!("a population file is at most {MAX_IMPACT_BYTES} bytes"),
        Some("body"),
    )
}

/// Counts a population body as it arrives, on a thread of its own fed
/// through a bounded channel (so a slow counter slows the upload instead
/// of filling memory), and returns the impact. `run`, when given, is kept
/// informed.
async fn stream_impact(
    app: &AppState,
    code: &str,
    as_of: Date,
    body: axum::body::Body,
    run: Option<&Arc<Run>>,
) -> Result<Impact, ApiError> {
    use http_body_util::BodyExt;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(CHUNKS_IN_FLIGHT);
    let counting = {
        let app = Arc::clone(app);
        let code = code.to_string();
        let run = run.cloned();
        tokio::task::spawn_blocking(move || {
            app.with_population(&code, as_of, |ctx| {
                let mut counter = Counter::new(ctx, app.proof_threads);
                while let Some(chunk) = rx.blocking_recv() {
                    counter
                        .feed(&chunk)
                        .map_err(|e| field_error("body", &e.to_string()))?;
                    if let Some(run) = &run {
                        run.update(|s| s.counted(counter.progress()));
                    }
                }
                let (counts, _) = counter
                    .finish()
                    .map_err(|e| field_error("body", &e.to_string()))?;
                if let Some(run) = &run {
                    run.update(|s| {
                        s.rows = counts.rows;
                        s.malformed = counts.error_count;
                    });
                }
                Ok(crate::population::impact(ctx, &counts))
            })
        })
    };
    let mut body = body;
    let mut received = 0u64;
    let mut failed = None;
    while let Some(frame) = body.frame().await {
        let data = match frame {
            Ok(frame) => match frame.into_data() {
                Ok(data) => data,
                Err(_) => continue,
            },
            Err(e) => {
                failed = Some(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_body",
                    &format!("reading the body: {e}"),
                    Some("body"),
                ));
                break;
            }
        };
        received += data.len() as u64;
        if received > MAX_IMPACT_BYTES {
            failed = Some(too_large());
            errors::drain(body).await;
            break;
        }
        if let Some(run) = run {
            run.update(|s| s.bytes_received = received);
        }
        if tx.send(data).await.is_err() {
            // The counting stopped (a file it cannot read, no baseline):
            // its error is the answer; read the rest away.
            errors::drain(body).await;
            break;
        }
    }
    drop(tx);
    let counted = counting.await.map_err(|e| ApiError::internal(&e))?;
    match failed {
        Some(e) => Err(e),
        None => counted,
    }
}

/// Runs the county's list in force over a population file (CSV or NDJSON):
/// beneficiaries and monthly cost per item under the baseline and the
/// county list. Served from the answer table; identifiers are ignored. The
/// file is counted as it arrives (streamed), up to [`MAX_IMPACT_BYTES`].
#[utoipa::path(post, path = "/v1/counties/{code}/impact", tag = "population",
    params(("code" = String, Path, description = "county code"), PopulationQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "the impact report (qingdan.impact/1)", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn impact(
    State(app): State<AppState>,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<Impact>, ApiError> {
    let checked = caller
        .and_then(|c| population_query(raw.as_deref()).map(|q| (c, q.0)))
        .and_then(|(c, as_of)| admit(&app, &code, Ok(c), &headers).map(|_| as_of))
        .and_then(|as_of| match declared_length(&headers) {
            Some(n) if n > MAX_IMPACT_BYTES => Err(too_large()),
            _ => Ok(as_of),
        });
    let as_of = match checked {
        Ok(as_of) => as_of,
        Err(e) => {
            errors::drain(request.into_body()).await;
            return Err(e);
        }
    };
    let _permit = app
        .populations
        .acquire()
        .await
        .map_err(|e| ApiError::internal(&e))?;
    stream_impact(&app, &code, as_of, request.into_body(), None)
        .await
        .map(Json)
}

// ----- runs -----

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Created; its population not sent yet.
    Waiting,
    /// The population is arriving and being counted.
    Counting,
    /// Finished: the report is there.
    Done,
    /// Ended with an error.
    Failed,
}

/// What a run has done so far.
#[derive(Debug)]
struct RunState {
    phase: Phase,
    bytes_received: u64,
    bytes_expected: Option<u64>,
    rows: u64,
    malformed: u64,
    started: Option<Instant>,
    ended: Option<Instant>,
    impact: Option<Impact>,
    error: Option<ErrorDetail>,
}

impl RunState {
    fn new() -> RunState {
        RunState {
            phase: Phase::Waiting,
            bytes_received: 0,
            bytes_expected: None,
            rows: 0,
            malformed: 0,
            started: None,
            ended: None,
            impact: None,
            error: None,
        }
    }

    fn counted(&mut self, p: crate::population::Progress) {
        self.rows = p.rows;
        self.malformed = p.malformed;
    }
}

/// One impact run.
#[derive(Debug)]
pub struct Run {
    id: String,
    county: String,
    as_of: Date,
    created: Instant,
    created_at: String,
    state: Mutex<RunState>,
}

impl Run {
    fn update(&self, f: impl FnOnce(&mut RunState)) {
        if let Ok(mut state) = self.state.lock() {
            f(&mut state);
        }
    }

    /// Whether the run may be forgotten at `now`.
    fn expired(&self, now: Instant) -> bool {
        let Ok(state) = self.state.lock() else {
            return true;
        };
        match (state.phase, state.ended) {
            (Phase::Counting, _) => false,
            (_, Some(ended)) => now.duration_since(ended) > RUN_KEPT,
            (_, None) => now.duration_since(self.created) > RUN_KEPT,
        }
    }

    fn view(&self) -> RunView {
        match self.state.lock() {
            Ok(state) => self.view_of(&state),
            Err(_) => self.view_of(&RunState {
                phase: Phase::Failed,
                error: Some(ErrorDetail {
                    code: "internal".into(),
                    message: "the run's state was lost".into(),
                    field: None,
                }),
                ..RunState::new()
            }),
        }
    }

    fn view_of(&self, s: &RunState) -> RunView {
        let elapsed = s
            .started
            .map(|t| s.ended.unwrap_or_else(Instant::now).duration_since(t))
            .unwrap_or_default();
        RunView {
            id: self.id.clone(),
            county: self.county.clone(),
            as_of: self.as_of.to_string(),
            created_at: self.created_at.clone(),
            state: s.phase,
            bytes_received: s.bytes_received,
            bytes_expected: s.bytes_expected,
            percent: s
                .bytes_expected
                .filter(|n| *n > 0)
                .map(|n| (s.bytes_received as f64 * 1000.0 / n as f64).round() / 10.0),
            rows: s.rows,
            malformed: s.malformed,
            elapsed_ms: elapsed.as_millis() as u64,
            rows_per_second: if elapsed.is_zero() {
                0
            } else {
                (s.rows as f64 / elapsed.as_secs_f64()) as u64
            },
            impact: s.impact.clone(),
            error: s.error.clone(),
            links: RunLinks {
                run: format!("/v1/impact-runs/{}", self.id),
                population: (s.phase == Phase::Waiting)
                    .then(|| format!("/v1/impact-runs/{}/population", self.id)),
            },
        }
    }
}

/// Where a run's routes are.
#[derive(Debug, Serialize)]
pub struct RunLinks {
    /// The run itself (GET: its progress).
    pub run: String,
    /// Where its population file goes (PUT), while it waits for one.
    pub population: Option<String>,
}

/// A run as the API shows it.
#[derive(Debug, Serialize)]
pub struct RunView {
    /// The run's id.
    pub id: String,
    /// The county.
    pub county: String,
    /// The evaluation date.
    pub as_of: String,
    /// When it was created (UTC).
    pub created_at: String,
    /// Where it is.
    pub state: Phase,
    /// Bytes of the population file received so far.
    pub bytes_received: u64,
    /// The file's declared length (`Content-Length`), when it has one.
    pub bytes_expected: Option<u64>,
    /// Bytes received of those declared, in percent (one decimal).
    pub percent: Option<f64>,
    /// Rows counted so far (counted a piece of a few megabytes at a time).
    pub rows: u64,
    /// Malformed rows among them.
    pub malformed: u64,
    /// Time since the file began to arrive (to the end, once ended).
    pub elapsed_ms: u64,
    /// Rows counted per second of that time.
    pub rows_per_second: u64,
    /// The report, once done (the one-shot route's body).
    pub impact: Option<Impact>,
    /// Why it failed, once failed.
    pub error: Option<ErrorDetail>,
    /// Its routes.
    pub links: RunLinks,
}

/// The runs of this process.
#[derive(Debug, Default)]
pub struct Runs {
    runs: Mutex<Vec<Arc<Run>>>,
}

impl Runs {
    /// Creates a run, forgetting expired ones; `None` when [`MAX_RUNS`]
    /// are kept and none can go.
    fn create(&self, county: &str, as_of: Date) -> Result<Arc<Run>, ApiError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(&e))?;
        let run = Arc::new(Run {
            id: hex::encode(bytes),
            county: county.to_string(),
            as_of,
            created: Instant::now(),
            created_at: jiff::Timestamp::now().to_string(),
            state: Mutex::new(RunState::new()),
        });
        let mut runs = self.runs.lock().map_err(|e| ApiError::internal(&e))?;
        let now = Instant::now();
        runs.retain(|r| !r.expired(now));
        if runs.len() >= MAX_RUNS {
            // The oldest that is not counting goes.
            let oldest = runs.iter().position(|r| {
                r.state
                    .lock()
                    .map(|s| s.phase != Phase::Counting)
                    .unwrap_or(true)
            });
            match oldest {
                Some(i) => {
                    runs.remove(i);
                }
                None => {
                    return Err(ApiError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "busy",
                        &format!("{MAX_RUNS} runs are counting; try again later"),
                        None,
                    ));
                }
            }
        }
        runs.push(Arc::clone(&run));
        Ok(run)
    }

    fn get(&self, id: &str) -> Option<Arc<Run>> {
        let runs = self.runs.lock().ok()?;
        runs.iter().find(|r| r.id == id).cloned()
    }
}

/// The run `id`, if the caller may see it.
fn run_for(app: &App, id: &str, caller: Result<Caller, ApiError>) -> Result<Arc<Run>, ApiError> {
    let caller = caller?;
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_run",
            &format!(
                "no impact run {} in this process (runs are kept {} min after they end, in the process that created them)",
                crate::text::cap(id, 64),
                RUN_KEPT.as_secs() / 60
            ),
            Some("id"),
        )
    };
    let run = app.runs.get(id).ok_or_else(unknown)?;
    // A caller who may not run populations for the county does not learn
    // the run exists.
    caller
        .require(app, POPULATION_ROLES, &run.county, "run populations")
        .map_err(|_| unknown())?;
    Ok(run)
}

/// Creates an impact run for the county's list in force on `as_of`; its
/// population file goes to the run's `population` link.
#[utoipa::path(post, path = "/v1/counties/{code}/impact-runs", tag = "population",
    params(("code" = String, Path, description = "county code"), PopulationQuery),
    responses((status = 201, description = "the run, waiting for its population (links.population)", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn create_run(
    State(app): State<AppState>,
    Path(code): Path<String>,
    RawQuery(raw): RawQuery,
    caller: Result<Caller, ApiError>,
    request: Request,
) -> Result<Response, ApiError> {
    // The options are in the query; a body, if any, is read away so that
    // the connection stays usable.
    errors::drain(request.into_body()).await;
    let caller = caller?;
    let (as_of, _) = population_query(raw.as_deref())?;
    county_of(&app, &code)?;
    caller.require(&app, POPULATION_ROLES, &code, "run populations")?;
    // The list in force must exist on that date before a file is sent.
    app.with_population(&code, as_of, |_| Ok(()))?;
    let run = app.runs.create(&code, as_of)?;
    let view = run.view();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, view.links.run.clone())],
        Json(view),
    )
        .into_response())
}

/// How far an impact run has come; its report once done.
#[utoipa::path(get, path = "/v1/impact-runs/{id}", tag = "population",
    params(("id" = String, Path, description = "the run's id")),
    responses((status = 200, description = "the run", body = Object), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(super) async fn get_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
) -> Result<Json<RunView>, ApiError> {
    Ok(Json(run_for(&app, &id, caller)?.view()))
}

/// Sends a run its population file (CSV or NDJSON; streamed, up to
/// [`MAX_IMPACT_BYTES`]); answers with the finished run.
#[utoipa::path(put, path = "/v1/impact-runs/{id}/population", tag = "population",
    params(("id" = String, Path, description = "the run's id")),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, description = "the finished run, with its report", body = Object), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)))]
pub(super) async fn upload_run(
    State(app): State<AppState>,
    Path(id): Path<String>,
    caller: Result<Caller, ApiError>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<RunView>, ApiError> {
    let declared = declared_length(&headers);
    let admitted = run_for(&app, &id, caller).and_then(|run| {
        errors::require_content_types(&headers, POPULATION_TYPES)?;
        if declared.is_some_and(|n| n > MAX_IMPACT_BYTES) {
            return Err(too_large());
        }
        // One population per run: the first request to claim it wins.
        let mut state = run.state.lock().map_err(|e| ApiError::internal(&e))?;
        if state.phase != Phase::Waiting {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "wrong_state",
                "this run has its population already; create another run",
                Some("id"),
            ));
        }
        state.phase = Phase::Counting;
        state.bytes_expected = declared;
        drop(state);
        Ok(run)
    });
    let run = match admitted {
        Ok(run) => run,
        Err(e) => {
            errors::drain(request.into_body()).await;
            return Err(e);
        }
    };
    let permit = app.populations.acquire().await;
    run.update(|s| s.started = Some(Instant::now()));
    let result = match permit {
        Ok(_permit) => {
            stream_impact(
                &app,
                &run.county,
                run.as_of,
                request.into_body(),
                Some(&run),
            )
            .await
        }
        Err(e) => Err(ApiError::internal(&e)),
    };
    let failure = result.as_ref().err().cloned();
    run.update(|s| {
        s.ended = Some(Instant::now());
        match result {
            Ok(impact) => {
                s.phase = Phase::Done;
                s.impact = Some(impact);
            }
            Err(e) => {
                s.phase = Phase::Failed;
                s.error = Some(e.detail().clone());
            }
        }
    });
    match failure {
        Some(e) => Err(e),
        None => Ok(Json(run.view())),
    }
}

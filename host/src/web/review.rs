//! The counties overview and the review (备案) record of one version: what
//! it changes against the baseline, item by item; its extra items with
//! their legal basis; the proof and its counterexamples in words; the
//! population impact on a sample; the audit trail; approve / reject.

use super::auth::{Viewer, require};
use super::{AppState, Chrome, PageError, render, see_other, words};
use crate::catalogue::Catalogue;
use crate::evaluate::{County, Served, Status};
use crate::model::{Benefit, DOMAIN_SIZE, Person, yuan};
use crate::store::{Role, Shown, Stored, Version};
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Instant;

/// Every `SAMPLE_STRIDE`-th person of the domain (in domain order, from
/// person 0) makes the impact sample: 2,030 persons, spread evenly over
/// every field because the stride (577, a prime) shares no factor with the
/// field sizes. Each combination of fields weighs the same, so the figures
/// compare the county with the baseline; they are not a forecast for a real
/// population (a population run gives that).
pub const SAMPLE_STRIDE: usize = 577;

/// A status in Chinese, with a CSS class.
pub fn shown_words(s: Shown) -> (&'static str, &'static str) {
    match s {
        Shown::Validating => ("校验与证明中", "busy"),
        Shown::PendingReview => ("待审核", "pending"),
        Shown::Rejected => ("已驳回", "bad"),
        Shown::Approved => ("已批准（待生效）", "pending"),
        Shown::Active => ("已生效", "good"),
        Shown::Superseded => ("已被取代", "muted"),
        Shown::Suspended => ("已暂停", "bad"),
        Shown::RolledBack => ("已回退", "muted"),
    }
}

/// One row of the overview.
#[derive(Debug)]
pub struct CountyRow {
    code: String,
    name: String,
    active: Option<i64>,
    status: &'static str,
    class: &'static str,
    latest: Option<i64>,
    latest_status: &'static str,
    last_proof: String,
    evaluations: u64,
    clamps: u64,
    fallbacks: u64,
}

#[derive(Template)]
#[template(path = "counties.html")]
struct Overview {
    page: Chrome,
    city: String,
    rows: Vec<CountyRow>,
}

/// `GET /counties`: every county in the viewer's scope, with its version
/// in force, status, last proof and counters.
pub async fn overview(State(app): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let token = viewer.signed_in()?;
    if !matches!(token.role, Role::Reviewer | Role::Admin) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "县（市、区）总览供审核人与管理员使用。",
        ));
    }
    let register = app.register();
    let catalogues = app.catalogues();
    let today = crate::server::today();
    let today_text = today.to_string();
    let snapshot = app.snapshot();
    let mut rows = Vec::new();
    for entry in register.entries() {
        if !entry.kind.files_plugins() || !token.covers(register, &entry.code) {
            continue;
        }
        let versions = app.store.versions(&entry.code).await?;
        let activations = app.store.activations(&entry.code).await?;
        let active = crate::store::in_force(&activations, &today_text).map(|a| a.version);
        let latest = versions.iter().max_by_key(|v| v.version);
        let baseline = register
            .baseline_for(&catalogues.library, &entry.code, today)
            .ok();
        let (status, class) = match (active, latest) {
            (Some(a), _) => {
                let servable = snapshot
                    .counties
                    .get(&entry.code)
                    .and_then(|s| s.versions.get(&a));
                match (servable, baseline) {
                    (Some(s), _) if s.stored == Stored::Suspended => ("已暂停", "bad"),
                    (Some(s), Some(b)) if !s.served.contains_key(&b.digest) => {
                        ("未对新基线证明（按基线执行）", "bad")
                    }
                    _ => ("已生效", "good"),
                }
            }
            (None, Some(v)) => {
                let (words, class) = shown_words(crate::store::shown(v, &activations, &today_text));
                (words, class)
            }
            (None, None) => ("未上传（按基线执行）", "muted"),
        };
        let latest_status = latest
            .map(|v| shown_words(crate::store::shown(v, &activations, &today_text)).0)
            .unwrap_or("—");
        let last_proof = versions
            .iter()
            .filter_map(|v| v.proved_at.as_ref().map(|at| (v, at)))
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(v, at)| {
                let verdict = if v.stored == Stored::Rejected && v.reviewer.is_none() {
                    "未通过"
                } else {
                    "通过"
                };
                format!("第 {} 版 {verdict}，{}", v.version, short_time(at))
            })
            .unwrap_or_else(|| "—".into());
        let totals = app.metrics.county_totals(&entry.code);
        rows.push(CountyRow {
            code: entry.code.clone(),
            name: entry.name.clone(),
            active,
            status,
            class,
            latest: latest.map(|v| v.version),
            latest_status,
            last_proof,
            evaluations: totals.evaluations,
            clamps: totals.clamps,
            fallbacks: totals.fallbacks,
        });
    }
    let city = register
        .get(&token.scope)
        .map(|e| e.label())
        .unwrap_or_else(|| token.scope.clone());
    render(&Overview {
        page: viewer.chrome("县（市、区）总览", "counties"),
        city,
        rows,
    })
}

/// `2026-12-02T13:20:01.123Z` → `2026-12-02 13:20 UTC`.
fn short_time(at: &str) -> String {
    match (at.get(..10), at.get(11..16)) {
        (Some(d), Some(t)) => format!("{d} {t} UTC"),
        _ => at.to_string(),
    }
}

/// One change against the baseline, for the table.
#[derive(Debug)]
pub struct ChangeRow {
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) baseline: String,
    pub(crate) county: String,
    pub(crate) delta: String,
    pub(crate) persons: u64,
    pub(crate) legal_basis: String,
}

/// One item below the baseline, with counterexamples in words.
#[derive(Debug)]
pub struct FailureRow {
    name: String,
    persons: u64,
    examples: Vec<String>,
}

/// One item's impact on the sample.
#[derive(Debug)]
pub struct ImpactRow {
    name: String,
    baseline_persons: u64,
    county_persons: u64,
    baseline_fen: u64,
    county_fen: u64,
    extra: bool,
}

impl ImpactRow {
    fn baseline_cost(&self) -> String {
        yuan(self.baseline_fen)
    }
    fn county_cost(&self) -> String {
        yuan(self.county_fen)
    }
    fn more_cost(&self) -> String {
        yuan(self.county_fen.saturating_sub(self.baseline_fen))
    }
}

/// The impact on the sample.
#[derive(Debug)]
pub struct Impact {
    persons: usize,
    rows: Vec<ImpactRow>,
    baseline_total: String,
    county_total: String,
    ms: u128,
}

/// One audit record, for the trail.
#[derive(Debug)]
pub struct AuditRow {
    seq: i64,
    at: String,
    actor: String,
    action: &'static str,
    result: String,
    comment: String,
}

fn action_words(action: &str) -> &'static str {
    match action {
        "upload" => "上传",
        "verdict" => "校验与证明结论",
        "approval" => "批准",
        "activation" => "生效",
        "rejection" => "驳回",
        "suspension" => "暂停",
        "rollback" => "回退",
        "token-create" => "创建令牌",
        "baseline-publication" => "发布基线",
        _ => "其他",
    }
}

/// The proof, in figures.
#[derive(Debug, Default)]
pub struct ProofFacts {
    passed: bool,
    persons: u64,
    domain: u64,
    ms: u64,
    table: String,
    table_bytes: u64,
    outcomes: u64,
    second_table: String,
    deterministic: bool,
    faults: Vec<String>,
    mismatch: Option<String>,
}

#[derive(Template)]
#[template(path = "review.html")]
struct ReviewPage {
    page: Chrome,
    print: bool,
    code: String,
    county: String,
    v: Version,
    status: &'static str,
    class: &'static str,
    progress: Option<String>,
    baseline: String,
    proof: Option<ProofFacts>,
    changes: Vec<ChangeRow>,
    failures: Vec<FailureRow>,
    impact: Option<Impact>,
    audit: Vec<AuditRow>,
    can_decide: bool,
    why_not: String,
    today: String,
    csrf: String,
}

/// Page options.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    /// The printable record.
    #[serde(default)]
    print: Option<String>,
}

/// `GET /counties/{code}/versions/{version}`: the review record.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((code, version)): Path<(String, String)>,
    Query(query): Query<PageQuery>,
) -> Result<Response, PageError> {
    let token = viewer.signed_in()?;
    crate::api::county_of(&app, &code)?;
    require(
        &app,
        token,
        &[Role::County, Role::Admin, Role::Reviewer, Role::Caseworker],
        &code,
        "see this county's versions",
    )?;
    let v = crate::api::load_version(&app, &code, &version).await?;
    let activations = app.store.activations(&code).await?;
    let today = crate::server::today();
    let shown = crate::store::shown(&v, &activations, &today.to_string());
    let (status, class) = shown_words(shown);
    let progress = (shown == Shown::Validating).then(|| {
        app.progress_of(&code, v.version)
            .unwrap_or_else(|| v.progress.clone())
    });
    let catalogues = app.catalogues();
    let catalogue = v
        .baseline_digest
        .as_deref()
        .and_then(|d| catalogues.by_digest(d));
    let table = match &v.table_digest {
        Some(d) => app.table(d).await.map_err(|e| PageError::internal(&e))?,
        None => None,
    };
    let served = match (&table, catalogue) {
        (Some(t), Some(c)) => Served::new(std::sync::Arc::clone(t), c).ok(),
        _ => None,
    };
    let legal_basis = legal_bases(table.as_deref());
    let baseline_name = catalogue
        .map(|c| c.jurisdiction.name.clone())
        .unwrap_or_else(|| "基线".into());
    let report = v.report.as_ref();
    let changes = report
        .map(|r| change_rows(r, &legal_basis))
        .unwrap_or_default();
    let failures = report
        .map(|r| failure_rows(r, &baseline_name))
        .unwrap_or_default();
    let proof = report.map(proof_facts);
    let impact = match (&served, catalogue) {
        (Some(s), Some(c)) => Some(impact(c, s, today)),
        _ => None,
    };
    let audit = app
        .store
        .audit_records(Some(&code))
        .await?
        .into_iter()
        .filter(|r| r.version == Some(v.version))
        .map(|r| {
            let detail: serde_json::Value =
                serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null);
            AuditRow {
                seq: r.seq,
                at: short_time(&r.at),
                actor: r.actor,
                action: action_words(&r.action),
                result: r.result,
                comment: detail
                    .get("comment")
                    .and_then(|c| c.as_str())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect();
    let caller = crate::api::Caller(token.clone());
    let (can_decide, why_not) = if v.stored != Stored::PendingReview {
        (false, String::new())
    } else {
        match crate::api::reviewer_of(&app, &caller, &code, "review plugins")
            .and_then(|()| crate::api::not_uploader(token, &v))
        {
            Ok(()) => (true, String::new()),
            Err(e) => (false, e.message().to_string()),
        }
    };
    let county = app.register().label(&code);
    let print = query.print.is_some();
    let mut chrome = viewer.chrome(format!("{county} 第 {} 版 备案审查", v.version), "counties");
    chrome.refresh = shown == Shown::Validating;
    render(&ReviewPage {
        page: chrome,
        print,
        code,
        county,
        status,
        class,
        progress,
        baseline: v.baseline_label.clone().unwrap_or_else(|| "—".into()),
        proof,
        changes,
        failures,
        impact,
        audit,
        can_decide,
        why_not,
        today: today.to_string(),
        csrf: viewer.csrf.clone(),
        v,
    })
}

/// The legal basis of each extra item a component declares, by key.
pub(crate) fn legal_bases(table: Option<&crate::table::AnswerTable>) -> BTreeMap<String, String> {
    table
        .map(|t| {
            t.description()
                .extra_items
                .iter()
                .map(|e| (e.key.clone(), e.legal_basis.clone()))
                .collect()
        })
        .unwrap_or_default()
}

fn benefit_of(v: &serde_json::Value) -> Option<Benefit> {
    serde_json::from_value(v.clone()).ok()
}

fn benefit_text(b: Option<Benefit>) -> String {
    b.map(|b| b.to_string()).unwrap_or_else(|| "无".into())
}

pub(crate) fn change_rows(
    report: &serde_json::Value,
    legal_basis: &BTreeMap<String, String>,
) -> Vec<ChangeRow> {
    let mut rows = Vec::new();
    let changes = &report["changes"];
    for (field, kind) in [
        ("raised", "提高标准"),
        ("widened", "扩大对象"),
        ("extras", "新增项目"),
    ] {
        for c in changes[field].as_array().into_iter().flatten() {
            let example = &c["example"];
            let baseline = benefit_of(&example[0]);
            let county = benefit_of(&example[1]);
            let monthly = matches!(county, Some(Benefit::MonthlyCash { .. }));
            let delta = match c["delta_fen"]
                .as_array()
                .map(|d| (d[0].as_u64(), d[1].as_u64()))
            {
                Some((Some(lo), Some(hi))) => {
                    let unit = if monthly { " 元/月" } else { " 元" };
                    if lo == hi {
                        format!("+{}{unit}", yuan(lo))
                    } else {
                        format!("+{} 至 +{}{unit}", yuan(lo), yuan(hi))
                    }
                }
                _ => "—".into(),
            };
            let item = c["item"].as_str().unwrap_or_default();
            rows.push(ChangeRow {
                kind,
                name: c["name"].as_str().unwrap_or_default().to_string(),
                group: words::group(&c["group"]),
                baseline: benefit_text(baseline),
                county: benefit_text(county),
                delta,
                persons: c["persons"].as_u64().unwrap_or(0),
                legal_basis: if field == "extras" {
                    legal_basis.get(item).cloned().unwrap_or_default()
                } else {
                    String::new()
                },
            });
        }
    }
    rows
}

fn failure_rows(report: &serde_json::Value, baseline_name: &str) -> Vec<FailureRow> {
    report["failures"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let name = f["name"].as_str().unwrap_or_default().to_string();
            let examples = f["counterexamples"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    let person: Person = serde_json::from_value(c["person"].clone()).ok()?;
                    Some(format!(
                        "{}：{name} {baseline_name} {}，本县 {}",
                        words::person(&person),
                        benefit_text(benefit_of(&c["baseline"])),
                        benefit_text(benefit_of(&c["county"])),
                    ))
                })
                .collect();
            FailureRow {
                persons: f["persons"].as_u64().unwrap_or(0),
                name,
                examples,
            }
        })
        .collect()
}

fn proof_facts(r: &serde_json::Value) -> ProofFacts {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
    let table = &r["table"];
    let determinism = &r["determinism"];
    let faults = r["faults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let person = serde_json::from_value::<Person>(f["person"].clone())
                .map(|p| words::person(&p))
                .unwrap_or_default();
            format!("{person}：{}（{}）", text(&f["message"]), text(&f["kind"]))
        })
        .collect();
    let mismatch = determinism
        .get("mismatch")
        .filter(|m| !m.is_null())
        .map(|m| {
            let person = serde_json::from_value::<Person>(m["person"].clone())
                .map(|p| words::person(&p))
                .unwrap_or_default();
            format!(
                "{person}：第一次 {}，第二次 {}",
                text(&m["first"]),
                text(&m["second"])
            )
        });
    ProofFacts {
        passed: r["passed"].as_bool().unwrap_or(false),
        persons: r["persons"].as_u64().unwrap_or(0),
        domain: r["domain"].as_u64().unwrap_or(DOMAIN_SIZE as u64),
        ms: r["timing"]["total_ms"].as_u64().unwrap_or(0),
        table: text(&table["digest"]),
        table_bytes: table["bytes"].as_u64().unwrap_or(0),
        outcomes: table["outcomes"].as_u64().unwrap_or(0),
        second_table: text(&determinism["second_table"]),
        deterministic: determinism["differing"].as_u64() == Some(0)
            && !determinism["second_table"].is_null(),
        faults,
        mismatch,
    }
}

/// The impact of a version on the sample: beneficiaries and monthly cash
/// per item, under the baseline alone and with the version's answer table
/// (under the guard, as served).
pub fn impact(catalogue: &Catalogue, served: &Served, date: Date) -> Impact {
    let started = Instant::now();
    // key, name, extra → [baseline persons, county persons, baseline fen, county fen]
    type Tally = Vec<(String, String, bool, [u64; 4])>;
    fn slot(by_item: &mut Tally, key: &str, name: &str, extra: bool) -> usize {
        match by_item.iter().position(|(k, ..)| k == key) {
            Some(i) => i,
            None => {
                by_item.push((key.to_string(), name.to_string(), extra, [0; 4]));
                by_item.len() - 1
            }
        }
    }
    let mut by_item: Tally = Vec::new();
    for item in &catalogue.items {
        slot(&mut by_item, &item.key, &item.name, false);
    }
    let mut persons = 0;
    for index in (0..DOMAIN_SIZE).step_by(SAMPLE_STRIDE) {
        let Some(person) = Person::from_index(index) else {
            continue;
        };
        persons += 1;
        let alone = crate::evaluate::evaluate(catalogue, County::None, &person, date);
        for line in &alone.lines {
            let i = slot(&mut by_item, &line.item, &line.name, false);
            by_item[i].3[0] += 1;
            by_item[i].3[2] += monthly_fen(&line.benefit);
        }
        let with = crate::evaluate::evaluate(catalogue, County::Table(served), &person, date);
        for line in &with.lines {
            let extra =
                line.status == Status::CountyExtra && catalogue.item_index(&line.item).is_none();
            let i = slot(&mut by_item, &line.item, &line.name, extra);
            by_item[i].3[1] += 1;
            by_item[i].3[3] += monthly_fen(&line.benefit);
        }
    }
    let baseline_total: u64 = by_item.iter().map(|(.., n)| n[2]).sum();
    let county_total: u64 = by_item.iter().map(|(.., n)| n[3]).sum();
    let rows = by_item
        .into_iter()
        .filter(|(.., n)| n[0] > 0 || n[1] > 0)
        .map(|(_, name, extra, n)| ImpactRow {
            name,
            extra,
            baseline_persons: n[0],
            county_persons: n[1],
            baseline_fen: n[2],
            county_fen: n[3],
        })
        .collect();
    Impact {
        persons,
        rows,
        baseline_total: yuan(baseline_total),
        county_total: yuan(county_total),
        ms: started.elapsed().as_millis(),
    }
}

fn monthly_fen(b: &Benefit) -> u64 {
    match b {
        Benefit::MonthlyCash { fen } => *fen,
        _ => 0,
    }
}

/// The decision form.
#[derive(Debug, Deserialize)]
pub struct Decision {
    csrf: String,
    /// `approve` or `reject`.
    decision: String,
    comment: String,
    #[serde(default)]
    effective_from: Option<String>,
}

/// `POST /counties/{code}/versions/{version}/decide`: approve or reject,
/// by the API's own rules (a reviewer of the county's city, never the
/// uploader, a comment for the record).
pub async fn decide(
    State(app): State<AppState>,
    viewer: Viewer,
    Path((code, version)): Path<(String, String)>,
    Form(form): Form<Decision>,
) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let token = viewer.signed_in()?;
    let caller = crate::api::Caller(token.clone());
    match form.decision.as_str() {
        "approve" => {
            let date = form
                .effective_from
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(|d| {
                    d.parse::<Date>().map_err(|_| {
                        PageError::new(StatusCode::BAD_REQUEST, "生效日期应为 YYYY-MM-DD。")
                    })
                })
                .transpose()?
                .unwrap_or_else(crate::server::today);
            crate::api::approve_version(&app, &caller, &code, &version, &form.comment, date)
                .await?;
        }
        "reject" => {
            crate::api::reject_version(&app, &caller, &code, &version, &form.comment).await?;
        }
        _ => {
            return Err(PageError::new(
                StatusCode::BAD_REQUEST,
                "请选择“批准”或“驳回”。",
            ));
        }
    }
    Ok(see_other(&format!("/counties/{code}/versions/{version}")))
}

//! The entitlement finder (服务找人): a county, a date and an elder's
//! attributes; every entitlement with its amount, reason, legal basis and
//! whether it is the city's or the county's — served exactly as the API
//! serves it (the answer table in force, under the guard).

use super::auth::{Viewer, acts_for, require};
use super::{AppState, Chrome, PageError, render, words};
use crate::model::{Ability, Assistance, Disability, Hukou, Living, LivingFlag, Person};
use crate::store::Role;
use crate::text::Shared;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use std::time::Instant;

/// A choice in a `<select>`: value, label, selected.
#[derive(Debug)]
pub struct Choice {
    value: String,
    label: String,
    selected: bool,
}

fn choices<T: Copy + PartialEq>(
    all: &[T],
    key: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
    current: T,
) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: key(*v).to_string(),
            label: label(*v).to_string(),
            selected: *v == current,
        })
        .collect()
}

/// One entitlement line.
#[derive(Debug)]
pub struct Row {
    name: String,
    category: &'static str,
    benefit: String,
    baseline: String,
    tag: &'static str,
    tag_class: &'static str,
    source: String,
    reason: String,
    legal_basis: String,
    content: String,
    standard: String,
}

/// The answer.
#[derive(Debug)]
pub struct Answer {
    county: String,
    as_of: String,
    person: String,
    rows: Vec<Row>,
    incident: Option<String>,
    baseline_edition: String,
    version: Option<i64>,
}

#[derive(Template)]
#[template(path = "finder.html")]
struct FinderPage {
    page: Chrome,
    counties: Vec<Choice>,
    as_of: String,
    age: String,
    hukou: Vec<Choice>,
    ability: Vec<Choice>,
    assistance: Vec<Choice>,
    disability: Vec<Choice>,
    living: Vec<Choice>,
    family_planning_special: bool,
    veteran_entitled: bool,
    error: Option<String>,
    result: Option<Answer>,
}

fn tag_words(s: crate::evaluate::Status) -> (&'static str, &'static str) {
    use crate::evaluate::Status;
    match s {
        Status::Baseline => ("基线", "muted"),
        Status::Raised => ("本县提高", "good"),
        Status::CountyExtra => ("本县新增", "good"),
        Status::Clamped => ("按基线保底", "bad"),
    }
}

/// `GET /finder?county=…&as_of=…&age=…`: the form, and with a county and
/// an age, the answer. A GET form, so an answer can be bookmarked or
/// printed; the person has no name or ID number.
pub async fn page(
    State(app): State<AppState>,
    viewer: Viewer,
    Query(pairs): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let token = viewer.signed_in()?;
    let started = Instant::now();
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let register = app.register();
    let county = get("county").unwrap_or_default().to_string();
    let today = crate::server::today();
    let mut error = None;
    let as_of = match get("as_of").filter(|d| !d.is_empty()) {
        Some(d) => d.parse::<Date>().unwrap_or_else(|_| {
            error = Some("日期应为 YYYY-MM-DD。".to_string());
            today
        }),
        None => today,
    };
    let age_text = get("age").unwrap_or("80").to_string();
    let mut person = Person::aged(80);
    person.hukou = get("hukou")
        .and_then(Hukou::from_key)
        .unwrap_or(Hukou::Local);
    person.ability = get("ability")
        .and_then(Ability::from_key)
        .unwrap_or(Ability::Unassessed);
    person.assistance = get("assistance")
        .and_then(Assistance::from_key)
        .unwrap_or(Assistance::None);
    person.disability = get("disability")
        .and_then(Disability::from_key)
        .unwrap_or(Disability::None);
    let mut living = Living::NONE;
    for (k, v) in &pairs {
        if k == "living"
            && let Some(f) = LivingFlag::from_key(v)
        {
            living = living.with(f);
        }
    }
    person.living = living;
    person.family_planning_special = get("family_planning_special").is_some();
    person.veteran_entitled = get("veteran_entitled").is_some();
    let mut result = None;
    if !county.is_empty() && error.is_none() {
        match age_text.trim().parse::<u8>() {
            Ok(age) if age >= crate::model::MIN_AGE => person.age = age,
            _ => {
                error = Some(format!(
                    "年龄应为 {} 至 {} 的整数（{} 表示 {} 岁及以上）。",
                    crate::model::MIN_AGE,
                    crate::model::MAX_AGE,
                    crate::model::MAX_AGE,
                    crate::model::MAX_AGE
                ))
            }
        }
        if error.is_none() {
            crate::api::county_of(&app, &county)?;
            require(
                &app,
                token,
                &[Role::Admin, Role::County, Role::Reviewer, Role::Caseworker],
                &county,
                "evaluate",
            )?;
            let person = crate::api::normalized(person)?;
            let answer = app
                .evaluate(&county, &person, as_of)
                .map_err(|e| PageError::new(StatusCode::CONFLICT, e.to_string()))?;
            crate::api::count(&app, &county, &answer, started);
            let r = crate::api::response(&county, answer);
            result = Some(Answer {
                county: register.label(&county),
                as_of: r.as_of.to_string(),
                person: words::person(&r.person),
                incident: r.incident.map(|i| i.message),
                baseline_edition: r.baseline_edition,
                version: r.plugin_version,
                rows: r
                    .lines
                    .into_iter()
                    .map(|l| {
                        let (tag, tag_class) = tag_words(l.tag);
                        Row {
                            name: l.name.to_string(),
                            category: l.category.chinese(),
                            benefit: l.benefit.to_string(),
                            baseline: l.baseline.map(|b| b.to_string()).unwrap_or_default(),
                            tag,
                            tag_class,
                            source: l.source.to_string(),
                            reason: l.reason,
                            legal_basis: l.legal_basis.to_string(),
                            content: Shared::or_empty(l.content.as_ref()),
                            standard: Shared::or_empty(l.standard.as_ref()),
                        }
                    })
                    .collect(),
            });
        }
    }
    let counties = register
        .entries()
        .iter()
        .filter(|e| e.kind.files_plugins() && acts_for(token, register, &e.code))
        .map(|e| Choice {
            value: e.code.clone(),
            label: e.label(),
            selected: e.code == county,
        })
        .collect();
    let living_choices = LivingFlag::ALL
        .iter()
        .map(|f| Choice {
            value: f.key().to_string(),
            label: words::living(*f).to_string(),
            selected: person.living.contains(*f),
        })
        .collect();
    render(&FinderPage {
        page: viewer.chrome("待遇查询（服务找人）", "finder"),
        counties,
        as_of: as_of.to_string(),
        age: age_text,
        hukou: choices(Hukou::ALL, Hukou::key, words::hukou, person.hukou),
        ability: choices(Ability::ALL, Ability::key, words::ability, person.ability),
        assistance: choices(
            Assistance::ALL,
            Assistance::key,
            words::assistance,
            person.assistance,
        ),
        disability: choices(
            Disability::ALL,
            Disability::key,
            words::disability,
            person.disability,
        ),
        living: living_choices,
        family_planning_special: person.family_planning_special,
        veteran_entitled: person.veteran_entitled,
        error,
        result,
    })
}

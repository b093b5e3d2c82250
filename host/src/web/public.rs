//! The public list (清单公开), no sign-in: for every jurisdiction with a
//! list, the list in force — 服务对象, 服务内容, 服务标准 of every item with
//! its legal basis — and its edition history, with what changed between
//! editions; for a county that files a component, the city's list and what
//! the county's version in force adds to it.

use super::auth::Viewer;
use super::{AppState, Chrome, PageError, render, review, words};
use crate::catalogue::{Catalogue, Item};
use crate::model::Benefit;
use crate::text::Shared;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;

/// A jurisdiction on the index.
#[derive(Debug)]
pub struct Place {
    code: String,
    name: String,
    editions: usize,
    counties: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "index.html")]
struct IndexPage {
    page: Chrome,
    places: Vec<Place>,
}

/// `GET /`: every jurisdiction with a list, and the counties under it.
pub async fn index(State(app): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let catalogues = app.catalogues();
    let library = &catalogues.library;
    let register = app.register();
    let mut places: Vec<Place> = Vec::new();
    for c in library.catalogues() {
        let code = &c.jurisdiction.code;
        if let Some(p) = places.iter_mut().find(|p| &p.code == code) {
            p.editions += 1;
            continue;
        }
        let counties = register
            .entries()
            .iter()
            .filter(|e| e.kind.files_plugins() && e.parent.as_deref() == Some(code.as_str()))
            .map(|e| (e.code.clone(), e.name.clone()))
            .collect();
        places.push(Place {
            code: code.clone(),
            name: c.jurisdiction.name.clone(),
            editions: 1,
            counties,
        });
    }
    render(&IndexPage {
        page: viewer.chrome("基本养老服务清单", "public"),
        places,
    })
}

/// One item of a list, as published.
#[derive(Debug)]
pub struct ItemRow {
    name: String,
    category: &'static str,
    target: String,
    benefit: String,
    content: String,
    standard: String,
    funding: String,
    department: String,
    legal_basis: String,
}

/// One edition in the history.
#[derive(Debug)]
pub struct EditionRow {
    edition: String,
    from: String,
    to: String,
    source: String,
    current: bool,
    changes: Vec<String>,
}

#[derive(Template)]
#[template(path = "list.html")]
struct ListPage {
    page: Chrome,
    name: String,
    code: String,
    edition: String,
    from: String,
    source: String,
    parent: Option<(String, String)>,
    county_note: Option<String>,
    county_changes: Vec<review::ChangeRow>,
    items: Vec<ItemRow>,
    editions: Vec<EditionRow>,
}

/// Which edition.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    edition: Option<String>,
}

fn benefit_words(item: &Item) -> String {
    if item.presence_only {
        return "享有（本级清单未定标准）".into();
    }
    item.tiers
        .iter()
        .map(|t| {
            let when = t
                .label
                .clone()
                .unwrap_or_else(|| words::eligibility(&t.when));
            match (&t.when, t.benefit) {
                (crate::catalogue::Predicate::Always, b) => b.to_string(),
                (_, Benefit::Right) => when,
                (_, b) => format!("{when}：{b}"),
            }
        })
        .collect::<Vec<_>>()
        .join("；")
}

fn item_row(item: &Item) -> ItemRow {
    ItemRow {
        name: item.name.to_string(),
        category: item.category.chinese(),
        target: words::eligibility(&item.eligibility),
        benefit: benefit_words(item),
        content: Shared::or_empty(item.content.as_ref()),
        standard: Shared::or_empty(item.standard.as_ref()),
        funding: Shared::or_empty(item.funding.as_ref()),
        department: Shared::or_empty(item.department.as_ref()),
        legal_basis: item.legal_basis.to_string(),
    }
}

/// What changed from edition `old` to `new`, item by item, in words.
pub fn differences(old: &Catalogue, new: &Catalogue) -> Vec<String> {
    let mut out = Vec::new();
    for item in &new.items {
        let Some(before) = old.items.iter().find(|i| i.key == item.key) else {
            out.push(format!(
                "新增项目：{}（{}）",
                item.name,
                benefit_words(item)
            ));
            continue;
        };
        let fields: [(&str, String, String); 8] = [
            ("名称", before.name.to_string(), item.name.to_string()),
            (
                "服务对象",
                words::eligibility(&before.eligibility),
                words::eligibility(&item.eligibility),
            ),
            ("待遇", benefit_words(before), benefit_words(item)),
            (
                "服务内容",
                Shared::or_empty(before.content.as_ref()),
                Shared::or_empty(item.content.as_ref()),
            ),
            (
                "服务标准",
                Shared::or_empty(before.standard.as_ref()),
                Shared::or_empty(item.standard.as_ref()),
            ),
            (
                "支出责任",
                Shared::or_empty(before.funding.as_ref()),
                Shared::or_empty(item.funding.as_ref()),
            ),
            (
                "责任单位",
                Shared::or_empty(before.department.as_ref()),
                Shared::or_empty(item.department.as_ref()),
            ),
            (
                "依据",
                before.legal_basis.to_string(),
                item.legal_basis.to_string(),
            ),
        ];
        for (heading, a, b) in fields {
            if a != b {
                let shown = |s: &str| {
                    if s.is_empty() {
                        "（无）".to_string()
                    } else {
                        s.to_string()
                    }
                };
                out.push(format!(
                    "{}：{heading} 由「{}」改为「{}」",
                    item.name,
                    shown(&a),
                    shown(&b)
                ));
            }
        }
    }
    for item in &old.items {
        if !new.items.iter().any(|i| i.key == item.key) {
            out.push(format!("删除项目：{}", item.name));
        }
    }
    if out.is_empty() {
        out.push("各项目内容未变。".into());
    }
    out
}

/// `GET /lists/{code}[?edition=]`: one jurisdiction's list.
pub async fn list(
    State(app): State<AppState>,
    viewer: Viewer,
    Path(code): Path<String>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    let catalogues = app.catalogues();
    let library = &catalogues.library;
    let register = app.register();
    let today = crate::server::today();
    let mut own: Vec<&Catalogue> = library
        .catalogues()
        .iter()
        .filter(|c| c.jurisdiction.code == code)
        .collect();
    own.sort_by_key(|c| c.effective_from);
    let mut county_note = None;
    let mut county_changes = Vec::new();
    let (shown, name) = if own.is_empty() {
        // A county that files a component: the list that binds it, and
        // what its version in force adds.
        let entry = register
            .get(&code)
            .filter(|e| e.kind.files_plugins())
            .ok_or_else(|| PageError::not_found("没有这个地区的清单。"))?;
        let baseline = register
            .baseline_for(library, &code, today)
            .map_err(|e| PageError::not_found(e.to_string()))?;
        let activations = app.store.activations(&code).await?;
        let in_force = crate::store::in_force(&activations, &today.to_string()).map(|a| a.version);
        match in_force {
            Some(version) => {
                let v = app.store.version(&code, version).await?;
                let suspended = v
                    .as_ref()
                    .is_some_and(|v| v.stored == crate::store::Stored::Suspended);
                if let Some(report) = v
                    .as_ref()
                    .and_then(|v| v.report.as_ref())
                    .filter(|_| !suspended)
                {
                    let table = match v.as_ref().and_then(|v| v.table_digest.as_deref()) {
                        Some(d) => app.table(d).await.map_err(|e| PageError::internal(&e))?,
                        None => None,
                    };
                    let basis = review::legal_bases(table.as_deref());
                    county_changes = review::change_rows(report, &basis);
                    county_note = Some(format!(
                        "{} 执行 {} 清单，并在其基础上实行下列本县标准（第 {version} 版，已备案）。",
                        entry.name, baseline.jurisdiction.name
                    ));
                } else {
                    county_note = Some(format!(
                        "{} 执行 {} 清单（本县扩展暂停中）。",
                        entry.name, baseline.jurisdiction.name
                    ));
                }
            }
            None => {
                county_note = Some(format!(
                    "{} 执行 {} 清单（尚无已备案的本县扩展）。",
                    entry.name, baseline.jurisdiction.name
                ));
            }
        }
        own = library
            .catalogues()
            .iter()
            .filter(|c| c.jurisdiction.code == baseline.jurisdiction.code)
            .collect();
        own.sort_by_key(|c| c.effective_from);
        (baseline, entry.name.clone())
    } else {
        let chosen = query
            .edition
            .as_deref()
            .and_then(|e| own.iter().find(|c| c.edition == e).copied())
            .or_else(|| own.iter().find(|c| c.in_force(today)).copied())
            .or_else(|| own.last().copied())
            .ok_or_else(|| PageError::not_found("没有这个地区的清单。"))?;
        (chosen, chosen.jurisdiction.name.clone())
    };
    let editions = own
        .iter()
        .enumerate()
        .map(|(i, c)| EditionRow {
            edition: c.edition.clone(),
            from: c.effective_from.to_string(),
            to: c.effective_to.map(|d| d.to_string()).unwrap_or_default(),
            source: c.source.title.clone(),
            current: c.digest == shown.digest,
            changes: match i.checked_sub(1).and_then(|p| own.get(p)) {
                Some(prev) => differences(prev, c),
                None => vec!["首个收录的版本。".into()],
            },
        })
        .rev()
        .collect();
    let parent = shown
        .parent
        .as_ref()
        .map(|p| (p.clone(), register.label(p)));
    render(&ListPage {
        page: viewer.chrome(format!("{name} 基本养老服务清单"), "public"),
        name,
        code,
        edition: shown.edition.clone(),
        from: shown.effective_from.to_string(),
        source: shown.source.title.clone(),
        parent,
        county_note,
        county_changes,
        items: shown.items.iter().map(item_row).collect(),
        editions,
    })
}

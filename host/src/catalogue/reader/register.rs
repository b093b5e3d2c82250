//! Reads jurisdiction register files (`catalogues/register/*.toml`) with the
//! catalogue reader's checks and error positions.

use super::{check_code, check_parent, finish, get, start};
use crate::catalogue::{CatalogueErrors, Level};
use crate::register::{Entry, Kind};
use std::path::Path;
use toml::de::DeValue;

/// The catalogue level whose code shape and parent rule a kind follows.
fn level_of(kind: Kind) -> Level {
    match kind {
        Kind::Nation => Level::National,
        Kind::Province => Level::Province,
        Kind::City => Level::City,
        Kind::District
        | Kind::County
        | Kind::CountyLevelCity
        | Kind::SpecialArea
        | Kind::FunctionalZone => Level::County,
    }
}

/// Reads one register file.
pub(crate) fn parse(text: &str, path: &Path) -> Result<Vec<Entry>, CatalogueErrors> {
    let (mut r, doc) = start(text, path)?;
    let doc = doc.get_ref();
    r.only(doc, "", &["source", "jurisdictions"]);
    if let Some(v) = r.required(doc, &(0..0), "", "source")
        && let Some(t) = r.table(v, "source")
    {
        r.only(t, "source", &["title", "url", "as-of", "note"]);
        r.req_string(t, &v.span(), "source", "title");
        r.opt_string(t, "source", "url");
        r.opt_string(t, "source", "note");
        if let Some(d) = get(t, "as-of") {
            r.date(d, "source.as-of");
        }
    }
    let mut entries = Vec::new();
    let list = r
        .required(doc, &(0..0), "", "jurisdictions")
        .and_then(|v| r.array(v, "jurisdictions"));
    for (i, v) in list.unwrap_or(&[]).iter().enumerate() {
        let p = format!("jurisdictions[{i}]");
        let DeValue::Table(t) = v.get_ref() else {
            r.err(&v.span(), &p, "expected a table");
            continue;
        };
        let span = v.span();
        r.only(t, &p, &["code", "name", "kind", "parent", "note"]);
        let code = r.req_string(t, &span, &p, "code");
        let name = r.req_string(t, &span, &p, "name");
        let kind = r
            .required(t, &span, &p, "kind")
            .and_then(|k| r.choice(k, &format!("{p}.kind"), Kind::ALL, Kind::key));
        let parent = r.opt_string(t, &p, "parent");
        let note = r.opt_string(t, &p, "note");
        let code_at = get(t, "code").map_or(span.clone(), |c| c.span());
        let parent_at = get(t, "parent").map_or(code_at.clone(), |c| c.span());
        let (Some(code), Some(name), Some(kind)) = (code, name, kind) else {
            continue;
        };
        let level = level_of(kind);
        if let Err(e) = check_code(&code, level) {
            r.err(&code_at, &format!("{p}.code"), e);
            continue;
        }
        match (&parent, kind) {
            (Some(_), Kind::Nation) => {
                r.err(
                    &parent_at,
                    &format!("{p}.parent"),
                    "the nation has no parent",
                );
            }
            (Some(parent), _) => {
                if let Err(e) = check_parent(&code, level, parent) {
                    r.err(&parent_at, &format!("{p}.parent"), e);
                }
            }
            (None, _) => {}
        }
        let (line, column) = super::line_col(text, code_at.start);
        let parent_pos = super::line_col(text, parent_at.start);
        entries.push(Entry {
            code,
            name,
            kind,
            parent,
            note,
            at: (path.to_path_buf(), line, column),
            parent_at: parent_pos,
        });
    }
    if r.errors.is_empty() {
        Ok(entries)
    } else {
        Err(finish(r.errors))
    }
}

//! The upload page for county teams: a plain multipart form; the upload is
//! stored and proven exactly as through the API, and the browser is sent to
//! the version's page, which shows validation and proof progress (it
//! reloads itself) and then the report.

use super::auth::{Viewer, acts_for, require};
use super::{AppState, Chrome, PageError, render, see_other};
use crate::store::Role;
use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::Response;

/// The largest upload form accepted: the default component cap and room
/// for the form's other fields.
pub const MAX_FORM_BYTES: usize = crate::runtime::DEFAULT_MAX_COMPONENT_BYTES + 64 * 1024;

/// A county the viewer may upload for.
#[derive(Debug)]
pub struct Choice {
    code: String,
    label: String,
}

/// One earlier version.
#[derive(Debug)]
pub struct Earlier {
    code: String,
    version: i64,
    status: &'static str,
    class: &'static str,
    uploaded_at: String,
}

#[derive(Template)]
#[template(path = "upload.html")]
struct UploadPage {
    page: Chrome,
    counties: Vec<Choice>,
    csrf: String,
    earlier: Vec<Earlier>,
}

/// `GET /upload`: the form, and the county's versions so far.
pub async fn form(State(app): State<AppState>, viewer: Viewer) -> Result<Response, PageError> {
    let token = viewer.signed_in()?;
    if !matches!(token.role, Role::County | Role::Admin) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "上传供县级团队（及管理员）使用。",
        ));
    }
    let register = app.register();
    let counties: Vec<Choice> = register
        .entries()
        .iter()
        .filter(|e| e.kind.files_plugins() && acts_for(token, register, &e.code))
        .map(|e| Choice {
            code: e.code.clone(),
            label: e.label(),
        })
        .collect();
    let today = crate::server::today().to_string();
    let mut earlier = Vec::new();
    if token.role == Role::County {
        let activations = app.store.activations(&token.scope).await?;
        for v in app.store.versions(&token.scope).await? {
            let (status, class) =
                super::review::shown_words(crate::store::shown(&v, &activations, &today));
            earlier.push(Earlier {
                code: v.county.clone(),
                version: v.version,
                status,
                class,
                uploaded_at: v.uploaded_at.clone(),
            });
        }
    }
    render(&UploadPage {
        page: viewer.chrome("上传县级插件", "upload"),
        counties,
        csrf: viewer.csrf.clone(),
        earlier,
    })
}

/// `POST /upload` (multipart: `csrf`, `county`, `component`): stores the
/// component, starts its proof, and sends the browser to its page.
pub async fn submit(
    State(app): State<AppState>,
    viewer: Viewer,
    mut multipart: Multipart,
) -> Result<Response, PageError> {
    let bad = |m: &str| PageError::new(StatusCode::BAD_REQUEST, m);
    let (mut csrf, mut county, mut bytes) = (String::new(), String::new(), Vec::new());
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| bad(&format!("表单无法读取：{e}")))?
    {
        match field.name().unwrap_or_default() {
            "csrf" => csrf = field.text().await.map_err(|e| bad(&e.to_string()))?,
            "county" => county = field.text().await.map_err(|e| bad(&e.to_string()))?,
            "component" => {
                bytes = field
                    .bytes()
                    .await
                    .map_err(|e| bad(&format!("组件无法读取（上限 8 MiB）：{e}")))?
                    .to_vec()
            }
            _ => {}
        }
    }
    viewer.check_csrf(&csrf)?;
    let token = viewer.signed_in()?;
    crate::api::county_of(&app, &county)?;
    require(
        &app,
        token,
        &[Role::County, Role::Admin],
        &county,
        "upload plugins",
    )?;
    if bytes.is_empty() {
        return Err(bad("请选择要上传的组件文件（.wasm）。"));
    }
    if bytes.len() > app.runtime.limits().max_component_bytes {
        return Err(PageError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "组件超过大小上限。",
        ));
    }
    let digest = crate::table::digest_of(&bytes);
    let uploaded = app.store.upload(&county, &bytes, &digest, token).await?;
    if !uploaded.duplicate {
        app.spawn_proof(county.clone(), uploaded.version, digest);
    }
    Ok(see_other(&format!(
        "/counties/{county}/versions/{}",
        uploaded.version
    )))
}

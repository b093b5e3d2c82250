//! Sign-in with an API token, the session it opens, and CSRF tokens.
//!
//! The session cookie holds the token itself (HTTP-only, `SameSite=Strict`,
//! path `/`): it is verified on every request exactly as a bearer token is
//! ([`App::token`]), so revoking the token ends the session, and the role
//! and scope rules are the API's. The CSRF token of a session is derived
//! from the session's secret (a page of another site can neither read the
//! cookie nor compute the token); the sign-in form, which has no session
//! yet, is protected by a random value in a cookie of its own that the form
//! must repeat (double submit).

use super::{AppState, Chrome, PageError, render, see_other};
use crate::server::App;
use crate::store::{Role, Token};
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sha2::Digest;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "qingdan_session";
/// The sign-in form's CSRF cookie.
pub const LOGIN_COOKIE: &str = "qingdan_login";

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// The CSRF token of a session: derived from its secret, never stored.
pub fn csrf_of(secret: &str) -> String {
    let digest = sha2::Sha256::digest(format!("qingdan-csrf\0{secret}").as_bytes());
    hex::encode(&digest[..16])
}

/// Compares two tokens in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Who is signed in, if anyone.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// The verified token.
    pub token: Option<Token>,
    /// The session's CSRF token (empty without a session).
    pub csrf: String,
}

impl Viewer {
    /// The page frame for this viewer.
    pub fn chrome(&self, title: impl Into<String>, current: &'static str) -> Chrome {
        let mut c = Chrome::public(title, current);
        if let Some(t) = &self.token {
            c.user = Some(format!("{}（{}，{}）", t.name, role_name(t.role), t.scope));
            c.csrf = self.csrf.clone();
            c.reviews = matches!(t.role, Role::Reviewer | Role::Admin);
            c.uploads = matches!(t.role, Role::County | Role::Admin);
        }
        c
    }

    /// The token, or a page asking to sign in.
    pub fn signed_in(&self) -> Result<&Token, PageError> {
        self.token.as_ref().ok_or_else(|| {
            PageError::new(StatusCode::UNAUTHORIZED, "请先用令牌登录（右上角“登录”）。")
        })
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, sent: &str) -> Result<(), PageError> {
        if self.token.is_some() && same(sent, &self.csrf) {
            Ok(())
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "表单已过期或来源不明（CSRF 校验未通过）：请刷新页面后重试。",
            ))
        }
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Viewer, PageError> {
        let Some(secret) = cookie(&parts.headers, SESSION_COOKIE).filter(|s| !s.is_empty()) else {
            return Ok(Viewer {
                token: None,
                csrf: String::new(),
            });
        };
        let token = app.token(&secret).await?;
        Ok(Viewer {
            csrf: if token.is_some() {
                csrf_of(&secret)
            } else {
                String::new()
            },
            token,
        })
    }
}

/// The Chinese name of a role.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "管理员",
        Role::County => "县级团队",
        Role::Reviewer => "审核人",
        Role::Caseworker => "经办人",
    }
}

/// Requires one of `roles` and a scope covering `county`: the API's rule
/// itself ([`crate::api::Caller`]), so pages and API can never disagree.
pub fn require(
    app: &App,
    token: &Token,
    roles: &[Role],
    county: &str,
    what: &str,
) -> Result<(), PageError> {
    crate::api::Caller(token.clone())
        .require(app, roles, county, what)
        .map_err(PageError::from)
}

/// Whether a token acts for `county` (for the counties a page offers): a
/// county team for its own county, other roles within their scope — the
/// scope rule of [`require`].
pub fn acts_for(token: &Token, register: &crate::register::Register, county: &str) -> bool {
    match token.role {
        Role::County => token.scope == county,
        _ => token.covers(register, county),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    page: Chrome,
    csrf: String,
    next: String,
    error: Option<String>,
}

/// Where to go after signing in.
#[derive(Debug, Deserialize)]
pub struct Next {
    /// A path on this site.
    #[serde(default)]
    next: Option<String>,
}

/// Only a path of this site (`/…`, not `//…`) is followed after sign-in;
/// empty when none is given.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p.into(),
        _ => String::new(),
    }
}

/// Where a role starts: the overview, the finder, the upload page.
fn home(role: Role) -> &'static str {
    match role {
        Role::Admin | Role::Reviewer => "/counties",
        Role::Caseworker => "/finder",
        Role::County => "/upload",
    }
}

fn login_page(csrf: String, next: String, error: Option<String>) -> Result<Response, PageError> {
    let page = LoginPage {
        page: Chrome::public("登录", "login"),
        csrf: csrf.clone(),
        next,
        error,
    };
    let mut response = render(&page)?;
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600"),
    );
    Ok(response)
}

fn set_cookie(response: &mut Response, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

/// `GET /login`: the sign-in form.
pub async fn login_form(Query(next): Query<Next>) -> Result<Response, PageError> {
    let csrf = crate::store::new_secret()?;
    login_page(csrf, local_path(next.next.as_deref()), None)
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: String,
    csrf: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /login`: checks the token and opens the session.
pub async fn login(
    State(app): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, PageError> {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&expected, &form.csrf) {
        return Err(PageError::new(
            StatusCode::FORBIDDEN,
            "登录表单已过期或来源不明（CSRF 校验未通过）：请重新打开登录页。",
        ));
    }
    let secret = form.token.trim();
    let next = local_path(form.next.as_deref());
    let token = if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        None
    } else {
        app.token(secret).await?
    };
    let Some(token) = token else {
        let csrf = crate::store::new_secret()?;
        let mut response = login_page(csrf, next, Some("令牌无效或已撤销。".into()))?;
        *response.status_mut() = StatusCode::UNAUTHORIZED;
        return Ok(response);
    };
    let mut response = see_other(if next.is_empty() {
        home(token.role)
    } else {
        &next
    });
    set_cookie(
        &mut response,
        &format!("{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200"),
    );
    set_cookie(
        &mut response,
        &format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`: ends the session.
pub async fn logout(viewer: Viewer, Form(form): Form<CsrfForm>) -> Result<Response, PageError> {
    viewer.check_csrf(&form.csrf)?;
    let mut response = see_other("/");
    set_cookie(
        &mut response,
        &format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response.into_response())
}

//! The web pages: the counties overview and the review (备案) record for
//! city IT and reviewers, the entitlement finder for caseworkers, the
//! upload page for county teams, and the public list — in Simplified
//! Chinese.
//!
//! # Why server-rendered HTML without JavaScript
//!
//! The people who use these pages sit at civil-affairs office laptops and
//! phones, often behind old browsers and slow networks, and print the
//! review record for the file. Every page is one HTML document rendered on
//! the server from templates compiled into the binary ([`askama`]), with one
//! small stylesheet (`host/static/qingdan.css`) and no script: nothing to
//! build, nothing to download before a page is usable, and nothing for a
//! component's strings to be run by. The one live part — an upload being
//! proven — refreshes itself with `<meta http-equiv="refresh">` until the
//! verdict is in. Forms are plain `POST`s answered with a redirect.
//!
//! # Everything a component wrote is inert
//!
//! Templates are auto-escaped with [`Inert`] (configured for `.html` in
//! `host/askama.toml`): HTML's special characters become entities, and
//! control and bidirectional-formatting characters are shown as escapes
//! (`\u{1b}`, [`crate::text`]), so a county's item name, legal basis, error
//! message or report text can neither run nor reorder what a reviewer reads.
//! No template uses `|safe`.
//!
//! # Sign-in and forms
//!
//! A user signs in with an API token ([`auth`]); the token is kept in an
//! HTTP-only, `SameSite=Strict` cookie and checked exactly as the API checks
//! a bearer token, with the API's role and scope rules. Every form carries
//! a CSRF token bound to the session (the sign-in form: to a cookie of its
//! own), compared on the server before anything is done.
//!
//! # Layout
//!
//! - [`auth`]: sign-in, the session extractor, CSRF tokens.
//! - [`review`]: the counties overview, the review record of a version
//!   (changes, proof, counterexamples, population impact, audit), the
//!   approve / reject forms.
//! - [`finder`]: what an elder is entitled to.
//! - [`upload`]: the upload form.
//! - [`public`]: the public list of every city and county, with its editions.
//! - [`words`]: person fields, groups and benefits in Chinese words.

pub mod auth;
pub mod finder;
pub mod public;
pub mod review;
pub mod upload;
pub mod words;

use crate::server::App;
use askama::Template;
use axum::extract::{Path, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use std::fmt;
use std::sync::Arc;
use std::time::Instant;

type AppState = Arc<App>;

/// The stylesheet, compiled in.
const STYLESHEET: &str = include_str!("../static/qingdan.css");

/// The escaper of every `.html` template (see `host/askama.toml`): HTML's
/// special characters as entities, control and bidirectional-formatting
/// characters as visible escapes (`\u{202e}`). Newlines and tabs stay (HTML
/// shows them as spaces).
#[derive(Clone, Copy, Debug, Default)]
pub struct Inert;

impl askama::filters::Escaper for Inert {
    fn write_escaped_str<W: fmt::Write>(&self, mut dest: W, string: &str) -> fmt::Result {
        for c in string.chars() {
            match c {
                '<' => dest.write_str("&lt;")?,
                '>' => dest.write_str("&gt;")?,
                '&' => dest.write_str("&amp;")?,
                '"' => dest.write_str("&quot;")?,
                '\'' => dest.write_str("&#39;")?,
                '\n' | '\t' => dest.write_char(c)?,
                c if crate::text::is_unsafe(c) => write!(dest, "\\u{{{:x}}}", u32::from(c))?,
                c => dest.write_char(c)?,
            }
        }
        Ok(())
    }
}

/// What every page's frame shows: the title, who is signed in, the menu.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// The page title.
    pub title: String,
    /// The signed-in user's name and role, if any.
    pub user: Option<String>,
    /// The session's CSRF token (for the sign-out form).
    pub csrf: String,
    /// Which menu entry is current.
    pub current: &'static str,
    /// Reload the page every few seconds (an upload being proven).
    pub refresh: bool,
    /// Whether the signed-in role may open the counties overview.
    pub reviews: bool,
    /// Whether it may upload.
    pub uploads: bool,
}

impl Chrome {
    /// The frame of a page seen without signing in.
    pub fn public(title: impl Into<String>, current: &'static str) -> Chrome {
        Chrome {
            title: title.into(),
            current,
            ..Chrome::default()
        }
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub struct PageError {
    status: StatusCode,
    message: String,
}

impl PageError {
    /// An error page with a status and a message (shown escaped).
    pub fn new(status: StatusCode, message: impl Into<String>) -> PageError {
        PageError {
            status,
            message: message.into(),
        }
    }

    /// A 500: logged in full.
    pub fn internal(e: &dyn fmt::Display) -> PageError {
        tracing::error!(error = %e, "internal error on a page");
        PageError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("内部错误：{e}"))
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, message)
    }
}

impl From<crate::api::ApiError> for PageError {
    fn from(e: crate::api::ApiError) -> PageError {
        PageError::new(e.status(), e.message())
    }
}

impl From<crate::store::StoreError> for PageError {
    fn from(e: crate::store::StoreError) -> PageError {
        PageError::internal(&e)
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    page: Chrome,
    status: u16,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let title = match self.status {
            StatusCode::FORBIDDEN => "无权访问",
            StatusCode::NOT_FOUND => "未找到",
            StatusCode::UNAUTHORIZED => "请先登录",
            s if s.is_client_error() => "请求有误",
            _ => "出错了",
        };
        let page = ErrorPage {
            page: Chrome::public(title, ""),
            status: self.status.as_u16(),
            message: self.message,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, "error").into_response(),
        }
    }
}

/// Renders a template into a response.
pub fn render(t: &impl Template) -> Result<Response, PageError> {
    t.render()
        .map(|html| Html(html).into_response())
        .map_err(|e| PageError::internal(&e))
}

/// A `303 See Other` to `to` (after a form).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The pages' routes, to be merged into the API's router.
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new()
        .route("/", get(public::index))
        .route("/lists/{code}", get(public::list))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/counties", get(review::overview))
        .route("/counties/{code}/versions/{version}", get(review::page))
        .route(
            "/counties/{code}/versions/{version}/decide",
            post(review::decide),
        )
        .route("/finder", get(finder::page))
        .route(
            "/upload",
            get(upload::form)
                .post(upload::submit)
                .layer(axum::extract::DefaultBodyLimit::max(upload::MAX_FORM_BYTES)),
        )
        .route("/static/{file}", get(asset))
        .layer(axum::middleware::from_fn(server_timing))
}

async fn asset(Path(file): Path<String>) -> Response {
    if file != "qingdan.css" {
        return PageError::not_found("没有这个文件").into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

/// Adds `Server-Timing: app;dur=…` (milliseconds) to every page, so the
/// time the server spent on it can be read in the browser's developer tools
/// and by the browser tests; and forbids framing and inline scripts.
async fn server_timing(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let mut response = next.run(request).await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("app;dur={ms:.2}")) {
        headers.insert("server-timing", v);
    }
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::Inert;
    use askama::filters::Escaper;

    fn inert(s: &str) -> String {
        let mut out = String::new();
        let _ = Inert.write_escaped_str(&mut out, s);
        out
    }

    #[test]
    fn markup_and_control_characters_become_text() {
        assert_eq!(
            inert("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
        assert_eq!(
            inert("补贴\u{1b}[2J\u{202e}PASS"),
            "补贴\\u{1b}[2J\\u{202e}PASS"
        );
        assert_eq!(inert("两行\n文字"), "两行\n文字");
    }
}

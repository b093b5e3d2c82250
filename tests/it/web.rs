//! The web pages: escaping, CSRF and sign-in over plain HTTP, and the whole
//! path in headless Chromium through WebDriver (Debian's `chromium` and
//! `chromium-driver`): upload as a county, review and approve as a
//! reviewer, look an elder up as a caseworker, open the public list — with
//! screenshots checked to exist and not be blank, every page again at
//! 375 px, and the server time of every page (its `Server-Timing` header,
//! read in the browser) printed and written to
//! `<target>/tmp/web-timings.txt`.
//!
//! Without `chromedriver` on the PATH the browser test fails, saying what
//! to install — unless `QINGDAN_SKIP_BROWSER=1` is set, when it prints that
//! it was skipped.

use super::server::{Db, Server};
use qingdan::store::Role;
use qingdan_guests::{fixtures, plugins};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP client that reports statuses and follows no redirect.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into()
}

/// GETs a page with a session cookie: (status, HTML).
fn page(server: &Server, path: &str, session: Option<&str>) -> (u16, String) {
    let mut req = agent().get(format!("{}{path}", server.base));
    if let Some(s) = session {
        req = req.header("Cookie", format!("qingdan_session={s}"));
    }
    let mut r = req.call().unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// POSTs a form with a session cookie: (status, body).
fn post_form(server: &Server, path: &str, session: Option<&str>, form: &str) -> (u16, String) {
    let mut req = agent()
        .post(format!("{}{path}", server.base))
        .content_type("application/x-www-form-urlencoded");
    if let Some(s) = session {
        req = req.header("Cookie", format!("qingdan_session={s}"));
    }
    let mut r = req.send(form.as_bytes()).unwrap();
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

fn approve(server: &Server, county: &str, version: i64, reviewer: &str) {
    let today = qingdan::server::today().to_string();
    let (status, v) = server.post_json(
        &format!("/v1/counties/{county}/plugins/{version}/approve"),
        Some(reviewer),
        &json!({"comment": "同意备案", "effective_from": today}),
    );
    assert_eq!(status, 200, "{v}");
}

/// What a component wrote reaches the pages as text: no markup of its own,
/// no raw control or bidirectional character.
#[test]
fn pages_render_a_components_strings_inert() {
    let server = Server::start(Db::Sqlite);
    let fenghua = server.token(Role::County, "330213", "奉化区民政局");
    let errors = server.token(Role::County, "330226", "测试县民政局");
    let reviewer = server.token(Role::Reviewer, "330200", "宁波市民政局");
    let caseworker = server.token(Role::Caseworker, "330200", "经办人");

    let v = server.upload(
        "330213",
        &fenghua,
        &std::fs::read(fixtures::HTML_IN_NAMES).unwrap(),
    );
    assert_eq!(v["status"], "pending-review", "{v}");
    approve(&server, "330213", 1, &reviewer);
    let v = server.upload(
        "330226",
        &errors,
        &std::fs::read(fixtures::ESCAPES_IN_ERRORS).unwrap(),
    );
    assert_eq!(v["status"], "rejected", "{v}");

    let hostile = [
        (
            "/counties/330213/versions/1",
            Some(&reviewer),
            "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;补贴",
        ),
        (
            "/finder?county=330213&age=80",
            Some(&caseworker),
            "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;补贴",
        ),
        (
            "/lists/330213",
            None,
            "&lt;/td&gt;&lt;img src=x onerror=&quot;document.title=&#39;pwned&#39;&quot;&gt;",
        ),
        (
            "/counties/330226/versions/1",
            Some(&reviewer),
            "\\u{1b}[2J\\u{1b}[H\\u{1b}[32mPASS\\u{1b}[0m\\u{d}\\u{202e}no rule",
        ),
    ];
    for (path, session, shown) in hostile {
        let (status, html) = page(&server, path, session.map(String::as_str));
        assert_eq!(status, 200, "{path}: {html}");
        assert!(
            html.contains(shown),
            "{path} does not show {shown:?} as text:\n{html}"
        );
        for raw in ["<script", "<img", "onerror=\"", "<b onmouseover"] {
            assert!(!html.contains(raw), "{path} contains {raw:?}");
        }
        for c in ['\u{1b}', '\u{202e}', '\r'] {
            assert!(!html.contains(c), "{path} contains a raw {:?}", c);
        }
    }
}

/// Sign-in, CSRF and roles on the pages, over plain HTTP.
#[test]
fn forms_need_their_csrf_token_and_the_api_roles() {
    let server = Server::start(Db::Sqlite);
    let cixi = server.token(Role::County, "330282", "慈溪市民政局");
    let reviewer = server.token(Role::Reviewer, "330200", "宁波市民政局");
    let v = server.upload("330282", &cixi, &std::fs::read(plugins::CIXI).unwrap());
    assert_eq!(v["status"], "pending-review", "{v}");

    // No login CSRF cookie: refused, nobody is signed in.
    let (status, _) = post_form(&server, "/login", None, &format!("token={reviewer}&csrf=x"));
    assert_eq!(status, 403);
    // A decision without the session's CSRF token: refused, nothing changed.
    let (status, _) = post_form(
        &server,
        "/counties/330282/versions/1/decide",
        Some(&reviewer),
        "csrf=wrong&decision=approve&comment=ok",
    );
    assert_eq!(status, 403);
    assert_eq!(
        server.get("/v1/counties/330282/plugins/1", Some(&cixi)).1["status"],
        "pending-review"
    );
    // The uploader sees the record, but no decision form, and cannot decide.
    let (status, html) = page(&server, "/counties/330282/versions/1", Some(&cixi));
    assert_eq!(status, 200);
    assert!(!html.contains("id=\"decide-form\""));
    let csrf = qingdan::web::auth::csrf_of(&cixi);
    let (status, _) = post_form(
        &server,
        "/counties/330282/versions/1/decide",
        Some(&cixi),
        &format!("csrf={csrf}&decision=approve&comment=ok"),
    );
    assert_eq!(status, 403);
    // The reviewer with its token approves.
    let csrf = qingdan::web::auth::csrf_of(&reviewer);
    let (status, _) = post_form(
        &server,
        "/counties/330282/versions/1/decide",
        Some(&reviewer),
        &format!("csrf={csrf}&decision=approve&comment=%E5%90%8C%E6%84%8F"),
    );
    assert_eq!(status, 303);
    assert_eq!(
        server.get("/v1/counties/330282/plugins/1", Some(&cixi)).1["status"],
        "active"
    );
    // Pages that need a session ask for one; a county team has no overview.
    assert_eq!(page(&server, "/counties", None).0, 401);
    assert_eq!(page(&server, "/counties", Some(&cixi)).0, 403);
    assert_eq!(page(&server, "/upload", Some(&reviewer)).0, 403);
    assert_eq!(page(&server, "/", None).0, 200);
}

// ----- the browser -----

/// A WebDriver session on a chromedriver this test started.
struct Browser {
    driver: Child,
    url: String,
    agent: ureq::Agent,
}

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn chromium() -> Option<PathBuf> {
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .find_map(|n| on_path(n))
}

impl Browser {
    /// Starts chromedriver and a headless Chromium; `None` when they are
    /// missing and skipping was asked for.
    fn start() -> Option<Browser> {
        let (Some(driver), Some(chrome)) = (on_path("chromedriver"), chromium()) else {
            if std::env::var("QINGDAN_SKIP_BROWSER").is_ok_and(|v| v == "1") {
                let _ = writeln!(
                    std::io::stderr(),
                    "note: browser tests SKIPPED (QINGDAN_SKIP_BROWSER=1; chromedriver or chromium not found)"
                );
                return None;
            }
            panic!(
                "the browser tests need chromedriver and chromium on the PATH \
                 (Debian: apt-get install -y chromium chromium-driver fonts-noto-cjk); \
                 set QINGDAN_SKIP_BROWSER=1 to skip them explicitly"
            );
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chrome.display().to_string(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,900", "--lang=zh-CN", "--hide-scrollbars"]
            }
        }}});
        let mut r = agent
            .post(format!("{base}/session"))
            .send_json(&caps)
            .unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Some(Browser {
            driver: child,
            url: format!("{base}/session/{id}"),
            agent,
        })
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.url);
        let mut r = match (method, body) {
            ("GET", _) => self.agent.get(url).call(),
            ("DELETE", _) => self.agent.delete(url).call(),
            (_, Some(b)) => self.agent.post(url).send_json(&b),
            (_, None) => self.agent.post(url).send_json(json!({})),
        }
        .unwrap();
        let v: Value = r.body_mut().read_json().unwrap();
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({"url": url})));
    }

    fn try_find(&self, css: &str) -> Option<String> {
        let v = self.cmd(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        v[ELEMENT].as_str().map(str::to_string)
    }

    /// Waits for an element (pages load and proofs finish at their pace);
    /// fails with the page's text after a generous while.
    fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(e) = self.try_find(css) {
                return e;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "no {css} on {}:\n{}",
                self.script("return location.href", json!([])),
                self.text("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn click(&self, css: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/click"), None);
    }

    fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.cmd("POST", &format!("/element/{e}/clear"), None);
        self.cmd(
            "POST",
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        );
    }

    fn text(&self, css: &str) -> String {
        match self.try_find(css) {
            Some(e) => self
                .cmd("GET", &format!("/element/{e}/text"), None)
                .as_str()
                .unwrap_or_default()
                .to_string(),
            None => String::new(),
        }
    }

    fn script(&self, body: &str, args: Value) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": body, "args": args})),
        )
    }

    fn resize(&self, width: u32, height: u32) {
        self.cmd(
            "POST",
            "/window/rect",
            Some(json!({"width": width, "height": height})),
        );
    }

    /// The server time of the page shown (its `Server-Timing: app;dur=`).
    fn server_ms(&self) -> f64 {
        let v = self.script(
            "const n = performance.getEntriesByType('navigation')[0]; \
             const t = n && n.serverTiming.find(e => e.name === 'app'); \
             return t ? t.duration : -1;",
            json!([]),
        );
        let ms = v.as_f64().unwrap_or(-1.0);
        assert!(
            ms >= 0.0,
            "no Server-Timing on {}",
            self.script("return location.href", json!([]))
        );
        ms
    }

    /// Saves a screenshot and checks it is a PNG that is not blank.
    fn screenshot(&self, path: &Path) {
        use base64::Engine;
        let data = self.cmd("GET", "/screenshot", None);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        std::fs::write(path, &bytes).unwrap();
        assert_not_blank(path);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.agent.delete(&self.url).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A screenshot exists, decodes, and is not one colour: at least 1 % of its
/// pixels differ from the most common one and it has more than 16 colours.
fn assert_not_blank(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let decoder = png::Decoder::new(std::io::BufReader::new(file));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let pixels = &buf[..info.buffer_size()];
    let mut counts = std::collections::HashMap::new();
    for px in pixels.chunks(channels) {
        *counts.entry(px.to_vec()).or_insert(0usize) += 1;
    }
    let total = pixels.len() / channels;
    let most = counts.values().copied().max().unwrap_or(0);
    assert!(
        counts.len() > 16 && (total - most) * 100 >= total,
        "{} looks blank: {} colours, {} of {total} pixels in the main one",
        path.display(),
        counts.len(),
        most
    );
}

struct Visit {
    name: &'static str,
    url: String,
    who: Option<String>,
    ms: f64,
}

/// The whole path in a real browser.
#[test]
fn the_whole_path_in_a_browser() {
    let Some(browser) = Browser::start() else {
        return;
    };
    let server = Server::start(Db::Sqlite);
    let cixi = server.token(Role::County, "330282", "慈溪市民政局");
    let reviewer = server.token(Role::Reviewer, "330200", "宁波市民政局");
    let caseworker = server.token(Role::Caseworker, "330200", "慈溪市社会救助窗口");
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let base = server.base.clone();
    let mut visits: Vec<Visit> = Vec::new();
    let mut record = |browser: &Browser, name: &'static str, who: Option<&String>| {
        let url = browser
            .script("return location.href", json!([]))
            .as_str()
            .unwrap()
            .to_string();
        visits.push(Visit {
            name,
            url,
            who: who.cloned(),
            ms: browser.server_ms(),
        });
        browser.screenshot(&shots.join(format!("{name}.png")));
    };
    let sign_in = |browser: &Browser, token: &str| {
        browser.goto(&format!("{base}/login"));
        browser.type_into("#token", token);
        browser.click("#login-submit");
        browser.find("#who");
    };
    let sign_out = |browser: &Browser| {
        browser.click("button.link");
        browser.find("#login-link");
    };

    // The county team uploads its component and watches the proof.
    sign_in(&browser, &cixi);
    browser.goto(&format!("{base}/upload"));
    browser.find("#upload-form");
    record(&browser, "upload", Some(&cixi));
    let file = browser.find("#component");
    browser.cmd(
        "POST",
        &format!("/element/{file}/value"),
        Some(json!({"text": plugins::CIXI})),
    );
    browser.click("#upload-submit");
    browser.find("#verdict");
    assert!(
        browser.text("#verdict").starts_with("通过"),
        "{}",
        browser.text("body")
    );
    assert_eq!(browser.text("#status"), "待审核");
    assert!(
        browser.try_find("#decide-form").is_none(),
        "the uploader must not decide"
    );
    assert!(!browser.text("#why-not").is_empty());
    record(&browser, "proof-report", Some(&cixi));
    sign_out(&browser);

    // The reviewer sees the county in the overview, reads the record and approves.
    sign_in(&browser, &reviewer);
    browser.goto(&format!("{base}/counties"));
    browser.find("#counties");
    assert!(browser.text("#counties").contains("慈溪市"));
    record(&browser, "counties", Some(&reviewer));
    browser.click("a.review-link[href='/counties/330282/versions/1']");
    browser.find("#changes");
    let changes = browser.text("#changes");
    assert!(
        changes.contains("老年人能力综合评估") && changes.contains("免费助浴服务"),
        "{changes}"
    );
    assert!(browser.text("#impact").contains("免费助浴服务"));
    assert!(browser.text("#audit").contains("上传"));
    record(&browser, "review", Some(&reviewer));
    browser.type_into("#comment", "同意备案：评估与助浴高于市级清单");
    browser.click("#approve");
    let started = Instant::now();
    while browser.text("#status") != "已生效" {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{}",
            browser.text("body")
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(browser.text("#audit").contains("同意备案"));
    browser.goto(&format!("{base}/counties/330282/versions/1?print=1"));
    browser.find("#verdict");
    assert!(browser.try_find("#decide-form").is_none());
    record(&browser, "review-print", Some(&reviewer));
    sign_out(&browser);

    // A caseworker looks an elder up.
    sign_in(&browser, &caseworker);
    browser.goto(&format!("{base}/finder"));
    browser.click("#county option[value='330282']");
    browser.type_into("#age", "92");
    browser.click("#assistance option[value='dibao']");
    browser.click("#ability option[value='severe']");
    browser.click("#find");
    browser.find("#entitlements");
    let lines = browser.text("#entitlements");
    assert!(
        lines.contains("高龄津贴") && lines.contains("100.00 元/月"),
        "{lines}"
    );
    assert!(
        lines.contains("免费助浴服务") && lines.contains("本县新增"),
        "{lines}"
    );
    assert!(
        browser
            .text("#result h2")
            .contains("92岁、本地户籍、低保、重度失能")
    );
    record(&browser, "finder", Some(&caseworker));
    sign_out(&browser);

    // The public, without signing in.
    browser.goto(&format!("{base}/"));
    browser.find("#places");
    record(&browser, "public-index", None);
    browser.click("a[href='/lists/330200']");
    browser.find("#items");
    assert!(browser.text("#items").contains("高龄津贴"));
    assert!(browser.text("#editions").contains("2019"));
    record(&browser, "public-list", None);
    browser.goto(&format!("{base}/lists/330281"));
    browser.find("#county-note");
    record(&browser, "public-county", None);

    // Every page again at 375 px: nothing wider than the screen.
    browser.resize(375, 812);
    let mut narrow = Vec::new();
    let mut current: Option<String> = None;
    for v in &visits {
        if v.who != current {
            if current.is_some() {
                sign_out(&browser);
            }
            if let Some(t) = &v.who {
                sign_in(&browser, t);
            }
            current = v.who.clone();
        }
        browser.goto(&v.url);
        browser.find("main");
        let overflow = browser.script(
            "return document.documentElement.scrollWidth - window.innerWidth",
            json!([]),
        );
        assert!(
            overflow.as_i64().unwrap_or(1) <= 0,
            "{} is {overflow} px wider than a 375 px screen",
            v.name
        );
        browser.screenshot(&shots.join(format!("{}-375.png", v.name)));
        narrow.push((v.name, browser.server_ms()));
    }

    let mut report =
        String::from("page                 server ms (1280 px)   server ms (375 px)\n");
    for (v, (_, ms)) in visits.iter().zip(&narrow) {
        report.push_str(&format!("{:<20} {:>10.2} {:>20.2}\n", v.name, v.ms, ms));
    }
    let _ = writeln!(std::io::stderr(), "web page server times:\n{report}");
    std::fs::write(
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("web-timings.txt"),
        &report,
    )
    .unwrap();
    let _ = writeln!(std::io::stderr(), "screenshots in {}", shots.display());
}

//! The host server in process, over real HTTP on loopback: the review
//! path (upload, proof, approval, activation, evaluation, replay, rollback,
//! suspension), roles and scopes, JSON errors, the audit chain and the
//! OpenAPI document. Every scenario runs on SQLite, and again on PostgreSQL
//! when `DATABASE_URL` points at one (each run in a database of its own).

use qingdan::server::{App, Config};
use qingdan::store::Role;
use qingdan_guests::{fixtures, plugins};
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// The databases to run on. Without `DATABASE_URL` the PostgreSQL run is
/// skipped, and says so on the terminal (not captured by the harness).
pub fn databases(test: &str) -> Vec<Db> {
    if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        vec![Db::Sqlite, Db::Postgres]
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "note: {test}: PostgreSQL run SKIPPED (DATABASE_URL is not set to a postgres:// URL)"
        );
        vec![Db::Sqlite]
    }
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique name for this test's data.
fn unique(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh PostgreSQL database next to `DATABASE_URL`'s; its URL.
fn fresh_postgres(rt: &tokio::runtime::Runtime) -> String {
    let base = std::env::var("DATABASE_URL").unwrap();
    let name = unique("qingdan_it");
    rt.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&base).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    });
    // Replace the database name (the path of the URL).
    let (prefix, rest) = base.rsplit_once('/').unwrap();
    let query = rest
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{prefix}/{name}{query}")
}

pub struct Server {
    pub base: String,
    pub app: Arc<App>,
    pub data_dir: PathBuf,
    config: Config,
    postgres: Option<String>,
    agent: ureq::Agent,
    _rt: tokio::runtime::Runtime,
}

impl Server {
    pub fn start(db: Db) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("server"));
        let database_url = (db == Db::Postgres).then(|| fresh_postgres(&rt));
        Server::with_config(
            rt,
            Server::config(data_dir, database_url.clone()),
            database_url,
        )
    }

    /// Another server on the same database (a replica): for SQLite, the
    /// same file.
    pub fn replica(&self) -> Server {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Server::with_config(rt, self.config.clone(), None)
    }

    fn config(data_dir: PathBuf, database_url: Option<String>) -> Config {
        Config {
            catalogues: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../catalogues"),
            data_dir: data_dir.clone(),
            database_url: database_url.clone(),
            limits: qingdan::runtime::Limits::default(),
            compiler: super::worker(),
            proof_threads: Some(2),
        }
    }

    fn with_config(
        rt: tokio::runtime::Runtime,
        config: Config,
        postgres: Option<String>,
    ) -> Server {
        let data_dir = config.data_dir.clone();
        let (app, base) = rt.block_on(async {
            let config = config.clone();
            let app = App::start(config).await.unwrap();
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let served = Arc::clone(&app);
            tokio::spawn(async move { qingdan::server::serve(served, listener).await });
            (app, base)
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Server {
            base,
            app,
            data_dir,
            config,
            postgres,
            agent,
            _rt: rt,
        }
    }

    pub fn token(&self, role: Role, scope: &str, name: &str) -> String {
        let store = self.app.store.clone();
        let (_, secret) = self
            ._rt
            .block_on(async move { store.create_token(role, scope, name, "test").await })
            .unwrap();
        secret
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self._rt.block_on(f)
    }

    fn answer(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
        let mut r = r.unwrap();
        let status = r.status().as_u16();
        let text = r.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = self.agent.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        Server::answer(req.call())
    }

    pub fn post_json(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        self.post_raw(path, token, "application/json", body.to_string().as_bytes())
    }

    pub fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        Server::answer(self.with_body("POST", path, token, content_type).send(body))
    }

    fn with_body(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        content_type: &str,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let url = format!("{}{path}", self.base);
        let mut req = match method {
            "PUT" => self.agent.put(url),
            _ => self.agent.post(url),
        }
        .content_type(content_type);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        req
    }

    pub fn put_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> (u16, Value) {
        self.put_reader(path, token, content_type, &mut std::io::Cursor::new(body))
    }

    /// A PUT whose body is read from `reader` as it is sent (chunked).
    pub fn put_reader(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        reader: &mut dyn std::io::Read,
    ) -> (u16, Value) {
        Server::answer(
            self.with_body("PUT", path, token, content_type)
                .send(ureq::SendBody::from_reader(reader)),
        )
    }

    /// Uploads and waits for the verdict; the final version JSON.
    pub fn upload(&self, county: &str, token: &str, bytes: &[u8]) -> Value {
        let (status, v) = self.post_raw(
            &format!("/v1/counties/{county}/plugins"),
            Some(token),
            "application/wasm",
            bytes,
        );
        assert!(status == 202 || status == 200, "{status} {v}");
        self.wait(county, v["version"].as_i64().unwrap(), token)
    }

    pub fn wait(&self, county: &str, version: i64, token: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, v) = self.get(
                &format!("/v1/counties/{county}/plugins/{version}"),
                Some(token),
            );
            assert_eq!(status, 200, "{v}");
            if v["status"] != "validating" {
                return v;
            }
            assert!(
                started.elapsed() < Duration::from_secs(600),
                "no verdict after 10 minutes: {v}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    /// Drops the test's PostgreSQL database (SQLite files stay in the
    /// target directory for inspection).
    fn drop(&mut self) {
        let Some(url) = self.postgres.take() else {
            return;
        };
        let Some(name) = url
            .rsplit('/')
            .next()
            .map(|n| n.split('?').next().unwrap_or(n).to_string())
        else {
            return;
        };
        let pool = self.app.store.pool().clone();
        let base = std::env::var("DATABASE_URL").unwrap_or_default();
        self._rt.block_on(async move {
            pool.close().await;
            if let Ok(admin) = sqlx::AnyPool::connect(&base).await {
                let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&admin)
                    .await;
                admin.close().await;
            }
        });
    }
}

pub fn today() -> String {
    qingdan::server::today().to_string()
}

/// The cixi component with a custom section appended: the same rules,
/// other bytes (a second version of the same county).
pub fn cixi_variant(tag: &str) -> Vec<u8> {
    let mut bytes = std::fs::read(plugins::CIXI).unwrap();
    let name = b"qingdan-test";
    let mut payload = vec![name.len() as u8];
    payload.extend_from_slice(name);
    payload.extend_from_slice(tag.as_bytes());
    bytes.push(0); // custom section
    assert!(payload.len() < 128);
    bytes.push(payload.len() as u8);
    bytes.extend_from_slice(&payload);
    bytes
}

pub const ELDER_92: &str =
    r#"{"age":92,"hukou":"local","ability":"severe","assistance":"dibao","disability":"none"}"#;

fn person() -> Value {
    serde_json::from_str(ELDER_92).unwrap()
}

fn line<'a>(answer: &'a Value, item: &str) -> &'a Value {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == item)
        .unwrap_or_else(|| panic!("no line {item} in {answer}"))
}

#[test]
fn the_review_path_from_upload_to_rollback() {
    for db in databases("the_review_path_from_upload_to_rollback") {
        review_path(db);
    }
}

fn review_path(db: Db) {
    let s = Server::start(db);
    let county = s.token(Role::County, "330282", "慈溪民政局");
    let other_county = s.token(Role::County, "330203", "海曙民政局");
    let reviewer = s.token(Role::Reviewer, "330200", "宁波市民政局审核员");
    let other_reviewer = s.token(Role::Reviewer, "421000", "荆州市民政局审核员");
    let caseworker = s.token(Role::Caseworker, "330200", "宁波市社工");
    let admin = s.token(Role::Admin, "000000", "city IT");
    let cixi = std::fs::read(plugins::CIXI).unwrap();
    let path = "/v1/counties/330282/plugins";

    // No token, a wrong token: 401; another county: 403; nothing stored.
    let (status, e) = s.post_raw(path, None, "application/wasm", &cixi);
    assert_eq!(status, 401, "{e}");
    assert_eq!(e["error"]["code"], "unauthorized");
    assert_eq!(
        s.post_raw(path, Some("qd_wrong"), "application/wasm", &cixi)
            .0,
        401
    );
    let (status, e) = s.post_raw(path, Some(&other_county), "application/wasm", &cixi);
    assert_eq!(status, 403, "{e}");
    assert_eq!(s.get(path, Some(&other_county)).0, 403);
    assert_eq!(s.get(path, Some(&county)).1, json!([]));

    // Upload: validated, compiled, proven, pending review.
    let v1 = s.upload("330282", &county, &cixi);
    assert_eq!(v1["status"], "pending-review", "{v1}");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["uploader"], "慈溪民政局");
    assert_eq!(v1["report"]["passed"], true, "{v1}");
    assert_eq!(v1["report"]["persons"], 1_171_200);
    assert!(v1["table"].as_str().unwrap().starts_with("sha256:"));
    assert_eq!(v1["baseline"], "宁波市 330200 edition 2023");

    // The same bytes again: recognised by digest, nothing new.
    let (status, again) = s.post_raw(path, Some(&county), "application/wasm", &cixi);
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["version"], 1);

    // The uploader cannot approve; a reviewer of another city cannot; a
    // county token is no reviewer.
    let approve = json!({"comment": "符合市级清单要求", "effective_from": today()});
    let (status, e) = s.post_json(&format!("{path}/1/approve"), Some(&county), &approve);
    assert_eq!(status, 403, "{e}");
    let (status, e) = s.post_json(
        &format!("{path}/1/approve"),
        Some(&other_reviewer),
        &approve,
    );
    assert_eq!(status, 403, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("scope"),
        "{e}"
    );

    // Before approval: the baseline, with an incident, never an error.
    let ask = json!({"person": person()});
    let (status, before) = s.post_json("/v1/counties/330282/evaluate", Some(&caseworker), &ask);
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["incident"]["kind"], "no-plugin");
    assert_eq!(line(&before, "ability-assessment")["tag"], "baseline");

    // The 宁波 reviewer approves: active from today.
    let (status, approved) = s.post_json(&format!("{path}/1/approve"), Some(&reviewer), &approve);
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "active");
    assert_eq!(approved["reviewer"], "宁波市民政局审核员");
    let (status, e) = s.post_json(&format!("{path}/1/approve"), Some(&reviewer), &approve);
    assert_eq!(status, 409, "approving twice: {e}");

    // A 92-year-old: served from the answer table, with pins.
    let (status, a1) = s.post_json("/v1/counties/330282/evaluate", Some(&caseworker), &ask);
    assert_eq!(status, 200, "{a1}");
    assert!(a1["incident"].is_null(), "{a1}");
    assert_eq!(a1["plugin_version"], 1);
    let assessment = line(&a1, "ability-assessment");
    assert_eq!(assessment["tag"], "raised", "{a1}");
    assert_eq!(
        assessment["benefit"],
        json!({"kind": "quota", "count": 1, "months": 12})
    );
    assert_eq!(assessment["source"], "慈溪市");
    assert_eq!(line(&a1, "old-age-allowance")["source"], "宁波市");
    assert_eq!(a1["pins"]["table"], v1["table"]);
    assert_eq!(a1["pins"]["plugin"], v1["digest"]);
    assert_eq!(a1["pins"]["baseline"], v1["baseline_digest"]);

    // Version 2 (other bytes, same rules): approved, supersedes version 1.
    let v2 = s.upload("330282", &county, &cixi_variant("v2"));
    assert_eq!(v2["status"], "pending-review", "{v2}");
    let (status, e) = s.post_json(&format!("{path}/2/approve"), Some(&reviewer), &approve);
    assert_eq!(status, 200, "{e}");
    let (_, list) = s.get(path, Some(&county));
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "superseded"], "{list}");
    let (_, a2) = s.post_json("/v1/counties/330282/evaluate", Some(&caseworker), &ask);
    assert_eq!(a2["plugin_version"], 2, "{a2}");
    assert_eq!(a2["lines"], a1["lines"], "same rules, same lines");
    assert_ne!(a2["pins"]["table"], a1["pins"]["table"]);

    // Roll back: version 1 again; version 2 rolled back.
    let (status, rb) = s.post_json(
        "/v1/counties/330282/rollback",
        Some(&reviewer),
        &json!({"comment": "回退"}),
    );
    assert_eq!(status, 200, "{rb}");
    assert_eq!(rb, json!({"rolled_back": 2, "active": 1}));
    let (_, a3) = s.post_json("/v1/counties/330282/evaluate", Some(&caseworker), &ask);
    assert_eq!(a3["plugin_version"], 1, "{a3}");
    let (_, v2now) = s.get(&format!("{path}/2"), Some(&county));
    assert_eq!(v2now["status"], "rolled-back");

    // Replay with version 2's pins: the identical answer, though version 1
    // is in force now.
    let replay = json!({"person": person(), "as_of": a2["as_of"], "pins": a2["pins"]});
    let (status, r2) = s.post_json("/v1/counties/330282/replay", Some(&caseworker), &replay);
    assert_eq!(status, 200, "{r2}");
    assert_eq!(r2["lines"], a2["lines"]);
    assert_eq!(r2["pins"], a2["pins"]);
    assert_eq!(r2["plugin_version"], 2);

    // A second rollback has nothing to go back to.
    let (status, e) = s.post_json(
        "/v1/counties/330282/rollback",
        Some(&reviewer),
        &json!({"comment": "again"}),
    );
    assert_eq!(status, 409, "{e}");

    // Suspend version 1: the baseline with an incident, never a 5xx.
    let (status, e) = s.post_json(
        &format!("{path}/1/suspend"),
        Some(&reviewer),
        &json!({"comment": "暂停核查"}),
    );
    assert_eq!(status, 200, "{e}");
    let (status, a4) = s.post_json("/v1/counties/330282/evaluate", Some(&caseworker), &ask);
    assert_eq!(status, 200, "{a4}");
    assert_eq!(a4["incident"]["kind"], "suspended", "{a4}");
    assert_eq!(line(&a4, "ability-assessment")["tag"], "baseline");
    assert_eq!(a4["lines"], before["lines"]);

    // The audit log has every step and its chain verifies.
    let (status, records) = s.get("/v1/audit", Some(&admin));
    assert_eq!(status, 200, "{records}");
    let actions: Vec<&str> = records
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for needed in [
        "token-create",
        "upload",
        "verdict",
        "approval",
        "activation",
        "rollback",
        "suspension",
    ] {
        assert!(
            actions.contains(&needed),
            "{needed} missing from {actions:?}"
        );
    }
    let (status, verified) = s.get("/v1/audit/verify", Some(&admin));
    assert_eq!(status, 200);
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(verified["records"], actions.len());
    // A reviewer reads its counties' records, not the whole log.
    assert_eq!(s.get("/v1/audit", Some(&reviewer)).0, 403);
    assert_eq!(s.get("/v1/audit?county=330282", Some(&reviewer)).0, 200);

    // Metrics count per county and version.
    let (status, metrics) = s.get("/metrics", None);
    assert_eq!(status, 200);
    let text = metrics.as_str().unwrap();
    assert!(
        text.contains("qingdan_evaluations_total{county=\"330282\",version=\"1\"}"),
        "{text}"
    );
    assert!(
        text.contains(
            "qingdan_fallbacks_total{county=\"330282\",version=\"1\",kind=\"suspended\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("qingdan_proofs_total{county=\"330282\",result=\"pending-review\"} 2"),
        "{text}"
    );
}

#[test]
fn refused_uploads_say_why() {
    for db in databases("refused_uploads_say_why") {
        let s = Server::start(db);
        let haishu = s.token(Role::County, "330203", "海曙民政局");
        let reviewer = s.token(Role::Reviewer, "330200", "审核员");

        // A plugin that lowers a tier: rejected with counterexamples.
        let lowers = s.upload(
            "330203",
            &haishu,
            &std::fs::read(fixtures::LOWERS_TIER).unwrap(),
        );
        assert_eq!(lowers["status"], "rejected", "{lowers}");
        assert_eq!(lowers["report"]["passed"], false);
        assert!(!lowers["report"]["failures"].as_array().unwrap().is_empty());
        // A rejected version cannot be approved.
        let (status, e) = s.post_json(
            "/v1/counties/330203/plugins/1/approve",
            Some(&reviewer),
            &json!({"comment": "x", "effective_from": today()}),
        );
        assert_eq!(status, 409, "{e}");
        assert_eq!(e["error"]["code"], "wrong_state");

        // Garbage: rejected as an invalid component.
        let garbage = s.upload("330203", &haishu, b"\0asm garbage, not a component");
        assert_eq!(garbage["status"], "rejected", "{garbage}");
        assert!(
            garbage["error"]
                .as_str()
                .unwrap()
                .contains("invalid component"),
            "{garbage}"
        );

        // Another county's plugin uploaded here: rejected, naming both.
        let cixi = s.upload("330203", &haishu, &std::fs::read(plugins::CIXI).unwrap());
        assert_eq!(cixi["status"], "rejected", "{cixi}");
        let error = cixi["error"].as_str().unwrap();
        assert!(
            error.contains("330282") && error.contains("330203"),
            "{error}"
        );

        // A component that escapes into terminals: its strings never come
        // back raw.
        let escapes = s.upload(
            "330203",
            &haishu,
            &std::fs::read(fixtures::ESCAPES_IN_NAMES).unwrap(),
        );
        assert_eq!(escapes["status"], "rejected", "{escapes}");
        let raw = escapes.to_string();
        assert!(
            !raw.chars().any(|c| c == '\u{1b}' || c == '\u{202e}'),
            "{raw}"
        );
    }
}

#[test]
fn bad_requests_name_the_field() {
    let s = Server::start(Db::Sqlite);
    let t = s.token(Role::Caseworker, "330200", "社工");
    let url = "/v1/counties/330282/evaluate";
    let p = r#""hukou":"local","ability":"intact","assistance":"none","disability":"none""#;
    let cases: Vec<(String, u16, &str, Option<&str>)> = vec![
        (format!(r#"{{"person":{{"age":59,{p}}}}}"#), 400, "invalid_value", Some("person.age")),
        (
            r#"{"person":{"age":80,"hukou":"local","ability":"foo","assistance":"none","disability":"none"}}"#.into(),
            400,
            "invalid_value",
            Some("person.ability"),
        ),
        (format!(r#"{{"person":{{"age":80,{p},"id_number":"x"}}}}"#), 400, "unknown_field", Some("person.id_number")),
        (format!(r#"{{"person":{{"age":80,{p}}},"as_of":"2024-13-01"}}"#), 400, "invalid_value", Some("as_of")),
        (r#"{"person":{"age":80"#.into(), 400, "invalid_json", Some("person")),
        (r#"{"person":"#.into(), 400, "invalid_json", Some("person")),
        (r#"{}"#.into(), 400, "missing_field", Some("person")),
        (
            format!(r#"{{"person":{{"age":80,{p},"family-planning-special":true}}}}"#),
            400,
            "unknown_field",
            Some("person.family-planning-special"),
        ),
    ];
    for (body, status, code, field) in cases {
        let (got, e) = s.post_raw(url, Some(&t), "application/json", body.as_bytes());
        assert_eq!(got, status, "{body}: {e}");
        assert_eq!(e["error"]["code"], code, "{body}: {e}");
        assert_eq!(e["error"]["field"].as_str(), field, "{body}: {e}");
        assert!(!e["error"]["message"].as_str().unwrap().is_empty());
    }
    // snake_case keys are accepted.
    let ok = format!(
        r#"{{"person":{{"age":80,{p},"family_planning_special":true,"veteran_entitled":true,"living":["alone"]}},"as_of":"2024-06-01"}}"#
    );
    let (status, answer) = s.post_raw(url, Some(&t), "application/json", ok.as_bytes());
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["person"]["family_planning_special"], true);

    // Wrong content type, oversize body.
    let (status, e) = s.post_raw(url, Some(&t), "text/plain", ok.as_bytes());
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    let big = vec![b' '; qingdan::api::MAX_JSON_BYTES + 1];
    let (status, e) = s.post_raw(url, Some(&t), "application/json", &big);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (413, Some("payload_too_large"))
    );
    let county = s.token(Role::County, "330282", "慈溪");
    let huge = vec![0u8; qingdan::runtime::Limits::default().max_component_bytes + 1];
    let (status, e) = s.post_raw(
        "/v1/counties/330282/plugins",
        Some(&county),
        "application/wasm",
        &huge,
    );
    assert_eq!(status, 413, "{e}");
    let (status, e) = s.post_raw(
        "/v1/counties/330282/plugins",
        Some(&county),
        "application/json",
        b"{}",
    );
    assert_eq!(status, 415, "{e}");

    // Unknown county, a city where a county is needed, a bad version,
    // unknown routes and methods: JSON errors too.
    let (status, e) = s.post_raw(
        "/v1/counties/999999/evaluate",
        Some(&t),
        "application/json",
        ok.as_bytes(),
    );
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("unknown_county"))
    );
    let (status, e) = s.post_raw(
        "/v1/counties/330200/evaluate",
        Some(&t),
        "application/json",
        ok.as_bytes(),
    );
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("code")));
    let (status, e) = s.get("/v1/counties/330282/plugins/abc", Some(&county));
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("version"))
    );
    let (status, e) = s.get("/v1/counties/330282/plugins/7", Some(&county));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, e) = s.get("/v1/nothing", None);
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, e) = s.get(url, Some(&t));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (405, Some("method_not_allowed"))
    );

    // Tokens: only admins create them, within their scope, with a scope
    // that fits the role.
    let admin = s.token(Role::Admin, "330200", "宁波 IT");
    let (status, e) = s.post_json(
        "/v1/tokens",
        Some(&t),
        &json!({"role": "county", "scope": "330282", "name": "x"}),
    );
    assert_eq!(status, 403, "{e}");
    let (status, created) = s.post_json(
        "/v1/tokens",
        Some(&admin),
        &json!({"role": "county", "scope": "330282", "name": "慈溪"}),
    );
    assert_eq!(status, 201, "{created}");
    let (status, _) = s.get(
        "/v1/counties/330282/plugins",
        Some(created["token"].as_str().unwrap()),
    );
    assert_eq!(status, 200);
    let (status, e) = s.post_json(
        "/v1/tokens",
        Some(&admin),
        &json!({"role": "county", "scope": "421003", "name": "x"}),
    );
    assert_eq!(status, 403, "outside the admin's scope: {e}");
    let (status, e) = s.post_json(
        "/v1/tokens",
        Some(&admin),
        &json!({"role": "reviewer", "scope": "330282", "name": "x"}),
    );
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("scope")));
    let (status, e) = s.post_json(
        "/v1/tokens",
        Some(&admin),
        &json!({"role": "boss", "scope": "330282", "name": "x"}),
    );
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("role")));
}

#[test]
fn the_openapi_document_matches_the_router() {
    let s = Server::start(Db::Sqlite);
    let (status, doc) = s.get("/openapi.json", None);
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    let mut operations = Vec::new();
    for (path, item) in paths {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                operations.push((method.to_string(), path.clone()));
            }
        }
    }
    operations.sort();
    let expected = [
        ("get", "/healthz"),
        ("get", "/metrics"),
        ("get", "/readyz"),
        ("get", "/v1/audit"),
        ("get", "/v1/audit/verify"),
        ("get", "/v1/counties/{code}/plugins"),
        ("get", "/v1/counties/{code}/plugins/{version}"),
        ("get", "/v1/editions"),
        ("get", "/v1/editions/{digest}"),
        ("get", "/v1/impact-runs/{id}"),
        ("post", "/v1/counties/{code}/evaluate"),
        ("post", "/v1/counties/{code}/impact"),
        ("post", "/v1/counties/{code}/impact-runs"),
        ("post", "/v1/counties/{code}/persons"),
        ("post", "/v1/counties/{code}/plugins"),
        ("post", "/v1/counties/{code}/plugins/{version}/approve"),
        ("post", "/v1/counties/{code}/plugins/{version}/reject"),
        ("post", "/v1/counties/{code}/plugins/{version}/suspend"),
        ("post", "/v1/counties/{code}/replay"),
        ("post", "/v1/counties/{code}/rollback"),
        ("post", "/v1/editions"),
        ("post", "/v1/tokens"),
        ("put", "/v1/impact-runs/{id}/population"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(operations, expected);
    // Every documented operation exists in the router: unauthenticated it
    // answers 200 (operations) or 401, never 404 or 405.
    for (method, path) in &operations {
        let concrete = path
            .replace("{code}", "330282")
            .replace("{version}", "1")
            .replace("{id}", "0");
        let (status, body) = match method.as_str() {
            "get" => s.get(&concrete, None),
            "put" => s.put_raw(&concrete, None, "application/json", b"{}"),
            _ => s.post_json(&concrete, None, &json!({})),
        };
        assert!(
            status == 200 || status == 401,
            "{method} {path}: {status} {body}"
        );
    }
    // The request bodies document the snake_case person.
    let person = &doc["components"]["schemas"]["Person"]["properties"];
    assert!(person.get("family_planning_special").is_some(), "{person}");
}

#[test]
fn audit_verify_finds_an_edit_and_a_deletion() {
    let s = Server::start(Db::Sqlite);
    let county = s.token(Role::County, "330282", "慈溪");
    s.token(Role::Reviewer, "330200", "审核");
    let v = s.upload("330282", &county, &std::fs::read(plugins::CIXI).unwrap());
    assert_eq!(v["status"], "pending-review");
    let dir = s.data_dir.clone();
    let verify = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_qingdan"))
            .args(["audit", "verify", "--data-dir"])
            .arg(&dir)
            .output()
            .unwrap()
    };
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 records"));

    let pool = s.app.store.pool().clone();
    let exec = |sql: &'static str| {
        let pool = pool.clone();
        s.block_on(async move { sqlx::query(sql).execute(&pool).await.unwrap() });
    };
    // Edit a record: found, naming it.
    exec("UPDATE audit SET result = 'approved' WHERE seq = 3");
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("record 3 was altered"), "{stdout}");
    exec("UPDATE audit SET result = 'validating' WHERE seq = 3");
    assert!(verify().status.success());
    // Delete the newest record: found through the head.
    exec("DELETE FROM audit WHERE seq = 4");
    let out = verify();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("records at the end were deleted"),
        "{stdout}"
    );
}

/// A `qingdan serve` process and the README's path through the command
/// line: tokens, upload, status, approval, evaluation, replay, rollback,
/// audit verify, and a graceful stop.
#[test]
fn the_readme_path_through_the_command_line() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let exe = env!("CARGO_BIN_EXE_qingdan");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("readme"));
    let data_arg = data.to_str().unwrap().to_string();
    let mut server = Command::new(exe)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_arg])
        .current_dir(&root)
        .env_remove("QINGDAN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let base = first
        .split("listening on ")
        .nth(1)
        .unwrap_or_else(|| panic!("{first}"))
        .trim()
        .to_string();
    let mut banner = String::new();
    for _ in 0..4 {
        stdout.read_line(&mut banner).unwrap();
    }
    assert!(
        banner.contains("qingdan token create --role admin"),
        "{banner}"
    );

    let run = |args: &[&str]| {
        let out = Command::new(exe)
            .args(args)
            .current_dir(&root)
            .env_remove("QINGDAN_TOKEN")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let token = |role: &str, scope: &str, name: &str| {
        let (code, out, err) = run(&[
            "token",
            "create",
            "--role",
            role,
            "--scope",
            scope,
            "--name",
            name,
            "--data-dir",
            &data_arg,
        ]);
        assert_eq!(code, 0, "{err}");
        out.trim().to_string()
    };
    let county = token("county", "330282", "慈溪市民政局");
    let other = token("county", "330203", "海曙区民政局");
    let reviewer = token("reviewer", "330200", "宁波市民政局");
    let admin = token("admin", "000000", "市信息中心");

    let cixi = plugins::CIXI;
    let (code, out, err) = run(&[
        "upload", cixi, "--county", "330282", "--server", &base, "--token", &county,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("330282 version 1: pending-review"), "{out}");
    let (code, _, err) = run(&[
        "upload", cixi, "--county", "330282", "--server", &base, "--token", &other,
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("HTTP 403"), "{err}");
    let (code, out, err) = run(&[
        "status", "--county", "330282", "--server", &base, "--token", &county,
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("version 1: pending-review"), "{out}");

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let post = |path: &str, token: &str, body: &Value| {
        let mut r = agent
            .post(format!("{base}{path}"))
            .header("Authorization", format!("Bearer {token}"))
            .content_type("application/json")
            .send(body.to_string().as_bytes())
            .unwrap();
        let status = r.status().as_u16();
        let v: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        (status, v)
    };
    let approve = json!({"comment": "同意备案", "effective_from": today()});
    assert_eq!(
        post("/v1/counties/330282/plugins/1/approve", &county, &approve).0,
        403
    );
    let (status, v) = post("/v1/counties/330282/plugins/1/approve", &reviewer, &approve);
    assert_eq!((status, v["status"].as_str()), (200, Some("active")), "{v}");
    let ask = json!({"person": person(), "as_of": today()});
    let (status, a1) = post("/v1/counties/330282/evaluate", &reviewer, &ask);
    assert_eq!(status, 200, "{a1}");
    assert_eq!(line(&a1, "ability-assessment")["tag"], "raised");

    // A second version, approved, then rolled back; replay the first answer.
    let variant = data.join("cixi-v2.wasm");
    std::fs::write(&variant, cixi_variant("readme")).unwrap();
    let (code, out, err) = run(&[
        "upload",
        variant.to_str().unwrap(),
        "--county",
        "330282",
        "--server",
        &base,
        "--token",
        &county,
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        post("/v1/counties/330282/plugins/2/approve", &reviewer, &approve).0,
        200
    );
    let (status, rb) = post(
        "/v1/counties/330282/rollback",
        &reviewer,
        &json!({"comment": "回退到第1版"}),
    );
    assert_eq!(
        (status, &rb),
        (200, &json!({"rolled_back": 2, "active": 1}))
    );
    let replay = json!({"person": person(), "as_of": a1["as_of"], "pins": a1["pins"]});
    let (status, r1) = post("/v1/counties/330282/replay", &reviewer, &replay);
    assert_eq!(status, 200, "{r1}");
    assert_eq!(r1["lines"], a1["lines"]);

    let (code, out, err) = run(&["audit", "verify", "--data-dir", &data_arg]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("audit log whole"), "{out}");
    let _ = admin;

    // SIGTERM: a graceful stop, exit 0.
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = server.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[test]
fn replicas_on_one_database_follow_each_other_within_a_second() {
    for db in databases("replicas_on_one_database_follow_each_other_within_a_second") {
        let a = Server::start(db);
        let b = a.replica();
        let county = a.token(Role::County, "330282", "慈溪");
        let reviewer = a.token(Role::Reviewer, "330200", "审核");
        let ask = json!({"person": person()});
        let v = a.upload("330282", &county, &std::fs::read(plugins::CIXI).unwrap());
        assert_eq!(v["status"], "pending-review", "{v}");
        // The replica sees the upload's verdict (read from the database).
        assert_eq!(
            b.get("/v1/counties/330282/plugins/1", Some(&reviewer)).1["status"],
            "pending-review"
        );
        let in_force_on = |s: &Server, version: Option<i64>, what: &str| {
            let started = Instant::now();
            loop {
                let (status, answer) =
                    s.post_json("/v1/counties/330282/evaluate", Some(&reviewer), &ask);
                assert_eq!(status, 200, "{answer}");
                if answer["plugin_version"].as_i64() == version
                    && (version.is_some() || answer["incident"]["kind"] == "suspended")
                {
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(1),
                    "{what}: not in force on the replica within 1 s: {answer}"
                );
                std::thread::sleep(Duration::from_millis(10));
            }
        };
        let (status, e) = a.post_json(
            "/v1/counties/330282/plugins/1/approve",
            Some(&reviewer),
            &json!({"comment": "ok", "effective_from": today()}),
        );
        assert_eq!(status, 200, "{e}");
        let took = in_force_on(&b, Some(1), "an approval through A");
        let _ = writeln!(
            std::io::stderr(),
            "note: {db:?}: approval in force on the replica after {took:?}"
        );
        // A second version approved through B is in force on A.
        let v2 = b.upload("330282", &county, &cixi_variant("replica"));
        assert_eq!(v2["status"], "pending-review", "{v2}");
        let (status, e) = b.post_json(
            "/v1/counties/330282/plugins/2/approve",
            Some(&reviewer),
            &json!({"comment": "ok", "effective_from": today()}),
        );
        assert_eq!(status, 200, "{e}");
        in_force_on(&a, Some(2), "an approval through B");
        // A rollback through A is in force on B; a suspension through B on A.
        let (status, e) = a.post_json(
            "/v1/counties/330282/rollback",
            Some(&reviewer),
            &json!({"comment": "回退"}),
        );
        assert_eq!(status, 200, "{e}");
        in_force_on(&b, Some(1), "a rollback through A");
        let (status, e) = b.post_json(
            "/v1/counties/330282/plugins/1/suspend",
            Some(&reviewer),
            &json!({"comment": "暂停"}),
        );
        assert_eq!(status, 200, "{e}");
        let started = Instant::now();
        loop {
            let (_, answer) = a.post_json("/v1/counties/330282/evaluate", Some(&reviewer), &ask);
            if answer["incident"]["kind"] == "suspended" {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1),
                "a suspension through B: {answer}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(b);
    }
}

#[test]
fn under_load_an_activation_and_a_rollback_fail_no_request() {
    use std::sync::atomic::AtomicBool;
    let s = Server::start(Db::Sqlite);
    let county = s.token(Role::County, "330282", "慈溪");
    let reviewer = s.token(Role::Reviewer, "330200", "审核");
    let cixi = std::fs::read(plugins::CIXI).unwrap();
    let approve = json!({"comment": "ok", "effective_from": today()});
    assert_eq!(
        s.upload("330282", &county, &cixi)["status"],
        "pending-review"
    );
    assert_eq!(
        s.post_json(
            "/v1/counties/330282/plugins/1/approve",
            Some(&reviewer),
            &approve
        )
        .0,
        200
    );
    assert_eq!(
        s.upload("330282", &county, &cixi_variant("load"))["status"],
        "pending-review"
    );
    let (_, expected) = s.post_json(
        "/v1/counties/330282/evaluate",
        Some(&reviewer),
        &json!({"person": person()}),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let base = s.base.clone();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let base = base.clone();
            let token = reviewer.clone();
            let lines = expected["lines"].clone();
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let body = json!({"person": person()}).to_string();
                let mut versions = std::collections::BTreeMap::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut r = agent
                        .post(format!("{base}/v1/counties/330282/evaluate"))
                        .header("Authorization", format!("Bearer {token}"))
                        .content_type("application/json")
                        .send(body.as_bytes())
                        .expect("a request failed");
                    assert_eq!(r.status().as_u16(), 200);
                    let v: Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    assert!(v["incident"].is_null(), "{v}");
                    assert_eq!(v["lines"], lines, "same rules in both versions");
                    *versions
                        .entry(v["plugin_version"].as_i64().unwrap())
                        .or_insert(0u64) += 1;
                    n += 1;
                }
                (n, versions)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s.post_json(
            "/v1/counties/330282/plugins/2/approve",
            Some(&reviewer),
            &approve
        )
        .0,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        s.post_json(
            "/v1/counties/330282/rollback",
            Some(&reviewer),
            &json!({"comment": "回退"})
        )
        .0,
        200
    );
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let mut total = 0;
    let mut seen = std::collections::BTreeMap::new();
    for c in clients {
        let (n, versions) = c.join().expect("a client failed");
        total += n;
        for (k, v) in versions {
            *seen.entry(k).or_insert(0) += v;
        }
    }
    let keys: Vec<i64> = seen.keys().copied().collect();
    assert_eq!(
        keys,
        [1, 2],
        "answers from the old and the new version only: {seen:?}"
    );
    let _ = writeln!(
        std::io::stderr(),
        "note: {total} evaluations during an activation and a rollback, none failed: {seen:?}"
    );
}

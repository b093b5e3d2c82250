//! `qingdan upload` and `qingdan status`, the county team's side of the
//! server, and `qingdan publish`, the city's: the whole path works without
//! curl.

use super::{EXIT_FAIL, EXIT_INVALID};
use clap::Args;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How to reach the server.
#[derive(Debug, Args, Clone)]
pub struct ServerArgs {
    /// The server, e.g. http://127.0.0.1:8720 (https:// works too).
    #[arg(long, env = "QINGDAN_SERVER", default_value = "http://127.0.0.1:8720")]
    pub server: String,
    /// The bearer token (or set QINGDAN_TOKEN).
    #[arg(long, env = "QINGDAN_TOKEN", hide_env_values = true)]
    pub token: String,
}

/// Arguments of `qingdan upload`.
#[derive(Debug, Args)]
pub struct UploadArgs {
    /// The component (.wasm).
    pub plugin: PathBuf,
    /// The county code the plugin is for.
    #[arg(long)]
    pub county: String,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Return once the server accepted the upload, without waiting for the
    /// verdict.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `qingdan publish`.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The catalogue file of the new edition (its `effective-from` is the
    /// day it takes force: tomorrow at the earliest).
    pub edition: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Return once the edition is published, without waiting for the
    /// re-proofs of the county plugins under it.
    #[arg(long)]
    pub no_wait: bool,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `qingdan status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The county code.
    #[arg(long)]
    pub county: String,
    /// One version, with its report.
    #[arg(long)]
    pub version: Option<i64>,
    #[command(flatten)]
    pub server: ServerArgs,
    /// Print the server's JSON.
    #[arg(long)]
    pub json: bool,
}

struct Client {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Client {
    fn new(args: &ServerArgs) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Client {
            agent,
            base: args.server.trim_end_matches('/').to_string(),
            token: args.token.clone(),
        }
    }

    fn answer(
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, Value), String> {
        let mut response = response.map_err(|e| format!("cannot reach the server: {e}"))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("reading the server's answer: {e}"))?;
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    fn get(&self, path: &str) -> Result<(u16, Value), String> {
        Client::answer(
            self.agent
                .get(format!("{}{path}", self.base))
                .header("Authorization", self.bearer())
                .call(),
        )
    }

    fn post(&self, path: &str, content_type: &str, bytes: &[u8]) -> Result<(u16, Value), String> {
        Client::answer(
            self.agent
                .post(format!("{}{path}", self.base))
                .header("Authorization", self.bearer())
                .content_type(content_type)
                .send(bytes),
        )
    }
}

/// How to wait for a change on the server.
struct Wait {
    /// How often to look.
    every: Duration,
    /// When to give up waiting (the answer so far is then shown).
    limit: Duration,
    /// What to say then.
    late: String,
}

impl Client {
    /// Reads `path` again until `pending` says it is done (returns `None`),
    /// printing each new progress text `pending` gives; starts from
    /// `first`. `Err` is the exit code of a failed request (already
    /// reported).
    fn wait(
        &self,
        path: &str,
        first: Value,
        wait: &Wait,
        pending: impl Fn(&Value) -> Option<String>,
    ) -> Result<Value, u8> {
        let started = Instant::now();
        let mut current = first;
        let mut shown = String::new();
        while let Some(progress) = pending(&current) {
            if progress != shown {
                eprintln!("  {progress}");
                shown = progress;
            }
            std::thread::sleep(wait.every);
            if started.elapsed() > wait.limit {
                eprintln!("{}", wait.late);
                break;
            }
            match self.get(path) {
                Ok((200, v)) => current = v,
                Ok((status, v)) => {
                    eprintln!("error: {}", error_line(status, &v));
                    return Err(EXIT_INVALID);
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    return Err(EXIT_INVALID);
                }
            }
        }
        Ok(current)
    }
}

fn error_line(status: u16, body: &Value) -> String {
    let e = &body["error"];
    match (e["message"].as_str(), e["field"].as_str()) {
        (Some(m), Some(f)) => format!("HTTP {status}: {m} (field {f})"),
        (Some(m), None) => format!("HTTP {status}: {m}"),
        _ => format!("HTTP {status}: {body}"),
    }
}

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Null => "-".into(),
        Value::String(s) => crate::text::escape(s).into_owned(),
        other => other.to_string(),
    }
}

fn summary(v: &Value) -> String {
    let mut out = format!(
        "{} version {}: {}  {}  uploaded by {} at {}",
        text(v, "county"),
        text(v, "version"),
        text(v, "status"),
        text(v, "digest"),
        text(v, "uploader"),
        text(v, "uploaded_at"),
    );
    if let Some(p) = v["progress"].as_str() {
        out.push_str(&format!("\n  progress: {}", crate::text::escape(p)));
    }
    if !v["baseline"].is_null() {
        out.push_str(&format!(
            "\n  proven against {} (table {}) in {} ms",
            text(v, "baseline"),
            text(v, "table"),
            text(v, "proof_ms")
        ));
    }
    if !v["error"].is_null() {
        out.push_str(&format!("\n  refused: {}", text(v, "error")));
    }
    if !v["reviewer"].is_null() {
        out.push_str(&format!(
            "\n  reviewed by {} at {}: {}",
            text(v, "reviewer"),
            text(v, "reviewed_at"),
            text(v, "review_comment")
        ));
    }
    if !v["effective_from"].is_null() {
        out.push_str(&format!("\n  in force from {}", text(v, "effective_from")));
    }
    out
}

/// Runs `qingdan upload`: exit 0 when the version passed its proof (now
/// pending review), 1 when it was rejected, 2 on a refused request.
pub fn run_upload(args: UploadArgs) -> anyhow::Result<u8> {
    let bytes = match std::fs::read(&args.plugin) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", args.plugin.display());
            return Ok(EXIT_INVALID);
        }
    };
    let client = Client::new(&args.server);
    let county = &args.county;
    let (status, body) = match client.post(
        &format!("/v1/counties/{county}/plugins"),
        "application/wasm",
        &bytes,
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if status >= 400 {
        eprintln!("error: {}", error_line(status, &body));
        return Ok(EXIT_INVALID);
    }
    if body["duplicate"].as_bool() == Some(true) {
        eprintln!(
            "these bytes were uploaded before: version {}",
            text(&body, "version")
        );
    }
    let version = body["version"].as_i64().unwrap_or(0);
    let current = if args.no_wait {
        body
    } else {
        let waited = client.wait(
            &format!("/v1/counties/{county}/plugins/{version}"),
            body,
            &Wait {
                every: Duration::from_millis(250),
                limit: Duration::from_secs(900),
                late: "still validating after 15 minutes; `qingdan status` shows the verdict later"
                    .into(),
            },
            |v| (v["status"].as_str() == Some("validating")).then(|| text(v, "progress")),
        );
        match waited {
            Ok(v) => v,
            Err(code) => return Ok(code),
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&current)?);
    } else {
        println!("{}", summary(&current));
    }
    Ok(match current["status"].as_str() {
        Some("rejected") => EXIT_FAIL,
        _ => 0,
    })
}

/// Runs `qingdan status`.
pub fn run_status(args: StatusArgs) -> anyhow::Result<u8> {
    let client = Client::new(&args.server);
    let path = match args.version {
        Some(v) => format!("/v1/counties/{}/plugins/{v}", args.county),
        None => format!("/v1/counties/{}/plugins", args.county),
    };
    let (status, body) = match client.get(&path) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if status >= 400 {
        eprintln!("error: {}", error_line(status, &body));
        return Ok(EXIT_INVALID);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(0);
    }
    match &body {
        Value::Array(versions) if versions.is_empty() => {
            println!("{}: no versions uploaded", args.county)
        }
        Value::Array(versions) => {
            for v in versions {
                println!("{}", summary(v));
            }
        }
        v => {
            println!("{}", summary(v));
            if let Some(report) = v.get("report").filter(|r| !r.is_null()) {
                println!(
                    "  proof: {} persons, passed {}, {} failing items, {} faults",
                    report["persons"],
                    report["passed"],
                    report["failures"].as_array().map_or(0, Vec::len),
                    report["fault_count"]
                );
            }
        }
    }
    Ok(0)
}

fn reproof_line(r: &Value) -> String {
    let mut line = format!(
        "  {} version {}: {}",
        text(r, "county"),
        text(r, "version"),
        text(r, "status")
    );
    if !r["error"].is_null() {
        line.push_str(&format!(" ({})", text(r, "error")));
    }
    for item in r["below"].as_array().into_iter().flatten() {
        line.push_str(&format!(
            "\n    {} ({}): {} persons get less",
            text(item, "item"),
            text(item, "name"),
            text(item, "persons")
        ));
        if let Some(first) = item["counterexamples"].as_array().and_then(|c| c.first()) {
            line.push_str(&format!(
                "; e.g. person {}: the edition gives {}, the county {}",
                crate::text::cap(&first["person"].to_string(), 300),
                crate::text::cap(&first["baseline"].to_string(), 200),
                crate::text::cap(&first["county"].to_string(), 200)
            ));
        }
    }
    line
}

/// Runs `qingdan publish`: exit 0 when the edition is published and every
/// county plugin under it passed its re-proof, 1 when one falls below it
/// (or could not be proven), 2 when the publication was refused.
pub fn run_publish(args: PublishArgs) -> anyhow::Result<u8> {
    let bytes = match std::fs::read(&args.edition) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {}: {e}", args.edition.display());
            return Ok(EXIT_INVALID);
        }
    };
    let name = args
        .edition
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "edition.toml".into());
    let mut query = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            query.push(char::from(b));
        } else {
            query.push_str(&format!("%{b:02X}"));
        }
    }
    let client = Client::new(&args.server);
    let (status, body) = match client.post(
        &format!("/v1/editions?file_name={query}"),
        "application/toml",
        &bytes,
    ) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(EXIT_INVALID);
        }
    };
    if status >= 400 {
        eprintln!("error: {}", error_line(status, &body));
        return Ok(EXIT_INVALID);
    }
    eprintln!(
        "published {} edition {} ({}), in force from {}",
        text(&body, "code"),
        text(&body, "edition"),
        text(&body, "digest"),
        text(&body, "effective_from")
    );
    for e in body["ended"].as_array().into_iter().flatten() {
        eprintln!(
            "  {} now ends {}",
            text(e, "edition"),
            text(e, "effective_to")
        );
    }
    let digest = text(&body, "digest");
    let current = if args.no_wait {
        body
    } else {
        let waited = client.wait(
            &format!("/v1/editions/{digest}"),
            body,
            &Wait {
                every: Duration::from_millis(500),
                limit: Duration::from_secs(3600),
                late: format!(
                    "re-proofs still running after an hour; GET /v1/editions/{digest} shows them later"
                ),
            },
            |v| {
                let left = v["reproofs"].as_array().map_or(0, |r| {
                    r.iter()
                        .filter(|x| x["status"].as_str() == Some("queued"))
                        .count()
                });
                (left > 0).then(|| format!("re-proving the county plugins under it: {left} to go"))
            },
        );
        match waited {
            Ok(v) => v,
            Err(code) => return Ok(code),
        }
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&current)?);
    } else {
        let reproofs = current["reproofs"].as_array().cloned().unwrap_or_default();
        if reproofs.is_empty() {
            println!("no county plugin is in force under this list");
        }
        for r in &reproofs {
            println!("{}", reproof_line(r));
        }
    }
    let bad = current["reproofs"].as_array().is_some_and(|r| {
        r.iter()
            .any(|x| matches!(x["status"].as_str(), Some("below" | "failed")))
    });
    Ok(if bad { EXIT_FAIL } else { 0 })
}

//! Evaluate over HTTP on loopback: requests per second and latency at 1, 4
//! and 16 connections, beside a bare axum JSON endpoint in the same run
//! and the same evaluation called in process.
//!
//! The load generator is `common/load.rs` (shared with `--bench
//! counties`): one thread per connection, each a keep-alive HTTP/1.1
//! connection sending the next request as soon as the answer is read
//! (closed loop), for a fixed time; every request's latency is recorded.
//! Client and server share the machine's cores, for both endpoints alike.
//!
//! The two endpoints are measured in alternation, [`ROUNDS`] rounds each
//! (`load::compare`), and each figure is the median over the rounds, so
//! that both see the same drift of a shared machine.
//!
//! `cargo bench -p qingdan --bench server` (`-- --seconds N` to change the
//! time per measurement, 5 by default: five rounds of one second).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "common/load.rs"]
mod load;

use load::{compare, request};
use qingdan::server::{App, Config};
use qingdan::store::Role;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rounds of alternation per measurement.
const ROUNDS: usize = 5;

const PERSON: &str =
    r#"{"age":92,"hukou":"local","ability":"severe","assistance":"dibao","disability":"none"}"#;

async fn bare(body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Ask {
        person: qingdan::model::Person,
    }
    let ask: Ask = serde_json::from_slice(&body).unwrap();
    axum::Json(serde_json::json!({"person": ask.person, "lines": []}))
}

fn main() {
    let seconds: f64 = std::env::args()
        .skip_while(|a| a != "--seconds")
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = std::env::temp_dir().join(format!("qingdan-bench-server-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let worker = qingdan::runtime::Compiler::Worker(env!("CARGO_BIN_EXE_qingdan").into());
    let config = Config {
        catalogues: root.join("catalogues"),
        data_dir: data.clone(),
        database_url: None,
        limits: qingdan::runtime::Limits::default(),
        compiler: worker,
        proof_threads: None,
    };
    let cixi = std::fs::read(qingdan_guests::plugins::CIXI).unwrap();
    let (app, addr, bare_addr, token) = rt.block_on(async {
        let app: Arc<App> = App::start(config).await.unwrap();
        let (_, county) = app
            .store
            .create_token(Role::County, "330282", "bench county", "bench")
            .await
            .unwrap();
        let (_, reviewer) = app
            .store
            .create_token(Role::Reviewer, "330200", "bench reviewer", "bench")
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(qingdan::server::serve(Arc::clone(&app), listener));
        let bare_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bare_addr = bare_listener.local_addr().unwrap();
        let router = axum::Router::new().route("/bare", axum::routing::post(bare));
        tokio::spawn(async move { axum::serve(bare_listener, router).await });
        (app, addr, bare_addr, (county, reviewer))
    });
    let (county, reviewer) = token;
    // Upload, prove and approve the 慈溪 plugin through the API.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let base = format!("http://{addr}");
    let mut r = agent
        .post(format!("{base}/v1/counties/330282/plugins"))
        .header("Authorization", format!("Bearer {county}"))
        .content_type("application/wasm")
        .send(&cixi[..])
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let _ = r.body_mut().read_to_string();
    loop {
        let mut r = agent
            .get(format!("{base}/v1/counties/330282/plugins/1"))
            .header("Authorization", format!("Bearer {county}"))
            .call()
            .unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        if v["status"] == "pending-review" {
            break;
        }
        assert_eq!(v["status"], "validating", "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let today = qingdan::server::today();
    let mut r = agent
        .post(format!("{base}/v1/counties/330282/plugins/1/approve"))
        .header("Authorization", format!("Bearer {reviewer}"))
        .content_type("application/json")
        .send(format!(r#"{{"comment":"bench","effective_from":"{today}"}}"#).as_bytes())
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        200,
        "{:?}",
        r.body_mut().read_to_string()
    );

    let body = format!(r#"{{"person":{PERSON},"as_of":"{today}"}}"#);
    let evaluate = request("/v1/counties/330282/evaluate", &reviewer, &body);
    let bare_request = request("/bare", &reviewer, &body);

    // The size of each answer: the client reads every byte of it.
    let size_of = |url: String| {
        let mut r = agent
            .post(url)
            .header("Authorization", format!("Bearer {reviewer}"))
            .content_type("application/json")
            .send(body.as_bytes())
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.body_mut().read_to_vec().unwrap().len()
    };
    let sizes = (
        size_of(format!("{base}/v1/counties/330282/evaluate")),
        size_of(format!("http://{bare_addr}/bare")),
    );

    // In process: the same evaluation without HTTP (parse, evaluate, serialise).
    let person: qingdan::model::Person = serde_json::from_str(PERSON).unwrap();
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let answer = app.evaluate("330282", &person, today).unwrap();
        std::hint::black_box(answer);
    }
    let in_process = t.elapsed() / n;

    println!(
        "evaluate over HTTP, 慈溪 330282 (answer table in force), a 92-year-old; {seconds} s per measurement, in {ROUNDS} rounds alternating with the bare endpoint (medians)"
    );
    println!(
        "in process (App::evaluate, no HTTP, no JSON): {:.1} µs per evaluation",
        in_process.as_secs_f64() * 1e6
    );
    println!(
        "response bodies: evaluate {} bytes, bare endpoint {} bytes",
        sizes.0, sizes.1
    );
    println!();
    println!(
        "| connections | qingdan evaluate req/s | p50 | p99 | bare axum JSON req/s | p50 | p99 | evaluate / bare |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for connections in [1, 4, 16] {
        let (q, b) = compare(
            (addr, &evaluate),
            (bare_addr, &bare_request),
            connections,
            seconds,
            ROUNDS,
        );
        let qr = q.requests as f64 / q.seconds;
        let br = b.requests as f64 / b.seconds;
        println!(
            "| {connections} | {qr:.0} | {:.0} µs | {:.0} µs | {br:.0} | {:.0} µs | {:.0} µs | {:.2} |",
            q.p50.as_secs_f64() * 1e6,
            q.p99.as_secs_f64() * 1e6,
            b.p50.as_secs_f64() * 1e6,
            b.p99.as_secs_f64() * 1e6,
            qr / br
        );
    }
    drop(app);
    let _ = std::fs::remove_dir_all(&data);
}

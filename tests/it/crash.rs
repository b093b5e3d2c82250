//! `kill -9` of a real `qingdan serve` process in the middle of an upload,
//! a proof and an approval: after a restart every version is in a
//! consistent status, an interrupted proof is resumed, and the audit chain
//! verifies.

use super::server::{cixi_variant, today};
use qingdan_guests::plugins;
use serde_json::{Value, json};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Process {
    child: Child,
    base: String,
}

fn serve(data: &Path) -> Process {
    let mut child = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .current_dir(root())
        .env_remove("QINGDAN_DATABASE_URL")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    let base = first
        .split("listening on ")
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    // Keep reading the banner in the background so the pipe never fills.
    std::thread::spawn(move || for _ in out.lines() {});
    Process { child, base }
}

fn kill9(p: &mut Process) {
    p.child.kill().unwrap(); // SIGKILL
    let _ = p.child.wait();
}

fn token(data: &Path, role: &str, scope: &str, name: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args([
            "token",
            "create",
            "--role",
            role,
            "--scope",
            scope,
            "--name",
            name,
            "--data-dir",
        ])
        .arg(data)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn audit_whole(data: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args(["audit", "verify", "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    stdout
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(base: &str, path: &str, token: &str) -> Value {
    let mut r = agent()
        .get(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

fn upload(base: &str, token: &str, bytes: &[u8]) -> Value {
    post(
        base,
        "/v1/counties/330282/plugins",
        token,
        "application/wasm",
        bytes,
    )
    .1
}

fn wait_verdict(base: &str, token: &str, version: i64) -> Value {
    let started = Instant::now();
    loop {
        let v = get(
            base,
            &format!("/v1/counties/330282/plugins/{version}"),
            token,
        );
        if v["status"] != "validating" {
            return v;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_mid_proof_mid_upload_and_mid_approval_leaves_consistent_state() {
    let data =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let county = token(&data, "county", "330282", "慈溪");
    let reviewer = token(&data, "reviewer", "330200", "审核");
    let cixi = std::fs::read(plugins::CIXI).unwrap();

    // 1. Killed while proving: the restarted server resumes the proof.
    let mut p = serve(&data);
    let v = upload(&p.base, &county, &cixi);
    assert_eq!(v["status"], "validating", "{v}");
    std::thread::sleep(Duration::from_millis(150));
    kill9(&mut p);
    let mut p = serve(&data);
    let v = wait_verdict(&p.base, &county, 1);
    assert_eq!(v["status"], "pending-review", "resumed after the kill: {v}");
    audit_whole(&data);

    // 2. Killed while a body is arriving: no version, nothing half-written.
    {
        let addr = p.base.trim_start_matches("http://").to_string();
        let mut stream = std::net::TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST /v1/counties/330282/plugins HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {county}\r\nContent-Type: application/wasm\r\nContent-Length: {}\r\n\r\n",
            cixi.len()
        )
        .unwrap();
        stream.write_all(&cixi[..cixi.len() / 2]).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        kill9(&mut p);
    }
    let mut p = serve(&data);
    let list = get(&p.base, "/v1/counties/330282/plugins", &county);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    audit_whole(&data);

    // 3. Killed at every moment around an approval: pending or active,
    // never between; the activation and both records, or none of them.
    let approve = json!({"comment": "ok", "effective_from": today()});
    let mut versions = 1;
    for delay_ms in [0u64, 1, 2, 5, 10, 20] {
        let v = upload(&p.base, &county, &cixi_variant(&format!("crash{delay_ms}")));
        versions += 1;
        let version = v["version"].as_i64().unwrap();
        assert_eq!(version, versions);
        assert_eq!(
            wait_verdict(&p.base, &county, version)["status"],
            "pending-review"
        );
        let base = p.base.clone();
        let reviewer2 = reviewer.clone();
        let body = approve.to_string();
        let sender = std::thread::spawn(move || {
            let _ = agent()
                .post(format!(
                    "{base}/v1/counties/330282/plugins/{version}/approve"
                ))
                .header("Authorization", format!("Bearer {reviewer2}"))
                .content_type("application/json")
                .send(body.as_bytes());
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill9(&mut p);
        let _ = sender.join();
        p = serve(&data);
        let v = get(
            &p.base,
            &format!("/v1/counties/330282/plugins/{version}"),
            &reviewer,
        );
        let status = v["status"].as_str().unwrap().to_string();
        assert!(
            status == "pending-review" || status == "active",
            "after a kill at {delay_ms} ms: {v}"
        );
        // The evaluation agrees with the status.
        let mut r = agent()
            .post(format!("{}/v1/counties/330282/evaluate", p.base))
            .header("Authorization", format!("Bearer {reviewer}"))
            .content_type("application/json")
            .send(json!({"person": {"age": 92, "hukou": "local", "ability": "severe", "assistance": "dibao", "disability": "none"}}).to_string().as_bytes())
            .unwrap();
        let answer: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
        if status == "active" {
            assert_eq!(answer["plugin_version"], version, "{answer}");
        } else {
            assert_ne!(answer["plugin_version"], version, "{answer}");
            // Not approved: approve it now, so the next round starts clean.
            let mut r = agent()
                .post(format!(
                    "{}/v1/counties/330282/plugins/{version}/approve",
                    p.base
                ))
                .header("Authorization", format!("Bearer {reviewer}"))
                .content_type("application/json")
                .send(approve.to_string().as_bytes())
                .unwrap();
            assert_eq!(
                r.status().as_u16(),
                200,
                "{:?}",
                r.body_mut().read_to_string()
            );
        }
        audit_whole(&data);
    }
    let out = audit_whole(&data);
    assert!(out.contains("records"), "{out}");
    kill9(&mut p);
}

fn post(base: &str, path: &str, token: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut r = agent()
        .post(format!("{base}{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .content_type(content_type)
        .send(body)
        .unwrap();
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Waits until no re-proof of `digest` is queued; the edition.
fn settled(base: &str, token: &str, digest: &str) -> Value {
    let started = Instant::now();
    loop {
        let e = get(base, &format!("/v1/editions/{digest}"), token);
        if e["reproofs"]
            .as_array()
            .is_some_and(|r| r.iter().all(|x| x["status"] != "queued"))
        {
            return e;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "{e}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn kill_9_mid_publication_and_mid_reproof_leaves_consistent_state() {
    use super::editions::ningbo_edition;
    let data = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("crash-publish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    let county = token(&data, "county", "330282", "慈溪");
    let reviewer = token(&data, "reviewer", "330200", "审核");
    let admin = token(&data, "admin", "330200", "宁波市 IT");
    let mut p = serve(&data);
    let v = upload(&p.base, &county, &std::fs::read(plugins::CIXI).unwrap());
    assert_eq!(v["status"], "validating", "{v}");
    assert_eq!(
        wait_verdict(&p.base, &county, 1)["status"],
        "pending-review"
    );
    let (status, e) = post(
        &p.base,
        "/v1/counties/330282/plugins/1/approve",
        &reviewer,
        "application/json",
        json!({"comment": "ok", "effective_from": today()})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(status, 200, "{e}");

    // Killed around a publication (each a day later than the one before):
    // after the restart the edition is there with all its re-proofs,
    // which finish, or it is not there at all.
    let mut day = qingdan::server::today().tomorrow().unwrap();
    for delay_ms in [0u64, 2, 10, 40] {
        let text = ningbo_edition(&format!("2027-{delay_ms}"), &day.to_string(), 8000);
        let base = p.base.clone();
        let admin2 = admin.clone();
        let sender = std::thread::spawn(move || {
            let _ = agent()
                .post(format!("{base}/v1/editions"))
                .header("Authorization", format!("Bearer {admin2}"))
                .content_type("application/toml")
                .send(text.as_bytes());
        });
        std::thread::sleep(Duration::from_millis(delay_ms));
        kill9(&mut p);
        let _ = sender.join();
        p = serve(&data);
        let list = get(&p.base, "/v1/editions", &admin);
        let published = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["edition"] == format!("2027-{delay_ms}").as_str())
            .cloned();
        if let Some(e) = published {
            let digest = e["digest"].as_str().unwrap();
            let edition = settled(&p.base, &admin, digest);
            let reproofs = edition["reproofs"].as_array().unwrap();
            assert_eq!(reproofs.len(), 1, "{edition}");
            assert_eq!(reproofs[0]["status"], "passed", "{edition}");
        }
        audit_whole(&data);
        day = day.tomorrow().unwrap();
    }

    // Killed in the middle of a re-proof: resumed at the restart.
    let text = ningbo_edition("2028", &day.to_string(), 8000);
    let (status, e) = post(
        &p.base,
        "/v1/editions",
        &admin,
        "application/toml",
        text.as_bytes(),
    );
    assert_eq!(status, 201, "{e}");
    assert_eq!(e["reproofs"][0]["status"], "queued", "{e}");
    let digest = e["digest"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_millis(300));
    kill9(&mut p);
    let mut p = serve(&data);
    let edition = settled(&p.base, &admin, &digest);
    assert_eq!(
        edition["reproofs"][0]["status"], "passed",
        "resumed: {edition}"
    );
    let (status, a) = post(
        &p.base,
        "/v1/counties/330282/evaluate",
        &reviewer,
        "application/json",
        json!({"person": {"age": 85, "hukou": "local", "ability": "severe", "assistance": "dibao", "disability": "none"}, "as_of": day.to_string()}).to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{a}");
    assert_eq!(a["baseline_edition"], "宁波市 330200 2028", "{a}");
    assert_eq!(a["plugin_version"], 1, "{a}");
    assert!(a["incident"].is_null(), "{a}");
    audit_whole(&data);
    kill9(&mut p);
}

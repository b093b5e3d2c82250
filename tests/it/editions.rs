//! Publishing a baseline edition through the server: refusals that store
//! nothing, the re-proof of every county plugin under the list, the
//! counties below it listed with counterexamples (API, audit, metrics),
//! the guard raising them from the edition's first day with an incident
//! per answer, a version approved later re-proven by itself, and replicas
//! and restarts serving the same editions. On SQLite, and on PostgreSQL
//! when `DATABASE_URL` is set.

use super::server::{Db, ELDER_92, Server, cixi_variant, databases, today};
use qingdan::store::Role;
use qingdan_guests::{fixtures, plugins};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

pub fn tomorrow() -> String {
    qingdan::server::today().tomorrow().unwrap().to_string()
}

/// 宁波's 2023 list as a new edition: another name, a start date, and the
/// 80–89 old-age allowance at `fen_80` a month (60 元 in 2023).
pub fn ningbo_edition(edition: &str, from: &str, fen_80: u32) -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../catalogues/ningbo-2023.toml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.replacen("edition = \"2023\"", &format!("edition = \"{edition}\""), 1);
    let text = text.replacen(
        "effective-from = 2023-01-01",
        &format!("effective-from = {from}"),
        1,
    );
    let tier = "{ when = { age = { min = 80, max = 89 } }, fen = 6000,";
    assert!(
        text.contains(tier),
        "the 2023 list changed: update this test"
    );
    text.replacen(
        tier,
        &format!("{{ when = {{ age = {{ min = 80, max = 89 }} }}, fen = {fen_80},"),
        1,
    )
}

fn elder(age: u32) -> Value {
    let mut p: Value = serde_json::from_str(ELDER_92).unwrap();
    p["age"] = json!(age);
    p
}

fn allowance(answer: &Value) -> &Value {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "old-age-allowance")
        .unwrap_or_else(|| panic!("no old-age allowance in {answer}"))
}

fn publish(s: &Server, token: &str, text: &str) -> (u16, Value) {
    s.post_raw(
        "/v1/editions?file_name=ningbo-next.toml",
        Some(token),
        "application/toml",
        text.as_bytes(),
    )
}

/// Polls the edition until no re-proof is queued.
fn settled(s: &Server, digest: &str, token: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, e) = s.get(&format!("/v1/editions/{digest}"), Some(token));
        assert_eq!(status, 200, "{e}");
        let queued = e["reproofs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "queued");
        if !queued {
            return e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "re-proofs still queued after 10 minutes: {e}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn evaluate(s: &Server, county: &str, token: &str, age: u32, as_of: &str) -> Value {
    let (status, a) = s.post_json(
        &format!("/v1/counties/{county}/evaluate"),
        Some(token),
        &json!({"person": elder(age), "as_of": as_of}),
    );
    assert_eq!(status, 200, "{a}");
    a
}

#[test]
fn a_published_edition_is_proven_against_every_county_under_it() {
    for db in databases("a_published_edition_is_proven_against_every_county_under_it") {
        publication(db);
    }
}

fn publication(db: Db) {
    let s = Server::start(db);
    let replica = s.replica();
    let cixi_team = s.token(Role::County, "330282", "慈溪民政局");
    let zhenhai_team = s.token(Role::County, "330211", "镇海民政局");
    let beilun_team = s.token(Role::County, "330206", "北仑民政局");
    let reviewer = s.token(Role::Reviewer, "330200", "宁波市民政局审核员");
    let caseworker = s.token(Role::Caseworker, "330200", "宁波市社工");
    let admin = s.token(Role::Admin, "000000", "city IT");
    let hubei_admin = s.token(Role::Admin, "420000", "湖北 IT");
    let approve = json!({"comment": "符合市级清单要求", "effective_from": today()});
    for (county, team, bytes) in [
        ("330282", &cixi_team, std::fs::read(plugins::CIXI).unwrap()),
        (
            "330211",
            &zhenhai_team,
            std::fs::read(plugins::ZHENHAI).unwrap(),
        ),
        // Fixed figures (70 元 at 80–89), above the 2023 list's 60 元.
        (
            "330206",
            &beilun_team,
            std::fs::read(fixtures::FIXED_ALLOWANCE).unwrap(),
        ),
    ] {
        let v = s.upload(county, team, &bytes);
        assert_eq!(v["status"], "pending-review", "{v}");
        let (status, e) = s.post_json(
            &format!("/v1/counties/{county}/plugins/1/approve"),
            Some(&reviewer),
            &approve,
        );
        assert_eq!(status, 200, "{e}");
    }
    let (_, editions_before) = s.get("/v1/editions", None);
    let (_, audit_before) = s.get("/v1/audit", Some(&admin));

    // Refusals: nothing stored, each saying why and where.
    let good = ningbo_edition("2027", &tomorrow(), 8000);
    let (status, e) = publish(&s, &caseworker, &good);
    assert_eq!(status, 403, "{e}");
    let (status, e) = publish(&s, &hubei_admin, &good);
    assert_eq!(status, 403, "an admin of another province: {e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("scope"),
        "{e}"
    );
    let (status, e) = s.post_raw("/v1/editions", Some(&admin), "application/json", b"{}");
    assert_eq!(status, 415, "{e}");
    let broken = good.replacen("[source]", "[source\n", 1);
    let (status, e) = publish(&s, &admin, &broken);
    assert_eq!(status, 422, "{e}");
    assert_eq!(e["error"]["code"], "invalid_edition");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ningbo-next.toml:"),
        "names the file and line: {e}"
    );
    let (status, e) = publish(&s, &admin, &ningbo_edition("2027", &today(), 8000));
    assert_eq!(status, 422, "takes force today: {e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("effective-from"),
        "{e}"
    );
    let (status, e) = publish(&s, &admin, &ningbo_edition("2027", "2022-06-01", 8000));
    assert_eq!(status, 422, "begins before the edition in force: {e}");
    let (status, e) = publish(&s, &admin, &ningbo_edition("2027", &tomorrow(), 5000));
    assert_eq!(status, 422, "below 浙江's 60 元: {e}");
    assert_eq!(e["error"]["code"], "below_parent");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("浙江省") && message.contains("old-age-allowance"),
        "{e}"
    );
    assert_eq!(s.get("/v1/editions", None).1, editions_before);
    assert_eq!(s.get("/v1/audit", Some(&admin)).1, audit_before);

    // Published: the 2023 edition ends today; every plugin re-proven.
    let (status, p) = publish(&s, &admin, &good);
    assert_eq!(status, 201, "{p}");
    assert_eq!(p["code"], "330200");
    assert_eq!(p["effective_from"], tomorrow());
    assert_eq!(
        p["ended"],
        json!([{"edition": "宁波市 330200 edition 2023", "effective_to": today()}])
    );
    assert!(
        p["chain"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["passed"] == true),
        "{p}"
    );
    let queued: Vec<(String, i64)> = p["reproofs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["county"].as_str().unwrap().to_string(),
                r["version"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = ["330206", "330211", "330282"]
        .iter()
        .map(|c| (c.to_string(), 1))
        .collect();
    assert_eq!(queued, expected, "{p}");
    let digest = p["digest"].as_str().unwrap().to_string();
    let (status, again) = publish(&s, &admin, &good);
    assert_eq!(status, 422, "the same text twice: {again}");

    // The replica serves the new edition within a second.
    let started = Instant::now();
    loop {
        let (_, list) = replica.get("/v1/editions", None);
        if list
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["digest"] == digest.as_str())
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "replica: {list}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let edition = settled(&s, &digest, &caseworker);
    let status_of = |county: &str| {
        edition["reproofs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["county"] == county)
            .unwrap()
            .clone()
    };
    let beilun = status_of("330206");
    assert_eq!(beilun["status"], "below", "{edition}");
    let below = &beilun["below"][0];
    assert_eq!(below["item"], "old-age-allowance", "{beilun}");
    assert_eq!(below["counterexamples"][0]["person"]["age"], 80, "{beilun}");
    // 镇海 raises the city's line (at least 70 元), so it follows the new
    // edition by itself; 慈溪 passes the city's line through.
    assert_eq!(status_of("330211")["status"], "passed", "{edition}");
    assert_eq!(status_of("330282")["status"], "passed", "{edition}");
    assert_eq!(edition["counties_below"], json!(["330206"]));

    // Before the edition: 北仑's 70 元. From its first day: the guard
    // raises 北仑's 70 元 to the new 80 元, an incident each time; 镇海
    // gives 80 元 by its own rule, without one.
    let a = evaluate(&s, "330206", &caseworker, 85, &today());
    assert_eq!(allowance(&a)["benefit"]["fen"], 7000, "{a}");
    assert!(a["incident"].is_null(), "{a}");
    let a = evaluate(&s, "330206", &caseworker, 85, &tomorrow());
    assert_eq!(allowance(&a)["benefit"]["fen"], 8000, "{a}");
    assert_eq!(allowance(&a)["tag"], "clamped", "{a}");
    assert_eq!(a["incident"]["kind"], "below-floor", "{a}");
    assert_eq!(a["baseline_edition"], "宁波市 330200 2027");
    let a = evaluate(&s, "330206", &caseworker, 95, &tomorrow());
    assert_eq!(
        allowance(&a)["benefit"]["fen"],
        15000,
        "above in the 90s: {a}"
    );
    assert!(a["incident"].is_null(), "{a}");
    let a = evaluate(&s, "330211", &caseworker, 85, &tomorrow());
    assert_eq!(allowance(&a)["benefit"]["fen"], 8000, "{a}");
    assert!(a["incident"].is_null(), "{a}");

    // Audit: the publication and both re-proofs, the chain intact.
    let (_, audit) = s.get("/v1/audit", Some(&admin));
    let records = audit.as_array().unwrap();
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "baseline-publication" && r["digest"] == digest.as_str()),
        "{audit}"
    );
    assert!(
        records
            .iter()
            .any(|r| r["action"] == "reproof" && r["county"] == "330206" && r["result"] == "below"),
        "{audit}"
    );
    let (status, v) = s.get("/v1/audit/verify", Some(&admin));
    assert_eq!(status, 200, "{v}");
    let (_, metrics) = s.get("/metrics", None);
    let metrics = metrics.as_str().unwrap();
    assert!(
        metrics.contains(&format!(
            "qingdan_county_below_edition{{county=\"330206\",edition=\"{digest}\"}} 1"
        )),
        "{metrics}"
    );

    // A version approved after the publication is proven against the new
    // edition by itself, and then serves under it.
    let v2 = s.upload("330282", &cixi_team, &cixi_variant("v2"));
    assert_eq!(v2["status"], "pending-review", "{v2}");
    assert_eq!(
        v2["baseline"], "宁波市 330200 edition 2023",
        "proven against today's edition"
    );
    let (status, e) = s.post_json(
        "/v1/counties/330282/plugins/2/approve",
        Some(&reviewer),
        &json!({"comment": "新版本", "effective_from": tomorrow()}),
    );
    assert_eq!(status, 200, "{e}");
    let edition = settled(&s, &digest, &caseworker);
    assert!(
        edition["reproofs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["county"] == "330282" && r["version"] == 2 && r["status"] == "passed"),
        "{edition}"
    );
    let a = evaluate(&s, "330282", &caseworker, 85, &tomorrow());
    assert_eq!(a["plugin_version"], 2, "{a}");
    assert!(a["incident"].is_null(), "{a}");

    // The replica, and a server started afresh on the same database, serve
    // the same answers.
    let expected = evaluate(&s, "330206", &caseworker, 85, &tomorrow());
    let started = Instant::now();
    loop {
        let a = evaluate(&replica, "330206", &caseworker, 85, &tomorrow());
        if a["lines"] == expected["lines"] && a["pins"] == expected["pins"] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "replica: {a}\nexpected: {expected}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(replica);
    let restarted = s.replica();
    let a = evaluate(&restarted, "330206", &caseworker, 85, &tomorrow());
    assert_eq!(a["lines"], expected["lines"]);
    assert_eq!(a["pins"], expected["pins"]);
    let (_, list) = restarted.get("/v1/editions", None);
    let ended = list
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["code"] == "330200" && e["edition"] == "2023")
        .unwrap();
    assert_eq!(ended["effective_to"], today(), "{list}");
}

#[test]
fn qingdan_publish_reports_the_counties_below() {
    let s = Server::start(Db::Sqlite);
    let team = s.token(Role::County, "330206", "北仑民政局");
    let reviewer = s.token(Role::Reviewer, "330200", "审核员");
    let admin = s.token(Role::Admin, "330200", "宁波市 IT");
    let v = s.upload(
        "330206",
        &team,
        &std::fs::read(fixtures::FIXED_ALLOWANCE).unwrap(),
    );
    assert_eq!(v["status"], "pending-review", "{v}");
    let (status, e) = s.post_json(
        "/v1/counties/330206/plugins/1/approve",
        Some(&reviewer),
        &json!({"comment": "同意", "effective_from": today()}),
    );
    assert_eq!(status, 200, "{e}");
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("publish-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let run = |file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_qingdan"))
            .arg("publish")
            .arg(file)
            .args(["--server", &s.base, "--token", &admin])
            .output()
            .unwrap()
    };
    let low = dir.join("ningbo-low.toml");
    std::fs::write(&low, ningbo_edition("2027", &tomorrow(), 5000)).unwrap();
    let out = run(&low);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("浙江省"), "{stderr}");
    let good = dir.join("ningbo-2027.toml");
    std::fs::write(&good, ningbo_edition("2027", &tomorrow(), 8000)).unwrap();
    let out = run(&good);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a county falls below: {stdout}\n{stderr}"
    );
    assert!(stderr.contains("published 330200 edition 2027"), "{stderr}");
    assert!(stdout.contains("330206 version 1: below"), "{stdout}");
    assert!(stdout.contains("old-age-allowance (高龄津贴)"), "{stdout}");
    let (_, list) = s.get("/v1/editions", None);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|e| e["file"] == "ningbo-2027.toml" && e["published"] == true),
        "{list}"
    );
}

//! The `qingdan` binary end to end: `eval` and `check`, their output and
//! their exit codes.

use qingdan_guests::{fixtures, plugins};
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The answer-table cache of the tests (never the user's).
fn cache() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qingdan-cache")
}

fn qingdan(args: &[&str]) -> Output {
    qingdan_with(args, &[])
}

fn qingdan_with(args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qingdan"));
    command
        .args(args)
        .current_dir(root())
        .env("QINGDAN_CACHE", cache())
        .env_remove("QINGDAN_CATALOGUES");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The line of `item` in an evaluation's JSON.
fn line<'a>(json: &'a serde_json::Value, item: &str) -> &'a serde_json::Value {
    json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == item)
        .unwrap()
}

const ELDER_92: &str =
    r#"{"age":92,"hukou":"local","ability":"intact","assistance":"none","disability":"none"}"#;

#[test]
fn eval_shows_the_ningbo_allowance_for_a_92_year_old_with_its_reason() {
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--as-of",
        "2024-06-01",
        "--person",
        ELDER_92,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    let line = stdout
        .lines()
        .position(|l| l.contains("高龄津贴"))
        .unwrap_or_else(|| panic!("{stdout}"));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[line].contains("100.00 元/月"), "{stdout}");
    assert!(lines[line + 1].contains("90–99"), "{stdout}");
}

#[test]
fn eval_json_carries_the_edition_and_fen() {
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--as-of",
        "2020-06-01",
        "--json",
        "--person",
        r#"{"age":85,"hukou":"local","ability":"intact","assistance":"none","disability":"none"}"#,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["baseline"]["edition"], "2019");
    let allowance = line(&json, "old-age-allowance");
    assert_eq!(allowance["benefit"]["fen"], 5000);
}

#[test]
fn eval_refuses_a_bad_person_naming_the_field() {
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--person",
        r#"{"age":92,"hukou":"somewhere","ability":"intact","assistance":"none","disability":"none"}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("somewhere") && stderr.contains("--person"),
        "{stderr}"
    );
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--person",
        r#"{"age":50,"hukou":"local","ability":"intact","assistance":"none","disability":"none"}"#,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("under 60"));
}

#[test]
fn eval_with_a_plugin_shows_county_lines() {
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--plugin",
        plugins::ZHENHAI,
        "--person",
        ELDER_92,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("[raised]") && stdout.contains("150.00 元/月"),
        "{stdout}"
    );
}

#[test]
fn check_exit_codes_are_pass_fail_invalid() {
    let pass = qingdan(&["check", plugins::CIXI]);
    let stdout = text(&pass.stdout);
    assert_eq!(
        pass.status.code(),
        Some(0),
        "{stdout}{}",
        text(&pass.stderr)
    );
    assert!(
        stdout.contains("PASS") && stdout.contains("1171200 of 1171200"),
        "{stdout}"
    );
    // No --catalogue: the register's choice, 慈溪's parent 宁波.
    assert!(stdout.contains("against 宁波市 330200"), "{stdout}");

    let fail = qingdan(&["check", fixtures::LOWERS_TIER, "--json"]);
    assert_eq!(fail.status.code(), Some(1), "{}", text(&fail.stderr));
    let report: serde_json::Value = serde_json::from_slice(&fail.stdout).unwrap();
    assert_eq!(report["schema"], "qingdan.verify-report/2");
    assert_eq!(report["passed"], false);
    assert_eq!(report["failures"][0]["item"], "old-age-allowance");
    assert_eq!(
        report["failures"][0]["counterexamples"][0]["person"]["age"],
        90
    );

    let dir = std::env::temp_dir().join(format!("qingdan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let garbage = dir.join("garbage.wasm");
    std::fs::write(&garbage, b"this is not a component").unwrap();
    let invalid = qingdan(&["check", garbage.to_str().unwrap()]);
    assert_eq!(invalid.status.code(), Some(2));
    assert!(text(&invalid.stderr).contains("not a WebAssembly file"));
    let forbidden = qingdan(&["check", fixtures::FORBIDDEN_IMPORT]);
    assert_eq!(forbidden.status.code(), Some(2));
    assert!(text(&forbidden.stderr).contains("evil:net/fetch"));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_plugin_naming_another_baseline_is_refused_naming_both_lists() {
    let out = qingdan(&["check", fixtures::WRONG_BASELINE]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}{}", text(&out.stdout));
    assert!(stderr.contains("浙江省 330000"), "{stderr}");
    assert!(stderr.contains("宁波市 330200"), "{stderr}");
    assert!(stderr.contains("海曙区 330203"), "{stderr}");
    // Naming the weaker list with --catalogue does not help.
    let out = qingdan(&[
        "check",
        fixtures::WRONG_BASELINE,
        "--catalogue",
        "catalogues/zhejiang-2023.toml",
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A county's own plugin proven against another list is refused too.
    let out = qingdan(&[
        "check",
        plugins::CIXI,
        "--catalogue",
        "catalogues/national-2023.toml",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a list of 宁波市 330200"), "{stderr}");
}

#[test]
fn a_province_administered_city_is_proven_against_its_province() {
    // A catalogue folder with the national list, a 湖北 list (the national
    // items, as the province's) and the register.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hubei-catalogues");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("register")).unwrap();
    let national = std::fs::read_to_string(root().join("catalogues/national-2023.toml")).unwrap();
    std::fs::write(dir.join("national-2023.toml"), &national).unwrap();
    let hubei = national
        .replacen(
            "code = \"000000\"",
            "code = \"420000\"\nparent = \"000000\"",
            1,
        )
        .replacen("name = \"国家\"", "name = \"湖北省\"", 1)
        .replacen("level = \"national\"", "level = \"province\"", 1);
    std::fs::write(dir.join("hubei-test.toml"), hubei).unwrap();
    std::fs::copy(
        root().join("catalogues/register/jurisdictions.toml"),
        dir.join("register/jurisdictions.toml"),
    )
    .unwrap();
    let out = qingdan_with(
        &["check", fixtures::XIANTAO],
        &[("QINGDAN_CATALOGUES", dir.as_os_str())],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("against 湖北省 420000"), "{stdout}");
    // The 宁波 list is not 仙桃's baseline.
    let out = qingdan(&[
        "check",
        fixtures::XIANTAO,
        "--catalogue",
        "catalogues/ningbo-2023.toml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// The report without its timing field.
fn untimed(stdout: &[u8]) -> serde_json::Value {
    let mut report: serde_json::Value = serde_json::from_slice(stdout).unwrap();
    if let Some(map) = report.as_object_mut() {
        map.remove("timing");
    }
    report
}

#[test]
fn check_reports_are_the_same_run_to_run_for_every_component() {
    for (_, path) in qingdan_guests::ALL {
        let first = qingdan(&["check", path, "--json", "--as-of", "2026-06-01"]);
        let second = qingdan(&[
            "check",
            path,
            "--json",
            "--as-of",
            "2026-06-01",
            "--threads",
            "1",
        ]);
        assert_eq!(first.status.code(), second.status.code(), "{path}");
        if first.status.code() == Some(2) {
            assert_eq!(text(&first.stderr), text(&second.stderr), "{path}");
            continue;
        }
        let (mut a, mut b) = (untimed(&first.stdout), untimed(&second.stdout));
        // The thread count is the machine's; everything else must agree.
        for r in [&mut a, &mut b] {
            if let Some(map) = r.as_object_mut() {
                map.remove("threads");
            }
        }
        assert_eq!(a, b, "{path}");
        if a["passed"] == false && a["failures"].as_array().is_some_and(Vec::is_empty) {
            // A rejection without a failing item names a person.
            let named = a["faults"][0]["person"].is_object()
                || a["determinism"]["mismatch"]["person"].is_object();
            assert!(named, "{path}: {a}");
        }
    }
}

#[test]
fn eval_with_a_plugin_serves_the_table_check_proved() {
    let check = qingdan(&["check", plugins::ZHENHAI, "--json", "--as-of", "2026-06-01"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stderr));
    let report: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let table = report["table"]["digest"].as_str().unwrap().to_string();
    let eval = qingdan(&[
        "eval",
        "--plugin",
        plugins::ZHENHAI,
        "--as-of",
        "2026-06-01",
        "--json",
        "--person",
        ELDER_92,
    ]);
    assert!(eval.status.success(), "{}", text(&eval.stderr));
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(json["plugin"]["table"], table.as_str());
    assert_eq!(json["baseline"]["code"], "330200");
    let allowance = line(&json, "old-age-allowance");
    assert_eq!(allowance["benefit"]["fen"], 15000);
    assert_eq!(allowance["status"], "raised");
}

#[test]
fn eval_with_a_plugin_that_does_not_load_gives_the_baseline_and_the_fault() {
    let out = qingdan(&[
        "eval",
        "--catalogue",
        "catalogues/ningbo-2023.toml",
        "--plugin",
        fixtures::FORBIDDEN_IMPORT,
        "--person",
        ELDER_92,
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("plugin fault (load)"), "{stdout}");
    assert!(stdout.contains("evil:net/fetch"), "{stdout}");
    assert!(
        stdout.contains("高龄津贴") && stdout.contains("100.00 元/月"),
        "{stdout}"
    );
}

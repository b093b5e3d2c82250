//! The `qingdan` binary end to end: `eval` and `check`, their output and
//! their exit codes.

use qingdan_guests::{fixtures, plugins};
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn qingdan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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
    let allowance = json["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "old-age-allowance")
        .unwrap();
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

    let fail = qingdan(&["check", fixtures::LOWERS_TIER, "--json"]);
    assert_eq!(fail.status.code(), Some(1), "{}", text(&fail.stderr));
    let report: serde_json::Value = serde_json::from_slice(&fail.stdout).unwrap();
    assert_eq!(report["schema"], "qingdan.verify-report/1");
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

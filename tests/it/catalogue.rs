//! Catalogue files, the chain check and `qingdan catalogue check`.

use jiff::civil::date;
use qingdan::catalogue::{Library, check_against};
use qingdan::model::{Benefit, Person};
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn catalogue_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("catalogues"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

fn qingdan(args: &[&str], files: &[PathBuf]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args(args)
        .args(files)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn every_sample_catalogue_is_valid_and_passes_its_chain() {
    let (code, out, err) = qingdan(&["catalogue", "check", "--json"], &catalogue_files());
    assert_eq!(code, 0, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["passed"], true);
    let files = report["catalogues"].as_array().unwrap();
    assert_eq!(files.len(), catalogue_files().len());
    // 宁波 2023 is checked against 浙江 and the national list.
    let ningbo = files
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("ningbo-2023.toml"))
        .unwrap();
    assert_eq!(ningbo["checks"].as_array().unwrap().len(), 2);
    // 慈溪 (a county) against 宁波, 浙江 and the national list.
    let cixi = files
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with("cixi-2024.toml"))
        .unwrap();
    let parents: Vec<_> = cixi["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["parent"].as_str().unwrap())
        .collect();
    assert_eq!(
        parents,
        [
            "宁波市 330200 edition 2023",
            "浙江省 330000 edition 2023",
            "国家 000000 edition 2023"
        ]
    );
}

#[test]
fn every_city_passes_against_the_national_list() {
    let lib = Library::load_dir(&root().join("catalogues")).unwrap();
    let national = lib.in_force("000000", date(2025, 6, 1)).unwrap();
    assert_eq!(national.items.len(), 16);
    let mut cities = 0;
    for c in lib.catalogues() {
        if c.jurisdiction.level != qingdan::catalogue::Level::City || !c.overlaps(national) {
            continue;
        }
        cities += 1;
        // Every national item is in every city list, by key.
        for item in &national.items {
            assert!(
                c.item_index(&item.key).is_some(),
                "{} lacks {}",
                c.label(),
                item.key
            );
        }
        let report = check_against(c, national);
        assert!(report.passed, "{report}");
        assert_eq!(report.persons, 1_171_200);
    }
    assert_eq!(cities, 5);
}

#[test]
fn a_broken_catalogue_exits_2_naming_file_line_and_field() {
    let file = root().join("tests/it/data/catalogue/broken-city.toml");
    let (code, out, err) = qingdan(&["catalogue", "check"], &[file]);
    assert_eq!(code, 2, "{out}\n{err}");
    assert!(
        err.contains("broken-city.toml:23:42: items[0] (old-age-allowance).benefit.tiers[1].fen: -100 is negative"),
        "{err}"
    );
    assert!(
        err.contains(
            "broken-city.toml:31:1: items[1] (visits).eligibilty: unknown key `eligibilty`"
        ),
        "{err}"
    );
}

#[test]
fn a_city_below_its_province_exits_1_naming_item_and_smallest_person() {
    let dir = std::env::temp_dir().join(format!("qingdan-chain-fail-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["national-2023.toml", "zhejiang-2023.toml"] {
        std::fs::copy(root().join("catalogues").join(f), dir.join(f)).unwrap();
    }
    let cheap = dir.join("cheap-ningbo.toml");
    std::fs::copy(
        root().join("tests/it/data/catalogue/cheap-ningbo.toml"),
        &cheap,
    )
    .unwrap();
    let (code, out, err) = qingdan(&["catalogue", "check"], std::slice::from_ref(&cheap));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.contains("FAIL 宁波市 330200 edition 2023 falls short of 浙江省 330000 edition 2023 on 1 item (1171200 persons checked)"),
        "{out}"
    );
    assert!(
        out.contains(
            "PASS 宁波市 330200 edition 2023 gives every person at least what 国家 000000"
        ),
        "{out}"
    );
    assert!(
        out.contains("old-age-allowance (高龄津贴): 96000 persons get less than the parent gives them (the parent covers age ≥ 80 and hukou local)"),
        "{out}"
    );
    // The smallest failing person: 80 years old, local, every other field at its first value.
    let smallest = Person::aged(80).index();
    assert!(
        out.contains(&format!(
            "#{smallest} (age 80, hukou local, ability unassessed, assistance none, disability none, living none, family-planning special no, veteran no): parent gives 60.00 元/月, child gives 50.00 元/月, 10.00 元/月 less"
        )),
        "{out}"
    );
}

#[test]
fn ningbo_old_age_allowance_follows_the_edition_in_force() {
    let lib = Library::load_dir(&root().join("catalogues")).unwrap();
    let now = lib.in_force("330200", date(2024, 6, 1)).unwrap();
    assert_eq!(now.edition, "2023");
    let line = now
        .explain(&Person::aged(92))
        .into_iter()
        .find(|l| now.items[l.item].key == "old-age-allowance")
        .unwrap();
    assert_eq!(line.benefit, Benefit::MonthlyCash { fen: 10000 });
    assert_eq!(line.tier.as_deref(), Some("age 90–99"));
    assert!(line.reason.contains("age 92 in 90–99"), "{}", line.reason);
    assert!(line.reason.contains("hukou local"), "{}", line.reason);

    let then = lib.in_force("330200", date(2020, 6, 1)).unwrap();
    assert_eq!(then.edition, "2019");
    let line = then
        .explain(&Person::aged(85))
        .into_iter()
        .find(|l| then.items[l.item].key == "old-age-allowance")
        .unwrap();
    assert_eq!(line.benefit, Benefit::MonthlyCash { fen: 5000 });
    assert!(lib.in_force("330200", date(2019, 1, 1)).is_none());
    // The parent in force: 浙江 from 2023, none before.
    assert_eq!(
        lib.parent_of(now, date(2024, 6, 1))
            .unwrap()
            .jurisdiction
            .code,
        "330000"
    );
    assert!(lib.parent_of(then, date(2020, 6, 1)).is_none());
}

#[test]
fn the_cell_check_equals_the_person_by_person_check() {
    use qingdan::catalogue::{Catalogue, check_against_exhaustive};
    use qingdan::model::Shortfall;
    let lib = Library::load_dir(&root().join("catalogues")).unwrap();
    let zhejiang = lib.in_force("330000", date(2024, 1, 1)).unwrap();
    let national = lib.in_force("000000", date(2024, 1, 1)).unwrap();
    let cheap =
        Catalogue::from_file(&root().join("tests/it/data/catalogue/cheap-ningbo.toml")).unwrap();
    let fast = check_against(&cheap, zhejiang);
    assert!(!fast.passed);
    assert_eq!(fast, check_against_exhaustive(&cheap, zhejiang));

    // A city that lacks a national item entirely, and gives another item a
    // benefit of the wrong kind.
    let text = std::fs::read_to_string(root().join("catalogues/jingzhou-2023.toml")).unwrap();
    let key = text.find("key = \"visits\"").unwrap();
    let start = text[..key].rfind("[[items]]").unwrap();
    let end = start + text[start + 1..].find("[[items]]").unwrap() + 1;
    let mut lacking = text.clone();
    lacking.replace_range(start..end, "");
    let lacking = Catalogue::parse(&lacking, Path::new("lacking.toml")).unwrap();
    let report = check_against(&lacking, national);
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1, "{report}");
    let visits = &report.failures[0];
    assert_eq!(visits.item, "visits");
    assert_eq!(visits.examples.len(), 5);
    assert!(
        visits
            .examples
            .iter()
            .all(|e| e.shortfall == Shortfall::Missing && e.child.is_none())
    );
    assert_eq!(report, check_against_exhaustive(&lacking, national));
    // Every eligible person fails: the count equals the national eligibility.
    let eligible = Person::domain()
        .filter(|p| {
            national.items[national.item_index("visits").unwrap()]
                .tier_for(p)
                .is_some()
        })
        .count();
    assert_eq!(visits.persons, eligible);
}

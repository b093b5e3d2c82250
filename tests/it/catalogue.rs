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
    assert_eq!(parents_checked(&report, "ningbo-2023.toml").len(), 2);
    // 慈溪 (a county) against 宁波, 浙江 and the national list.
    let parents = parents_checked(&report, "cixi-2024.toml");
    assert_eq!(
        parents,
        [
            "宁波市 330200 edition 2023",
            "浙江省 330000 edition 2023",
            "国家 000000 edition 2023"
        ]
    );
}

/// The lists a file was checked against, in a `catalogue check --json` report.
fn parents_checked(report: &serde_json::Value, file: &str) -> Vec<String> {
    let entry = report["catalogues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["file"].as_str().unwrap().ends_with(file))
        .unwrap();
    entry["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["parent"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_sample_city_chains_through_its_province() {
    let (code, out, err) = qingdan(&["catalogue", "check", "--json"], &catalogue_files());
    assert_eq!(code, 0, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    for (file, province) in [
        ("jingzhou-2023.toml", "湖北省 420000 edition 2023"),
        ("suining-2020.toml", "四川省 510000 edition 2023"),
        ("shaoyang-2025.toml", "湖南省 430000 edition 2025"),
        ("yichun-2023.toml", "江西省 360000 edition 2023"),
    ] {
        let parents = parents_checked(&report, file);
        assert_eq!(parents, [province, "国家 000000 edition 2023"], "{file}");
    }
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

/// The stored source texts (`catalogues/sources/`): file, a title fragment a
/// provenance `title` names it by, and the short name a `legal-basis` that
/// quotes it starts with (`荆州实施方案：…`).
const SOURCES: &[(&str, &str, &str)] = &[
    (
        "jingzhou-2023.txt",
        "关于推进荆州市基本养老服务体系建设的实施方案",
        "荆州实施方案",
    ),
    (
        "suining-2020.txt",
        "遂宁市人民政府办公室关于推进养老服务发展的实施意见",
        "遂宁实施意见",
    ),
    (
        "shaoyang-2025.txt",
        "邵阳市深化养老服务改革推进养老服务高质量发展行动方案",
        "邵阳行动方案",
    ),
    (
        "cixi-2024.txt",
        "慈溪市加快建设基本养老服务体系的实施方案",
        "慈溪实施方案",
    ),
    (
        "yichun-2023.txt",
        "宜春市推进基本养老服务体系建设实施方案",
        "宜春实施方案",
    ),
];

/// The normalisation of the data review's quote check: pinyin residue
/// (`養(yǎng)`) removed, full-width punctuation folded, spaces and line breaks
/// dropped. Scripts are not converted: quotes keep the source's characters.
fn normalise(text: &str) -> String {
    let pinyin = |c: char| c.is_ascii_alphabetic() || "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüńňḿ".contains(c);
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '(' {
            let len = chars[i + 1..].iter().take_while(|c| pinyin(**c)).count();
            if len > 0 && chars.get(i + 1 + len) == Some(&')') {
                i += len + 2;
                continue;
            }
        }
        match chars[i] {
            '，' => out.push(','),
            '：' => out.push(':'),
            '；' => out.push(';'),
            '（' => out.push('('),
            '）' => out.push(')'),
            ' ' | '\u{3000}' | '\n' | '\r' => {}
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Whether `quote` occurs in the normalised `text`; `…` stands for any text
/// in between, in order.
fn quoted_in(quote: &str, text: &str) -> bool {
    let mut from = 0;
    for part in normalise(quote).split('…').filter(|p| !p.is_empty()) {
        match text[from..].find(part) {
            Some(at) => from += at + part.len(),
            None => return false,
        }
    }
    true
}

#[test]
fn every_quote_is_in_its_source() {
    let texts: Vec<(&str, &str, String)> = SOURCES
        .iter()
        .map(|(file, title, short)| {
            let path = root().join("catalogues/sources").join(file);
            let text = std::fs::read_to_string(&path).unwrap();
            (*title, *short, normalise(&text))
        })
        .collect();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in catalogue_files() {
        let c = qingdan::catalogue::Catalogue::from_file(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for item in &c.items {
            for tier in &item.tiers {
                let p = &tier.provenance;
                let Some(quote) = &p.quote else { continue };
                let title = p.title.as_deref().unwrap_or(&c.source.title);
                match texts.iter().find(|(t, _, _)| title.contains(t)) {
                    None => problems.push(format!(
                        "{name}: {}: quote {quote:?} names no stored source text (title {title:?}); keep `quote` for words of a stored text and use `note` otherwise",
                        item.key
                    )),
                    Some((_, _, text)) if !quoted_in(quote, text) => problems.push(format!(
                        "{name}: {}: quote {quote:?} is not in the text {title:?}",
                        item.key
                    )),
                    Some(_) => checked += 1,
                }
            }
            // A legal basis that names a stored text (`荆州实施方案：…`) quotes
            // it from there to its end, clause by clause.
            for (_, short, text) in &texts {
                let marker = format!("{short}：");
                let Some(at) = item.legal_basis.find(&marker) else {
                    continue;
                };
                let rest = &item.legal_basis[at + marker.len()..];
                for clause in rest.split('；') {
                    if quoted_in(clause, text) {
                        checked += 1;
                    } else {
                        problems.push(format!(
                            "{name}: {}: legal basis clause {clause:?} is not in {short}",
                            item.key
                        ));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 40, "only {checked} quotes checked");
}

#[test]
fn the_quote_check_normalises_as_the_review_does() {
    let text = normalise("建設基本養(yǎng)老服務體系，有效期 5年（试行）");
    assert_eq!(text, "建設基本養老服務體系,有效期5年(试行)");
    assert!(quoted_in("基本養老…有效期5年", &text));
    assert!(!quoted_in("有效期5年…基本養老", &text));
    assert!(!quoted_in("基本养老", &text), "scripts are not converted");
}

#[test]
fn eval_shows_content_standard_funding_and_department_under_the_item() {
    let person = r#"{"age":70,"hukou":"local","ability":"moderate","assistance":"dibao","disability":"none"}"#;
    let args = [
        "eval",
        "--catalogue",
        "catalogues/shaoyang-2025.toml",
        "--as-of",
        "2025-06-01",
        "--person",
        person,
    ];
    let (code, out, err) = qingdan(&args, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let rows: Vec<&str> = out.lines().collect();
    let header = rows
        .iter()
        .position(|r| r.contains(" home-services: "))
        .unwrap();
    // The item's block: its header, why/basis lines, then the four fields it gives.
    let block: Vec<&str> = rows[header + 1..]
        .iter()
        .take_while(|r| r.starts_with(' '))
        .copied()
        .collect();
    assert!(
        block
            .iter()
            .any(|r| r.trim() == "服务内容: 助餐、助浴、助急、助行、助医、助洁以及日常护理"),
        "{out}"
    );
    assert!(
        block
            .iter()
            .any(|r| r.trim() == "服务标准: GB/T 43153-2023《居家养老上门服务基本规范》"),
        "{out}"
    );
    assert!(
        block
            .iter()
            .any(|r| r.trim().starts_with("责任单位: 市发展改革委")),
        "{out}"
    );
    // An item without them gets no such line.
    let allowance = rows
        .iter()
        .position(|r| r.contains(" employee-pension: "))
        .unwrap();
    assert!(!rows[allowance + 1].contains("服务内容"), "{out}");

    let mut json_args = args.to_vec();
    json_args.insert(1, "--json");
    let (code, out, err) = qingdan(&json_args, &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let line = value["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["item"] == "home-services")
        .unwrap();
    assert_eq!(
        line["standard"],
        "GB/T 43153-2023《居家养老上门服务基本规范》"
    );
    assert!(line.get("funding").is_none());
    assert!(
        line["legal_basis"]
            .as_str()
            .unwrap()
            .starts_with("邵阳行动方案：")
    );
}

#[test]
fn publishing_an_edition_ends_the_one_before_and_keeps_the_order() {
    let lib = Library::load_dir(&root().join("catalogues")).unwrap();
    let text = std::fs::read_to_string(root().join("catalogues/ningbo-2023.toml")).unwrap();
    let next = |edition: &str, from: &str| {
        let t = text
            .replacen("edition = \"2023\"", &format!("edition = \"{edition}\""), 1)
            .replacen(
                "effective-from = 2023-01-01",
                &format!("effective-from = {from}"),
                1,
            );
        qingdan::catalogue::Catalogue::parse(&t, Path::new("ningbo-next.toml")).unwrap()
    };
    let old = lib.in_force("330200", date(2026, 1, 1)).unwrap().clone();
    let published = lib.publish(next("2030", "2030-01-01"), None).unwrap();
    let ended = published
        .catalogues()
        .iter()
        .find(|c| c.digest == old.digest)
        .unwrap();
    assert_eq!(
        ended.effective_to,
        Some(date(2029, 12, 31)),
        "ended the day before"
    );
    assert_eq!(
        published
            .in_force("330200", date(2029, 12, 31))
            .unwrap()
            .edition,
        "2023"
    );
    assert_eq!(
        published
            .in_force("330200", date(2030, 1, 1))
            .unwrap()
            .edition,
        "2030"
    );
    assert_eq!(
        ended.digest, old.digest,
        "the text, and so the digest, is unchanged"
    );
    // The original library is untouched.
    assert_eq!(
        lib.in_force("330200", date(2030, 1, 1)).unwrap().digest,
        old.digest
    );

    let refused = |lib: &Library, c, first| lib.publish(c, first).unwrap_err().to_string();
    let e = refused(&published, next("2029", "2029-06-01"), None);
    assert!(
        e.contains("ningbo-next.toml:") && e.contains("must begin after"),
        "{e}"
    );
    let e = refused(&published, next("2030", "2031-01-01"), None);
    assert!(e.contains("already has an edition named 2030"), "{e}");
    let e = refused(&lib, next("2030", "2030-01-01"), Some(date(2031, 1, 1)));
    assert!(e.contains("too early") && e.contains("2031-01-01"), "{e}");
    let e = refused(&lib, old.clone(), None);
    assert!(e.contains("already edition 2023"), "{e}");
}

//! Population runs: the impact summed per (baseline set, answer) pair is the
//! impact summed person by person; malformed rows are reported and skipped;
//! name lists and reconciliation from the command line and the API.

use qingdan::catalogue::Library;
use qingdan::evaluate::{County, Served, Status};
use qingdan::model::{Benefit, DOMAIN_SIZE, Person};
use qingdan::population::{self, Context};
use qingdan::store::Role;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A deterministic population: a stride through the domain, with
/// identifiers, written as CSV.
fn population(n: usize) -> (String, Vec<Person>) {
    let mut csv = format!("{}\n", population::CSV_HEADER);
    let mut persons = Vec::new();
    for i in 0..n {
        let p = Person::from_index((i * 7919 + 13) % DOMAIN_SIZE).unwrap();
        csv.push_str(&population::csv_row(&format!("P{i}"), &p));
        csv.push('\n');
        persons.push(p);
    }
    (csv, persons)
}

fn served_cixi(library: &Library) -> Served {
    let catalogue = library
        .in_force("330200", "2024-06-01".parse().unwrap())
        .unwrap();
    let runtime =
        qingdan::runtime::Runtime::new(qingdan::runtime::Limits::default(), super::worker())
            .unwrap();
    let plugin = runtime
        .load_file(std::path::Path::new(qingdan_guests::plugins::CIXI))
        .unwrap();
    let proof = qingdan::verify::verify(
        &plugin,
        catalogue,
        &qingdan::verify::Options::default(),
        &|_, _| {},
    )
    .unwrap();
    Served::new(Arc::new(proof.table.unwrap()), catalogue).unwrap()
}

#[test]
fn the_impact_by_pairs_is_the_impact_person_by_person() {
    let library = Library::load_dir(&root().join("catalogues")).unwrap();
    let catalogue = library
        .in_force("330200", "2024-06-01".parse().unwrap())
        .unwrap();
    let served = served_cixi(&library);
    let as_of = "2024-06-01".parse().unwrap();
    let ctx = Context::new(catalogue, Some(&served), as_of);
    let (mut csv, persons) = population(20_000);
    csv.push_str("BAD1,59,local,intact,none,none,,false,false\n");
    csv.push_str("BAD2,80,local,foo,none,none,,false,false\n");
    csv.push_str("BAD3,80,local\n");
    csv.push_str("\"Q\"\"1\",81,local,intact,none,none,,false,false\n");
    let (counts, _) = population::count(&ctx, csv.as_bytes(), 2).unwrap();
    assert_eq!(counts.rows, 20_004);
    assert_eq!(counts.persons, 20_001);
    assert_eq!(counts.error_count, 3);
    let rows: Vec<(u64, &str)> = counts
        .errors
        .iter()
        .map(|e| (e.row, e.field.as_str()))
        .collect();
    assert_eq!(
        rows,
        [(20_002, "age"), (20_003, "ability"), (20_004, "row")]
    );
    let impact = population::impact(&ctx, &counts);

    // Person by person, with the evaluation production serves.
    let mut all = persons.clone();
    all.push(Person::aged(81));
    let mut expected: HashMap<String, (u64, u64, u64, u64, u64)> = HashMap::new();
    for p in &all {
        let base = qingdan::evaluate::evaluate(catalogue, County::None, p, as_of);
        for l in &base.lines {
            let e = expected.entry(l.item.to_string()).or_default();
            e.0 += 1;
            if let Benefit::MonthlyCash { fen } = l.benefit {
                e.1 += fen;
            }
        }
        let county = qingdan::evaluate::evaluate(catalogue, County::Table(&served), p, as_of);
        for l in &county.lines {
            let e = expected.entry(l.item.to_string()).or_default();
            e.2 += 1;
            if let Benefit::MonthlyCash { fen } = l.benefit {
                e.3 += fen;
            }
            if l.status == Status::Clamped {
                e.4 += 1;
            }
        }
    }
    for item in &impact.items {
        let e = expected.get(&item.item).copied().unwrap_or_default();
        assert_eq!(
            (
                item.baseline.beneficiaries,
                item.baseline.monthly_fen,
                item.county.beneficiaries,
                item.county.monthly_fen,
                item.clamped
            ),
            e,
            "{}",
            item.item
        );
    }
    assert!(
        impact
            .items
            .iter()
            .any(|i| i.item == "bathing" && i.county.beneficiaries > 0)
    );
    // The same counts on one thread and on four.
    for threads in [1, 4] {
        let (c, _) = population::count(&ctx, csv.as_bytes(), threads).unwrap();
        assert_eq!(population::impact(&ctx, &c), impact, "{threads} threads");
    }
    // NDJSON gives the same.
    let ndjson: String = persons
        .iter()
        .chain(std::iter::once(&Person::aged(81)))
        .enumerate()
        .map(|(i, p)| {
            let mut v = serde_json::to_value(p).unwrap();
            v["id"] = serde_json::json!(format!("P{i}"));
            format!("{v}\n")
        })
        .collect();
    let (c, format) = population::count(&ctx, ndjson.as_bytes(), 2).unwrap();
    assert_eq!(format, population::Format::Ndjson);
    assert_eq!(c.persons, 20_001);
    let j = population::impact(&ctx, &c);
    assert_eq!(j.items, impact.items);
}

/// A file fed to a [`population::Counter`] in pieces of any size — one
/// byte, a prime number of bytes, blocks larger than a counting piece —
/// gives exactly what counting it whole gives: the same rows, the same
/// malformed rows with the same row numbers, the same impact.
#[test]
fn a_file_counted_as_it_arrives_is_counted_as_a_whole() {
    let library = Library::load_dir(&root().join("catalogues")).unwrap();
    let as_of = "2024-06-01".parse().unwrap();
    let catalogue = library.in_force("330200", as_of).unwrap();
    let served = served_cixi(&library);
    let ctx = Context::new(catalogue, Some(&served), as_of);
    // More than a counting piece (8 MiB), with malformed rows on both
    // sides of the piece boundaries and a last line without a line break.
    let (csv, _) = population(140_000);
    let mut lines: Vec<&str> = csv.lines().collect();
    lines[3] = "P2,59,local,intact,none,none,,false,false";
    lines[70_001] = "P70000,80,nowhere,intact,none,none,,false,false";
    lines[139_990] = "P139989,80,local";
    let csv = lines.join("\n");
    assert!(csv.len() > population::COUNT_PIECE_BYTES);
    let (whole, _) = population::count(&ctx, csv.as_bytes(), 2).unwrap();
    assert_eq!(whole.error_count, 3);
    assert_eq!(
        whole.errors.iter().map(|e| e.row).collect::<Vec<_>>(),
        [4, 70_002, 139_991]
    );
    let expected = population::impact(&ctx, &whole);
    for piece in [65_521, 3 << 20, 9 << 20, csv.len()] {
        let mut counter = population::Counter::new(&ctx, 2);
        let mut fed = 0u64;
        for chunk in csv.as_bytes().chunks(piece) {
            counter.feed(chunk).unwrap();
            fed += chunk.len() as u64;
            assert_eq!(counter.progress().bytes, fed);
        }
        let (c, _) = counter.finish().unwrap();
        assert_eq!(
            (c.rows, c.persons, c.error_count),
            (whole.rows, whole.persons, 3)
        );
        assert_eq!(c.errors, whole.errors, "pieces of {piece} bytes");
        assert_eq!(
            population::impact(&ctx, &c),
            expected,
            "pieces of {piece} bytes"
        );
    }
    // Byte by byte, a small file (CSV, then NDJSON) with a header split
    // anywhere.
    let small: String = csv.lines().take(40).collect::<Vec<_>>().join("\n");
    let (whole, _) = population::count(&ctx, small.as_bytes(), 1).unwrap();
    let mut counter = population::Counter::new(&ctx, 1);
    for b in small.as_bytes() {
        counter.feed(std::slice::from_ref(b)).unwrap();
    }
    let (c, format) = counter.finish().unwrap();
    assert_eq!(format, population::Format::Csv);
    assert_eq!(
        (c.rows, c.errors.clone()),
        (whole.rows, whole.errors.clone())
    );
    assert_eq!(
        population::impact(&ctx, &c),
        population::impact(&ctx, &whole)
    );
    let ndjson = "\n  {\"age\":80,\"hukou\":\"local\",\"ability\":\"severe\",\"assistance\":\"dibao\",\"disability\":\"none\",\"id\":\"A\"}\n{\"age\":7}\n";
    let mut counter = population::Counter::new(&ctx, 1);
    for b in ndjson.as_bytes() {
        counter.feed(std::slice::from_ref(b)).unwrap();
    }
    let (c, format) = counter.finish().unwrap();
    assert_eq!(format, population::Format::Ndjson);
    assert_eq!((c.rows, c.persons), (2, 1));
    assert_eq!(c.errors[0].row, 3);
    // A header that never ends is refused, not gathered forever.
    let mut counter = population::Counter::new(&ctx, 1);
    let long = vec![b'a'; population::MAX_HEADER_BYTES + 1];
    assert_eq!(
        counter.feed(&long).unwrap_err(),
        population::PopulationError::HeaderTooLong(population::MAX_HEADER_BYTES)
    );
}

#[test]
fn a_header_without_a_person_column_is_refused_naming_it() {
    let library = Library::load_dir(&root().join("catalogues")).unwrap();
    let catalogue = library
        .in_force("330200", "2024-06-01".parse().unwrap())
        .unwrap();
    let ctx = Context::new(catalogue, None, "2024-06-01".parse().unwrap());
    let e = population::count(
        &ctx,
        b"id,age,hukou,ability,assistance\nA,80,local,intact,none\n",
        1,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no disability column"), "{e}");
}

fn qingdan(args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args(args)
        .current_dir(root())
        .env(
            "QINGDAN_CACHE",
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qingdan-cache"),
        )
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn batch_writes_the_name_list_and_reconciles_receipts() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("batch-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let pop = dir.join("population.csv");
    std::fs::write(
        &pop,
        "id,name,age,hukou,ability,assistance,disability,living\n\
         A1,\"张, 三\",92,local,severe,dibao,none,alone\n\
         A2,李四,70,local,intact,none,none,\n\
         A3,王五,59,local,intact,none,none,\n\
         A4,赵六,85,non-local,mild,none,grade2,empty-nest|alone\n",
    )
    .unwrap();
    let receipts = dir.join("receipts.csv");
    std::fs::write(
        &receipts,
        "id,name,item,amount_fen\n\
         A1,\"张, 三\",old-age-allowance,5000\n\
         A2,李四,old-age-allowance,10000\n",
    )
    .unwrap();
    let names = dir.join("names.csv");
    let (code, out, err) = qingdan(&[
        "batch",
        "--county",
        "330282",
        "--population",
        pop.to_str().unwrap(),
        "--as-of",
        "2024-06-01",
        "--plugin",
        qingdan_guests::plugins::CIXI,
        "--persons",
        names.to_str().unwrap(),
        "--item",
        "old-age-allowance",
        "--item",
        "bathing",
        "--receipts",
        receipts.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["impact"]["persons"], 3);
    assert_eq!(v["impact"]["errors"][0]["row"], 4);
    assert_eq!(v["impact"]["errors"][0]["field"], "age");
    let names = std::fs::read_to_string(&names).unwrap();
    let lines: Vec<&str> = names.lines().collect();
    assert_eq!(
        lines[0],
        "id,name,item,item_name,tag,benefit,monthly_fen,reason"
    );
    assert!(
        lines[1]
            .starts_with("A1,\"张, 三\",old-age-allowance,高龄津贴,baseline,100.00 元/月,10000,"),
        "{names}"
    );
    assert!(
        lines[2].starts_with("A1,\"张, 三\",bathing,免费助浴服务,county-extra,"),
        "{names}"
    );
    assert_eq!(lines.len(), 3, "only A1 has these items: {names}");
    let r = &v["reconciliation"];
    let allowance = r["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "old-age-allowance")
        .unwrap();
    assert_eq!(allowance["entitled"], 1);
    assert_eq!(allowance["receiving_less"], 1);
    assert_eq!(allowance["shortfall_fen"], 5000);
    assert_eq!(allowance["receiving_not_entitled"], 1);
    let kinds: Vec<(&str, &str)> = r["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["item"] == "old-age-allowance")
        .map(|c| (c["id"].as_str().unwrap(), c["kind"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("A1,\"张, 三\"", "receiving-less"),
            ("A2,李四", "receiving-not-entitled")
        ]
    );
    assert!(
        !out.contains("P0"),
        "identifiers stay in the name list and reconciliation only"
    );
}

#[test]
fn the_impact_api_serves_the_version_in_force() {
    use super::server::{Db, Server, today};
    let s = Server::start(Db::Sqlite);
    let county = s.token(Role::County, "330282", "慈溪");
    let reviewer = s.token(Role::Reviewer, "330200", "审核");
    let v = s.upload(
        "330282",
        &county,
        &std::fs::read(qingdan_guests::plugins::CIXI).unwrap(),
    );
    assert_eq!(v["status"], "pending-review");
    let (status, _) = s.post_json(
        "/v1/counties/330282/plugins/1/approve",
        Some(&reviewer),
        &serde_json::json!({"comment": "ok", "effective_from": today()}),
    );
    assert_eq!(status, 200);
    let (csv, _) = population(5_000);
    let (status, impact) = s.post_raw(
        "/v1/counties/330282/impact",
        Some(&reviewer),
        "text/csv",
        csv.as_bytes(),
    );
    assert_eq!(status, 200, "{impact}");
    assert_eq!(impact["persons"], 5_000);
    assert_eq!(impact["table"], v["table"]);
    let bathing = impact["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item"] == "bathing")
        .unwrap();
    assert!(bathing["county"]["beneficiaries"].as_u64().unwrap() > 0);
    assert_eq!(bathing["baseline"]["beneficiaries"], 0);
    let (status, e) = s.post_raw(
        "/v1/counties/330282/impact",
        Some(&reviewer),
        "application/json",
        b"{}",
    );
    assert_eq!(status, 415, "{e}");
    let (status, e) = s.post_raw(
        "/v1/counties/330282/impact?as_of=nope",
        Some(&reviewer),
        "text/csv",
        csv.as_bytes(),
    );
    assert_eq!((status, e["error"]["field"].as_str()), (400, Some("as_of")));
    let (status, names) = s.post_raw(
        "/v1/counties/330282/persons?item=bathing",
        Some(&reviewer),
        "text/csv",
        csv.as_bytes(),
    );
    assert_eq!(status, 200);
    let names = names.as_str().unwrap();
    assert!(names.starts_with("person_id,item,item_name,tag"), "{names}");
    assert!(
        names.lines().skip(1).all(|l| l.contains(",bathing,")),
        "{names}"
    );

    // The same file as an impact run, followed while it arrives.
    let (status, run) = s.post_json(
        "/v1/counties/330282/impact-runs",
        Some(&reviewer),
        &serde_json::json!({}),
    );
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["state"], "waiting");
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(id.len(), 32);
    let upload = run["links"]["population"].as_str().unwrap().to_string();
    assert_eq!(upload, format!("/v1/impact-runs/{id}/population"));
    // Half the file, then a look at the run from another connection
    // while the upload is still open, then the rest.
    let half = csv.len() / 2;
    let mut reader = Halves {
        first: csv.as_bytes()[..half].to_vec(),
        rest: csv.as_bytes()[half..].to_vec(),
        seen: None,
        look: Box::new({
            let base = s.base.clone();
            let token = reviewer.clone();
            let id = id.clone();
            move || {
                let started = std::time::Instant::now();
                loop {
                    let mut r = ureq::get(format!("{base}/v1/impact-runs/{id}"))
                        .header("Authorization", format!("Bearer {token}"))
                        .call()
                        .unwrap();
                    let v: serde_json::Value =
                        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
                    if v["bytes_received"].as_u64().unwrap() >= half as u64
                        || started.elapsed() > std::time::Duration::from_secs(20)
                    {
                        return v;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }),
    };
    let (status, done) = s.put_reader(&upload, Some(&reviewer), "text/csv", &mut reader);
    assert_eq!(status, 200, "{done}");
    let during = reader.seen.take().unwrap();
    assert_eq!(during["state"], "counting", "{during}");
    assert!(
        during["bytes_received"].as_u64().unwrap() >= half as u64,
        "{during}"
    );
    assert!(during["impact"].is_null());
    assert_eq!(done["state"], "done");
    assert_eq!(done["rows"], 5_000);
    assert_eq!(done["bytes_received"], csv.len());
    assert_eq!(
        done["impact"], impact,
        "a run's report is the one-shot route's"
    );
    assert!(done["links"]["population"].is_null());
    let (status, again) = s.get(&format!("/v1/impact-runs/{id}"), Some(&reviewer));
    assert_eq!((status, &again["impact"]), (200, &impact));
    // One population per run.
    let (status, e) = s.put_raw(&upload, Some(&reviewer), "text/csv", csv.as_bytes());
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (409, Some("wrong_state"))
    );
    // Another county's team does not see it; an unknown id is unknown.
    let haishu = s.token(Role::County, "330203", "海曙");
    let (status, e) = s.get(&format!("/v1/impact-runs/{id}"), Some(&haishu));
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (404, Some("unknown_run"))
    );
    let (status, _) = s.get("/v1/impact-runs/00", Some(&reviewer));
    assert_eq!(status, 404);
    let (status, _) = s.get(&format!("/v1/impact-runs/{id}"), None);
    assert_eq!(status, 401);
    // A file that cannot be read fails the run, which says why.
    let (_, run) = s.post_json(
        "/v1/counties/330282/impact-runs?as_of=2024-06-01",
        Some(&county),
        &serde_json::json!({}),
    );
    assert_eq!(run["as_of"], "2024-06-01");
    let upload = run["links"]["population"].as_str().unwrap();
    let (status, e) = s.put_raw(upload, Some(&county), "text/csv", b"id,age\nA,80\n");
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (400, Some("body")),
        "{e}"
    );
    let (_, failed) = s.get(
        &format!("/v1/impact-runs/{}", run["id"].as_str().unwrap()),
        Some(&county),
    );
    assert_eq!(failed["state"], "failed");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("hukou"),
        "{failed}"
    );
    let (status, e) = s.post_json(
        "/v1/counties/330282/impact-runs?as_of=1999-01-01",
        Some(&county),
        &serde_json::json!({}),
    );
    assert_eq!(
        (status, e["error"]["field"].as_str()),
        (409, Some("as_of")),
        "{e}"
    );
}

/// A request body sent in two halves, with a look at the server in
/// between (while the request is still open).
struct Halves {
    first: Vec<u8>,
    rest: Vec<u8>,
    seen: Option<serde_json::Value>,
    look: Box<dyn Fn() -> serde_json::Value>,
}

impl std::io::Read for Halves {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.first.is_empty() {
            let n = buf.len().min(self.first.len());
            buf[..n].copy_from_slice(&self.first[..n]);
            self.first.drain(..n);
            return Ok(n);
        }
        if self.seen.is_none() {
            self.seen = Some((self.look)());
        }
        let n = buf.len().min(self.rest.len());
        buf[..n].copy_from_slice(&self.rest[..n]);
        self.rest.drain(..n);
        Ok(n)
    }
}

//! The floor proof and the run-time guard, with real guest components built
//! from source: every example plugin passes over the whole domain and is
//! served from exactly the table proven; every below-baseline fixture fails
//! with the right counterexample; every fixture that answers differently
//! depending on how it is asked is either rejected naming the person, or
//! served its proven table; every hostile fixture ends in its typed error
//! with the process alive, and the elder gets the baseline.

use crate::worker;
use qingdan::catalogue::{BaselineTable, Catalogue, Library, accepts};
use qingdan::evaluate::{self, Binding, County, Fault, PluginRef, Served, Status};
use qingdan::model::{Ability, Assistance, Benefit, DOMAIN_SIZE, Hukou, Line, Person, Shortfall};
use qingdan::runtime::{CallError, FIXED_WALL_CLOCK_SECONDS, Limits, LoadError, Plugin, Runtime};
use qingdan::table::{AnswerTable, Outcome};
use qingdan::verify::{self, Options, Proof, Report};
use qingdan_guests::{fixtures, plugins};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Limits::default(), worker()).unwrap())
}

fn library() -> &'static Library {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY.get_or_init(|| Library::load_dir(&root().join("catalogues")).unwrap())
}

fn date(text: &str) -> jiff::civil::Date {
    text.parse().unwrap()
}

fn baseline(code: &str) -> &'static Catalogue {
    library().in_force(code, date("2026-06-01")).unwrap()
}

fn load(path: &str) -> Plugin {
    runtime().load_file(std::path::Path::new(path)).unwrap()
}

/// The proof of a component (computed once per test binary).
fn proof(path: &str, code: &str) -> Arc<Proof> {
    static PROOFS: OnceLock<Mutex<HashMap<String, Arc<Proof>>>> = OnceLock::new();
    let proofs = PROOFS.get_or_init(Default::default);
    let key = format!("{path} {code}");
    if let Some(p) = proofs.lock().unwrap().get(&key) {
        return p.clone();
    }
    let plugin = load(path);
    let p =
        Arc::new(verify::verify(&plugin, baseline(code), &Options::default(), &|_, _| {}).unwrap());
    proofs.lock().unwrap().insert(key, p.clone());
    p
}

fn prove(path: &str, code: &str) -> Report {
    proof(path, code).report.clone()
}

/// The production path: the proven table, stored and read back through its
/// digest, bound to the edition, and served under the guard; or, when no
/// table could be materialised, the baseline with the proof's first fault.
fn serve(path: &str, person: &Person) -> evaluate::Evaluation {
    let proof = proof(path, "330200");
    let catalogue = baseline("330200");
    match &proof.table {
        Some(table) => {
            let stored = AnswerTable::decode(&table.encoded(), Some(table.digest())).unwrap();
            let served = Served::new(Arc::new(stored), catalogue).unwrap();
            evaluate::evaluate(
                catalogue,
                County::Table(&served),
                person,
                date("2026-06-01"),
            )
        }
        None => {
            let plugin = PluginRef {
                digest: proof.report.subject.digest.clone(),
                county_code: proof.report.subject.county_code.clone(),
                county_name: proof.report.subject.county_name.clone(),
                table: None,
            };
            let fault = match proof.report.faults.first() {
                Some(first) => Fault {
                    kind: first.kind.clone(),
                    message: first.message.clone(),
                },
                None => Fault {
                    kind: "nondeterministic".into(),
                    message: "the two materialisations differ".into(),
                },
            };
            evaluate::evaluate(
                catalogue,
                County::Unavailable(&plugin, &fault),
                person,
                date("2026-06-01"),
            )
        }
    }
}

#[test]
fn every_example_plugin_passes_over_the_whole_domain() {
    for (path, code) in [
        (plugins::CIXI, "330200"),
        (plugins::ZHENHAI, "330200"),
        (plugins::JIANGLING, "421000"),
        (plugins::YUANZHOU, "360900"),
    ] {
        let proof = proof(path, code);
        let report = &proof.report;
        assert!(report.passed, "{path}:\n{report}");
        assert_eq!(report.persons, DOMAIN_SIZE as u64);
        assert!(report.failures.is_empty() && report.determinism.mismatch.is_none());
        assert_eq!(report.fault_count, 0);
        let table = proof.table.as_ref().unwrap();
        let info = report.table.as_ref().unwrap();
        assert_eq!(info.digest, table.digest());
        assert_eq!(
            report.determinism.second_table.as_deref(),
            Some(table.digest())
        );
        assert!(report.fuel.first_pass > 0 && report.fuel.second_pass > 0);
        assert!(
            report.fuel.first_pass + report.fuel.second_pass < report.fuel.budget / 10,
            "{path}: {:?}",
            report.fuel
        );
        // Served exactly as proven: a person's lines under the guard are
        // the table's, and an approved table needs no clamp.
        let catalogue = baseline(code);
        let stored = AnswerTable::decode(&table.encoded(), Some(&info.digest)).unwrap();
        assert_eq!(&stored, table);
        let served = Served::new(Arc::new(stored), catalogue).unwrap();
        for index in (0..DOMAIN_SIZE).step_by(97) {
            let person = Person::from_index(index).unwrap();
            let e = evaluate::evaluate(
                catalogue,
                County::Table(&served),
                &person,
                date("2026-06-01"),
            );
            assert!(e.clamps.is_empty() && e.fault.is_none(), "{path}: {e}");
            assert_eq!(
                e.plugin.as_ref().unwrap().table.as_deref(),
                Some(table.digest())
            );
        }
    }
}

#[test]
fn cixi_report_shows_lower_threshold_more_frequent_assessment_and_bathing() {
    let report = prove(plugins::CIXI, "330200");
    assert!(report.passed, "{report}");
    let widened = report
        .changes
        .widened
        .iter()
        .find(|c| c.item == "ability-assessment")
        .unwrap_or_else(|| panic!("no widened assessment:\n{report}"));
    assert_eq!(widened.group.ages, vec!["60-64".to_string()], "{report}");
    let raised = report
        .changes
        .raised
        .iter()
        .find(|c| c.item == "ability-assessment")
        .unwrap_or_else(|| panic!("no raised assessment:\n{report}"));
    assert_eq!(raised.group.ages, vec!["80-120".to_string()], "{report}");
    assert!(
        report
            .changes
            .extras
            .iter()
            .any(|c| c.item.contains("bathing")),
        "{report}"
    );
}

#[test]
fn zhenhai_raises_every_allowance_tier() {
    let report = prove(plugins::ZHENHAI, "330200");
    assert!(report.passed, "{report}");
    let raised = report
        .changes
        .raised
        .iter()
        .find(|c| c.item == "old-age-allowance")
        .unwrap_or_else(|| panic!("{report}"));
    // 70 − 60, 150 − 100 and 1000 − 800 yuan.
    assert_eq!(raised.delta_fen, Some((1_000, 20_000)), "{report}");
    assert_eq!(raised.group.ages, vec!["80-120".to_string()]);
    assert_eq!(raised.group.hukou, vec![Hukou::Local]);
}

#[test]
fn a_lowered_tier_fails_with_the_smallest_person() {
    let report = prove(fixtures::LOWERS_TIER, "330200");
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1, "{report}");
    let failure = &report.failures[0];
    assert_eq!(failure.item, "old-age-allowance");
    assert_eq!(failure.persons, 10 * 9_600);
    let smallest = &failure.counterexamples[0];
    assert_eq!(smallest.person, Person::aged(90));
    assert_eq!(smallest.baseline, Benefit::MonthlyCash { fen: 10_000 });
    assert_eq!(smallest.county, Some(Benefit::MonthlyCash { fen: 5_000 }));
    assert_eq!(smallest.shortfall, Shortfall::Lower);
    let text = report.to_string();
    assert!(text.contains("BELOW BASELINE: old-age-allowance"), "{text}");
    assert!(text.contains("age 90, hukou local"), "{text}");
}

/// The check runs over stretches of the domain, one per thread, merged in
/// domain order; the second materialisation's runs are taken by whichever
/// thread is free. Neither may show in the report.
#[test]
fn the_report_does_not_depend_on_the_number_of_threads() {
    let without_timing = |report: &Report| {
        let mut value = serde_json::to_value(report).unwrap();
        let object = value.as_object_mut().unwrap();
        object.remove("timing");
        object.remove("threads");
        value
    };
    for path in [fixtures::LOWERS_TIER, plugins::CIXI] {
        let plugin = load(path);
        let reports: Vec<_> = [1, 3]
            .into_iter()
            .map(|threads| {
                let options = Options {
                    threads,
                    ..Options::default()
                };
                let proof = verify::verify(&plugin, baseline("330200"), &options, &|_, _| {});
                without_timing(&proof.unwrap().report)
            })
            .collect();
        assert_eq!(reports[0], reports[1], "{path}");
        assert_eq!(reports[0], without_timing(&prove(path, "330200")), "{path}");
    }
}

#[test]
fn a_dropped_item_fails_only_at_that_age() {
    let report = prove(fixtures::DROPS_ITEM_AT_AGE, "330200");
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1, "{report}");
    let failure = &report.failures[0];
    assert_eq!(failure.item, "visits");
    assert!(!failure.counterexamples.is_empty());
    for c in &failure.counterexamples {
        assert_eq!(c.person.age, 75);
        assert_eq!(c.county, None);
        assert_eq!(c.shortfall, Shortfall::Missing);
    }
}

#[test]
fn a_longer_quota_period_fails_for_the_group_it_touches() {
    let report = prove(fixtures::CHANGES_QUOTA_PERIOD, "330200");
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1, "{report}");
    let failure = &report.failures[0];
    assert_eq!(failure.item, "ability-assessment");
    let smallest = &failure.counterexamples[0];
    assert_eq!(smallest.person.age, 65);
    assert_eq!(smallest.person.hukou, Hukou::NonLocal);
    assert_eq!(smallest.shortfall, Shortfall::Lower);
}

#[test]
fn history_and_batch_dependent_answers_are_rejected_naming_the_person() {
    for path in [
        fixtures::FIRST_CALL_DIFFERENT,
        fixtures::AFTER_N_CALLS_DIFFERENT,
        fixtures::BATCH_SIZE_DEPENDENT,
    ] {
        let proof = proof(path, "330200");
        let report = &proof.report;
        assert!(!report.passed, "{path}: {report}");
        assert!(report.failures.is_empty(), "{report}");
        assert!(
            proof.table.is_none(),
            "{path}: a nondeterministic table is not served"
        );
        let mismatch = report.determinism.mismatch.as_ref().unwrap();
        assert!(report.determinism.differing > 0);
        assert_ne!(mismatch.first, mismatch.second, "{report}");
        assert!(report.to_string().contains("NONDETERMINISTIC"));
        // The elder gets the baseline.
        let e = serve(path, &mismatch.person);
        let plain = evaluate::evaluate(
            baseline("330200"),
            County::None,
            &mismatch.person,
            date("2026-06-01"),
        );
        assert_eq!(lines_of(&e), lines_of(&plain), "{path}");
    }
    // The batch-size fixture lowers the allowance in small batches: the
    // second pass shows the 1 fen it would have paid.
    let report = prove(fixtures::BATCH_SIZE_DEPENDENT, "330200");
    let mismatch = report.determinism.mismatch.as_ref().unwrap();
    assert!(mismatch.second.contains("0.01 元/月"), "{report}");
    assert!(
        mismatch.person.age >= 80 && mismatch.person.hukou == Hukou::Local,
        "{report}"
    );
}

#[test]
fn a_batch_that_runs_out_after_others_is_run_again_in_a_fresh_instance() {
    // Honest answers whose cost grows with the instance's history (as an
    // interpreter's garbage collector makes them): small batches after a
    // few hundred persons run out of fuel, the same batches in a fresh
    // instance do not. Answers, not effort, are compared.
    let report = passes_despite_effort(fixtures::COSTS_GROW_WITH_HISTORY);
    assert!(report.fuel.retried_batches > 0, "{report}");
    assert!(
        report.to_string().contains("were run again in a fresh one"),
        "{report}"
    );
}

#[test]
fn a_batch_that_runs_out_in_a_fresh_instance_is_taken_in_halves() {
    // Honest answers whose first few in an instance are dear (as an
    // interpreter's first evaluations are): a small batch that is the
    // first of its instance runs out of fuel, each half of it does not.
    let report = passes_despite_effort(fixtures::DEAR_FIRST_ANSWERS);
    assert!(report.fuel.split_batches > 0, "{report}");
    assert!(
        report.to_string().contains("were taken in halves"),
        "{report}"
    );
}

/// The proof of an honest component under Ningbo's list, whatever its
/// calls cost: passed, no fault, a table to serve.
fn passes_despite_effort(fixture: &str) -> qingdan::verify::Report {
    let proof = proof(fixture, "330200");
    let report = proof.report.clone();
    assert!(report.passed, "{report}");
    assert!(report.faults.is_empty(), "{report}");
    assert!(proof.table.is_some());
    report
}

#[test]
fn halving_a_batch_that_keeps_running_out_is_bounded() {
    // Every batch of more than about 120 persons passes the memory cap:
    // halving one of 8,192 down to parts that fit would take more calls
    // than the halving of one batch may make. The proof fails there,
    // quickly, instead of spending a call per few hundred persons.
    let started = std::time::Instant::now();
    let proof = proof(fixtures::MEMORY_PER_PERSON, "330200");
    let report = &proof.report;
    assert!(!report.passed, "{report}");
    let fault = report.faults.first().expect("a fault");
    // Memory growth is charged as fuel: either runs out first.
    assert!(
        ["memory-limit", "out-of-fuel"].contains(&fault.kind.as_str()),
        "{report}"
    );
    assert!(
        fault.message.contains(&format!(
            "still ran out after {} calls",
            qingdan::verify::MAX_SPLIT_CALLS
        )),
        "{report}"
    );
    assert!(proof.table.is_none());
    eprintln!("refused in {:?}", started.elapsed());
}

fn lines_of(e: &evaluate::Evaluation) -> Vec<(String, Benefit, Status)> {
    e.lines
        .iter()
        .map(|l| (l.item.to_string(), l.benefit, l.status))
        .collect()
}

#[test]
fn a_component_whose_single_export_lies_is_served_its_proven_batch_table() {
    let proof = proof(fixtures::EXPORT_DIFFERS, "330200");
    assert!(proof.report.passed, "{}", proof.report);
    let table = proof.table.as_ref().unwrap();
    // An 85-year-old outside the old fixed sample: the single export says
    // 1 fen, the table (what is served) says the city's 60 yuan.
    let person = Person::aged(85);
    let plugin = load(fixtures::EXPORT_DIFFERS);
    let single = plugin
        .evaluate(&person, &ningbo_lines(&person, &plugin))
        .unwrap();
    assert!(
        single
            .lines
            .iter()
            .any(|l| l.item == 1 && l.benefit == Benefit::MonthlyCash { fen: 1 })
    );
    let served = serve(fixtures::EXPORT_DIFFERS, &person);
    let allowance = served
        .lines
        .iter()
        .find(|l| l.item == "old-age-allowance")
        .unwrap();
    assert_eq!(allowance.benefit, Benefit::MonthlyCash { fen: 6_000 });
    assert_eq!(allowance.status, Status::Baseline);
    assert_eq!(
        served.plugin.as_ref().unwrap().table.as_deref(),
        Some(table.digest())
    );
    // And nobody anywhere gets less than the baseline from the table.
    let catalogue = baseline("330200");
    let binding = Binding::new(catalogue, table.description()).unwrap();
    let cells = BaselineTable::new(catalogue);
    for person in Person::domain() {
        let Outcome::Lines(lines) = table.outcome(&person) else {
            panic!("{person:?}: no lines");
        };
        let read = binding.read(lines).unwrap();
        for line in cells.lines_of(&person) {
            let item = &catalogue.items[usize::from(line.item)];
            let county = read.county_line(usize::from(line.item));
            assert!(
                accepts(item, county.as_ref(), &line.benefit).is_ok(),
                "{person:?}"
            );
        }
    }
}

#[test]
fn a_component_honest_only_on_a_sample_fails_outside_it() {
    let report = prove(fixtures::SAMPLE_ONLY, "330200");
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1, "{report}");
    let failure = &report.failures[0];
    assert_eq!(failure.item, "old-age-allowance");
    let smallest = &failure.counterexamples[0];
    assert_eq!(smallest.person, Person::aged(80), "{report}");
    assert_eq!(smallest.county, Some(Benefit::MonthlyCash { fen: 1 }));
}

#[test]
fn a_worthless_line_does_not_realise_a_presence_only_item() {
    let report = prove(fixtures::WORTHLESS_LINE, "330200");
    assert!(!report.passed, "{report}");
    let failure = &report.failures[0];
    assert_eq!(failure.item, "employee-pension", "{report}");
    assert_eq!(failure.persons, DOMAIN_SIZE as u64);
    let smallest = &failure.counterexamples[0];
    assert_eq!(smallest.person, Person::aged(60));
    assert_eq!(smallest.shortfall, Shortfall::Worthless);
    assert!(report.to_string().contains("worth nothing"), "{report}");
}

fn ningbo_lines(person: &Person, plugin: &Plugin) -> Vec<Line> {
    let catalogue = baseline("330200");
    let binding = Binding::new(catalogue, plugin.description()).unwrap();
    let mut lines = Vec::new();
    catalogue.lines_into(person, &mut lines);
    binding.to_wire(&mut lines);
    lines
}

fn call(path: &str) -> Result<Vec<Line>, CallError> {
    let plugin = load(path);
    let person = Person::aged(92);
    let lines = ningbo_lines(&person, &plugin);
    plugin.evaluate(&person, &lines).map(|a| a.lines)
}

/// Served through the production path, a faulting plugin yields exactly
/// the baseline, with the fault; its proof names a person.
fn guarded_is_baseline(path: &str, kind: &str) {
    let catalogue = baseline("330200");
    let person = Person::aged(92);
    let guarded = serve(path, &person);
    let plain = evaluate::evaluate(catalogue, County::None, &person, date("2026-06-01"));
    let fault = guarded
        .fault
        .as_ref()
        .unwrap_or_else(|| panic!("{path}: no fault"));
    assert_eq!(fault.kind, kind, "{path}: {fault:?}");
    let benefits = |e: &evaluate::Evaluation| {
        e.lines
            .iter()
            .map(|l| (l.item.to_string(), l.benefit, l.status))
            .collect::<Vec<_>>()
    };
    assert_eq!(benefits(&guarded), benefits(&plain), "{path}");
    assert!(guarded.lines.iter().all(|l| l.status == Status::Baseline));
}

#[test]
fn an_endless_loop_runs_out_of_fuel_and_yields_the_baseline() {
    assert!(matches!(
        call(fixtures::ENDLESS_LOOP),
        Err(CallError::OutOfFuel { .. })
    ));
    guarded_is_baseline(fixtures::ENDLESS_LOOP, "out-of-fuel");
    let report = prove(fixtures::ENDLESS_LOOP, "330200");
    assert!(!report.passed);
    assert_eq!(report.faults[0].kind, "out-of-fuel", "{report}");
    assert_eq!(report.faults[0].person, Person::aged(60), "{report}");
}

#[test]
fn a_memory_hog_hits_the_memory_limit() {
    assert!(
        matches!(
            call(fixtures::MEMORY_HOG),
            Err(CallError::MemoryLimit { .. })
        ),
        "{:?}",
        call(fixtures::MEMORY_HOG)
    );
    guarded_is_baseline(fixtures::MEMORY_HOG, "memory-limit");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let outcome = call(fixtures::DEEP_RECURSION);
    assert!(
        matches!(outcome, Err(CallError::StackOverflow)),
        "{outcome:?}"
    );
    guarded_is_baseline(fixtures::DEEP_RECURSION, "stack-overflow");
}

#[test]
fn huge_output_is_malformed() {
    let outcome = call(fixtures::HUGE_OUTPUT);
    assert!(
        matches!(&outcome, Err(CallError::Malformed { field, .. } ) if field.contains("lines")),
        "{outcome:?}"
    );
    guarded_is_baseline(fixtures::HUGE_OUTPUT, "malformed");
}

#[test]
fn a_panic_is_an_unreachable_trap() {
    let outcome = call(fixtures::PANICS);
    assert!(
        matches!(&outcome, Err(CallError::Trap { kind, .. }) if kind.contains("unreachable")),
        "{outcome:?}"
    );
    guarded_is_baseline(fixtures::PANICS, "trap");
}

#[test]
fn wasi_files_and_sockets_are_not_there() {
    let outcome = call(fixtures::WASI_FILES);
    assert!(
        matches!(&outcome, Err(CallError::Guest { message }) if message.starts_with("cannot read /etc/passwd:")),
        "{outcome:?}"
    );
    let outcome = call(fixtures::WASI_SOCKETS);
    assert!(
        matches!(&outcome, Err(CallError::Guest { message }) if message.starts_with("cannot connect to 127.0.0.1:5432:")),
        "{outcome:?}"
    );
    guarded_is_baseline(fixtures::WASI_FILES, "guest-error");
}

#[test]
fn wasi_clock_and_random_are_fixed() {
    let first = call(fixtures::WASI_CLOCK).unwrap();
    let second = call(fixtures::WASI_CLOCK).unwrap();
    assert_eq!(
        first, second,
        "fresh instances must see the same clock and randomness"
    );
    let clock = first.iter().find(|l| l.item == 100).unwrap();
    assert_eq!(
        clock.benefit,
        Benefit::MonthlyCash {
            fen: FIXED_WALL_CLOCK_SECONDS
        }
    );
    assert!(first.iter().any(|l| l.item == 101));
}

#[test]
fn bad_components_are_refused_naming_the_problem() {
    let refused = |bytes: &[u8]| runtime().load(bytes).unwrap_err();
    assert!(matches!(
        refused(b"definitely not wasm"),
        LoadError::NotWasm
    ));
    assert!(matches!(refused(b"\0asm\x01\0\0\0"), LoadError::CoreModule));
    let forbidden = runtime()
        .load(&std::fs::read(fixtures::FORBIDDEN_IMPORT).unwrap())
        .unwrap_err();
    assert!(
        matches!(&forbidden, LoadError::ForbiddenImport { names } if names.iter().any(|n| n.contains("evil:net/fetch"))),
        "{forbidden}"
    );
    assert!(forbidden.to_string().contains("evil:net/fetch"));
    let wrong = runtime()
        .load(&std::fs::read(fixtures::WRONG_WORLD).unwrap())
        .unwrap_err();
    assert!(matches!(wrong, LoadError::WrongWorld { .. }), "{wrong}");
    assert!(wrong.to_string().contains("qingdan:county/county@0.1.0"));
}

#[test]
fn the_guard_clamps_a_lowered_tier_and_keeps_the_rest() {
    let evaluation = serve(fixtures::LOWERS_TIER, &Person::aged(92));
    assert!(evaluation.fault.is_none());
    let allowance = evaluation
        .lines
        .iter()
        .find(|l| l.item == "old-age-allowance")
        .unwrap();
    assert_eq!(allowance.status, Status::Clamped);
    assert_eq!(allowance.benefit, Benefit::MonthlyCash { fen: 10_000 });
    assert_eq!(evaluation.clamps.len(), 1);
    assert_eq!(
        evaluation.clamps[0].county,
        Some(Benefit::MonthlyCash { fen: 5_000 })
    );
}

#[test]
fn the_guard_tags_raised_and_county_lines() {
    let at = |person: Person| serve(plugins::CIXI, &person);
    // 62: the city assesses from 65, Cixi from 60.
    let young = at(Person::aged(62));
    let assessment = young
        .lines
        .iter()
        .find(|l| l.item == "ability-assessment")
        .unwrap();
    assert_eq!(assessment.status, Status::CountyExtra);
    assert_eq!(assessment.baseline, None);
    // 85: yearly instead of every two years.
    let old = at(Person::aged(85));
    let assessment = old
        .lines
        .iter()
        .find(|l| l.item == "ability-assessment")
        .unwrap();
    assert_eq!(assessment.status, Status::Raised, "{old}");
    // A dibao elder with moderate disability gets free bathing.
    let bathing = at(Person {
        assistance: Assistance::Dibao,
        ability: Ability::Moderate,
        ..Person::aged(70)
    });
    assert!(
        bathing
            .lines
            .iter()
            .any(|l| l.status == Status::CountyExtra && l.item.contains("bathing")),
        "{bathing}"
    );
}

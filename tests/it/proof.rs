//! The floor proof and the run-time guard, with real guest components built
//! from source: every example plugin passes over the whole domain, every
//! below-baseline fixture fails with the right counterexample, every hostile
//! fixture ends in its typed error with the process alive.

use qingdan::catalogue::{Catalogue, Library};
use qingdan::evaluate::{self, Binding, Status};
use qingdan::model::{Ability, Assistance, Benefit, DOMAIN_SIZE, Hukou, Line, Person, Shortfall};
use qingdan::runtime::{CallError, FIXED_WALL_CLOCK_SECONDS, Limits, LoadError, Plugin, Runtime};

use crate::worker;
use qingdan::verify::{self, Options, Report};
use qingdan_guests::{fixtures, plugins};
use std::path::PathBuf;
use std::sync::OnceLock;

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

fn prove(path: &str, code: &str) -> Report {
    let plugin = load(path);
    verify::verify(&plugin, baseline(code), &Options::default(), &|_, _| {}).unwrap()
}

#[test]
fn every_example_plugin_passes_over_the_whole_domain() {
    for (path, code) in [
        (plugins::CIXI, "330200"),
        (plugins::ZHENHAI, "330200"),
        (plugins::JIANGLING, "421000"),
        (plugins::YUANZHOU, "360900"),
    ] {
        let report = prove(path, code);
        assert!(report.passed, "{path}:\n{report}");
        assert_eq!(report.persons, DOMAIN_SIZE as u64);
        assert!(report.failures.is_empty() && report.mismatches.is_empty());
        assert_eq!(report.fault_count, 0);
        assert!(report.probed > 0);
        assert!(
            report.fuel.sample_max > 0 && report.fuel.sample_max <= report.fuel.limit_per_person
        );
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
fn history_dependent_answers_are_caught_by_the_probe() {
    for path in [
        fixtures::FIRST_CALL_DIFFERENT,
        fixtures::AFTER_N_CALLS_DIFFERENT,
    ] {
        let report = prove(path, "330200");
        assert!(!report.passed, "{path}: {report}");
        assert!(report.failures.is_empty(), "{report}");
        assert!(!report.mismatches.is_empty(), "{path}: {report}");
        assert!(report.to_string().contains("NONDETERMINISTIC"));
    }
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

/// Under the guard, a faulting plugin yields exactly the baseline.
fn guarded_is_baseline(path: &str, kind: &str) {
    let plugin = load(path);
    let catalogue = baseline("330200");
    let binding = Binding::new(catalogue, plugin.description()).unwrap();
    let person = Person::aged(92);
    let guarded = evaluate::evaluate(
        catalogue,
        Some((&plugin, &binding)),
        &person,
        date("2026-06-01"),
    );
    let plain = evaluate::evaluate(catalogue, None, &person, date("2026-06-01"));
    let fault = guarded
        .fault
        .as_ref()
        .unwrap_or_else(|| panic!("{path}: no fault"));
    assert_eq!(fault.kind, kind, "{path}: {fault:?}");
    let benefits = |e: &evaluate::Evaluation| {
        e.lines
            .iter()
            .map(|l| (l.item.clone(), l.benefit, l.status))
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
    assert_eq!(report.faults[0].person, Some(Person::aged(60)), "{report}");
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
    let plugin = load(fixtures::LOWERS_TIER);
    let catalogue = baseline("330200");
    let binding = Binding::new(catalogue, plugin.description()).unwrap();
    let evaluation = evaluate::evaluate(
        catalogue,
        Some((&plugin, &binding)),
        &Person::aged(92),
        date("2026-06-01"),
    );
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
    let plugin = load(plugins::CIXI);
    let catalogue = baseline("330200");
    let binding = Binding::new(catalogue, plugin.description()).unwrap();
    let at = |person: Person| {
        evaluate::evaluate(
            catalogue,
            Some((&plugin, &binding)),
            &person,
            date("2026-06-01"),
        )
    };
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

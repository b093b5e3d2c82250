//! The runtime against real guests built from source (`qingdan-guests`): the
//! example county plugins load and answer, and every hostile fixture is
//! contained with the error `tests/fixtures/README.md` promises, while the
//! process stays up.

// The helpers below are test code outside `#[test]` functions: a failed
// unwrap there is a failed test, as in the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use qingdan::model::{Benefit, Line, Person};
use qingdan::runtime::{CallError, FIXED_WALL_CLOCK_SECONDS, Limits, LoadError, Plugin, Runtime};
use qingdan_guests::{fixtures, plugins};

use crate::worker;

fn runtime() -> Runtime {
    Runtime::new(
        Limits {
            max_instances: 4,
            ..Limits::default()
        },
        worker(),
    )
    .unwrap()
}

fn load(runtime: &Runtime, path: &str) -> Plugin {
    runtime
        .load_file(Path::new(path))
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn eval(plugin: &Plugin, age: u8) -> Result<Vec<Line>, CallError> {
    plugin
        .evaluate(&Person::aged(age), &[])
        .map(|answer| answer.lines)
}

#[test]
fn every_county_plugin_loads_and_answers() {
    let runtime = runtime();
    for path in [
        plugins::CIXI,
        plugins::ZHENHAI,
        plugins::JIANGLING,
        plugins::YUANZHOU,
    ] {
        let plugin = load(&runtime, path);
        assert!(
            !plugin.imports_wasi(),
            "{path}: a county plugin imports nothing"
        );
        let d = plugin.description();
        assert_eq!(d.county_code.len(), 6, "{path}");
        for age in [60, 75, 90, 120] {
            eval(&plugin, age).unwrap_or_else(|e| panic!("{path} at {age}: {e}"));
        }
        let mut session = plugin.session().unwrap();
        let persons: Vec<_> = Person::domain().step_by(1009).map(|p| (p, 0)).collect();
        let answers = session.evaluate_batch(&[vec![]], &persons).unwrap();
        assert_eq!(answers.outcomes.len(), persons.len());
    }
}

#[test]
fn garbage_and_core_modules_are_refused() {
    let runtime = runtime();
    assert!(matches!(
        runtime.load(b"not wasm at all"),
        Err(LoadError::NotWasm)
    ));
    assert!(matches!(
        runtime.load(b"\0asm\x01\0\0\0"),
        Err(LoadError::CoreModule)
    ));
}

#[test]
fn a_forbidden_import_is_refused_and_named() {
    match runtime().load_file(Path::new(fixtures::FORBIDDEN_IMPORT)) {
        Err(LoadError::ForbiddenImport { names }) => {
            assert!(
                names.iter().any(|n| n.starts_with("evil:net/fetch")),
                "{names:?}"
            )
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
}

#[test]
fn a_component_of_another_world_is_refused() {
    match runtime().load_file(Path::new(fixtures::WRONG_WORLD)) {
        Err(LoadError::WrongWorld { exports, .. }) => {
            assert!(exports.iter().any(|e| e.contains("greet")), "{exports:?}")
        }
        other => panic!("expected the wrong world, got {other:?}"),
    }
}

#[test]
fn hostile_guests_are_contained_and_the_process_survives() {
    let runtime = runtime();

    let err = eval(&load(&runtime, fixtures::ENDLESS_LOOP), 90).unwrap_err();
    assert!(
        matches!(err, CallError::OutOfFuel { .. }),
        "endless loop: {err}"
    );

    let err = eval(&load(&runtime, fixtures::MEMORY_HOG), 90).unwrap_err();
    assert!(
        matches!(err, CallError::MemoryLimit { .. }),
        "memory hog: {err}"
    );

    let err = eval(&load(&runtime, fixtures::DEEP_RECURSION), 90).unwrap_err();
    assert!(
        matches!(err, CallError::StackOverflow),
        "deep recursion: {err}"
    );

    let err = eval(&load(&runtime, fixtures::HUGE_OUTPUT), 90).unwrap_err();
    assert!(
        matches!(&err, CallError::Malformed { field, .. } if field.contains("lines")),
        "huge output: {err}"
    );

    let err = eval(&load(&runtime, fixtures::PANICS), 90).unwrap_err();
    assert!(
        matches!(&err, CallError::Trap { kind, .. } if kind == "unreachable"),
        "panics: {err}"
    );

    // Still serving after all of that.
    let cixi = load(&runtime, plugins::CIXI);
    assert!(eval(&cixi, 90).is_ok());
}

#[test]
fn a_trapped_session_is_poisoned() {
    let plugin = load(&runtime(), fixtures::PANICS);
    let mut session = plugin.session().unwrap();
    let persons = [(Person::aged(90), 0)];
    assert!(session.evaluate_batch(&[vec![]], &persons).is_err());
    let again = session.evaluate_batch(&[vec![]], &persons).unwrap_err();
    assert!(matches!(again, CallError::Poisoned(_)), "{again}");
}

#[test]
fn wasi_guests_see_no_files_and_no_network() {
    let runtime = runtime();
    let files = load(&runtime, fixtures::WASI_FILES);
    assert!(files.imports_wasi());
    match eval(&files, 90) {
        Err(CallError::Guest { message }) => {
            assert!(message.starts_with("cannot read /etc/passwd:"), "{message}")
        }
        other => panic!("the sandbox leaked a file: {other:?}"),
    }
    let sockets = load(&runtime, fixtures::WASI_SOCKETS);
    match eval(&sockets, 90) {
        Err(CallError::Guest { message }) => {
            assert!(
                message.starts_with("cannot connect to 127.0.0.1:5432:"),
                "{message}"
            )
        }
        other => panic!("the sandbox leaked the network: {other:?}"),
    }
}

#[test]
fn wasi_clocks_and_randomness_are_fixed() {
    let plugin = load(&runtime(), fixtures::WASI_CLOCK);
    let first = eval(&plugin, 90).unwrap();
    let clock = first.iter().find(|l| l.item == 100).unwrap();
    assert_eq!(
        clock.benefit,
        Benefit::MonthlyCash {
            fen: FIXED_WALL_CLOCK_SECONDS
        }
    );
    assert!(first.iter().any(|l| l.item == 101));
    // The same in a fresh instance and in a session.
    assert_eq!(eval(&plugin, 90).unwrap(), first);
    let mut session = plugin.session().unwrap();
    let batch = session
        .evaluate_batch(&[vec![]], &[(Person::aged(90), 0)])
        .unwrap();
    assert_eq!(batch.answers[batch.outcomes[0] as usize], first);
}

#[test]
fn fresh_instances_forget_and_sessions_remember() {
    let plugin = load(&runtime(), fixtures::FIRST_CALL_DIFFERENT);
    // Every evaluation is the first call of a fresh instance.
    let a = eval(&plugin, 90).unwrap();
    let b = eval(&plugin, 90).unwrap();
    assert_eq!(a, b);
    assert!(a.iter().any(|l| l.item == 100));
    // In one session the second person no longer gets the bonus.
    let mut session = plugin.session().unwrap();
    let answers = session
        .evaluate_batch(&[vec![]], &[(Person::aged(90), 0), (Person::aged(90), 0)])
        .unwrap();
    assert_ne!(answers.outcomes[0], answers.outcomes[1]);
}

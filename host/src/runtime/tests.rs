//! Unit tests of the runtime with tiny components written in WebAssembly
//! text: everything that needs no canonical ABI. Tests with real guests
//! (example plugins and hostile fixtures built from source) are in the
//! integration tests (`tests/it/runtime.rs`).

use super::*;

fn runtime() -> Runtime {
    Runtime::new(Limits {
        max_instances: 2,
        ..Limits::default()
    })
    .unwrap()
}

fn load_err(bytes: &[u8]) -> LoadError {
    runtime().load(bytes).unwrap_err()
}

#[test]
fn garbage_bytes_are_not_webassembly() {
    let err = load_err(b"PK\x03\x04 this is a zip file");
    assert!(matches!(err, LoadError::NotWasm), "{err}");
    assert!(err.to_string().contains("not a WebAssembly file"), "{err}");
    assert!(matches!(load_err(&[]), LoadError::NotWasm));
}

#[test]
fn a_core_module_is_not_a_component() {
    let err = load_err(b"\0asm\x01\0\0\0");
    assert!(matches!(err, LoadError::CoreModule), "{err}");
    assert!(err.to_string().contains("not a component"), "{err}");
    assert!(matches!(
        load_err(b"(module (func))"),
        LoadError::CoreModule
    ));
}

#[test]
fn an_oversized_component_is_refused_before_parsing() {
    let runtime = Runtime::new(Limits {
        max_component_bytes: 16,
        max_instances: 1,
        ..Limits::default()
    })
    .unwrap();
    let err = runtime.load(&[0u8; 17]).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::TooLarge {
                size: 17,
                limit: 16
            }
        ),
        "{err}"
    );
}

#[test]
fn a_broken_component_reports_wasmtimes_reason() {
    let err = load_err(b"\0asm\x0d\0\x01\0\xff\xff\xff");
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
    let err = load_err(b"(component (export \"x\" (func $missing)))");
    assert!(matches!(err, LoadError::Invalid { .. }), "{err}");
}

#[test]
fn every_forbidden_import_is_named() {
    let err = load_err(
        br#"(component
            (import "acme:net/http" (instance))
            (import "wasi:random/insecure-seed@0.2.3" (instance))
            (import "wasi:http/outgoing-handler@0.2.0" (instance))
        )"#,
    );
    match &err {
        LoadError::ForbiddenImport { names } => assert_eq!(
            names,
            &["acme:net/http", "wasi:http/outgoing-handler@0.2.0"]
        ),
        other => panic!("expected a forbidden import, got {other}"),
    }
    let message = err.to_string();
    assert!(message.contains("`acme:net/http`"), "{message}");
    assert!(
        message.contains("`wasi:http/outgoing-handler@0.2.0`"),
        "{message}"
    );
}

#[test]
fn provided_wasi_imports_pass_the_import_check() {
    // A WASI import the host provides is allowed; this component then fails
    // only because it exports nothing.
    let err = load_err(
        br#"(component
            (import "wasi:random/insecure-seed@0.2.3" (instance
                (export "insecure-seed" (func (result (tuple u64 u64))))))
        )"#,
    );
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
}

#[test]
fn a_component_without_exports_is_the_wrong_world() {
    let err = load_err(b"(component)");
    match &err {
        LoadError::WrongWorld {
            expected, exports, ..
        } => {
            assert_eq!(expected, "qingdan:county/county@0.1.0");
            assert!(exports.is_empty());
        }
        other => panic!("expected the wrong world, got {other}"),
    }
    assert!(err.to_string().contains("exports nothing"), "{err}");
}

#[test]
fn a_component_of_another_world_says_what_it_exports() {
    let err = load_err(
        br#"(component
            (core module $m (func (export "run")))
            (core instance $i (instantiate $m))
            (func $run (canon lift (core func $i "run")))
            (export "run" (func $run))
            (instance $county (export "describe" (func $run)))
            (export "qingdan:county/county@0.1.0" (instance $county))
        )"#,
    );
    match &err {
        LoadError::WrongWorld {
            problem, exports, ..
        } => {
            assert!(problem.contains("evaluate, evaluate-batch"), "{problem}");
            assert!(exports.iter().any(|e| e == "function run"), "{exports:?}");
        }
        other => panic!("expected the wrong world, got {other}"),
    }
}

#[test]
fn exports_with_the_right_names_but_wrong_types_are_the_wrong_world() {
    let err = load_err(
        br#"(component
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $county
                (export "describe" (func $f))
                (export "evaluate" (func $f))
                (export "evaluate-batch" (func $f)))
            (export "qingdan:county/county@0.1.0" (instance $county))
        )"#,
    );
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err}");
}

#[test]
fn limits_scale_with_the_batch() {
    let limits = Limits::default();
    assert_eq!(
        limits.fuel_for(1),
        DEFAULT_FUEL_PER_EVALUATION + DEFAULT_FUEL_BASE
    );
    assert_eq!(
        limits.fuel_for(4096),
        4096 * DEFAULT_FUEL_PER_EVALUATION + DEFAULT_FUEL_BASE
    );
    assert_eq!(limits.deadline_for(0), DEFAULT_DEADLINE);
    assert_eq!(limits.deadline_for(1024), DEFAULT_DEADLINE);
    assert_eq!(limits.deadline_for(1025), 2 * DEFAULT_DEADLINE);
    let huge = Limits {
        fuel_per_evaluation: u64::MAX,
        ..Limits::default()
    };
    assert_eq!(huge.fuel_for(2), u64::MAX);
}

#[test]
fn the_runtime_is_shareable_and_sessions_move_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Runtime>();
    send_sync::<Plugin>();
    send::<Session>();
}

#[test]
fn dropping_the_runtime_stops_the_ticker() {
    // Would hang if the ticker thread were not told to stop.
    for _ in 0..3 {
        drop(runtime());
    }
}

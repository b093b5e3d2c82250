//! Unit tests of the runtime with tiny components written in WebAssembly
//! text: everything that needs no canonical ABI. Tests with real guests
//! (example plugins and hostile fixtures built from source) are in the
//! integration tests (`tests/it/runtime.rs`).

use super::*;
use crate::model::{Benefit, HOST_CODES_FROM};

/// A county component written by hand in WebAssembly text, so that the whole
/// call path is tested without a guest toolchain. It describes itself as
/// county `COUNTY` (replaced by the test), passes the baseline through, and
/// misbehaves on purpose for some ages:
///
/// | age | `evaluate` | `evaluate-batch` |
/// |---|---|---|
/// | 61 | endless loop | endless loop |
/// | 62 | grows memory until refused, then traps | — |
/// | 63 | unbounded recursion | — |
/// | 64 | `unreachable` (a Rust panic) | — |
/// | 65 | returns the error "no rule" | — |
/// | 66 | a quota of 1 per 0 months | — |
/// | 67 | 100,000 lines | — |
/// | 69 | — | answer index 99 (out of range) |
const COUNTY_WAT: &str = r##"(component
  (core module $m
    (memory (export "memory") 1)
    (global $heap (mut i32) (i32.const 4096))
    (data (i32.const 0) "\64\00\00\00\06\00\00\00\6e\00\00\00\09\00\00\00\78\00\00\00\06\00\00\00\c8\00\00\00\01\00\00\00\2c\01\00\00\01\00\00\00")
    (data (i32.const 100) "COUNTY")
    (data (i32.const 110) "\e6\85\88\e6\ba\aa\e5\b8\82")
    (data (i32.const 120) "330200")
    (data (i32.const 140) "old-age-allowance")
    (data (i32.const 160) "priority-admission")
    (data (i32.const 180) "\e4\bc\98\e5\85\88\e5\85\a5\e4\bd\8f")
    (data (i32.const 200) "\00\00\00\00\8c\00\00\00\11\00\00\00")
    (data (i32.const 300) "\01\00\00\00\a0\00\00\00\12\00\00\00\b4\00\00\00\0c\00\00\00\01\00\00\00\90\01\00\00\04\00\00\00")
    (data (i32.const 400) "test")
    (data (i32.const 420) "no rule")
    (data (i32.const 600) "\01\00\00\00\00\00\00\00\01\00\00\00\00\00\00\00\01\00\00\00\00\00\00\00")
    (func $realloc (export "realloc") (param i32 i32 i32 i32) (result i32)
      (local $p i32)
      (local.set $p (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get 2) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get 2))))
      (global.set $heap (i32.add (local.get $p) (local.get 3)))
      (block $ok
        (loop $grow
          (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
          (br_if $grow (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))
          unreachable))
      (local.get $p))
    (func $rec (param i32) (result i32)
      (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
    (func (export "describe") (result i32) (i32.const 0))
    (func (export "evaluate")
      (param $age i32) (param i32 i32 i32 i32 i32 i32 i32) (param $ptr i32) (param $len i32)
      (result i32)
      (if (i32.eq (local.get $age) (i32.const 61)) (then (loop $forever (br $forever))))
      (if (i32.eq (local.get $age) (i32.const 62)) (then
        (loop $hog (br_if $hog (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
        unreachable))
      (if (i32.eq (local.get $age) (i32.const 63)) (then (drop (call $rec (i32.const 0)))))
      (if (i32.eq (local.get $age) (i32.const 64)) (then unreachable))
      (if (i32.eq (local.get $age) (i32.const 65)) (then
        (i32.store8 (i32.const 500) (i32.const 1))
        (i32.store (i32.const 504) (i32.const 420))
        (i32.store (i32.const 508) (i32.const 7))
        (return (i32.const 500))))
      (if (i32.eq (local.get $age) (i32.const 66)) (then
        (local.set $ptr (i32.const 600))
        (local.set $len (i32.const 1))))
      (if (i32.eq (local.get $age) (i32.const 67)) (then
        (drop (memory.grow (i32.const 64)))
        (local.set $ptr (i32.const 8192))
        (local.set $len (i32.const 100000))))
      (i32.store8 (i32.const 500) (i32.const 0))
      (i32.store (i32.const 504) (local.get $ptr))
      (i32.store (i32.const 508) (local.get $len))
      (i32.const 500))
    (func (export "evaluate-batch") (param $bptr i32) (param $blen i32) (param $pptr i32) (param $plen i32) (result i32)
      (local $out i32) (local $i i32) (local $p i32)
      (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 4) (i32.mul (local.get $plen) (i32.const 4))))
      (block $done
        (loop $each
          (br_if $done (i32.ge_u (local.get $i) (local.get $plen)))
          (local.set $p (i32.add (local.get $pptr) (i32.mul (local.get $i) (i32.const 12))))
          (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 61)) (then (loop $forever (br $forever))))
          (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 69))
            (then (i32.store (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 4))) (i32.const 99)))
            (else (i32.store (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 4)))
              (i32.load (i32.add (local.get $p) (i32.const 8))))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $each)))
      (i32.store (i32.const 700) (local.get $bptr))
      (i32.store (i32.const 704) (local.get $blen))
      (i32.store (i32.const 708) (local.get $out))
      (i32.store (i32.const 712) (local.get $plen))
      (i32.store (i32.const 716) (i32.const 8))
      (i32.store (i32.const 720) (i32.const 0))
      (i32.const 700))
  )
  (core instance $i (instantiate $m))
  (alias core export $i "memory" (core memory $mem))
  (alias core export $i "realloc" (core func $realloc))

  (type $hukou' (enum "local" "non-local"))
  (export $hukou "hukou" (type $hukou'))
  (type $ability' (enum "unassessed" "intact" "mild" "moderate" "severe" "complete"))
  (export $ability "ability" (type $ability'))
  (type $assistance' (enum "none" "low-income" "dibao-edge" "dibao" "tekun"))
  (export $assistance "assistance" (type $assistance'))
  (type $disability' (enum "none" "grade4" "grade3" "grade2" "grade1"))
  (export $disability "disability" (type $disability'))
  (type $living' (flags "alone" "empty-nest" "left-behind" "childless-widowed"))
  (export $living "living" (type $living'))
  (type $person' (record (field "age" u8) (field "hukou" $hukou) (field "ability" $ability)
    (field "assistance" $assistance) (field "disability" $disability) (field "living" $living)
    (field "family-planning-special" bool) (field "veteran-entitled" bool)))
  (export $person "person" (type $person'))
  (type $quota' (record (field "count" u32) (field "months" u32)))
  (export $quota "quota" (type $quota'))
  (type $one-off' (record (field "fixed" u64) (field "percent" u8) (field "cap" u64)))
  (export $one-off "one-off" (type $one-off'))
  (type $voucher' (record (field "percent" u8) (field "monthly-cap" u64)))
  (export $voucher "voucher" (type $voucher'))
  (type $benefit' (variant (case "monthly-cash" u64) (case "quota" $quota) (case "one-off" $one-off)
    (case "voucher" $voucher) (case "right")))
  (export $benefit "benefit" (type $benefit'))
  (type $line' (record (field "item" u16) (field "benefit" $benefit)))
  (export $line "line" (type $line'))
  (type $category' (enum "material-assistance" "care-service" "caring-service"))
  (export $category "category" (type $category'))
  (type $baseline-item' (record (field "code" u16) (field "key" string)))
  (export $baseline-item "baseline-item" (type $baseline-item'))
  (type $extra-item' (record (field "code" u16) (field "key" string) (field "name" string)
    (field "category" $category) (field "legal-basis" string)))
  (export $extra-item "extra-item" (type $extra-item'))
  (type $description' (record (field "county-code" string) (field "county-name" string)
    (field "baseline" string) (field "baseline-items" (list $baseline-item))
    (field "extra-items" (list $extra-item))))
  (export $description "description" (type $description'))
  (type $batch' (record (field "baselines" (list (list $line))) (field "persons" (list (tuple $person u32)))))
  (export $batch "batch" (type $batch'))
  (type $batch-answers' (record (field "answers" (list (list $line))) (field "outcomes" (list u32))
    (field "errors" (list (tuple u32 string)))))
  (export $batch-answers "batch-answers" (type $batch-answers'))

  (instance $types
    (export "hukou" (type $hukou))
    (export "ability" (type $ability))
    (export "assistance" (type $assistance))
    (export "disability" (type $disability))
    (export "living" (type $living))
    (export "person" (type $person))
    (export "quota" (type $quota))
    (export "one-off" (type $one-off))
    (export "voucher" (type $voucher))
    (export "benefit" (type $benefit))
    (export "line" (type $line))
    (export "category" (type $category))
    (export "baseline-item" (type $baseline-item))
    (export "extra-item" (type $extra-item))
    (export "description" (type $description))
    (export "batch" (type $batch))
    (export "batch-answers" (type $batch-answers))
  )
  (export "qingdan:county/types@0.1.0" (instance $types))

  (func $describe (result $description)
    (canon lift (core func $i "describe") (memory $mem) (realloc $realloc)))
  (func $evaluate (param "who" $person) (param "baseline" (list $line))
    (result (result (list $line) (error string)))
    (canon lift (core func $i "evaluate") (memory $mem) (realloc $realloc)))
  (func $evaluate-batch (param "work" $batch) (result $batch-answers)
    (canon lift (core func $i "evaluate-batch") (memory $mem) (realloc $realloc)))
  (instance $county
    (export "describe" (func $describe))
    (export "evaluate" (func $evaluate))
    (export "evaluate-batch" (func $evaluate-batch)))
  (export "qingdan:county/county@0.1.0" (instance $county))
)
"##;

fn county(code: &str) -> Vec<u8> {
    COUNTY_WAT.replace("COUNTY", code).into_bytes()
}

fn small(limits: Limits) -> Runtime {
    Runtime::new(
        Limits {
            max_instances: 2,
            ..limits
        },
        Compiler::InProcess,
    )
    .unwrap()
}

fn plugin() -> Plugin {
    runtime().load(&county("330282")).unwrap()
}

fn baseline() -> Vec<Line> {
    vec![
        Line {
            item: 0,
            benefit: Benefit::MonthlyCash { fen: 6000 },
        },
        Line {
            item: HOST_CODES_FROM,
            benefit: Benefit::Right,
        },
    ]
}

fn eval(plugin: &Plugin, age: u8) -> Result<Answer, CallError> {
    plugin.evaluate(&Person::aged(age), &baseline())
}

fn runtime() -> Runtime {
    Runtime::new(
        Limits {
            max_instances: 2,
            ..Limits::default()
        },
        Compiler::InProcess,
    )
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
    let runtime = Runtime::new(
        Limits {
            max_component_bytes: 16,
            max_instances: 1,
            ..Limits::default()
        },
        Compiler::InProcess,
    )
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
            assert_eq!(
                expected,
                "qingdan:county/county@0.1.0 or qingdan:county/county@0.2.0"
            );
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
        limits.fuel_for(2),
        DEFAULT_FUEL_PER_EVALUATION + DEFAULT_FUEL_BASE
    );
    assert_eq!(
        limits.fuel_for(4096),
        4096 * DEFAULT_BATCH_FUEL_PER_PERSON + DEFAULT_FUEL_BASE
    );
    assert_eq!(limits.deadline_for(0), DEFAULT_DEADLINE);
    assert_eq!(limits.deadline_for(1024), DEFAULT_DEADLINE);
    assert_eq!(limits.deadline_for(1025), 2 * DEFAULT_DEADLINE);
    let huge = Limits {
        batch_fuel_per_person: u64::MAX,
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

#[test]
fn a_component_loads_describes_itself_and_is_cached_in_memory() {
    let runtime = runtime();
    let plugin = runtime.load(&county("330282")).unwrap();
    assert!(plugin.digest().starts_with("sha256:"));
    assert_eq!(plugin.digest().len(), "sha256:".len() + 64);
    assert!(!plugin.imports_wasi());
    assert_eq!(plugin.load_source(), LoadSource::Compiled);
    let d = plugin.description();
    assert_eq!(
        (
            d.county_code.as_str(),
            d.county_name.as_str(),
            d.baseline.as_str()
        ),
        ("330282", "慈溪市", "330200")
    );
    assert_eq!(d.baseline_items[0].key, "old-age-allowance");
    assert_eq!(d.extra_items[0].name, "优先入住");
    assert_eq!(d.extra_items[0].category, Category::CareService);

    let again = runtime.load(&county("330282")).unwrap();
    assert_eq!(again.load_source(), LoadSource::MemoryCache);
    assert_eq!(again.digest(), plugin.digest());
}

#[test]
fn an_invalid_description_is_refused_naming_the_field() {
    let err = runtime().load(&county("33028x")).unwrap_err();
    match err {
        LoadError::BadDescription { field, problem } => {
            assert_eq!(field, "county-code");
            assert!(problem.contains("six-digit"), "{problem}");
        }
        other => panic!("expected a bad description, got {other}"),
    }
}

#[test]
fn evaluation_passes_lines_through_with_deterministic_fuel() {
    let plugin = plugin();
    let first = eval(&plugin, 90).unwrap();
    assert_eq!(first.lines, baseline());
    assert!(first.fuel > 0);
    assert!(first.log.is_empty());
    assert_eq!(eval(&plugin, 90).unwrap().fuel, first.fuel);
}

#[test]
fn an_endless_loop_runs_out_of_fuel() {
    let err = eval(&plugin(), 61).unwrap_err();
    assert_eq!(
        err,
        CallError::OutOfFuel {
            limit: Limits::default().fuel_for(1)
        }
    );
}

#[test]
fn the_deadline_stops_what_fuel_would_not() {
    let runtime = small(Limits {
        fuel_per_evaluation: u64::MAX / 2,
        deadline: Duration::from_millis(30),
        ..Limits::default()
    });
    let plugin = runtime.load(&county("330282")).unwrap();
    let started = Instant::now();
    match eval(&plugin, 61) {
        Err(CallError::Interrupted { after }) => {
            assert!(after >= Duration::from_millis(30), "{after:?}")
        }
        other => panic!("expected an interruption, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[test]
fn a_memory_hog_hits_the_memory_limit() {
    let err = eval(&plugin(), 62).unwrap_err();
    assert_eq!(
        err,
        CallError::MemoryLimit {
            limit_bytes: DEFAULT_MAX_MEMORY_BYTES
        }
    );
}

#[test]
fn unbounded_recursion_overflows_the_stack() {
    assert_eq!(eval(&plugin(), 63).unwrap_err(), CallError::StackOverflow);
}

#[test]
fn a_panic_is_an_unreachable_trap() {
    match eval(&plugin(), 64).unwrap_err() {
        CallError::Trap { kind, message } => {
            assert_eq!(kind, "unreachable");
            assert!(message.contains("unreachable"), "{message}");
        }
        other => panic!("expected a trap, got {other}"),
    }
}

#[test]
fn a_guest_error_is_kept_apart_from_traps() {
    assert_eq!(
        eval(&plugin(), 65).unwrap_err(),
        CallError::Guest {
            message: "no rule".into()
        }
    );
}

#[test]
fn malformed_and_oversized_answers_are_refused() {
    let plugin = plugin();
    match eval(&plugin, 66).unwrap_err() {
        CallError::Malformed { field, problem } => {
            assert_eq!(field, "lines[0].benefit");
            assert!(problem.contains("months"), "{problem}");
        }
        other => panic!("expected a malformed answer, got {other}"),
    }
    match eval(&plugin, 67).unwrap_err() {
        CallError::Malformed { field, problem } => {
            assert_eq!(field, "lines");
            assert!(problem.contains("100000 lines"), "{problem}");
        }
        other => panic!("expected a malformed answer, got {other}"),
    }
    // The plugin still works for everybody else.
    assert!(eval(&plugin, 90).is_ok());
}

#[test]
fn a_batch_interns_answers_and_checks_outcomes() {
    let plugin = plugin();
    let mut session = plugin.session().unwrap();
    let baselines = vec![baseline(), vec![]];
    let persons = vec![
        (Person::aged(70), 0),
        (Person::aged(80), 1),
        (Person::aged(90), 0),
    ];
    let answers = session.evaluate_batch(&baselines, &persons).unwrap();
    assert_eq!(answers.answers, baselines);
    assert_eq!(answers.outcomes, vec![0, 1, 0]);
    assert!(answers.errors.is_empty());
    assert!(answers.fuel > 0);

    let err = session
        .evaluate_batch(&baselines, &[(Person::aged(70), 0), (Person::aged(69), 0)])
        .unwrap_err();
    assert!(
        matches!(err, CallError::Malformed { ref field, .. } if field == "outcomes[1]"),
        "{err}"
    );
    // A malformed answer is not a trap: the session goes on.
    assert!(session.evaluate_batch(&baselines, &persons).is_ok());
    assert_eq!(session.calls(), 3);
}

#[test]
fn a_session_that_trapped_is_poisoned() {
    let plugin = plugin();
    let mut session = plugin.session().unwrap();
    let baselines = vec![baseline()];
    let err = session
        .evaluate_batch(&baselines, &[(Person::aged(61), 0)])
        .unwrap_err();
    assert!(matches!(err, CallError::OutOfFuel { .. }), "{err}");
    let again = session
        .evaluate_batch(&baselines, &[(Person::aged(90), 0)])
        .unwrap_err();
    assert!(matches!(again, CallError::Poisoned(_)), "{again}");
    // A fresh session is fine.
    let mut fresh = plugin.session().unwrap();
    assert!(
        fresh
            .evaluate_batch(&baselines, &[(Person::aged(90), 0)])
            .is_ok()
    );
}

#[test]
fn the_pool_caps_concurrent_instances() {
    let runtime = Runtime::new(
        Limits {
            max_instances: 1,
            ..Limits::default()
        },
        Compiler::InProcess,
    )
    .unwrap();
    let plugin = runtime.load(&county("330282")).unwrap();
    let session = plugin.session().unwrap();
    let err = eval(&plugin, 90).unwrap_err();
    assert!(matches!(err, CallError::Instantiate(_)), "{err}");
    drop(session);
    assert!(eval(&plugin, 90).is_ok());
}

#[test]
fn the_disk_cache_survives_a_restart_and_ignores_damaged_files() {
    let dir = std::env::temp_dir().join(format!("qingdan-runtime-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bytes = county("330282");
    let load = || {
        small(Limits::default())
            .with_cache_dir(dir.clone())
            .load(&bytes)
            .unwrap()
    };
    assert_eq!(load().load_source(), LoadSource::Compiled);
    let cached = load();
    assert_eq!(cached.load_source(), LoadSource::DiskCache);
    assert_eq!(eval(&cached, 90).unwrap().lines, baseline());

    // Damage every artefact: the next load compiles again.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let mut contents = std::fs::read(&path).unwrap();
        let last = contents.len() - 1;
        contents[last] ^= 0xff;
        std::fs::write(&path, contents).unwrap();
    }
    assert_eq!(load().load_source(), LoadSource::Compiled);
    assert_eq!(load().load_source(), LoadSource::DiskCache);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The county component with `extra` added to its core module.
fn county_with(module_extra: &str) -> Vec<u8> {
    COUNTY_WAT
        .replace("COUNTY", "330282")
        .replacen("(func $rec", &format!("{module_extra}\n    (func $rec"), 1)
        .into_bytes()
}

#[test]
fn a_start_function_that_never_returns_is_an_instantiation_failure() {
    let bytes = county_with("(func $spin (loop $l (br $l))) (start $spin)");
    let err = runtime().load(&bytes).unwrap_err();
    assert!(
        matches!(err, LoadError::Instantiate(CallError::OutOfFuel { .. })),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("could not be instantiated"), "{message}");
    assert!(!message.contains("describe"), "{message}");
}

#[test]
fn a_wasi_interface_of_another_shape_names_the_function() {
    let bytes = COUNTY_WAT.replace("COUNTY", "330282").replacen(
        "(component",
        r#"(component
  (import "wasi:random/insecure-seed@0.2.3" (instance
    (export "insecure-seed" (func (result (tuple u64 u64))))
    (export "steal" (func))))"#,
        1,
    );
    match runtime().load(bytes.as_bytes()).unwrap_err() {
        LoadError::WasiMismatch {
            interface,
            function,
            problem,
        } => {
            assert_eq!(interface, "wasi:random/insecure-seed@0.2.3");
            assert_eq!(function.as_deref(), Some("steal"));
            assert!(problem.contains("does not provide"), "{problem}");
        }
        other => panic!("expected a WASI mismatch, got {other}"),
    }
}

#[test]
fn memory_growth_is_charged_as_fuel() {
    let traced = |bytes_per_fuel| {
        let runtime = small(Limits {
            memory_bytes_per_fuel: bytes_per_fuel,
            ..Limits::default()
        });
        let plugin = runtime.load(&county("330282")).unwrap();
        // Age 67 grows memory by 64 pages (4 MiB) before answering.
        plugin.evaluate_traced(&Person::aged(67), &baseline()).fuel
    };
    assert_eq!(traced(4) - traced(0), (64 << 16) / 4);

    // Growing to the 64 MiB cap at one byte per fuel costs 67 million fuel,
    // more than an evaluation has: out of fuel before the memory cap.
    let runtime = small(Limits {
        memory_bytes_per_fuel: 1,
        ..Limits::default()
    });
    let plugin = runtime.load(&county("330282")).unwrap();
    assert_eq!(
        eval(&plugin, 62).unwrap_err(),
        CallError::OutOfFuel {
            limit: Limits::default().fuel_for(1)
        }
    );
}

#[test]
fn one_plugin_cannot_take_more_than_its_instance_slots() {
    let runtime = small(Limits {
        max_instances_per_plugin: 1,
        instance_wait: Duration::from_millis(5),
        ..Limits::default()
    });
    let plugin = runtime.load(&county("330282")).unwrap();
    let session = plugin.session().unwrap();
    match eval(&plugin, 90).unwrap_err() {
        CallError::Busy { limit, waited } => {
            assert_eq!(limit, 1);
            assert!(waited >= Duration::from_millis(5), "{waited:?}");
        }
        other => panic!("expected busy, got {other}"),
    }
    let stats = plugin.stats();
    assert_eq!(
        (stats.live_instances, stats.peak_instances, stats.busy),
        (1, 1, 1)
    );
    drop(session);
    assert!(eval(&plugin, 90).is_ok());
    assert_eq!(plugin.stats().live_instances, 0);
    // Another plugin is not held up by the first one's slots.
    let other = runtime.load(&county("330283")).unwrap();
    let _session = plugin.session().unwrap();
    assert!(eval(&other, 90).is_ok());
}

#[test]
fn the_memory_cache_is_bounded_by_bytes_and_evicts_the_least_recently_used() {
    let probe = runtime().load(&county("330282")).unwrap();
    let one = probe.stats().code_bytes;
    assert!(one > 0);
    let runtime = small(Limits {
        memory_cache_bytes: one * 2,
        ..Limits::default()
    });
    let a = runtime.load(&county("330282")).unwrap();
    runtime.load(&county("330283")).unwrap();
    // Touch `a`, then a third plugin evicts the least recently used: the second.
    assert_eq!(
        runtime.load(&county("330282")).unwrap().load_source(),
        LoadSource::MemoryCache
    );
    runtime.load(&county("330284")).unwrap();
    let stats = runtime.stats();
    assert_eq!((stats.cached_plugins, stats.evictions), (2, 1));
    assert!(stats.cached_bytes <= stats.cache_limit_bytes);
    assert_eq!(
        runtime.load(&county("330282")).unwrap().load_source(),
        LoadSource::MemoryCache
    );
    assert_eq!(
        runtime.load(&county("330283")).unwrap().load_source(),
        LoadSource::Compiled
    );
    // An evicted plugin still works for those who hold it.
    drop(runtime);
    assert!(eval(&a, 90).is_ok());
}

#[test]
fn errors_quoting_untrusted_text_are_capped_and_escaped() {
    let huge = format!(
        "(component (export \"x\" (func ${}\u{1b}[2J)))",
        "a".repeat(4 << 20)
    );
    let err = runtime().load(huge.as_bytes()).unwrap_err();
    let message = err.to_string();
    assert!(
        message.len() < 3 * crate::text::MAX_QUOTED_BYTES,
        "{} bytes",
        message.len()
    );
    assert!(!message.contains('\u{1b}'));

    let err = CallError::Guest {
        message: "\u{1b}[2JPASS\r".into(),
    };
    assert_eq!(
        err.to_string(),
        "the plugin could not evaluate this person: \\u{1b}[2JPASS\\u{d}"
    );
}

//! Nothing a component sends can hurt the host (issue 7): compile bombs end
//! in the pre-check's or the compile worker's typed error with the limit
//! named, the calling process survives with bounded memory (read from the
//! worker's report), and no raw control character a component wrote reaches
//! the output of `qingdan check`.
//!
//! The bombs are generated here, each by a few lines of `wasm-encoder`:
//! binary components that wrap one core module (or nest components).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use qingdan::runtime::{
    CompileLimit, DEFAULT_COMPILE_WALL_TIME, Limits, LoadError, LoadSource, Runtime, Structure,
};
use qingdan_guests::{fixtures, plugins};
use wasm_encoder::{
    BlockType, CodeSection, Component, ComponentInstanceSection, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, ImportSection, Instruction, Module, ModuleSection,
    NestedComponentSection, TypeSection, ValType,
};

use crate::worker;

fn runtime(limits: Limits) -> Runtime {
    Runtime::new(
        Limits {
            max_instances: 2,
            ..limits
        },
        worker(),
    )
    .unwrap()
}

/// A component holding one core module.
fn wrap(module: &Module) -> Vec<u8> {
    let mut component = Component::new();
    component.section(&ModuleSection(module));
    component.finish()
}

/// A core module of `count` functions, each with the body `body`.
fn module_of(count: u32, body: &Function) -> Module {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    for _ in 0..count {
        functions.function(0);
        code.function(body);
    }
    let mut module = Module::new();
    module.section(&types).section(&functions).section(&code);
    module
}

fn empty_body() -> Function {
    let mut f = Function::new([]);
    f.instruction(&Instruction::End);
    f
}

fn many_functions(count: u32) -> Vec<u8> {
    wrap(&module_of(count, &empty_body()))
}

fn nested_blocks(depth: u32) -> Vec<u8> {
    let mut f = Function::new([]);
    for _ in 0..depth {
        f.instruction(&Instruction::Block(BlockType::Empty));
    }
    for _ in 0..=depth {
        f.instruction(&Instruction::End);
    }
    wrap(&module_of(1, &f))
}

fn many_locals(count: u32) -> Vec<u8> {
    let mut f = Function::new([(count, ValType::I64)]);
    f.instruction(&Instruction::End);
    wrap(&module_of(1, &f))
}

fn many_imports(count: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut imports = ImportSection::new();
    for i in 0..count {
        imports.import("env", &format!("f{i}"), EntityType::Function(0));
    }
    let mut module = Module::new();
    module.section(&types).section(&imports);
    wrap(&module)
}

fn many_exports(count: u32) -> Vec<u8> {
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    functions.function(0);
    let mut exports = ExportSection::new();
    for i in 0..count {
        exports.export(&format!("f{i}"), ExportKind::Func, 0);
    }
    let mut code = CodeSection::new();
    code.function(&empty_body());
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    wrap(&module)
}

/// Components nested `depth` deep, each holding the next.
fn deep_components(depth: u32) -> Vec<u8> {
    let mut inner = Component::new();
    for _ in 0..depth {
        let mut outer = Component::new();
        outer.section(&NestedComponentSection(&inner));
        inner = outer;
    }
    inner.finish()
}

/// `levels` components, each instantiating the one it nests `fan` times:
/// fan^levels instances from a file of a few hundred bytes.
fn instance_bomb(levels: u32, fan: u32) -> Vec<u8> {
    let mut inner = Component::new();
    for _ in 0..levels {
        let mut outer = Component::new();
        outer.section(&NestedComponentSection(&inner));
        let mut instances = ComponentInstanceSection::new();
        for _ in 0..fan {
            instances.instantiate(0, Vec::<(&str, _, u32)>::new());
        }
        outer.section(&instances);
        inner = outer;
    }
    inner.finish()
}

/// Every bomb, the property that refuses it, and its file name.
fn bombs() -> Vec<(&'static str, Vec<u8>, Structure)> {
    vec![
        (
            "200k-functions",
            many_functions(200_000),
            Structure::Functions,
        ),
        (
            "1m-nested-blocks",
            nested_blocks(1_000_000),
            Structure::FunctionBodyBytes,
        ),
        (
            "2k-nested-blocks",
            nested_blocks(2_000),
            Structure::NestingDepth,
        ),
        ("100k-locals", many_locals(100_000), Structure::Locals),
        ("20k-imports", many_imports(20_000), Structure::Imports),
        ("20k-exports", many_exports(20_000), Structure::Exports),
        (
            "deep-components",
            deep_components(40),
            Structure::ComponentNesting,
        ),
        (
            "instance-bomb",
            instance_bomb(8, 10),
            Structure::FlatInstances,
        ),
    ]
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sandbox");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A raw control character other than newline: what must never reach a terminal.
fn raw_control(text: &str) -> Option<char> {
    text.chars()
        .find(|&c| c != '\n' && qingdan::text::classify(c).is_some())
}

#[test]
fn every_compile_bomb_is_refused_by_the_pre_check_naming_its_limit() {
    let runtime = runtime(Limits::default());
    for (name, bytes, structure) in bombs() {
        match runtime.load(&bytes) {
            Err(LoadError::TooComplex {
                what, found, limit, ..
            }) => {
                assert_eq!(what, structure, "{name}");
                assert!(found > limit, "{name}: {found} <= {limit}");
            }
            other => panic!("{name}: expected the pre-check to refuse it, got {other:?}"),
        }
        let message = runtime.load(&bytes).unwrap_err().to_string();
        assert!(
            message.contains(structure.limit_name()),
            "{name}: {message}"
        );
    }
    // Nothing was compiled: no worker ever ran.
    assert_eq!(runtime.stats().compiles, 0);
}

#[test]
fn qingdan_check_refuses_every_compile_bomb_with_exit_2_in_time() {
    for (name, bytes, structure) in bombs() {
        let path = scratch(&format!("{name}.wasm"));
        std::fs::write(&path, &bytes).unwrap();
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
            .env(
                "QINGDAN_CACHE",
                concat!(env!("CARGO_TARGET_TMPDIR"), "/qingdan-cache"),
            )
            .arg("check")
            .arg(&path)
            .output()
            .unwrap();
        let elapsed = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(structure.limit_name()), "{name}: {stderr}");
        assert!(elapsed < DEFAULT_COMPILE_WALL_TIME, "{name}: {elapsed:?}");
    }
}

#[test]
fn a_bomb_past_the_pre_check_is_stopped_by_the_worker_and_the_caller_survives() {
    // Let a million nested blocks through the pre-check: the worker's
    // address-space limit stops the compiler instead (in well under a second).
    let limit = 256u64 << 20;
    let runtime = runtime(Limits {
        max_function_body_bytes: u64::MAX,
        max_nesting_depth: u64::MAX,
        compile_memory_bytes: limit,
        ..Limits::default()
    });
    let err = runtime.load(&nested_blocks(1_000_000)).unwrap_err();
    let message = err.to_string();
    match err {
        LoadError::CompileLimit {
            limit: CompileLimit::Memory { bytes },
            peak_bytes,
        } => {
            assert_eq!(bytes, limit);
            assert!(message.contains("compile_memory_bytes"), "{message}");
            // Resident memory never exceeds the address space it may map.
            if let Some(peak) = peak_bytes {
                assert!(peak <= limit, "peak {peak} over the limit {limit}");
            }
        }
        other => panic!("expected the worker's memory limit, got {other:?}"),
    }
    // The caller is still here and compiles honest plugins in the worker,
    // well inside the limit.
    let cixi = runtime.load_file(Path::new(plugins::CIXI)).unwrap();
    assert_eq!(cixi.load_source(), LoadSource::Compiled);
    let peak = cixi.compile_peak_bytes().unwrap();
    assert!(peak < limit / 2, "an honest compile peaked at {peak} bytes");
    assert!(runtime.stats().worker_peak_bytes.is_some());
}

#[test]
fn the_worker_is_stopped_at_its_cpu_time() {
    let runtime = runtime(Limits {
        max_functions: u64::MAX,
        compile_cpu_seconds: 1,
        ..Limits::default()
    });
    match runtime.load(&many_functions(200_000)) {
        Err(
            e @ LoadError::CompileLimit {
                limit: CompileLimit::CpuTime { seconds: 1 },
                ..
            },
        ) => assert!(e.to_string().contains("compile_cpu_seconds"), "{e}"),
        other => panic!("expected the CPU-time limit, got {other:?}"),
    }
}

#[test]
fn the_worker_is_killed_past_its_wall_time() {
    let runtime = runtime(Limits {
        compile_wall_time: std::time::Duration::from_millis(1),
        ..Limits::default()
    });
    match runtime.load_file(Path::new(plugins::CIXI)) {
        Err(
            e @ LoadError::CompileLimit {
                limit: CompileLimit::WallTime { .. },
                ..
            },
        ) => assert!(e.to_string().contains("compile_wall_time"), "{e}"),
        other => panic!("expected the wall-time limit, got {other:?}"),
    }
}

#[test]
fn the_worker_compiles_what_the_host_then_runs_and_caches() {
    let dir = scratch("worker-cache");
    let _ = std::fs::remove_dir_all(&dir);
    let load = || {
        runtime(Limits::default())
            .with_cache_dir(dir.clone())
            .load_file(Path::new(plugins::ZHENHAI))
            .unwrap()
    };
    let first = load();
    assert_eq!(first.load_source(), LoadSource::Compiled);
    let again = load();
    assert_eq!(again.load_source(), LoadSource::DiskCache);
    let person = qingdan::model::Person::aged(90);
    assert_eq!(
        first.evaluate(&person, &[]).unwrap().lines,
        again.evaluate(&person, &[]).unwrap().lines
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn webassembly_text_is_not_accepted_from_untrusted_input() {
    let err = runtime(Limits::default()).load(b"(component)").unwrap_err();
    assert!(matches!(err, LoadError::TextNotAccepted), "{err}");
}

#[test]
fn escapes_in_a_description_are_refused_naming_field_and_code_point() {
    let err = runtime(Limits::default())
        .load_file(Path::new(fixtures::ESCAPES_IN_NAMES))
        .unwrap_err();
    match &err {
        LoadError::BadDescription { field, problem } => {
            assert_eq!(field, "extra-items[0].name");
            assert_eq!(problem, "U+001B (control character) at byte 6");
        }
        other => panic!("expected a bad description, got {other:?}"),
    }
    let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .env(
            "QINGDAN_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/qingdan-cache"),
        )
        .arg("check")
        .arg(fixtures::ESCAPES_IN_NAMES)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("U+001B (control character)"), "{stderr}");
    assert_eq!(raw_control(&stderr), None, "{stderr:?}");
    assert_eq!(raw_control(&String::from_utf8_lossy(&out.stdout)), None);
}

#[test]
fn escapes_in_guest_errors_never_reach_the_terminal_raw() {
    let out = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .env(
            "QINGDAN_CACHE",
            concat!(env!("CARGO_TARGET_TMPDIR"), "/qingdan-cache"),
        )
        .arg("check")
        .arg(fixtures::ESCAPES_IN_ERRORS)
        .arg("--catalogue")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../catalogues/ningbo-2023.toml"
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(raw_control(&stdout), None, "stdout: {stdout:?}");
    assert_eq!(raw_control(&stderr), None, "stderr: {stderr:?}");
    assert!(
        stdout.contains("\\u{1b}") || stderr.contains("\\u{1b}"),
        "the guest's message should be shown escaped:\n{stdout}\n{stderr}"
    );
}

#[test]
fn compile_workers_are_capped_and_a_load_past_the_cap_is_refused_in_time() {
    // No waiting allowed, one worker: two loads at once, one is refused
    // (or, if the first finished first, both compile).
    let runtime = std::sync::Arc::new(runtime(Limits {
        max_compile_workers: 1,
        compile_wait: std::time::Duration::ZERO,
        ..Limits::default()
    }));
    let handles: Vec<_> = [plugins::CIXI, plugins::ZHENHAI]
        .into_iter()
        .map(|path| {
            let runtime = runtime.clone();
            std::thread::spawn(move || runtime.load_file(Path::new(path)).map(|_| ()))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let busy = results
        .iter()
        .filter(|r| matches!(r, Err(LoadError::CompileBusy { limit: 1, .. })))
        .count();
    assert!(results.iter().any(|r| r.is_ok()), "{results:?}");
    assert_eq!(busy as u64, runtime.stats().compile_busy);
    assert_eq!(runtime.stats().live_workers, 0);
}

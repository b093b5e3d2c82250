//! The guest components built from source by `tests/guests`: every one is a
//! component; the reference build (the SDK) imports no function (only the
//! contract's own types); the fixtures
//! import exactly what their README says; `qingdan new` writes a plugin that
//! builds into such a component.

// Helpers of a test module: a failed unwrap is a failed test (clippy.toml
// allows this inside `#[test]` functions only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use qingdan_guests::{ALL, fixtures, plugins};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

/// The county interface the SDK's components export (contract 0.2.0).
const COUNTY_EXPORT: &str = "qingdan:county/county@0.2.0";

/// The interface of the contract's types. The world exports it beside
/// `county` (whose functions use these types), so a county component needs
/// nothing from the host: it imports nothing at all.
const TYPES_EXPORT: &str = "qingdan:county/types@0.2.0";

/// The same for the frozen contract 0.1.0, which the fixtures written with
/// wit-bindgen directly, and the plugins built with the SDK's `wit-v0-1-0`
/// feature, export.
const COUNTY_EXPORT_0_1_0: &str = "qingdan:county/county@0.1.0";
const TYPES_EXPORT_0_1_0: &str = "qingdan:county/types@0.1.0";

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        Engine::new(&config).unwrap()
    })
}

/// Every guest, compiled once for all the tests of this module (compiling
/// is most of their time).
fn compiled() -> &'static [(&'static str, Component)] {
    static COMPILED: OnceLock<Vec<(&'static str, Component)>> = OnceLock::new();
    COMPILED.get_or_init(|| {
        ALL.iter()
            .map(|(name, path)| (*name, load(engine(), path)))
            .collect()
    })
}

/// The compiled guest at `path`.
fn guest(path: &str) -> &'static Component {
    let (name, _) = ALL.iter().find(|(_, p)| *p == path).unwrap();
    &compiled().iter().find(|(n, _)| n == name).unwrap().1
}

fn load(engine: &Engine, path: &str) -> Component {
    Component::from_file(engine, path).unwrap_or_else(|e| panic!("{path}: {e:#}"))
}

fn imports(engine: &Engine, component: &Component) -> Vec<String> {
    let ty = component.component_type();
    ty.imports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Whether the export `name` of `component` is an instance of types only.
fn exports_types_only(engine: &Engine, component: &Component, name: &str) -> bool {
    let ty = component.component_type();
    let Some((_, item)) = ty.exports(engine).find(|(n, _)| *n == name) else {
        return false;
    };
    let ComponentItem::ComponentInstance(instance) = item.ty else {
        return false;
    };
    instance
        .exports(engine)
        .all(|(_, item)| matches!(item.ty, ComponentItem::Type(_)))
}

fn exports(engine: &Engine, component: &Component) -> Vec<String> {
    let ty = component.component_type();
    ty.exports(engine)
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Components written with the SDK and built without `std`.
fn reference_builds() -> Vec<(&'static str, &'static str)> {
    let not_reference = [
        "wasi-files",
        "wasi-sockets",
        "wasi-clock",
        "export-differs",
        "batch-size-dependent",
        "costs-grow-with-history",
        "dear-first-answers",
        "memory-per-person",
        "sample-only",
        "forbidden-import",
        "wrong-world",
    ];
    ALL.iter()
        .copied()
        .filter(|(name, _)| !not_reference.contains(name))
        .collect()
}

#[test]
fn every_guest_is_a_component() {
    assert!(ALL.len() >= 25, "{ALL:?}");
    assert_eq!(compiled().len(), ALL.len());
}

#[test]
fn reference_builds_import_nothing_and_export_the_county_interface() {
    let engine = engine();
    let built = reference_builds();
    for plugin in [
        plugins::CIXI,
        plugins::ZHENHAI,
        plugins::JIANGLING,
        plugins::YUANZHOU,
    ] {
        assert!(built.iter().any(|(_, path)| *path == plugin), "{plugin}");
    }
    for (name, path) in built {
        let component = guest(path);
        assert_eq!(imports(engine, component), Vec::<String>::new(), "{name}");
        assert!(
            exports_types_only(engine, component, TYPES_EXPORT),
            "{name}"
        );
        assert_eq!(
            exports(engine, component),
            [TYPES_EXPORT, COUNTY_EXPORT],
            "{name}"
        );
        let linker = Linker::<()>::new(engine);
        if let Err(e) = linker.instantiate_pre(component) {
            panic!("{name} needs something from the host: {e:?}");
        }
    }
}

#[test]
fn plugins_built_for_0_1_0_export_the_frozen_interface() {
    let engine = engine();
    for path in [
        qingdan_guests::plugins_v0_1_0::CIXI,
        qingdan_guests::plugins_v0_1_0::ZHENHAI,
    ] {
        let component = load(engine, path);
        assert_eq!(imports(engine, &component), Vec::<String>::new(), "{path}");
        assert_eq!(
            exports(engine, &component),
            [TYPES_EXPORT_0_1_0, COUNTY_EXPORT_0_1_0],
            "{path}"
        );
    }
}

#[test]
fn std_fixtures_import_only_wasi() {
    let engine = engine();
    for path in [
        fixtures::WASI_FILES,
        fixtures::WASI_SOCKETS,
        fixtures::WASI_CLOCK,
        fixtures::EXPORT_DIFFERS,
        fixtures::BATCH_SIZE_DEPENDENT,
        fixtures::SAMPLE_ONLY,
    ] {
        let component = guest(path);
        let imports = imports(engine, component);
        assert!(!imports.is_empty(), "{path}");
        assert!(
            imports.iter().all(|i| i.starts_with("wasi:")),
            "{path}: {imports:?}"
        );
        assert_eq!(
            exports(engine, component),
            [TYPES_EXPORT_0_1_0, COUNTY_EXPORT_0_1_0],
            "{path}"
        );
    }
}

#[test]
fn forbidden_import_and_wrong_world_are_well_formed_but_not_county_lists() {
    let engine = engine();
    let evil = guest(fixtures::FORBIDDEN_IMPORT);
    assert_eq!(imports(engine, evil), ["evil:net/fetch"]);
    assert_eq!(
        exports(engine, evil),
        [TYPES_EXPORT_0_1_0, COUNTY_EXPORT_0_1_0]
    );
    let wrong = guest(fixtures::WRONG_WORLD);
    assert_eq!(imports(engine, wrong), Vec::<String>::new());
    assert_eq!(exports(engine, wrong), ["greet"]);
}

#[test]
fn every_fixture_is_documented() {
    let readme = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/README.md"),
    )
    .unwrap();
    let plugin_paths = [
        plugins::CIXI,
        plugins::ZHENHAI,
        plugins::JIANGLING,
        plugins::YUANZHOU,
    ];
    for (name, path) in ALL {
        if plugin_paths.contains(path) {
            continue;
        }
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "{name} has no line in tests/fixtures/README.md"
        );
    }
}

/// The SDK is self-contained: `cargo package -p qingdan-sdk` makes a crate
/// that, unpacked outside the repository, is what `qingdan new --sdk`
/// points a county team's plugin at; that plugin builds, as generated, into
/// a component that imports nothing, exports the county interface and
/// passes the floor proof. (The package is not verified by `cargo package`
/// itself: building the new plugin against it is the verification, so the
/// SDK is built once, not twice.)
#[test]
fn qingdan_new_output_builds_against_the_packaged_sdk_outside_the_repository() {
    let scratch = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("qingdan-new");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // The same toolchain as this test: the rustc beside this cargo (the
    // folders below are outside the repository, so its rust-toolchain.toml
    // does not apply there), and none of the outer build's settings.
    let cargo_command = || {
        let mut command = Command::new(&cargo);
        let rustc = Path::new(&cargo).with_file_name("rustc");
        if rustc.is_file() {
            command.env("RUSTC", rustc);
        }
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_") && name != "CARGO_HOME" && !name.starts_with("CARGO_NET_")
            {
                command.env_remove(&*name);
            }
        }
        command.env_remove("RUSTFLAGS");
        command
    };

    let package = cargo_command()
        .arg("package")
        .arg("--manifest-path")
        .arg(root.join("plugins/Cargo.toml"))
        .args([
            "-p",
            "qingdan-sdk",
            "--no-verify",
            "--allow-dirty",
            "--quiet",
        ])
        .arg("--target-dir")
        .arg(scratch.join("package"))
        .output()
        .unwrap();
    assert!(
        package.status.success(),
        "cargo package -p qingdan-sdk failed:\n{}",
        String::from_utf8_lossy(&package.stderr)
    );
    let crate_file = std::fs::read_dir(scratch.join("package/package"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "crate"))
        .expect("cargo package wrote no .crate");

    // Really outside the repository: under the system's temporary folder.
    let outside = std::env::temp_dir().join(format!("qingdan-sdk-outside-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&outside);
    std::fs::create_dir_all(&outside).unwrap();
    assert!(!outside.starts_with(root.canonicalize().unwrap()));
    let untar = Command::new("tar")
        .arg("xzf")
        .arg(&crate_file)
        .arg("-C")
        .arg(&outside)
        .output()
        .unwrap();
    assert!(
        untar.status.success(),
        "{}",
        String::from_utf8_lossy(&untar.stderr)
    );
    let sdk = std::fs::read_dir(&outside)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.join("Cargo.toml").is_file())
        .expect("the .crate holds no crate folder");
    assert!(
        sdk.join("wit/v0.2.0/county.wit").is_file(),
        "the SDK carries its WIT"
    );

    let dir = outside.join("mycounty");
    let new = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .args([
            "new",
            "my-county",
            "--county-code",
            "330282",
            "--county-name",
            "慈溪市",
        ])
        .arg("--dir")
        .arg(&dir)
        .arg("--sdk")
        .arg(&sdk)
        .env("QINGDAN_CATALOGUES", root.join("catalogues"))
        .output()
        .unwrap();
    assert!(
        new.status.success(),
        "{}",
        String::from_utf8_lossy(&new.stderr)
    );
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    assert!(manifest.contains(&*outside.to_string_lossy()), "{manifest}");

    let output = cargo_command()
        .current_dir(&dir)
        .args(["build", "--release", "--quiet"])
        .arg("--target-dir")
        .arg(scratch.join("target"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo build of the new plugin failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let wasm = scratch.join("target/wasm32-wasip2/release/my_county.wasm");
    let engine = engine();
    let component = load(engine, wasm.to_str().unwrap());
    assert_eq!(imports(engine, &component), Vec::<String>::new());
    assert!(exports_types_only(engine, &component, TYPES_EXPORT));
    assert_eq!(exports(engine, &component), [TYPES_EXPORT, COUNTY_EXPORT]);

    // And it passes the floor proof out of the box, as the README promises.
    let check = Command::new(env!("CARGO_BIN_EXE_qingdan"))
        .arg("check")
        .arg(&wasm)
        .arg("--as-of")
        .arg("2026-06-01")
        .env("QINGDAN_CATALOGUES", root.join("catalogues"))
        .env("QINGDAN_CACHE", scratch.join("cache"))
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(0), "{report}");
    assert!(report.contains("PASS"), "{report}");
    std::fs::remove_dir_all(&outside).unwrap();
}

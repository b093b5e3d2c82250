//! County plugins written in Python and JavaScript (`plugins/python`,
//! `plugins/javascript`): their SDKs' and examples' own unit tests, the
//! examples built from source with componentize-py and ComponentizeJS,
//! proven over the whole domain with the production engine and limits,
//! asked for the answers their unit tests expect (`plugins/cixi/answers.json`)
//! and their answer tables (what is served) compared, person by person,
//! with the Rust `cixi`'s; and `qingdan new --lang python|javascript`, whose
//! output builds and passes `qingdan check` as generated.
//!
//! The toolchains come from the README's set-up (`pip install -r
//! plugins/python/requirements.txt`, `npm ci` in `plugins/javascript`).
//! Without them a test says it is SKIPPED on the terminal (not captured by
//! the harness); under CI (`CI=true`) a missing toolchain fails instead, as
//! CI installs them.

use crate::worker;
use qingdan::catalogue::{Catalogue, Library};
use qingdan::model::{DOMAIN_SIZE, Line, Person};
use qingdan::runtime::{Limits, Plugin, Runtime};
use qingdan::table::AnswerTable;
use qingdan::verify::{self, Options};
use qingdan_guests::plugins;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Instant, SystemTime};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("languages");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Says on the terminal that `test` did not run, and why; under CI, fails.
fn skipped(test: &str, why: &str) {
    assert!(
        std::env::var("CI").ok().as_deref() != Some("true"),
        "{test}: {why}; CI installs the toolchains (.ci/run), so this is a failure there"
    );
    let _ = writeln!(std::io::stderr(), "note: {test}: SKIPPED ({why})");
}

/// Runs a command, failing the test with its output when it fails.
fn run(command: &mut Command, what: &str) -> Output {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn succeeds(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lang {
    Python,
    Javascript,
}

impl Lang {
    fn name(self) -> &'static str {
        match self {
            Lang::Python => "python",
            Lang::Javascript => "javascript",
        }
    }

    /// The folder of the language's SDK and examples.
    fn folder(self) -> PathBuf {
        root().join("plugins").join(self.name())
    }

    /// The interpreter the unit tests run on, if installed.
    fn interpreter(self) -> Result<(), String> {
        match self {
            Lang::Python if succeeds("python3", &["--version"]) => Ok(()),
            Lang::Python => Err("python3 is not installed".into()),
            Lang::Javascript if succeeds("node", &["--version"]) => Ok(()),
            Lang::Javascript => Err("node is not installed".into()),
        }
    }

    /// The toolchain that builds components, if installed.
    fn toolchain(self) -> Result<(), String> {
        self.interpreter()?;
        match self {
            Lang::Python if succeeds("componentize-py", &["--version"]) => Ok(()),
            Lang::Python => Err(
                "componentize-py is not installed (pip install -r plugins/python/requirements.txt)"
                    .into(),
            ),
            Lang::Javascript
                if self
                    .folder()
                    .join("node_modules/@bytecodealliance/componentize-js/package.json")
                    .is_file() =>
            {
                Ok(())
            }
            Lang::Javascript => {
                Err("ComponentizeJS is not installed (npm ci in plugins/javascript)".into())
            }
        }
    }

    /// Runs the unit tests in `dir` (the plugin's folder), with the SDK
    /// from `sdk` when it is not copied into `dir`.
    fn unit_tests(self, dir: &Path, sdk: Option<&Path>) -> Output {
        let mut command = match self {
            Lang::Python => {
                let mut c = Command::new("python3");
                c.args(["-m", "unittest", "-v"])
                    .env("PYTHONDONTWRITEBYTECODE", "1");
                if let Some(sdk) = sdk {
                    c.env("PYTHONPATH", sdk);
                }
                c
            }
            Lang::Javascript => {
                let mut c = Command::new("node");
                c.arg("--test");
                c
            }
        };
        command.current_dir(dir);
        run(
            &mut command,
            &format!("the unit tests in {}", dir.display()),
        )
    }

    /// Builds the plugin `dir/app.py` or `dir/app.js` into `out`, against
    /// the WIT folder `wit`, with the SDK from `sdk` when it is not copied
    /// into `dir`.
    fn build(self, dir: &Path, sdk: Option<&Path>, wit: &Path, out: &Path) {
        let mut command = match self {
            Lang::Python => {
                let mut c = Command::new("componentize-py");
                c.arg("-d")
                    .arg(wit)
                    .args(["-w", "county-list", "componentize", "-p"])
                    .arg(dir);
                if let Some(sdk) = sdk {
                    c.arg("-p").arg(sdk);
                }
                c.args(["app", "-o"])
                    .arg(out)
                    .env("PYTHONDONTWRITEBYTECODE", "1")
                    .current_dir(dir);
                c
            }
            Lang::Javascript => {
                // ComponentizeJS resolves the module's imports inside the
                // folder it runs in: the example's `../sdk/qingdan.js` is
                // found from `plugins/javascript`, a new plugin's
                // `./qingdan.js` from the plugin's folder.
                let (cwd, script) = if dir.join("componentize.mjs").is_file() {
                    (dir.to_path_buf(), dir.join("componentize.mjs"))
                } else {
                    (self.folder(), self.folder().join("componentize.mjs"))
                };
                let source = dir.join("app.js");
                let source = source.strip_prefix(&cwd).unwrap_or(&source).to_path_buf();
                let mut c = Command::new("node");
                c.arg(script).arg(source).arg(wit).arg(out).current_dir(cwd);
                c
            }
        };
        run(
            &mut command,
            &format!("building {} into {}", dir.display(), out.display()),
        );
    }
}

/// The example 慈溪 plugin of a language, built from source (again only
/// when a source is newer than the component), or why it cannot be.
fn example(lang: Lang) -> Result<PathBuf, String> {
    static BUILT: [OnceLock<Result<PathBuf, String>>; 2] = [OnceLock::new(), OnceLock::new()];
    BUILT[lang as usize]
        .get_or_init(|| {
            lang.toolchain()?;
            let dir = lang.folder().join("cixi");
            let sdk = lang.folder().join("sdk");
            let wit = root().join("wit/v0.2.0");
            let out = scratch().join(format!("cixi-{}.wasm", lang.name()));
            let sources = [
                dir.join(if lang == Lang::Python {
                    "app.py"
                } else {
                    "app.js"
                }),
                sdk.join(if lang == Lang::Python {
                    "qingdan.py"
                } else {
                    "qingdan.js"
                }),
                wit.join("county.wit"),
                lang.folder().join(if lang == Lang::Python {
                    "requirements.txt"
                } else {
                    "componentize.mjs"
                }),
            ];
            if !newer_than_all(&out, &sources) {
                let started = Instant::now();
                lang.build(&dir, Some(&sdk), &wit, &out);
                let _ = writeln!(
                    std::io::stderr(),
                    "note: built plugins/{}/cixi in {:.1} s",
                    lang.name(),
                    started.elapsed().as_secs_f64()
                );
            }
            Ok(out)
        })
        .clone()
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn newer_than_all(out: &Path, sources: &[PathBuf]) -> bool {
    let Some(built) = modified(out) else {
        return false;
    };
    sources
        .iter()
        .all(|s| modified(s).is_some_and(|source| source < built))
}

/// The edition of the 宁波 list the proofs run against.
fn ningbo() -> &'static Catalogue {
    static LIBRARY: OnceLock<Library> = OnceLock::new();
    LIBRARY
        .get_or_init(|| Library::load_dir(&root().join("catalogues")).unwrap())
        .in_force("330200", "2026-06-01".parse().unwrap())
        .unwrap()
}

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new(Limits::default(), worker()).unwrap())
}

/// The proof as `qingdan check` runs it (the production limits, the same
/// options).
fn prove(plugin: &Plugin) -> verify::Proof {
    let options = Options {
        fuel_per_person: runtime().limits().fuel_per_evaluation,
        ..Options::default()
    };
    verify::verify(plugin, ningbo(), &options, &|_, _| {}).unwrap()
}

/// The Rust 慈溪 plugin, its proven table and the mean fuel per person of
/// its first pass, shared by the languages.
fn rust_cixi() -> &'static (Plugin, AnswerTable, u64) {
    static CIXI: OnceLock<(Plugin, AnswerTable, u64)> = OnceLock::new();
    CIXI.get_or_init(|| {
        let plugin = runtime().load_file(Path::new(plugins::CIXI)).unwrap();
        let proof = prove(&plugin);
        assert!(proof.report.passed, "{}", proof.report);
        let mean = proof.report.fuel.mean_per_person;
        (plugin, proof.table.unwrap(), mean)
    })
}

/// One case of `plugins/cixi/answers.json`.
#[derive(serde::Deserialize)]
struct Case {
    name: String,
    person: Person,
    baseline: Vec<Line>,
    lines: Vec<Line>,
}

#[derive(serde::Deserialize)]
struct Answers {
    cases: Vec<Case>,
}

fn answers() -> Vec<Case> {
    let text = std::fs::read_to_string(root().join("plugins/cixi/answers.json")).unwrap();
    serde_json::from_str::<Answers>(&text).unwrap().cases
}

/// The component gives exactly the answers the unit tests expect.
fn gives_the_expected_answers(plugin: &Plugin, what: &str) {
    let cases = answers();
    assert!(cases.len() > 5);
    for case in cases {
        let answer = plugin.evaluate(&case.person, &case.baseline).unwrap();
        assert_eq!(answer.lines, case.lines, "{what}: {}", case.name);
    }
}

fn same_rules_as_the_rust_cixi(lang: Lang, test: &str) {
    let wasm = match example(lang) {
        Ok(wasm) => wasm,
        Err(why) => return skipped(test, &why),
    };
    let bytes = std::fs::metadata(&wasm).unwrap().len();
    let started = Instant::now();
    let plugin = runtime().load_file(&wasm).unwrap();
    let load = started.elapsed();
    let (rust, rust_table, rust_mean) = rust_cixi();
    assert_eq!(plugin.description(), rust.description());
    gives_the_expected_answers(rust, "the Rust cixi");
    gives_the_expected_answers(&plugin, lang.name());

    let proof = prove(&plugin);
    assert!(proof.report.passed, "{}", proof.report);
    let table = proof.table.unwrap();
    // The same answer for every person of the domain: what the table serves.
    assert_eq!(table.outcomes(), rust_table.outcomes());
    assert!((0..DOMAIN_SIZE).all(|i| table.id_at(i) == rust_table.id_at(i)));
    assert_eq!(table.baseline_digest(), rust_table.baseline_digest());

    // The measured figures of plugins/README.md.
    let report = &proof.report;
    let _ = writeln!(
        std::io::stderr(),
        "note: plugins/{}/cixi: component {} bytes, loaded (compiled) in {:.1} s, proof {:.1} s, \
         fuel {} + {} (first pass {} per person), Rust cixi first pass {} per person",
        lang.name(),
        bytes,
        load.as_secs_f64(),
        report.timing.total_ms as f64 / 1000.0,
        report.fuel.first_pass,
        report.fuel.second_pass,
        report.fuel.mean_per_person,
        rust_mean,
    );
}

#[test]
fn python_sdk_and_example_unit_tests_pass() {
    let test = "python_sdk_and_example_unit_tests_pass";
    if let Err(why) = Lang::Python.interpreter() {
        return skipped(test, &why);
    }
    let sdk = Lang::Python.folder().join("sdk");
    Lang::Python.unit_tests(&sdk, None);
    let out = Lang::Python.unit_tests(&Lang::Python.folder().join("cixi"), Some(&sdk));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("test_the_expected_answers"), "{log}");
}

#[test]
fn javascript_sdk_and_example_unit_tests_pass() {
    let test = "javascript_sdk_and_example_unit_tests_pass";
    if let Err(why) = Lang::Javascript.interpreter() {
        return skipped(test, &why);
    }
    Lang::Javascript.unit_tests(&Lang::Javascript.folder().join("sdk"), None);
    let out = Lang::Javascript.unit_tests(&Lang::Javascript.folder().join("cixi"), None);
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(log.contains("the expected answers"), "{log}");
}

#[test]
fn python_cixi_is_proven_and_answers_as_the_rust_cixi() {
    same_rules_as_the_rust_cixi(
        Lang::Python,
        "python_cixi_is_proven_and_answers_as_the_rust_cixi",
    );
}

#[test]
fn javascript_cixi_is_proven_and_answers_as_the_rust_cixi() {
    same_rules_as_the_rust_cixi(
        Lang::Javascript,
        "javascript_cixi_is_proven_and_answers_as_the_rust_cixi",
    );
}

/// `qingdan new --lang python|javascript` writes a plugin that passes its
/// own unit tests, builds and passes `qingdan check` as generated. (What
/// is served is the answer table: the examples' tables are compared with
/// the Rust cixi's above; `qingdan eval --plugin` would compile the
/// component once more, some 20–60 s of the test run, to show it again.)
fn new_plugin_passes_check(lang: Lang, test: &str) {
    if let Err(why) = lang.toolchain() {
        return skipped(test, &why);
    }
    let scratch = scratch().join(format!("new-{}", lang.name()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let dir = scratch.join("my-county");
    let qingdan = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_qingdan"));
        command
            .args(args)
            .env("QINGDAN_CATALOGUES", root().join("catalogues"))
            .env("QINGDAN_CACHE", scratch.join("cache"));
        command
    };
    run(
        qingdan(&["new", "my-county", "--lang", lang.name(), "--dir"]).arg(&dir),
        "qingdan new",
    );
    if lang == Lang::Javascript {
        // What `npm install` in the new folder would bring: the toolchain
        // of this repository, the same versions.
        std::os::unix::fs::symlink(lang.folder().join("node_modules"), dir.join("node_modules"))
            .unwrap();
    }
    lang.unit_tests(&dir, None);
    let wasm = dir.join("my_county.wasm");
    lang.build(&dir, None, &dir.join("wit"), &wasm);

    let check = qingdan(&["check", "--as-of", "2026-06-01"])
        .arg(&wasm)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert_eq!(
        check.status.code(),
        Some(0),
        "{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(report.contains("PASS"), "{report}");
    assert!(report.contains("birthday-visit"), "{report}");
}

#[test]
fn qingdan_new_python_plugin_passes_check() {
    new_plugin_passes_check(Lang::Python, "qingdan_new_python_plugin_passes_check");
}

#[test]
fn qingdan_new_javascript_plugin_passes_check() {
    new_plugin_passes_check(
        Lang::Javascript,
        "qingdan_new_javascript_plugin_passes_check",
    );
}

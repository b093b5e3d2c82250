//! `qingdan new NAME`: creates a county plugin that builds and passes the
//! floor proof as it is, for a county team to start from.
//!
//! In Rust (the default, `--lang rust`) the plugin is a crate that depends
//! on the guest SDK by path: by default the SDK in the Qingdan repository
//! this binary was built from, or `--sdk PATH`. In Python and JavaScript
//! (`--lang python|javascript`) the folder is self-contained: the SDK file
//! (`qingdan.py`, `qingdan.js`) and the WIT of the current contract are
//! copied in from this binary, with the toolchain's requirements and a
//! README of the build commands. Its files are the templates in `cli/new/`,
//! with the plugin's name, county and baseline filled in.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The SDK in the repository this binary was built from.
const DEFAULT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../plugins/sdk");

/// The county a new plugin is for unless told otherwise: 海曙区, a district
/// of 宁波市, whose catalogue ships with Qingdan, so a new plugin can be
/// checked at once.
const DEFAULT_COUNTY: &str = "330203";

/// The catalogues (and the jurisdiction register) of the repository this
/// binary was built from; `$QINGDAN_CATALOGUES` wins.
const DEFAULT_CATALOGUES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../catalogues");

/// Longest crate name accepted (crates.io's limit).
const MAX_NAME_LEN: usize = 64;

/// Names a plugin crate cannot take: they clash with crates every plugin
/// links, or with Rust's path keywords.
const RESERVED_NAMES: &[&str] = &[
    "alloc",
    "core",
    "std",
    "test",
    "proc_macro",
    "proc-macro",
    "qingdan-sdk",
    "qingdan_sdk",
    "self",
    "super",
    "crate",
];

const CARGO_TOML: &str = include_str!("new/Cargo.toml.in");
const CONFIG_TOML: &str = include_str!("new/config.toml.in");
const GITIGNORE: &str = include_str!("new/gitignore.in");
const LIB_RS: &str = include_str!("new/lib.rs.in");
const README_MD: &str = include_str!("new/README.md.in");
const RUST_TOOLCHAIN: &str = include_str!("new/rust-toolchain.toml.in");

/// The current contract, copied into Python and JavaScript plugins (the
/// Rust SDK carries its own copy).
const COUNTY_WIT: &str = include_str!("../../../wit/v0.2.0/county.wit");

const PY_APP: &str = include_str!("new/python/app.py.in");
const PY_TEST: &str = include_str!("new/python/test_app.py.in");
const PY_README: &str = include_str!("new/python/README.md.in");
const PY_GITIGNORE: &str = include_str!("new/python/gitignore.in");
const PY_SDK: &str = include_str!("../../../plugins/python/sdk/qingdan.py");
const PY_REQUIREMENTS: &str = include_str!("../../../plugins/python/requirements.txt");

const JS_APP: &str = include_str!("new/javascript/app.js.in");
const JS_TEST: &str = include_str!("new/javascript/app.test.js.in");
const JS_README: &str = include_str!("new/javascript/README.md.in");
const JS_GITIGNORE: &str = include_str!("new/javascript/gitignore.in");
const JS_PACKAGE: &str = include_str!("new/javascript/package.json.in");
const JS_SDK: &str = include_str!("../../../plugins/javascript/sdk/qingdan.js");
const JS_COMPONENTIZE: &str = include_str!("../../../plugins/javascript/componentize.mjs");

/// The language a plugin is written in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// A Rust crate built for `wasm32-wasip2` (the reference toolchain).
    #[default]
    Rust,
    /// A Python module built with componentize-py.
    Python,
    /// A JavaScript module built with ComponentizeJS.
    Javascript,
}

/// Arguments of `qingdan new`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// Name of the plugin crate (lower-case letters, digits, `-` and `_`,
    /// starting with a letter), e.g. `cixi`.
    pub name: String,
    /// Directory to create (must not exist); default `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The language of the plugin: rust (default), python or javascript.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// Path of the guest SDK (`qingdan-sdk`) a Rust plugin depends on;
    /// default the SDK of the Qingdan repository this binary was built from.
    /// (Python and JavaScript plugins get a copy of their SDK file.)
    #[arg(long)]
    pub sdk: Option<PathBuf>,
    /// GB/T 2260 code of the county (six digits, in the jurisdiction
    /// register); default 330203 (海曙区, 宁波市).
    #[arg(long)]
    pub county_code: Option<String>,
    /// Name of the county, e.g. 慈溪市; default NAME.
    #[arg(long)]
    pub county_name: Option<String>,
    /// GB/T 2260 code of the list the county must not fall below; default
    /// (and the only value `check` accepts) its parent in the jurisdiction
    /// register.
    #[arg(long)]
    pub baseline: Option<String>,
}

/// Creates the plugin crate; returns the exit code (0). Refuses an invalid
/// name or code and an existing directory without writing anything.
pub fn run(args: NewArgs) -> Result<u8> {
    let dir = create(&args)?;
    let file = args.name.replace('-', "_");
    let next = match args.lang {
        Lang::Rust => format!(
            "cargo build --release, then qingdan check target/wasm32-wasip2/release/{file}.wasm"
        ),
        Lang::Python => format!(
            "pip install -r requirements.txt, componentize-py -d wit -w county-list componentize -p . app -o {file}.wasm, then qingdan check {file}.wasm"
        ),
        Lang::Javascript => format!(
            "npm install, node componentize.mjs app.js wit {file}.wasm, then qingdan check {file}.wasm"
        ),
    };
    println!(
        "Created the county plugin `{}` in {}.\nNext: cd {} && {next} (see README.md).",
        args.name,
        dir.display(),
        dir.display(),
    );
    Ok(0)
}

/// Creates the plugin and returns its directory.
pub fn create(args: &NewArgs) -> Result<PathBuf> {
    validate_name(&args.name)?;
    let county_code = args
        .county_code
        .clone()
        .unwrap_or_else(|| DEFAULT_COUNTY.to_string());
    validate_code("--county-code", &county_code)?;
    let baseline = match &args.baseline {
        Some(baseline) => baseline.clone(),
        None => parent_in_register(&county_code)?,
    };
    validate_code("--baseline", &baseline)?;
    let county_name = args
        .county_name
        .clone()
        .unwrap_or_else(|| args.name.clone());
    if county_name.trim().is_empty() {
        bail!("--county-name must not be empty");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists() {
        bail!(
            "{} already exists; choose another --dir (nothing was written)",
            dir.display()
        );
    }
    let sdk = match args.lang {
        Lang::Rust => rust_sdk(args.sdk.as_deref())?,
        Lang::Python | Lang::Javascript => {
            if args.sdk.is_some() {
                bail!(
                    "--sdk is for Rust plugins: a Python or JavaScript plugin gets a copy of its SDK file (nothing was written)"
                );
            }
            PathBuf::new()
        }
    };

    let values = Values {
        name: args.name.clone(),
        crate_file: args.name.replace('-', "_"),
        type_name: type_name(&args.name),
        sdk: toml_string(&sdk.to_string_lossy()),
        county_code,
        county_name,
        baseline,
    };
    // (path, text, whether it is a template to fill in)
    let files: &[(&str, &str, bool)] = match args.lang {
        Lang::Rust => &[
            ("Cargo.toml", CARGO_TOML, true),
            (".cargo/config.toml", CONFIG_TOML, true),
            (".gitignore", GITIGNORE, true),
            ("src/lib.rs", LIB_RS, true),
            ("README.md", README_MD, true),
            ("rust-toolchain.toml", RUST_TOOLCHAIN, true),
        ],
        Lang::Python => &[
            ("app.py", PY_APP, true),
            ("test_app.py", PY_TEST, true),
            ("README.md", PY_README, true),
            (".gitignore", PY_GITIGNORE, true),
            ("requirements.txt", PY_REQUIREMENTS, false),
            ("qingdan.py", PY_SDK, false),
            ("wit/county.wit", COUNTY_WIT, false),
        ],
        Lang::Javascript => &[
            ("app.js", JS_APP, true),
            ("app.test.js", JS_TEST, true),
            ("README.md", JS_README, true),
            (".gitignore", JS_GITIGNORE, true),
            ("package.json", JS_PACKAGE, true),
            ("componentize.mjs", JS_COMPONENTIZE, false),
            ("qingdan.js", JS_SDK, false),
            ("wit/county.wit", COUNTY_WIT, false),
        ],
    };
    for (path, text, template) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        if *template {
            write(&path, &values.fill(text))?;
        } else {
            write(&path, text)?;
        }
    }
    Ok(dir)
}

/// The Rust SDK a crate depends on: `--sdk`, or the repository's.
fn rust_sdk(sdk: Option<&Path>) -> Result<PathBuf> {
    let sdk = sdk.map_or_else(|| PathBuf::from(DEFAULT_SDK), Path::to_path_buf);
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK is not at {} (give its path with --sdk)",
            sdk.display()
        )
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml: not the SDK", sdk.display());
    }
    Ok(sdk)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The values filled into the templates.
struct Values {
    name: String,
    crate_file: String,
    type_name: String,
    sdk: String,
    county_code: String,
    county_name: String,
    baseline: String,
}

impl Values {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{{name}}", &self.name)
            .replace("{{crate_file}}", &self.crate_file)
            .replace("{{type_name}}", &self.type_name)
            .replace("{{sdk}}", &self.sdk)
            // Rust string literals (`{:?}` escapes what needs escaping and
            // keeps Chinese text readable).
            .replace("{{county_code_lit}}", &format!("{:?}", self.county_code))
            .replace("{{county_name_lit}}", &format!("{:?}", self.county_name))
            .replace("{{baseline_lit}}", &format!("{:?}", self.baseline))
            // Python and JavaScript string literals: a JSON string is both.
            .replace("{{county_code_json}}", &json_string(&self.county_code))
            .replace("{{county_name_json}}", &json_string(&self.county_name))
            .replace("{{baseline_json}}", &json_string(&self.baseline))
            .replace("{{county_code}}", &self.county_code)
            .replace("{{county_name}}", &self.county_name)
            .replace("{{baseline}}", &self.baseline)
    }
}

/// A crate name: a letter, then letters, digits, `-` or `_`; lower case so
/// the component's file name is predictable.
fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let starts_with_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !starts_with_letter || !rest_ok || name.len() > MAX_NAME_LEN {
        bail!(
            "`{name}` is not a valid plugin name: use a lower-case letter, then lower-case letters, digits, `-` or `_` (at most {MAX_NAME_LEN} characters), e.g. `cixi`"
        );
    }
    if RESERVED_NAMES.contains(&name) {
        bail!("`{name}` is reserved; choose another plugin name");
    }
    Ok(())
}

/// The parent of `county` in the jurisdiction register: the list it must
/// not fall below.
fn parent_in_register(county: &str) -> Result<String> {
    let dir = std::env::var_os("QINGDAN_CATALOGUES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CATALOGUES));
    let register = crate::register::Register::of_catalogues(&dir)
        .map_err(|e| anyhow::anyhow!("{e} (give the baseline with --baseline)"))?;
    let (_, parent) = register
        .county(county)
        .map_err(|e| anyhow::anyhow!("--county-code: {e}"))?;
    Ok(parent.code.clone())
}

/// A GB/T 2260 administrative code: six digits.
fn validate_code(option: &str, code: &str) -> Result<()> {
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{option} `{code}` is not a GB/T 2260 code (six digits, e.g. 330282)");
    }
    Ok(())
}

/// `my-county` → `MyCounty`: the unit type the plugin implements `County` for.
fn type_name(name: &str) -> String {
    name.split(['-', '_'])
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A JSON string holding `s`, which is a string literal in Python and
/// JavaScript too.
fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A TOML basic string holding `s`.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(name: &str, dir: &Path) -> NewArgs {
        NewArgs {
            name: name.into(),
            dir: Some(dir.to_path_buf()),
            lang: Lang::Rust,
            sdk: None,
            county_code: None,
            county_name: None,
            baseline: None,
        }
    }

    fn scratch(test: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("qingdan-new-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn names_are_crate_names() {
        for ok in ["cixi", "my-county", "county_2", "a"] {
            validate_name(ok).unwrap();
        }
        for bad in [
            "",
            "Cixi",
            "2county",
            "-x",
            "my county",
            "慈溪",
            "std",
            "qingdan-sdk",
        ] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn codes_are_six_digits() {
        validate_code("--baseline", "330200").unwrap();
        for bad in ["33020", "3302000", "33020x", ""] {
            assert!(validate_code("--baseline", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn type_names_are_camel_case() {
        assert_eq!(type_name("cixi"), "Cixi");
        assert_eq!(type_name("my-county_2"), "MyCounty2");
    }

    #[test]
    fn toml_strings_escape() {
        assert_eq!(toml_string(r#"C:\a "b""#), r#""C:\\a \"b\"""#);
    }

    #[test]
    fn creates_the_crate_and_refuses_to_overwrite() {
        let dir = scratch("create");
        let mut a = args("my-county", &dir);
        a.county_name = Some("示例县".into());
        create(&a).unwrap();
        let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
        assert!(lib.contains("pub struct MyCounty;"), "{lib}");
        assert!(
            lib.contains(r#"Description::new("330203", "示例县", "330200")"#),
            "{lib}"
        );
        assert!(!lib.contains("{{"), "{lib}");
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(manifest.contains("name = \"my-county\""));
        assert!(manifest.contains("plugins/sdk\" }"), "{manifest}");
        let err = create(&a).unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn python_and_javascript_plugins_are_self_contained() {
        for (lang, app, sdk) in [
            (Lang::Python, "app.py", "qingdan.py"),
            (Lang::Javascript, "app.js", "qingdan.js"),
        ] {
            let dir = scratch(&format!("{lang:?}"));
            let mut a = args("my-county", &dir);
            a.lang = lang;
            a.county_name = Some("示\"例县".into());
            create(&a).unwrap();
            let app = std::fs::read_to_string(dir.join(app)).unwrap();
            assert!(
                app.contains(r#"Description("330203", "示\"例县", "330200")"#),
                "{app}"
            );
            assert!(!app.contains("{{"), "{app}");
            assert_eq!(
                std::fs::read_to_string(dir.join(sdk)).unwrap(),
                if lang == Lang::Python { PY_SDK } else { JS_SDK }
            );
            assert_eq!(
                std::fs::read_to_string(dir.join("wit/county.wit")).unwrap(),
                COUNTY_WIT
            );
            a.sdk = Some(dir.clone());
            std::fs::remove_dir_all(&dir).unwrap();
            let err = create(&a).unwrap_err().to_string();
            assert!(err.contains("--sdk is for Rust"), "{err}");
            assert!(!dir.exists());
        }
    }

    #[test]
    fn refuses_bad_input_without_writing() {
        let dir = scratch("refuse");
        let mut a = args("Bad Name", &dir);
        assert!(create(&a).is_err());
        a.name = "good".into();
        a.county_code = Some("12".into());
        assert!(create(&a).is_err());
        // Not in the register, and no baseline given.
        a.county_code = Some("330299".into());
        assert!(create(&a).is_err());
        a.county_code = None;
        a.sdk = Some(dir.join("no-such-sdk"));
        assert!(create(&a).is_err());
        assert!(!dir.exists());
    }
}

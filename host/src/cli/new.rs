//! `qingdan new NAME`: creates a county plugin crate that builds and passes
//! the floor proof as it is, for a county team to start from.
//!
//! The crate depends on the guest SDK by path: by default the SDK in the
//! Qingdan repository this binary was built from, or `--sdk PATH`. Its files
//! are the templates in `cli/new/`, with the crate's name, county and
//! baseline filled in.

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

/// Arguments of `qingdan new`.
#[derive(Debug, Clone, clap::Args)]
pub struct NewArgs {
    /// Name of the plugin crate (lower-case letters, digits, `-` and `_`,
    /// starting with a letter), e.g. `cixi`.
    pub name: String,
    /// Directory to create (must not exist); default `./NAME`.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Path of the guest SDK (`qingdan-sdk`) the plugin depends on; default
    /// the SDK of the Qingdan repository this binary was built from.
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
    println!(
        "Created the county plugin `{}` in {}.\nNext: cd {} && cargo build --release, then qingdan check target/wasm32-wasip2/release/{}.wasm (see README.md).",
        args.name,
        dir.display(),
        dir.display(),
        args.name.replace('-', "_"),
    );
    Ok(0)
}

/// Creates the plugin crate and returns its directory.
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
    let sdk = match &args.sdk {
        Some(sdk) => sdk.clone(),
        None => PathBuf::from(DEFAULT_SDK),
    };
    let sdk = sdk.canonicalize().with_context(|| {
        format!(
            "the SDK is not at {} (give its path with --sdk)",
            sdk.display()
        )
    })?;
    if !sdk.join("Cargo.toml").is_file() {
        bail!("{} has no Cargo.toml: not the SDK", sdk.display());
    }

    let values = Values {
        name: args.name.clone(),
        crate_file: args.name.replace('-', "_"),
        type_name: type_name(&args.name),
        sdk: toml_string(&sdk.to_string_lossy()),
        county_code,
        county_name,
        baseline,
    };
    let files = [
        ("Cargo.toml", CARGO_TOML),
        (".cargo/config.toml", CONFIG_TOML),
        (".gitignore", GITIGNORE),
        ("src/lib.rs", LIB_RS),
        ("README.md", README_MD),
        ("rust-toolchain.toml", RUST_TOOLCHAIN),
    ];
    std::fs::create_dir_all(dir.join("src"))
        .and_then(|()| std::fs::create_dir_all(dir.join(".cargo")))
        .with_context(|| format!("creating {}", dir.display()))?;
    for (path, template) in files {
        write(&dir.join(path), &values.fill(template))?;
    }
    Ok(dir)
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

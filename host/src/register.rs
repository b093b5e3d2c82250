//! The jurisdiction register (DESIGN §2.7): which jurisdiction sits under
//! which, and so which list binds a county.
//!
//! A county's baseline is **the host's choice, never the plugin's**: the
//! baseline of county X on a date is the list of X's parent jurisdiction in
//! force on that date ([`Register::baseline_for`]). A component names the
//! baseline it was written against in `describe`; a name other than its
//! county's parent is refused ([`BaselineError::WrongBaseline`]), so a 宁波
//! county cannot have itself proven against the national or the provincial
//! list, which are weaker.
//!
//! The register is data (`catalogues/register/*.toml`, format in
//! `catalogues/README.md`): GB/T 2260 codes with their names, kinds and
//! parents, including county-level cities administered by the province
//! directly (their parent is the province) and the functional zones
//! (开发区, 高新区) a city lets publish a list. Files are read with the same
//! `FILE:LINE:COLUMN: field: problem` errors as catalogues.

use crate::catalogue::{Catalogue, CatalogueError, CatalogueErrors, Library};
use jiff::civil::Date;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The folder of register files inside a catalogue folder.
pub const REGISTER_DIR: &str = "register";

/// The kind of a jurisdiction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// 国家, code `000000`.
    Nation,
    /// 省 / 自治区 / 直辖市.
    Province,
    /// 地级市 / 自治州 / 地区.
    City,
    /// 市辖区.
    District,
    /// 县 / 自治县 / 旗.
    County,
    /// 县级市 (under a city, or administered by the province directly).
    CountyLevelCity,
    /// 林区 and other county-level units administered by the province directly.
    SpecialArea,
    /// 功能区 (开发区, 高新区, 新区) that the city lets publish a list.
    FunctionalZone,
}

impl Kind {
    /// Every kind.
    pub const ALL: &'static [Kind] = &[
        Kind::Nation,
        Kind::Province,
        Kind::City,
        Kind::District,
        Kind::County,
        Kind::CountyLevelCity,
        Kind::SpecialArea,
        Kind::FunctionalZone,
    ];

    /// The key used in register files.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Nation => "nation",
            Kind::Province => "province",
            Kind::City => "city",
            Kind::District => "district",
            Kind::County => "county",
            Kind::CountyLevelCity => "county-level-city",
            Kind::SpecialArea => "special-area",
            Kind::FunctionalZone => "functional-zone",
        }
    }

    /// Whether a jurisdiction of this kind files county plugins (a
    /// county-level list under a parent's list).
    pub fn files_plugins(self) -> bool {
        matches!(
            self,
            Kind::District
                | Kind::County
                | Kind::CountyLevelCity
                | Kind::SpecialArea
                | Kind::FunctionalZone
        )
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// One jurisdiction of the register.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Six-digit code (GB/T 2260; functional zones: the code the city uses).
    pub code: String,
    /// Name, e.g. `慈溪市`.
    pub name: String,
    /// Kind.
    pub kind: Kind,
    /// The jurisdiction whose list binds this one (`None` only for the nation).
    pub parent: Option<String>,
    /// Where the entry comes from, when not the file's source.
    pub note: Option<String>,
    /// The file, line and column of its `code`.
    #[serde(skip)]
    pub at: (PathBuf, usize, usize),
    /// Line and column of its `parent` (of its `code` when it has none).
    #[serde(skip)]
    pub parent_at: (usize, usize),
}

impl Entry {
    /// `慈溪市 330282`.
    pub fn label(&self) -> String {
        format!("{} {}", self.name, self.code)
    }
}

/// The register: every jurisdiction read from the register files.
#[derive(Clone, Debug, Default)]
pub struct Register {
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
}

/// Why a county has no baseline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// The code is not in the register.
    #[error(
        "{code} is not in the jurisdiction register; a county's baseline is chosen from the register, so an unknown county cannot be proven or served"
    )]
    UnknownCounty {
        /// The code.
        code: String,
    },
    /// The jurisdiction does not file plugins (a city, a province).
    #[error(
        "{label} is a {kind}, not a county-level jurisdiction: it does not file county plugins"
    )]
    NotACounty {
        /// Name and code.
        label: String,
        /// Its kind.
        kind: Kind,
    },
    /// The component names another list than its county's parent.
    #[error(
        "the component names the list of {named} as its baseline, but the baseline of {county} is the list of its parent {parent}"
    )]
    WrongBaseline {
        /// The county (name and code).
        county: String,
        /// The list named (name and code, or just the code when unknown).
        named: String,
        /// The parent (name and code).
        parent: String,
    },
    /// The catalogue given is not a list of the county's parent.
    #[error(
        "{given} is not a list of {parent}, the parent of {county}; the baseline of a county is its parent's list"
    )]
    NotTheParentList {
        /// The county (name and code).
        county: String,
        /// The catalogue given (label).
        given: String,
        /// The parent (name and code).
        parent: String,
    },
    /// The parent has no list in force on the date.
    #[error("no list of {parent}, the parent of {county}, is in force on {date}")]
    NoListInForce {
        /// The county (name and code).
        county: String,
        /// The parent (name and code).
        parent: String,
        /// The date.
        date: Date,
    },
}

impl Register {
    /// Reads every `*.toml` file of `dir` (normally `catalogues/register`).
    pub fn load_dir(dir: &Path) -> Result<Register, CatalogueErrors> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| whole_file_error(dir, format!("cannot list the register folder: {e}")))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(whole_file_error(
                dir,
                "no register file (*.toml) in the folder",
            ));
        }
        let mut entries = Vec::new();
        let mut errors = Vec::new();
        for file in &files {
            match std::fs::read_to_string(file) {
                Ok(text) => match crate::catalogue::parse_register(&text, file) {
                    Ok(found) => entries.extend(found),
                    Err(e) => errors.extend(e.0),
                },
                Err(e) => errors.push(
                    whole_file_error(file, format!("cannot read the file: {e}"))
                        .0
                        .remove(0),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(CatalogueErrors(errors));
        }
        Register::from_entries(entries)
    }

    /// The register of a catalogue folder: `<dir>/register/`.
    pub fn of_catalogues(dir: &Path) -> Result<Register, CatalogueErrors> {
        Register::load_dir(&dir.join(REGISTER_DIR))
    }

    /// Reads register text; `path` names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Register, CatalogueErrors> {
        Register::from_entries(crate::catalogue::parse_register(text, path)?)
    }

    /// Checks the rules between entries: codes unique, every parent present,
    /// no cycle, and the root is the nation.
    pub fn from_entries(entries: Vec<Entry>) -> Result<Register, CatalogueErrors> {
        let mut errors = Vec::new();
        let mut index = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            if let Some(first) = index.insert(e.code.clone(), i) {
                let f = &entries[first];
                errors.push(entry_error(
                    e,
                    "code",
                    format!(
                        "code {} is registered twice (first as {} at {}:{})",
                        e.code,
                        f.name,
                        f.at.0.display(),
                        f.at.1
                    ),
                ));
            }
        }
        for e in &entries {
            match &e.parent {
                None if e.kind != Kind::Nation => errors.push(entry_error(
                    e,
                    "parent",
                    format!("{} has no parent; only the nation has none", e.label()),
                )),
                Some(p) if !index.contains_key(p) => errors.push(entry_error(
                    e,
                    "parent",
                    format!("parent {p} of {} is not in the register", e.label()),
                )),
                _ => {}
            }
            // Walk up: a cycle never reaches an entry without a parent.
            let mut at = e;
            let mut steps = 0;
            while let Some(next) = at.parent.as_ref().and_then(|p| index.get(p)) {
                at = &entries[*next];
                steps += 1;
                if steps > entries.len() {
                    errors.push(entry_error(
                        e,
                        "parent",
                        format!("the parents of {} form a cycle", e.label()),
                    ));
                    break;
                }
            }
        }
        if errors.is_empty() {
            Ok(Register { entries, index })
        } else {
            Err(CatalogueErrors(errors))
        }
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The position of `code` among [`Register::entries`].
    pub fn position(&self, code: &str) -> Option<usize> {
        self.index.get(code).copied()
    }

    /// The entry of `code`.
    pub fn get(&self, code: &str) -> Option<&Entry> {
        self.index.get(code).map(|i| &self.entries[*i])
    }

    /// The parent entry of `code`.
    pub fn parent_of(&self, code: &str) -> Option<&Entry> {
        self.get(self.get(code)?.parent.as_deref()?)
    }

    /// The jurisdictions above `code`, nearest first.
    pub fn ancestors(&self, code: &str) -> Vec<&Entry> {
        let mut out: Vec<&Entry> = Vec::new();
        let mut at = self.parent_of(code);
        while let Some(e) = at {
            if out.iter().any(|o| o.code == e.code) {
                break;
            }
            out.push(e);
            at = self.parent_of(&e.code);
        }
        out
    }

    /// Name and code of `code` when registered, the code alone otherwise.
    pub fn label(&self, code: &str) -> String {
        self.get(code)
            .map(Entry::label)
            .unwrap_or_else(|| crate::text::escape(&crate::text::cap(code, 40)).into_owned())
    }

    /// The entry of a county that files plugins, and its parent.
    pub fn county(&self, code: &str) -> Result<(&Entry, &Entry), BaselineError> {
        let county = self.get(code).ok_or_else(|| BaselineError::UnknownCounty {
            code: crate::text::escape(&crate::text::cap(code, 40)).into_owned(),
        })?;
        if !county.kind.files_plugins() {
            return Err(BaselineError::NotACounty {
                label: county.label(),
                kind: county.kind,
            });
        }
        // Every non-national entry has a parent in the register (checked
        // when the register was built).
        let parent = self
            .parent_of(code)
            .ok_or_else(|| BaselineError::UnknownCounty {
                code: county.code.clone(),
            })?;
        Ok((county, parent))
    }

    /// Checks that a component's own account of its baseline agrees with the
    /// register: `named` must be the parent of `county`.
    pub fn check_named_baseline(&self, county: &str, named: &str) -> Result<(), BaselineError> {
        let (entry, parent) = self.county(county)?;
        if named == parent.code {
            Ok(())
        } else {
            Err(BaselineError::WrongBaseline {
                county: entry.label(),
                named: self.label(named),
                parent: parent.label(),
            })
        }
    }

    /// The baseline of `county` on `date`: the list of its parent in force
    /// then. (A component's own account of its baseline is checked apart,
    /// with [`Register::check_named_baseline`].)
    pub fn baseline_for<'a>(
        &self,
        library: &'a Library,
        county: &str,
        date: Date,
    ) -> Result<&'a Catalogue, BaselineError> {
        let (entry, parent) = self.county(county)?;
        library
            .in_force(&parent.code, date)
            .ok_or_else(|| BaselineError::NoListInForce {
                county: entry.label(),
                parent: parent.label(),
                date,
            })
    }

    /// Checks that a catalogue chosen by hand (a draft edition, say) is a
    /// list of the county's parent.
    pub fn check_parent_list(
        &self,
        county: &str,
        catalogue: &Catalogue,
    ) -> Result<(), BaselineError> {
        let (entry, parent) = self.county(county)?;
        if catalogue.jurisdiction.code == parent.code {
            Ok(())
        } else {
            Err(BaselineError::NotTheParentList {
                county: entry.label(),
                given: catalogue.label(),
                parent: parent.label(),
            })
        }
    }

    /// Every catalogue's jurisdiction must be registered, and the list it
    /// must not fall below must be one above it in the register (its parent,
    /// or further up where a level has no list).
    pub fn check_library(&self, library: &Library) -> Vec<CatalogueError> {
        let mut errors = Vec::new();
        for c in library.catalogues() {
            let Some(entry) = self.get(&c.jurisdiction.code) else {
                errors.push(CatalogueError {
                    file: c.path.clone(),
                    line: 0,
                    column: 0,
                    field: "jurisdiction.code".into(),
                    problem: format!(
                        "{} {} is not in the jurisdiction register (catalogues/{REGISTER_DIR}/)",
                        c.jurisdiction.name, c.jurisdiction.code
                    ),
                });
                continue;
            };
            let ancestors = self.ancestors(&entry.code);
            let parent_ok = match &c.parent {
                None => entry.parent.is_none(),
                Some(p) => ancestors.iter().any(|a| &a.code == p),
            };
            if !parent_ok {
                errors.push(CatalogueError {
                    file: c.path.clone(),
                    line: 0,
                    column: 0,
                    field: "jurisdiction.parent".into(),
                    problem: format!(
                        "the list names parent {}, which the register ({}:{}) does not put above {}; above it are: {}",
                        c.parent.as_deref().unwrap_or("none"),
                        entry.at.0.display(),
                        entry.at.1,
                        entry.label(),
                        ancestors
                            .iter()
                            .map(|a| a.label())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
            }
        }
        errors
    }
}

fn whole_file_error(path: &Path, problem: impl Into<String>) -> CatalogueErrors {
    CatalogueErrors(vec![CatalogueError {
        file: path.to_path_buf(),
        line: 0,
        column: 0,
        field: String::new(),
        problem: problem.into(),
    }])
}

fn entry_error(e: &Entry, field: &str, problem: String) -> CatalogueError {
    let (line, column) = if field == "parent" {
        e.parent_at
    } else {
        (e.at.1, e.at.2)
    };
    CatalogueError {
        file: e.at.0.clone(),
        line,
        column,
        field: format!("jurisdictions ({}).{field}", e.code),
        problem,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    const TEXT: &str = r#"
[source]
title = "test register"

[[jurisdictions]]
code = "000000"
name = "国家"
kind = "nation"

[[jurisdictions]]
code = "420000"
name = "湖北省"
kind = "province"
parent = "000000"

[[jurisdictions]]
code = "421000"
name = "荆州市"
kind = "city"
parent = "420000"

[[jurisdictions]]
code = "421024"
name = "江陵县"
kind = "county"
parent = "421000"

[[jurisdictions]]
code = "429004"
name = "仙桃市"
kind = "county-level-city"
parent = "420000"
"#;

    fn register() -> Register {
        Register::parse(TEXT, Path::new("r.toml")).unwrap()
    }

    #[test]
    fn parents_and_named_baselines() {
        let r = register();
        assert_eq!(r.parent_of("421024").unwrap().code, "421000");
        assert_eq!(r.parent_of("429004").unwrap().code, "420000");
        r.check_named_baseline("421024", "421000").unwrap();
        r.check_named_baseline("429004", "420000").unwrap();
        let err = r.check_named_baseline("421024", "000000").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the component names the list of 国家 000000 as its baseline, but the baseline of 江陵县 421024 is the list of its parent 荆州市 421000"
        );
        let err = r.check_named_baseline("421024", "420000").unwrap_err();
        assert!(err.to_string().contains("湖北省 420000"), "{err}");
        assert!(matches!(
            r.check_named_baseline("421099", "421000"),
            Err(BaselineError::UnknownCounty { .. })
        ));
        assert!(matches!(
            r.check_named_baseline("421000", "420000"),
            Err(BaselineError::NotACounty { .. })
        ));
    }

    #[test]
    fn broken_registers_name_file_line_and_field() {
        let text = TEXT.replace("parent = \"421000\"", "parent = \"421900\"");
        let err = Register::parse(&text, Path::new("r.toml")).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "r.toml:26:10: jurisdictions[3].parent: `421900` is not above `421024`"
            ),
            "{err}"
        );
        let text = format!("{TEXT}parent = \"429000\"\n").replacen(
            "kind = \"county-level-city\"\nparent = \"420000\"\n",
            "kind = \"county-level-city\"\n",
            1,
        );
        let err = Register::parse(&text, Path::new("r.toml")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "r.toml:32:10: jurisdictions (429004).parent: parent 429000 of 仙桃市 429004 is not in the register"
        );
        let text = TEXT.replace("kind = \"county\"", "kind = \"town\"");
        let err = Register::parse(&text, Path::new("r.toml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("r.toml:25:8: jurisdictions[3].kind: unknown value `town`"),
            "{err}"
        );
        let text = format!(
            "{TEXT}\n[[jurisdictions]]\ncode = \"421024\"\nname = \"x\"\nkind = \"county\"\nparent = \"421000\"\n"
        );
        let err = Register::parse(&text, Path::new("r.toml")).unwrap_err();
        assert!(err.to_string().contains("registered twice"), "{err}");
        let text = TEXT.replace("code = \"429004\"", "code = \"42900\"");
        let err = Register::parse(&text, Path::new("r.toml")).unwrap_err();
        assert!(err.to_string().contains("six digits"), "{err}");
    }
}

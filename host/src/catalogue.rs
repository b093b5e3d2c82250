//! Catalogues: the published lists as data (DESIGN §3.3).
//!
//! A catalogue file (TOML, format in `catalogues/README.md`) is one edition of
//! one jurisdiction's list. This module reads and validates it
//! ([`Catalogue::from_file`]), evaluates it natively for a person
//! ([`Catalogue::lines_into`], the hot path; [`Catalogue::explain`], with
//! reasons), groups editions into a [`Library`], and checks a list against the
//! list it must not fall below over the whole person domain
//! ([`check_against`]).
//!
//! # Layout
//!
//! - `predicate`: eligibility conditions, their rendering and compiled form.
//! - `reader`: TOML to [`Catalogue`], with every validation rule.
//! - `chain`: [`check_against`] and [`ChainReport`].
//! - `error`: [`CatalogueError`] (file, line, column, field, problem).

use crate::model::{Benefit, BenefitKind, Category, Line, Person, Shortfall, dominates};
use crate::text::Shared;
use jiff::civil::Date;
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};

mod chain;
mod error;
mod predicate;
mod reader;
mod table;

pub use chain::{
    ChainReport, Counterexample, EXAMPLES_PER_ITEM, ItemFailure, check_against,
    check_against_exhaustive,
};
pub use error::{CatalogueError, CatalogueErrors};
pub use predicate::{Atom, Cmp, Compiled, MAX_CUBES, Predicate, Probe, person_text};
pub use table::BaselineTable;

pub(crate) use reader::register::parse as parse_register;

/// Largest number of items in one catalogue: lines name items by a `u16`
/// index, and codes from [`crate::model::HOST_CODES_FROM`] up are reserved
/// for the host.
pub const MAX_ITEMS: usize = crate::model::HOST_CODES_FROM as usize;

/// The level of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// 国家 (code `000000`).
    National,
    /// 省 (code `XX0000`).
    Province,
    /// 市 (code `XXYY00`).
    City,
    /// 县/市/区 (code `XXYYZZ`, `ZZ` not `00`).
    County,
}

impl Level {
    /// Every level, from the top.
    pub const ALL: &'static [Level] =
        &[Level::National, Level::Province, Level::City, Level::County];

    /// The key used in catalogues.
    pub fn key(self) -> &'static str {
        match self {
            Level::National => "national",
            Level::Province => "province",
            Level::City => "city",
            Level::County => "county",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// Who publishes the list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Jurisdiction {
    /// GB/T 2260 code, six digits (`000000` for the national list).
    pub code: String,
    /// Chinese name, e.g. `宁波市`.
    pub name: String,
    /// Level.
    pub level: Level,
}

/// How reliable a source is (the labels of `shared/domain.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Quality {
    /// One of the municipal policy texts the project starts from.
    Text,
    /// A government website.
    Gov,
    /// Newspaper or official media, or a repost of one.
    News,
    /// An aggregator site: illustrative only.
    Agg,
    /// A copy of a government page on another domain.
    Mirror,
    /// A public repository quoting a text.
    Code,
    /// No source: a figure chosen for the sample (must be illustrative).
    None,
}

impl Quality {
    /// Every label.
    pub const ALL: &'static [Quality] = &[
        Quality::Text,
        Quality::Gov,
        Quality::News,
        Quality::Agg,
        Quality::Mirror,
        Quality::Code,
        Quality::None,
    ];

    /// The label as written in catalogues.
    pub fn key(self) -> &'static str {
        match self {
            Quality::Text => "TEXT",
            Quality::Gov => "GOV",
            Quality::News => "NEWS",
            Quality::Agg => "AGG",
            Quality::Mirror => "MIRROR",
            Quality::Code => "CODE",
            Quality::None => "NONE",
        }
    }
}

impl fmt::Display for Quality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The document a list edition is published in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Source {
    /// Title of the document.
    pub title: String,
    /// Where it can be read, if known.
    pub url: Option<String>,
    /// How reliable the copy is.
    pub quality: Quality,
}

/// Where a figure comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Provenance {
    /// How reliable the source is.
    pub quality: Quality,
    /// Title of the source, if any.
    pub title: Option<String>,
    /// Address of the source, if any.
    pub url: Option<String>,
    /// The words the figure is taken from, if quoted.
    pub quote: Option<String>,
    /// True when the figure is not an official figure (made up for the
    /// sample, or only from an aggregator).
    pub illustrative: bool,
    /// Anything a reader should know (conflicts, unverified details).
    pub note: Option<String>,
}

impl Provenance {
    /// The provenance of a line the catalogue gives without a figure of its
    /// own (a presence-only item or a right without its own provenance): the
    /// catalogue's source document.
    pub fn of_source(source: &Source) -> Provenance {
        Provenance {
            quality: source.quality,
            title: Some(source.title.clone()),
            url: source.url.clone(),
            quote: None,
            illustrative: false,
            note: None,
        }
    }
}

/// One benefit of an item, given to the persons its condition selects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// Which eligible persons get this tier (`Always` for an untiered item).
    pub when: Predicate,
    /// Readable name of the tier (`None` for an untiered item).
    pub label: Option<String>,
    /// What the tier gives.
    pub benefit: Benefit,
    /// Where the figure comes from.
    pub provenance: Provenance,
    compiled: Compiled,
}

/// One item of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Stable key shared across levels, e.g. `old-age-allowance`.
    pub key: Shared,
    /// Chinese name.
    pub name: Shared,
    /// Category.
    pub category: Category,
    /// Legal basis as written in the list.
    pub legal_basis: Shared,
    /// The list sets no figure: a lower list must give *some* line for this
    /// item to every eligible person. Evaluates to [`Benefit::Right`].
    pub presence_only: bool,
    /// Who is eligible.
    pub eligibility: Predicate,
    /// The kind every tier's benefit has.
    pub kind: BenefitKind,
    /// The benefit, by tier; exactly one tier holds for every eligible person.
    pub tiers: Vec<Tier>,
    /// 服务内容: what the service consists of, in the list's words.
    pub content: Option<Shared>,
    /// 服务标准: the standard the service follows, with any national
    /// standard it references (e.g. GB/T 43153-2023).
    pub standard: Option<Shared>,
    /// 支出责任: who pays.
    pub funding: Option<Shared>,
    /// 责任单位: the responsible departments, the lead one first.
    pub department: Option<Shared>,
    compiled: Compiled,
}

/// One descriptive field of an item ([`Item::details`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detail<'a> {
    /// The key as written in catalogues (`content`, `standard`, …).
    pub key: &'static str,
    /// The Chinese heading of the list's column (服务内容, 服务标准, …).
    pub heading: &'static str,
    /// The text.
    pub text: &'a str,
}

impl Item {
    /// The descriptive fields the item gives, in list column order:
    /// 服务内容, 服务标准, 支出责任, 责任单位.
    pub fn details(&self) -> Vec<Detail<'_>> {
        [
            ("content", "服务内容", &self.content),
            ("standard", "服务标准", &self.standard),
            ("funding", "支出责任", &self.funding),
            ("department", "责任单位", &self.department),
        ]
        .into_iter()
        .filter_map(|(key, heading, text)| {
            text.as_deref().map(|text| Detail { key, heading, text })
        })
        .collect()
    }
}

impl Item {
    /// The tier that holds for `p`, when `p` is eligible.
    pub fn tier_for(&self, p: &Person) -> Option<&Tier> {
        let probe = Probe::of(p);
        if !self.compiled.matches(&probe) {
            return None;
        }
        self.tiers.iter().find(|t| t.compiled.matches(&probe))
    }

    #[inline]
    fn benefit_for(&self, probe: &Probe) -> Option<Benefit> {
        if !self.compiled.matches(probe) {
            return None;
        }
        self.tiers
            .iter()
            .find(|t| t.compiled.matches(probe))
            .map(|t| t.benefit)
    }
}

/// Whether a lower list's line `county` is acceptable against this list's
/// line `baseline` for item `item` (of this list). A presence-only item
/// needs some line that is worth something ([`Benefit::is_worthless`]):
/// `0 per 12 months` does not realise an item; otherwise [`dominates`]
/// decides.
pub fn accepts(item: &Item, county: Option<&Benefit>, baseline: &Benefit) -> Result<(), Shortfall> {
    if item.presence_only {
        return match county {
            Some(c) if c.is_worthless() => Err(Shortfall::Worthless),
            Some(_) => Ok(()),
            None => Err(Shortfall::Missing),
        };
    }
    dominates(county, baseline)
}

/// A baseline line with its reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct BaselineLine {
    /// Index of the item in [`Catalogue::items`].
    pub item: usize,
    /// What the person gets.
    pub benefit: Benefit,
    /// Which condition held, with the person's values.
    pub reason: String,
    /// Which tier, for a tiered item.
    pub tier: Option<String>,
    /// Where the figure comes from.
    pub provenance: Provenance,
}

/// One edition of one list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    /// The file it was read from.
    pub path: PathBuf,
    /// Who publishes it.
    pub jurisdiction: Jurisdiction,
    /// Code of the list it must not fall below (`None` only for the national list).
    pub parent: Option<String>,
    /// Edition name, e.g. `2023`.
    pub edition: String,
    /// First day in force.
    pub effective_from: Date,
    /// Last day in force (inclusive), if the edition has ended.
    pub effective_to: Option<Date>,
    /// The document.
    pub source: Source,
    /// The items, in file order (their index is the line's item code).
    pub items: Vec<Item>,
    /// `sha256:` digest of the file's text: the edition's identity, which
    /// answer tables and evaluations are pinned to.
    pub digest: String,
    /// Positions of fields needed for errors found after loading (parent, dates).
    spans: reader::Spans,
}

impl Catalogue {
    /// Reads and validates a catalogue file.
    pub fn from_file(path: &Path) -> Result<Catalogue, CatalogueErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CatalogueErrors(vec![CatalogueError {
                file: path.to_path_buf(),
                line: 0,
                column: 0,
                field: String::new(),
                problem: format!("cannot read the file: {e}"),
            }])
        })?;
        Catalogue::parse(&text, path)
    }

    /// Validates catalogue text; `path` names the file in errors.
    ///
    /// ```
    /// use qingdan::catalogue::Catalogue;
    /// use qingdan::model::{Benefit, Person};
    /// use std::path::Path;
    ///
    /// let text = r#"
    /// [jurisdiction]
    /// code = "330200"
    /// name = "宁波市"
    /// level = "city"
    /// parent = "330000"
    /// edition = "2023"
    /// effective-from = 2023-01-01
    ///
    /// [source]
    /// title = "宁波市基本养老服务清单"
    /// quality = "NONE"
    ///
    /// [[items]]
    /// key = "old-age-allowance"
    /// name = "高龄津贴"
    /// category = "material-assistance"
    /// legal-basis = "高龄津贴制度"
    /// eligibility = { age = { min = 80 }, hukou = "local" }
    /// benefit = { kind = "monthly-cash", tiers = [
    ///   { when = { age = { max = 89 } }, fen = 6000, provenance = { quality = "NONE", illustrative = true } },
    ///   { when = { age = { min = 90 } }, fen = 10000, provenance = { quality = "NONE", illustrative = true } },
    /// ] }
    /// "#;
    /// let list = Catalogue::parse(text, Path::new("ningbo.toml"))?;
    /// let lines = list.explain(&Person::aged(92));
    /// assert_eq!(lines[0].benefit, Benefit::MonthlyCash { fen: 10000 });
    /// assert_eq!(lines[0].reason, "age 92 ≥ 80 and hukou local; tier age ≥ 90: age 92 ≥ 90");
    /// # Ok::<(), qingdan::catalogue::CatalogueErrors>(())
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Catalogue, CatalogueErrors> {
        reader::parse(text, path)
    }

    /// A short name: `宁波市 330200 edition 2023`.
    pub fn label(&self) -> String {
        format!(
            "{} {} edition {}",
            self.jurisdiction.name, self.jurisdiction.code, self.edition
        )
    }

    /// Index of the item with this key.
    pub fn item_index(&self, key: &str) -> Option<usize> {
        self.items.iter().position(|i| i.key == key)
    }

    /// Appends `(item index, benefit)` for every item `person` is eligible
    /// for, in item order. Allocates nothing besides growing `out`. A person
    /// under 60 is not an elder: no line (ages over 120 count as 120).
    #[inline]
    pub fn lines_into(&self, person: &Person, out: &mut Vec<Line>) {
        if person.age < crate::model::MIN_AGE {
            return;
        }
        let probe = Probe::of(person);
        for (i, item) in self.items.iter().enumerate() {
            if let Some(benefit) = item.benefit_for(&probe) {
                // Item counts are capped at MAX_ITEMS when reading, so the
                // index fits in a u16.
                out.push(Line {
                    item: i as u16,
                    benefit,
                });
            }
        }
    }

    /// The same lines as [`Catalogue::lines_into`], each with its reason,
    /// tier and provenance.
    pub fn explain(&self, person: &Person) -> Vec<BaselineLine> {
        let mut out = Vec::new();
        if person.age < crate::model::MIN_AGE {
            return out;
        }
        for (i, item) in self.items.iter().enumerate() {
            let Some(tier) = item.tier_for(person) else {
                continue;
            };
            let reason = item
                .eligibility
                .reason(person)
                .unwrap_or_else(|| item.eligibility.to_string());
            let (reason, label) = match &tier.label {
                Some(label) => {
                    let why = tier.when.reason(person).unwrap_or_else(|| label.clone());
                    (
                        format!("{reason}; tier {label}: {why}"),
                        Some(label.clone()),
                    )
                }
                None => (reason, None),
            };
            out.push(BaselineLine {
                item: i,
                benefit: tier.benefit,
                reason,
                tier: label,
                provenance: tier.provenance.clone(),
            });
        }
        out
    }

    /// Whether the edition is in force on `date`.
    pub fn in_force(&self, date: Date) -> bool {
        period_covers(self.effective_from, self.effective_to, date)
    }

    /// Whether this edition's period overlaps `other`'s.
    pub fn overlaps(&self, other: &Catalogue) -> bool {
        let ends_before =
            |a: &Catalogue, b: &Catalogue| a.effective_to.is_some_and(|to| to < b.effective_from);
        !ends_before(self, other) && !ends_before(other, self)
    }
}

/// Whether a period from `from` to `to` (open-ended without one), both
/// days included, covers `date`: the rule of [`Catalogue::in_force`].
pub fn period_covers(from: Date, to: Option<Date>, date: Date) -> bool {
    date >= from && to.is_none_or(|to| date <= to)
}

/// A set of catalogues: every edition of every jurisdiction loaded.
#[derive(Clone, Debug, Default)]
pub struct Library {
    catalogues: Vec<Catalogue>,
    /// The positions in `catalogues` of each jurisdiction's editions, in
    /// order of their first day: the request path finds the list in force
    /// without walking every catalogue.
    by_code: std::collections::HashMap<String, Vec<usize>>,
}

impl Library {
    /// Loads every `*.toml` file of `dir`.
    pub fn load_dir(dir: &Path) -> Result<Library, CatalogueErrors> {
        let files = toml_files(dir).map_err(|e| {
            CatalogueErrors(vec![CatalogueError {
                file: dir.to_path_buf(),
                line: 0,
                column: 0,
                field: String::new(),
                problem: format!("cannot list the directory: {e}"),
            }])
        })?;
        Library::from_paths(&files)
    }

    /// Loads `files`, and the catalogues in the same directories that they
    /// need as parents (transitively).
    pub fn load_files(files: &[PathBuf]) -> Result<Library, CatalogueErrors> {
        let mut errors = Vec::new();
        let mut loaded: Vec<Catalogue> = Vec::new();
        for f in files {
            match Catalogue::from_file(f) {
                Ok(c) => loaded.push(c),
                Err(e) => errors.extend(e.0),
            }
        }
        // Parents come from the neighbours of the named files. A broken
        // neighbour is only reported when it is needed.
        let mut dirs: Vec<PathBuf> = files
            .iter()
            .map(|f| {
                f.parent()
                    .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        let mut neighbours: Vec<Result<Catalogue, CatalogueErrors>> = Vec::new();
        for d in &dirs {
            let d = if d.as_os_str().is_empty() {
                Path::new(".")
            } else {
                d.as_path()
            };
            for f in toml_files(d).unwrap_or_default() {
                let same = |g: &PathBuf| same_file(g, &f);
                if !files.iter().any(same) {
                    neighbours.push(Catalogue::from_file(&f));
                }
            }
        }
        let mut wanted: Vec<String> = loaded.iter().filter_map(|c| c.parent.clone()).collect();
        while let Some(code) = wanted.pop() {
            if loaded.iter().any(|c| c.jurisdiction.code == code) {
                continue;
            }
            for n in &neighbours {
                if let Ok(c) = n
                    && c.jurisdiction.code == code
                {
                    wanted.extend(c.parent.clone());
                    loaded.push(c.clone());
                }
            }
        }
        // A parent still missing may be one of the neighbours that failed to
        // read: then its errors are the real news.
        let missing = loaded.iter().any(|c| {
            c.parent
                .as_ref()
                .is_some_and(|p| !loaded.iter().any(|d| &d.jurisdiction.code == p))
        });
        if missing {
            for n in neighbours {
                if let Err(e) = n {
                    errors.extend(e.0);
                }
            }
        }
        if !errors.is_empty() {
            return Err(CatalogueErrors(errors));
        }
        Library::from_catalogues(loaded)
    }

    fn from_paths(files: &[PathBuf]) -> Result<Library, CatalogueErrors> {
        let mut errors = Vec::new();
        let mut loaded = Vec::new();
        for f in files {
            match Catalogue::from_file(f) {
                Ok(c) => loaded.push(c),
                Err(e) => errors.extend(e.0),
            }
        }
        if !errors.is_empty() {
            return Err(CatalogueErrors(errors));
        }
        Library::from_catalogues(loaded)
    }

    /// Builds a library from catalogues already read, checking the rules
    /// between files: editions of one jurisdiction must not overlap, and
    /// every parent must be present.
    pub fn from_catalogues(catalogues: Vec<Catalogue>) -> Result<Library, CatalogueErrors> {
        let mut errors = Vec::new();
        for (i, a) in catalogues.iter().enumerate() {
            for b in catalogues.iter().skip(i + 1) {
                if a.jurisdiction.code == b.jurisdiction.code && a.overlaps(b) {
                    errors.push(b.spans.error(
                        &b.path,
                        reader::Field::EffectiveFrom,
                        format!(
                            "edition {} ({}..{}) overlaps edition {} of the same jurisdiction in {} ({}..{}); end one before the other begins",
                            b.edition,
                            b.effective_from,
                            b.effective_to.map(|d| d.to_string()).unwrap_or_default(),
                            a.edition,
                            a.path.display(),
                            a.effective_from,
                            a.effective_to.map(|d| d.to_string()).unwrap_or_default(),
                        ),
                    ));
                }
            }
            if let Some(parent) = &a.parent
                && !catalogues.iter().any(|c| &c.jurisdiction.code == parent)
            {
                errors.push(a.spans.error(
                    &a.path,
                    reader::Field::Parent,
                    format!("parent list {parent} cannot be found: no catalogue with that code was loaded (put its file in the same directory)"),
                ));
            }
        }
        if errors.is_empty() {
            let mut catalogues = catalogues;
            catalogues.sort_by(|a, b| {
                (a.jurisdiction.level, &a.jurisdiction.code, a.effective_from).cmp(&(
                    b.jurisdiction.level,
                    &b.jurisdiction.code,
                    b.effective_from,
                ))
            });
            let mut by_code: std::collections::HashMap<String, Vec<usize>> =
                std::collections::HashMap::new();
            for (at, c) in catalogues.iter().enumerate() {
                by_code
                    .entry(c.jurisdiction.code.clone())
                    .or_default()
                    .push(at);
            }
            Ok(Library {
                catalogues,
                by_code,
            })
        } else {
            Err(CatalogueErrors(errors))
        }
    }

    /// The library with `new` published: a new edition of a list that
    /// begins after every edition of that list already here begins. The
    /// edition in force when it begins is ended the day before (its text,
    /// and so its digest, is unchanged: only its period is); the rules of
    /// [`Library::from_catalogues`] then hold for the result. Errors point
    /// at `new`'s `effective-from`.
    ///
    /// With `first_day`, the edition may not begin before it (a publication
    /// through the server takes force after the re-proofs it calls for:
    /// from tomorrow at the earliest).
    pub fn publish(
        &self,
        new: Catalogue,
        first_day: Option<Date>,
    ) -> Result<Library, CatalogueErrors> {
        let refuse = |problem: String| {
            CatalogueErrors(vec![new.spans.error(
                &new.path,
                reader::Field::EffectiveFrom,
                problem,
            )])
        };
        if let Some(first) = first_day
            && new.effective_from < first
        {
            return Err(refuse(format!(
                "a published edition takes force after every county plugin under it is proven against it: {} is too early, the first day it can begin is {first}",
                new.effective_from
            )));
        }
        let code = &new.jurisdiction.code;
        if let Some(same) = self.catalogues.iter().find(|c| c.digest == new.digest) {
            return Err(refuse(format!(
                "this text is already edition {} of {} (digest {})",
                same.edition, same.jurisdiction.code, same.digest
            )));
        }
        if let Some(later) = self
            .catalogues
            .iter()
            .filter(|c| &c.jurisdiction.code == code)
            .find(|c| c.effective_from >= new.effective_from)
        {
            return Err(refuse(format!(
                "a new edition must begin after every edition of {code} already published; edition {} begins {}, not before {}",
                later.edition, later.effective_from, new.effective_from
            )));
        }
        if let Some(named) = self
            .catalogues
            .iter()
            .find(|c| &c.jurisdiction.code == code && c.edition == new.edition)
        {
            return Err(refuse(format!(
                "{code} already has an edition named {} (from {}); give the new edition its own name",
                named.edition, named.effective_from
            )));
        }
        let Ok(day_before) = new.effective_from.yesterday() else {
            return Err(refuse(format!(
                "{} has no day before it",
                new.effective_from
            )));
        };
        let mut catalogues = self.catalogues.clone();
        for c in catalogues
            .iter_mut()
            .filter(|c| &c.jurisdiction.code == code)
        {
            if c.effective_to.is_none_or(|to| to >= new.effective_from) {
                c.effective_to = Some(day_before);
            }
        }
        catalogues.push(new);
        Library::from_catalogues(catalogues)
    }

    /// Every catalogue, ordered by level, code and start date.
    pub fn catalogues(&self) -> &[Catalogue] {
        &self.catalogues
    }

    /// The positions in [`Library::catalogues`] of the editions of
    /// `code`, in order of their first day (the order
    /// [`Library::in_force`] tries them in).
    pub fn positions(&self, code: &str) -> &[usize] {
        self.by_code.get(code).map_or(&[], Vec::as_slice)
    }

    /// The edition of `code` in force on `date`.
    pub fn in_force(&self, code: &str, date: Date) -> Option<&Catalogue> {
        self.by_code
            .get(code)?
            .iter()
            .filter_map(|at| self.catalogues.get(*at))
            .find(|c| c.in_force(date))
    }

    /// The edition of `c`'s parent in force on `date`.
    pub fn parent_of(&self, c: &Catalogue, date: Date) -> Option<&Catalogue> {
        self.in_force(c.parent.as_deref()?, date)
    }

    /// Every edition of `c`'s parent whose period overlaps `c`'s.
    pub fn parent_editions<'a>(
        &'a self,
        c: &'a Catalogue,
    ) -> impl Iterator<Item = &'a Catalogue> + 'a {
        self.catalogues.iter().filter(move |p| {
            c.parent.as_deref() == Some(p.jurisdiction.code.as_str()) && p.overlaps(c)
        })
    }
}

fn toml_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

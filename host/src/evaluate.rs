//! One evaluation with the guard (DESIGN §2.1, §2.3, §2.6): the baseline
//! lines computed natively, the county lines looked up in the county's
//! answer table (the table the proof checked; no WebAssembly runs here), and
//! the merge that never goes below the baseline, with the reason and legal
//! basis of every line. An approved table needs no clamp; the guard stays as
//! defence in depth.
//!
//! The merge is item by item. For a baseline item the result is the county's
//! line only if it is at least as generous as the baseline line
//! ([`catalogue::accepts`]); otherwise the baseline line stands and a clamp is
//! recorded. A plugin fault of any kind — trap, limit, malformed output, guest
//! error — yields the baseline and a fault record, never an error instead of
//! benefits.
//!
//! [`Binding`] ties a plugin's item codes to the catalogue's items; the
//! verifier uses the same binding, so the proof and the run-time guard read
//! the plugin's answers identically.

use crate::catalogue::{self, Catalogue};
use crate::model::{Benefit, Category, HOST_CODES_FROM, ItemCode, Line, Person, Shortfall};
use crate::runtime::{CallError, Description};
use crate::table::{AnswerTable, Outcome};
use crate::text::{Shared, escape};
use jiff::civil::Date;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// What an item code of a plugin stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeTarget {
    /// A baseline item, by index into the catalogue's items.
    Baseline(usize),
    /// A county extra item, by index into the description's extra items.
    Extra(usize),
}

/// Why a plugin's description does not fit the baseline catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The plugin targets another list.
    #[error(
        "the plugin targets the list of {wanted}, but the baseline given is {given} ({given_name})"
    )]
    WrongBaseline {
        /// Code the plugin names.
        wanted: String,
        /// Code of the catalogue given.
        given: String,
        /// Name of the catalogue's jurisdiction.
        given_name: String,
    },
    /// The plugin names a baseline item the catalogue does not have.
    #[error("the plugin refers to baseline item `{key}` (code {code}), which {list} does not have")]
    UnknownBaselineItem {
        /// Item key.
        key: String,
        /// The plugin's code for it.
        code: ItemCode,
        /// Name and edition of the catalogue.
        list: String,
    },
    /// An extra item reuses the key of a baseline item.
    #[error(
        "extra item `{key}` has the key of a baseline item; declare it as a baseline item instead"
    )]
    ExtraShadowsBaseline {
        /// Item key.
        key: String,
    },
    /// The same baseline item is named twice.
    #[error("baseline item `{key}` is named twice (codes {first} and {second})")]
    DuplicateBaselineItem {
        /// Item key.
        key: String,
        /// First code.
        first: ItemCode,
        /// Second code.
        second: ItemCode,
    },
}

/// The correspondence between a plugin's item codes and a catalogue's items.
#[derive(Clone, Debug)]
pub struct Binding {
    /// Wire code of each catalogue item, by item index.
    code_of_item: Vec<ItemCode>,
    /// Every code the plugin may answer with, sorted by code (a binary
    /// search per answered line: a few dozen codes at most).
    targets: Vec<(ItemCode, CodeTarget)>,
}

impl Binding {
    /// Binds a plugin description to a baseline catalogue. Baseline items the
    /// plugin does not name get host codes (`HOST_CODES_FROM + index`).
    pub fn new(catalogue: &Catalogue, description: &Description) -> Result<Binding, BindError> {
        if description.baseline != catalogue.jurisdiction.code {
            return Err(BindError::WrongBaseline {
                wanted: description.baseline.clone(),
                given: catalogue.jurisdiction.code.clone(),
                given_name: catalogue.jurisdiction.name.clone(),
            });
        }
        let mut code_of_item: Vec<Option<ItemCode>> = vec![None; catalogue.items.len()];
        let mut targets = std::collections::BTreeMap::new();
        for named in &description.baseline_items {
            let Some(index) = catalogue.item_index(&named.key) else {
                return Err(BindError::UnknownBaselineItem {
                    key: named.key.clone(),
                    code: named.code,
                    list: format!(
                        "{} ({} edition)",
                        catalogue.jurisdiction.name, catalogue.edition
                    ),
                });
            };
            if let Some(first) = code_of_item[index] {
                return Err(BindError::DuplicateBaselineItem {
                    key: named.key.clone(),
                    first,
                    second: named.code,
                });
            }
            code_of_item[index] = Some(named.code);
            targets.insert(named.code, CodeTarget::Baseline(index));
        }
        for (index, extra) in description.extra_items.iter().enumerate() {
            if catalogue.item_index(&extra.key).is_some() {
                return Err(BindError::ExtraShadowsBaseline {
                    key: extra.key.clone(),
                });
            }
            targets.insert(extra.code, CodeTarget::Extra(index));
        }
        let code_of_item = code_of_item
            .into_iter()
            .enumerate()
            .map(|(index, code)| {
                code.unwrap_or_else(|| {
                    // Catalogues hold far fewer than 32768 items (the loader
                    // refuses more), so the sum stays within u16.
                    let code = HOST_CODES_FROM.saturating_add(index as ItemCode);
                    targets.insert(code, CodeTarget::Baseline(index));
                    code
                })
            })
            .collect();
        Ok(Binding {
            code_of_item,
            targets: targets.into_iter().collect(),
        })
    }

    /// The wire code of catalogue item `index`.
    pub fn code_of(&self, index: usize) -> ItemCode {
        self.code_of_item
            .get(index)
            .copied()
            .unwrap_or(HOST_CODES_FROM)
    }

    /// What a code stands for, if the plugin may use it.
    pub fn target(&self, code: ItemCode) -> Option<CodeTarget> {
        self.targets
            .binary_search_by_key(&code, |(c, _)| *c)
            .ok()
            .and_then(|at| self.targets.get(at))
            .map(|(_, target)| *target)
    }

    /// Converts catalogue lines (item = catalogue index) to wire lines in place.
    pub fn to_wire(&self, lines: &mut [Line]) {
        for line in lines {
            line.item = self.code_of(usize::from(line.item));
        }
    }
}

/// A plugin answer read against the baseline: for each catalogue item the
/// county line (if any), and the extra items.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadAnswer {
    /// `(catalogue item index, benefit)`, sorted by index.
    pub baseline_items: Vec<(usize, Benefit)>,
    /// `(extra item index, benefit)`, sorted by index.
    pub extras: Vec<(usize, Benefit)>,
}

impl ReadAnswer {
    /// The county's line for catalogue item `index`, if it gives one.
    pub fn county_line(&self, index: usize) -> Option<Benefit> {
        self.baseline_items
            .binary_search_by_key(&index, |(i, _)| *i)
            .ok()
            .map(|at| self.baseline_items[at].1)
    }
}

/// Why an answer cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// A code the plugin never declared.
    #[error("line {position} uses item code {code}, which the plugin never declared")]
    UnknownCode {
        /// Position of the line in the answer.
        position: usize,
        /// The code.
        code: ItemCode,
    },
    /// Two lines for one item.
    #[error("item code {code} appears twice in one answer")]
    Duplicate {
        /// The code.
        code: ItemCode,
    },
    /// A benefit that breaks its own rules (quota months 0, percent over 100).
    #[error("line {position} (item code {code}): {problem}")]
    BadBenefit {
        /// Position of the line.
        position: usize,
        /// The code.
        code: ItemCode,
        /// What is wrong.
        problem: String,
    },
}

impl Binding {
    /// Reads a plugin answer: resolves codes, refuses unknown codes,
    /// duplicates and malformed benefits.
    pub fn read(&self, lines: &[Line]) -> Result<ReadAnswer, AnswerError> {
        let mut read = ReadAnswer::default();
        for (position, line) in lines.iter().enumerate() {
            line.benefit
                .check()
                .map_err(|problem| AnswerError::BadBenefit {
                    position,
                    code: line.item,
                    problem,
                })?;
            match self.target(line.item) {
                Some(CodeTarget::Baseline(i)) => read.baseline_items.push((i, line.benefit)),
                Some(CodeTarget::Extra(i)) => read.extras.push((i, line.benefit)),
                None => {
                    return Err(AnswerError::UnknownCode {
                        position,
                        code: line.item,
                    });
                }
            }
        }
        read.baseline_items.sort_by_key(|(i, _)| *i);
        read.extras.sort_by_key(|(i, _)| *i);
        let dup_base = read.baseline_items.windows(2).find(|w| w[0].0 == w[1].0);
        if let Some(w) = dup_base {
            return Err(AnswerError::Duplicate {
                code: self.code_of(w[0].0),
            });
        }
        if let Some(w) = read.extras.windows(2).find(|w| w[0].0 == w[1].0) {
            let code = self
                .targets
                .iter()
                .find(|(_, t)| *t == CodeTarget::Extra(w[0].0))
                .map(|(c, _)| *c)
                .unwrap_or_default();
            return Err(AnswerError::Duplicate { code });
        }
        Ok(read)
    }
}

/// How a result line came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The baseline line, unchanged (no plugin, or the county gives the same).
    Baseline,
    /// The county gives more than the baseline for a baseline item.
    Raised,
    /// A line only the county gives: an extra item, or a baseline item the
    /// city list does not give this person.
    CountyExtra,
    /// The county line was below the baseline; the baseline line stands.
    Clamped,
}

/// One line of an evaluation result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResultLine {
    /// Item key.
    pub item: Shared,
    /// Chinese name.
    pub name: Shared,
    /// Category.
    pub category: Category,
    /// What the person gets.
    pub benefit: Benefit,
    /// What the baseline gives for this item, if anything.
    pub baseline: Option<Benefit>,
    /// How the line came about.
    pub status: Status,
    /// Why the person has the line.
    pub reason: String,
    /// The legal basis of the item.
    pub legal_basis: Shared,
    /// 服务内容, when the list states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<Shared>,
    /// 服务标准, when the list states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard: Option<Shared>,
    /// 支出责任, when the list states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub funding: Option<Shared>,
    /// 责任单位, when the list states it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Shared>,
}

/// The four descriptive columns of a list, with their headings, for
/// display: (heading, text).
fn details(line: &ResultLine) -> [(&'static str, Option<&str>); 4] {
    [
        ("服务内容", line.content.as_deref()),
        ("服务标准", line.standard.as_deref()),
        ("支出责任", line.funding.as_deref()),
        ("责任单位", line.department.as_deref()),
    ]
}

/// A county line that was refused because it fell below the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Clamp {
    /// Item key.
    pub item: String,
    /// What the baseline gives.
    pub baseline: Benefit,
    /// What the county answered (none if it dropped the item).
    pub county: Option<Benefit>,
    /// Why it was refused.
    pub shortfall: Shortfall,
}

/// A plugin fault: the person got the baseline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// Short kind (`out-of-fuel`, `trap`, `malformed`, `guest-error`, …).
    pub kind: String,
    /// What happened.
    pub message: String,
}

impl Fault {
    /// A fault from a plugin call error.
    pub fn from_call(e: &CallError) -> Fault {
        Fault {
            kind: fault_kind(e).to_string(),
            message: e.to_string(),
        }
    }
}

/// A short, stable name for the kind of a call error (used in reports and
/// fault records).
pub fn fault_kind(e: &CallError) -> &'static str {
    match e {
        CallError::OutOfFuel { .. } => "out-of-fuel",
        CallError::Interrupted { .. } => "interrupted",
        CallError::MemoryLimit { .. } => "memory-limit",
        CallError::LogLimit { .. } => "log-limit",
        CallError::StackOverflow => "stack-overflow",
        CallError::Trap { .. } => "trap",
        CallError::Malformed { .. } => "malformed",
        CallError::Guest { .. } => "guest-error",
        CallError::Instantiate(_) => "instantiate",
        CallError::Busy { .. } => "busy",
        CallError::Poisoned(_) => "poisoned",
    }
}

/// Which list answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ListRef {
    /// GB/T 2260 code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Edition.
    pub edition: String,
    /// `sha256:` digest of the edition's file.
    pub digest: String,
}

/// Which plugin answered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PluginRef {
    /// `sha256:…` digest of the component.
    pub digest: String,
    /// County code.
    pub county_code: String,
    /// County name.
    pub county_name: String,
    /// `sha256:…` digest of the answer table served, when there is one.
    pub table: Option<String>,
}

/// Why an answer table cannot serve a baseline edition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// The table was materialised under another edition.
    #[error(
        "the answer table {table} was proven against baseline {table_baseline}, not against {edition} ({digest})"
    )]
    OtherEdition {
        /// The table's digest.
        table: String,
        /// The edition digest the table is pinned to.
        table_baseline: String,
        /// The edition given (label).
        edition: String,
        /// Its digest.
        digest: String,
    },
    /// The table's description does not fit the edition.
    #[error(transparent)]
    Bind(#[from] BindError),
}

/// An answer table ready to serve under one baseline edition: the table and
/// the binding of its codes to the edition's items.
#[derive(Clone, Debug)]
pub struct Served {
    table: Arc<AnswerTable>,
    binding: Binding,
    /// The table's digest as bytes, for the answer cache's keys.
    identity: [u8; 32],
    /// The plugin as every evaluation names it, made once: its texts sit
    /// together here rather than across the table's description, which
    /// with thousands of tables in one host is rarely in cache.
    plugin: PluginRef,
}

impl Served {
    /// Pairs a table with the edition it was proven against; refuses any
    /// other edition.
    pub fn new(table: Arc<AnswerTable>, catalogue: &Catalogue) -> Result<Served, ServeError> {
        if table.baseline_digest() != catalogue.digest {
            return Err(ServeError::OtherEdition {
                table: table.digest().to_string(),
                table_baseline: table.baseline_digest().to_string(),
                edition: catalogue.label(),
                digest: catalogue.digest.clone(),
            });
        }
        let binding = Binding::new(catalogue, table.description())?;
        let identity = crate::table::digest_identity(table.digest());
        let d = table.description();
        let plugin = PluginRef {
            digest: table.plugin_digest().to_string(),
            county_code: d.county_code.clone(),
            county_name: d.county_name.clone(),
            table: Some(table.digest().to_string()),
        };
        Ok(Served {
            table,
            binding,
            identity,
            plugin,
        })
    }

    /// The table's digest as bytes.
    pub fn identity(&self) -> [u8; 32] {
        self.identity
    }

    /// The table.
    pub fn table(&self) -> &AnswerTable {
        &self.table
    }

    fn plugin_ref(&self) -> PluginRef {
        self.plugin.clone()
    }
}

/// What answers for the county in an evaluation.
#[derive(Clone, Copy, Debug)]
pub enum County<'a> {
    /// No county plugin: the baseline alone.
    None,
    /// The answer table in force.
    Table(&'a Served),
    /// A county plugin that cannot answer (it did not load, or its table
    /// could not be materialised): the baseline, with the fault.
    Unavailable(&'a PluginRef, &'a Fault),
}

/// The result of one evaluation: enough to replay it exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// The person.
    pub person: Person,
    /// Evaluation date.
    pub as_of: Date,
    /// The baseline edition used.
    pub baseline: ListRef,
    /// The plugin used, if any.
    pub plugin: Option<PluginRef>,
    /// Version of the host.
    pub host_version: String,
    /// The lines, baseline items first in catalogue order, then extras.
    pub lines: Vec<ResultLine>,
    /// County lines refused by the guard.
    pub clamps: Vec<Clamp>,
    /// A plugin fault, if one happened (the result is then the baseline).
    pub fault: Option<Fault>,
}

/// Evaluates a person against a baseline catalogue and, optionally, the
/// county's answer table, under the guard. Never fails: a refused or
/// unavailable county answer gives the baseline. No WebAssembly runs here.
pub fn evaluate(
    catalogue: &Catalogue,
    county: County<'_>,
    person: &Person,
    as_of: Date,
) -> Evaluation {
    let explained = catalogue.explain(person);
    let mut evaluation = Evaluation {
        person: *person,
        as_of,
        baseline: ListRef {
            code: catalogue.jurisdiction.code.clone(),
            name: catalogue.jurisdiction.name.clone(),
            edition: catalogue.edition.clone(),
            digest: catalogue.digest.clone(),
        },
        plugin: match county {
            County::None => None,
            County::Table(served) => Some(served.plugin_ref()),
            County::Unavailable(plugin, _) => Some(plugin.clone()),
        },
        host_version: env!("CARGO_PKG_VERSION").to_string(),
        lines: Vec::new(),
        clamps: Vec::new(),
        fault: None,
    };
    let baseline_line = |b: &catalogue::BaselineLine, status: Status| {
        let item = &catalogue.items[b.item];
        ResultLine {
            item: item.key.clone(),
            name: item.name.clone(),
            category: item.category,
            benefit: b.benefit,
            baseline: Some(b.benefit),
            status,
            reason: b.reason.clone(),
            legal_basis: item.legal_basis.clone(),
            content: item.content.clone(),
            standard: item.standard.clone(),
            funding: item.funding.clone(),
            department: item.department.clone(),
        }
    };
    let all_baseline = |evaluation: &mut Evaluation, fault: Fault| {
        evaluation.fault = Some(fault);
        evaluation.lines = explained
            .iter()
            .map(|b| baseline_line(b, Status::Baseline))
            .collect();
    };
    let served = match county {
        County::None => {
            evaluation.lines = explained
                .iter()
                .map(|b| baseline_line(b, Status::Baseline))
                .collect();
            return evaluation;
        }
        County::Unavailable(_, fault) => {
            all_baseline(&mut evaluation, fault.clone());
            return evaluation;
        }
        County::Table(served) => served,
    };
    let read = match served.table.outcome(person) {
        Outcome::Lines(lines) => served.binding.read(lines).map_err(|e| Fault {
            kind: "malformed".into(),
            message: e.to_string(),
        }),
        Outcome::GuestError(m) => Err(Fault {
            kind: "guest-error".into(),
            message: m.clone(),
        }),
        Outcome::Malformed(m) => Err(Fault {
            kind: "malformed".into(),
            message: m.clone(),
        }),
    };
    let read = match read {
        Ok(read) => read,
        Err(fault) => {
            all_baseline(&mut evaluation, fault);
            return evaluation;
        }
    };
    let description = served.table.description();
    let county_name = &served.plugin.county_name;
    for b in &explained {
        let item = &catalogue.items[b.item];
        let county = read.county_line(b.item);
        match catalogue::accepts(item, county.as_ref(), &b.benefit) {
            Ok(()) => {
                let benefit = county.unwrap_or(b.benefit);
                if benefit == b.benefit {
                    evaluation.lines.push(baseline_line(b, Status::Baseline));
                } else {
                    let mut line = baseline_line(b, Status::Raised);
                    line.benefit = benefit;
                    line.reason = format!(
                        "{}; {county_name} raises it from {} to {}",
                        b.reason, b.benefit, benefit
                    );
                    evaluation.lines.push(line);
                }
            }
            Err(shortfall) => {
                evaluation.clamps.push(Clamp {
                    item: item.key.to_string(),
                    baseline: b.benefit,
                    county,
                    shortfall,
                });
                let mut line = baseline_line(b, Status::Clamped);
                line.reason = format!(
                    "{}; {county_name}'s line was refused ({shortfall}), the baseline stands",
                    b.reason
                );
                evaluation.lines.push(line);
            }
        }
    }
    // Baseline items the city list does not give this person, which the county does.
    for (index, benefit) in &read.baseline_items {
        if explained.iter().any(|b| b.item == *index) {
            continue;
        }
        let item = &catalogue.items[*index];
        evaluation.lines.push(ResultLine {
            item: item.key.clone(),
            name: item.name.clone(),
            category: item.category,
            benefit: *benefit,
            baseline: None,
            status: Status::CountyExtra,
            reason: format!(
                "{county_name} extends this item to this person; the {} list does not cover them",
                catalogue.jurisdiction.name
            ),
            legal_basis: item.legal_basis.clone(),
            content: item.content.clone(),
            standard: item.standard.clone(),
            funding: item.funding.clone(),
            department: item.department.clone(),
        });
    }
    for (index, benefit) in &read.extras {
        let Some(extra) = description.extra_items.get(*index) else {
            continue;
        };
        evaluation.lines.push(ResultLine {
            item: extra.key.as_str().into(),
            name: extra.name.as_str().into(),
            category: extra.category,
            benefit: *benefit,
            baseline: None,
            status: Status::CountyExtra,
            reason: format!("an extra item of {county_name}"),
            legal_basis: extra.legal_basis.clone().into(),
            content: None,
            standard: None,
            funding: None,
            department: None,
        });
    }
    evaluation
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.person;
        write!(
            f,
            "{} {} (edition {}), as of {}",
            self.baseline.name, self.baseline.code, self.baseline.edition, self.as_of
        )?;
        if let Some(plugin) = &self.plugin {
            write!(
                f,
                " + {} {} ({})",
                escape(&plugin.county_name),
                escape(&plugin.county_code),
                plugin.digest
            )?;
            if let Some(table) = &plugin.table {
                write!(f, "\nanswer table {table}")?;
            }
        }
        writeln!(f)?;
        writeln!(
            f,
            "person: age {}, hukou {}, ability {}, assistance {}, disability {}, living [{}], family-planning-special {}, veteran {}",
            p.age,
            p.hukou,
            p.ability,
            p.assistance,
            p.disability,
            p.living
                .flags()
                .map(|f| f.key())
                .collect::<Vec<_>>()
                .join(", "),
            p.family_planning_special,
            p.veteran_entitled
        )?;
        if let Some(fault) = &self.fault {
            writeln!(
                f,
                "plugin fault ({}): {} — the baseline applies",
                fault.kind,
                escape(&fault.message)
            )?;
        }
        if self.lines.is_empty() {
            writeln!(f, "(no entitlements)")?;
        }
        for line in &self.lines {
            writeln!(
                f,
                "{:<14} {} [{}] {}: {}",
                format!("[{}]", status_label(line.status)),
                escape(&line.name),
                line.category.chinese(),
                escape(&line.item),
                line.benefit
            )?;
            writeln!(f, "{:14}   why: {}", "", escape(&line.reason))?;
            if !line.legal_basis.is_empty() {
                writeln!(f, "{:14}   basis: {}", "", escape(&line.legal_basis))?;
            }
            for (heading, text) in details(line) {
                if let Some(text) = text {
                    writeln!(f, "{:14}   {heading}: {}", "", escape(text))?;
                }
            }
        }
        for clamp in &self.clamps {
            writeln!(
                f,
                "clamped: {} — county {} vs baseline {}: {}",
                clamp.item,
                clamp
                    .county
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "nothing".into()),
                clamp.baseline,
                clamp.shortfall
            )?;
        }
        Ok(())
    }
}

fn status_label(status: Status) -> &'static str {
    match status {
        Status::Baseline => "baseline",
        Status::Raised => "raised",
        Status::CountyExtra => "county-extra",
        Status::Clamped => "clamped",
    }
}

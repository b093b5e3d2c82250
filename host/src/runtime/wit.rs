//! The WIT contract versions the host serves (DESIGN §4). One module per
//! released version of `wit/`, each with its own generated bindings; the
//! newest is `latest`. A released version is never edited: a new version gets
//! a new module here and the runtime keeps serving the old ones.
//!
//! All version dispatch is in this file: [`Version`] says which contract a
//! component exports, [`Pre`] and [`Bindings`] hold one version's generated
//! types, and [`Bindings`]' methods speak the host's model types, so nothing
//! outside this module knows which version a plugin was built for. Older
//! versions convert what they return to the newest version's types.

use wasmtime::Store;
use wasmtime::component::InstancePre;

use crate::model::{Line, Person};

pub(crate) mod v0_1_0;
pub(crate) mod v0_2_0;

/// The newest contract version.
pub(crate) use v0_2_0 as latest;

/// The interface name every version exports, without its version.
pub(crate) const COUNTY_INTERFACE: &str = "qingdan:county/county";

/// A contract version the host serves. Components built for a
/// semver-compatible version (`0.1.x` for 0.1.0, `0.2.x` for 0.2.0) are
/// served by the same bindings: wasmtime finds their exports by semver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    /// `qingdan:county@0.1.0` (`wit/v0.1.0`).
    V0_1,
    /// `qingdan:county@0.2.0` (`wit/v0.2.0`).
    V0_2,
}

impl Version {
    /// Every version served, oldest first.
    pub(crate) const ALL: [Version; 2] = [Version::V0_1, Version::V0_2];

    /// The version an export name such as `qingdan:county/county@0.1.3`
    /// belongs to, if the host serves it.
    pub(crate) fn of_export(name: &str) -> Option<Version> {
        let version = name.strip_prefix(COUNTY_INTERFACE)?.strip_prefix('@')?;
        let mut parts = version.split('.');
        let (major, minor) = (parts.next()?, parts.next()?);
        // A patch part (with any pre-release or build suffix) is not looked at.
        parts.next()?;
        match (major, minor) {
            ("0", "1") => Some(Version::V0_1),
            ("0", "2") => Some(Version::V0_2),
            _ => None,
        }
    }

    /// The export as this version's WIT names it.
    pub(crate) fn export(self) -> &'static str {
        match self {
            Version::V0_1 => v0_1_0::COUNTY_EXPORT,
            Version::V0_2 => v0_2_0::COUNTY_EXPORT,
        }
    }

    /// The functions the export must have.
    pub(crate) fn functions(self) -> &'static [&'static str] {
        match self {
            Version::V0_1 => &v0_1_0::COUNTY_FUNCTIONS,
            Version::V0_2 => &v0_2_0::COUNTY_FUNCTIONS,
        }
    }

    /// The version as `0.1.0`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Version::V0_1 => "0.1.0",
            Version::V0_2 => "0.2.0",
        }
    }
}

/// A component's exports resolved with one version's types, ready to
/// instantiate.
pub(crate) enum Pre<T: 'static> {
    V0_1(v0_1_0::CountyListPre<T>),
    V0_2(v0_2_0::CountyListPre<T>),
}

impl<T: 'static> Pre<T> {
    /// Resolves the exports of `pre` with the types of `version`.
    pub(crate) fn new(version: Version, pre: InstancePre<T>) -> wasmtime::Result<Pre<T>> {
        Ok(match version {
            Version::V0_1 => Pre::V0_1(v0_1_0::CountyListPre::new(pre)?),
            Version::V0_2 => Pre::V0_2(v0_2_0::CountyListPre::new(pre)?),
        })
    }

    pub(crate) fn instance_pre(&self) -> &InstancePre<T> {
        match self {
            Pre::V0_1(pre) => pre.instance_pre(),
            Pre::V0_2(pre) => pre.instance_pre(),
        }
    }

    pub(crate) fn version(&self) -> Version {
        match self {
            Pre::V0_1(_) => Version::V0_1,
            Pre::V0_2(_) => Version::V0_2,
        }
    }

    /// Binds an instance's exports.
    pub(crate) fn bind(
        &self,
        store: &mut Store<T>,
        instance: &wasmtime::component::Instance,
    ) -> wasmtime::Result<Bindings> {
        Ok(match self {
            Pre::V0_1(_) => Bindings::V0_1(v0_1_0::CountyList::new(store, instance)?),
            Pre::V0_2(_) => Bindings::V0_2(v0_2_0::CountyList::new(store, instance)?),
        })
    }
}

/// One instance's exports, with one version's types.
pub(crate) enum Bindings {
    V0_1(v0_1_0::CountyList),
    V0_2(v0_2_0::CountyList),
}

/// A batch's answers as they came back, in the host's line type (not yet
/// validated).
pub(crate) struct RawAnswers {
    pub(crate) answers: Vec<Vec<Line>>,
    pub(crate) outcomes: Vec<u32>,
    pub(crate) errors: Vec<(u32, String)>,
}

impl RawAnswers {
    fn new<L>(
        answers: &[Vec<L>],
        outcomes: Vec<u32>,
        errors: Vec<(u32, String)>,
        line: fn(&L) -> Line,
    ) -> RawAnswers {
        RawAnswers {
            answers: answers
                .iter()
                .map(|lines| lines.iter().map(line).collect())
                .collect(),
            outcomes,
            errors,
        }
    }
}

/// Baseline line-sets in one version's line type.
fn sets_to_wit<L>(sets: &[Vec<Line>], line: fn(&Line) -> L) -> Vec<Vec<L>> {
    sets.iter()
        .map(|lines| lines.iter().map(line).collect())
        .collect()
}

impl Bindings {
    /// `describe`, in the newest version's description type.
    pub(crate) fn describe<T>(
        &self,
        store: &mut Store<T>,
    ) -> wasmtime::Result<latest::wit::Description> {
        match self {
            Bindings::V0_1(b) => b
                .qingdan_county_county()
                .call_describe(store)
                .map(v0_1_0::description_to_latest),
            Bindings::V0_2(b) => b.qingdan_county_county().call_describe(store),
        }
    }

    /// One person's lines. 0.2.0 has no single-person export: it is a batch
    /// of one there.
    pub(crate) fn evaluate<T>(
        &self,
        store: &mut Store<T>,
        who: &Person,
        baseline: &[Line],
    ) -> wasmtime::Result<Result<Vec<Line>, String>> {
        match self {
            Bindings::V0_1(b) => {
                let lines: Vec<_> = baseline.iter().map(v0_1_0::line_to_wit).collect();
                let answer =
                    b.qingdan_county_county()
                        .call_evaluate(store, v0_1_0::person(who), &lines)?;
                Ok(answer.map(|lines| lines.iter().map(v0_1_0::line_from_wit).collect()))
            }
            Bindings::V0_2(_) => {
                // Domain indices are below 1,171,200, so they fit a u32.
                let index = who.index() as u32;
                let mut raw = self.evaluate_indexed(store, &[baseline.to_vec()], &[index], &[0])?;
                if let Some((_, message)) = raw.errors.pop() {
                    return Ok(Err(message));
                }
                let answer = raw
                    .outcomes
                    .first()
                    .and_then(|&n| raw.answers.get(n as usize).cloned());
                Ok(answer.ok_or_else(|| "no answer for the person".to_string()))
            }
        }
    }

    /// A batch: `baselines` are the distinct baseline line-sets, `persons`
    /// the persons' domain indices and `baseline_of` the index of each
    /// person's set in `baselines` (the shape of 0.2.0's `batch`; 0.1.0
    /// gets each person's record, decoded from the index).
    pub(crate) fn evaluate_indexed<T>(
        &self,
        store: &mut Store<T>,
        baselines: &[Vec<Line>],
        persons: &[u32],
        baseline_of: &[u32],
    ) -> wasmtime::Result<RawAnswers> {
        if persons.len() != baseline_of.len() {
            return Err(wasmtime::format_err!(
                "{} persons with {} baseline numbers",
                persons.len(),
                baseline_of.len()
            ));
        }
        match self {
            Bindings::V0_1(b) => {
                let mut pairs = Vec::with_capacity(persons.len());
                for (index, set) in persons.iter().zip(baseline_of) {
                    let person = Person::from_index(*index as usize).ok_or_else(|| {
                        wasmtime::format_err!("person index {index} is not in the domain")
                    })?;
                    pairs.push((v0_1_0::person(&person), *set));
                }
                let work = v0_1_0::wit::Batch {
                    baselines: sets_to_wit(baselines, v0_1_0::line_to_wit),
                    persons: pairs,
                };
                let raw = b
                    .qingdan_county_county()
                    .call_evaluate_batch(store, &work)?;
                let line = v0_1_0::line_from_wit;
                Ok(RawAnswers::new(
                    &raw.answers,
                    raw.outcomes,
                    raw.errors,
                    line,
                ))
            }
            Bindings::V0_2(b) => {
                let work = v0_2_0::wit::Batch {
                    baselines: sets_to_wit(baselines, v0_2_0::line_to_wit),
                    persons: persons.to_vec(),
                    baseline_of: baseline_of.to_vec(),
                };
                let raw = b
                    .qingdan_county_county()
                    .call_evaluate_batch(store, &work)?;
                let line = v0_2_0::line_from_wit;
                Ok(RawAnswers::new(
                    &raw.answers,
                    raw.outcomes,
                    raw.errors,
                    line,
                ))
            }
        }
    }
}

/// The conversions between the host's line type and one version's
/// generated line type, and of the category, for versions whose `line`
/// and `category` have the same shape (every version so far).
macro_rules! line_conversions {
    () => {
        pub(crate) fn line_to_wit(l: &$crate::model::Line) -> wit::Line {
            use $crate::model::Benefit;
            wit::Line {
                item: l.item,
                benefit: match l.benefit {
                    Benefit::MonthlyCash { fen } => wit::Benefit::MonthlyCash(fen),
                    Benefit::Quota(q) => wit::Benefit::Quota(wit::Quota {
                        count: q.count,
                        months: q.months,
                    }),
                    Benefit::OneOff(o) => wit::Benefit::OneOff(wit::OneOff {
                        fixed: o.fixed,
                        percent: o.percent,
                        cap: o.cap,
                    }),
                    Benefit::Voucher(v) => wit::Benefit::Voucher(wit::Voucher {
                        percent: v.percent,
                        monthly_cap: v.monthly_cap,
                    }),
                    Benefit::Right => wit::Benefit::Right,
                },
            }
        }

        pub(crate) fn line_from_wit(l: &wit::Line) -> $crate::model::Line {
            use $crate::model::{self, Benefit};
            model::Line {
                item: l.item,
                benefit: match l.benefit {
                    wit::Benefit::MonthlyCash(fen) => Benefit::MonthlyCash { fen },
                    wit::Benefit::Quota(q) => Benefit::Quota(model::Quota {
                        count: q.count,
                        months: q.months,
                    }),
                    wit::Benefit::OneOff(o) => Benefit::OneOff(model::OneOff {
                        fixed: o.fixed,
                        percent: o.percent,
                        cap: o.cap,
                    }),
                    wit::Benefit::Voucher(v) => Benefit::Voucher(model::Voucher {
                        percent: v.percent,
                        monthly_cap: v.monthly_cap,
                    }),
                    wit::Benefit::Right => Benefit::Right,
                },
            }
        }
    };
}
pub(crate) use line_conversions;

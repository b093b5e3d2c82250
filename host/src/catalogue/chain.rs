//! Declarative against declarative: a list against the list it must not fall
//! below, over the whole person domain.

use super::predicate::{Cells, person_text};
use super::{Catalogue, Library, accepts};
use crate::model::{Benefit, DOMAIN_SIZE, Line, Person, Shortfall, yuan};
use serde::Serialize;
use std::fmt;

/// How many failing persons are kept per item: the smallest by domain index.
pub const EXAMPLES_PER_ITEM: usize = 5;

/// One person for whom the child list gives less than the parent list.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct Counterexample {
    /// Position in the domain order ([`Person::index`]).
    pub person_index: usize,
    /// The person.
    pub person: Person,
    /// The parent list's line.
    pub parent: Benefit,
    /// The child list's line, if any.
    pub child: Option<Benefit>,
    /// Why the child line is not acceptable.
    pub shortfall: Shortfall,
}

/// A parent item the child falls below for some persons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct ItemFailure {
    /// The item key.
    pub item: String,
    /// The item's Chinese name (in the parent list).
    pub name: String,
    /// Whom the parent item covers (its eligibility condition).
    pub covers: String,
    /// How many persons fail.
    pub persons: usize,
    /// The smallest failing persons (at most [`EXAMPLES_PER_ITEM`]).
    pub examples: Vec<Counterexample>,
}

/// The outcome of [`check_against`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub struct ChainReport {
    /// The child list (`宁波市 330200 edition 2023`).
    pub child: String,
    /// The parent list.
    pub parent: String,
    /// The child's file.
    pub child_file: String,
    /// The parent's file.
    pub parent_file: String,
    /// True when no person gets less from the child than from the parent.
    pub passed: bool,
    /// How many persons were checked (the whole domain).
    pub persons: usize,
    /// Per parent item that fails, in parent item order.
    pub failures: Vec<ItemFailure>,
}

impl fmt::Display for ChainReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.passed {
            return writeln!(
                f,
                "PASS {} gives every person at least what {} gives ({} persons checked)",
                self.child, self.parent, self.persons
            );
        }
        writeln!(
            f,
            "FAIL {} falls short of {} on {} item{} ({} persons checked)",
            self.child,
            self.parent,
            self.failures.len(),
            if self.failures.len() == 1 { "" } else { "s" },
            self.persons
        )?;
        if self.failures.is_empty() {
            writeln!(f, "  the check did not cover every person: a worker failed")?;
        }
        for fail in &self.failures {
            writeln!(
                f,
                "  {} ({}): {} persons get less than the parent gives them (the parent covers {}); smallest:",
                fail.item, fail.name, fail.persons, fail.covers
            )?;
            for e in &fail.examples {
                writeln!(
                    f,
                    "    #{} ({}): parent gives {}, child gives {}, {}",
                    e.person_index,
                    person_text(&e.person),
                    e.parent,
                    e.child
                        .map_or_else(|| "nothing".to_string(), |b| b.to_string()),
                    by_how_much(&e.parent, e.child.as_ref())
                )?;
            }
        }
        Ok(())
    }
}

/// How far the child line `child` falls short of the parent line `parent`,
/// in the figures of the benefit.
fn by_how_much(parent: &Benefit, child: Option<&Benefit>) -> String {
    type Unit<'a> = &'a dyn Fn(u64) -> String;
    let Some(child) = child else {
        return "the item is missing".to_string();
    };
    if matches!(parent, Benefit::Right) && child.is_worthless() {
        // A presence-only item: any line but one worth nothing.
        return "a line worth nothing, which does not realise the item".to_string();
    }
    let per_month = |fen: u64| format!("{} 元/月", yuan(fen));
    let money = |fen: u64| format!("{} 元", yuan(fen));
    let points = |n: u64| format!("{n} percentage points");
    // (what, parent figure, child figure, unit) for every figure compared.
    let figures: Vec<(&str, u64, u64, Unit)> = match (parent, child) {
        (Benefit::MonthlyCash { fen: p }, Benefit::MonthlyCash { fen: c }) => {
            vec![("", *p, *c, &per_month)]
        }
        (Benefit::Quota(p), Benefit::Quota(c)) => {
            return format!(
                "fewer services: {} every {} months instead of {} every {} months",
                c.count, c.months, p.count, p.months
            );
        }
        (Benefit::OneOff(p), Benefit::OneOff(c)) => vec![
            ("fixed amount ", p.fixed, c.fixed, &money),
            (
                "share of the cost ",
                p.percent.into(),
                c.percent.into(),
                &points,
            ),
            ("cap ", p.cap, c.cap, &money),
        ],
        (Benefit::Voucher(p), Benefit::Voucher(c)) => vec![
            (
                "share covered ",
                p.percent.into(),
                c.percent.into(),
                &points,
            ),
            ("monthly cap ", p.monthly_cap, c.monthly_cap, &money),
        ],
        (p, c) if p.kind() != c.kind() => {
            return format!("a {} benefit instead of a {} benefit", c.kind(), p.kind());
        }
        _ => Vec::new(),
    };
    let gaps: Vec<String> = figures
        .into_iter()
        .filter(|(_, p, c, _)| c < p)
        .map(|(what, p, c, unit)| format!("{what}{} less", unit(p - c)))
        .collect();
    if gaps.is_empty() {
        "less than the parent line".to_string()
    } else {
        gaps.join(", ")
    }
}

#[derive(Default)]
struct Tally {
    counts: Vec<usize>,
    examples: Vec<Vec<Counterexample>>,
}

/// Matches a parent item to the child's item with the same key.
fn key_map(child: &Catalogue, parent: &Catalogue) -> Vec<Option<u16>> {
    parent
        .items
        .iter()
        .map(|i| child.item_index(&i.key).and_then(|c| u16::try_from(c).ok()))
        .collect()
}

/// Every compiled condition of a catalogue (eligibility and tiers).
pub(super) fn conditions(c: &Catalogue) -> impl Iterator<Item = &super::Compiled> {
    c.items
        .iter()
        .flat_map(|i| std::iter::once(&i.compiled).chain(i.tiers.iter().map(|t| &t.compiled)))
}

/// Reusable buffers for comparing one person.
struct Scratch {
    parent: Vec<Line>,
    child: Vec<Line>,
}

impl Scratch {
    fn new(child: &Catalogue, parent: &Catalogue) -> Scratch {
        Scratch {
            parent: Vec::with_capacity(parent.items.len()),
            child: Vec::with_capacity(child.items.len()),
        }
    }

    /// Calls `fail(parent item, parent line, child line, shortfall)` for every
    /// parent line of `person` the child does not honour.
    fn compare(
        &mut self,
        child: &Catalogue,
        parent: &Catalogue,
        map: &[Option<u16>],
        person: &Person,
        mut fail: impl FnMut(usize, Benefit, Option<Benefit>, Shortfall),
    ) {
        self.parent.clear();
        self.child.clear();
        parent.lines_into(person, &mut self.parent);
        child.lines_into(person, &mut self.child);
        for line in &self.parent {
            let pi = usize::from(line.item);
            let child_line = map
                .get(pi)
                .copied()
                .flatten()
                .and_then(|ci| self.child.iter().find(|l| l.item == ci))
                .map(|l| l.benefit);
            let Some(item) = parent.items.get(pi) else {
                continue;
            };
            if let Err(shortfall) = accepts(item, child_line.as_ref(), &line.benefit) {
                fail(pi, line.benefit, child_line, shortfall);
            }
        }
    }
}

fn check_range(
    child: &Catalogue,
    parent: &Catalogue,
    map: &[Option<u16>],
    range: std::ops::Range<usize>,
) -> Tally {
    let n = parent.items.len();
    let mut tally = Tally {
        counts: vec![0; n],
        examples: vec![Vec::new(); n],
    };
    let mut scratch = Scratch::new(child, parent);
    for index in range {
        let Some(person) = Person::from_index(index) else {
            break;
        };
        scratch.compare(
            child,
            parent,
            map,
            &person,
            |pi, parent, child, shortfall| {
                if let (Some(c), Some(ex)) = (tally.counts.get_mut(pi), tally.examples.get_mut(pi))
                {
                    *c += 1;
                    if ex.len() < EXAMPLES_PER_ITEM {
                        ex.push(Counterexample {
                            person_index: index,
                            person,
                            parent,
                            child,
                            shortfall,
                        });
                    }
                }
            },
        );
    }
    tally
}

/// Checks that `child` gives every person of the domain at least what
/// `parent` gives, item by item (items matched by key; a presence-only parent
/// item only needs some child line; a parent item the child lacks fails for
/// every person eligible for it).
///
/// Every person is accounted for, but not one by one: the domain is split
/// into cells on which every condition of both lists is constant (values of
/// a field that no condition tells apart fall in one class), and one person
/// per cell is compared; a failing cell counts all its persons and
/// contributes its smallest ones as examples. For the sample lists that is
/// some thousands of comparisons instead of 1,171,200, with the same result
/// as [`check_against_exhaustive`] (tested).
pub fn check_against(child: &Catalogue, parent: &Catalogue) -> ChainReport {
    let map = key_map(child, parent);
    let n = parent.items.len();
    let mut counts = vec![0usize; n];
    let mut examples: Vec<Vec<Counterexample>> = vec![Vec::new(); n];
    let cells = Cells::of(conditions(child).chain(conditions(parent)));
    let mut scratch = Scratch::new(child, parent);
    cells.for_each(|cell| {
        let Some(rep) = cell.smallest() else {
            return true;
        };
        let mut failed: Vec<(usize, Benefit, Option<Benefit>, Shortfall)> = Vec::new();
        scratch.compare(child, parent, &map, &rep, |pi, p, c, s| {
            failed.push((pi, p, c, s))
        });
        for (pi, p, c, s) in failed {
            if let (Some(count), Some(ex)) = (counts.get_mut(pi), examples.get_mut(pi)) {
                *count += cell.size();
                // Cells come in order of their smallest persons, so a cell
                // whose smallest person is above the current fifth cannot
                // improve the examples.
                if ex.len() < EXAMPLES_PER_ITEM
                    || ex
                        .last()
                        .is_some_and(|last| last.person_index > rep.index())
                {
                    for person in cell.smallest_n(EXAMPLES_PER_ITEM) {
                        ex.push(Counterexample {
                            person_index: person.index(),
                            person,
                            parent: p,
                            child: c,
                            shortfall: s,
                        });
                    }
                    ex.sort_by_key(|e| e.person_index);
                    ex.truncate(EXAMPLES_PER_ITEM);
                }
            }
        }
        true
    });
    report(child, parent, counts, examples, true)
}

/// The same check as [`check_against`], comparing every one of the
/// 1,171,200 persons in turn, on every available core. Slower; kept as the
/// reference the cell-based check is tested against.
pub fn check_against_exhaustive(child: &Catalogue, parent: &Catalogue) -> ChainReport {
    let map = key_map(child, parent);
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 16);
    let chunk = DOMAIN_SIZE.div_ceil(threads);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range = (t * chunk)..((t + 1) * chunk).min(DOMAIN_SIZE);
                let map = &map;
                s.spawn(move || check_range(child, parent, map, range))
            })
            .collect();
        // A worker only panics on a bug; its chunk then counts as unchecked
        // and the report fails rather than passing silently.
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let complete = tallies.iter().all(|t| t.counts.len() == parent.items.len());
    let n = parent.items.len();
    let mut counts = vec![0usize; n];
    let mut examples: Vec<Vec<Counterexample>> = vec![Vec::new(); n];
    // Chunks are in domain order, so the first examples are the smallest.
    for t in &tallies {
        for pi in 0..n {
            if let (Some(c), Some(total)) = (t.counts.get(pi), counts.get_mut(pi)) {
                *total += c;
            }
            if let (Some(ex), Some(all)) = (t.examples.get(pi), examples.get_mut(pi)) {
                all.extend(ex.iter().cloned());
                all.truncate(EXAMPLES_PER_ITEM);
            }
        }
    }
    report(child, parent, counts, examples, complete)
}

fn report(
    child: &Catalogue,
    parent: &Catalogue,
    counts: Vec<usize>,
    examples: Vec<Vec<Counterexample>>,
    complete: bool,
) -> ChainReport {
    let failures: Vec<ItemFailure> = parent
        .items
        .iter()
        .zip(counts.into_iter().zip(examples))
        .filter(|(_, (persons, _))| *persons > 0)
        .map(|(item, (persons, examples))| ItemFailure {
            item: item.key.to_string(),
            name: item.name.to_string(),
            covers: item.eligibility.to_string(),
            persons,
            examples,
        })
        .collect();
    ChainReport {
        child: child.label(),
        parent: parent.label(),
        child_file: child.path.display().to_string(),
        parent_file: parent.path.display().to_string(),
        passed: complete && failures.is_empty(),
        persons: DOMAIN_SIZE,
        failures,
    }
}

impl Library {
    /// Checks `c` against every edition of every list above it (its parent,
    /// the parent's parent, … up to the national list) whose period overlaps
    /// `c`'s: during the overlap both are in force, so `c` must not fall
    /// below either.
    pub fn check_chain(&self, c: &Catalogue) -> Vec<ChainReport> {
        let mut reports = Vec::new();
        let mut code = c.parent.clone();
        let mut seen = Vec::new();
        while let Some(parent_code) = code.take() {
            if seen.contains(&parent_code) {
                break;
            }
            seen.push(parent_code.clone());
            for p in self.catalogues() {
                if p.jurisdiction.code == parent_code && p.overlaps(c) {
                    reports.push(check_against(c, p));
                }
                if p.jurisdiction.code == parent_code && code.is_none() {
                    code = p.parent.clone();
                }
            }
        }
        reports
    }
}

#[cfg(test)]
mod tests {
    use super::by_how_much;
    use crate::model::{Benefit, OneOff, Quota, Voucher};

    #[test]
    fn the_shortfall_is_given_in_the_benefit_figures() {
        let cash = |fen| Benefit::MonthlyCash { fen };
        assert_eq!(
            by_how_much(&cash(6000), Some(&cash(5000))),
            "10.00 元/月 less"
        );
        assert_eq!(by_how_much(&cash(6000), None), "the item is missing");
        let quota = |count, months| Benefit::Quota(Quota { count, months });
        assert_eq!(
            by_how_much(&quota(1, 12), Some(&quota(1, 24))),
            "fewer services: 1 every 24 months instead of 1 every 12 months"
        );
        let one_off = |fixed, percent, cap| {
            Benefit::OneOff(OneOff {
                fixed,
                percent,
                cap,
            })
        };
        assert_eq!(
            by_how_much(&one_off(0, 50, 300_000), Some(&one_off(0, 40, 300_000))),
            "share of the cost 10 percentage points less"
        );
        let voucher = |percent, monthly_cap| {
            Benefit::Voucher(Voucher {
                percent,
                monthly_cap,
            })
        };
        assert_eq!(
            by_how_much(&voucher(50, 80_000), Some(&voucher(50, 20_000))),
            "monthly cap 600.00 元 less"
        );
        assert_eq!(
            by_how_much(&cash(6000), Some(&Benefit::Right)),
            "a right benefit instead of a monthly-cash benefit"
        );
    }
}

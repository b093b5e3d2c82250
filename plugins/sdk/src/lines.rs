//! Items and the lines of one person: the baseline lines a plugin starts
//! from, and the one-line operations that make the common county rules.

use crate::benefit::{Benefit, HOST_CODES_FROM, ItemCode, Line};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

/// The three categories of the national list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Category {
    /// 物质帮助
    MaterialAssistance,
    /// 照护服务
    CareService,
    /// 关爱服务
    CaringService,
}

/// A baseline item the plugin speaks of, by the stable key the catalogues use
/// (for example `old-age-allowance`). Declare it as a constant and list it in
/// [`Description::baseline`](crate::Description::baseline): the host then
/// labels that item's baseline lines with your code.
///
/// ```
/// use qingdan_sdk::Item;
/// const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");
/// assert_eq!(ALLOWANCE.code(), 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Item {
    code: ItemCode,
    key: &'static str,
}

impl Item {
    /// A baseline item with the plugin's `code` (below 32768, unique among
    /// all the plugin's items) and the catalogue `key`.
    pub const fn baseline(code: ItemCode, key: &'static str) -> Item {
        Item { code, key }
    }

    /// The code.
    pub const fn code(&self) -> ItemCode {
        self.code
    }

    /// The catalogue key.
    pub const fn key(&self) -> &'static str {
        self.key
    }
}

/// An item the county adds beyond the baseline, with everything a reviewer
/// and a caseworker need to read about it.
///
/// ```
/// use qingdan_sdk::{Category, Extra};
/// const BATHING: Extra = Extra::new(
///     100,
///     "bathing",
///     "免费助浴服务",
///     Category::CareService,
///     "《慈溪市加快建设基本养老服务体系的实施方案》(2024)",
/// );
/// assert_eq!(BATHING.code(), 100);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Extra {
    code: ItemCode,
    key: &'static str,
    name: &'static str,
    category: Category,
    legal_basis: &'static str,
}

impl Extra {
    /// An extra item: `code` (below 32768, unique among all the plugin's
    /// items), a stable `key` (lower-case words joined by `-`), the Chinese
    /// `name` as published, its `category` and its `legal_basis`.
    pub const fn new(
        code: ItemCode,
        key: &'static str,
        name: &'static str,
        category: Category,
        legal_basis: &'static str,
    ) -> Extra {
        Extra {
            code,
            key,
            name,
            category,
            legal_basis,
        }
    }

    /// The code.
    pub const fn code(&self) -> ItemCode {
        self.code
    }

    /// The stable key.
    pub const fn key(&self) -> &'static str {
        self.key
    }

    /// The Chinese name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The category.
    pub const fn category(&self) -> Category {
        self.category
    }

    /// The legal basis.
    pub const fn legal_basis(&self) -> &'static str {
        self.legal_basis
    }
}

/// Anything that names an item on a line: an [`Item`], an [`Extra`], or a
/// raw [`ItemCode`] (for example a host code from 32768 up).
pub trait Code: Copy {
    /// The code on the wire.
    fn code(self) -> ItemCode;
}

impl Code for Item {
    fn code(self) -> ItemCode {
        self.code
    }
}

impl Code for Extra {
    fn code(self) -> ItemCode {
        self.code
    }
}

impl Code for ItemCode {
    fn code(self) -> ItemCode {
        self
    }
}

/// The lines of one person. [`County::evaluate`](crate::County::evaluate)
/// receives them filled with the person's baseline lines, so whatever the
/// plugin does not touch passes through unchanged, host codes included.
///
/// ```
/// use qingdan_sdk::{Benefit, Item, Lines};
/// const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");
/// const ASSESSMENT: Item = Item::baseline(2, "ability-assessment");
///
/// let mut lines = Lines::from_slice(&[qingdan_sdk::Line {
///     item: 1,
///     benefit: Benefit::cash_yuan(100),
/// }]);
/// lines.at_least(ALLOWANCE, Benefit::cash_yuan(70)); // the baseline is higher: kept
/// assert_eq!(lines.get(ALLOWANCE), Some(&Benefit::cash_yuan(100)));
/// lines.plus_cash_fen(ALLOWANCE, 2000);
/// assert_eq!(lines.get(ALLOWANCE), Some(&Benefit::cash_yuan(120)));
/// lines.at_least(ASSESSMENT, Benefit::quota(1, 24)); // absent: added
/// assert_eq!(lines.len(), 2);
/// ```
#[derive(Clone, Default)]
pub struct Lines {
    lines: Vec<Line>,
    /// The changes made since the lines were last loaded, in order, each
    /// with what it replaced: the batch loop compares them to tell that two
    /// persons got the same answer without comparing every line, and undoes
    /// them to start the next person from the same baseline without copying
    /// it again (see `batch::run`). Only changes that change something are
    /// recorded.
    journal: Vec<Edit>,
    /// Which load the lines come from: 0 for lines made by a plugin
    /// ([`Lines::new`], [`Lines::from_slice`]) or changed too often since
    /// their load to journal (see `Lines::record`), otherwise the number the
    /// batch loop's [`Lines::load`] gave. A clone keeps it, with the lines
    /// and the journal that go with it.
    stamp: u64,
}

/// One recorded change of [`Lines`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Edit {
    /// The benefit of the line at `at` went from `was` to `now`.
    Replaced { at: u32, was: Benefit, now: Benefit },
    /// A line was appended.
    Pushed(Line),
    /// The line at `at` was taken out.
    Removed { at: u32, line: Line },
}

/// Changes journalled per load at most (see [`Lines::record`]): county
/// rules make a handful.
const MAX_JOURNAL: usize = 32;

/// The last stamp given by [`Lines::load`]: each load gets a new one.
static STAMPS: AtomicU64 = AtomicU64::new(0);

impl PartialEq for Lines {
    fn eq(&self, other: &Lines) -> bool {
        self.lines == other.lines
    }
}

impl Eq for Lines {}

impl core::fmt::Debug for Lines {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("Lines").field(&self.lines).finish()
    }
}

impl Lines {
    /// No lines.
    pub const fn new() -> Lines {
        Lines {
            lines: Vec::new(),
            journal: Vec::new(),
            stamp: 0,
        }
    }

    /// The given lines, in order.
    pub fn from_slice(lines: &[Line]) -> Lines {
        Lines {
            lines: lines.to_vec(),
            journal: Vec::new(),
            stamp: 0,
        }
    }

    /// The given lines, taking the vector (the single-person export of WIT
    /// 0.1.0 uses it).
    #[cfg_attr(
        not(all(target_arch = "wasm32", feature = "wit-v0-1-0")),
        allow(dead_code)
    )]
    pub(crate) fn from_vec(lines: Vec<Line>) -> Lines {
        Lines {
            lines,
            journal: Vec::new(),
            stamp: 0,
        }
    }

    /// Replaces the content with `lines`, keeping the allocation, with an
    /// empty journal and a new stamp, which it returns: as long as
    /// [`Lines::stamp`] is that number, the lines are `lines` with the
    /// journal's changes applied.
    pub(crate) fn load(&mut self, lines: &[Line]) -> u64 {
        self.lines.clear();
        self.lines.extend_from_slice(lines);
        self.journal.clear();
        self.stamp = STAMPS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        self.stamp
    }

    /// The stamp of the load the lines come from (0: not loaded).
    pub(crate) fn stamp(&self) -> u64 {
        self.stamp
    }

    /// The changes since the load, in order.
    pub(crate) fn journal(&self) -> &[Edit] {
        &self.journal
    }

    /// Undoes the journal's changes, last first: the lines are as loaded.
    pub(crate) fn rewind(&mut self) {
        while let Some(edit) = self.journal.pop() {
            match edit {
                Edit::Replaced { at, was, .. } => {
                    if let Some(line) = self.lines.get_mut(at as usize) {
                        line.benefit = was;
                    }
                }
                Edit::Pushed(_) => {
                    self.lines.pop();
                }
                Edit::Removed { at, line } => {
                    let at = (at as usize).min(self.lines.len());
                    self.lines.insert(at, line);
                }
            }
        }
    }

    /// Records a change of loaded lines. Past [`MAX_JOURNAL`] changes the
    /// lines are no longer taken for their load plus a journal (stamp 0):
    /// the batch loop then interns them line by line and loads the baseline
    /// again, so a rule that makes thousands of changes costs what it did
    /// before there was a journal. Lines a plugin made itself keep none.
    fn record(&mut self, edit: Edit) {
        if self.stamp == 0 {
            return;
        }
        if self.journal.len() < MAX_JOURNAL {
            self.journal.push(edit);
        } else {
            self.journal.clear();
            self.stamp = 0;
        }
    }

    /// Sets the benefit of the line at `at` (which exists), recording it.
    fn replace_at(&mut self, at: usize, now: Benefit) {
        let Some(line) = self.lines.get_mut(at) else {
            return;
        };
        let was = line.benefit;
        if was != now {
            line.benefit = now;
            // At most the host's line cap: far below 2^32.
            self.record(Edit::Replaced {
                at: at as u32,
                was,
                now,
            });
        }
    }

    /// Appends a line, recording it.
    fn append(&mut self, line: Line) {
        self.lines.push(line);
        self.record(Edit::Pushed(line));
    }

    /// The lines, in order.
    pub fn as_slice(&self) -> &[Line] {
        &self.lines
    }

    /// The lines, taken out.
    pub fn into_vec(self) -> Vec<Line> {
        self.lines
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines, in order.
    pub fn iter(&self) -> core::slice::Iter<'_, Line> {
        self.lines.iter()
    }

    /// Whether the person has a line for `item`.
    pub fn has(&self, item: impl Code) -> bool {
        self.get(item).is_some()
    }

    /// The benefit of `item`, if the person has a line for it.
    pub fn get(&self, item: impl Code) -> Option<&Benefit> {
        let code = item.code();
        self.lines
            .iter()
            .find(|l| l.item == code)
            .map(|l| &l.benefit)
    }

    /// The monthly cash of `item` in fen, if it is a monthly-cash line.
    pub fn cash_fen(&self, item: impl Code) -> Option<u64> {
        match self.get(item) {
            Some(Benefit::MonthlyCash(fen)) => Some(*fen),
            _ => None,
        }
    }

    fn position(&self, code: ItemCode) -> Option<usize> {
        self.lines.iter().position(|l| l.item == code)
    }

    /// Appends a line without looking for an existing line of the item: for
    /// a plugin that builds many lines of items it knows to be new. Two lines
    /// of one item make the answer malformed.
    pub fn push(&mut self, item: impl Code, benefit: Benefit) {
        self.append(Line {
            item: item.code(),
            benefit,
        });
    }

    /// Sets `item` to exactly `benefit`, adding the line if absent.
    ///
    /// This can lower a baseline item; the host would then keep the
    /// baseline line for that person and record a clamp against the plugin
    /// (the floor proof fails). Prefer [`Lines::at_least`] for baseline items.
    pub fn set(&mut self, item: impl Code, benefit: Benefit) {
        let code = item.code();
        match self.position(code) {
            Some(i) => self.replace_at(i, benefit),
            None => self.append(Line {
                item: code,
                benefit,
            }),
        }
    }

    /// Adds an extra item's line (or replaces it if already there).
    pub fn add(&mut self, item: Extra, benefit: Benefit) {
        self.set(item, benefit);
    }

    /// Raises `item` to at least `benefit`: adds the line if the person has
    /// none; if the person has one of the same kind, keeps every figure that
    /// is already higher (see [`Benefit::join`]); a line of another kind is
    /// replaced (the host will then hold the baseline for that person).
    ///
    /// This is also how a county lowers an age threshold: for the ages the
    /// baseline does not cover, the line is added; above, the baseline's
    /// more generous line stays.
    pub fn at_least(&mut self, item: impl Code, benefit: Benefit) {
        let code = item.code();
        match self.position(code) {
            Some(i) => {
                let have = self.lines[i].benefit;
                self.replace_at(i, have.join(&benefit).unwrap_or(benefit));
            }
            None => self.append(Line {
                item: code,
                benefit,
            }),
        }
    }

    /// Adds `fen` to the monthly cash of `item` ("baseline plus 20 yuan"); a
    /// person without the line gets a line of `fen`. A line of another kind
    /// is left unchanged.
    pub fn plus_cash_fen(&mut self, item: impl Code, fen: u64) {
        let code = item.code();
        match self.position(code) {
            Some(i) => {
                if let Benefit::MonthlyCash(have) = self.lines[i].benefit {
                    self.replace_at(i, Benefit::MonthlyCash(have.saturating_add(fen)));
                }
            }
            None => self.append(Line {
                item: code,
                benefit: Benefit::MonthlyCash(fen),
            }),
        }
    }

    /// [`Lines::plus_cash_fen`] in yuan.
    pub fn plus_cash_yuan(&mut self, item: impl Code, yuan: u64) {
        self.plus_cash_fen(item, yuan.saturating_mul(100));
    }

    /// Removes the line of `item` and returns its benefit. Removing a
    /// baseline line makes the plugin fall below the floor for that person;
    /// this exists for extra items and for tests of the floor proof.
    pub fn remove(&mut self, item: impl Code) -> Option<Benefit> {
        let i = self.position(item.code())?;
        let line = self.lines.remove(i);
        self.record(Edit::Removed { at: i as u32, line });
        Some(line.benefit)
    }

    /// Lines with a host code (baseline items the plugin did not name).
    pub fn host_lines(&self) -> impl Iterator<Item = &Line> {
        self.lines.iter().filter(|l| l.item >= HOST_CODES_FROM)
    }
}

impl<'a> IntoIterator for &'a Lines {
    type Item = &'a Line;
    type IntoIter = core::slice::Iter<'a, Line>;
    fn into_iter(self) -> Self::IntoIter {
        self.lines.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CASH: Item = Item::baseline(1, "old-age-allowance");
    const VISITS: Item = Item::baseline(2, "visits");

    fn base() -> Lines {
        Lines::from_slice(&[
            Line {
                item: 1,
                benefit: Benefit::cash_fen(10_000),
            },
            Line {
                item: 40_000,
                benefit: Benefit::Right,
            },
        ])
    }

    #[test]
    fn at_least_never_lowers() {
        let mut l = base();
        l.at_least(CASH, Benefit::cash_fen(7_000));
        assert_eq!(l.cash_fen(CASH), Some(10_000));
        l.at_least(CASH, Benefit::cash_fen(15_000));
        assert_eq!(l.cash_fen(CASH), Some(15_000));
        l.at_least(VISITS, Benefit::quota(1, 1));
        assert_eq!(l.get(VISITS), Some(&Benefit::quota(1, 1)));
        assert_eq!(l.len(), 3);
    }

    #[test]
    fn host_lines_pass_through() {
        let mut l = base();
        l.plus_cash_yuan(CASH, 20);
        assert_eq!(l.cash_fen(CASH), Some(12_000));
        assert_eq!(l.host_lines().count(), 1);
        assert!(l.has(40_000u16));
    }

    #[test]
    fn plus_cash_adds_a_line_and_skips_other_kinds() {
        let mut l = Lines::new();
        l.plus_cash_fen(CASH, 500);
        assert_eq!(l.cash_fen(CASH), Some(500));
        l.set(VISITS, Benefit::quota(1, 1));
        l.plus_cash_fen(VISITS, 500);
        assert_eq!(l.get(VISITS), Some(&Benefit::quota(1, 1)));
    }

    #[test]
    fn set_and_remove_can_lower() {
        let mut l = base();
        l.set(CASH, Benefit::cash_fen(1));
        assert_eq!(l.cash_fen(CASH), Some(1));
        assert_eq!(l.remove(CASH), Some(Benefit::cash_fen(1)));
        assert_eq!(l.remove(CASH), None);
        assert_eq!(l.len(), 1);
    }
}

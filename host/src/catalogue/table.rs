//! The baseline of every person of the domain at once, for the floor proof.
//!
//! A catalogue's conditions split the domain into cells on which every
//! condition (eligibility and tiers) is constant (see [`Cells`]), so every
//! person of a cell has the same baseline lines. The table evaluates each
//! cell once — with the same evaluator as everything else,
//! [`Catalogue::lines_into`] on the cell's smallest person — and then finds a
//! person's lines by looking up the class of each field: a few table reads
//! instead of evaluating every item's conditions again.

use super::Catalogue;
use super::chain::conditions;
use super::predicate::{Cells, DIMS};
use crate::model::{Line, MIN_AGE, Person, in_domain_order};
use std::collections::HashMap;

/// The baseline lines of every person, interned: persons with the same
/// lines share one set.
#[derive(Clone, Debug)]
pub struct BaselineTable {
    /// Per field, the class of each value.
    class_of: [Vec<u32>; 8],
    /// Per field, the weight of its class in the cell number.
    stride: [usize; 8],
    /// The line set of each cell.
    cell_set: Vec<u32>,
    /// The distinct line sets (items as catalogue indices).
    sets: Vec<Vec<Line>>,
}

impl BaselineTable {
    /// Builds the table of `catalogue`.
    pub fn new(catalogue: &Catalogue) -> BaselineTable {
        let cells = Cells::of(conditions(catalogue));
        let classes = cells.classes();
        let class_of = std::array::from_fn(|d| {
            let mut of = vec![0u32; DIMS[d]];
            for (class, values) in classes[d].iter().enumerate() {
                for v in values {
                    if let Some(slot) = of.get_mut(*v) {
                        *slot = class as u32;
                    }
                }
            }
            of
        });
        let mut stride = [1usize; 8];
        for d in (0..7).rev() {
            stride[d] = stride[d + 1] * classes[d + 1].len().max(1);
        }
        let mut sets: Vec<Vec<Line>> = Vec::new();
        let mut index: HashMap<Vec<Line>, u32> = HashMap::new();
        let mut cell_set = Vec::new();
        let mut scratch = Vec::with_capacity(catalogue.items.len());
        // Cells come in odometer order, last field fastest: the same order
        // as the cell numbers built from `stride`.
        cells.for_each(|cell| {
            scratch.clear();
            if let Some(person) = cell.smallest() {
                catalogue.lines_into(&person, &mut scratch);
            }
            let set = *index.entry(scratch.clone()).or_insert_with(|| {
                sets.push(scratch.clone());
                (sets.len() - 1) as u32
            });
            cell_set.push(set);
            true
        });
        BaselineTable {
            class_of,
            stride,
            cell_set,
            sets,
        }
    }

    /// The number of the line set of person `p`.
    #[inline]
    pub fn set_of(&self, p: &Person) -> u32 {
        let values = [
            usize::from(p.age.saturating_sub(MIN_AGE)),
            p.hukou.ordinal(),
            p.ability.ordinal(),
            p.assistance.ordinal(),
            p.disability.ordinal(),
            usize::from(p.living.bits()),
            usize::from(p.family_planning_special),
            usize::from(p.veteran_entitled),
        ];
        let mut cell = 0;
        for ((value, classes), stride) in values.iter().zip(&self.class_of).zip(&self.stride) {
            let class = classes.get(*value).copied().unwrap_or(0);
            cell += class as usize * stride;
        }
        self.cell_set.get(cell).copied().unwrap_or(0)
    }

    /// The number of every person's line set, in domain order: entry `i`
    /// is [`BaselineTable::set_of`] the person at index `i`.
    pub fn sets_in_order(&self) -> Vec<u32> {
        let class = |d: usize, v: usize| self.class_of[d].get(v).map_or(0, |c| *c as usize);
        in_domain_order(|d, v| class(d, v) * self.stride[d], &self.cell_set)
    }

    /// The distinct line sets, by number (items as catalogue indices).
    pub fn sets(&self) -> &[Vec<Line>] {
        &self.sets
    }

    /// The lines of person `p` (the same as [`Catalogue::lines_into`]).
    pub fn lines_of(&self, p: &Person) -> &[Line] {
        self.sets
            .get(self.set_of(p) as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Number of cells.
    pub fn cells(&self) -> usize {
        self.cell_set.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Library;
    use crate::model::DOMAIN_SIZE;
    use std::path::Path;

    #[test]
    fn the_table_gives_every_person_the_evaluator_s_lines() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalogues");
        let library = Library::load_dir(&dir).unwrap();
        let mut lines = Vec::new();
        for catalogue in library.catalogues() {
            let table = BaselineTable::new(catalogue);
            assert!(table.cells() < DOMAIN_SIZE / 10, "{}", catalogue.label());
            let in_order = table.sets_in_order();
            assert_eq!(in_order.len(), DOMAIN_SIZE);
            for (index, set) in in_order.iter().enumerate() {
                let person = Person::from_index(index).unwrap();
                assert_eq!(*set, table.set_of(&person), "{person:?}");
                lines.clear();
                catalogue.lines_into(&person, &mut lines);
                assert_eq!(table.lines_of(&person), lines.as_slice(), "{person:?}");
            }
        }
    }
}

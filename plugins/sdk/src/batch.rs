//! The batch loop the SDK runs for the plugin: evaluate every person of a
//! batch from their baseline lines, and intern the answers.
//!
//! This is the floor proof's hot path (1,171,200 persons per proof), so the
//! loop allocates nothing per person once warm: one [`Lines`] buffer is
//! reused, and an answer is copied only the first time it is seen. Answers
//! live in one flat vector; a hash table of answer numbers finds an equal
//! earlier answer without storing any line twice.

use crate::benefit::Line;
use crate::lines::Lines;
use crate::person::Person;
use alloc::string::String;
use alloc::vec::Vec;
use hashbrown::HashTable;

/// Distinct answers of a batch, in order of first appearance.
#[derive(Default)]
pub(crate) struct Interner {
    /// Every distinct answer's lines, one after the other.
    lines: Vec<Line>,
    /// `(start, end)` of each answer in `lines`.
    spans: Vec<(u32, u32)>,
    /// Answer numbers, keyed by the hash of the answer's lines.
    table: HashTable<u32>,
}

fn hash_lines(lines: &[Line]) -> u64 {
    lines
        .iter()
        .fold(lines.len() as u64, |h, line| line.hash64(h))
}

impl Interner {
    fn answer(&self, n: u32) -> &[Line] {
        let (start, end) = self.spans[n as usize];
        &self.lines[start as usize..end as usize]
    }

    /// The number of the answer equal to `lines`, adding it if new.
    pub(crate) fn intern(&mut self, lines: &[Line]) -> u32 {
        let hash = hash_lines(lines);
        let Interner {
            lines: all,
            spans,
            table,
        } = self;
        let span = |n: &u32| {
            let (s, e) = spans[*n as usize];
            &all[s as usize..e as usize]
        };
        if let Some(n) = table.find(hash, |n| span(n) == lines) {
            return *n;
        }
        // Batches are far below 2^32 persons and lines (the host caps both).
        let n = spans.len() as u32;
        let start = all.len() as u32;
        all.extend_from_slice(lines);
        spans.push((start, all.len() as u32));
        let (all, spans) = (&self.lines, &self.spans);
        self.table.insert_unique(hash, n, |m| {
            let (s, e) = spans[*m as usize];
            hash_lines(&all[s as usize..e as usize])
        });
        n
    }

    /// Number of distinct answers.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    /// The distinct answers, each as its own vector (the shape of the WIT
    /// `batch-answers.answers`).
    pub(crate) fn into_answers(self) -> Vec<Vec<Line>> {
        (0..self.spans.len() as u32)
            .map(|n| self.answer(n).to_vec())
            .collect()
    }
}

/// The answers to a batch, in the shape of the WIT `batch-answers`.
pub(crate) struct Answers {
    pub(crate) answers: Vec<Vec<Line>>,
    pub(crate) outcomes: Vec<u32>,
    pub(crate) errors: Vec<(u32, String)>,
}

/// Evaluates every person with `evaluate`, starting each from their
/// baseline lines (`baselines[index]`), and interns the answers. A person
/// whose baseline index is out of range, or whose evaluation fails, is
/// listed in `errors` (outcome 0, which the host ignores).
pub(crate) fn run(
    baselines: &[Vec<Line>],
    persons: impl ExactSizeIterator<Item = (Person, u32)>,
    mut evaluate: impl FnMut(&Person, &mut Lines) -> Result<(), String>,
) -> Answers {
    let mut outcomes = Vec::with_capacity(persons.len());
    let mut errors = Vec::new();
    let mut interner = Interner::default();
    let mut lines = Lines::new();
    for (i, (person, base)) in persons.enumerate() {
        let i = i as u32;
        let Some(base) = baselines.get(base as usize) else {
            errors.push((i, alloc::format!("baseline index {base} is out of range")));
            outcomes.push(0);
            continue;
        };
        lines.reset_from(base);
        match evaluate(&person, &mut lines) {
            Ok(()) => outcomes.push(interner.intern(lines.as_slice())),
            Err(e) => {
                errors.push((i, e));
                outcomes.push(0);
            }
        }
    }
    debug_assert!(interner.len() <= outcomes.len().max(1));
    Answers {
        answers: interner.into_answers(),
        outcomes,
        errors,
    }
}

/// [`run`] for a batch of domain indices (WIT 0.2.0): `persons[i]` is a
/// person's index in the domain, `baseline_of[i]` the index of their
/// baseline lines. An index past the domain, or lists of different
/// lengths, put the person in `errors`.
#[cfg_attr(feature = "wit-v0-1-0", allow(dead_code))]
pub(crate) fn run_indexed(
    baselines: &[Vec<Line>],
    persons: &[u32],
    baseline_of: &[u32],
    evaluate: impl FnMut(&Person, &mut Lines) -> Result<(), String>,
) -> Answers {
    const NOBODY: u32 = u32::MAX;
    let mut unknown = Vec::new();
    let pairs = persons.iter().enumerate().map(|(i, &index)| {
        let set = baseline_of.get(i).copied().unwrap_or(NOBODY);
        match Person::from_index(index) {
            Some(person) => (person, set),
            None => {
                unknown.push(i as u32);
                (Person::aged(60), NOBODY)
            }
        }
    });
    let mut out = run(baselines, pairs, evaluate);
    for i in unknown {
        if let Some(e) = out.errors.iter_mut().find(|(n, _)| *n == i) {
            e.1 = alloc::format!("person index {} is not in the domain", persons[i as usize]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::benefit::Benefit;
    use alloc::string::ToString;
    use alloc::vec;

    fn line(item: u16, fen: u64) -> Line {
        Line {
            item,
            benefit: Benefit::cash_fen(fen),
        }
    }

    #[test]
    fn equal_answers_share_one_entry() {
        let mut i = Interner::default();
        let a = [line(1, 100), line(2, 5)];
        let b = [line(1, 100)];
        assert_eq!(i.intern(&a), 0);
        assert_eq!(i.intern(&b), 1);
        assert_eq!(i.intern(&a), 0);
        assert_eq!(i.intern(&[]), 2);
        assert_eq!(i.intern(&[]), 2);
        assert_eq!(i.intern(&b), 1);
        let answers = i.into_answers();
        assert_eq!(answers, vec![a.to_vec(), b.to_vec(), vec![]]);
    }

    #[test]
    fn many_distinct_answers_stay_distinct() {
        let mut i = Interner::default();
        for n in 0..5000u64 {
            assert_eq!(i.intern(&[line(1, n)]), n as u32);
        }
        for n in (0..5000u64).rev() {
            assert_eq!(i.intern(&[line(1, n)]), n as u32);
        }
    }

    #[test]
    fn run_starts_from_the_baseline_and_reports_errors() {
        let baselines = vec![vec![line(1, 100)], vec![]];
        let persons = [
            (Person::aged(60), 0),
            (Person::aged(70), 1),
            (Person::aged(99), 0),
            (Person::aged(80), 7),
            (Person::aged(61), 0),
        ];
        let out = run(&baselines, persons.into_iter(), |p, lines| {
            if p.age == 99 {
                return Err("no".to_string());
            }
            if p.age >= 70 {
                lines.plus_cash_fen(1u16, 1);
            }
            Ok(())
        });
        assert_eq!(out.outcomes, vec![0, 1, 0, 0, 0]);
        assert_eq!(out.answers, vec![vec![line(1, 100)], vec![line(1, 1)]]);
        assert_eq!(out.errors.len(), 2);
        assert_eq!(out.errors[0], (2, "no".to_string()));
        assert_eq!(out.errors[1].0, 3);
    }

    #[test]
    fn indexed_runs_decode_the_domain_index() {
        let baselines = vec![vec![line(1, 100)]];
        // 19,200 is the first 61-year-old; past the domain is an error.
        let persons = [0, 19_200, Person::DOMAIN_SIZE];
        let out = run_indexed(&baselines, &persons, &[0, 0, 0], |p, lines| {
            lines.plus_cash_fen(1u16, u64::from(p.age));
            Ok(())
        });
        assert_eq!(out.outcomes, vec![0, 1, 0]);
        assert_eq!(out.answers, vec![vec![line(1, 160)], vec![line(1, 161)]]);
        assert_eq!(out.errors.len(), 1);
        assert_eq!(out.errors[0].0, 2);
        assert!(out.errors[0].1.contains("not in the domain"));
    }
}

//! The batch loop the SDK runs for the plugin: evaluate every person of a
//! batch from their baseline lines, and intern the answers.
//!
//! This is the floor proof's hot path (1,171,200 persons, twice, per
//! proof), so the loop allocates nothing per person once warm, and does as
//! little per person as the county's own rules allow:
//!
//! - **One buffer per baseline.** Each baseline of the batch is loaded
//!   once into a [`Lines`] of its own; [`Lines`] journals every change a
//!   rule makes (with what it replaced), and after each person the changes
//!   are undone, so the next person of that baseline starts from it without
//!   a copy of every line. Persons of a batch take turns among a few
//!   baselines (those that differ in living situation, say).
//! - **Answers remembered by their changes.** The same changes to the same
//!   loaded baseline make the same lines, so each baseline remembers its
//!   last two answers with the changes that made them; a person whose rules
//!   made one of those change lists has that answer, found by comparing a
//!   change or two instead of hashing every line.
//! - **Otherwise interned.** An answer is copied only the first time it is
//!   seen. Answers live in one flat vector; a hash table of answer numbers
//!   finds an equal earlier answer without storing any line twice.
//!
//! A rule may replace the whole [`Lines`] it is given (`*lines = …`); the
//! load's stamp then differs, and that person's answer is interned from
//! its lines and the baseline loaded again. The answers are the ones a
//! fresh copy of each person's baseline would give: the tests compare them
//! with exactly that, for rules using every operation.
//!
//! Measured by `cargo bench -p qingdan --bench proof` (its `batch/pers`
//! column, the component's batch calls alone): 慈溪's batch calls took
//! 173 ns a person with one buffer copied per person and every answer
//! hashed, 67–70 ns with this loop (`BENCHMARKS.md`).

use crate::benefit::Line;
use crate::lines::{Edit, Lines};
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

/// What the batch loop keeps for one baseline of a batch (see [`run`]).
#[derive(Default)]
struct Slot {
    /// The baseline's lines, loaded once, with the journal of the current
    /// person's changes.
    lines: Lines,
    /// The stamp of the load (0: not loaded yet).
    stamp: u64,
    /// The last two answers made from this baseline: number and changes,
    /// the newer first.
    memo: [Option<(u32, Vec<Edit>)>; 2],
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
    // One slot per baseline of the batch: its lines, loaded once and
    // brought back to the baseline after each person by undoing that
    // person's changes (persons of a batch take turns among a few
    // baselines, and reloading one is a copy of every line); and the last
    // two answers made from it, each with its number and the changes that
    // made it. The same changes to the same loaded baseline make the same
    // lines, so a person whose rules made the changes of a remembered
    // answer has that answer: comparing the few changes spares hashing and
    // comparing every line. Persons of a batch mostly share their answer
    // with others of their baseline (they differ in fields the rules
    // ignore).
    let mut slots: Vec<Slot> = (0..baselines.len()).map(|_| Slot::default()).collect();
    for (i, (person, base)) in persons.enumerate() {
        let i = i as u32;
        let (Some(base_lines), Some(slot)) =
            (baselines.get(base as usize), slots.get_mut(base as usize))
        else {
            errors.push((i, alloc::format!("baseline index {base} is out of range")));
            outcomes.push(0);
            continue;
        };
        // Start from the baseline: undo the last person's changes when the
        // lines are still this slot's load (a plugin may have replaced the
        // whole `Lines`: then its stamp differs and the baseline is loaded
        // again), otherwise load it.
        if slot.stamp != 0 && slot.lines.stamp() == slot.stamp {
            slot.lines.rewind();
        } else {
            slot.stamp = slot.lines.load(base_lines);
        }
        match evaluate(&person, &mut slot.lines) {
            Ok(()) => {
                // Only lines still of this load are the baseline plus the
                // journal's changes.
                let n = if slot.lines.stamp() == slot.stamp {
                    let journal = slot.lines.journal();
                    let remembered = slot
                        .memo
                        .iter()
                        .flatten()
                        .find(|(_, j)| j.as_slice() == journal);
                    match remembered {
                        Some((n, _)) => *n,
                        None => {
                            let n = interner.intern(slot.lines.as_slice());
                            // The older of the two is forgotten.
                            slot.memo.swap(0, 1);
                            match &mut slot.memo[0] {
                                Some((m, j)) => {
                                    *m = n;
                                    j.clear();
                                    j.extend_from_slice(journal);
                                }
                                empty => *empty = Some((n, journal.to_vec())),
                            }
                            n
                        }
                    }
                } else {
                    interner.intern(slot.lines.as_slice())
                };
                outcomes.push(n);
            }
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

    /// Every person evaluated from a fresh copy of their baseline: what
    /// [`run`] must give, however it reuses its buffers and answers.
    fn reference(
        baselines: &[Vec<Line>],
        persons: &[(Person, u32)],
        evaluate: &mut dyn FnMut(&Person, &mut Lines) -> Result<(), String>,
    ) -> Vec<Result<Vec<Line>, String>> {
        persons
            .iter()
            .map(|(p, base)| {
                let mut lines = Lines::from_slice(&baselines[*base as usize]);
                evaluate(p, &mut lines).map(|()| lines.into_vec())
            })
            .collect()
    }

    fn check_against_reference(
        rule: &str,
        evaluate: &mut dyn FnMut(&Person, &mut Lines) -> Result<(), String>,
    ) {
        let baselines: Vec<Vec<Line>> = vec![
            vec![line(1, 6_000), line(40_000, 100), line(2, 7)],
            vec![line(1, 10_000), line(2, 7)],
            vec![],
            vec![line(40_001, 5), line(1, 6_000)],
        ];
        // Persons across the domain, their baselines taking turns in
        // runs of several lengths.
        let persons: Vec<(Person, u32)> = (0..4_000u32)
            .map(|i| {
                let person = Person::from_index(i * 293 % Person::DOMAIN_SIZE).unwrap();
                let base = match i % 11 {
                    0..=4 => 0,
                    5 | 6 => 1 + (i / 11) % 3,
                    7 => 2,
                    _ => (i / 3) % 4,
                };
                (person, base)
            })
            .collect();
        let mut calls = 0;
        let expected = reference(&baselines, &persons, &mut |p, l| {
            calls += 1;
            evaluate(p, l)
        });
        let out = run(&baselines, persons.iter().copied(), &mut *evaluate);
        assert_eq!(out.outcomes.len(), persons.len(), "{rule}");
        let mut errors = out.errors.iter();
        for (i, want) in expected.iter().enumerate() {
            match want {
                Ok(lines) => {
                    let got = &out.answers[out.outcomes[i] as usize];
                    assert_eq!(got, lines, "{rule}: person {i} {:?}", persons[i]);
                }
                Err(message) => {
                    assert_eq!(errors.next(), Some(&(i as u32, message.clone())), "{rule}");
                }
            }
        }
        assert!(errors.next().is_none(), "{rule}");
        // Equal answers share one entry.
        for (a, x) in out.answers.iter().enumerate() {
            for y in &out.answers[a + 1..] {
                assert_ne!(x, y, "{rule}: an answer listed twice");
            }
        }
    }

    #[test]
    fn reused_lines_and_remembered_answers_give_every_person_their_own_answer() {
        check_against_reference("at least", &mut |p, l| {
            l.at_least(
                1u16,
                Benefit::cash_fen(if p.age >= 80 { 9_000 } else { 6_500 }),
            );
            if p.living.contains(crate::person::Living::ALONE) {
                l.at_least(3u16, Benefit::quota(1, 1));
            }
            Ok(())
        });
        check_against_reference("every operation", &mut |p, l| {
            let bits = p.living.bits();
            if bits & 1 == 1 {
                l.plus_cash_fen(1u16, u64::from(p.age));
            }
            if bits & 2 == 2 {
                l.remove(2u16);
            }
            if bits & 4 == 4 {
                l.set(2u16, Benefit::quota(2, 1));
            }
            if p.veteran_entitled {
                l.push(7u16, Benefit::Right);
            }
            if p.family_planning_special {
                l.remove(40_000u16);
                l.at_least(1u16, Benefit::cash_fen(1));
            }
            Ok(())
        });
        check_against_reference("errors after changes", &mut |p, l| {
            l.plus_cash_fen(1u16, 10);
            l.remove(2u16);
            if p.age % 7 == 0 {
                return Err(alloc::format!("age {}", p.age));
            }
            Ok(())
        });
        check_against_reference("more changes than the journal keeps", &mut |p, l| {
            let changes = if p.age % 2 == 0 { 40 } else { 3 };
            for n in 0..changes {
                l.set(200 + n, Benefit::cash_fen(u64::from(p.age % 5)));
            }
            if p.veteran_entitled {
                l.remove(210u16);
            }
            Ok(())
        });
        check_against_reference("the whole lines replaced", &mut |p, l| {
            if p.age % 3 == 0 {
                *l = Lines::from_slice(&[line(9, u64::from(p.age))]);
            } else if p.age % 3 == 1 {
                l.plus_cash_fen(1u16, 1);
            }
            Ok(())
        });
        // Lines kept from an earlier person (of any baseline) put back.
        let mut kept: Option<Lines> = None;
        check_against_reference("lines kept and put back", &mut move |p, l| {
            match p.age % 4 {
                0 => kept = Some(l.clone()),
                1 => {
                    if let Some(k) = &kept {
                        *l = k.clone();
                        l.plus_cash_fen(1u16, 3);
                    }
                }
                2 => {
                    if let Some(k) = kept.take() {
                        let mine = core::mem::replace(l, k);
                        kept = Some(mine);
                    }
                }
                _ => l.at_least(2u16, Benefit::quota(3, 1)),
            }
            Ok(())
        });
    }
}

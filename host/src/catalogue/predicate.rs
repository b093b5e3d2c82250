//! Eligibility predicates: the tree as written in a catalogue, its readable
//! rendering, and the compiled form the hot path evaluates.
//!
//! Every person field has a small finite domain, so an atom ("age 80–89",
//! "assistance at least dibao") is a bit mask over one field. A predicate is
//! compiled to disjunctive normal form: a list of [`Cube`]s, each the
//! conjunction of one mask per field. Evaluating a cube is eight bit tests, with
//! no allocation and no branching on the tree shape.

use crate::model::{Ability, Assistance, Disability, Hukou, LivingFlag, MAX_AGE, MIN_AGE, Person};
use serde::Serialize;
use std::fmt;

/// Largest number of cubes a compiled predicate may have. Real list
/// conditions compile to a handful; the cap stops a pathological `not` over a
/// long `any` from growing the hot path without bound.
pub const MAX_CUBES: usize = 512;

/// A comparison on an ordered person field: at least a level, or one of a set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cmp<T> {
    /// The field is this value or stronger in the field's order.
    AtLeast(T),
    /// The field is one of these values.
    In(Vec<T>),
}

/// One condition on one person field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Atom {
    /// Age in `min..=max` (both inclusive; 120 stands for 120 or older).
    Age {
        /// Lowest age.
        min: u8,
        /// Highest age.
        max: u8,
    },
    /// 户籍 equals this.
    Hukou(Hukou),
    /// Ability level. `at-least` follows the order of [`Ability`], so it never
    /// holds for `unassessed` unless the bound itself is `unassessed`.
    Ability(Cmp<Ability>),
    /// Assistance status, ordered by strength.
    Assistance(Cmp<Assistance>),
    /// Disability grade, ordered by severity.
    Disability(Cmp<Disability>),
    /// At least one of these living flags is set.
    Living(Vec<LivingFlag>),
    /// 计划生育特殊家庭 equals this.
    FamilyPlanningSpecial(bool),
    /// 优抚对象 equals this.
    VeteranEntitled(bool),
}

/// An eligibility predicate as written in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Predicate {
    /// Holds for everybody.
    Always,
    /// Every part holds.
    All(Vec<Predicate>),
    /// At least one part holds.
    Any(Vec<Predicate>),
    /// The part does not hold.
    Not(Box<Predicate>),
    /// A condition on one field.
    Atom(Atom),
}

fn age_text(age: u8) -> String {
    if age >= MAX_AGE {
        format!("{MAX_AGE}+")
    } else {
        age.to_string()
    }
}

fn join<T: fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Atom {
    /// Whether the atom holds for `p`.
    pub fn holds(&self, p: &Person) -> bool {
        match self {
            Atom::Age { min, max } => (*min..=*max).contains(&p.age),
            Atom::Hukou(h) => p.hukou == *h,
            Atom::Ability(c) => cmp_holds(c, p.ability),
            Atom::Assistance(c) => cmp_holds(c, p.assistance),
            Atom::Disability(c) => cmp_holds(c, p.disability),
            Atom::Living(flags) => flags.iter().any(|f| p.living.contains(*f)),
            Atom::FamilyPlanningSpecial(b) => p.family_planning_special == *b,
            Atom::VeteranEntitled(b) => p.veteran_entitled == *b,
        }
    }

    /// The atom with the person's value, e.g. `age 92 ≥ 80`.
    fn reason(&self, p: &Person) -> String {
        match self {
            Atom::Age { .. } => format!("age {} {}", age_text(p.age), self.bound_text()),
            Atom::Hukou(h) => format!("hukou {h}"),
            Atom::Ability(c) => cmp_reason("ability", p.ability, c),
            Atom::Assistance(c) => cmp_reason("assistance", p.assistance, c),
            Atom::Disability(c) => cmp_reason("disability", p.disability, c),
            Atom::Living(flags) => {
                let held: Vec<_> = p.living.flags().filter(|f| flags.contains(f)).collect();
                format!("living {} (any of {})", join(&held), join(flags))
            }
            Atom::FamilyPlanningSpecial(_) | Atom::VeteranEntitled(_) => self.to_string(),
        }
    }

    fn bound_text(&self) -> String {
        match self {
            Atom::Age { min, max } if *max >= MAX_AGE => format!("≥ {min}"),
            Atom::Age { min, max } if *min <= MIN_AGE => format!("≤ {max}"),
            Atom::Age { min, max } => format!("in {min}–{}", age_text(*max)),
            _ => String::new(),
        }
    }
}

fn cmp_holds<T: PartialOrd + PartialEq + Copy>(c: &Cmp<T>, v: T) -> bool {
    match c {
        Cmp::AtLeast(min) => v >= *min,
        Cmp::In(set) => set.contains(&v),
    }
}

fn cmp_reason<T: fmt::Display>(field: &str, v: T, c: &Cmp<T>) -> String {
    match c {
        Cmp::AtLeast(min) => format!("{field} {v} ≥ {min}"),
        Cmp::In(set) => format!("{field} {v} in {{{}}}", join(set)),
    }
}

impl fmt::Display for Atom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Atom::Age { min, max } if *min <= MIN_AGE && *max >= MAX_AGE => f.write_str("any age"),
            Atom::Age { min, max } if *max >= MAX_AGE => write!(f, "age ≥ {min}"),
            Atom::Age { min, max } if *min <= MIN_AGE => write!(f, "age ≤ {max}"),
            Atom::Age { min, max } if min == max => write!(f, "age {min}"),
            Atom::Age { min, max } => write!(f, "age {min}–{}", age_text(*max)),
            Atom::Hukou(h) => write!(f, "hukou {h}"),
            Atom::Ability(Cmp::AtLeast(v)) => write!(f, "ability ≥ {v}"),
            Atom::Ability(Cmp::In(s)) => write!(f, "ability in {{{}}}", join(s)),
            Atom::Assistance(Cmp::AtLeast(v)) => write!(f, "assistance ≥ {v}"),
            Atom::Assistance(Cmp::In(s)) => write!(f, "assistance in {{{}}}", join(s)),
            Atom::Disability(Cmp::AtLeast(v)) => write!(f, "disability ≥ {v}"),
            Atom::Disability(Cmp::In(s)) => write!(f, "disability in {{{}}}", join(s)),
            Atom::Living(flags) => write!(f, "living any of {{{}}}", join(flags)),
            Atom::FamilyPlanningSpecial(true) => f.write_str("family-planning special family"),
            Atom::FamilyPlanningSpecial(false) => {
                f.write_str("not a family-planning special family")
            }
            Atom::VeteranEntitled(true) => f.write_str("veteran-entitled"),
            Atom::VeteranEntitled(false) => f.write_str("not veteran-entitled"),
        }
    }
}

impl Predicate {
    /// Whether the predicate holds for `p`, by walking the tree. The hot path
    /// uses the compiled form instead; both agree (tested over the domain).
    pub fn holds(&self, p: &Person) -> bool {
        match self {
            Predicate::Always => true,
            Predicate::All(parts) => parts.iter().all(|q| q.holds(p)),
            Predicate::Any(parts) => parts.iter().any(|q| q.holds(p)),
            Predicate::Not(q) => !q.holds(p),
            Predicate::Atom(a) => a.holds(p),
        }
    }

    /// Why the predicate holds for `p`, with the person's values
    /// (e.g. `age 92 ≥ 80 and hukou local`); `None` when it does not hold.
    pub fn reason(&self, p: &Person) -> Option<String> {
        match self {
            Predicate::Always => Some("everyone (no condition)".into()),
            Predicate::All(parts) => {
                let mut out = Vec::with_capacity(parts.len());
                for q in parts {
                    let r = q.reason(p)?;
                    out.push(if matches!(q, Predicate::Any(_)) {
                        format!("({r})")
                    } else {
                        r
                    });
                }
                Some(out.join(" and "))
            }
            Predicate::Any(parts) => parts.iter().find_map(|q| q.reason(p)),
            Predicate::Not(q) => (!q.holds(p)).then(|| format!("not ({q})")),
            Predicate::Atom(a) => a.holds(p).then(|| a.reason(p)),
        }
    }

    /// Compiles the predicate to disjunctive normal form over field masks.
    /// Fails when the form would exceed [`MAX_CUBES`] cubes.
    pub fn compile(&self) -> Result<Compiled, String> {
        let cubes = dnf(self)?;
        Ok(Compiled { cubes })
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts = |f: &mut fmt::Formatter<'_>, parts: &[Predicate], sep: &str| {
            for (i, q) in parts.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                if matches!(q, Predicate::All(_) | Predicate::Any(_)) {
                    write!(f, "({q})")?;
                } else {
                    write!(f, "{q}")?;
                }
            }
            Ok(())
        };
        match self {
            Predicate::Always => f.write_str("everyone"),
            Predicate::All(ps) => parts(f, ps, " and "),
            Predicate::Any(ps) => parts(f, ps, " or "),
            Predicate::Not(q) => write!(f, "not ({q})"),
            Predicate::Atom(a) => write!(f, "{a}"),
        }
    }
}

/// A person in one line, for error messages and reports:
/// `age 95, hukou local, ability unassessed, assistance none, disability none, living none, family-planning special no, veteran no`.
pub fn person_text(p: &Person) -> String {
    let living: Vec<_> = p.living.flags().map(LivingFlag::key).collect();
    let yes = |b: bool| if b { "yes" } else { "no" };
    format!(
        "age {}, hukou {}, ability {}, assistance {}, disability {}, living {}, family-planning special {}, veteran {}",
        age_text(p.age),
        p.hukou,
        p.ability,
        p.assistance,
        p.disability,
        if living.is_empty() {
            "none".to_string()
        } else {
            living.join("+")
        },
        yes(p.family_planning_special),
        yes(p.veteran_entitled),
    )
}

/// A person's fields as single bits, computed once per person.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    age: u64,
    hukou: u8,
    ability: u8,
    assistance: u8,
    disability: u8,
    living: u16,
    flags: u8,
}

impl Probe {
    /// The bits of `p`.
    #[inline]
    pub fn of(p: &Person) -> Probe {
        let age = p.age.clamp(MIN_AGE, MAX_AGE) - MIN_AGE;
        Probe {
            age: 1u64 << age,
            hukou: 1 << p.hukou.ordinal(),
            ability: 1 << p.ability.ordinal(),
            assistance: 1 << p.assistance.ordinal(),
            disability: 1 << p.disability.ordinal(),
            living: 1 << p.living.bits(),
            // bit 0/1: family planning false/true; bit 2/3: veteran false/true
            flags: (1 << u8::from(p.family_planning_special)) | (4 << u8::from(p.veteran_entitled)),
        }
    }
}

/// A conjunction of one mask per field (bit i set = value i allowed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cube {
    age: u64,
    hukou: u8,
    ability: u8,
    assistance: u8,
    disability: u8,
    living: u16,
    /// Bits 0–1 family planning special (false, true); bits 2–3 veteran.
    flags: u8,
}

const AGE_FULL: u64 = (1u64 << (MAX_AGE - MIN_AGE + 1)) - 1;

impl Cube {
    const FULL: Cube = Cube {
        age: AGE_FULL,
        hukou: 0b11,
        ability: 0b11_1111,
        assistance: 0b1_1111,
        disability: 0b1_1111,
        living: 0xffff,
        flags: 0b1111,
    };

    #[inline]
    fn matches(&self, p: &Probe) -> bool {
        (self.age & p.age != 0)
            & (self.hukou & p.hukou != 0)
            & (self.ability & p.ability != 0)
            & (self.assistance & p.assistance != 0)
            & (self.disability & p.disability != 0)
            & (self.living & p.living != 0)
            & (self.flags & p.flags == p.flags)
    }

    fn is_empty(&self) -> bool {
        self.age == 0
            || self.hukou == 0
            || self.ability == 0
            || self.assistance == 0
            || self.disability == 0
            || self.living == 0
            || self.flags & 0b0011 == 0
            || self.flags & 0b1100 == 0
    }

    fn and(&self, o: &Cube) -> Cube {
        Cube {
            age: self.age & o.age,
            hukou: self.hukou & o.hukou,
            ability: self.ability & o.ability,
            assistance: self.assistance & o.assistance,
            disability: self.disability & o.disability,
            living: self.living & o.living,
            flags: self.flags & o.flags,
        }
    }

    /// The complement as a union of cubes, one per restricted field.
    fn negate(&self) -> Vec<Cube> {
        let f = Cube::FULL;
        let mut out = Vec::new();
        let mut push = |c: Cube| {
            if !c.is_empty() {
                out.push(c);
            }
        };
        push(Cube {
            age: !self.age & AGE_FULL,
            ..f
        });
        push(Cube {
            hukou: !self.hukou & f.hukou,
            ..f
        });
        push(Cube {
            ability: !self.ability & f.ability,
            ..f
        });
        push(Cube {
            assistance: !self.assistance & f.assistance,
            ..f
        });
        push(Cube {
            disability: !self.disability & f.disability,
            ..f
        });
        push(Cube {
            living: !self.living,
            ..f
        });
        push(Cube {
            flags: (!self.flags & 0b0011) | 0b1100,
            ..f
        });
        push(Cube {
            flags: (!self.flags & 0b1100) | 0b0011,
            ..f
        });
        out
    }
}

fn mask_of<T: Copy + PartialOrd>(all: &[T], c: &Cmp<T>, ordinal: impl Fn(T) -> usize) -> u8 {
    all.iter()
        .filter(|v| match c {
            Cmp::AtLeast(min) => **v >= *min,
            Cmp::In(set) => set.iter().any(|s| ordinal(*s) == ordinal(**v)),
        })
        .fold(0u8, |m, v| m | (1 << ordinal(*v)))
}

fn atom_cube(a: &Atom) -> Cube {
    let f = Cube::FULL;
    match a {
        Atom::Age { min, max } => {
            let lo = min.clamp(&MIN_AGE, &MAX_AGE) - MIN_AGE;
            let hi = max.clamp(&MIN_AGE, &MAX_AGE) - MIN_AGE;
            let age = (lo..=hi).fold(0u64, |m, i| m | (1u64 << i));
            Cube { age, ..f }
        }
        Atom::Hukou(h) => Cube {
            hukou: 1 << h.ordinal(),
            ..f
        },
        Atom::Ability(c) => Cube {
            ability: mask_of(Ability::ALL, c, Ability::ordinal),
            ..f
        },
        Atom::Assistance(c) => Cube {
            assistance: mask_of(Assistance::ALL, c, Assistance::ordinal),
            ..f
        },
        Atom::Disability(c) => Cube {
            disability: mask_of(Disability::ALL, c, Disability::ordinal),
            ..f
        },
        Atom::Living(flags) => {
            let want = flags.iter().fold(0u8, |m, fl| m | (1 << fl.ordinal()));
            let living = (0u16..16)
                .filter(|set| (*set as u8) & want != 0)
                .fold(0u16, |m, set| m | (1 << set));
            Cube { living, ..f }
        }
        Atom::FamilyPlanningSpecial(b) => Cube {
            flags: (1 << u8::from(*b)) | 0b1100,
            ..f
        },
        Atom::VeteranEntitled(b) => Cube {
            flags: (4 << u8::from(*b)) | 0b0011,
            ..f
        },
    }
}

fn product(a: &[Cube], b: &[Cube]) -> Result<Vec<Cube>, String> {
    let mut out = Vec::new();
    for x in a {
        for y in b {
            let c = x.and(y);
            if !c.is_empty() && !out.contains(&c) {
                out.push(c);
                if out.len() > MAX_CUBES {
                    return Err(too_complex());
                }
            }
        }
    }
    Ok(out)
}

fn too_complex() -> String {
    format!("the condition is too complex (more than {MAX_CUBES} cases once expanded); split it")
}

fn dnf(p: &Predicate) -> Result<Vec<Cube>, String> {
    match p {
        Predicate::Always => Ok(vec![Cube::FULL]),
        Predicate::Atom(a) => {
            let c = atom_cube(a);
            Ok(if c.is_empty() { vec![] } else { vec![c] })
        }
        Predicate::All(parts) => {
            let mut acc = vec![Cube::FULL];
            for q in parts {
                acc = product(&acc, &dnf(q)?)?;
            }
            Ok(acc)
        }
        Predicate::Any(parts) => {
            let mut acc: Vec<Cube> = Vec::new();
            for q in parts {
                for c in dnf(q)? {
                    if !acc.contains(&c) {
                        acc.push(c);
                    }
                }
                if acc.len() > MAX_CUBES {
                    return Err(too_complex());
                }
            }
            Ok(acc)
        }
        Predicate::Not(q) => {
            let mut acc = vec![Cube::FULL];
            for c in dnf(q)? {
                acc = product(&acc, &c.negate())?;
            }
            Ok(acc)
        }
    }
}

/// Number of values of each person field, in [`Person::index`] order
/// (age, hukou, ability, assistance, disability, living, family planning,
/// veteran).
pub(crate) const DIMS: [usize; 8] = [(MAX_AGE - MIN_AGE + 1) as usize, 2, 6, 5, 5, 16, 2, 2];

impl Cube {
    /// The mask of field `d` (see [`DIMS`]).
    fn mask(&self, d: usize) -> u64 {
        match d {
            0 => self.age,
            1 => u64::from(self.hukou),
            2 => u64::from(self.ability),
            3 => u64::from(self.assistance),
            4 => u64::from(self.disability),
            5 => u64::from(self.living),
            6 => u64::from(self.flags & 0b11),
            _ => u64::from(self.flags >> 2),
        }
    }
}

/// A partition of the person domain into cells on which every given
/// predicate is constant: two values of a field are in one class when no
/// cube of any predicate tells them apart. Checking one person per cell (its
/// smallest) is then the same as checking every person, in far fewer steps.
pub(crate) struct Cells {
    /// Per field, the classes (each a list of values), ordered by their
    /// smallest value.
    classes: [Vec<Vec<usize>>; 8],
}

impl Cells {
    pub(crate) fn of<'a>(preds: impl IntoIterator<Item = &'a Compiled>) -> Cells {
        let cubes: Vec<&Cube> = preds.into_iter().flat_map(|p| p.cubes.iter()).collect();
        let classes = std::array::from_fn(|d| {
            let mut classes: Vec<(Vec<bool>, Vec<usize>)> = Vec::new();
            for v in 0..DIMS[d] {
                let sig: Vec<bool> = cubes.iter().map(|c| c.mask(d) >> v & 1 == 1).collect();
                match classes.iter_mut().find(|(s, _)| *s == sig) {
                    Some((_, values)) => values.push(v),
                    None => classes.push((sig, vec![v])),
                }
            }
            classes.into_iter().map(|(_, values)| values).collect()
        });
        Cells { classes }
    }

    /// Per field (in [`Person::index`] order), the classes of values.
    pub(crate) fn classes(&self) -> &[Vec<Vec<usize>>; 8] {
        &self.classes
    }

    /// Calls `f` with every cell, in domain order of their smallest persons,
    /// until `f` returns false.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&Cell<'_>) -> bool) {
        let mut pos = [0usize; 8];
        loop {
            if !f(&Cell { cells: self, pos }) {
                return;
            }
            // Odometer over the class positions, last field fastest.
            let mut d = 8;
            loop {
                if d == 0 {
                    return;
                }
                d -= 1;
                pos[d] += 1;
                if pos[d] < self.classes[d].len() {
                    break;
                }
                pos[d] = 0;
            }
        }
    }

    /// Calls `f` with the smallest person of every cell, in domain order,
    /// until `f` returns false.
    pub(crate) fn for_each_smallest(&self, mut f: impl FnMut(&Person) -> bool) {
        self.for_each(|cell| match cell.smallest() {
            Some(p) => f(&p),
            None => true,
        });
    }
}

/// One cell of [`Cells`]: a product of one class per field.
pub(crate) struct Cell<'a> {
    cells: &'a Cells,
    pos: [usize; 8],
}

impl Cell<'_> {
    fn class(&self, d: usize) -> &[usize] {
        self.cells
            .classes
            .get(d)
            .and_then(|c| c.get(self.pos[d]))
            .map_or(&[], Vec::as_slice)
    }

    /// How many persons the cell holds.
    pub(crate) fn size(&self) -> usize {
        (0..8).map(|d| self.class(d).len()).product()
    }

    /// The person with value index `at[d]` within each field's class.
    fn person(&self, at: &[usize; 8]) -> Option<Person> {
        let mut index = 0;
        for (d, size) in DIMS.iter().enumerate() {
            index = index * size + self.class(d).get(at[d]).copied()?;
        }
        Person::from_index(index)
    }

    /// The smallest person of the cell.
    pub(crate) fn smallest(&self) -> Option<Person> {
        self.person(&[0; 8])
    }

    /// The `n` smallest persons of the cell, in domain order.
    pub(crate) fn smallest_n(&self, n: usize) -> Vec<Person> {
        let mut out = Vec::with_capacity(n);
        let mut at = [0usize; 8];
        while out.len() < n {
            match self.person(&at) {
                Some(p) => out.push(p),
                None => break,
            }
            let mut d = 8;
            loop {
                if d == 0 {
                    return out;
                }
                d -= 1;
                at[d] += 1;
                if at[d] < self.class(d).len() {
                    break;
                }
                at[d] = 0;
            }
        }
        out
    }
}

/// A predicate compiled for the hot path.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Compiled {
    cubes: Vec<Cube>,
}

impl Compiled {
    /// Whether the predicate holds for the probed person.
    #[inline]
    pub fn matches(&self, p: &Probe) -> bool {
        self.cubes.iter().any(|c| c.matches(p))
    }

    /// Whether the predicate can hold for nobody.
    pub fn is_never(&self) -> bool {
        self.cubes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Living;

    fn age(min: u8, max: u8) -> Predicate {
        Predicate::Atom(Atom::Age { min, max })
    }

    fn samples() -> Vec<Predicate> {
        use Predicate::*;
        vec![
            Always,
            age(80, 120),
            All(vec![age(80, 89), Atom(self::Atom::Hukou(Hukou::Local))]),
            Atom(self::Atom::Ability(Cmp::AtLeast(Ability::Moderate))),
            Atom(self::Atom::Assistance(Cmp::In(vec![
                Assistance::Dibao,
                Assistance::Tekun,
            ]))),
            Any(vec![
                Atom(self::Atom::Living(vec![
                    LivingFlag::Alone,
                    LivingFlag::EmptyNest,
                ])),
                Atom(self::Atom::Disability(Cmp::AtLeast(Disability::Grade2))),
                Atom(self::Atom::FamilyPlanningSpecial(true)),
            ]),
            Not(Box::new(All(vec![
                age(60, 79),
                Atom(self::Atom::VeteranEntitled(false)),
                Any(vec![
                    Atom(self::Atom::Hukou(Hukou::NonLocal)),
                    Atom(self::Atom::Ability(Cmp::In(vec![Ability::Unassessed]))),
                ]),
            ]))),
            All(vec![age(90, 80)]),
        ]
    }

    #[test]
    fn compiled_form_agrees_with_the_tree_over_the_whole_domain() {
        for p in samples() {
            let c = p.compile().unwrap();
            for person in Person::domain().step_by(7) {
                assert_eq!(
                    c.matches(&Probe::of(&person)),
                    p.holds(&person),
                    "{p} for {person:?}"
                );
            }
        }
    }

    #[test]
    fn at_least_moderate_excludes_unassessed() {
        let p = Predicate::Atom(Atom::Ability(Cmp::AtLeast(Ability::Moderate)));
        let person = Person::aged(70);
        assert!(!p.holds(&person));
        assert!(p.holds(&Person {
            ability: Ability::Complete,
            ..person
        }));
        assert!(!p.holds(&Person {
            ability: Ability::Mild,
            ..person
        }));
    }

    #[test]
    fn reasons_show_the_persons_values() {
        let p = Predicate::All(vec![
            age(80, 120),
            Predicate::Atom(Atom::Hukou(Hukou::Local)),
        ]);
        assert_eq!(
            p.reason(&Person::aged(92)).as_deref(),
            Some("age 92 ≥ 80 and hukou local")
        );
        assert_eq!(p.reason(&Person::aged(79)), None);
        let living = Predicate::Atom(Atom::Living(vec![
            LivingFlag::Alone,
            LivingFlag::LeftBehind,
        ]));
        let person = Person {
            living: Living::NONE.with(LivingFlag::Alone),
            ..Person::aged(70)
        };
        assert_eq!(
            living.reason(&person).as_deref(),
            Some("living alone (any of alone, left-behind)")
        );
        assert_eq!(age(90, 99).to_string(), "age 90–99");
        assert_eq!(age(100, 120).to_string(), "age ≥ 100");
    }

    #[test]
    fn cells_cover_the_domain_and_keep_every_predicate_constant() {
        let compiled: Vec<Compiled> = samples().iter().map(|p| p.compile().unwrap()).collect();
        let cells = Cells::of(&compiled);
        let mut total = 0;
        let mut count = 0;
        let mut last = None;
        cells.for_each(|cell| {
            total += cell.size();
            count += 1;
            let members = cell.smallest_n(40);
            assert_eq!(members.first().copied(), cell.smallest());
            assert!(members.windows(2).all(|w| w[0].index() < w[1].index()));
            let first = members[0];
            assert!(last.is_none_or(|l: usize| l < first.index()));
            last = Some(first.index());
            for p in &members {
                for c in &compiled {
                    assert_eq!(c.matches(&Probe::of(p)), c.matches(&Probe::of(&first)));
                }
            }
            true
        });
        assert_eq!(total, crate::model::DOMAIN_SIZE);
        assert!(count < total / 50, "{count} cells");
    }

    #[test]
    fn an_explosive_negation_is_refused() {
        let wide = Predicate::Any(
            (0..12)
                .map(|i| {
                    Predicate::All(vec![
                        age(60 + i, 60 + i),
                        Predicate::Atom(Atom::Living(vec![LivingFlag::Alone])),
                        Predicate::Atom(Atom::Disability(Cmp::In(vec![Disability::Grade3]))),
                    ])
                })
                .collect(),
        );
        let err = Predicate::Not(Box::new(wide)).compile().unwrap_err();
        assert!(err.contains("too complex"), "{err}");
    }
}

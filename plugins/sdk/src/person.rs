//! The person a county list is evaluated for. Every field has a finite
//! domain, so the host can run a plugin for every possible person; there are
//! no names or identity numbers.

/// 户籍: registered in this county, or a long-term resident registered elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Hukou {
    /// Registered here (本地户籍).
    Local,
    /// Registered elsewhere, living here.
    NonLocal,
}

/// Ability level under GB/T 42195-2022, ordered from least to most impaired,
/// so `person.ability >= Ability::Moderate` reads "at least moderately
/// disabled".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Ability {
    /// Not (yet) assessed.
    Unassessed,
    /// 能力完好
    Intact,
    /// 轻度失能
    Mild,
    /// 中度失能
    Moderate,
    /// 重度失能
    Severe,
    /// 完全失能
    Complete,
}

/// The strongest economic-assistance status held, ordered by strength
/// (低收入 < 低保边缘 < 低保 < 特困).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Assistance {
    /// No assistance status.
    None,
    /// 低收入 / 经济困难
    LowIncome,
    /// 低保边缘 (低边)
    DibaoEdge,
    /// 最低生活保障 (低保)
    Dibao,
    /// 特困
    Tekun,
}

/// Grade on the disability certificate (残疾人证), ordered by severity:
/// grade 1 is the most severe, grades 1–2 are 重度残疾.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Disability {
    /// No certificate.
    None,
    /// Grade 4.
    Grade4,
    /// Grade 3.
    Grade3,
    /// Grade 2 (重度).
    Grade2,
    /// Grade 1 (重度).
    Grade1,
}

/// Living situation (独居, 空巢, 留守, 孤寡): any combination of four flags.
///
/// ```
/// use qingdan_sdk::Living;
/// let living = Living::ALONE | Living::EMPTY_NEST;
/// assert!(living.contains(Living::ALONE));
/// assert!(!living.contains(Living::LEFT_BEHIND));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Living(u8);

impl Living {
    /// No flag.
    pub const NONE: Living = Living(0);
    /// 独居: lives alone.
    pub const ALONE: Living = Living(1);
    /// 空巢: no children living with them.
    pub const EMPTY_NEST: Living = Living(2);
    /// 留守: children work away from home.
    pub const LEFT_BEHIND: Living = Living(4);
    /// 孤寡: no spouse and no children.
    pub const CHILDLESS_WIDOWED: Living = Living(8);

    /// The set with the given bits (in the order of the constants above);
    /// higher bits are ignored.
    pub const fn from_bits(bits: u8) -> Living {
        Living(bits & 0x0f)
    }

    /// The bits of the set.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: Living) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: Living) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl core::ops::BitOr for Living {
    type Output = Living;
    fn bitor(self, rhs: Living) -> Living {
        Living(self.0 | rhs.0)
    }
}

/// The person as a county plugin sees them.
///
/// ```
/// use qingdan_sdk::{Ability, Assistance, Person};
/// let p = Person {
///     assistance: Assistance::DibaoEdge,
///     ability: Ability::Moderate,
///     ..Person::aged(82)
/// };
/// assert!(p.is_economically_difficult());
/// assert!(p.ability_at_least(Ability::Moderate));
/// assert!(p.is_disabled());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Person {
    /// Completed years (周岁) on the evaluation date, 60..=120; 120 means
    /// "120 or older". Nobody under 60 is ever evaluated.
    pub age: u8,
    /// 户籍
    pub hukou: Hukou,
    /// Ability level.
    pub ability: Ability,
    /// Strongest assistance status.
    pub assistance: Assistance,
    /// Disability certificate grade.
    pub disability: Disability,
    /// Living-situation flags.
    pub living: Living,
    /// 计划生育特殊家庭: the only child died or is disabled.
    pub family_planning_special: bool,
    /// 优抚对象 / 抚恤优待对象.
    pub veteran_entitled: bool,
}

impl Person {
    /// A person of the given age with local hukou and every other field at
    /// its first value (unassessed, no assistance, no disability, no flags):
    /// handy in tests with struct-update syntax.
    pub const fn aged(age: u8) -> Person {
        Person {
            age,
            hukou: Hukou::Local,
            ability: Ability::Unassessed,
            assistance: Assistance::None,
            disability: Disability::None,
            living: Living::NONE,
            family_planning_special: false,
            veteran_entitled: false,
        }
    }

    /// Whether the person holds any assistance status (低收入, 低边, 低保 or
    /// 特困): the usual local reading of 经济困难. Lists that mean a narrower
    /// group should test `assistance` directly.
    pub fn is_economically_difficult(&self) -> bool {
        self.assistance != Assistance::None
    }

    /// Whether the person is in 低保 or 特困.
    pub fn is_dibao_or_tekun(&self) -> bool {
        self.assistance >= Assistance::Dibao
    }

    /// Whether the assessed ability level is `level` or more impaired.
    /// Unassessed persons never qualify.
    pub fn ability_at_least(&self, level: Ability) -> bool {
        self.ability != Ability::Unassessed && self.ability >= level
    }

    /// 失能 in the reading of the 2026 national consumption voucher: assessed
    /// moderate, severe or complete. Local texts differ (some mean severe and
    /// above); say in your legal-basis text which reading you use.
    pub fn is_disabled(&self) -> bool {
        self.ability_at_least(Ability::Moderate)
    }

    /// 重度残疾: disability certificate grade 1 or 2.
    pub fn has_severe_disability(&self) -> bool {
        self.disability >= Disability::Grade2
    }

    /// Whether the person's age is within `range` (completed years).
    pub fn age_in(&self, range: core::ops::RangeInclusive<u8>) -> bool {
        range.contains(&self.age)
    }

    /// Number of persons in the domain: 61 ages × 2 × 6 × 5 × 5 × 16 × 2 × 2.
    pub const DOMAIN_SIZE: u32 = 1_171_200;

    /// The person with the given index in the person domain (the numbering
    /// of the WIT 0.2.0 `batch`: mixed radix, age most significant, then
    /// hukou, ability, assistance, disability, living, family planning,
    /// veteran), or `None` past the end of the domain.
    pub fn from_index(index: u32) -> Option<Person> {
        const ABILITIES: [Ability; 6] = [
            Ability::Unassessed,
            Ability::Intact,
            Ability::Mild,
            Ability::Moderate,
            Ability::Severe,
            Ability::Complete,
        ];
        const ASSISTANCE: [Assistance; 5] = [
            Assistance::None,
            Assistance::LowIncome,
            Assistance::DibaoEdge,
            Assistance::Dibao,
            Assistance::Tekun,
        ];
        const DISABILITIES: [Disability; 5] = [
            Disability::None,
            Disability::Grade4,
            Disability::Grade3,
            Disability::Grade2,
            Disability::Grade1,
        ];
        if index >= Person::DOMAIN_SIZE {
            return None;
        }
        // The digits, least significant (veteran) first.
        let mut rest = index as usize;
        let mut digit = |radix: usize| {
            let d = rest % radix;
            rest /= radix;
            d
        };
        let veteran_entitled = digit(2) == 1;
        let family_planning_special = digit(2) == 1;
        let living = Living::from_bits(digit(16) as u8);
        let disability = DISABILITIES[digit(5)];
        let assistance = ASSISTANCE[digit(5)];
        let ability = ABILITIES[digit(6)];
        let hukou = [Hukou::Local, Hukou::NonLocal][digit(2)];
        // Below 61 here: the domain check above.
        let age = 60 + digit(61) as u8;
        let mut person = Person::aged(age);
        person.hukou = hukou;
        person.ability = ability;
        person.assistance = assistance;
        person.disability = disability;
        person.living = living;
        person.family_planning_special = family_planning_special;
        person.veteran_entitled = veteran_entitled;
        Some(person)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unassessed_never_counts_as_disabled() {
        let p = Person::aged(90);
        assert!(!p.ability_at_least(Ability::Intact));
        assert!(!p.is_disabled());
        let p = Person {
            ability: Ability::Mild,
            ..p
        };
        assert!(p.ability_at_least(Ability::Intact));
        assert!(!p.is_disabled());
    }

    #[test]
    fn assistance_helpers_follow_the_order() {
        let p = |assistance| Person {
            assistance,
            ..Person::aged(60)
        };
        assert!(!p(Assistance::None).is_economically_difficult());
        assert!(p(Assistance::LowIncome).is_economically_difficult());
        assert!(!p(Assistance::DibaoEdge).is_dibao_or_tekun());
        assert!(p(Assistance::Dibao).is_dibao_or_tekun());
        assert!(p(Assistance::Tekun).is_dibao_or_tekun());
    }

    #[test]
    fn domain_indices_count_age_first_and_veteran_last() {
        assert_eq!(Person::from_index(0), Some(Person::aged(60)));
        let veteran = Person::from_index(1).unwrap();
        assert!(veteran.veteran_entitled && !veteran.family_planning_special);
        let last = Person::from_index(Person::DOMAIN_SIZE - 1).unwrap();
        assert_eq!(last.age, 120);
        assert_eq!(last.hukou, Hukou::NonLocal);
        assert_eq!(last.ability, Ability::Complete);
        assert_eq!(last.assistance, Assistance::Tekun);
        assert_eq!(last.disability, Disability::Grade1);
        assert_eq!(last.living.bits(), 15);
        assert!(last.family_planning_special && last.veteran_entitled);
        assert_eq!(Person::from_index(Person::DOMAIN_SIZE), None);
        // One year of age is 2 × 6 × 5 × 5 × 16 × 2 × 2 = 19,200 persons.
        assert_eq!(Person::from_index(19_200), Some(Person::aged(61)));
    }

    #[test]
    fn living_flags_combine() {
        let l = Living::ALONE | Living::CHILDLESS_WIDOWED;
        assert_eq!(l.bits(), 9);
        assert!(l.intersects(Living::ALONE | Living::LEFT_BEHIND));
        assert!(!l.contains(Living::ALONE | Living::LEFT_BEHIND));
        assert_eq!(Living::from_bits(0xff).bits(), 0x0f);
    }
}

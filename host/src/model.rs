//! The domain model shared by every module: the person a list is evaluated
//! for, the benefits a list gives, and the order "at least as generous"
//! (DESIGN §3.1, §3.2, §3.4).
//!
//! Every field of [`Person`] has a finite domain, so the whole population of
//! possible persons can be enumerated ([`Person::domain`]): 1,171,200 persons.
//! Persons are numbered in a fixed order ([`Person::index`]), age first, so
//! "the smallest failing person" is well defined and reproducible.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The youngest age a list is evaluated for (60 周岁).
pub const MIN_AGE: u8 = 60;
/// The oldest age a list distinguishes; 120 stands for "120 or older".
pub const MAX_AGE: u8 = 120;

macro_rules! finite_enum {
    (
        $(#[$meta:meta])*
        $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $key:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "kebab-case")]
        pub enum $name { $( $(#[$vmeta])* $variant ),+ }

        impl $name {
            /// Every value, in increasing order.
            pub const ALL: &'static [$name] = &[$( $name::$variant ),+];

            /// The key used in catalogues and JSON.
            pub fn key(self) -> &'static str {
                match self { $( $name::$variant => $key ),+ }
            }

            /// Parses a key as written in catalogues and JSON.
            pub fn from_key(key: &str) -> Option<Self> {
                match key { $( $key => Some($name::$variant), )+ _ => None }
            }

            /// Position in [`Self::ALL`].
            pub fn ordinal(self) -> usize { self as usize }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.key()) }
        }
    };
}

finite_enum! {
    /// 户籍: registered in this county, or a long-term resident registered elsewhere.
    Hukou {
        /// Registered in this county.
        Local = "local",
        /// A long-term resident registered elsewhere.
        NonLocal = "non-local",
    }
}

finite_enum! {
    /// GB/T 42195-2022 ability level, ordered from least to most impaired.
    Ability {
        /// Not (yet) assessed.
        Unassessed = "unassessed",
        /// 能力完好
        Intact = "intact",
        /// 轻度失能
        Mild = "mild",
        /// 中度失能
        Moderate = "moderate",
        /// 重度失能
        Severe = "severe",
        /// 完全失能
        Complete = "complete",
    }
}

finite_enum! {
    /// The strongest economic-assistance status held, ordered by strength.
    Assistance {
        /// No assistance status.
        None = "none",
        /// 低收入 / 经济困难
        LowIncome = "low-income",
        /// 低保边缘
        DibaoEdge = "dibao-edge",
        /// 最低生活保障
        Dibao = "dibao",
        /// 特困
        Tekun = "tekun",
    }
}

finite_enum! {
    /// Grade on the disability certificate, ordered by severity (grade 1 is the most severe).
    Disability {
        /// No certificate.
        None = "none",
        /// Grade 4.
        Grade4 = "grade4",
        /// Grade 3.
        Grade3 = "grade3",
        /// Grade 2 (重度).
        Grade2 = "grade2",
        /// Grade 1 (重度).
        Grade1 = "grade1",
    }
}

finite_enum! {
    /// One living-situation flag.
    LivingFlag {
        /// 独居
        Alone = "alone",
        /// 空巢
        EmptyNest = "empty-nest",
        /// 留守
        LeftBehind = "left-behind",
        /// 孤寡
        ChildlessWidowed = "childless-widowed",
    }
}

finite_enum! {
    /// The three categories of the national list.
    Category {
        /// 物质帮助
        MaterialAssistance = "material-assistance",
        /// 照护服务
        CareService = "care-service",
        /// 关爱服务
        CaringService = "caring-service",
    }
}

impl Category {
    /// The Chinese name of the category.
    pub fn chinese(self) -> &'static str {
        match self {
            Category::MaterialAssistance => "物质帮助",
            Category::CareService => "照护服务",
            Category::CaringService => "关爱服务",
        }
    }
}

/// A set of [`LivingFlag`]s, stored as four bits in the order of [`LivingFlag::ALL`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Living(u8);

impl Living {
    /// No flag set.
    pub const NONE: Living = Living(0);
    /// Number of distinct sets.
    pub const COUNT: usize = 16;

    /// The set with the given bits (bit i is `LivingFlag::ALL[i]`); higher bits are ignored.
    pub fn from_bits(bits: u8) -> Living {
        Living(bits & 0x0f)
    }
    /// The bits of the set.
    pub fn bits(self) -> u8 {
        self.0
    }
    /// Whether `flag` is in the set.
    pub fn contains(self, flag: LivingFlag) -> bool {
        self.0 & (1 << flag.ordinal()) != 0
    }
    /// The set with `flag` added.
    pub fn with(self, flag: LivingFlag) -> Living {
        Living(self.0 | (1 << flag.ordinal()))
    }
    /// The flags in the set, in order.
    pub fn flags(self) -> impl Iterator<Item = LivingFlag> {
        LivingFlag::ALL
            .iter()
            .copied()
            .filter(move |f| self.contains(*f))
    }
}

impl Serialize for Living {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.flags())
    }
}

impl<'de> Deserialize<'de> for Living {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let flags = Vec::<LivingFlag>::deserialize(d)?;
        Ok(flags.into_iter().fold(Living::NONE, Living::with))
    }
}

/// The person a list is evaluated for (DESIGN §3.1). No identifiers.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Person {
    /// Completed years on the evaluation date, `MIN_AGE..=MAX_AGE` (120 = 120 or older).
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
    #[serde(default)]
    #[schema(value_type = Vec<LivingFlag>)]
    pub living: Living,
    /// 计划生育特殊家庭
    #[serde(default)]
    pub family_planning_special: bool,
    /// 优抚对象
    #[serde(default)]
    pub veteran_entitled: bool,
}

/// Why a person record is outside the domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersonError {
    /// Under 60: not an elder, no list applies.
    #[error("age {0} is under {MIN_AGE}: not an elder, no list applies")]
    TooYoung(u8),
}

const AGES: usize = (MAX_AGE - MIN_AGE) as usize + 1;
/// Number of values of each person field, in [`Person::index`] order (age,
/// hukou, ability, assistance, disability, living, family planning, veteran).
pub const FIELD_VALUES: [usize; 8] = RADIX;
const RADIX: [usize; 8] = [
    AGES, 2,  // hukou
    6,  // ability
    5,  // assistance
    5,  // disability
    16, // living
    2,  // family planning special
    2,  // veteran
];

/// Number of persons in the domain: 61 × 2 × 6 × 5 × 5 × 16 × 2 × 2.
pub const DOMAIN_SIZE: usize =
    RADIX[0] * RADIX[1] * RADIX[2] * RADIX[3] * RADIX[4] * RADIX[5] * RADIX[6] * RADIX[7];

/// Every person's entry of a table that splits each field's values into
/// classes, in domain order: `weight(d, v)` is what value `v` of field `d`
/// adds to the cell number (its class times the field's stride), `cells`
/// the table's entry per cell. This is the lookup [`Person::digits`]
/// followed by a sum of weights, done for all persons at once by nested
/// loops (a few milliseconds for the whole domain, where decoding every
/// index costs tens).
pub fn in_domain_order<T: Copy + Default>(
    weight: impl Fn(usize, usize) -> usize,
    cells: &[T],
) -> Vec<T> {
    fn level<T: Copy + Default>(
        weights: &[Vec<usize>; 8],
        d: usize,
        base: usize,
        cells: &[T],
        out: &mut Vec<T>,
    ) {
        let Some(values) = weights.get(d) else {
            return;
        };
        for w in values {
            if d + 1 < weights.len() {
                level(weights, d + 1, base + w, cells, out);
            } else {
                out.push(cells.get(base + w).copied().unwrap_or_default());
            }
        }
    }
    let weights: [Vec<usize>; 8] =
        std::array::from_fn(|d| (0..RADIX[d]).map(|v| weight(d, v)).collect());
    let mut out = Vec::with_capacity(DOMAIN_SIZE);
    level(&weights, 0, 0, cells, &mut out);
    out
}

impl Person {
    /// A person with the given age and every other field at its least
    /// remarkable value (local hukou, unassessed, no assistance, no disability,
    /// no living flag, not a special family, not a veteran).
    pub fn aged(age: u8) -> Person {
        Person {
            age: age.min(MAX_AGE),
            hukou: Hukou::Local,
            ability: Ability::Unassessed,
            assistance: Assistance::None,
            disability: Disability::None,
            living: Living::NONE,
            family_planning_special: false,
            veteran_entitled: false,
        }
    }

    /// Brings a record into the domain: ages above 120 become 120; ages under
    /// 60 are refused.
    pub fn normalized(mut self) -> Result<Person, PersonError> {
        if self.age < MIN_AGE {
            return Err(PersonError::TooYoung(self.age));
        }
        self.age = self.age.min(MAX_AGE);
        Ok(self)
    }

    /// Position in the domain order (age, hukou, ability, assistance,
    /// disability, living, family planning, veteran — most significant
    /// first). Ages outside 60..=120 are clamped.
    pub fn index(&self) -> usize {
        self.digits()
            .iter()
            .zip(RADIX.iter())
            .fold(0, |acc, (d, r)| acc * r + d)
    }

    /// The value of each field as a number below [`FIELD_VALUES`] (the age
    /// counted from [`MIN_AGE`], clamped to the domain), in index order.
    #[inline]
    pub fn digits(&self) -> [usize; 8] {
        [
            usize::from(self.age.clamp(MIN_AGE, MAX_AGE) - MIN_AGE),
            self.hukou.ordinal(),
            self.ability.ordinal(),
            self.assistance.ordinal(),
            self.disability.ordinal(),
            usize::from(self.living.bits()),
            usize::from(self.family_planning_special),
            usize::from(self.veteran_entitled),
        ]
    }

    /// The person at position `index` of the domain order; `None` past the end.
    pub fn from_index(index: usize) -> Option<Person> {
        if index >= DOMAIN_SIZE {
            return None;
        }
        let mut digits = [0usize; 8];
        let mut rest = index;
        for (slot, radix) in digits.iter_mut().zip(RADIX.iter()).rev() {
            *slot = rest % radix;
            rest /= radix;
        }
        Some(Person {
            age: MIN_AGE + u8::try_from(digits[0]).ok()?,
            hukou: *Hukou::ALL.get(digits[1])?,
            ability: *Ability::ALL.get(digits[2])?,
            assistance: *Assistance::ALL.get(digits[3])?,
            disability: *Disability::ALL.get(digits[4])?,
            living: Living::from_bits(u8::try_from(digits[5]).ok()?),
            family_planning_special: digits[6] == 1,
            veteran_entitled: digits[7] == 1,
        })
    }

    /// Every person of the domain, in domain order.
    pub fn domain() -> impl ExactSizeIterator<Item = Person> + Clone {
        (0..DOMAIN_SIZE).map(|i| Person::from_index(i).unwrap_or_else(|| Person::aged(MIN_AGE)))
    }
}

/// Money in fen (分). Never fractional, never negative.
pub type Fen = u64;

/// Formats fen as yuan with two decimals, e.g. `10000` → `100.00`.
pub fn yuan(fen: Fen) -> String {
    format!("{}.{:02}", fen / 100, fen % 100)
}

/// A service given `count` times every `months` months.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    /// How many times.
    pub count: u32,
    /// In how many months (at least 1).
    pub months: u32,
}

/// A one-off grant: a fixed amount plus a share of the cost up to a cap.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
pub struct OneOff {
    /// Fixed amount in fen.
    #[serde(default)]
    pub fixed: Fen,
    /// Percent of the cost covered (0..=100).
    #[serde(default)]
    pub percent: u8,
    /// Cap on the proportional part, in fen.
    #[serde(default)]
    pub cap: Fen,
}

/// A consumption voucher.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Voucher {
    /// Percent of spending covered (0..=100).
    pub percent: u8,
    /// Monthly cap in fen.
    pub monthly_cap: Fen,
}

/// What a person gets from one item (DESIGN §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Benefit {
    /// Cash every month, in fen.
    MonthlyCash {
        /// Fen per month.
        fen: Fen,
    },
    /// A service quota.
    Quota(Quota),
    /// A one-off grant.
    OneOff(OneOff),
    /// A voucher.
    Voucher(Voucher),
    /// A right (present).
    Right,
}

/// The kind of a benefit, without its figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BenefitKind {
    /// [`Benefit::MonthlyCash`]
    MonthlyCash,
    /// [`Benefit::Quota`]
    Quota,
    /// [`Benefit::OneOff`]
    OneOff,
    /// [`Benefit::Voucher`]
    Voucher,
    /// [`Benefit::Right`]
    Right,
}

impl BenefitKind {
    /// The key used in catalogues and JSON.
    pub fn key(self) -> &'static str {
        match self {
            BenefitKind::MonthlyCash => "monthly-cash",
            BenefitKind::Quota => "quota",
            BenefitKind::OneOff => "one-off",
            BenefitKind::Voucher => "voucher",
            BenefitKind::Right => "right",
        }
    }
}

impl fmt::Display for BenefitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl Benefit {
    /// The kind of the benefit.
    pub fn kind(&self) -> BenefitKind {
        match self {
            Benefit::MonthlyCash { .. } => BenefitKind::MonthlyCash,
            Benefit::Quota(_) => BenefitKind::Quota,
            Benefit::OneOff(_) => BenefitKind::OneOff,
            Benefit::Voucher(_) => BenefitKind::Voucher,
            Benefit::Right => BenefitKind::Right,
        }
    }

    /// Whether the benefit is worth nothing: 0 fen a month, 0 times, a
    /// one-off of 0 fen with no percentage that can pay (0 % or a 0 cap), a
    /// voucher of 0 % or with a 0 cap. A right is always worth something.
    pub fn is_worthless(&self) -> bool {
        match self {
            Benefit::MonthlyCash { fen } => *fen == 0,
            Benefit::Quota(q) => q.count == 0,
            Benefit::OneOff(o) => o.fixed == 0 && (o.percent == 0 || o.cap == 0),
            Benefit::Voucher(v) => v.percent == 0 || v.monthly_cap == 0,
            Benefit::Right => false,
        }
    }

    /// Whether the benefit is well formed: quota months ≥ 1, percents ≤ 100.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Benefit::Quota(q) if q.months == 0 => Err("quota months must be at least 1".into()),
            Benefit::OneOff(o) if o.percent > 100 => {
                Err(format!("one-off percent {} is over 100", o.percent))
            }
            Benefit::Voucher(v) if v.percent > 100 => {
                Err(format!("voucher percent {} is over 100", v.percent))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Benefit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Benefit::MonthlyCash { fen } => write!(f, "{} 元/月", yuan(*fen)),
            Benefit::Quota(q) if q.months == 1 => write!(f, "{} 次/月", q.count),
            Benefit::Quota(q) => write!(f, "{} 次/{} 个月", q.count, q.months),
            Benefit::OneOff(o) => match (o.fixed, o.percent) {
                (fixed, 0) => write!(f, "一次性 {} 元", yuan(fixed)),
                (0, p) => write!(f, "一次性 费用的 {p}%，最高 {} 元", yuan(o.cap)),
                (fixed, p) => write!(
                    f,
                    "一次性 {} 元 + 费用的 {p}%（最高 {} 元）",
                    yuan(fixed),
                    yuan(o.cap)
                ),
            },
            Benefit::Voucher(v) => {
                write!(
                    f,
                    "消费券 {}%，每月最高 {} 元",
                    v.percent,
                    yuan(v.monthly_cap)
                )
            }
            Benefit::Right => f.write_str("享有"),
        }
    }
}

/// An item as named on the wire between host and plugin: a small numeric code
/// (declared once in the plugin's description), never a string.
pub type ItemCode = u16;

/// Codes from this value up belong to the host: it gives them to baseline
/// items a plugin did not name, and a plugin passes such lines through.
pub const HOST_CODES_FROM: ItemCode = 32_768;

/// One entitlement line as it travels between host and plugin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Line {
    /// The item, by code.
    pub item: ItemCode,
    /// What the person gets from it.
    pub benefit: Benefit,
}

/// Why a county line is not at least as generous as a baseline line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case", tag = "reason")]
pub enum Shortfall {
    /// The county has no line for a baseline item.
    Missing,
    /// The county line is of another kind.
    KindMismatch {
        /// Kind of the baseline line.
        baseline: BenefitKind,
        /// Kind of the county line.
        county: BenefitKind,
    },
    /// Same kind, but lower in at least one figure.
    Lower,
    /// The county's line is worth nothing (0 fen, 0 times, 0 %), which does
    /// not meet an item the baseline only requires to be present.
    Worthless,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shortfall::Missing => f.write_str("the county gives nothing for this baseline item"),
            Shortfall::KindMismatch { baseline, county } => write!(
                f,
                "the county gives a {county} benefit where the baseline gives a {baseline} benefit"
            ),
            Shortfall::Lower => f.write_str("the county gives less than the baseline"),
            Shortfall::Worthless => {
                f.write_str("the county's line is worth nothing (0 fen, 0 times or 0 %)")
            }
        }
    }
}

/// The order "at least as generous" of DESIGN §3.4: `Ok(())` when the county
/// benefit `county` dominates the baseline benefit `baseline` for the same
/// person and item. Equality passes (不低于 allows equal). `None` means the
/// county gives no line for the item.
///
/// Quotas are compared as rates `count / months` by cross-multiplication in
/// 64-bit arithmetic, which cannot overflow for 32-bit operands.
pub fn dominates(county: Option<&Benefit>, baseline: &Benefit) -> Result<(), Shortfall> {
    let Some(county) = county else {
        return Err(Shortfall::Missing);
    };
    let ok = match (county, baseline) {
        (Benefit::MonthlyCash { fen: c }, Benefit::MonthlyCash { fen: b }) => c >= b,
        (Benefit::Quota(c), Benefit::Quota(b)) => {
            // c.count / c.months >= b.count / b.months, months >= 1 on both
            // sides once validated; a zero-month county quota is malformed and
            // never dominates.
            c.months != 0
                && u64::from(c.count) * u64::from(b.months)
                    >= u64::from(b.count) * u64::from(c.months)
        }
        (Benefit::OneOff(c), Benefit::OneOff(b)) => {
            c.fixed >= b.fixed && c.percent >= b.percent && c.cap >= b.cap
        }
        (Benefit::Voucher(c), Benefit::Voucher(b)) => {
            c.percent >= b.percent && c.monthly_cap >= b.monthly_cap
        }
        (Benefit::Right, Benefit::Right) => true,
        (c, b) => {
            return Err(Shortfall::KindMismatch {
                baseline: b.kind(),
                county: c.kind(),
            });
        }
    };
    if ok { Ok(()) } else { Err(Shortfall::Lower) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cash(fen: Fen) -> Benefit {
        Benefit::MonthlyCash { fen }
    }
    fn quota(count: u32, months: u32) -> Benefit {
        Benefit::Quota(Quota { count, months })
    }
    fn one_off(fixed: Fen, percent: u8, cap: Fen) -> Benefit {
        Benefit::OneOff(OneOff {
            fixed,
            percent,
            cap,
        })
    }
    fn voucher(percent: u8, monthly_cap: Fen) -> Benefit {
        Benefit::Voucher(Voucher {
            percent,
            monthly_cap,
        })
    }

    #[test]
    fn domain_has_the_designed_size_and_round_trips() {
        assert_eq!(DOMAIN_SIZE, 1_171_200);
        for i in (0..DOMAIN_SIZE).step_by(7919).chain([0, DOMAIN_SIZE - 1]) {
            let p = Person::from_index(i).unwrap();
            assert_eq!(p.index(), i);
        }
        assert_eq!(Person::from_index(DOMAIN_SIZE), None);
        assert_eq!(Person::from_index(0), Some(Person::aged(60)));
        assert_eq!(Person::from_index(DOMAIN_SIZE - 1).unwrap().age, 120);
    }

    #[test]
    fn domain_order_is_age_first() {
        let young = Person {
            veteran_entitled: true,
            ..Person::aged(61)
        };
        assert!(young.index() < Person::aged(62).index());
        assert!(young < Person::aged(62));
    }

    #[test]
    fn normalizing_clamps_old_and_refuses_young() {
        assert_eq!(
            Person::aged(59).normalized(),
            Err(PersonError::TooYoung(59))
        );
        let old = Person {
            age: 130,
            ..Person::aged(60)
        };
        assert_eq!(old.normalized().unwrap().age, 120);
    }

    #[test]
    fn monthly_cash_more_or_equal_passes_less_fails() {
        assert_eq!(dominates(Some(&cash(10_001)), &cash(10_000)), Ok(()));
        assert_eq!(dominates(Some(&cash(10_000)), &cash(10_000)), Ok(()));
        assert_eq!(
            dominates(Some(&cash(9_999)), &cash(10_000)),
            Err(Shortfall::Lower)
        );
    }

    #[test]
    fn quota_compares_rates_not_counts() {
        // 1 per 12 months vs 1 per 24 months: more frequent passes.
        assert_eq!(dominates(Some(&quota(1, 12)), &quota(1, 24)), Ok(()));
        assert_eq!(
            dominates(Some(&quota(1, 24)), &quota(1, 12)),
            Err(Shortfall::Lower)
        );
        // Same rate written differently: equal passes.
        assert_eq!(dominates(Some(&quota(2, 24)), &quota(1, 12)), Ok(()));
        assert_eq!(dominates(Some(&quota(12, 12)), &quota(1, 1)), Ok(()));
        // Changing the period alone lowers the rate.
        assert_eq!(
            dominates(Some(&quota(1, 2)), &quota(1, 1)),
            Err(Shortfall::Lower)
        );
        // A zero-month county quota is malformed and never dominates.
        assert_eq!(
            dominates(Some(&quota(5, 0)), &quota(1, 12)),
            Err(Shortfall::Lower)
        );
    }

    #[test]
    fn quota_cross_multiplication_does_not_overflow() {
        let max = u32::MAX;
        assert_eq!(dominates(Some(&quota(max, max)), &quota(max, max)), Ok(()));
        assert_eq!(dominates(Some(&quota(max, 1)), &quota(max - 1, 1)), Ok(()));
        assert_eq!(
            dominates(Some(&quota(max - 1, max)), &quota(max, max)),
            Err(Shortfall::Lower)
        );
        assert_eq!(
            dominates(Some(&quota(max, max - 1)), &quota(max, max)),
            Ok(())
        );
    }

    #[test]
    fn one_off_needs_every_figure_at_least_as_high() {
        assert_eq!(
            dominates(Some(&one_off(100, 30, 120_000)), &one_off(100, 30, 120_000)),
            Ok(())
        );
        assert_eq!(
            dominates(Some(&one_off(200, 40, 150_000)), &one_off(100, 30, 120_000)),
            Ok(())
        );
        for county in [
            one_off(99, 30, 120_000),
            one_off(100, 29, 120_000),
            one_off(100, 30, 119_999),
            one_off(1_000_000, 29, 1_000_000),
        ] {
            assert_eq!(
                dominates(Some(&county), &one_off(100, 30, 120_000)),
                Err(Shortfall::Lower),
                "{county:?}"
            );
        }
    }

    #[test]
    fn voucher_needs_percent_and_cap() {
        assert_eq!(
            dominates(Some(&voucher(50, 80_000)), &voucher(50, 80_000)),
            Ok(())
        );
        assert_eq!(
            dominates(Some(&voucher(60, 90_000)), &voucher(50, 80_000)),
            Ok(())
        );
        assert_eq!(
            dominates(Some(&voucher(60, 79_999)), &voucher(50, 80_000)),
            Err(Shortfall::Lower)
        );
        assert_eq!(
            dominates(Some(&voucher(49, 100_000)), &voucher(50, 80_000)),
            Err(Shortfall::Lower)
        );
    }

    #[test]
    fn right_is_present_or_missing() {
        assert_eq!(dominates(Some(&Benefit::Right), &Benefit::Right), Ok(()));
        assert_eq!(dominates(None, &Benefit::Right), Err(Shortfall::Missing));
    }

    #[test]
    fn missing_line_fails_for_every_kind() {
        for b in [
            cash(0),
            quota(0, 1),
            one_off(0, 0, 0),
            voucher(0, 0),
            Benefit::Right,
        ] {
            assert_eq!(dominates(None, &b), Err(Shortfall::Missing));
        }
    }

    #[test]
    fn every_kind_mismatch_fails() {
        let all = [
            cash(1),
            quota(1, 1),
            one_off(1, 1, 1),
            voucher(1, 1),
            Benefit::Right,
        ];
        for c in &all {
            for b in &all {
                let r = dominates(Some(c), b);
                if c.kind() == b.kind() {
                    assert_eq!(r, Ok(()));
                } else {
                    assert_eq!(
                        r,
                        Err(Shortfall::KindMismatch {
                            baseline: b.kind(),
                            county: c.kind()
                        })
                    );
                }
            }
        }
    }

    #[test]
    fn person_json_uses_kebab_keys_and_flag_lists() {
        let p: Person = serde_json::from_str(
            r#"{"age":92,"hukou":"local","ability":"mild","assistance":"dibao","disability":"grade2","living":["alone","empty-nest"],"family_planning_special":true}"#,
        )
        .unwrap();
        assert!(p.living.contains(LivingFlag::Alone));
        assert!(!p.living.contains(LivingFlag::LeftBehind));
        assert!(p.family_planning_special);
        assert!(!p.veteran_entitled);
        let err = serde_json::from_str::<Person>(r#"{"age":92,"hukou":"local","ability":"mild","assistance":"none","disability":"none","name":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("name"), "{err}");
    }
}

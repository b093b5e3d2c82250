//! 江陵县 (421024), a county of 荆州市 (421000).
//!
//! ILLUSTRATIVE figures throughout; they show the three ways a county goes
//! beyond its city, not the county's current list:
//!
//! - old-age allowance (高龄津贴) for 100+ raised from the city's 500 to 600
//!   yuan a month (counties of 荆州 raised their tiers in 2018, news report);
//! - visits (探访关爱) at least weekly for elders of 80 and over who live
//!   alone, in an empty nest or left behind: the "high-risk" rule of an
//!   Inner Mongolia guideline (≥ 1 visit a week), where the city list asks
//!   for a monthly visit;
//! - an extra subsidy for economically difficult elders of 80 and over
//!   (经济困难高龄老年人补贴), which the 荆州 text asks counties to keep
//!   adjusting without naming an amount; 50 yuan a month here. Following the
//!   Hubei civil-affairs reply (2024), 特困 elders are not included.

// No `std` in the component: the reference build imports nothing.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 高龄津贴 (national item 4).
const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");
/// 探访关爱 (national item 12).
const VISITS: Item = Item::baseline(2, "visits");

/// 经济困难高龄老年人补贴: the county's extra item.
const POOR_OLD_SUBSIDY: Extra = Extra::new(
    100,
    "economically-difficult-old-age-subsidy",
    "经济困难高龄老年人养老服务补贴",
    Category::MaterialAssistance,
    "《关于推进荆州市基本养老服务体系建设的实施方案》(2023)：健全经济困难高龄老年人养老服务补贴动态调整机制。每月50元为示例数额（illustrative），非官方标准",
);

/// Weekly, written as a rate: 52 visits every 12 months.
const WEEKLY: Benefit = Benefit::quota(52, 12);

/// The county list of 江陵县.
pub struct Jiangling;

impl County for Jiangling {
    fn describe() -> Description {
        Description::new("421024", "江陵县", "421000")
            .baseline(ALLOWANCE)
            .baseline(VISITS)
            .extra(POOR_OLD_SUBSIDY)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        if person.hukou == Hukou::Local && person.age >= 100 {
            lines.at_least(ALLOWANCE, Benefit::cash_yuan(600));
        }
        let high_risk = Living::ALONE | Living::EMPTY_NEST | Living::LEFT_BEHIND;
        if person.age >= 80 && person.living.intersects(high_risk) {
            lines.at_least(VISITS, WEEKLY);
        }
        let difficult = matches!(
            person.assistance,
            Assistance::LowIncome | Assistance::DibaoEdge | Assistance::Dibao
        );
        if difficult && person.age >= 80 {
            lines.add(POOR_OLD_SUBSIDY, Benefit::cash_yuan(50));
        }
        Ok(())
    }
}

qingdan_sdk::export!(Jiangling);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(person: Person, baseline: &[(Item, Benefit)]) -> Lines {
        let mut lines = Lines::new();
        for (item, benefit) in baseline {
            lines.set(*item, *benefit);
        }
        Jiangling::evaluate(&person, &mut lines).unwrap();
        lines
    }

    #[test]
    fn centenarians_get_more_than_the_city() {
        let lines = run(Person::aged(100), &[(ALLOWANCE, Benefit::cash_fen(50_000))]);
        assert_eq!(lines.cash_fen(ALLOWANCE), Some(60_000));
        let lines = run(Person::aged(95), &[(ALLOWANCE, Benefit::cash_fen(10_000))]);
        assert_eq!(lines.cash_fen(ALLOWANCE), Some(10_000));
    }

    #[test]
    fn weekly_visits_for_old_people_living_alone() {
        let alone = Person {
            living: Living::ALONE,
            ..Person::aged(85)
        };
        let lines = run(alone, &[(VISITS, Benefit::quota(1, 1))]);
        assert_eq!(lines.get(VISITS), Some(&WEEKLY));
        assert!(WEEKLY.covers(&Benefit::quota(1, 1)));
        let lines = run(Person::aged(85), &[]);
        assert!(!lines.has(VISITS));
    }

    #[test]
    fn subsidy_leaves_tekun_out() {
        let p = |assistance| Person {
            assistance,
            ..Person::aged(81)
        };
        assert!(run(p(Assistance::Dibao), &[]).has(POOR_OLD_SUBSIDY));
        assert!(!run(p(Assistance::Tekun), &[]).has(POOR_OLD_SUBSIDY));
        assert!(!run(p(Assistance::None), &[]).has(POOR_OLD_SUBSIDY));
    }
}

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
//! - the city's subsidy for economically difficult elders of 80 and over
//!   (养老服务补贴, the 经济困难高龄 tier of `care-service-subsidy`, which the
//!   荆州 text asks to keep adjusting without naming an amount) raised by 50
//!   yuan a month, for the same group as the city: local hukou, every
//!   economically difficult status including 特困. It is the city's item,
//!   raised, not a second subsidy for the same sentence.

// No `std` in the component: the reference build imports nothing.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 高龄津贴 (national item 4).
const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");
/// 探访关爱 (national item 12).
const VISITS: Item = Item::baseline(2, "visits");

/// 养老服务补贴 for economically difficult elders (national item 5).
const CARE_SUBSIDY: Item = Item::baseline(3, "care-service-subsidy");

/// The county's raise of the 经济困难高龄 subsidy, in yuan a month
/// (illustrative, not an official figure).
const SUBSIDY_RAISE_YUAN: u64 = 50;

/// Weekly, written as a rate: 52 visits every 12 months.
const WEEKLY: Benefit = Benefit::quota(52, 12);

/// The county list of 江陵县.
pub struct Jiangling;

impl County for Jiangling {
    fn describe() -> Description {
        Description::new("421024", "江陵县", "421000")
            .baseline(ALLOWANCE)
            .baseline(VISITS)
            .baseline(CARE_SUBSIDY)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        if person.hukou == Hukou::Local && person.age >= 100 {
            lines.at_least(ALLOWANCE, Benefit::cash_yuan(600));
        }
        let high_risk = Living::ALONE | Living::EMPTY_NEST | Living::LEFT_BEHIND;
        if person.age >= 80 && person.living.intersects(high_risk) {
            lines.at_least(VISITS, WEEKLY);
        }
        // The city's group: local hukou, economically difficult (特困
        // included), 80 and over.
        if person.hukou == Hukou::Local && person.is_economically_difficult() && person.age >= 80 {
            lines.plus_cash_yuan(CARE_SUBSIDY, SUBSIDY_RAISE_YUAN);
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
    fn the_city_subsidy_is_raised_for_the_city_group_only() {
        let city = [(CARE_SUBSIDY, Benefit::cash_yuan(100))];
        let p = |assistance, hukou| Person {
            assistance,
            hukou,
            ..Person::aged(81)
        };
        for status in [Assistance::Dibao, Assistance::Tekun, Assistance::LowIncome] {
            let lines = run(p(status, Hukou::Local), &city);
            assert_eq!(lines.cash_fen(CARE_SUBSIDY), Some(15_000));
        }
        // Non-local residents and elders without a status keep what they had.
        assert!(!run(p(Assistance::Dibao, Hukou::NonLocal), &[]).has(CARE_SUBSIDY));
        assert!(!run(p(Assistance::None, Hukou::Local), &[]).has(CARE_SUBSIDY));
        let young = Person {
            assistance: Assistance::Dibao,
            ..Person::aged(70)
        };
        let lines = run(young, &[(CARE_SUBSIDY, Benefit::cash_yuan(50))]);
        assert_eq!(lines.cash_fen(CARE_SUBSIDY), Some(5_000));
    }
}

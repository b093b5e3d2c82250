//! 镇海区 (330211), a district of 宁波市 (330200).
//!
//! ILLUSTRATIVE: the figures are the district's 2013 old-age allowance
//! (高龄津贴) as reported in the news (70 / 150 / 1000 yuan a month for
//! 80–89 / 90–99 / 100+, when the city paid 50 / 100 / 300), applied here
//! against today's city baseline (60 / 100 / 800). They show a district
//! raising every tier; they are not a current official list.

// No `std` in the component: the reference build imports nothing.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 高龄津贴 (national item 4).
const ALLOWANCE: Item = Item::baseline(1, "old-age-allowance");

/// The county list of 镇海区.
pub struct Zhenhai;

impl County for Zhenhai {
    fn describe() -> Description {
        Description::new("330211", "镇海区", "330200").baseline(ALLOWANCE)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        // Same group as the city (户籍老年人 aged 80 and over), higher tiers.
        if person.hukou == Hukou::Local && person.age >= 80 {
            let yuan = match person.age {
                80..=89 => 70,
                90..=99 => 150,
                _ => 1000,
            };
            lines.at_least(ALLOWANCE, Benefit::cash_yuan(yuan));
        }
        Ok(())
    }
}

qingdan_sdk::export!(Zhenhai);

#[cfg(test)]
mod tests {
    use super::*;

    fn allowance(person: Person, baseline_fen: Option<u64>) -> Option<u64> {
        let mut lines = Lines::new();
        if let Some(fen) = baseline_fen {
            lines.set(ALLOWANCE, Benefit::cash_fen(fen));
        }
        Zhenhai::evaluate(&person, &mut lines).unwrap();
        lines.cash_fen(ALLOWANCE)
    }

    #[test]
    fn every_tier_is_above_the_city() {
        assert_eq!(allowance(Person::aged(80), Some(6_000)), Some(7_000));
        assert_eq!(allowance(Person::aged(99), Some(10_000)), Some(15_000));
        assert_eq!(allowance(Person::aged(120), Some(80_000)), Some(100_000));
        assert_eq!(allowance(Person::aged(79), None), None);
    }

    #[test]
    fn non_local_residents_keep_the_baseline() {
        let p = Person {
            hukou: Hukou::NonLocal,
            ..Person::aged(90)
        };
        assert_eq!(allowance(p, None), None);
    }
}

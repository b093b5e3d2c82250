//! 袁州区 (360902), the central district of 宜春市 (360900).
//!
//! ILLUSTRATIVE figures throughout, built on the Jiangxi rules gathered for
//! the project; they show a district going beyond its city, not the
//! district's current list:
//!
//! - the subsidy for economically difficult elders of 80 and over
//!   (经济困难高龄老年人养老服务补贴; Jiangxi: 50 yuan a month for 低保 and
//!   特困) raised to 60 yuan;
//! - the nursing subsidy for disabled economically difficult elders
//!   (经济困难失能老年人护理补贴; Jiangxi: at least 50 yuan a month for 低保
//!   elders of 60 and over who are 失能) extended to 低保边缘 elders;
//! - priority admission to a public care home for 抚恤优待对象 (veterans'
//!   entitled persons), as the 宜春 text asks ("同等条件下优先安排");
//! - a home-service voucher (居家养老服务消费券) for elders of 80 and over
//!   living alone: half of the cost, at most 100 yuan a month.
//!
//! 失能 is read as GB/T 42195 moderate or worse.

// No `std` in the component: the reference build imports nothing.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 养老服务补贴 for economically difficult elders (national item 5).
const CARE_SUBSIDY: Item = Item::baseline(1, "care-service-subsidy");
/// 护理补贴 for disabled economically difficult elders (national item 7).
const NURSING_SUBSIDY: Item = Item::baseline(2, "nursing-subsidy");
/// Priority admission to a public care home (宜春 city item).
const PUBLIC_HOME_PRIORITY: Item = Item::baseline(3, "public-home-priority");

/// 居家养老服务消费券: the district's extra item.
const HOME_SERVICE_VOUCHER: Extra = Extra::new(
    100,
    "home-service-voucher",
    "居家养老服务消费券",
    Category::CareService,
    "示例（illustrative）：80周岁以上独居老年人居家养老服务费用的50%，每月最高100元；非官方标准",
);

/// The district list of 袁州区.
pub struct Yuanzhou;

impl County for Yuanzhou {
    fn describe() -> Description {
        Description::new("360902", "袁州区", "360900")
            .baseline(CARE_SUBSIDY)
            .baseline(NURSING_SUBSIDY)
            .baseline(PUBLIC_HOME_PRIORITY)
            .extra(HOME_SERVICE_VOUCHER)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        if person.is_dibao_or_tekun() && person.age >= 80 {
            lines.at_least(CARE_SUBSIDY, Benefit::cash_yuan(60));
        }
        let edge_or_dibao = matches!(person.assistance, Assistance::DibaoEdge | Assistance::Dibao);
        if edge_or_dibao && person.is_disabled() {
            lines.at_least(NURSING_SUBSIDY, Benefit::cash_yuan(50));
        }
        if person.veteran_entitled {
            lines.at_least(PUBLIC_HOME_PRIORITY, Benefit::right());
        }
        if person.age >= 80 && person.living.contains(Living::ALONE) {
            lines.add(HOME_SERVICE_VOUCHER, Benefit::voucher(50, 100));
        }
        Ok(())
    }
}

qingdan_sdk::export!(Yuanzhou);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(person: Person) -> Lines {
        let mut lines = Lines::new();
        Yuanzhou::evaluate(&person, &mut lines).unwrap();
        lines
    }

    #[test]
    fn subsidies_raised_and_extended() {
        let p = Person {
            assistance: Assistance::Dibao,
            ..Person::aged(85)
        };
        assert_eq!(run(p).cash_fen(CARE_SUBSIDY), Some(6_000));
        let p = Person {
            assistance: Assistance::DibaoEdge,
            ability: Ability::Severe,
            ..Person::aged(62)
        };
        assert_eq!(run(p).cash_fen(NURSING_SUBSIDY), Some(5_000));
        assert!(!run(Person::aged(62)).has(NURSING_SUBSIDY));
    }

    #[test]
    fn veterans_get_priority_and_lone_elders_a_voucher() {
        let p = Person {
            veteran_entitled: true,
            ..Person::aged(60)
        };
        assert_eq!(run(p).get(PUBLIC_HOME_PRIORITY), Some(&Benefit::Right));
        let p = Person {
            living: Living::ALONE,
            ..Person::aged(80)
        };
        assert_eq!(
            run(p).get(HOME_SERVICE_VOUCHER),
            Some(&Benefit::voucher(50, 100))
        );
    }
}

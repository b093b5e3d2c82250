//! 袁州区 (360902), the central district of 宜春市 (360900).
//!
//! ILLUSTRATIVE figures throughout, built on the Jiangxi rules gathered for
//! the project; they show a district going beyond its city, not the
//! district's current list:
//!
//! - the subsidy for economically difficult elders of 80 and over
//!   (经济困难高龄老年人养老服务补贴; Jiangxi and the city: 50 yuan a month for
//!   低保 and 特困) raised to 60 yuan;
//! - the nursing subsidy for disabled 低保边缘 elders raised from the city's
//!   30 yuan to 50, the level the city (and Jiangxi) give 低保 elders; the city
//!   already covers 低边 elders, so this raises, it does not extend;
//! - a home-service voucher (居家养老服务消费券) for elders of 80 and over
//!   living alone: half of the cost, at most 100 yuan a month.
//!
//! Both subsidy raises are for local-hukou elders, the city's group: the
//! district pays no cash to non-local residents the city does not pay. The
//! voucher is a service for every resident who qualifies.
//!
//! 失能 is read as GB/T 42195 moderate or worse. (The 宜春 text's priority for
//! 抚恤优待对象 in public homes is already a city item, `public-home-priority`;
//! the district adds nothing to it.)

// No `std` in the component: the reference build imports nothing.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 养老服务补贴 for economically difficult elders (national item 5).
const CARE_SUBSIDY: Item = Item::baseline(1, "care-service-subsidy");
/// 护理补贴 for disabled economically difficult elders (national item 7).
const NURSING_SUBSIDY: Item = Item::baseline(2, "nursing-subsidy");

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
            .extra(HOME_SERVICE_VOUCHER)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        let local = person.hukou == Hukou::Local;
        if local && person.is_dibao_or_tekun() && person.age >= 80 {
            lines.at_least(CARE_SUBSIDY, Benefit::cash_yuan(60));
        }
        if local && person.assistance == Assistance::DibaoEdge && person.is_disabled() {
            lines.at_least(NURSING_SUBSIDY, Benefit::cash_yuan(50));
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
    fn subsidies_raised_for_local_elders() {
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
        let p = Person {
            assistance: Assistance::DibaoEdge,
            ability: Ability::Severe,
            hukou: Hukou::NonLocal,
            ..Person::aged(62)
        };
        assert!(!run(p).has(NURSING_SUBSIDY));
        let p = Person {
            assistance: Assistance::Tekun,
            hukou: Hukou::NonLocal,
            ..Person::aged(85)
        };
        assert!(!run(p).has(CARE_SUBSIDY));
    }

    #[test]
    fn lone_elders_get_a_voucher() {
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

//! Bindings for `qingdan:county@0.1.0` (`wit/v0.1.0/county.wit`), frozen:
//! the person crosses the boundary field by field, and there is a
//! single-person export. What it returns is converted to the newest
//! version's types.

use super::latest::wit as latest;
use crate::model::{self, Person};

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "county-list",
});

pub(crate) use self::exports::qingdan::county::types as wit;

/// The export the host calls, as named in the component.
pub(crate) const COUNTY_EXPORT: &str = "qingdan:county/county@0.1.0";
/// The functions [`COUNTY_EXPORT`] must have.
pub(crate) const COUNTY_FUNCTIONS: [&str; 3] = ["describe", "evaluate", "evaluate-batch"];

pub(crate) fn person(p: &Person) -> wit::Person {
    let mut living = wit::Living::empty();
    for flag in p.living.flags() {
        living |= match flag {
            model::LivingFlag::Alone => wit::Living::ALONE,
            model::LivingFlag::EmptyNest => wit::Living::EMPTY_NEST,
            model::LivingFlag::LeftBehind => wit::Living::LEFT_BEHIND,
            model::LivingFlag::ChildlessWidowed => wit::Living::CHILDLESS_WIDOWED,
        };
    }
    wit::Person {
        age: p.age,
        hukou: match p.hukou {
            model::Hukou::Local => wit::Hukou::Local,
            model::Hukou::NonLocal => wit::Hukou::NonLocal,
        },
        ability: match p.ability {
            model::Ability::Unassessed => wit::Ability::Unassessed,
            model::Ability::Intact => wit::Ability::Intact,
            model::Ability::Mild => wit::Ability::Mild,
            model::Ability::Moderate => wit::Ability::Moderate,
            model::Ability::Severe => wit::Ability::Severe,
            model::Ability::Complete => wit::Ability::Complete,
        },
        assistance: match p.assistance {
            model::Assistance::None => wit::Assistance::None,
            model::Assistance::LowIncome => wit::Assistance::LowIncome,
            model::Assistance::DibaoEdge => wit::Assistance::DibaoEdge,
            model::Assistance::Dibao => wit::Assistance::Dibao,
            model::Assistance::Tekun => wit::Assistance::Tekun,
        },
        disability: match p.disability {
            model::Disability::None => wit::Disability::None,
            model::Disability::Grade4 => wit::Disability::Grade4,
            model::Disability::Grade3 => wit::Disability::Grade3,
            model::Disability::Grade2 => wit::Disability::Grade2,
            model::Disability::Grade1 => wit::Disability::Grade1,
        },
        living,
        family_planning_special: p.family_planning_special,
        veteran_entitled: p.veteran_entitled,
    }
}

super::line_conversions!();

/// A 0.1.0 description in the newest version's type (the same shape).
pub(crate) fn description_to_latest(d: wit::Description) -> latest::Description {
    latest::Description {
        county_code: d.county_code,
        county_name: d.county_name,
        baseline: d.baseline,
        baseline_items: d
            .baseline_items
            .into_iter()
            .map(|i| latest::BaselineItem {
                code: i.code,
                key: i.key,
            })
            .collect(),
        extra_items: d
            .extra_items
            .into_iter()
            .map(|e| latest::ExtraItem {
                code: e.code,
                key: e.key,
                name: e.name,
                category: match e.category {
                    wit::Category::MaterialAssistance => latest::Category::MaterialAssistance,
                    wit::Category::CareService => latest::Category::CareService,
                    wit::Category::CaringService => latest::Category::CaringService,
                },
                legal_basis: e.legal_basis,
            })
            .collect(),
    }
}

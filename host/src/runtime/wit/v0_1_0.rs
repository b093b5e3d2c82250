//! Bindings for `qingdan:county@0.1.0` (`wit/v0.1.0/county.wit`), and the one
//! place where host model types and the generated types are converted.

use crate::model::{self, Benefit, Line, Person};

wasmtime::component::bindgen!({
    path: "../wit/v0.1.0",
    world: "county-list",
});

pub(crate) use self::exports::qingdan::county::county::Guest;
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

pub(crate) fn line_to_wit(l: &Line) -> wit::Line {
    wit::Line {
        item: l.item,
        benefit: match l.benefit {
            Benefit::MonthlyCash { fen } => wit::Benefit::MonthlyCash(fen),
            Benefit::Quota(q) => wit::Benefit::Quota(wit::Quota {
                count: q.count,
                months: q.months,
            }),
            Benefit::OneOff(o) => wit::Benefit::OneOff(wit::OneOff {
                fixed: o.fixed,
                percent: o.percent,
                cap: o.cap,
            }),
            Benefit::Voucher(v) => wit::Benefit::Voucher(wit::Voucher {
                percent: v.percent,
                monthly_cap: v.monthly_cap,
            }),
            Benefit::Right => wit::Benefit::Right,
        },
    }
}

pub(crate) fn line_from_wit(l: &wit::Line) -> Line {
    Line {
        item: l.item,
        benefit: match l.benefit {
            wit::Benefit::MonthlyCash(fen) => Benefit::MonthlyCash { fen },
            wit::Benefit::Quota(q) => Benefit::Quota(model::Quota {
                count: q.count,
                months: q.months,
            }),
            wit::Benefit::OneOff(o) => Benefit::OneOff(model::OneOff {
                fixed: o.fixed,
                percent: o.percent,
                cap: o.cap,
            }),
            wit::Benefit::Voucher(v) => Benefit::Voucher(model::Voucher {
                percent: v.percent,
                monthly_cap: v.monthly_cap,
            }),
            wit::Benefit::Right => Benefit::Right,
        },
    }
}

pub(crate) fn category(c: wit::Category) -> model::Category {
    match c {
        wit::Category::MaterialAssistance => model::Category::MaterialAssistance,
        wit::Category::CareService => model::Category::CareService,
        wit::Category::CaringService => model::Category::CaringService,
    }
}

//! Person fields, groups, eligibility and benefits in Chinese words, for
//! the pages ("92岁、本地户籍、低保、重度失能").

use crate::catalogue::{Atom, Cmp, Predicate};
use crate::model::{Ability, Assistance, Disability, Hukou, LivingFlag, MAX_AGE, Person};

/// 户籍
pub fn hukou(h: Hukou) -> &'static str {
    match h {
        Hukou::Local => "本地户籍",
        Hukou::NonLocal => "非本地户籍",
    }
}

/// Ability level (GB/T 42195-2022).
pub fn ability(a: Ability) -> &'static str {
    match a {
        Ability::Unassessed => "未评估",
        Ability::Intact => "能力完好",
        Ability::Mild => "轻度失能",
        Ability::Moderate => "中度失能",
        Ability::Severe => "重度失能",
        Ability::Complete => "完全失能",
    }
}

/// Assistance status.
pub fn assistance(a: Assistance) -> &'static str {
    match a {
        Assistance::None => "无救助身份",
        Assistance::LowIncome => "低收入",
        Assistance::DibaoEdge => "低保边缘",
        Assistance::Dibao => "低保",
        Assistance::Tekun => "特困",
    }
}

/// Disability certificate grade.
pub fn disability(d: Disability) -> &'static str {
    match d {
        Disability::None => "无残疾证",
        Disability::Grade4 => "四级残疾",
        Disability::Grade3 => "三级残疾",
        Disability::Grade2 => "二级残疾",
        Disability::Grade1 => "一级残疾",
    }
}

/// Living-situation flag.
pub fn living(f: LivingFlag) -> &'static str {
    match f {
        LivingFlag::Alone => "独居",
        LivingFlag::EmptyNest => "空巢",
        LivingFlag::LeftBehind => "留守",
        LivingFlag::ChildlessWidowed => "孤寡",
    }
}

/// An age: `92岁`, `120岁及以上`.
pub fn age(a: u8) -> String {
    if a >= MAX_AGE {
        format!("{MAX_AGE}岁及以上")
    } else {
        format!("{a}岁")
    }
}

/// A person in words, leaving out what is absent:
/// `92岁、本地户籍、低保、重度失能`.
pub fn person(p: &Person) -> String {
    let mut parts = vec![age(p.age), hukou(p.hukou).to_string()];
    if p.assistance != Assistance::None {
        parts.push(assistance(p.assistance).into());
    }
    parts.push(ability(p.ability).into());
    if p.disability != Disability::None {
        parts.push(disability(p.disability).into());
    }
    parts.extend(p.living.flags().map(|f| living(f).to_string()));
    if p.family_planning_special {
        parts.push("计划生育特殊家庭".into());
    }
    if p.veteran_entitled {
        parts.push("优抚对象".into());
    }
    parts.join("、")
}

fn cmp<T: Copy>(c: &Cmp<T>, name: fn(T) -> &'static str, suffix: &str) -> String {
    match c {
        Cmp::AtLeast(v) => format!("{}{suffix}", name(*v)),
        Cmp::In(vs) => vs.iter().map(|v| name(*v)).collect::<Vec<_>>().join("或"),
    }
}

fn atom(a: &Atom) -> String {
    match a {
        Atom::Age { min, max } if *max >= MAX_AGE => format!("{min}周岁及以上"),
        Atom::Age { min, max } if min == max => format!("{min}周岁"),
        Atom::Age { min, max } => format!("{min}–{max}周岁"),
        Atom::Hukou(h) => hukou(*h).into(),
        Atom::Ability(c) => cmp(c, ability, "及以上"),
        Atom::Assistance(c) => cmp(c, assistance, "及以上困难程度"),
        Atom::Disability(c) => cmp(c, disability, "及以上"),
        Atom::Living(flags) => flags
            .iter()
            .map(|f| living(*f))
            .collect::<Vec<_>>()
            .join("或"),
        Atom::FamilyPlanningSpecial(true) => "计划生育特殊家庭".into(),
        Atom::FamilyPlanningSpecial(false) => "非计划生育特殊家庭".into(),
        Atom::VeteranEntitled(true) => "优抚对象".into(),
        Atom::VeteranEntitled(false) => "非优抚对象".into(),
    }
}

/// Who an item is for (服务对象), from its eligibility predicate:
/// `80周岁及以上、本地户籍`.
pub fn eligibility(p: &Predicate) -> String {
    match p {
        Predicate::Always => "全体老年人".into(),
        Predicate::All(parts) => parts
            .iter()
            .map(|q| match q {
                Predicate::Any(_) => format!("（{}）", eligibility(q)),
                _ => eligibility(q),
            })
            .collect::<Vec<_>>()
            .join("、"),
        Predicate::Any(parts) => parts
            .iter()
            .map(eligibility)
            .collect::<Vec<_>>()
            .join("；或"),
        Predicate::Not(q) => format!("不属于（{}）", eligibility(q)),
        Predicate::Atom(a) => atom(a),
    }
}

/// Who a change concerns, from the report's group summary (JSON: the
/// fields of [`crate::verify::Group`]), in words; fields where every value
/// occurs are left out.
pub fn group(g: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    if let Some(ages) = g.get("ages").and_then(|a| a.as_array()) {
        let ages: Vec<String> = ages
            .iter()
            .filter_map(|a| a.as_str())
            .map(|a| match a.split_once('-') {
                Some((lo, hi)) if hi == MAX_AGE.to_string() => format!("{lo}岁及以上"),
                Some((lo, hi)) => format!("{lo}–{hi}岁"),
                None => format!("{a}岁"),
            })
            .collect();
        if !ages.is_empty() {
            parts.push(ages.join("、"));
        }
    }
    let keys = |field: &str| -> Vec<String> {
        g.get(field)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let named = |field: &str, f: &dyn Fn(&str) -> Option<&'static str>| {
        let words: Vec<&str> = keys(field).iter().filter_map(|k| f(k)).collect();
        (!words.is_empty()).then(|| words.join("或"))
    };
    parts.extend(named("hukou", &|k| Hukou::from_key(k).map(hukou)));
    parts.extend(named("ability", &|k| Ability::from_key(k).map(ability)));
    parts.extend(named("assistance", &|k| {
        Assistance::from_key(k).map(assistance)
    }));
    parts.extend(named("disability", &|k| {
        Disability::from_key(k).map(disability)
    }));
    parts.extend(named("living", &|k| LivingFlag::from_key(k).map(living)));
    match g.get("family_planning_special").and_then(|v| v.as_bool()) {
        Some(true) => parts.push("计划生育特殊家庭".into()),
        Some(false) => parts.push("非计划生育特殊家庭".into()),
        None => {}
    }
    match g.get("veteran_entitled").and_then(|v| v.as_bool()) {
        Some(true) => parts.push("优抚对象".into()),
        Some(false) => parts.push("非优抚对象".into()),
        None => {}
    }
    if parts.is_empty() {
        "全体老年人".into()
    } else {
        parts.join("；")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_in_words() {
        let mut p = Person::aged(92);
        p.assistance = Assistance::Dibao;
        p.ability = Ability::Severe;
        assert_eq!(person(&p), "92岁、本地户籍、低保、重度失能");
    }

    #[test]
    fn a_group_in_words() {
        let g = serde_json::json!({"ages": ["90-99", "100-120"], "hukou": ["local"]});
        assert_eq!(group(&g), "90–99岁、100岁及以上；本地户籍");
    }
}

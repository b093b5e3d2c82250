//! 慈溪市 (330282), a county-level city under 宁波市 (330200).
//!
//! Source: 《慈溪市加快建设基本养老服务体系的实施方案》 (2024-08-02):
//!
//! - free ability assessment on application, "80周歲及以上老年人每年一次、
//!   80周歲以下60周歲以上老年人每兩年一次" — yearly from 80, every two years
//!   from 60 (the Ningbo baseline starts at 65, so 60–64 gain the item);
//! - free bathing, "力爭低保低邊失能老年人每年享受一次以上的免費助浴服務" —
//!   at least once a year for 低保 and 低边 elders who are 失能. 失能 is read
//!   as GB/T 42195 moderate, severe or complete (the reading of the 2026
//!   national voucher); 特困 elders are not named by the text (their care
//!   comes with 特困 support) and are left out;
//! - old-age allowance (高龄津贴) 60 / 100 / 800 yuan, equal to the city:
//!   the baseline lines pass through unchanged.

// No `std` in the component: the reference build imports nothing. Native
// unit tests use `std` as usual.
#![cfg_attr(target_arch = "wasm32", no_std)]

use qingdan_sdk::prelude::*;

/// 能力综合评估 (national item 3).
const ASSESSMENT: Item = Item::baseline(1, "ability-assessment");

/// 免费助浴服务: the county's extra item, under the key and name
/// `catalogues/cixi-2024.toml` gives the same item (`bathing`), so the two
/// encodings of the 慈溪 list match by key.
const BATHING: Extra = Extra::new(
    100,
    "bathing",
    "免费助浴服务",
    Category::CareService,
    "慈溪实施方案：力爭低保低邊失能老年人每年享受一次以上的免費助浴服務",
);

/// The county list of 慈溪市.
pub struct Cixi;

impl County for Cixi {
    fn describe() -> Description {
        Description::new("330282", "慈溪市", "330200")
            .baseline(ASSESSMENT)
            .extra(BATHING)
    }

    fn evaluate(person: &Person, lines: &mut Lines) -> Result<(), String> {
        // Every elder evaluated is 60 or older: every two years from 60,
        // yearly from 80; a more frequent baseline line would be kept.
        let assessment = if person.age >= 80 {
            Benefit::quota(1, 12)
        } else {
            Benefit::quota(1, 24)
        };
        lines.at_least(ASSESSMENT, assessment);

        let dibao_or_edge = matches!(person.assistance, Assistance::Dibao | Assistance::DibaoEdge);
        if dibao_or_edge && person.is_disabled() {
            lines.at_least(BATHING, Benefit::quota(1, 12));
        }
        Ok(())
    }
}

qingdan_sdk::export!(Cixi);

#[cfg(test)]
mod tests {
    use super::*;

    fn run(person: Person, baseline: &[qingdan_sdk::Line]) -> Lines {
        let mut lines = Lines::from_slice(baseline);
        Cixi::evaluate(&person, &mut lines).unwrap();
        lines
    }

    #[test]
    fn assessment_starts_at_sixty_and_is_yearly_from_eighty() {
        assert_eq!(
            run(Person::aged(60), &[]).get(ASSESSMENT),
            Some(&Benefit::quota(1, 24))
        );
        assert_eq!(
            run(Person::aged(80), &[]).get(ASSESSMENT),
            Some(&Benefit::quota(1, 12))
        );
    }

    #[test]
    fn bathing_for_disabled_dibao_and_edge_only() {
        let p = |assistance, ability| Person {
            assistance,
            ability,
            ..Person::aged(70)
        };
        assert!(run(p(Assistance::Dibao, Ability::Severe), &[]).has(BATHING));
        assert!(run(p(Assistance::DibaoEdge, Ability::Moderate), &[]).has(BATHING));
        assert!(!run(p(Assistance::DibaoEdge, Ability::Mild), &[]).has(BATHING));
        assert!(!run(p(Assistance::Tekun, Ability::Complete), &[]).has(BATHING));
        assert!(!run(p(Assistance::None, Ability::Complete), &[]).has(BATHING));
    }

    #[test]
    fn other_baseline_lines_pass_through() {
        let allowance = qingdan_sdk::Line {
            item: 40_000,
            benefit: Benefit::cash_fen(6_000),
        };
        let lines = run(Person::aged(85), &[allowance]);
        assert_eq!(lines.as_slice()[0], allowance);
    }
}

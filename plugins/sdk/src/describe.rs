//! The description a plugin gives of itself, once, when it is loaded.

use crate::lines::{Extra, Item};
use alloc::vec::Vec;

/// Who the plugin is and which items it speaks of.
///
/// ```
/// use qingdan_sdk::{Category, Description, Extra, Item};
/// const ASSESSMENT: Item = Item::baseline(1, "ability-assessment");
/// const BATHING: Extra = Extra::new(100, "bathing", "免费助浴服务",
///     Category::CareService, "《慈溪市加快建设基本养老服务体系的实施方案》(2024)");
/// let d = Description::new("330282", "慈溪市", "330200")
///     .baseline(ASSESSMENT)
///     .extra(BATHING);
/// assert_eq!(d.baseline_items().len(), 1);
/// assert_eq!(d.extra_items().len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    county_code: &'static str,
    county_name: &'static str,
    baseline: &'static str,
    baseline_items: Vec<Item>,
    extra_items: Vec<Extra>,
}

impl Description {
    /// A county with its GB/T 2260 code (six digits), its name, and the code
    /// of the list it must not fall below (usually its city).
    pub fn new(
        county_code: &'static str,
        county_name: &'static str,
        baseline: &'static str,
    ) -> Description {
        Description {
            county_code,
            county_name,
            baseline,
            baseline_items: Vec::new(),
            extra_items: Vec::new(),
        }
    }

    /// Names a baseline item the plugin reads or changes. Baseline items
    /// not named here still reach the plugin, under host codes (32768 and
    /// up), and pass through untouched.
    pub fn baseline(mut self, item: Item) -> Description {
        self.baseline_items.push(item);
        self
    }

    /// Declares an item the county adds beyond the baseline.
    pub fn extra(mut self, item: Extra) -> Description {
        self.extra_items.push(item);
        self
    }

    /// GB/T 2260 code of the county.
    pub fn county_code(&self) -> &'static str {
        self.county_code
    }

    /// Name of the county.
    pub fn county_name(&self) -> &'static str {
        self.county_name
    }

    /// Code of the list this county must not fall below.
    pub fn baseline_code(&self) -> &'static str {
        self.baseline
    }

    /// The baseline items named.
    pub fn baseline_items(&self) -> &[Item] {
        &self.baseline_items
    }

    /// The extra items declared.
    pub fn extra_items(&self) -> &[Extra] {
        &self.extra_items
    }
}

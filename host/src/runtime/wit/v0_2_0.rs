//! Bindings for `qingdan:county@0.2.0` (`wit/v0.2.0/county.wit`): persons
//! cross the boundary as domain indices, and the batch is the only
//! evaluation export.

use crate::model;

wasmtime::component::bindgen!({
    path: "../wit/v0.2.0",
    world: "county-list",
});

pub(crate) use self::exports::qingdan::county::types as wit;

/// The export the host calls, as named in the component.
pub(crate) const COUNTY_EXPORT: &str = "qingdan:county/county@0.2.0";
/// The functions [`COUNTY_EXPORT`] must have.
pub(crate) const COUNTY_FUNCTIONS: [&str; 2] = ["describe", "evaluate-batch"];

super::line_conversions!();

pub(crate) fn category(c: wit::Category) -> model::Category {
    match c {
        wit::Category::MaterialAssistance => model::Category::MaterialAssistance,
        wit::Category::CareService => model::Category::CareService,
        wit::Category::CaringService => model::Category::CaringService,
    }
}

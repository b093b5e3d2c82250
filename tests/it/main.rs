//! The one integration-test binary of Qingdan. One module per area.
mod guests;

//! The one integration-test binary of Qingdan. One module per area.

// Helper functions here are test code too: a failed unwrap or panic is a
// failed test (clippy's test allowance covers only `#[test]` functions).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod catalogue;
mod cli;
mod contract;
mod crash;
mod editions;
mod guests;
mod languages;
mod population;
mod proof;
mod runtime;
mod sandbox;
mod server;
mod web;

/// The compile worker the integration tests use: the `qingdan` binary built
/// for them, as in production.
fn worker() -> qingdan::runtime::Compiler {
    qingdan::runtime::Compiler::Worker(env!("CARGO_BIN_EXE_qingdan").into())
}

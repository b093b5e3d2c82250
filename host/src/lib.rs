//! Qingdan (清单) hosts the basic elderly-care service lists (基本养老服务清单)
//! of a city and its counties. The city baseline is data (a catalogue); each
//! county's richer list is a sandboxed WebAssembly component. Qingdan proves,
//! before approval, that a county component never gives anybody less than the
//! baseline, and enforces the same floor again at run time.
//!
//! # Layout
//!
//! - [`model`]: the person (a finite domain of 1,171,200 persons), the benefit
//!   kinds, and the order "at least as generous" ([`model::dominates`]).
//! - [`catalogue`]: reads and validates catalogue files (TOML), chains a list to
//!   the list it must not fall below, evaluates the baseline natively with the
//!   reason for every line, checks one declarative list against its parent
//!   over the whole person domain, and tabulates every person's baseline for
//!   the proof ([`catalogue::BaselineTable`]).
//! - [`runtime`]: the wasmtime engine that runs county components: validation
//!   (world, imports, size), compile cache, pooling allocator, fresh instance per
//!   evaluation, fuel / epoch / memory / stack / output limits, typed errors.
//! - [`verify`]: the exhaustive floor proof of a county component against its
//!   baseline over the whole person domain, with counterexamples, the change
//!   report and a determinism probe.
//! - [`evaluate`]: one evaluation with the guard: baseline lines, county lines,
//!   the merge that never goes below the baseline, and the explanation of each
//!   line.
//! - [`table`]: answer tables — a component's complete answer over the
//!   person domain, content-addressed; what the proof checks and what
//!   production serves.
//! - [`register`]: the jurisdiction register; the baseline of a county is
//!   its parent's list, chosen by the host.
//! - [`text`]: safe text: escaping and capping what a component wrote before
//!   it reaches a terminal, a log or a page.
//! - [`store`]: the registry's database (sqlx; SQLite by default,
//!   PostgreSQL for several replicas): tokens, components, answer tables,
//!   versions and their review, activations, incidents, the audit chain.
//! - [`server`]: the host server's state — the serving snapshot, the
//!   upload pipeline (validate, compile, prove), evaluation with fallback.
//! - [`api`]: the HTTP API (axum), its authentication, JSON errors and
//!   OpenAPI document.
//! - [`web`]: the web pages (server-rendered, Chinese first): counties
//!   overview, review record, entitlement finder, upload, public list.
//! - [`metrics`]: run-time counters in the Prometheus text format.
//! - [`cli`]: the `qingdan` command line (`catalogue check`, `eval`, `check`,
//!   `new`, `serve`, `token`, `audit`, `upload`, `status`).

pub mod api;
pub mod catalogue;
pub mod cli;
pub mod evaluate;
pub mod metrics;
pub mod model;
pub mod population;
pub mod register;
pub mod runtime;
pub mod server;
pub mod store;
pub mod table;
pub mod text;
pub mod verify;
pub mod web;

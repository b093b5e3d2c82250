//! The guest components of Qingdan, built from source: the example county
//! plugins (`plugins/`) and the test fixtures (`tests/fixtures/`).
//!
//! The build script runs `cargo build --release --target wasm32-wasip2
//! --workspace` in both guest workspaces, in a target directory of its own
//! (`<target>/guests`), and rebuilds when a guest's sources, its manifest,
//! or the WIT contract change. A guest that fails to compile fails the
//! build, with the compiler's messages. No component is ever committed.
//!
//! Each constant is the absolute path of one component (`.wasm`):
//!
//! - [`plugins`]: `CIXI`, `ZHENHAI`, `JIANGLING`, `YUANZHOU` — county plugins
//!   written with the SDK; each passes the floor proof against its city.
//! - [`plugins_v0_1_0`]: the same county plugins built for the frozen
//!   contract `qingdan:county@0.1.0` (the SDK's `wit-v0-1-0` feature).
//! - [`fixtures`]: components that misbehave on purpose; what each does and
//!   the outcome the host must produce is in `tests/fixtures/README.md`.
//! - [`ALL`]: every component as `(crate name, path)`.
//!
//! ```
//! let cixi = std::path::Path::new(qingdan_guests::plugins::CIXI);
//! assert!(cixi.is_file());
//! assert!(qingdan_guests::ALL.iter().any(|(name, _)| *name == "cixi"));
//! ```

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

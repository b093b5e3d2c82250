//! The WIT contract versions the host serves (DESIGN §4). One module per
//! released version of `wit/`, each with its own generated bindings; the
//! newest is `latest`. A released version is never edited: a new version gets
//! a new module here and the runtime keeps serving the old ones.

pub(crate) mod v0_1_0;

/// The newest contract version.
pub(crate) use v0_1_0 as latest;

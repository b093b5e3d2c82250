//! The on-disk cache of compiled components. A file holds the serialized
//! artefact of one component for one engine configuration; its name is the
//! component's sha256 and the engine's precompile-compatibility hash, and its
//! first 32 bytes are the sha256 of the artefact that follows, so a truncated
//! or damaged file is recompiled instead of loaded.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const CHECKSUM_BYTES: usize = 32;

/// Path of the cached artefact of the component with sha256 `hex` for `engine`.
pub(crate) fn path(dir: &Path, engine: &Engine, hex: &str) -> PathBuf {
    // DefaultHasher::new() has fixed keys: the same engine configuration
    // gives the same name across runs of one build of the host.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    dir.join(format!("{hex}-{:016x}.cwasm", hasher.finish()))
}

/// Loads a cached artefact, or `None` when there is none or it is damaged.
pub(crate) fn load(dir: &Path, engine: &Engine, hex: &str) -> Option<Component> {
    let bytes = std::fs::read(path(dir, engine, hex)).ok()?;
    let (checksum, artefact) = bytes.split_at_checked(CHECKSUM_BYTES)?;
    if Sha256::digest(artefact).as_slice() != checksum {
        return None;
    }
    deserialize(engine, artefact)
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artefact: &[u8]) -> Option<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be an artefact
    // produced by `Component::serialize` of a compatible engine, because it
    // maps it as executable code. The only writer of this cache directory is
    // this host (`store` below): the file name binds it to the component's
    // sha256 and to the engine's compatibility hash, and the checksum above
    // proves the file is complete and unaltered since it was written. The
    // cache directory must not be writable by anyone the host does not trust.
    unsafe { Component::deserialize(engine, artefact) }.ok()
}

/// Stores the artefact of `component` (written to a temporary file, then
/// renamed, so a reader never sees half a file).
pub(crate) fn store(
    dir: &Path,
    engine: &Engine,
    hex: &str,
    component: &Component,
) -> std::io::Result<()> {
    let artefact = component.serialize().map_err(std::io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let target = path(dir, engine, hex);
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    let mut contents = Vec::with_capacity(CHECKSUM_BYTES + artefact.len());
    contents.extend_from_slice(&Sha256::digest(&artefact));
    contents.extend_from_slice(&artefact);
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, &target)
}

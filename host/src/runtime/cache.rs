//! The on-disk cache of compiled components. A file holds the serialized
//! artefact of one component for one engine configuration; its name is the
//! component's sha256 and the engine's precompile-compatibility tag, and its
//! first 32 bytes are the sha256 of the artefact that follows, so a truncated
//! or damaged file is recompiled instead of loaded. The compile worker writes
//! its artefact in the same format, so the host checks both the same way.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const CHECKSUM_BYTES: usize = 32;

/// The engine's precompile-compatibility tag: 16 hex digits.
pub(crate) fn engine_tag(engine: &Engine) -> String {
    // DefaultHasher::new() has fixed keys: the same engine configuration
    // gives the same tag across runs (and processes) of one build of the host.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Path of the cached artefact of the component with sha256 `hex` for `engine`.
pub(crate) fn path(dir: &Path, engine: &Engine, hex: &str) -> PathBuf {
    dir.join(format!("{hex}-{}.cwasm", engine_tag(engine)))
}

/// Loads a cached artefact, or `None` when there is none or it is damaged.
pub(crate) fn load(dir: &Path, engine: &Engine, hex: &str) -> Option<Component> {
    let bytes = std::fs::read(path(dir, engine, hex)).ok()?;
    deserialize(engine, checked(&bytes)?).ok()
}

/// The artefact of a file in the cache format, if its checksum holds.
fn checked(file: &[u8]) -> Option<&[u8]> {
    let (checksum, artefact) = file.split_at_checked(CHECKSUM_BYTES)?;
    (Sha256::digest(artefact).as_slice() == checksum).then_some(artefact)
}

/// Why a file from the compile worker was not accepted.
pub(crate) enum Refused {
    /// Its checksum or digest does not hold: not what the worker reported.
    Damaged,
    /// The artefact is intact, but this engine refuses it (for example, an
    /// instance of the component would not fit the pooling allocator's slots).
    Engine(String),
}

/// The component in a file the compile worker wrote, if its checksum holds
/// and its artefact has the sha256 (hex) the worker reported.
pub(crate) fn from_file(
    engine: &Engine,
    file: &[u8],
    artefact_sha256: &str,
) -> Result<Component, Refused> {
    let artefact = checked(file).ok_or(Refused::Damaged)?;
    if hex::encode(Sha256::digest(artefact)) != artefact_sha256 {
        return Err(Refused::Damaged);
    }
    deserialize(engine, artefact).map_err(|e| Refused::Engine(format!("{e:#}")))
}

#[allow(unsafe_code)]
fn deserialize(engine: &Engine, artefact: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be an artefact
    // produced by `Component::serialize` of a compatible engine, because it
    // maps it as executable code. Only two writers produce what reaches this
    // point: this host (`store` below, from a component it compiled), and the
    // host's own compile worker (the `qingdan` binary the runtime was
    // configured with), whose file sits in a directory private to this
    // process (mode 0700) and is accepted only when its checksum holds and
    // its digest equals the one the worker reported. A cache file's name
    // binds it to the component's sha256 and to the engine's compatibility
    // tag, and the checksum proves the file is complete and unaltered since
    // it was written. The cache directory must not be writable by anyone the
    // host does not trust.
    unsafe { Component::deserialize(engine, artefact) }
}

/// The cache file of `artefact`: its checksum, then the artefact.
fn contents(artefact: &[u8]) -> Vec<u8> {
    let mut contents = Vec::with_capacity(CHECKSUM_BYTES + artefact.len());
    contents.extend_from_slice(&Sha256::digest(artefact));
    contents.extend_from_slice(artefact);
    contents
}

/// Writes `artefact` in the cache format to `target` (for the worker).
pub(crate) fn write_file(target: &Path, artefact: &[u8]) -> std::io::Result<()> {
    std::fs::write(target, contents(artefact))
}

/// Stores a file already in the cache format (from the worker), written to a
/// temporary file, then renamed, so a reader never sees half a file.
pub(crate) fn store_file(
    dir: &Path,
    engine: &Engine,
    hex: &str,
    file: &[u8],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let target = path(dir, engine, hex);
    let tmp = target.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, file)?;
    std::fs::rename(&tmp, &target)
}

/// Stores the artefact of `component` (compiled in this process).
pub(crate) fn store(
    dir: &Path,
    engine: &Engine,
    hex: &str,
    component: &Component,
) -> std::io::Result<()> {
    let artefact = component.serialize().map_err(std::io::Error::other)?;
    store_file(dir, engine, hex, &contents(&artefact))
}

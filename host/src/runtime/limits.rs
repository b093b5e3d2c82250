//! The sandbox limits (DESIGN §6): every default is a documented constant.

use std::time::Duration;

/// Largest component accepted: 8 MiB. A release-built county plugin is
/// 50–500 KiB (Rust `no_std`) or up to 2 MiB (Rust `std`); anything much larger
/// is a mistake or an attempt to make compilation expensive. Components that
/// embed a whole interpreter (componentize-py, about 40 MiB) need a raised cap.
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 8 << 20;

/// Fuel (roughly: WebAssembly instructions) for one person: 10 million. A
/// county rule set runs in a few thousand instructions per person; a hundred
/// times more still finishes in a few milliseconds. Fuel is the deterministic
/// limit: the same plugin and person always use the same fuel.
pub const DEFAULT_FUEL_PER_EVALUATION: u64 = 10_000_000;

/// Fuel per person, on average, for a batch: 100 thousand, some thirty times
/// what the example plugins use (1–3 thousand per person). A batch call gets
/// `max(fuel_per_evaluation, this × persons)` plus the base, so one person in a
/// batch may use up to a full evaluation's fuel, while an endless loop in a
/// batch of thousands is stopped by fuel — deterministically — after about a
/// second rather than by the wall-clock deadline after many.
pub const DEFAULT_BATCH_FUEL_PER_PERSON: u64 = 100_000;

/// Fuel added once per call on top of the per-person fuel, for the fixed cost
/// of a call (argument lifting, allocator start-up, `describe`): 10 million.
pub const DEFAULT_FUEL_BASE: u64 = 10_000_000;

/// Wall-clock backstop for one call: 1 second. Fuel stops computation
/// deterministically; the deadline (epoch interruption) also catches time
/// spent where fuel is not consumed. A batch gets this deadline once per
/// [`BATCH_PERSONS_PER_DEADLINE`] persons (rounded up).
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);

/// A batch call gets one [`Limits::deadline`] per this many persons (and at
/// least one): 1024 persons of any reasonable plugin take well under 10 ms.
pub const BATCH_PERSONS_PER_DEADLINE: usize = 1024;

/// Linear memory per instance: 64 MiB. A plugin needs a few hundred KiB; the
/// cap bounds what a runaway allocation can take from the host.
pub const DEFAULT_MAX_MEMORY_BYTES: usize = 64 << 20;

/// WebAssembly (host) stack for guest code: 512 KiB, wasmtime's default.
/// Bounded recursion of a rule set needs a few KiB; unbounded recursion hits
/// this cap and is reported as a stack overflow instead of crashing the host.
pub const DEFAULT_MAX_STACK_BYTES: usize = 512 << 10;

/// Lines in one person's answer: 256. The richest lists have about forty items.
pub const DEFAULT_MAX_LINES: usize = 256;

/// Bytes of any string a plugin returns (names, keys, legal basis, error
/// messages): 4 KiB. Long enough for a full document title, short enough
/// that a report cannot be flooded.
pub const DEFAULT_MAX_STRING_BYTES: usize = 4096;

/// Items (baseline plus extra) a description may declare: 1024.
pub const DEFAULT_MAX_ITEMS: usize = 1024;

/// Captured stdout and stderr per instance (WASI guests only): 64 KiB, enough
/// for debugging output shown to a county team. A guest that writes more
/// gets a failed write (Rust's `println!` then panics) and the call is
/// reported as [`CallError::LogLimit`](super::CallError::LogLimit).
pub const DEFAULT_MAX_LOG_BYTES: usize = 64 << 10;

/// Instances that may exist at the same time in one process (the pooling
/// allocator's slots): 64. This is the concurrency cap: a call beyond it fails
/// to instantiate instead of taking memory from the rest of the host.
pub const DEFAULT_MAX_INSTANCES: u32 = 64;

/// The sandbox limits of a [`Runtime`](super::Runtime). Every field has a
/// documented default ([`Limits::default`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest component accepted, in bytes ([`DEFAULT_MAX_COMPONENT_BYTES`]).
    pub max_component_bytes: usize,
    /// Fuel for one evaluation ([`DEFAULT_FUEL_PER_EVALUATION`]).
    pub fuel_per_evaluation: u64,
    /// Average fuel per person in a batch ([`DEFAULT_BATCH_FUEL_PER_PERSON`]);
    /// see [`Limits::fuel_for`].
    pub batch_fuel_per_person: u64,
    /// Wall-clock backstop per call ([`DEFAULT_DEADLINE`]), scaled for batches.
    pub deadline: Duration,
    /// Linear memory per instance, in bytes ([`DEFAULT_MAX_MEMORY_BYTES`]).
    pub max_memory_bytes: usize,
    /// WebAssembly stack, in bytes ([`DEFAULT_MAX_STACK_BYTES`]).
    pub max_stack_bytes: usize,
    /// Lines per person answer ([`DEFAULT_MAX_LINES`]).
    pub max_lines: usize,
    /// Bytes of any string in a description or guest error ([`DEFAULT_MAX_STRING_BYTES`]).
    pub max_string_bytes: usize,
    /// Items in a description ([`DEFAULT_MAX_ITEMS`]).
    pub max_items: usize,
    /// Captured stdout + stderr per instance ([`DEFAULT_MAX_LOG_BYTES`]).
    pub max_log_bytes: usize,
    /// Concurrent instances, the pooling allocator's slots ([`DEFAULT_MAX_INSTANCES`]).
    pub max_instances: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            fuel_per_evaluation: DEFAULT_FUEL_PER_EVALUATION,
            batch_fuel_per_person: DEFAULT_BATCH_FUEL_PER_PERSON,
            deadline: DEFAULT_DEADLINE,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            max_stack_bytes: DEFAULT_MAX_STACK_BYTES,
            max_lines: DEFAULT_MAX_LINES,
            max_string_bytes: DEFAULT_MAX_STRING_BYTES,
            max_items: DEFAULT_MAX_ITEMS,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_instances: DEFAULT_MAX_INSTANCES,
        }
    }
}

impl Limits {
    /// Fuel for one call over `persons` persons (`describe` counts as one):
    /// [`DEFAULT_FUEL_BASE`] plus the larger of one evaluation's fuel and the
    /// batch average times the persons.
    pub fn fuel_for(&self, persons: usize) -> u64 {
        let persons = u64::try_from(persons.max(1)).unwrap_or(u64::MAX);
        self.batch_fuel_per_person
            .saturating_mul(persons)
            .max(self.fuel_per_evaluation)
            .saturating_add(DEFAULT_FUEL_BASE)
    }

    /// Wall-clock deadline for one call over `persons` persons.
    pub fn deadline_for(&self, persons: usize) -> Duration {
        let units = persons.div_ceil(BATCH_PERSONS_PER_DEADLINE).max(1);
        self.deadline
            .saturating_mul(u32::try_from(units).unwrap_or(u32::MAX))
    }
}

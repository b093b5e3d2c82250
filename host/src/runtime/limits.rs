//! The sandbox limits (DESIGN §6): every default is a documented constant.
//!
//! # One set of limits for every guest
//!
//! County plugins come compiled from Rust (`no_std`, 50–500 KiB, about
//! 1,800 fuel per person in a proof) and from interpreted languages: a
//! Python component (componentize-py) embeds CPython and is some 18 MB, a
//! JavaScript one (ComponentizeJS) embeds SpiderMonkey and is some 12 MB;
//! both compile in tens of seconds and run their rules in an interpreter
//! (`plugins/README.md` gives the measured figures per language). The
//! defaults below are sized so that an honest interpreted guest passes, and
//! they apply to every component alike.
//!
//! Budgets per guest class would not make the host safer. The host can only
//! tell a class from what the component itself shows (a declared class, its
//! size, the names of its imports or of its functions), and all of that is
//! written by the uploader: a hostile component claims the most generous
//! class. So whatever the largest class's budget is, that is what any upload
//! can cost, and the host must be sized for it anyway (the compile worker's
//! wall, CPU and memory limits, at most [`DEFAULT_MAX_COMPILE_WORKERS`]
//! compiles at once, the proof's fuel and wall-clock budgets in
//! `verify::Options`; and an upload needs a county's token and is audited).
//! What per-class budgets would buy is earlier failure of an honest Rust
//! plugin that loops; fuel stops such a loop deterministically all the same,
//! only later (see [`DEFAULT_BATCH_FUEL_PER_PERSON`]). One set of limits
//! keeps one rule: the same component meets the same limits wherever it is
//! checked, and no classification can be gamed.

use std::time::Duration;

/// Largest component accepted: 32 MiB. A release-built Rust plugin is
/// 50–500 KiB (`no_std`) or up to 2 MiB (`std`); components that embed an
/// interpreter are larger: 18.4 MB for the Python example (componentize-py
/// 0.25: CPython and its standard library) and 12.1 MB for the JavaScript
/// one (ComponentizeJS 0.23: SpiderMonkey). The cap leaves room for a
/// Python plugin with modules of its own; anything larger is a mistake or
/// an attempt to make compilation expensive (compilation is bounded on its
/// own by the pre-check and the compile worker's limits below).
pub const DEFAULT_MAX_COMPONENT_BYTES: usize = 32 << 20;

/// Fuel (roughly: WebAssembly instructions) for one person: 10 million. A
/// county rule set runs in a few thousand instructions per person; a hundred
/// times more still finishes in a few milliseconds. Fuel is the deterministic
/// limit: the same plugin and person always use the same fuel.
pub const DEFAULT_FUEL_PER_EVALUATION: u64 = 10_000_000;

/// Fuel per person, on average, for a batch: 500 thousand. The Rust examples
/// use 1–3 thousand per person; the interpreted examples use about 20
/// thousand on average in the proof's first pass (batches of 8,192), but a
/// small batch of the second pass pays an interpreter's fixed costs
/// (lifting the baseline lines into interpreter objects, and evaluating
/// each distinct situation once before the SDK's memo answers the rest)
/// over few persons: the JavaScript example needed more than 110 thousand
/// per person in such a batch of 994. A batch call gets
/// `max(fuel_per_evaluation, this × persons)` plus the base, so one person
/// in a batch may use up to a full evaluation's fuel, while an endless loop
/// in a batch of thousands is stopped by fuel — deterministically — after a
/// few seconds rather than by the wall-clock deadline after many.
pub const DEFAULT_BATCH_FUEL_PER_PERSON: u64 = 500_000;

/// Fuel added once per call on top of the per-person fuel, for the fixed cost
/// of a call (argument lifting, allocator start-up, `describe`): 10 million.
pub const DEFAULT_FUEL_BASE: u64 = 10_000_000;

/// Wall-clock backstop for one call: 5 seconds. Fuel stops computation
/// deterministically; the deadline (epoch interruption) also catches time
/// spent where fuel is not consumed. A batch gets this deadline once per
/// [`BATCH_PERSONS_PER_DEADLINE`] persons (rounded up). A Rust plugin's
/// batch of 1,024 takes a few milliseconds; the first batch of a fresh
/// instance of an interpreted guest pays for its start (a JavaScript batch
/// of 861 persons took 1.5 s on the project machine under the full test
/// suite's load), so the backstop leaves it a few times that.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

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
/// allocator's slots): 64. A call beyond it fails to instantiate instead of
/// taking memory from the rest of the host; one plugin may hold at most
/// [`DEFAULT_MAX_INSTANCES_PER_PLUGIN`] of them.
pub const DEFAULT_MAX_INSTANCES: u32 = 64;

/// Wall-clock time one compilation may take in the compile worker: 120 s.
/// A Rust plugin compiles in 25–70 ms, a 2 MiB Rust `std` component in well
/// under a second; the interpreted examples take about 20 s on the project
/// machine (2 cores, the debug-built worker of the tests): Cranelift
/// compiles the whole interpreter. The limit is some five times that, for a
/// loaded machine; components built to make Cranelift work hard are stopped
/// by the pre-check's limits or here. The parent kills the worker when this
/// passes.
pub const DEFAULT_COMPILE_WALL_TIME: Duration = Duration::from_secs(120);

/// CPU time (all threads together) one compilation may take: 240 s, twice
/// the wall-clock limit, because compilation runs on several threads. Set as
/// the worker's `RLIMIT_CPU`: the kernel stops it with `SIGXCPU`.
pub const DEFAULT_COMPILE_CPU_SECONDS: u64 = 240;

/// Address space of the compile worker: 1 GiB, set as its `RLIMIT_AS`. The
/// worker itself (the `qingdan` binary, its threads and allocator arenas)
/// starts at about 150 MiB of address space; compiling an honest plugin adds
/// tens of MiB. The bombs this stops took 1–2 GiB before aborting the host.
pub const DEFAULT_COMPILE_MEMORY_BYTES: u64 = 1 << 30;

/// Compile workers running at once in one runtime: 2. Each may take
/// [`DEFAULT_COMPILE_MEMORY_BYTES`] and a core or two, so this bounds what a
/// burst of uploads can take from the host (2 GiB, the cores of a small
/// machine); loads beyond it queue.
pub const DEFAULT_MAX_COMPILE_WORKERS: u32 = 2;

/// How long a load waits for a compile-worker slot before it fails with
/// [`LoadError::CompileBusy`](super::LoadError::CompileBusy): 150 s, one
/// compile wall-time limit and half a minute more, so a load queued behind
/// interpreted components (about 20 s each) or one compile at the limit
/// gets its turn, while a flood of uploads is refused instead of piling up.
pub const DEFAULT_COMPILE_WAIT: Duration = Duration::from_secs(150);

/// Functions defined in all core modules of a component together: 50,000.
/// A Rust plugin defines a few hundred to a few thousand; compile time and
/// memory grow with the count, and 200,000 tiny functions took more than a
/// gigabyte to compile. Interpreters compiled to WebAssembly (CPython) define
/// some 20,000 and need the component size cap raised anyway.
pub const DEFAULT_MAX_FUNCTIONS: u64 = 50_000;

/// Bytes of one function body: 1 MiB. Rust rule sets produce bodies of a
/// few KiB; Cranelift's work on one function grows faster than linearly with
/// its size, so one huge body is the cheapest way to make it work hard.
pub const DEFAULT_MAX_FUNCTION_BODY_BYTES: u64 = 1 << 20;

/// Nesting of blocks, loops and ifs in one function: 1,000. Compilers nest a
/// few dozen deep; a million nested blocks cost the compiler memory per level.
pub const DEFAULT_MAX_NESTING_DEPTH: u64 = 1_000;

/// Locals of one function: 10,000 (WebAssembly's own validator allows
/// 50,000). Optimised Rust code uses tens to a few hundred; every local is a
/// value the register allocator tracks through the whole function.
pub const DEFAULT_MAX_LOCALS: u64 = 10_000;

/// Depth of components nested inside components: 16. Toolchains nest one or
/// two levels (composition, adapters).
pub const DEFAULT_MAX_COMPONENT_NESTING: u64 = 16;

/// Instances (core and component) that instantiating the component would
/// create, with every nested component's instances counted each time it is
/// instantiated: 1,000. A Rust `std` component creates about ten; nesting
/// lets a small file multiply this exponentially, and compiling flattens it.
pub const DEFAULT_MAX_FLAT_INSTANCES: u64 = 1_000;

/// Imports of one core module or component: 10,000. Dynamically linked
/// interpreters import a few thousand symbols; ordinary plugins under a
/// hundred.
pub const DEFAULT_MAX_IMPORTS: u64 = 10_000;

/// Exports of one core module or component: 10,000 (as for imports).
pub const DEFAULT_MAX_EXPORTS: u64 = 10_000;

/// Bytes of linear memory growth charged as one unit of fuel: 4, i.e. 16,384
/// fuel per 64 KiB page and about 16.8 million fuel for the full 64 MiB cap.
/// Growing memory costs the host page faults and zeroing, which plain fuel
/// does not count: a component that grew its memory to the cap on every call
/// kept a proof busy for minutes. At this rate growing to the cap costs most
/// of one evaluation's fuel, while the 1–2 MiB an honest plugin starts with
/// costs a few per cent (in a batch call, once per batch). Memory a component
/// declares at start counts as growth from zero. `0` disables the charge.
pub const DEFAULT_MEMORY_BYTES_PER_FUEL: u64 = 4;

/// Instances of one plugin alive at the same time: 16, a quarter of the pool
/// ([`DEFAULT_MAX_INSTANCES`]), so one county under heavy load (or stuck in
/// slow calls) cannot take every slot from the others. The verifier runs one
/// session per thread and stays below it on machines of up to 16 cores.
pub const DEFAULT_MAX_INSTANCES_PER_PLUGIN: u32 = 16;

/// How long a call waits for one of its plugin's instance slots before it
/// fails with [`CallError::Busy`](super::CallError::Busy): 250 ms. Calls take
/// micro- to milliseconds, so a slot frees quickly under honest load; a
/// bounded wait turns overload into a fall-back to the baseline instead of a
/// queue that grows without end.
pub const DEFAULT_INSTANCE_WAIT: Duration = Duration::from_millis(250);

/// Compiled code kept in the runtime's in-memory cache: 256 MiB, least
/// recently used evicted first. A compiled plugin takes 0.2–5 MiB, so this
/// holds hundreds of counties; an evicted plugin is loaded again from the
/// on-disk cache in about a tenth of a millisecond.
pub const DEFAULT_MEMORY_CACHE_BYTES: usize = 256 << 20;

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
    /// Wall-clock time of one compilation in the worker ([`DEFAULT_COMPILE_WALL_TIME`]).
    pub compile_wall_time: Duration,
    /// CPU seconds of one compilation in the worker ([`DEFAULT_COMPILE_CPU_SECONDS`]).
    pub compile_cpu_seconds: u64,
    /// Address space of the compile worker, in bytes ([`DEFAULT_COMPILE_MEMORY_BYTES`]).
    pub compile_memory_bytes: u64,
    /// Compile workers at once ([`DEFAULT_MAX_COMPILE_WORKERS`]).
    pub max_compile_workers: u32,
    /// Wait for a compile-worker slot ([`DEFAULT_COMPILE_WAIT`]).
    pub compile_wait: Duration,
    /// Functions in all core modules ([`DEFAULT_MAX_FUNCTIONS`]).
    pub max_functions: u64,
    /// Bytes of one function body ([`DEFAULT_MAX_FUNCTION_BODY_BYTES`]).
    pub max_function_body_bytes: u64,
    /// Block nesting in one function ([`DEFAULT_MAX_NESTING_DEPTH`]).
    pub max_nesting_depth: u64,
    /// Locals of one function ([`DEFAULT_MAX_LOCALS`]).
    pub max_locals: u64,
    /// Depth of nested components ([`DEFAULT_MAX_COMPONENT_NESTING`]).
    pub max_component_nesting: u64,
    /// Instances created by instantiating the component, flattened ([`DEFAULT_MAX_FLAT_INSTANCES`]).
    pub max_flat_instances: u64,
    /// Imports of one module or component ([`DEFAULT_MAX_IMPORTS`]).
    pub max_imports: u64,
    /// Exports of one module or component ([`DEFAULT_MAX_EXPORTS`]).
    pub max_exports: u64,
    /// Bytes of memory growth charged as one fuel ([`DEFAULT_MEMORY_BYTES_PER_FUEL`]; 0: no charge).
    pub memory_bytes_per_fuel: u64,
    /// Live instances of one plugin ([`DEFAULT_MAX_INSTANCES_PER_PLUGIN`]).
    pub max_instances_per_plugin: u32,
    /// Wait for a free instance slot of a plugin ([`DEFAULT_INSTANCE_WAIT`]).
    pub instance_wait: Duration,
    /// Bytes of compiled code in the in-memory cache ([`DEFAULT_MEMORY_CACHE_BYTES`]).
    pub memory_cache_bytes: usize,
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
            compile_wall_time: DEFAULT_COMPILE_WALL_TIME,
            compile_cpu_seconds: DEFAULT_COMPILE_CPU_SECONDS,
            compile_memory_bytes: DEFAULT_COMPILE_MEMORY_BYTES,
            max_compile_workers: DEFAULT_MAX_COMPILE_WORKERS,
            compile_wait: DEFAULT_COMPILE_WAIT,
            max_functions: DEFAULT_MAX_FUNCTIONS,
            max_function_body_bytes: DEFAULT_MAX_FUNCTION_BODY_BYTES,
            max_nesting_depth: DEFAULT_MAX_NESTING_DEPTH,
            max_locals: DEFAULT_MAX_LOCALS,
            max_component_nesting: DEFAULT_MAX_COMPONENT_NESTING,
            max_flat_instances: DEFAULT_MAX_FLAT_INSTANCES,
            max_imports: DEFAULT_MAX_IMPORTS,
            max_exports: DEFAULT_MAX_EXPORTS,
            memory_bytes_per_fuel: DEFAULT_MEMORY_BYTES_PER_FUEL,
            max_instances_per_plugin: DEFAULT_MAX_INSTANCES_PER_PLUGIN,
            instance_wait: DEFAULT_INSTANCE_WAIT,
            memory_cache_bytes: DEFAULT_MEMORY_CACHE_BYTES,
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

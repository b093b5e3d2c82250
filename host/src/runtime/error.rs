//! Errors of the runtime: loading a component ([`LoadError`]), calling it
//! ([`CallError`]), and setting the engine up ([`RuntimeError`]). Limits and
//! traps are kept apart from errors the plugin itself returns.
//!
//! Every message quotes what came from the component (its names, wasmtime's
//! explanation of its bytes, the guest's own error text) through
//! [`text::quote`]: capped to [`text::MAX_QUOTED_BYTES`] and with control and
//! bidirectional-formatting characters escaped, so that printing an error can
//! neither flood a terminal nor write into it.

use std::time::Duration;

use super::precheck::Structure;
use crate::text::quote;

fn quote_all(names: &[String]) -> String {
    if names.is_empty() {
        return "nothing".into();
    }
    let joined = names.join(", ");
    quote(&joined).into_owned()
}

/// The limit of the compile worker that stopped a compilation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompileLimit {
    /// Its address space ([`Limits::compile_memory_bytes`](super::Limits::compile_memory_bytes)).
    Memory {
        /// The limit, in bytes.
        bytes: u64,
    },
    /// Its CPU time ([`Limits::compile_cpu_seconds`](super::Limits::compile_cpu_seconds)).
    CpuTime {
        /// The limit, in seconds.
        seconds: u64,
    },
    /// Its wall-clock time ([`Limits::compile_wall_time`](super::Limits::compile_wall_time)).
    WallTime {
        /// The limit.
        limit: Duration,
    },
}

impl std::fmt::Display for CompileLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompileLimit::Memory { bytes } => {
                write!(f, "memory limit of {bytes} bytes (compile_memory_bytes)")
            }
            CompileLimit::CpuTime { seconds } => {
                write!(f, "CPU-time limit of {seconds} s (compile_cpu_seconds)")
            }
            CompileLimit::WallTime { limit } => {
                write!(f, "wall-time limit of {limit:?} (compile_wall_time)")
            }
        }
    }
}

fn peak(peak_bytes: &Option<u64>) -> String {
    match peak_bytes {
        Some(bytes) => format!("; the worker's peak memory was {bytes} bytes"),
        None => String::new(),
    }
}

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// wasmtime refused the configuration derived from the [`Limits`](super::Limits).
    #[error("cannot configure the WebAssembly engine: {0}")]
    Engine(String),
    /// The epoch ticker thread could not be started.
    #[error("cannot start the deadline ticker thread: {0}")]
    Ticker(String),
}

/// Why a component was refused. Each message is written for the county team
/// that built the component.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {}: {}", quote(path), quote(message))]
    Read {
        /// The file.
        path: String,
        /// The operating system's reason.
        message: String,
    },
    /// Not WebAssembly at all (no `\0asm` header, not WebAssembly text).
    #[error(
        "this is not a WebAssembly file (it does not start with the \\0asm header); build the plugin with `cargo build --release --target wasm32-wasip2`"
    )]
    NotWasm,
    /// A core WebAssembly module, not a component.
    #[error(
        "this is a core WebAssembly module, not a component; build for the `wasm32-wasip2` target (or wrap the module with `wasm-tools component new`)"
    )]
    CoreModule,
    /// Larger than the size cap.
    #[error("the component is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Size of the component.
        size: usize,
        /// The cap ([`Limits::max_component_bytes`](super::Limits::max_component_bytes)).
        limit: usize,
    },
    /// WebAssembly text given to a runtime that compiles untrusted input:
    /// only binary components are accepted for upload.
    #[error(
        "this is WebAssembly text; upload the binary component (`wasm-tools parse` converts text to binary)"
    )]
    TextNotAccepted,
    /// The structural pre-check refused the component before compiling it.
    #[error(
        "the component is too complex to compile safely: {found} {what}, over the limit of {limit} ({}), {}",
        what.limit_name(), quote(at)
    )]
    TooComplex {
        /// What was counted.
        what: Structure,
        /// How many the component has (at least: counting stops at the limit).
        found: u64,
        /// The limit.
        limit: u64,
        /// Where in the component, e.g. `in the function section at byte 30`.
        at: String,
    },
    /// The compile worker hit one of its limits and was stopped.
    #[error(
        "compiling the component was stopped at the worker's {limit}{}",
        peak(peak_bytes)
    )]
    CompileLimit {
        /// The limit it hit.
        limit: CompileLimit,
        /// The worker's peak resident memory, when it could be read.
        peak_bytes: Option<u64>,
    },
    /// Every compile-worker slot stayed taken for the whole wait
    /// ([`Limits::max_compile_workers`](super::Limits::max_compile_workers),
    /// [`Limits::compile_wait`](super::Limits::compile_wait)); try again later.
    #[error(
        "the host is busy compiling: all {limit} compile workers stayed in use for {waited:?} (max_compile_workers)"
    )]
    CompileBusy {
        /// The cap on workers at once.
        limit: u32,
        /// How long the load waited.
        waited: Duration,
    },
    /// The compile worker failed in another way: it could not be started,
    /// crashed, or gave an answer the host does not accept.
    #[error("the compile worker failed: {}", quote(.0))]
    Worker(String),
    /// The component does not parse or validate.
    #[error("the component is not valid WebAssembly: {}", quote(message))]
    Invalid {
        /// wasmtime's explanation.
        message: String,
    },
    /// The component imports something other than the WASI interfaces the host provides.
    #[error(
        "the component imports {}, which the host does not provide; a county plugin may import nothing (or only WASI, which the host replaces with a sandbox)",
        quote_all(&names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>())
    )]
    ForbiddenImport {
        /// Every offending import, in the component's order.
        names: Vec<String>,
    },
    /// The component does not export the county interface with the right functions.
    #[error(
        "the component does not export `{expected}` as required ({}); it exports {}",
        quote(problem),
        quote_all(exports)
    )]
    WrongWorld {
        /// The interface the host needs.
        expected: String,
        /// What is wrong with it.
        problem: String,
        /// What the component exports instead.
        exports: Vec<String>,
    },
    /// A provided WASI interface is imported with another shape than the
    /// host's (a function the host lacks, or of another type).
    #[error(
        "the component imports the WASI interface `{}` with another shape than the host provides{}: {}",
        quote(interface),
        function.as_ref().map(|f| format!(" (function `{}`)", quote(f))).unwrap_or_default(),
        quote(problem)
    )]
    WasiMismatch {
        /// The interface, e.g. `wasi:cli/stdout@0.2.4`.
        interface: String,
        /// The offending function, when wasmtime names it.
        function: Option<String>,
        /// What is wrong with it.
        problem: String,
    },
    /// Instantiating the component failed: its start function trapped, ran
    /// out of fuel or time, or the instance could not be created.
    #[error("the component could not be instantiated (its start-up code failed): {0}")]
    Instantiate(#[source] super::CallError),
    /// `describe` failed: trap, limit, or malformed output.
    #[error("calling describe() failed: {0}")]
    DescribeFailed(#[source] super::CallError),
    /// `describe` returned an invalid description.
    #[error("the description is invalid: {}: {}", quote(field), quote(problem))]
    BadDescription {
        /// The offending field, e.g. `extra-items[2].key`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The component could not be prepared for instantiation.
    #[error("the component cannot be linked: {}", quote(.0))]
    Link(String),
}

/// Why one call into a plugin produced no answer. Whatever the variant, the
/// caller falls back to the baseline (DESIGN §2.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call used all its fuel (endless loop or far too much work).
    #[error("the plugin used all of its {limit} fuel (an endless loop, or far too much work)")]
    OutOfFuel {
        /// Fuel the call was given.
        limit: u64,
    },
    /// The wall-clock deadline passed.
    #[error("the plugin was interrupted after {after:?}: it ran past its deadline")]
    Interrupted {
        /// How long the call had run.
        after: Duration,
    },
    /// The plugin tried to grow its memory past the cap and then failed.
    #[error("the plugin tried to use more than {limit_bytes} bytes of memory")]
    MemoryLimit {
        /// The cap ([`Limits::max_memory_bytes`](super::Limits::max_memory_bytes)).
        limit_bytes: usize,
    },
    /// The plugin wrote more than the log cap to stdout/stderr and then failed.
    #[error("the plugin wrote more than {limit_bytes} bytes to stdout/stderr")]
    LogLimit {
        /// The cap ([`Limits::max_log_bytes`](super::Limits::max_log_bytes)).
        limit_bytes: usize,
    },
    /// The WebAssembly stack overflowed (unbounded recursion).
    #[error("the plugin overflowed its stack (unbounded recursion?)")]
    StackOverflow,
    /// Any other trap; `unreachable` is how a Rust guest panics.
    #[error("the plugin trapped ({}): {}", quote(kind), quote(message))]
    Trap {
        /// The trap code, e.g. `unreachable`.
        kind: String,
        /// wasmtime's description with the guest backtrace.
        message: String,
    },
    /// The answer breaks the contract or an output cap.
    #[error(
        "the plugin's answer is malformed: {}: {}",
        quote(field),
        quote(problem)
    )]
    Malformed {
        /// The offending field, e.g. `lines[3].benefit`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The plugin returned an error of its own.
    #[error("the plugin could not evaluate this person: {}", quote(message))]
    Guest {
        /// The plugin's message (truncated to the string cap).
        message: String,
    },
    /// The instance could not be created (for example: every pooling slot is busy).
    #[error("cannot instantiate the plugin: {}", quote(.0))]
    Instantiate(String),
    /// Every instance slot of this plugin stayed taken for the whole wait
    /// ([`Limits::max_instances_per_plugin`](super::Limits::max_instances_per_plugin),
    /// [`Limits::instance_wait`](super::Limits::instance_wait)).
    #[error(
        "the plugin is busy: all {limit} of its instances stayed in use for {waited:?} (max_instances_per_plugin)"
    )]
    Busy {
        /// The per-plugin cap.
        limit: u32,
        /// How long the call waited.
        waited: Duration,
    },
    /// A session that trapped before is never used again.
    #[error("this session trapped earlier ({}); start a new session", quote(.0))]
    Poisoned(String),
}

impl CallError {
    /// Builds a [`CallError::Malformed`].
    pub(crate) fn malformed(field: impl Into<String>, problem: impl Into<String>) -> CallError {
        CallError::Malformed {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

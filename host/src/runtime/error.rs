//! Errors of the runtime: loading a component ([`LoadError`]), calling it
//! ([`CallError`]), and setting the engine up ([`RuntimeError`]). Limits and
//! traps are kept apart from errors the plugin itself returns.

use std::time::Duration;

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
    #[error("cannot read {path}: {message}")]
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
    /// The component does not parse or validate.
    #[error("the component is not valid WebAssembly: {message}")]
    Invalid {
        /// wasmtime's explanation.
        message: String,
    },
    /// The component imports something other than the WASI interfaces the host provides.
    #[error(
        "the component imports {}, which the host does not provide; a county plugin may import nothing (or only WASI, which the host replaces with a sandbox)",
        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
    )]
    ForbiddenImport {
        /// Every offending import, in the component's order.
        names: Vec<String>,
    },
    /// The component does not export the county interface with the right functions.
    #[error(
        "the component does not export `{expected}` as required ({problem}); it exports {}",
        if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
    )]
    WrongWorld {
        /// The interface the host needs.
        expected: String,
        /// What is wrong with it.
        problem: String,
        /// What the component exports instead.
        exports: Vec<String>,
    },
    /// `describe` failed: trap, limit, or malformed output.
    #[error("calling describe() failed: {0}")]
    DescribeFailed(#[source] super::CallError),
    /// `describe` returned an invalid description.
    #[error("the description is invalid: {field}: {problem}")]
    BadDescription {
        /// The offending field, e.g. `extra-items[2].key`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The component could not be prepared for instantiation.
    #[error("the component cannot be linked: {0}")]
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
    #[error("the plugin trapped ({kind}): {message}")]
    Trap {
        /// The trap code, e.g. `unreachable`.
        kind: String,
        /// wasmtime's description with the guest backtrace.
        message: String,
    },
    /// The answer breaks the contract or an output cap.
    #[error("the plugin's answer is malformed: {field}: {problem}")]
    Malformed {
        /// The offending field, e.g. `lines[3].benefit`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The plugin returned an error of its own.
    #[error("the plugin could not evaluate this person: {message}")]
    Guest {
        /// The plugin's message (truncated to the string cap).
        message: String,
    },
    /// The instance could not be created (for example: every pooling slot is busy).
    #[error("cannot instantiate the plugin: {0}")]
    Instantiate(String),
    /// A session that trapped before is never used again.
    #[error("this session trapped earlier ({0}); start a new session")]
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

//! `qingdan compile-worker` (hidden): the compile worker of the runtime
//! (`runtime::Compiler::Worker`). Not for people: the runtime starts it with
//! the paths and limits of one compilation.

use clap::Args;
use std::path::PathBuf;

use crate::runtime::{WorkerRequest, serve_worker};

/// Arguments of the compile worker (set by the runtime).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The component to compile.
    #[arg(long)]
    input: PathBuf,
    /// Where to write the compiled artefact.
    #[arg(long)]
    output: PathBuf,
    /// Address-space limit, in bytes.
    #[arg(long)]
    memory_bytes: u64,
    /// CPU-time limit, in seconds.
    #[arg(long)]
    cpu_seconds: u64,
    /// The engine's WebAssembly stack cap, in bytes.
    #[arg(long)]
    stack_bytes: usize,
}

/// Runs one compilation; returns the exit code.
pub fn run(args: WorkerArgs) -> u8 {
    serve_worker(&WorkerRequest {
        input: args.input,
        output: args.output,
        memory_bytes: args.memory_bytes,
        cpu_seconds: args.cpu_seconds,
        stack_bytes: args.stack_bytes,
    })
}

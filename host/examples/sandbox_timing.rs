//! Measures what isolation costs: compiling a component in process and in
//! the compile worker (best of five fresh runtimes each, so the difference is
//! the worker's overhead), the worker's peak memory, and the structural
//! pre-check on each file given. A measurement, not a test: nothing is
//! asserted.
//!
//! ```text
//! cargo run --release -p qingdan --example sandbox_timing -- target/release/qingdan plugin.wasm [more.wasm …]
//! ```
//!
//! With `QINGDAN_NO_PRECHECK=1`, every file is also compiled in the worker
//! with the pre-check's limits lifted, to see what the worker's own limits
//! do with it (the outcome, the peak memory and the time).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use qingdan::runtime::{Compiler, Limits, Runtime, precheck};

const RUNS: usize = 5;

fn best_load(compiler: &Compiler, bytes: &[u8]) -> anyhow::Result<(Duration, Option<u64>)> {
    let mut best = Duration::MAX;
    let mut peak = None;
    for _ in 0..RUNS {
        let runtime = Runtime::new(Limits::default(), compiler.clone())?;
        let started = Instant::now();
        let plugin = runtime.load(bytes)?;
        best = best.min(started.elapsed());
        peak = plugin.compile_peak_bytes().or(peak);
    }
    Ok((best, peak))
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let exe = PathBuf::from(args.next().ok_or_else(|| {
        anyhow::anyhow!("usage: sandbox_timing <qingdan binary> <component.wasm>…")
    })?);
    let files: Vec<PathBuf> = args.map(PathBuf::from).collect();
    let limits = Limits::default();
    for (i, file) in files.iter().enumerate() {
        let bytes = std::fs::read(file)?;
        let started = Instant::now();
        let verdict = precheck(&bytes, &limits);
        let checked = started.elapsed();
        println!(
            "{}: {} bytes, pre-check {checked:?}: {}",
            file.display(),
            bytes.len(),
            match &verdict {
                Ok(()) => "passes".to_string(),
                Err(e) => e.to_string(),
            }
        );
        if std::env::var_os("QINGDAN_NO_PRECHECK").is_some() {
            let lifted = Limits {
                max_functions: u64::MAX,
                max_function_body_bytes: u64::MAX,
                max_nesting_depth: u64::MAX,
                max_locals: u64::MAX,
                max_component_nesting: u64::MAX,
                max_flat_instances: u64::MAX,
                max_imports: u64::MAX,
                max_exports: u64::MAX,
                ..Limits::default()
            };
            let runtime = Runtime::new(lifted, Compiler::Worker(exe.clone()))?;
            let started = Instant::now();
            let outcome = match runtime.load(&bytes) {
                Ok(plugin) => format!("loaded (peak {:?} bytes)", plugin.compile_peak_bytes()),
                Err(e) => e.to_string(),
            };
            println!(
                "  in the worker without pre-check, {:?}: {outcome}",
                started.elapsed()
            );
        }
        // The first file is the one compiled both ways.
        if i == 0 && verdict.is_ok() {
            let (in_process, _) = best_load(&Compiler::InProcess, &bytes)?;
            let (worker, peak) = best_load(&Compiler::Worker(exe.clone()), &bytes)?;
            println!("  load, compiled in process: {in_process:?} (best of {RUNS})");
            println!("  load, compiled in worker:  {worker:?} (best of {RUNS})");
            println!(
                "  worker overhead:           {:?}; worker peak memory {} KiB",
                worker.saturating_sub(in_process),
                peak.unwrap_or(0) / 1024
            );
        }
    }
    Ok(())
}

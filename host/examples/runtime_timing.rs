//! Measures the runtime on one county component: compile time, load of the
//! precompiled artefact, a fresh instance with one evaluation, and the cost
//! per person in a batch. A measurement, not a test: nothing is asserted.
//!
//! ```text
//! cargo run --release -p qingdan --example runtime_timing -- path/to/plugin.wasm
//! ```

use std::time::Instant;

use qingdan::model::{Benefit, HOST_CODES_FROM, Line, Person};
use qingdan::runtime::{Compiler, Limits, Runtime};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: runtime_timing <component.wasm>"))?;
    let bytes = std::fs::read(&path)?;
    let cache = std::env::temp_dir().join(format!("qingdan-timing-{}", std::process::id()));

    // Compile (fresh runtime, empty disk cache).
    let runtime =
        Runtime::new(Limits::default(), Compiler::InProcess)?.with_cache_dir(cache.clone());
    let plugin = runtime.load(&bytes)?;
    println!(
        "component: {} bytes, {}, imports WASI: {}",
        bytes.len(),
        plugin.digest(),
        plugin.imports_wasi()
    );
    println!("compile:                    {:?}", plugin.compile_time());
    drop(plugin);
    drop(runtime);

    // Load the precompiled artefact (new runtime, same cache dir).
    let runtime =
        Runtime::new(Limits::default(), Compiler::InProcess)?.with_cache_dir(cache.clone());
    let plugin = runtime.load(&bytes)?;
    println!(
        "precompiled load:           {:?} ({:?})",
        plugin.compile_time(),
        plugin.load_source()
    );
    let _ = std::fs::remove_dir_all(&cache);

    let baseline = [
        Line {
            item: 0,
            benefit: Benefit::MonthlyCash { fen: 6000 },
        },
        Line {
            item: HOST_CODES_FROM,
            benefit: Benefit::Right,
        },
    ];
    let person = Person::aged(85);
    let rounds = 2000u32;
    for _ in 0..100 {
        plugin.evaluate(&person, &baseline)?;
    }
    let started = Instant::now();
    let mut fuel = 0;
    for _ in 0..rounds {
        fuel = plugin.evaluate(&person, &baseline)?.fuel;
    }
    println!(
        "fresh instance + evaluate:  {:?} per call ({fuel} fuel)",
        started.elapsed() / rounds
    );

    // A batch of 4096 persons spread over the domain (aged 70 and over),
    // sharing one baseline.
    let persons: Vec<(Person, u32)> = Person::domain()
        .filter(|p| p.age >= 70)
        .step_by(97)
        .take(4096)
        .map(|p| (p, 0))
        .collect();
    let baselines = vec![baseline.to_vec()];
    let mut session = plugin.session()?;
    session.evaluate_batch(&baselines, &persons)?;
    let batches = 20u32;
    let started = Instant::now();
    let mut batch_fuel = 0;
    for _ in 0..batches {
        batch_fuel = session.evaluate_batch(&baselines, &persons)?.fuel;
    }
    let per_batch = started.elapsed() / batches;
    let persons_n = u32::try_from(persons.len())?;
    println!(
        "batch of {}:               {:?} per batch, {:?} per person ({} fuel per person)",
        persons.len(),
        per_batch,
        per_batch / persons_n,
        batch_fuel / u64::from(persons_n)
    );
    Ok(())
}

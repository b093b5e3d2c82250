//! The plugin benchmarks of DESIGN §7, each beside the same work done
//! natively in the same run:
//!
//! - the full-domain floor proof of every example plugin (wall clock, on the
//!   machine's cores) against the native baseline pass over the same domain;
//! - the per-person cost of the plugin in batches (the batch calls alone);
//! - one evaluation in a fresh instance against one native baseline evaluation;
//! - compiling a component, and loading its precompiled artefact.
//!
//! Run with `cargo bench -p qingdan --bench proof`. Figures are the best of a
//! few runs (the least disturbed by other work on the machine).

#[path = "common/native.rs"]
mod native;

use native::best;
use qingdan::catalogue::{Catalogue, Library};
use qingdan::evaluate::Binding;
use qingdan::model::{DOMAIN_SIZE, Line, Person};
use qingdan::runtime::{Compiler, Limits, Plugin, Runtime};
use qingdan::verify::{self, Options};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

type Batch = (Vec<Vec<Line>>, Vec<(Person, u32)>);

/// The domain cut into interned batches, as the verifier makes them.
fn batches(c: &Catalogue, binding: &Binding, size: usize) -> Vec<Batch> {
    let mut all = Vec::new();
    let mut scratch = Vec::new();
    for start in (0..DOMAIN_SIZE).step_by(size) {
        let mut sets: Vec<Vec<Line>> = Vec::new();
        let mut index: HashMap<Vec<Line>, u32> = HashMap::new();
        let mut persons = Vec::with_capacity(size);
        for i in start..(start + size).min(DOMAIN_SIZE) {
            let Some(p) = Person::from_index(i) else {
                break;
            };
            scratch.clear();
            c.lines_into(&p, &mut scratch);
            binding.to_wire(&mut scratch);
            let set = *index.entry(scratch.clone()).or_insert_with(|| {
                sets.push(scratch.clone());
                (sets.len() - 1) as u32
            });
            persons.push((p, set));
        }
        all.push((sets, persons));
    }
    all
}

fn fail(message: String) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let library =
        Library::load_dir(&root.join("catalogues")).unwrap_or_else(|e| fail(e.to_string()));
    let runtime = Runtime::new(Limits::default(), Compiler::InProcess)
        .unwrap_or_else(|e| fail(e.to_string()));
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let date: jiff::civil::Date = "2026-06-01"
        .parse()
        .unwrap_or_else(|e| fail(format!("{e}")));
    let plugins = [
        ("cixi", qingdan_guests::plugins::CIXI),
        ("zhenhai", qingdan_guests::plugins::ZHENHAI),
        ("jiangling", qingdan_guests::plugins::JIANGLING),
        ("yuanzhou", qingdan_guests::plugins::YUANZHOU),
    ];
    println!("machine: {threads} threads; domain {DOMAIN_SIZE} persons; best of 3–5 runs\n");
    println!(
        "{:<10} {:>11} {:>11} {:>11} {:>9} {:>9} {:>11} {:>11} {:>7}",
        "plugin",
        "native 1t",
        "native 2t",
        "proof 2t",
        "÷nat 2t",
        "÷nat 1t",
        "batch/pers",
        "native/pers",
        "ratio"
    );
    let mut singles = Vec::new();
    for (name, path) in plugins {
        let plugin = runtime
            .load_file(Path::new(path))
            .unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let code = plugin.description().baseline.clone();
        let catalogue = library
            .in_force(&code, date)
            .unwrap_or_else(|| fail(format!("{name}: no baseline {code}")));
        let binding = Binding::new(catalogue, plugin.description())
            .unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let (native1, _) = best(5, || native::pass(catalogue, 0..DOMAIN_SIZE));
        let (native2, _) = best(5, || native::threaded(catalogue, 2));
        let options = Options {
            threads,
            fuel_per_person: runtime.limits().fuel_per_evaluation,
            ..Options::default()
        };
        let (proof, report) = best(3, || {
            verify::verify(&plugin, catalogue, &options, &|_, _| {})
        });
        match report {
            Ok(report) if report.passed => {}
            Ok(report) => fail(format!("{name} did not pass:\n{report}")),
            Err(e) => fail(format!("{name}: {e}")),
        }
        // The plugin's own cost: batch calls alone, one thread, one instance.
        let work = batches(catalogue, &binding, options.batch_size);
        let (calls, _) = best(3, || {
            let mut session = plugin.session().unwrap_or_else(|e| fail(e.to_string()));
            let mut outcomes = 0;
            for (sets, persons) in &work {
                match session.evaluate_batch(sets, persons) {
                    Ok(answers) => outcomes += answers.outcomes.len(),
                    Err(e) => fail(format!("{name}: {e}")),
                }
            }
            outcomes
        });
        let per = |d: Duration| d.as_nanos() as f64 / DOMAIN_SIZE as f64;
        println!(
            "{:<10} {:>9.1}ms {:>9.1}ms {:>9.1}ms {:>8.2}× {:>8.2}× {:>9.1}ns {:>9.1}ns {:>6.2}×",
            name,
            native1.as_secs_f64() * 1e3,
            native2.as_secs_f64() * 1e3,
            proof.as_secs_f64() * 1e3,
            proof.as_secs_f64() / native2.as_secs_f64(),
            proof.as_secs_f64() / native1.as_secs_f64(),
            per(calls),
            per(native1),
            per(calls) / per(native1),
        );
        singles.push((name, plugin, catalogue, binding));
    }

    println!(
        "\n{:<10} {:>14} {:>14} {:>14} {:>16}",
        "plugin", "fresh eval p50", "fresh eval p99", "native eval", "native explain"
    );
    for (name, plugin, catalogue, binding) in &singles {
        single(name, plugin, catalogue, binding);
    }

    println!(
        "\n{:<10} {:>10} {:>16} {:>16}",
        "plugin", "bytes", "compile", "precompiled load"
    );
    let cache = std::env::temp_dir().join(format!("qingdan-bench-cache-{}", std::process::id()));
    for (name, path) in plugins {
        let bytes = std::fs::read(path).unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let (_, compile) = best(3, || {
            let fresh = Runtime::new(Limits::default(), Compiler::InProcess)
                .unwrap_or_else(|e| fail(e.to_string()));
            match fresh.load(&bytes) {
                Ok(plugin) => plugin.compile_time(),
                Err(e) => fail(format!("{name}: {e}")),
            }
        });
        // Write the artefact once, then load it in new runtimes from disk.
        let writer = Runtime::new(Limits::default(), Compiler::InProcess)
            .unwrap_or_else(|e| fail(e.to_string()))
            .with_cache_dir(cache.clone());
        if let Err(e) = writer.load(&bytes) {
            fail(format!("{name}: {e}"));
        }
        let (_, load) = best(5, || {
            let reader = Runtime::new(Limits::default(), Compiler::InProcess)
                .unwrap_or_else(|e| fail(e.to_string()))
                .with_cache_dir(cache.clone());
            match reader.load(&bytes) {
                Ok(plugin) => (plugin.load_source(), plugin.compile_time()),
                Err(e) => fail(format!("{name}: {e}")),
            }
        });
        println!(
            "{:<10} {:>10} {:>13.1} ms {:>13.3} ms ({:?})",
            name,
            bytes.len(),
            compile.as_secs_f64() * 1e3,
            load.1.as_secs_f64() * 1e3,
            load.0
        );
    }
    let _ = std::fs::remove_dir_all(cache);
}

fn single(name: &str, plugin: &Plugin, catalogue: &Catalogue, binding: &Binding) {
    const N: usize = 5000;
    let mut times = Vec::with_capacity(N);
    let mut scratch = Vec::new();
    for k in 0..N {
        let Some(person) = Person::from_index(k * (DOMAIN_SIZE / N)) else {
            break;
        };
        scratch.clear();
        catalogue.lines_into(&person, &mut scratch);
        binding.to_wire(&mut scratch);
        let t = Instant::now();
        let answer = plugin.evaluate(&person, &scratch);
        times.push(t.elapsed());
        if let Err(e) = answer {
            fail(format!("{name}: {e}"));
        }
    }
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let person = Person::aged(92);
    let (native, _) = best(5, || {
        let mut out = Vec::new();
        for _ in 0..1000 {
            out.clear();
            catalogue.lines_into(black_box(&person), &mut out);
        }
        out.len()
    });
    let (explain, _) = best(5, || {
        let mut n = 0;
        for _ in 0..1000 {
            n += catalogue.explain(black_box(&person)).len();
        }
        n
    });
    println!(
        "{:<10} {:>11.1} µs {:>11.1} µs {:>11.3} µs {:>13.3} µs",
        name,
        p50.as_secs_f64() * 1e6,
        p99.as_secs_f64() * 1e6,
        native.as_secs_f64() * 1e6 / 1000.0,
        explain.as_secs_f64() * 1e6 / 1000.0
    );
}

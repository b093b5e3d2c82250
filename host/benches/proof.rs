//! The plugin benchmarks of DESIGN §7, each beside the same work done
//! natively in the same run:
//!
//! - the full-domain floor proof of every example plugin (wall clock, on the
//!   machine's cores) against the native baseline pass over the same domain;
//! - the per-person cost of the plugin in batches (the batch calls alone);
//! - one evaluation in a fresh instance against one native baseline evaluation;
//! - compiling a component, and loading its precompiled artefact;
//! - the answer table: the first materialisation, the table's size, a
//!   lookup per person against the native evaluation of one person, loading
//!   a stored table, and `qingdan eval --plugin` served from a cached table
//!   against the former path (precompiled load, fresh instance, guard).
//!
//! Run with `cargo bench -p qingdan --bench proof`. Figures are the best of a
//! few runs (the least disturbed by other work on the machine).

#[path = "common/native.rs"]
mod native;

use native::best;
use qingdan::catalogue::{Catalogue, Library};
use qingdan::evaluate::{self, Binding, County, Served};
use qingdan::model::{DOMAIN_SIZE, Line, Person};
use qingdan::runtime::{Compiler, Limits, Plugin, Runtime};
use qingdan::table::{AnswerTable, TableCache};
use qingdan::verify::{self, Options};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
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
        let (proof, outcome) = best(3, || {
            verify::verify(&plugin, catalogue, &options, &|_, _| {})
        });
        let table = match outcome {
            Ok(p) if p.report.passed => match p.table {
                Some(t) => t,
                None => fail(format!("{name}: no table")),
            },
            Ok(p) => fail(format!("{name} did not pass:\n{}", p.report)),
            Err(e) => fail(format!("{name}: {e}")),
        };
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
        singles.push((name, plugin, catalogue, binding, table));
    }

    println!(
        "\n{:<10} {:>10} {:>9} {:>9} {:>8} {:>9} {:>12} {:>12} {:>7} {:>10}",
        "plugin",
        "1st pass",
        "check",
        "2nd pass",
        "bytes",
        "answers",
        "lookup/pers",
        "native/pers",
        "ratio",
        "table load"
    );
    for (name, plugin, catalogue, _, _) in &singles {
        tables(name, plugin, catalogue, &options_for(&runtime, threads));
    }

    println!(
        "\n{:<10} {:>14} {:>14} {:>14} {:>16}",
        "plugin", "fresh eval p50", "fresh eval p99", "native eval", "native explain"
    );
    for (name, plugin, catalogue, binding, _) in &singles {
        single(name, plugin, catalogue, binding);
    }

    println!(
        "\n{:<10} {:>22} {:>26} {:>8}",
        "plugin", "eval, cached table", "eval, precompiled + fresh", "ratio"
    );
    for (name, path) in plugins {
        let Some((_, _, catalogue, _, table)) = singles.iter().find(|s| s.0 == name) else {
            continue;
        };
        eval_paths(name, path, catalogue, table);
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

fn options_for(runtime: &Runtime, threads: usize) -> Options {
    Options {
        threads,
        fuel_per_person: runtime.limits().fuel_per_evaluation,
        ..Options::default()
    }
}

/// The table of one plugin: the passes' times (best of 3 proofs), its size,
/// the lookup of every person against the native evaluation of every
/// person, and loading it back from its encoding (digest and canonical
/// form checked).
fn tables(name: &str, plugin: &Plugin, catalogue: &Catalogue, options: &Options) {
    let mut best_proof: Option<verify::Proof> = None;
    for _ in 0..3 {
        let p = verify::verify(plugin, catalogue, options, &|_, _| {})
            .unwrap_or_else(|e| fail(format!("{name}: {e}")));
        let better = best_proof
            .as_ref()
            .is_none_or(|b| p.report.timing.total_ms < b.report.timing.total_ms);
        if better {
            best_proof = Some(p);
        }
    }
    let Some(proof) = best_proof else {
        fail(format!("{name}: no proof"));
    };
    let Some(table) = proof.table else {
        fail(format!("{name}: no table"));
    };
    let (lookup, _) = best(5, || {
        let mut lines = 0;
        for p in Person::domain() {
            if let Some(l) = table.outcome(black_box(&p)).lines() {
                lines += l.len();
            }
        }
        lines
    });
    let (native, _) = best(5, || native::pass(catalogue, 0..DOMAIN_SIZE));
    let encoded = table.encoded();
    let (load, _) = best(50, || {
        AnswerTable::decode(&encoded, Some(table.digest()))
            .unwrap_or_else(|e| fail(format!("{name}: {e}")))
    });
    let per = |d: Duration| d.as_nanos() as f64 / DOMAIN_SIZE as f64;
    let t = &proof.report.timing;
    println!(
        "{:<10} {:>8} ms {:>6} ms {:>6} ms {:>8} {:>9} {:>10.1}ns {:>10.1}ns {:>6.2}× {:>7.3} ms",
        name,
        t.first_pass_ms,
        t.check_ms,
        t.second_pass_ms,
        table.size(),
        table.outcomes().len(),
        per(lookup),
        per(native),
        per(lookup) / per(native),
        load.as_secs_f64() * 1e3,
    );
}

/// One `qingdan eval --plugin` without the process: served from the table
/// cache (read, digest and canonical check, bind, evaluate under the
/// guard) against the former path (precompiled artefact from disk, a fresh
/// instance, the guard over its answer). Median of 200 of each.
fn eval_paths(name: &str, path: &str, catalogue: &Catalogue, table: &AnswerTable) {
    let dir = std::env::temp_dir().join(format!("qingdan-bench-eval-{}", std::process::id()));
    let cache = TableCache::new(dir.join("tables"));
    if let Err(e) = cache.put(table) {
        fail(format!("{name}: {e}"));
    }
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(format!("{name}: {e}")));
    let person = Person::aged(92);
    let date: jiff::civil::Date = "2026-06-01"
        .parse()
        .unwrap_or_else(|e| fail(format!("{e}")));
    // Write the precompiled artefact once.
    let writer = Runtime::new(Limits::default(), Compiler::InProcess)
        .unwrap_or_else(|e| fail(e.to_string()))
        .with_cache_dir(dir.join("components"));
    if let Err(e) = writer.load(&bytes) {
        fail(format!("{name}: {e}"));
    }
    let median = |f: &mut dyn FnMut()| {
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        times.sort();
        times[times.len() / 2]
    };
    let warm = median(&mut || {
        let Some(t) = cache.get_for(table.plugin_digest(), table.baseline_digest()) else {
            fail(format!("{name}: table not cached"));
        };
        let served = Served::new(Arc::new(t), catalogue).unwrap_or_else(|e| fail(e.to_string()));
        black_box(evaluate::evaluate(
            catalogue,
            County::Table(&served),
            &person,
            date,
        ));
    });
    let former = median(&mut || {
        let reader = Runtime::new(Limits::default(), Compiler::InProcess)
            .unwrap_or_else(|e| fail(e.to_string()))
            .with_cache_dir(dir.join("components"));
        let plugin = reader.load(&bytes).unwrap_or_else(|e| fail(e.to_string()));
        let binding =
            Binding::new(catalogue, plugin.description()).unwrap_or_else(|e| fail(e.to_string()));
        let mut lines = Vec::new();
        catalogue.lines_into(&person, &mut lines);
        binding.to_wire(&mut lines);
        black_box(plugin.evaluate(&person, &lines).map(|a| a.lines.len()).ok());
        black_box(evaluate::evaluate(catalogue, County::None, &person, date));
    });
    println!(
        "{:<10} {:>19.3} ms {:>23.3} ms {:>7.1}×",
        name,
        warm.as_secs_f64() * 1e3,
        former.as_secs_f64() * 1e3,
        former.as_secs_f64() / warm.as_secs_f64()
    );
    let _ = std::fs::remove_dir_all(dir);
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

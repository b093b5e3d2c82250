//! A 1,000,000-person impact run from a CSV file, beside a bare parse of
//! the same file (read it, split every line into its fields, on the same
//! threads: the I/O floor) in the same run.
//!
//! `cargo bench -p qingdan --bench population`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use qingdan::catalogue::Library;
use qingdan::evaluate::Served;
use qingdan::model::{DOMAIN_SIZE, Person};
use qingdan::population::{self, Context};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

const ROWS: usize = 1_000_000;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = std::env::temp_dir().join(format!(
        "qingdan-bench-population-{}.csv",
        std::process::id()
    ));
    // A population over the whole domain (a stride), with an identifier.
    let mut csv = String::with_capacity(ROWS * 64);
    csv.push_str(population::CSV_HEADER);
    csv.push('\n');
    for i in 0..ROWS {
        let p = Person::from_index((i * 7919 + 13) % DOMAIN_SIZE).unwrap();
        csv.push_str(&population::csv_row(&format!("330282{i:010}"), &p));
        csv.push('\n');
    }
    std::fs::write(&file, &csv).unwrap();
    drop(csv);
    let size = std::fs::metadata(&file).unwrap().len();

    let library = Library::load_dir(&root.join("catalogues")).unwrap();
    let as_of = "2024-06-01".parse().unwrap();
    let catalogue = library.in_force("330200", as_of).unwrap();
    let runtime = qingdan::runtime::Runtime::new(
        qingdan::runtime::Limits::default(),
        qingdan::runtime::Compiler::Worker(env!("CARGO_BIN_EXE_qingdan").into()),
    )
    .unwrap();
    let plugin = runtime
        .load_file(std::path::Path::new(qingdan_guests::plugins::CIXI))
        .unwrap();
    let proof = qingdan::verify::verify(
        &plugin,
        catalogue,
        &qingdan::verify::Options::default(),
        &|_, _| {},
    )
    .unwrap();
    let served = Served::new(Arc::new(proof.table.unwrap()), catalogue).unwrap();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    let best = |f: &dyn Fn() -> u64| {
        let mut times = Vec::new();
        let mut out = 0;
        for _ in 0..5 {
            let t = Instant::now();
            out = f();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(|a, b| a.total_cmp(b));
        (times[0], times[2], out)
    };
    // The floor: read the file and split every line into fields, on the
    // same threads.
    let (bare_best, bare_median, fields) = best(&|| {
        let bytes = std::fs::read(&file).unwrap();
        let n = bytes.len();
        let mut cuts = vec![0];
        for t in 1..threads {
            let mut at = n * t / threads;
            while at < n && bytes[at] != b'\n' {
                at += 1;
            }
            cuts.push((at + 1).min(n));
        }
        cuts.push(n);
        std::thread::scope(|s| {
            let handles: Vec<_> = cuts
                .windows(2)
                .map(|w| {
                    let chunk = &bytes[w[0]..w[1]];
                    s.spawn(move || {
                        let mut fields = 0u64;
                        for line in chunk.split(|b| *b == b'\n') {
                            let text = std::str::from_utf8(line).unwrap_or("");
                            fields += text.split(',').map(|f| f.len() as u64 & 1).sum::<u64>() + 1;
                        }
                        fields
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        })
    });
    std::hint::black_box(fields);
    let ctx = Context::new(catalogue, Some(&served), as_of);
    let (run_best, run_median, persons) = best(&|| {
        let bytes = std::fs::read(&file).unwrap();
        let (counts, _) = population::count(&ctx, &bytes, threads).unwrap();
        let impact = population::impact(&ctx, &counts);
        std::hint::black_box(&impact);
        impact.persons
    });
    assert_eq!(persons, ROWS as u64);
    // The command line's path: the file read in blocks of a counting
    // piece on a thread of its own, fed to a streaming counter.
    // The time of the per-pair sums within each streamed run.
    let sums = std::cell::RefCell::new(Vec::new());
    let (stream_best, stream_median, streamed) = best(&|| {
        let mut f = std::fs::File::open(&file).unwrap();
        let (counts, _) = population::count_reader(&ctx, &mut f, threads, &mut |_| {})
            .unwrap()
            .unwrap();
        let t = Instant::now();
        let impact = population::impact(&ctx, &counts);
        sums.borrow_mut()
            .push((t.elapsed().as_secs_f64(), impact.pairs));
        std::hint::black_box(&impact);
        impact.persons
    });
    assert_eq!(streamed, ROWS as u64);
    println!(
        "impact run, 慈溪 330282 over 宁波 2023, {ROWS} persons from a {:.1} MB CSV file, {threads} threads (best / median of 5)",
        size as f64 / 1e6
    );
    println!("| run | best | median | persons/s (best) |");
    println!("|---|---|---|---|");
    println!(
        "| bare parse (read + split fields) | {:.3} s | {:.3} s | {:.1} M |",
        bare_best,
        bare_median,
        ROWS as f64 / bare_best / 1e6
    );
    println!(
        "| qingdan impact (read, parse, count, merge) | {:.3} s | {:.3} s | {:.1} M |",
        run_best,
        run_median,
        ROWS as f64 / run_best / 1e6
    );
    println!(
        "| qingdan impact, streamed (8 MiB blocks read ahead, counted as they come; `qingdan batch`) | {:.3} s | {:.3} s | {:.1} M |",
        stream_best,
        stream_median,
        ROWS as f64 / stream_best / 1e6
    );
    println!(
        "impact / bare parse: {:.2}× (whole file), {:.2}× (streamed)",
        run_best / bare_best,
        stream_best / bare_best
    );
    let mut sums = sums.into_inner();
    sums.sort_by(|a, b| a.0.total_cmp(&b.0));
    println!(
        "per-pair sums (`population::impact`, {} pairs) within the streamed run: best {:.1} ms, median {:.1} ms",
        sums[0].1,
        sums[0].0 * 1e3,
        sums[sums.len() / 2].0 * 1e3
    );
    let _ = std::fs::remove_file(&file);
}

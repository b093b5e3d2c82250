//! The native baseline pass: every sample list evaluated for the whole person
//! domain (1,171,200 persons), single-threaded and on two threads.
//!
//! Also times the chain check of each list against its parent, by cells
//! and person by person.
//!
//! Run with `cargo bench -p qingdan --bench baseline`. This is the physical
//! floor every plugin figure is compared with (DESIGN §7).

use qingdan::catalogue::{Catalogue, Library, check_against, check_against_exhaustive};
use qingdan::model::{DOMAIN_SIZE, Line, Person};
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

/// Lines produced, so the optimiser cannot drop the work.
fn pass(c: &Catalogue, range: std::ops::Range<usize>) -> usize {
    let mut out: Vec<Line> = Vec::with_capacity(c.items.len());
    let mut lines = 0;
    for i in range {
        let Some(p) = Person::from_index(i) else {
            break;
        };
        out.clear();
        c.lines_into(black_box(&p), &mut out);
        lines += out.len();
    }
    lines
}

fn threaded(c: &Catalogue, threads: usize) -> usize {
    let chunk = DOMAIN_SIZE.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || pass(c, t * chunk..((t + 1) * chunk).min(DOMAIN_SIZE))))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    })
}

/// Best of `runs` timings: the least disturbed by other work on the machine.
fn best(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut lines = 0;
    for _ in 0..runs {
        let t = Instant::now();
        lines = black_box(f());
        best = best.min(t.elapsed());
    }
    (best, lines)
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalogues");
    let lib = match Library::load_dir(&dir) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    println!(
        "{:<36} {:>6} {:>10} {:>14} {:>14} {:>10}",
        "list", "items", "lines", "1 thread p/s", "2 threads p/s", "ns/person"
    );
    for c in lib.catalogues() {
        let (one, lines) = best(5, || pass(c, 0..DOMAIN_SIZE));
        let (two, _) = best(5, || threaded(c, 2));
        let rate = |d: Duration| DOMAIN_SIZE as f64 / d.as_secs_f64();
        println!(
            "{:<36} {:>6} {:>10} {:>14.0} {:>14.0} {:>10.1}",
            c.label(),
            c.items.len(),
            lines,
            rate(one),
            rate(two),
            one.as_nanos() as f64 / DOMAIN_SIZE as f64
        );
    }

    println!();
    println!(
        "{:<36} {:<28} {:>12} {:>16}",
        "chain check", "against", "cells (ms)", "exhaustive (ms)"
    );
    for c in lib.catalogues() {
        for p in lib.catalogues() {
            if c.parent.as_deref() != Some(p.jurisdiction.code.as_str()) || !c.overlaps(p) {
                continue;
            }
            let (cells, _) = best(5, || usize::from(check_against(c, p).passed));
            let (all, _) = best(3, || usize::from(check_against_exhaustive(c, p).passed));
            println!(
                "{:<36} {:<28} {:>12.2} {:>16.1}",
                c.label(),
                p.label(),
                cells.as_secs_f64() * 1e3,
                all.as_secs_f64() * 1e3
            );
        }
    }
}

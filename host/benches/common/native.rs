//! The native baseline pass shared by the benchmarks: the physical floor
//! every plugin figure is compared with.

use qingdan::catalogue::Catalogue;
use qingdan::model::{DOMAIN_SIZE, Line, Person};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Evaluates `c` natively for the persons of `range`; returns the number of
/// lines produced, so the optimiser cannot drop the work.
pub fn pass(c: &Catalogue, range: std::ops::Range<usize>) -> usize {
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

/// [`pass`] over the whole domain, split evenly over `threads` threads.
pub fn threaded(c: &Catalogue, threads: usize) -> usize {
    let chunk = DOMAIN_SIZE.div_ceil(threads);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || pass(c, t * chunk..((t + 1) * chunk).min(DOMAIN_SIZE))))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap_or(0)).sum()
    })
}

/// Best of `runs` timings (the least disturbed by other work on the
/// machine), with the last run's value.
pub fn best<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, T) {
    let mut best = Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let value = black_box(f());
        best = best.min(t.elapsed());
        last = Some(value);
    }
    match last {
        Some(value) => (best, value),
        None => (best, f()),
    }
}

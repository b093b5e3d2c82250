//! The native baseline pass: every sample list evaluated for the whole person
//! domain (1,171,200 persons), single-threaded and on two threads.
//!
//! Also times the chain check of each list against its parent, by cells
//! and person by person.
//!
//! Run with `cargo bench -p qingdan --bench baseline`. This is the physical
//! floor every plugin figure is compared with (DESIGN §7).

#[path = "common/native.rs"]
mod native;

use native::best;
use qingdan::catalogue::{Library, check_against, check_against_exhaustive};
use qingdan::model::DOMAIN_SIZE;
use std::path::Path;
use std::time::Duration;

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
        let (one, lines) = best(5, || native::pass(c, 0..DOMAIN_SIZE));
        let (two, _) = best(5, || native::threaded(c, 2));
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

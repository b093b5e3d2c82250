//! Several contract versions at once: the same county rules built for the
//! frozen `qingdan:county@0.1.0` and for 0.2.0 load, pass the proof and
//! give the same answer table, person by person.

use crate::worker;
use qingdan::catalogue::Library;
use qingdan::model::DOMAIN_SIZE;
use qingdan::runtime::{Limits, Runtime};
use qingdan::verify::{self, Options};
use qingdan_guests::{plugins, plugins_v0_1_0};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn both_versions_of_a_county_give_the_same_answer_table() {
    let runtime = Runtime::new(Limits::default(), worker()).unwrap();
    let library = Library::load_dir(&root().join("catalogues")).unwrap();
    let ningbo = library
        .in_force("330200", "2026-06-01".parse().unwrap())
        .unwrap();
    for (old, new) in [
        (plugins_v0_1_0::CIXI, plugins::CIXI),
        (plugins_v0_1_0::ZHENHAI, plugins::ZHENHAI),
    ] {
        let old = runtime.load_file(Path::new(old)).unwrap();
        let new = runtime.load_file(Path::new(new)).unwrap();
        assert_eq!(old.contract_version(), "0.1.0");
        assert_eq!(new.contract_version(), "0.2.0");
        assert_eq!(old.description(), new.description());
        let prove =
            |plugin| verify::verify(plugin, ningbo, &Options::default(), &|_, _| {}).unwrap();
        let (a, b) = (prove(&old), prove(&new));
        assert!(a.report.passed && b.report.passed);
        let (a, b) = (a.table.unwrap(), b.table.unwrap());
        assert_eq!(a.outcomes(), b.outcomes());
        assert!((0..DOMAIN_SIZE).all(|i| a.id_at(i) == b.id_at(i)));
        assert_eq!(a.baseline_digest(), b.baseline_digest());
        // Only the plugin digest (of the component bytes) tells them apart.
        assert_ne!(a.plugin_digest(), b.plugin_digest());
    }
}

#[test]
fn a_single_evaluation_of_a_0_2_0_component_is_a_batch_of_one() {
    let runtime = Runtime::new(Limits::default(), worker()).unwrap();
    let old = runtime.load_file(Path::new(plugins_v0_1_0::CIXI)).unwrap();
    let new = runtime.load_file(Path::new(plugins::CIXI)).unwrap();
    for index in [0, 1, 19_200, 600_000, DOMAIN_SIZE - 1] {
        let person = qingdan::model::Person::from_index(index).unwrap();
        assert_eq!(
            old.evaluate(&person, &[]).unwrap().lines,
            new.evaluate(&person, &[]).unwrap().lines,
            "person {index}"
        );
    }
}

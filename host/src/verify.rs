//! The floor proof (DESIGN §2.2): a county plugin is run over the *whole*
//! person domain — all 1,171,200 persons — and compared with the baseline
//! catalogue person by person, item by item, with the order "at least as
//! generous" ([`catalogue::accepts`]). A plugin that passes cannot fall below
//! the baseline for anybody.
//!
//! How the work is organised:
//!
//! - The domain is cut into chunks; each thread (one per core) takes chunks
//!   in increasing order and keeps one plugin instance ([`Session`]) for all
//!   its batches.
//! - For each person the baseline lines are computed natively; persons with
//!   the same lines share one entry of the batch's baseline table, and the
//!   plugin's answers come back interned the same way (WIT `batch`).
//! - Each distinct (baseline lines, answer) pair of a chunk is compared once;
//!   its verdict then applies to every person who has that pair.
//! - A determinism probe evaluates a sample of persons again, each in a fresh
//!   instance through the single-person export, and compares with the batch
//!   answers, so a plugin whose answers depend on call history (or whose
//!   batch and single exports disagree) fails.
//! - Any trap, limit or guest error is a failure. After the first trap or
//!   limit the run stops: the faulting person is located and reported.

use crate::catalogue::{self, BaselineTable, Catalogue, person_text};
use crate::evaluate::{Binding, ReadAnswer, fault_kind};
use crate::model::{
    Ability, Assistance, Benefit, DOMAIN_SIZE, Disability, Hukou, Line, LivingFlag, MAX_AGE,
    MIN_AGE, Person, Shortfall, yuan,
};
use crate::runtime::{CallError, Plugin, Session};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// Version of the report's JSON schema; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "qingdan.verify-report/1";

/// How a proof is run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads (each with its own plugin instance). Default: the machine's cores.
    pub threads: usize,
    /// Persons per batch call. Larger batches amortise the call; smaller ones
    /// bound the fuel and memory of one call. Default 8192.
    pub batch_size: usize,
    /// Persons re-evaluated in fresh instances by the determinism probe. Default 2000.
    pub probe_sample: usize,
    /// Smallest failing persons reported per item. Default 5.
    pub counterexamples: usize,
    /// The fuel limit per person, for the report (the runtime's
    /// [`Limits::fuel_per_evaluation`](crate::runtime::Limits::fuel_per_evaluation)).
    pub fuel_per_person: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            batch_size: 8192,
            probe_sample: 2000,
            counterexamples: 5,
            fuel_per_person: crate::runtime::DEFAULT_FUEL_PER_EVALUATION,
        }
    }
}

/// Why a proof could not be run at all (as opposed to a proof that failed).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The plugin's description does not fit the baseline.
    #[error(transparent)]
    Bind(#[from] crate::evaluate::BindError),
}

/// Which plugin and which baseline a report is about.
#[derive(Clone, Debug, Serialize)]
pub struct Subject {
    /// Plugin digest.
    pub digest: String,
    /// County code and name.
    pub county_code: String,
    /// County name.
    pub county_name: String,
    /// Baseline code.
    pub baseline_code: String,
    /// Baseline name.
    pub baseline_name: String,
    /// Baseline edition.
    pub baseline_edition: String,
    /// Baseline file.
    pub baseline_file: String,
}

/// A person for whom the county gives less than the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Counterexample {
    /// The person.
    pub person: Person,
    /// What the baseline gives.
    pub baseline: Benefit,
    /// What the county gives (none if it drops the item).
    pub county: Option<Benefit>,
    /// The shortfall.
    pub shortfall: Shortfall,
}

/// A baseline item the county falls below for some persons.
#[derive(Clone, Debug, Serialize)]
pub struct ItemFailure {
    /// Item key.
    pub item: String,
    /// Chinese name.
    pub name: String,
    /// How many persons of the domain are affected.
    pub persons: u64,
    /// The smallest of them (in domain order), with the lines compared.
    pub counterexamples: Vec<Counterexample>,
}

/// A plugin fault met during the proof.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    /// The person being evaluated, when known.
    pub person: Option<Person>,
    /// Fault kind (`out-of-fuel`, `trap`, `guest-error`, `malformed`, …).
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// A person whose answer in a fresh instance differs from the batch answer.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// The person.
    pub person: Person,
    /// Lines answered in the batch.
    pub batch: Vec<Line>,
    /// Lines answered in a fresh instance (empty when it faulted).
    pub fresh: Vec<Line>,
    /// Fault in the fresh instance, if any.
    pub fresh_fault: Option<String>,
}

/// Who is concerned by a change, summarised field by field: each field lists
/// the values that occur among the persons concerned; a field where every
/// value occurs is left out.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Group {
    /// Age ranges, e.g. `["60-64", "80-120"]`.
    pub ages: Vec<String>,
    /// Hukou values, when not all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hukou: Vec<Hukou>,
    /// Ability levels, when not all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ability: Vec<Ability>,
    /// Assistance statuses, when not all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub assistance: Vec<Assistance>,
    /// Disability grades, when not all.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disability: Vec<Disability>,
    /// Living flags every person concerned has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub living: Vec<LivingFlag>,
    /// Family-planning special: only this value occurs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_planning_special: Option<bool>,
    /// Veteran-entitled: only this value occurs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub veteran_entitled: Option<bool>,
}

/// One thing the county changes against the baseline.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// Item key.
    pub item: String,
    /// Chinese name.
    pub name: String,
    /// Persons concerned.
    pub persons: u64,
    /// Smallest and largest difference in fen per month (monthly cash) or in
    /// fen (one-off fixed amount), when the benefit is money.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delta_fen: Option<(u64, u64)>,
    /// One example: baseline benefit (if any) and county benefit.
    pub example: (Option<Benefit>, Benefit),
    /// Who is concerned.
    pub group: Group,
}

/// What the county changes against the baseline.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Changes {
    /// Baseline items the county gives more of.
    pub raised: Vec<Change>,
    /// Baseline items the county gives to persons the baseline does not cover.
    pub widened: Vec<Change>,
    /// The county's extra items.
    pub extras: Vec<Change>,
}

/// Fuel statistics.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FuelStats {
    /// Mean fuel per person over the batches.
    pub batch_mean_per_person: u64,
    /// Maximum fuel of one person in the fresh-instance sample.
    pub sample_max: u64,
    /// 99th percentile in the fresh-instance sample.
    pub sample_p99: u64,
    /// Sample size.
    pub sample_size: usize,
    /// The limit per person.
    pub limit_per_person: u64,
}

/// The report of a proof. Stable JSON schema [`REPORT_SCHEMA`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Schema identifier.
    pub schema: &'static str,
    /// Plugin and baseline.
    pub subject: Subject,
    /// Whether the plugin passed: no item below the baseline for anybody, no
    /// fault, no nondeterminism.
    pub passed: bool,
    /// Persons evaluated (the whole domain unless a fault stopped the run).
    pub persons: u64,
    /// Size of the domain.
    pub domain: u64,
    /// Items where the county falls below the baseline.
    pub failures: Vec<ItemFailure>,
    /// Plugin faults (traps, limits, malformed answers, guest errors).
    pub faults: Vec<FaultRecord>,
    /// Number of persons that met a fault.
    pub fault_count: u64,
    /// Determinism probe mismatches.
    pub mismatches: Vec<Mismatch>,
    /// Persons probed in fresh instances.
    pub probed: usize,
    /// What the county changes.
    pub changes: Changes,
    /// Fuel.
    pub fuel: FuelStats,
    /// Wall-clock time of the proof, milliseconds.
    pub elapsed_ms: u64,
    /// Threads used.
    pub threads: usize,
}

#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.add(u64::from(*b));
        }
    }
    fn write_u8(&mut self, v: u8) {
        self.add(u64::from(v));
    }
    fn write_u16(&mut self, v: u16) {
        self.add(u64::from(v));
    }
    fn write_u32(&mut self, v: u32) {
        self.add(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.add(v);
    }
    fn write_usize(&mut self, v: usize) {
        self.add(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

impl Fx {
    #[inline]
    fn add(&mut self, v: u64) {
        // A multiplicative mix: quality is ample for small keys made by the
        // host itself, and it is far cheaper than SipHash on the hot path.
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<Fx>>;

/// Field-value masks of the persons concerned by one change.
#[derive(Clone, Copy, Default)]
struct Masks {
    ages: u64,
    hukou: u8,
    ability: u8,
    assistance: u8,
    disability: u8,
    living: u16,
    fps: u8,
    veteran: u8,
}

impl Masks {
    #[inline]
    fn add(&mut self, p: &Person) {
        self.ages |= 1 << (p.age - MIN_AGE);
        self.hukou |= 1 << p.hukou.ordinal();
        self.ability |= 1 << p.ability.ordinal();
        self.assistance |= 1 << p.assistance.ordinal();
        self.disability |= 1 << p.disability.ordinal();
        self.living |= 1 << p.living.bits();
        self.fps |= 1 << u8::from(p.family_planning_special);
        self.veteran |= 1 << u8::from(p.veteran_entitled);
    }

    fn merge(&mut self, o: &Masks) {
        self.ages |= o.ages;
        self.hukou |= o.hukou;
        self.ability |= o.ability;
        self.assistance |= o.assistance;
        self.disability |= o.disability;
        self.living |= o.living;
        self.fps |= o.fps;
        self.veteran |= o.veteran;
    }

    fn group(&self) -> Group {
        fn pick<T: Copy>(all: &[T], mask: u8) -> Vec<T> {
            if mask.count_ones() as usize == all.len() {
                return Vec::new();
            }
            all.iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, v)| *v)
                .collect()
        }
        fn only(mask: u8) -> Option<bool> {
            match mask {
                0b01 => Some(false),
                0b10 => Some(true),
                _ => None,
            }
        }
        let mut ages = Vec::new();
        let mut age = MIN_AGE;
        while age <= MAX_AGE {
            if self.ages & (1 << (age - MIN_AGE)) != 0 {
                let start = age;
                while age < MAX_AGE && self.ages & (1 << (age + 1 - MIN_AGE)) != 0 {
                    age += 1;
                }
                ages.push(if start == age {
                    start.to_string()
                } else {
                    format!("{start}-{age}")
                });
            }
            age += 1;
        }
        let living = LivingFlag::ALL
            .iter()
            .copied()
            .filter(|flag| {
                // Every living combination that occurs has this flag.
                (0u8..16).all(|combo| {
                    self.living & (1 << combo) == 0
                        || crate::model::Living::from_bits(combo).contains(*flag)
                })
            })
            .collect();
        Group {
            ages,
            hukou: pick(Hukou::ALL, self.hukou),
            ability: pick(Ability::ALL, self.ability),
            assistance: pick(Assistance::ALL, self.assistance),
            disability: pick(Disability::ALL, self.disability),
            living,
            family_planning_special: only(self.fps),
            veteran_entitled: only(self.veteran),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum ChangeKind {
    Raised,
    Widened,
    Extra,
}

#[derive(Clone, Copy)]
struct ChangeStat {
    persons: u64,
    delta: Option<(u64, u64)>,
    example: (Option<Benefit>, Benefit),
    masks: Masks,
}

/// A baseline item the county falls below: (item index, baseline line,
/// county line, shortfall).
type Below = (usize, Benefit, Option<Benefit>, Shortfall);

/// One change against the baseline.
struct ChangeLine {
    kind: ChangeKind,
    item: usize,
    delta: Option<u64>,
    baseline: Option<Benefit>,
    county: Benefit,
}

/// The comparison of one (baseline lines, answer) pair.
#[derive(Default)]
struct Verdict {
    failures: Vec<Below>,
    changes: Vec<ChangeLine>,
    malformed: Option<String>,
}

fn money(b: &Benefit) -> Option<u64> {
    match b {
        Benefit::MonthlyCash { fen } => Some(*fen),
        Benefit::OneOff(o) if o.percent == 0 => Some(o.fixed),
        _ => None,
    }
}

fn compare(catalogue: &Catalogue, base: &[Line], answer: &Result<ReadAnswer, String>) -> Verdict {
    let read = match answer {
        Ok(read) => read,
        Err(e) => {
            return Verdict {
                malformed: Some(e.clone()),
                ..Verdict::default()
            };
        }
    };
    let mut verdict = Verdict::default();
    for line in base {
        let index = usize::from(line.item);
        let Some(item) = catalogue.items.get(index) else {
            continue;
        };
        let county = read.county_line(index);
        match catalogue::accepts(item, county.as_ref(), &line.benefit) {
            Ok(()) => {
                if let Some(c) = county
                    && c != line.benefit
                {
                    let delta = match (money(&c), money(&line.benefit)) {
                        (Some(cf), Some(bf)) if c.kind() == line.benefit.kind() => {
                            Some(cf.saturating_sub(bf))
                        }
                        _ => None,
                    };
                    verdict.changes.push(ChangeLine {
                        kind: ChangeKind::Raised,
                        item: index,
                        delta,
                        baseline: Some(line.benefit),
                        county: c,
                    });
                }
            }
            Err(shortfall) => verdict
                .failures
                .push((index, line.benefit, county, shortfall)),
        }
    }
    for (index, benefit) in &read.baseline_items {
        if !base.iter().any(|l| usize::from(l.item) == *index) {
            verdict.changes.push(ChangeLine {
                kind: ChangeKind::Widened,
                item: *index,
                delta: money(benefit),
                baseline: None,
                county: *benefit,
            });
        }
    }
    for (index, benefit) in &read.extras {
        verdict.changes.push(ChangeLine {
            kind: ChangeKind::Extra,
            item: *index,
            delta: money(benefit),
            baseline: None,
            county: *benefit,
        });
    }
    verdict
}

/// What one thread accumulates.
struct Acc {
    failures: Vec<(u64, Vec<Below>)>,
    changes: FastMap<(ChangeKind, usize), ChangeStat>,
    faults: Vec<(Option<usize>, String, String)>,
    fault_count: u64,
    probe: Vec<(usize, Vec<Line>)>,
    fuel: u64,
    persons: u64,
}

struct Shared<'a> {
    plugin: &'a Plugin,
    catalogue: &'a Catalogue,
    binding: &'a Binding,
    /// Every person's baseline line set (items as catalogue indices).
    table: &'a BaselineTable,
    /// The same sets with the plugin's item codes.
    wire: Vec<Vec<Line>>,
    options: &'a Options,
    next_chunk: AtomicUsize,
    done: AtomicUsize,
    stop: AtomicBool,
    probe_set: Vec<u64>,
    progress: &'a (dyn Fn(usize, usize) + Sync),
}

impl Shared<'_> {
    fn probed(&self, index: usize) -> bool {
        self.probe_set
            .get(index / 64)
            .is_some_and(|w| w & (1 << (index % 64)) != 0)
    }
}

/// Runs the proof of `plugin` against `catalogue` over the whole domain.
/// `progress(done, total)` is called after each batch.
pub fn verify(
    plugin: &Plugin,
    catalogue: &Catalogue,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Report, VerifyError> {
    let started = Instant::now();
    let binding = Binding::new(catalogue, plugin.description())?;
    let threads = options.threads.max(1);
    let table = BaselineTable::new(catalogue);
    let wire = table
        .sets()
        .iter()
        .map(|set| {
            let mut set = set.clone();
            binding.to_wire(&mut set);
            set
        })
        .collect();
    let shared = Shared {
        plugin,
        catalogue,
        binding: &binding,
        table: &table,
        wire,
        options,
        next_chunk: AtomicUsize::new(0),
        done: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        probe_set: probe_set(options.probe_sample),
        progress,
    };
    let results: Mutex<Vec<Acc>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let acc = run_thread(&shared);
                if let Ok(mut all) = results.lock() {
                    all.push(acc);
                }
            });
        }
    });
    let accs = results.into_inner().unwrap_or_default();
    let (mut report, sample) = assemble(&shared, accs, threads);
    probe(&shared, &mut report, &sample);
    report.passed = report.failures.is_empty()
        && report.fault_count == 0
        && report.mismatches.is_empty()
        && report.persons == DOMAIN_SIZE as u64;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A deterministic, evenly spread sample of the domain (a bitset).
fn probe_set(size: usize) -> Vec<u64> {
    let mut set = vec![0u64; DOMAIN_SIZE.div_ceil(64)];
    let size = size.min(DOMAIN_SIZE);
    // A fixed linear congruential walk: reproducible from run to run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut chosen = 0;
    while chosen < size {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let index = ((x >> 33) as usize) % DOMAIN_SIZE;
        let (w, b) = (index / 64, index % 64);
        if set[w] & (1 << b) == 0 {
            set[w] |= 1 << b;
            chosen += 1;
        }
    }
    set
}

fn new_acc(catalogue: &Catalogue) -> Acc {
    Acc {
        failures: vec![(0, Vec::new()); catalogue.items.len()],
        changes: FastMap::default(),
        faults: Vec::new(),
        fault_count: 0,
        probe: Vec::new(),
        fuel: 0,
        persons: 0,
    }
}

fn run_thread(shared: &Shared<'_>) -> Acc {
    let mut acc = new_acc(shared.catalogue);
    let mut session: Option<Session> = None;
    let chunk = shared.options.batch_size.max(1);
    let chunks = DOMAIN_SIZE.div_ceil(chunk);
    // Per batch, the baseline sets it uses: `local[global]` is the set's
    // number in the batch (or NONE), `used` lists the global numbers.
    const NONE: u32 = u32::MAX;
    let mut local = vec![NONE; shared.wire.len()];
    let mut used: Vec<u32> = Vec::new();
    let mut wire_sets: Vec<Vec<Line>> = Vec::new();
    let mut persons: Vec<(Person, u32)> = Vec::with_capacity(chunk);
    let mut indices: Vec<usize> = Vec::with_capacity(chunk);
    let mut globals: Vec<u32> = Vec::with_capacity(chunk);
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            break;
        }
        let c = shared.next_chunk.fetch_add(1, Ordering::Relaxed);
        if c >= chunks {
            break;
        }
        let range = c * chunk..((c + 1) * chunk).min(DOMAIN_SIZE);
        for g in used.drain(..) {
            local[g as usize] = NONE;
        }
        wire_sets.clear();
        persons.clear();
        indices.clear();
        globals.clear();
        for index in range {
            let Some(person) = Person::from_index(index) else {
                continue;
            };
            let global = shared.table.set_of(&person);
            let slot = &mut local[global as usize];
            if *slot == NONE {
                *slot = wire_sets.len() as u32;
                used.push(global);
                wire_sets.push(shared.wire[global as usize].clone());
            }
            persons.push((person, *slot));
            indices.push(index);
            globals.push(global);
        }
        if session.is_none() {
            match shared.plugin.session() {
                Ok(s) => session = Some(s),
                Err(e) => {
                    record_stop(shared, &mut acc, None, &e);
                    break;
                }
            }
        }
        let Some(current) = session.as_mut() else {
            break;
        };
        let answers = match current.evaluate_batch(&wire_sets, &persons) {
            Ok(answers) => answers,
            Err(e) => {
                let culprit = locate_fault(shared, &wire_sets, &persons, &indices);
                record_stop(shared, &mut acc, culprit, &e);
                break;
            }
        };
        if answers.outcomes.len() != persons.len() {
            let e = format!(
                "the batch answer has {} outcomes for {} persons",
                answers.outcomes.len(),
                persons.len()
            );
            acc.faults
                .push((indices.first().copied(), "malformed".into(), e));
            acc.fault_count += persons.len() as u64;
            shared.stop.store(true, Ordering::Relaxed);
            break;
        }
        acc.fuel += answers.fuel;
        let read: Vec<Result<ReadAnswer, String>> = answers
            .answers
            .iter()
            .map(|a| shared.binding.read(a).map_err(|e| e.to_string()))
            .collect();
        let mut erred: FastMap<u32, &str> = FastMap::default();
        for (at, message) in &answers.errors {
            erred.insert(*at, message.as_str());
        }
        let mut verdicts: FastMap<(u32, u32), Verdict> = FastMap::default();
        for (at, ((person, _), outcome)) in persons.iter().zip(answers.outcomes.iter()).enumerate()
        {
            let set = globals[at];
            let index = indices[at];
            if let Some(message) = erred.get(&(at as u32)) {
                acc.fault_count += 1;
                if acc.faults.len() < shared.options.counterexamples {
                    acc.faults
                        .push((Some(index), "guest-error".into(), (*message).to_string()));
                }
                continue;
            }
            let Some(answer) = read.get(*outcome as usize) else {
                acc.fault_count += 1;
                if acc.faults.len() < shared.options.counterexamples {
                    acc.faults.push((
                        Some(index),
                        "malformed".into(),
                        format!("outcome index {outcome} is past the {} answers", read.len()),
                    ));
                }
                continue;
            };
            if shared.probed(index) {
                acc.probe
                    .push((index, answers.answers[*outcome as usize].clone()));
            }
            let verdict = verdicts.entry((set, *outcome)).or_insert_with(|| {
                compare(shared.catalogue, &shared.table.sets()[set as usize], answer)
            });
            apply(shared, &mut acc, index, person, verdict);
        }
        acc.persons += persons.len() as u64;
        let done = shared.done.fetch_add(persons.len(), Ordering::Relaxed) + persons.len();
        (shared.progress)(done, DOMAIN_SIZE);
    }
    acc
}

fn apply(shared: &Shared<'_>, acc: &mut Acc, index: usize, person: &Person, verdict: &Verdict) {
    if let Some(problem) = &verdict.malformed {
        acc.fault_count += 1;
        if acc.faults.len() < shared.options.counterexamples {
            acc.faults
                .push((Some(index), "malformed".into(), problem.clone()));
        }
        return;
    }
    for (item, baseline, county, shortfall) in &verdict.failures {
        let (count, smallest) = &mut acc.failures[*item];
        *count += 1;
        if smallest.len() < shared.options.counterexamples {
            smallest.push((index, *baseline, *county, *shortfall));
        }
    }
    for change in &verdict.changes {
        let stat = acc
            .changes
            .entry((change.kind, change.item))
            .or_insert(ChangeStat {
                persons: 0,
                delta: None,
                example: (change.baseline, change.county),
                masks: Masks::default(),
            });
        stat.persons += 1;
        if let Some(d) = &change.delta {
            stat.delta = Some(match stat.delta {
                None => (*d, *d),
                Some((lo, hi)) => (lo.min(*d), hi.max(*d)),
            });
        }
        stat.masks.add(person);
    }
}

fn record_stop(shared: &Shared<'_>, acc: &mut Acc, person: Option<usize>, e: &CallError) {
    shared.stop.store(true, Ordering::Relaxed);
    acc.fault_count += 1;
    acc.faults
        .push((person, fault_kind(e).to_string(), e.to_string()));
}

/// After a batch faulted, finds the first person of the batch that faults on
/// their own, each in a fresh instance.
fn locate_fault(
    shared: &Shared<'_>,
    wire_sets: &[Vec<Line>],
    persons: &[(Person, u32)],
    indices: &[usize],
) -> Option<usize> {
    // Bounded: a plugin that faults only in batches would otherwise make this
    // walk the whole chunk in fresh instances.
    const MAX_SINGLE_PROBES: usize = 256;
    for ((person, set), index) in persons.iter().zip(indices).take(MAX_SINGLE_PROBES) {
        let baseline = wire_sets
            .get(*set as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if shared.plugin.evaluate(person, baseline).is_err() {
            return Some(*index);
        }
    }
    None
}

/// Merges the threads' results into a report (not yet probed) and returns
/// the batch answers of the probe sample.
fn assemble(
    shared: &Shared<'_>,
    accs: Vec<Acc>,
    threads: usize,
) -> (Report, Vec<(usize, Vec<Line>)>) {
    let catalogue = shared.catalogue;
    let description = shared.plugin.description();
    let mut merged = new_acc(catalogue);
    for acc in accs {
        for (item, (count, smallest)) in acc.failures.into_iter().enumerate() {
            merged.failures[item].0 += count;
            merged.failures[item].1.extend(smallest);
        }
        for (key, stat) in acc.changes {
            merged
                .changes
                .entry(key)
                .and_modify(|m| {
                    m.persons += stat.persons;
                    m.delta = match (m.delta, stat.delta) {
                        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
                        (x, None) => x,
                        (None, y) => y,
                    };
                    m.masks.merge(&stat.masks);
                })
                .or_insert(stat);
        }
        merged.faults.extend(acc.faults);
        merged.fault_count += acc.fault_count;
        merged.probe.extend(acc.probe);
        merged.fuel += acc.fuel;
        merged.persons += acc.persons;
    }
    let k = shared.options.counterexamples;
    let failures = merged
        .failures
        .into_iter()
        .enumerate()
        .filter(|(_, (count, _))| *count > 0)
        .map(|(item, (count, mut smallest))| {
            smallest.sort_by_key(|(index, ..)| *index);
            smallest.truncate(k);
            ItemFailure {
                item: catalogue.items[item].key.clone(),
                name: catalogue.items[item].name.clone(),
                persons: count,
                counterexamples: smallest
                    .into_iter()
                    .filter_map(|(index, baseline, county, shortfall)| {
                        Some(Counterexample {
                            person: Person::from_index(index)?,
                            baseline,
                            county,
                            shortfall,
                        })
                    })
                    .collect(),
            }
        })
        .collect();
    merged
        .faults
        .sort_by_key(|(index, ..)| index.unwrap_or(usize::MAX));
    merged.faults.truncate(k.max(1));
    let faults = merged
        .faults
        .into_iter()
        .map(|(index, kind, message)| FaultRecord {
            person: index.and_then(Person::from_index),
            kind,
            message,
        })
        .collect();
    let mut changes = Changes::default();
    let mut keys: Vec<_> = merged.changes.keys().copied().collect();
    keys.sort();
    for key in keys {
        let Some(stat) = merged.changes.get(&key) else {
            continue;
        };
        let (kind, item) = key;
        let (item_key, name) = match kind {
            ChangeKind::Extra => description
                .extra_items
                .get(item)
                .map(|e| (e.key.clone(), e.name.clone()))
                .unwrap_or_default(),
            _ => (
                catalogue.items[item].key.clone(),
                catalogue.items[item].name.clone(),
            ),
        };
        let change = Change {
            item: item_key,
            name,
            persons: stat.persons,
            delta_fen: stat.delta,
            example: stat.example,
            group: stat.masks.group(),
        };
        match kind {
            ChangeKind::Raised => changes.raised.push(change),
            ChangeKind::Widened => changes.widened.push(change),
            ChangeKind::Extra => changes.extras.push(change),
        }
    }
    merged.probe.sort_by_key(|(index, _)| *index);
    let persons = merged.persons.max(1);
    let report = Report {
        schema: REPORT_SCHEMA,
        subject: Subject {
            digest: shared.plugin.digest().to_string(),
            county_code: description.county_code.clone(),
            county_name: description.county_name.clone(),
            baseline_code: catalogue.jurisdiction.code.clone(),
            baseline_name: catalogue.jurisdiction.name.clone(),
            baseline_edition: catalogue.edition.clone(),
            baseline_file: catalogue.path.display().to_string(),
        },
        passed: false,
        persons: merged.persons,
        domain: DOMAIN_SIZE as u64,
        failures,
        faults,
        fault_count: merged.fault_count,
        mismatches: Vec::new(),
        probed: 0,
        changes,
        fuel: FuelStats {
            batch_mean_per_person: merged.fuel / persons,
            limit_per_person: shared.options.fuel_per_person,
            ..FuelStats::default()
        },
        elapsed_ms: 0,
        threads,
    };
    (report, merged.probe)
}

fn sorted(lines: &[Line]) -> Vec<Line> {
    let mut v = lines.to_vec();
    v.sort_by_key(|l| l.item);
    v
}

/// Re-evaluates the probe sample in fresh instances (on every thread) and
/// compares with the batch answers.
fn probe(shared: &Shared<'_>, report: &mut Report, sample: &[(usize, Vec<Line>)]) {
    if report.fault_count > 0 && report.persons < DOMAIN_SIZE as u64 {
        // The run stopped on a fault; the probe would only repeat it.
        return;
    }
    let threads = shared.options.threads.max(1);
    let part = sample.len().div_ceil(threads).max(1);
    let results: Vec<(Vec<u64>, Vec<Mismatch>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = sample
            .chunks(part)
            .map(|chunk| scope.spawn(move || probe_part(shared, chunk)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut fuel = Vec::with_capacity(sample.len());
    for (f, mismatches) in results {
        fuel.extend(f);
        report.mismatches.extend(mismatches);
    }
    report.mismatches.sort_by_key(|m| m.person.index());
    report.mismatches.truncate(shared.options.counterexamples);
    report.probed = sample.len();
    fuel.sort_unstable();
    report.fuel.sample_size = fuel.len();
    report.fuel.sample_max = fuel.last().copied().unwrap_or(0);
    report.fuel.sample_p99 = fuel
        .get((fuel.len() * 99 / 100).min(fuel.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0);
}

fn probe_part(shared: &Shared<'_>, sample: &[(usize, Vec<Line>)]) -> (Vec<u64>, Vec<Mismatch>) {
    let mut fuel = Vec::with_capacity(sample.len());
    let mut mismatches = Vec::new();
    for (index, batch) in sample {
        let Some(person) = Person::from_index(*index) else {
            continue;
        };
        let baseline = shared
            .wire
            .get(shared.table.set_of(&person) as usize)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let (fresh, fault) = match shared.plugin.evaluate(&person, baseline) {
            Ok(answer) => {
                fuel.push(answer.fuel);
                (answer.lines, None)
            }
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        if fault.is_some() || sorted(&fresh) != sorted(batch) {
            mismatches.push(Mismatch {
                person,
                batch: batch.clone(),
                fresh,
                fresh_fault: fault,
            });
            if mismatches.len() >= shared.options.counterexamples {
                break;
            }
        }
    }
    (fuel, mismatches)
}

fn describe_group(g: &Group) -> String {
    let mut parts = vec![format!("ages {}", g.ages.join(", "))];
    let list = |name: &str, keys: Vec<&str>| {
        (!keys.is_empty()).then(|| format!("{name} {}", keys.join("/")))
    };
    parts.extend(list("hukou", g.hukou.iter().map(|v| v.key()).collect()));
    parts.extend(list("ability", g.ability.iter().map(|v| v.key()).collect()));
    parts.extend(list(
        "assistance",
        g.assistance.iter().map(|v| v.key()).collect(),
    ));
    parts.extend(list(
        "disability",
        g.disability.iter().map(|v| v.key()).collect(),
    ));
    parts.extend(list("living", g.living.iter().map(|v| v.key()).collect()));
    if let Some(v) = g.family_planning_special {
        parts.push(format!("family-planning-special {v}"));
    }
    if let Some(v) = g.veteran_entitled {
        parts.push(format!("veteran-entitled {v}"));
    }
    parts.join("; ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.subject;
        writeln!(
            f,
            "{} {} against {} {} (edition {}, {})",
            s.county_name,
            s.county_code,
            s.baseline_name,
            s.baseline_code,
            s.baseline_edition,
            s.baseline_file
        )?;
        writeln!(f, "plugin {}", s.digest)?;
        writeln!(
            f,
            "{}: {} of {} persons evaluated in {} ms on {} threads; {} probed in fresh instances",
            if self.passed { "PASS" } else { "FAIL" },
            self.persons,
            self.domain,
            self.elapsed_ms,
            self.threads,
            self.probed
        )?;
        for failure in &self.failures {
            writeln!(
                f,
                "\nBELOW BASELINE: {} {} for {} persons; smallest:",
                failure.item, failure.name, failure.persons
            )?;
            for c in &failure.counterexamples {
                writeln!(
                    f,
                    "  {}: baseline {}, county {} ({})",
                    person_text(&c.person),
                    c.baseline,
                    c.county
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "nothing".into()),
                    c.shortfall
                )?;
            }
        }
        if self.fault_count > 0 {
            writeln!(f, "\nFAULTS: {} persons", self.fault_count)?;
            for fault in &self.faults {
                let who = fault
                    .person
                    .map(|p| person_text(&p))
                    .unwrap_or_else(|| "(no person)".into());
                writeln!(f, "  {} [{}]: {}", who, fault.kind, fault.message)?;
            }
        }
        if !self.mismatches.is_empty() {
            writeln!(
                f,
                "\nNONDETERMINISTIC: answers in fresh instances differ from batch answers:"
            )?;
            for m in &self.mismatches {
                writeln!(
                    f,
                    "  {}: batch {:?}, fresh {:?}{}",
                    person_text(&m.person),
                    m.batch,
                    m.fresh,
                    m.fresh_fault
                        .as_ref()
                        .map(|e| format!(" (fault: {e})"))
                        .unwrap_or_default()
                )?;
            }
        }
        let sections = [
            ("raised", &self.changes.raised),
            ("coverage widened", &self.changes.widened),
            ("extra items", &self.changes.extras),
        ];
        for (title, list) in sections {
            if list.is_empty() {
                continue;
            }
            writeln!(f, "\n{title}:")?;
            for c in list {
                let delta = match c.delta_fen {
                    Some((lo, hi)) if lo == hi => format!(", +{} 元", yuan(lo)),
                    Some((lo, hi)) => format!(", +{}…{} 元", yuan(lo), yuan(hi)),
                    None => String::new(),
                };
                let example = match c.example.0 {
                    Some(b) => format!("{b} → {}", c.example.1),
                    None => c.example.1.to_string(),
                };
                writeln!(
                    f,
                    "  {} {}: {} persons{delta} (e.g. {example}); {}",
                    c.item,
                    c.name,
                    c.persons,
                    describe_group(&c.group)
                )?;
            }
        }
        writeln!(
            f,
            "\nfuel per person: batch mean {}, fresh sample max {} / p99 {} (n = {}), limit {}",
            self.fuel.batch_mean_per_person,
            self.fuel.sample_max,
            self.fuel.sample_p99,
            self.fuel.sample_size,
            self.fuel.limit_per_person
        )
    }
}

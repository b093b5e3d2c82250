//! The floor proof (DESIGN §2.2, §2.6): a county component is
//! *materialised* over the whole person domain — all 1,171,200 persons —
//! into an [`AnswerTable`], and that table is compared with the baseline
//! catalogue person by person, item by item, with the order "at least as
//! generous" ([`catalogue::accepts`]). The table is what production serves.
//!
//! # Why what is served is what was proven
//!
//! 1. **The proof is over the table, and the table is what is served.** The
//!    comparison with the baseline reads every person's outcome *from the
//!    built table*, through the very lookup the guard uses at run time
//!    ([`AnswerTable::outcome`], [`crate::evaluate`]): the classes of the
//!    person's field values, then the cell they name
//!    ([`AnswerTable::ids_in_order`] walks the domain that way), beside the
//!    person's baseline set read the same way from the baseline's own
//!    cells ([`BaselineTable::sets_in_order`]). Each distinct (baseline
//!    set, outcome) pair is compared item by item once, and every person
//!    is counted against their pair. The report carries the
//!    table's digest (sha256 of its canonical encoding); a stored table is
//!    only ever read back through [`AnswerTable::decode`], which checks that
//!    digest and refuses any encoding that is not canonical. So the lines
//!    an elder gets are, bit for bit, lines the proof compared with the
//!    baseline for that very person.
//! 2. **Nothing a component does on the request path matters, because it
//!    is not there.** No WebAssembly runs to answer an evaluation, a replay
//!    or a population run. A component that answers its single-person
//!    export differently from its batch export, depends on batch sizes or
//!    call history, recognises a sample, or changes its mind later cannot
//!    change a served answer: the answer was fixed when the table was built.
//! 3. **Completeness.** The domain is finite and every person's outcome is
//!    in the table (the build refuses a table with a person missing). The
//!    domain is the whole input of a component: its person record and the
//!    baseline lines, which are a function of the person under the edition
//!    the table is pinned to (its digest is in the table; serving refuses a
//!    table pinned to another edition). So there is no input the proof did
//!    not see.
//! 4. **Determinism is checked, not assumed.** The table is materialised a
//!    second time, with fresh instances, another person order (a
//!    permutation of blocks of 1,600 persons, about half of them reversed),
//!    other batch sizes (1 to 8,191) and several batches per instance, all derived from the component's and the edition's digests
//!    (reproducible, and not predictable from inside the component, which
//!    cannot know its own digest). The two tables must have the same
//!    digest; otherwise the component is rejected, naming the first person
//!    (in domain order) whose outcomes differ, and both outcomes. Soundness
//!    does not rest on this (1–3 hold for any component); it keeps a
//!    component whose answers depend on how it is asked from being approved
//!    as if its rules were what the table shows. What is compared is
//!    answers, not effort: a batch that runs out of fuel, memory or time
//!    after earlier batches in the same instance is run again, once, in a
//!    fresh instance ([`FuelStats::retried_batches`] counts them), since
//!    what a batch costs may depend on the instance's history (an
//!    interpreter's garbage collector working through a heap that earlier
//!    batches grew) while no component runs on the request path (point 2).
//!    A batch that runs out in a fresh instance is taken in halves, each
//!    in a fresh instance of its own, halving again what runs out
//!    ([`FuelStats::split_batches`]): the limits of a call grow with its
//!    persons, but an interpreter's first evaluation of each situation
//!    costs far more than its memo's later answers, so a small batch of
//!    new situations can need more than its share. Only a person who runs
//!    out alone, within the limits of a call for one person, is a fault,
//!    or a batch whose parts still run out after [`MAX_SPLIT_CALLS`]
//!    calls (a component that needs more than the per-person share
//!    throughout, which halving would otherwise take a call per few
//!    dozen persons to serve). The answers so taken are compared like all
//!    others, and all their fuel is charged to the proof's budget.
//! 5. **Stable reports.** Each run of batches uses a fresh instance, so
//!    what a run returns depends only on the component and the run's
//!    persons, never on which thread ran it or what it ran before. Results
//!    are taken in run order up to the first event (a fault, the fuel
//!    budget): every run before it is complete whatever the threads'
//!    timing, so the same component gives the same report. Counterexamples
//!    and faults are the smallest persons in domain order. Only the wall-
//!    clock budget and the timing fields depend on the machine.
//!
//! # How the work is organised
//!
//! - A *plan* cuts the domain into runs of batches. The first plan is the
//!   domain in order, one batch of [`Options::batch_size`] persons per run;
//!   the second is described in point 4 above.
//! - Each thread (one per core) takes runs in order; a run is one fresh
//!   instance ([`Session`]) called once per batch. Persons of a batch with
//!   the same baseline lines share one entry of the batch's baseline table,
//!   and the component's answers come back interned the same way (WIT
//!   `batch`).
//! - A trap stops the pass; the faulting person is found by evaluating the
//!   batch's persons alone, in order, each in a fresh instance, within the
//!   fuel the batch was allowed. A limit (fuel, memory, time) stops it only
//!   for a person who meets it alone: a batch that met it is run again in
//!   a fresh instance, then in halves (point 4).
//! - A guest error or an unreadable answer for one person is an outcome of
//!   its own in the table ([`Outcome::GuestError`], [`Outcome::Malformed`]):
//!   the proof fails naming the person, and the guard serves the baseline.
//! - Budgets: the proof as a whole has a fuel budget and a wall-clock
//!   budget ([`Options::fuel_budget`], [`Options::wall_budget`]), on top of
//!   the runtime's per-call limits.

use crate::catalogue::{self, BaselineTable, Catalogue, person_text};
use crate::evaluate::{Binding, ReadAnswer, fault_kind};
use crate::model::{
    Ability, Assistance, Benefit, DOMAIN_SIZE, Disability, FIELD_VALUES, Hukou, Line, LivingFlag,
    MAX_AGE, MIN_AGE, Person, Shortfall, yuan,
};
use crate::runtime::{BatchAnswers, CallError, Plugin, Session};
use crate::table::{
    AnswerTable, MAX_DICTIONARY_BYTES, MAX_OUTCOMES, Outcome, TableError, encoded_len,
};
use crate::text::escape;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::hash::Hasher;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Version of the report's JSON schema; bumped on any incompatible change.
pub const REPORT_SCHEMA: &str = "qingdan.verify-report/2";

/// Default fuel budget of one proof, both passes together: 468 G, that is
/// 200,000 fuel per person per pass on average. The Rust example plugins use
/// about 1 % of it (3.8–5.5 G for both passes, about 1,800 fuel per person in
/// the first pass's batches of 8,192, more in the second's smaller ones); the
/// interpreted examples (`plugins/README.md`) use 63 G (Python) and 123 G
/// (JavaScript), an eighth to a quarter, leaving room for richer rules; a
/// component that burns its per-call allowance on every person, or grows
/// its memory on every call (memory growth is charged as fuel), runs out of
/// it. At the 4 G fuel a second the Python proof ran on the project
/// machine's two cores, the whole budget takes about two minutes, within
/// the wall-clock budget.
pub const DEFAULT_FUEL_BUDGET: u64 = 2 * DOMAIN_SIZE as u64 * 200_000;

/// At most this many calls take one batch that ran out in a fresh instance
/// in halves (module docs, point 4): enough for an interpreter whose first
/// answers in an instance are dear (a few calls), too few for a component
/// that needs more than a batch's per-person share of fuel throughout.
pub const MAX_SPLIT_CALLS: u32 = 64;

/// Default wall-clock budget of one proof: 300 s, the backstop for what fuel
/// does not count. The Rust example plugins need well under a second; the
/// interpreted examples (Python, JavaScript) 6–15 s on the project
/// machine's two idle cores and nearly a minute under the full test suite's
/// load, which the budget leaves room for.
pub const DEFAULT_WALL_BUDGET: Duration = Duration::from_secs(300);

/// How a proof is run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Threads (each with its own plugin instance). Default: the machine's cores.
    pub threads: usize,
    /// Persons per batch call in the first pass. Larger batches amortise
    /// the call; smaller ones bound the fuel and memory of one call.
    /// Default 8192.
    pub batch_size: usize,
    /// Smallest failing persons reported per item. Default 5.
    pub counterexamples: usize,
    /// The fuel limit per person, for the report (the runtime's
    /// [`Limits::fuel_per_evaluation`](crate::runtime::Limits::fuel_per_evaluation)).
    pub fuel_per_person: u64,
    /// Fuel the whole proof may use ([`DEFAULT_FUEL_BUDGET`]).
    pub fuel_budget: u64,
    /// Wall-clock time the whole proof may take ([`DEFAULT_WALL_BUDGET`]).
    pub wall_budget: Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            batch_size: 8192,
            counterexamples: 5,
            fuel_per_person: crate::runtime::DEFAULT_FUEL_PER_EVALUATION,
            fuel_budget: DEFAULT_FUEL_BUDGET,
            wall_budget: DEFAULT_WALL_BUDGET,
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
    /// County code, as the component describes itself.
    pub county_code: String,
    /// County name, as the component describes itself.
    pub county_name: String,
    /// Baseline code.
    pub baseline_code: String,
    /// Baseline name.
    pub baseline_name: String,
    /// Baseline edition.
    pub baseline_edition: String,
    /// Baseline file.
    pub baseline_file: String,
    /// `sha256:` digest of the baseline edition's file.
    pub baseline_digest: String,
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

/// A plugin fault met during the proof, at a concrete person.
#[derive(Clone, Debug, Serialize)]
pub struct FaultRecord {
    /// The person being evaluated (the smallest in domain order).
    pub person: Person,
    /// Fault kind (`out-of-fuel`, `trap`, `guest-error`, `malformed`,
    /// `too-many-answers`, `fuel-budget`, `wall-budget`, …).
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// The first person whose outcome differs between the two materialisations.
#[derive(Clone, Debug, Serialize)]
pub struct Mismatch {
    /// The person.
    pub person: Person,
    /// The outcome in the first pass.
    pub first: String,
    /// The outcome in the second pass (or its fault).
    pub second: String,
}

/// The second materialisation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Determinism {
    /// Seed of the second pass's order and batch sizes (hex), derived from
    /// the component's and the edition's digests.
    pub seed: String,
    /// Batch calls in the second pass.
    pub batches: usize,
    /// Fresh instances (runs) in the second pass.
    pub runs: usize,
    /// Digest of the second table, when the pass completed and gave every
    /// person the first table's outcome (the same ids over the same
    /// dictionary: the second table is then the first, digest and all).
    pub second_table: Option<String>,
    /// Persons whose outcome differs between the passes.
    pub differing: u64,
    /// The first of them in domain order.
    pub mismatch: Option<Mismatch>,
}

/// The materialised table.
#[derive(Clone, Debug, Serialize)]
pub struct TableInfo {
    /// `sha256:` digest of its canonical encoding.
    pub digest: String,
    /// Size of the encoding in bytes.
    pub bytes: usize,
    /// Distinct outcomes.
    pub outcomes: usize,
    /// Cells of the grid.
    pub cells: usize,
    /// Classes of each person field.
    pub classes: [usize; 8],
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
    /// Fuel of the first pass (deterministic for a given component and edition).
    pub first_pass: u64,
    /// Fuel of the second pass.
    pub second_pass: u64,
    /// Mean fuel per person in the first pass.
    pub mean_per_person: u64,
    /// The proof's fuel budget.
    pub budget: u64,
    /// The limit per person.
    pub limit_per_person: u64,
    /// Batches, of both passes, that ran out of fuel, memory or time after
    /// earlier batches in the same instance and were run again, once, in a
    /// fresh instance (module docs, point 4).
    pub retried_batches: u64,
    /// Batches, of both passes, that ran out in a fresh instance and were
    /// taken in halves, each in a fresh instance (point 4).
    pub split_batches: u64,
}

/// The report of a proof. Stable JSON schema [`REPORT_SCHEMA`].
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Schema identifier.
    pub schema: &'static str,
    /// Plugin and baseline.
    pub subject: Subject,
    /// Whether the plugin passed: a complete table, no item below the
    /// baseline for anybody, no fault, the same table twice.
    pub passed: bool,
    /// Persons materialised in the first pass (the whole domain unless a
    /// fault or a budget stopped it).
    pub persons: u64,
    /// Size of the domain.
    pub domain: u64,
    /// The table proven (and served), when the first pass completed.
    pub table: Option<TableInfo>,
    /// Items where the county falls below the baseline.
    pub failures: Vec<ItemFailure>,
    /// Faults, smallest persons first.
    pub faults: Vec<FaultRecord>,
    /// Number of persons that met a fault.
    pub fault_count: u64,
    /// The second materialisation.
    pub determinism: Determinism,
    /// What the county changes.
    pub changes: Changes,
    /// Fuel.
    pub fuel: FuelStats,
    /// Wall-clock times: the only part of a report that varies from run to
    /// run of the same component.
    pub timing: Timing,
    /// Threads used.
    pub threads: usize,
}

/// Wall-clock times of a proof, in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Timing {
    /// The whole proof.
    pub total_ms: u64,
    /// The first materialisation (and the table built from it).
    pub first_pass_ms: u64,
    /// The comparison of the table with the baseline.
    pub check_ms: u64,
    /// The second materialisation and the comparison of the two tables.
    pub second_pass_ms: u64,
}

/// A proof's report and, when the first pass completed and the second
/// agreed, the table it proved: the table to serve.
#[derive(Clone, Debug)]
pub struct Proof {
    /// The report.
    pub report: Report,
    /// The table proven (`None` when it could not be materialised or the
    /// second materialisation disagreed).
    pub table: Option<AnswerTable>,
}

/// How one pass cuts the domain: `order[pos]` is the person at position
/// `pos` (identity when `None`); each run is a list of position ranges,
/// one per batch, evaluated in one fresh instance.
struct Plan {
    order: Option<Vec<u32>>,
    runs: Vec<Vec<Range<usize>>>,
}

impl Plan {
    fn in_order(batch: usize) -> Plan {
        let batch = batch.max(1);
        let runs = (0..DOMAIN_SIZE.div_ceil(batch))
            .map(|c| {
                let batch_of_run = c * batch..((c + 1) * batch).min(DOMAIN_SIZE);
                vec![batch_of_run]
            })
            .collect();
        Plan { order: None, runs }
    }

    /// A permutation of the domain, batches of 1 to 8,191 persons (sizes
    /// spread over every power of two), 1 to 6 batches per instance.
    ///
    /// The permutation shuffles blocks of [`SHUFFLE_BLOCK`] persons and
    /// reverses about half of them: every batch holds other persons, in
    /// another order, than in the first pass, while persons who share
    /// their baseline lines stay near each other, so the batches keep
    /// sharing baseline sets and answers (a permutation person by person
    /// made the second pass four to five times slower, all of it spent
    /// lowering distinct baseline sets into the component).
    fn shuffled(seed: u64) -> Plan {
        let mut rng = SplitMix(seed);
        let blocks = DOMAIN_SIZE.div_ceil(SHUFFLE_BLOCK);
        let mut block_order: Vec<(u32, bool)> = (0..blocks as u32)
            .map(|b| (b, rng.next() & 1 == 1))
            .collect();
        for i in (1..block_order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            block_order.swap(i, j);
        }
        let mut order: Vec<u32> = Vec::with_capacity(DOMAIN_SIZE);
        for (block, reversed) in block_order {
            let start = block as usize * SHUFFLE_BLOCK;
            let persons = start as u32..(start + SHUFFLE_BLOCK).min(DOMAIN_SIZE) as u32;
            if reversed {
                order.extend(persons.rev());
            } else {
                order.extend(persons);
            }
        }
        let mut runs = Vec::new();
        let mut pos = 0;
        while pos < DOMAIN_SIZE {
            let batches = 1 + (rng.next() % 6) as usize;
            let mut run = Vec::with_capacity(batches);
            for _ in 0..batches {
                if pos >= DOMAIN_SIZE {
                    break;
                }
                // The power of two: e (0 to 12) drawn with weight e + 1,
                // so every size from 1 to 8,191 occurs (a batch of one
                // person in about one draw in 90) while most calls are
                // large (half as many calls as with equal weights).
                let exp = size_class(rng.next());
                let size = (1usize << exp) + (rng.next() % (1 << exp)) as usize;
                let end = (pos + size).min(DOMAIN_SIZE);
                run.push(pos..end);
                pos = end;
            }
            runs.push(run);
        }
        Plan {
            order: Some(order),
            runs,
        }
    }

    fn person(&self, pos: usize) -> usize {
        match &self.order {
            Some(order) => order[pos] as usize,
            None => pos,
        }
    }

    fn first_person(&self, run: usize) -> usize {
        self.runs
            .get(run)
            .and_then(|r| r.first())
            .map_or(0, |b| self.person(b.start))
    }

    fn batches(&self) -> usize {
        self.runs.iter().map(Vec::len).sum()
    }
}

/// Persons per block of the second pass's permutation: 1,600, the persons
/// of one age, hukou and ability level (5 × 5 × 16 × 2 × 2 assistance,
/// disability, living, family-planning and veteran values). A batch of the
/// second pass then draws on a few blocks, each from another part of the
/// domain and half of them backwards, so it still holds other persons in
/// another order than any batch of the first pass, with other neighbours
/// at every reversed block and batch boundary; what it lowers into the
/// component is a few blocks' baseline sets. Measured on the 袁州 plugin:
/// blocks of 64 made the second pass 1.9× the first, of 320 1.5×, of
/// 1,600 1.3× (the sets and answers crossing the boundary per batch).
const SHUFFLE_BLOCK: usize = 1600;

/// The power of two of a second-pass batch size for a random draw: `e` in
/// 0..=12 with weight `e + 1` (91 in all).
fn size_class(draw: u64) -> u64 {
    let mut left = draw % 91;
    let mut e = 0;
    while left > e {
        left -= e + 1;
        e += 1;
    }
    e
}

/// The generator of the second plan: SplitMix64, small and well mixed.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The seed of the second pass: from the component's and the edition's
/// digests, so it is the same every time for one (component, edition).
fn second_seed(plugin: &str, baseline: &str) -> u64 {
    let mut h = Sha256::new();
    h.update(b"qingdan second materialisation\0");
    h.update(plugin.as_bytes());
    h.update(b"\0");
    h.update(baseline.as_bytes());
    let d = h.finalize();
    let mut seed = [0u8; 8];
    seed.copy_from_slice(&d[..8]);
    u64::from_le_bytes(seed)
}

/// What the second pass found in one run: the run, how many persons differ
/// from the first table, and the smallest of them with its outcome.
type RunDifference = (usize, u64, Option<(usize, Outcome)>);

/// Per item: persons below the baseline, and the smallest of them with the
/// lines compared.
type ItemShortfalls = (u64, Vec<Below>);

/// A fault that stopped a run: the person, its kind and message.
#[derive(Clone, Debug)]
struct Stop {
    person: usize,
    kind: String,
    message: String,
}

/// What one run gives back: every person's outcome (ids into `outcomes`,
/// local to the run), its fuel, and the fault that stopped it, if any.
struct RunResult {
    persons: Vec<u32>,
    ids: Vec<u32>,
    outcomes: Vec<Outcome>,
    fuel: u64,
    /// Batches run again in a fresh instance (see [`is_exhaustion`]).
    retried: u64,
    /// Batches that ran out in a fresh instance and were taken in halves.
    split: u64,
    stop: Option<Stop>,
}

/// What one run cost, as the pass counts it.
#[derive(Clone, Copy, Default)]
struct RunCost {
    fuel: u64,
    retried: u64,
    split: u64,
}

impl RunCost {
    /// The sum over runs.
    fn total(costs: &[RunCost]) -> RunCost {
        costs.iter().fold(RunCost::default(), |t, c| RunCost {
            fuel: t.fuel + c.fuel,
            retried: t.retried + c.retried,
            split: t.split + c.split,
        })
    }
}

/// Whether a fault is a resource running out rather than something the
/// component's code did: its fuel, its memory cap or the wall-clock
/// deadline. How much of them a batch needs can depend on what the same
/// instance did before (an interpreter's garbage collector, a heap grown
/// by earlier batches), which is no fact about the answers.
fn is_exhaustion(e: &CallError) -> bool {
    matches!(
        e,
        CallError::OutOfFuel { .. } | CallError::MemoryLimit { .. } | CallError::Interrupted { .. }
    )
}

/// What the threads share during one pass.
struct Pass<'a> {
    plugin: &'a Plugin,
    binding: &'a Binding,
    /// Every person's baseline set, in domain order
    /// ([`BaselineTable::sets_in_order`]).
    set_of: &'a [u32],
    wire: &'a [Vec<Line>],
    plan: &'a Plan,
    next: AtomicUsize,
    stop: AtomicBool,
    fuel: &'a AtomicU64,
    fuel_budget: u64,
    /// Fuel spent by earlier passes (counted against the same budget).
    fuel_before: u64,
    wall_budget: Duration,
    deadline: Instant,
    done: &'a AtomicUsize,
    progress: &'a (dyn Fn(usize, usize) + Sync),
}

/// Interns outcomes: equal outcomes get one id.
#[derive(Default)]
struct Interner {
    // The keys come from the component: a hasher with a random key, so that
    // no component can make interning quadratic with colliding answers.
    ids: HashMap<Outcome, u32, Keyed>,
    outcomes: Vec<Outcome>,
    bytes: usize,
}

impl Interner {
    fn intern(&mut self, outcome: Outcome) -> u32 {
        if let Some(id) = self.ids.get(&outcome) {
            return *id;
        }
        let id = self.outcomes.len() as u32;
        self.bytes += encoded_len(&outcome);
        self.outcomes.push(outcome.clone());
        self.ids.insert(outcome, id);
        id
    }

    fn too_large(&self) -> bool {
        self.outcomes.len() > MAX_OUTCOMES || self.bytes > MAX_DICTIONARY_BYTES
    }
}

/// Reads one answer of a batch into an outcome.
fn outcome_of(binding: &Binding, lines: &[Line]) -> Outcome {
    match binding.read(lines) {
        Ok(_) => {
            let mut lines = lines.to_vec();
            lines.sort_by_key(|l| l.item);
            Outcome::Lines(lines)
        }
        Err(e) => Outcome::Malformed(e.to_string()),
    }
}

/// The batch's baseline sets and persons, built from positions of the plan:
/// the persons' domain indices, and the number of each one's set in `sets`
/// (the shape of the WIT 0.2.0 batch).
struct BatchInput {
    sets: Vec<Vec<Line>>,
    indices: Vec<u32>,
    baseline_of: Vec<u32>,
}

impl Pass<'_> {
    fn batch_input(
        &self,
        range: Range<usize>,
        local: &mut [u32],
        used: &mut Vec<u32>,
    ) -> BatchInput {
        const NONE: u32 = u32::MAX;
        for g in used.drain(..) {
            local[g as usize] = NONE;
        }
        let mut input = BatchInput {
            sets: Vec::new(),
            indices: Vec::with_capacity(range.len()),
            baseline_of: Vec::with_capacity(range.len()),
        };
        for pos in range {
            let index = self.plan.person(pos);
            let Some(&global) = self.set_of.get(index) else {
                continue;
            };
            let Some(slot) = local.get_mut(global as usize) else {
                continue;
            };
            if *slot == NONE {
                *slot = input.sets.len() as u32;
                used.push(global);
                input.sets.push(self.wire[global as usize].clone());
            }
            input.baseline_of.push(*slot);
            // Domain indices are below 1,171,200, so they fit a u32.
            input.indices.push(index as u32);
        }
        input
    }

    /// Runs one run of the plan in a fresh instance.
    fn execute(&self, run: usize, local: &mut [u32], used: &mut Vec<u32>) -> RunResult {
        let mut result = RunResult {
            persons: Vec::new(),
            ids: Vec::new(),
            outcomes: Vec::new(),
            fuel: 0,
            retried: 0,
            split: 0,
            stop: None,
        };
        let mut interner = Interner::default();
        let batches = self.plan.runs.get(run).map(Vec::as_slice).unwrap_or(&[]);
        let mut session: Option<Session> = None;
        for (b, range) in batches.iter().enumerate() {
            let input = self.batch_input(range.clone(), local, used);
            if session.is_none() {
                match self.plugin.session() {
                    Ok(s) => session = Some(s),
                    Err(e) => {
                        result.stop = Some(stop_at(&input, 0, &e));
                        break;
                    }
                }
            }
            let Some(current) = session.as_mut() else {
                break;
            };
            let mut outcome =
                current.evaluate_indexed(&input.sets, &input.indices, &input.baseline_of);

            let mut after_others = b > 0;
            // A resource that ran out after earlier batches in the same
            // instance: the batch is run again, once, in a fresh instance
            // (which then serves the rest of the run). Its answers are
            // compared like any others (module docs, point 4).
            if after_others && outcome.as_ref().is_err_and(is_exhaustion) {
                if let Err(e) = &outcome {
                    result.fuel += self.charged(e, input.indices.len());
                }
                result.retried += 1;
                after_others = false;
                outcome = self.plugin.session().and_then(|mut fresh| {
                    let answers =
                        fresh.evaluate_indexed(&input.sets, &input.indices, &input.baseline_of);
                    session = Some(fresh);
                    answers
                });
            }
            // Ran out in a fresh instance: taken in halves (point 4), and
            // the instance that ran out serves no further batch.
            if outcome.as_ref().is_err_and(is_exhaustion) {
                result.split += 1;
                session = None;
            }
            let mut calls_left = MAX_SPLIT_CALLS;
            let settled = self.settle(
                outcome,
                (range.clone(), &input),
                after_others,
                &mut calls_left,
                (&mut *local, &mut *used),
                &mut interner,
                &mut result,
            );
            if let Some(stop) = settled {
                result.stop = Some(stop);
                break;
            }
            if interner.too_large() {
                break;
            }
        }
        result.outcomes = interner.outcomes;
        result
    }

    fn take(
        &self,
        answers: &BatchAnswers,
        input: &BatchInput,
        interner: &mut Interner,
        result: &mut RunResult,
    ) {
        let mut erred: FastMap<u32, &str> = FastMap::default();
        for (at, message) in &answers.errors {
            erred.insert(*at, message.as_str());
        }
        // One outcome per distinct answer of the batch.
        let mut read: Vec<Option<u32>> = vec![None; answers.answers.len()];
        for (at, (outcome, index)) in answers.outcomes.iter().zip(&input.indices).enumerate() {
            let failed = if erred.is_empty() {
                None
            } else {
                erred.get(&(at as u32))
            };
            let id = match failed {
                Some(message) => interner.intern(Outcome::GuestError((*message).to_string())),
                None => {
                    let slot = read.get_mut(*outcome as usize);
                    match slot {
                        Some(Some(id)) => *id,
                        Some(slot) => {
                            let lines = &answers.answers[*outcome as usize];
                            let id = interner.intern(outcome_of(self.binding, lines));
                            *slot = Some(id);
                            id
                        }
                        // The runtime checked every outcome index; a
                        // missing one is read as an empty answer's fault.
                        None => interner.intern(Outcome::Malformed(format!(
                            "outcome index {outcome} is past the {} answers",
                            answers.answers.len()
                        ))),
                    }
                }
            };
            result.persons.push(*index);
            result.ids.push(id);
        }
    }

    /// After the batch at plan positions `range` ran out of fuel, memory
    /// or time (`error`) in a fresh instance: each half of it in a fresh
    /// instance of its own, halving again what runs out, so that the
    /// batch's answers are taken in parts. A single person who runs out
    /// alone, within the limits of a call for one person, is the fault
    /// that stops the pass (the first in batch order: the left half is
    /// settled before the right); any other fault of a part is located in
    /// it as in [`Pass::locate`]. Returns that stop, if any.
    ///
    /// Cost: only parts that ran out are halved again, and the halving of
    /// one batch makes at most [`MAX_SPLIT_CALLS`] calls (`calls_left`);
    /// a batch whose parts still run out then is the fault. An
    /// interpreter's dear first answers need a handful of calls (they
    /// make small batches run out, and a small batch's halves are
    /// small); a component that needs more than the per-person share of
    /// fuel on average would need a call per few dozen persons, and is
    /// refused for it, as the limits say. Every call's fuel is charged to
    /// the proof's budget, and the wall-clock budget bounds the time.
    fn halves(
        &self,
        range: Range<usize>,
        error: CallError,
        calls_left: &mut u32,
        scratch: (&mut [u32], &mut Vec<u32>),
        interner: &mut Interner,
        result: &mut RunResult,
    ) -> Option<Stop> {
        let (local, used) = scratch;
        if range.len() <= 1 {
            let input = self.batch_input(range, local, used);
            return Some(stop_at(&input, 0, &error));
        }
        if *calls_left < 2 {
            let input = self.batch_input(range, local, used);
            let mut stop = stop_at(&input, 0, &error);
            stop.message = format!(
                "a batch ran out of fuel, memory or time, and its parts (down to {} persons) still ran out after {MAX_SPLIT_CALLS} calls in fresh instances: {}",
                input.indices.len(),
                stop.message
            );
            return Some(stop);
        }
        *calls_left -= 2;
        let mid = range.start + range.len() / 2;
        for part in [range.start..mid, mid..range.end] {
            let input = self.batch_input(part.clone(), local, used);
            if Instant::now() > self.deadline {
                return Some(Stop {
                    person: input.indices.first().copied().unwrap_or(0) as usize,
                    kind: "wall-budget".into(),
                    message: format!(
                        "the proof ran out of its wall-clock budget of {} s while taking a batch that ran out of fuel, memory or time in halves",
                        self.wall_budget.as_secs()
                    ),
                });
            }
            let outcome = self.plugin.session().and_then(|mut s| {
                s.evaluate_indexed(&input.sets, &input.indices, &input.baseline_of)
            });
            let scratch = (&mut *local, &mut *used);
            let settled = self.settle(
                outcome,
                (part, &input),
                false,
                calls_left,
                scratch,
                interner,
                result,
            );
            if settled.is_some() {
                return settled;
            }
        }
        None
    }

    /// Takes what one call over `batch` (its plan positions and input)
    /// gave: its answers; when it ran out, its halves ([`Pass::halves`]);
    /// any other fault located ([`Pass::locate`]) as the stop returned.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &self,
        outcome: Result<BatchAnswers, CallError>,
        batch: (Range<usize>, &BatchInput),
        after_others: bool,
        calls_left: &mut u32,
        scratch: (&mut [u32], &mut Vec<u32>),
        interner: &mut Interner,
        result: &mut RunResult,
    ) -> Option<Stop> {
        let (range, input) = batch;
        match outcome {
            Ok(answers) => {
                result.fuel += answers.fuel;
                self.take(&answers, input, interner, result);
                None
            }
            Err(e) if is_exhaustion(&e) => {
                result.fuel += self.charged(&e, input.indices.len());
                self.halves(range, e, calls_left, scratch, interner, result)
            }
            Err(e) => {
                let (stop, fuel) = self.locate(input, &e, after_others);
                result.fuel += fuel;
                Some(stop)
            }
        }
    }

    /// The fuel charged for a call over `persons` that failed with `e`.
    fn charged(&self, e: &CallError, persons: usize) -> u64 {
        fuel_of(e, self.plugin.limits().fuel_for(persons))
    }

    /// After a batch faulted: the first person of the batch that faults
    /// alone (each in a fresh instance), within the fuel the batch was
    /// allowed. Returns the stop and the fuel spent looking.
    fn locate(&self, input: &BatchInput, error: &CallError, after_others: bool) -> (Stop, u64) {
        let allowance = self.plugin.limits().fuel_for(input.indices.len()).max(1);
        let mut spent = 0u64;
        for (at, (index, set)) in input.indices.iter().zip(&input.baseline_of).enumerate() {
            if spent >= allowance {
                break;
            }
            let Some(lines) = input.sets.get(*set as usize) else {
                continue;
            };
            let alone = self
                .plugin
                .session()
                .and_then(|mut s| s.evaluate_indexed(std::slice::from_ref(lines), &[*index], &[0]));
            match alone {
                Ok(answers) => spent += answers.fuel,
                Err(e) => {
                    spent += self.charged(&e, 1);
                    return (stop_at(input, at, &e), spent);
                }
            }
        }
        let how = if after_others {
            "after earlier batches in the same instance"
        } else {
            "as a whole"
        };
        let mut stop = stop_at(input, 0, error);
        stop.message = format!(
            "the batch of {} persons faulted {how}, and none of its first persons faults alone: {}",
            input.indices.len(),
            stop.message
        );
        (stop, spent)
    }
}

/// The fuel a failed call used, as far as the error tells.
fn fuel_of(e: &CallError, allowance: u64) -> u64 {
    match e {
        CallError::OutOfFuel { limit } => *limit,
        _ => allowance,
    }
}

fn stop_at(input: &BatchInput, at: usize, e: &CallError) -> Stop {
    Stop {
        person: input.indices.get(at).copied().unwrap_or(0) as usize,
        kind: fault_kind(e).to_string(),
        message: e.to_string(),
    }
}

/// How a pass ended.
enum PassEnd {
    /// Every run completed.
    Complete,
    /// Stopped at a fault, a budget or the answer cap, in this run.
    Stopped(FaultRecord, usize),
}

impl PassEnd {
    /// The run of the event that stopped the pass.
    fn run(&self) -> Option<usize> {
        match self {
            PassEnd::Complete => None,
            PassEnd::Stopped(_, run) => Some(*run),
        }
    }

    /// How many runs of `plan` the report counts: up to and including the
    /// event's run (a run the wall-clock budget left out was not run).
    fn runs_counted(&self, plan: &Plan) -> usize {
        match self {
            PassEnd::Complete => plan.runs.len(),
            PassEnd::Stopped(f, run) if f.kind == "wall-budget" => *run,
            PassEnd::Stopped(_, run) => run.saturating_add(1).min(plan.runs.len()),
        }
    }
}

/// The fault of a component that gives too many distinct answers, at
/// `person` (a domain index).
fn too_many_answers(person: usize) -> FaultRecord {
    FaultRecord {
        person: person_or_first(person),
        kind: "too-many-answers".into(),
        message: format!(
            "from this person on (in domain order) the component has given more than {MAX_OUTCOMES} distinct answers (or more than {} MiB of them)",
            MAX_DICTIONARY_BYTES >> 20
        ),
    }
}

/// Runs a pass on `threads` threads; `merge(run, result)` is called for
/// each completed run (in completion order, under a lock). Returns how
/// the pass ended, judged in run order (see the module docs, point 5).
fn run_pass(
    pass: &Pass<'_>,
    threads: usize,
    merge: &mut (dyn FnMut(usize, RunResult) -> bool + Send),
) -> (PassEnd, Vec<RunCost>) {
    struct Summary {
        cost: RunCost,
        stop: Option<Stop>,
        too_large: bool,
    }
    let summaries: Mutex<Vec<Option<Summary>>> =
        Mutex::new((0..pass.plan.runs.len()).map(|_| None).collect());
    let merge = Mutex::new(merge);
    let wire_sets = pass.wire.len();
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                let mut local = vec![u32::MAX; wire_sets];
                let mut used = Vec::new();
                loop {
                    // Checked before taking a run, never after: the runs
                    // taken are always a prefix of the plan, all executed.
                    if pass.stop.load(Ordering::Relaxed)
                        || pass.fuel.load(Ordering::Relaxed) > pass.fuel_budget
                        || Instant::now() > pass.deadline
                    {
                        pass.stop.store(true, Ordering::Relaxed);
                        break;
                    }
                    let run = pass.next.fetch_add(1, Ordering::Relaxed);
                    if run >= pass.plan.runs.len() {
                        break;
                    }
                    let result = pass.execute(run, &mut local, &mut used);
                    let persons = result.persons.len();
                    pass.fuel.fetch_add(result.fuel, Ordering::Relaxed);
                    let mut summary = Summary {
                        cost: RunCost {
                            fuel: result.fuel,
                            retried: result.retried,
                            split: result.split,
                        },
                        stop: result.stop.clone(),
                        too_large: false,
                    };
                    if summary.stop.is_some() {
                        pass.stop.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut merge) = merge.lock()
                        && !(*merge)(run, result)
                    {
                        summary.too_large = true;
                        pass.stop.store(true, Ordering::Relaxed);
                    }
                    if let Ok(mut all) = summaries.lock()
                        && let Some(slot) = all.get_mut(run)
                    {
                        *slot = Some(summary);
                    }
                    let done = pass.done.fetch_add(persons, Ordering::Relaxed) + persons;
                    (pass.progress)(done, 2 * DOMAIN_SIZE);
                }
            });
        }
    });
    let summaries = summaries.into_inner().unwrap_or_default();
    let too_large = summaries.iter().flatten().any(|s| s.too_large);
    let fuels: Vec<RunCost> = summaries
        .iter()
        .map(|s| s.as_ref().map(|s| s.cost).unwrap_or_default())
        .collect();
    let mut fuel = 0u64;
    for (run, summary) in summaries.iter().enumerate() {
        let Some(summary) = summary else {
            // The first run not executed. Too many answers stopped the pass
            // (the caller names the person), or the wall-clock budget did.
            let person = pass.plan.first_person(run);
            if too_large {
                return (PassEnd::Stopped(too_many_answers(person), run), fuels);
            }
            return (
                PassEnd::Stopped(
                    FaultRecord {
                        person: person_or_first(person),
                        kind: "wall-budget".into(),
                        message: format!(
                            "the proof ran out of its wall-clock budget of {} s before this batch",
                            pass.wall_budget.as_secs()
                        ),
                    },
                    run,
                ),
                fuels,
            );
        };
        fuel += summary.cost.fuel;
        if let Some(stop) = &summary.stop {
            return (
                PassEnd::Stopped(
                    FaultRecord {
                        person: person_or_first(stop.person),
                        kind: stop.kind.clone(),
                        message: stop.message.clone(),
                    },
                    run,
                ),
                fuels,
            );
        }
        if pass.fuel_before + fuel > pass.fuel_budget {
            return (
                PassEnd::Stopped(
                    FaultRecord {
                        person: person_or_first(pass.plan.first_person(run)),
                        kind: "fuel-budget".into(),
                        message: format!(
                            "the proof used {} fuel by the end of this run of batches, over its budget of {}",
                            pass.fuel_before + fuel,
                            pass.fuel_budget
                        ),
                    },
                    run,
                ),
                fuels,
            );
        }
    }
    (PassEnd::Complete, fuels)
}

/// The first person (domain order) at whom the distinct outcomes of the
/// persons so far exceed the caps.
fn crossing(ids: &[u32], global: &Interner) -> Option<usize> {
    let mut seen = vec![false; global.outcomes.len()];
    let (mut count, mut bytes) = (0usize, 0usize);
    for (index, id) in ids.iter().enumerate() {
        let slot = seen.get_mut(*id as usize)?;
        if !*slot {
            *slot = true;
            count += 1;
            bytes += global.outcomes.get(*id as usize).map_or(0, encoded_len);
            if count > MAX_OUTCOMES || bytes > MAX_DICTIONARY_BYTES {
                return Some(index);
            }
        }
    }
    None
}

fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn person_or_first(index: usize) -> Person {
    Person::from_index(index).unwrap_or_else(|| Person::aged(MIN_AGE))
}

/// Runs the proof of `plugin` against `catalogue` over the whole domain,
/// twice, and returns the report with the table proven.
/// `progress(done, total)` is called after each run (`total` counts both
/// passes).
pub fn verify(
    plugin: &Plugin,
    catalogue: &Catalogue,
    options: &Options,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Proof, VerifyError> {
    let started = Instant::now();
    let binding = Binding::new(catalogue, plugin.description())?;
    let threads = options.threads.max(1);
    let table = BaselineTable::new(catalogue);
    let set_of = table.sets_in_order();
    let wire: Vec<Vec<Line>> = table
        .sets()
        .iter()
        .map(|set| {
            let mut set = set.clone();
            binding.to_wire(&mut set);
            set
        })
        .collect();
    let fuel = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    let deadline = started + options.wall_budget;
    let description = plugin.description();
    let seed = second_seed(plugin.digest(), &catalogue.digest);
    let mut report = Report {
        schema: REPORT_SCHEMA,
        subject: Subject {
            digest: plugin.digest().to_string(),
            county_code: description.county_code.clone(),
            county_name: description.county_name.clone(),
            baseline_code: catalogue.jurisdiction.code.clone(),
            baseline_name: catalogue.jurisdiction.name.clone(),
            baseline_edition: catalogue.edition.clone(),
            baseline_file: catalogue.path.display().to_string(),
            baseline_digest: catalogue.digest.clone(),
        },
        passed: false,
        persons: 0,
        domain: DOMAIN_SIZE as u64,
        table: None,
        failures: Vec::new(),
        faults: Vec::new(),
        fault_count: 0,
        determinism: Determinism {
            seed: format!("{seed:016x}"),
            ..Determinism::default()
        },
        changes: Changes::default(),
        fuel: FuelStats {
            budget: options.fuel_budget,
            limit_per_person: options.fuel_per_person,
            ..FuelStats::default()
        },
        timing: Timing::default(),
        threads,
    };

    // First pass: the domain in order.
    let first_plan = Plan::in_order(options.batch_size);
    let first = Pass {
        plugin,
        binding: &binding,
        set_of: &set_of,
        wire: &wire,
        plan: &first_plan,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        fuel: &fuel,
        fuel_budget: options.fuel_budget,
        fuel_before: 0,
        wall_budget: options.wall_budget,
        deadline,
        done: &done,
        progress,
    };
    let mut ids = vec![u32::MAX; DOMAIN_SIZE];
    let mut global = Interner::default();
    let (end, first_fuels) = run_pass(&first, threads, &mut |_, run: RunResult| {
        let remap: Vec<u32> = run.outcomes.into_iter().map(|o| global.intern(o)).collect();
        for (person, id) in run.persons.iter().zip(&run.ids) {
            if let (Some(slot), Some(global)) =
                (ids.get_mut(*person as usize), remap.get(*id as usize))
            {
                *slot = *global;
            }
        }
        !global.too_large()
    });
    // Too many answers: name the person at whom, in domain order, they
    // first become too many. The runs taken are a prefix of the plan, all
    // complete, so this does not depend on the threads; an earlier event of
    // the pass is reported instead.
    let batch = options.batch_size.max(1);
    let too_many = global
        .too_large()
        .then(|| crossing(&ids, &global))
        .flatten();
    let end = match too_many {
        Some(index) if end.run().is_none_or(|run| index / batch <= run) => {
            PassEnd::Stopped(too_many_answers(index), index / batch)
        }
        _ => end,
    };
    // What the report counts stops at the pass's first event, so that it
    // does not depend on how far other threads got.
    let upto = end.runs_counted(&first_plan);
    let first_cost = RunCost::total(&first_fuels[..upto]);
    let first_fuel = first_cost.fuel;
    report.fuel.retried_batches = first_cost.retried;
    report.fuel.split_batches = first_cost.split;
    report.fuel.first_pass = first_fuel;
    report.persons = first_plan.runs[..upto]
        .iter()
        .flatten()
        .map(|b| b.len() as u64)
        .sum();
    report.fuel.mean_per_person = first_fuel / report.persons.max(1);
    if let PassEnd::Stopped(fault, _) = end {
        report.fault_count = 1;
        report.faults.push(fault);
        report.timing.total_ms = ms(started);
        return Ok(Proof {
            report,
            table: None,
        });
    }
    let built = AnswerTable::build(
        plugin.digest(),
        &catalogue.digest,
        description,
        &ids,
        &global.outcomes,
    );
    drop(global);
    let proven = match built {
        Ok(t) => t,
        Err(e) => {
            let index = match &e {
                TableError::Incomplete { index } => *index,
                _ => 0,
            };
            report.fault_count = 1;
            report.faults.push(FaultRecord {
                person: person_or_first(index),
                kind: "table".into(),
                message: e.to_string(),
            });
            report.timing.total_ms = ms(started);
            return Ok(Proof {
                report,
                table: None,
            });
        }
    };
    report.timing.first_pass_ms = ms(started);
    report.table = Some(TableInfo {
        digest: proven.digest().to_string(),
        bytes: proven.size(),
        outcomes: proven.outcomes().len(),
        cells: proven.cells(),
        classes: proven.class_counts(),
    });

    // The comparison with the baseline, over the table itself.
    let checking = Instant::now();
    // Every person's outcome id, read from the built table through the
    // lookup that serves it (point 1), once for the check and the second
    // pass's comparison.
    let first_ids: Vec<u16> = proven.ids_in_order();
    check_table(
        catalogue,
        &binding,
        &table,
        &proven,
        (&first_ids, &set_of),
        options,
        &mut report,
    );
    report.timing.check_ms = ms(checking);
    let second_started = Instant::now();

    // Second pass: another order, other batch sizes, several batches per
    // fresh instance; every person compared with the first table.
    let second_plan = Plan::shuffled(seed);
    report.determinism.batches = second_plan.batches();
    report.determinism.runs = second_plan.runs.len();
    let second = Pass {
        plan: &second_plan,
        fuel_before: first_fuel,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        ..first
    };
    let known: HashMap<&Outcome, u32, Keyed> = proven
        .outcomes()
        .iter()
        .enumerate()
        .map(|(i, o)| (o, i as u32))
        .collect();
    let mut second_ids = vec![u32::MAX; DOMAIN_SIZE];
    // Per run: the smallest differing person and its second outcome.
    let mut differing: Vec<RunDifference> = Vec::new();
    // The merge below runs under a lock, so it does only integer work per
    // person: it compares with the first table's ids read above.
    let (end, second_fuels) = run_pass(&second, threads, &mut |run_no, run: RunResult| {
        // The run's distinct outcomes, as ids of the first table.
        let as_known: Vec<Option<u32>> =
            run.outcomes.iter().map(|o| known.get(o).copied()).collect();
        let mut count = 0u64;
        let mut smallest: Option<usize> = None;
        let mut smallest_id = 0u32;
        for (person, id) in run.persons.iter().zip(&run.ids) {
            let index = *person as usize;
            let found = as_known.get(*id as usize).copied().flatten();
            if let (Some(slot), Some(k)) = (second_ids.get_mut(index), found) {
                *slot = k;
            }
            let same =
                found.is_some_and(|k| first_ids.get(index).is_some_and(|f| u32::from(*f) == k));
            if !same {
                count += 1;
                if smallest.is_none_or(|i| index < i) {
                    smallest = Some(index);
                    smallest_id = *id;
                }
            }
        }
        let smallest =
            smallest.and_then(|i| Some((i, run.outcomes.get(smallest_id as usize)?.clone())));
        differing.push((run_no, count, smallest));
        true
    });
    let upto = end.runs_counted(&second_plan);
    let second_cost = RunCost::total(&second_fuels[..upto]);
    report.fuel.second_pass = second_cost.fuel;
    report.fuel.retried_batches += second_cost.retried;
    report.fuel.split_batches += second_cost.split;
    // Only runs before the pass's first event count (module docs, point 5).
    let stopped_at = match &end {
        PassEnd::Complete => usize::MAX,
        PassEnd::Stopped(_, run) => *run,
    };
    let mut first_difference: Option<(usize, String)> = None;
    for (run, count, smallest) in differing {
        if run >= stopped_at {
            continue;
        }
        report.determinism.differing += count;
        if let Some((index, outcome)) = smallest
            && first_difference.as_ref().is_none_or(|(i, _)| index < *i)
        {
            first_difference = Some((index, outcome.to_string()));
        }
    }
    if let PassEnd::Stopped(fault, _) = &end {
        let index = fault.person.index();
        report.determinism.differing += 1;
        if first_difference.as_ref().is_none_or(|(i, _)| index < *i) {
            first_difference = Some((
                index,
                format!("fault ({}): {}", fault.kind, escape(&fault.message)),
            ));
        }
        if matches!(fault.kind.as_str(), "fuel-budget" | "wall-budget") {
            report.fault_count += 1;
            report.faults.push(fault.clone());
        }
    }
    let mut served = Some(proven);
    match first_difference {
        Some((index, second)) => {
            let person = person_or_first(index);
            report.determinism.mismatch = Some(Mismatch {
                person,
                first: served
                    .as_ref()
                    .map(|t| t.outcome(&person).to_string())
                    .unwrap_or_default(),
                second,
            });
            served = None;
        }
        None => {
            // Every person's second outcome is the first table's: the
            // table the second pass builds is the first one (the same ids
            // over the same dictionary make the same canonical encoding),
            // so its digest is the first's. Checked person by person.
            let same = second_ids.len() == first_ids.len()
                && second_ids
                    .iter()
                    .zip(&first_ids)
                    .all(|(s, f)| *s == u32::from(*f));
            match (&served, same) {
                (Some(t), true) => {
                    report.determinism.second_table = Some(t.digest().to_string());
                }
                _ => served = None,
            }
        }
    }
    report.timing.second_pass_ms = ms(second_started);
    report.passed = served.is_some()
        && report.failures.is_empty()
        && report.fault_count == 0
        && report.determinism.mismatch.is_none()
        && report.persons == DOMAIN_SIZE as u64;
    report.timing.total_ms = ms(started);
    Ok(Proof {
        report,
        table: served,
    })
}

/// Compares every person's outcome in `proven` with the baseline: the
/// failures (smallest persons first), the faults (refused outcomes) and
/// the changes.
/// Each distinct (baseline set, outcome) pair of a stretch of the domain:
/// its comparison with the baseline, made once, its persons counted and the
/// values of their fields gathered.
struct PairStat {
    key: (u32, u16),
    verdict: Verdict,
    persons: u64,
    masks: Masks,
}

/// What the check found in one stretch of the domain (persons in domain
/// order): per item the persons below the baseline and the smallest of
/// them, the refused outcomes and the first of them, and the pairs in order
/// of their first person.
struct Stretch {
    failures: Vec<ItemShortfalls>,
    fault_count: u64,
    faults: Vec<FaultRecord>,
    pairs: Vec<PairStat>,
}

/// The check of the persons `range` (module docs, point 1): every person's
/// outcome id and baseline set, read from the table in domain order.
fn check_stretch(
    catalogue: &Catalogue,
    baseline: &BaselineTable,
    proven: &AnswerTable,
    read: &[Result<ReadAnswer, String>],
    (ids, sets): (&[u16], &[u32]),
    range: Range<usize>,
    k: usize,
) -> Stretch {
    let mut out = Stretch {
        failures: vec![(0, Vec::new()); catalogue.items.len()],
        fault_count: 0,
        faults: Vec::new(),
        pairs: Vec::new(),
    };
    let mut pair_of: FastMap<(u32, u16), usize> = FastMap::default();
    let mut last: Option<((u32, u16), usize)> = None;
    // The digits of the person at `index`, advanced like an odometer.
    let mut digits = person_or_first(range.start).digits();
    let start = range.start;
    for index in range {
        if index > start {
            for d in (0..8).rev() {
                digits[d] += 1;
                if digits[d] < FIELD_VALUES[d] {
                    break;
                }
                digits[d] = 0;
            }
        }
        let (Some(&id), Some(&set)) = (ids.get(index), sets.get(index)) else {
            break;
        };
        let outcome = &proven.outcomes()[usize::from(id)];
        if let Some(kind) = outcome.fault_kind() {
            out.fault_count += 1;
            if out.faults.len() < k {
                let message = match outcome {
                    Outcome::GuestError(m) | Outcome::Malformed(m) => m.clone(),
                    Outcome::Lines(_) => String::new(),
                };
                out.faults.push(FaultRecord {
                    person: person_or_first(index),
                    kind: kind.into(),
                    message,
                });
            }
            continue;
        }
        let slot = match last {
            Some((key, slot)) if key == (set, id) => slot,
            _ => {
                let pairs = &mut out.pairs;
                let slot = *pair_of.entry((set, id)).or_insert_with(|| {
                    pairs.push(PairStat {
                        key: (set, id),
                        verdict: compare(
                            catalogue,
                            &baseline.sets()[set as usize],
                            &read[usize::from(id)],
                        ),
                        persons: 0,
                        masks: Masks::default(),
                    });
                    pairs.len() - 1
                });
                last = Some(((set, id), slot));
                slot
            }
        };
        let pair = &mut out.pairs[slot];
        if let Some(problem) = &pair.verdict.malformed {
            out.fault_count += 1;
            if out.faults.len() < k {
                out.faults.push(FaultRecord {
                    person: person_or_first(index),
                    kind: "malformed".into(),
                    message: problem.clone(),
                });
            }
            continue;
        }
        for (item, b, c, shortfall) in &pair.verdict.failures {
            let (count, smallest) = &mut out.failures[*item];
            *count += 1;
            if smallest.len() < k {
                smallest.push((index, *b, *c, *shortfall));
            }
        }
        pair.persons += 1;
        pair.masks.add_digits(&digits);
    }
    out
}

fn check_table(
    catalogue: &Catalogue,
    binding: &Binding,
    baseline: &BaselineTable,
    proven: &AnswerTable,
    (ids, sets): (&[u16], &[u32]),
    options: &Options,
    report: &mut Report,
) {
    let k = options.counterexamples;
    let read: Vec<Result<ReadAnswer, String>> = proven
        .outcomes()
        .iter()
        .map(|o| match o {
            Outcome::Lines(lines) => binding.read(lines).map_err(|e| e.to_string()),
            Outcome::GuestError(m) | Outcome::Malformed(m) => Err(m.clone()),
        })
        .collect();
    // The domain in stretches, one per thread, merged in domain order: so
    // the smallest persons, first examples and counts are those of one
    // pass over the domain in order, whatever the number of threads.
    let threads = options.threads.clamp(1, 8);
    let bounds: Vec<usize> = (0..=threads).map(|t| t * DOMAIN_SIZE / threads).collect();
    let stretches: Vec<Stretch> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (read, range) = (&read, w[0]..w[1]);
                scope.spawn(move || {
                    check_stretch(catalogue, baseline, proven, read, (ids, sets), range, k)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut failures: Vec<ItemShortfalls> = vec![(0, Vec::new()); catalogue.items.len()];
    let mut pairs: Vec<PairStat> = Vec::new();
    let mut pair_of: FastMap<(u32, u16), usize> = FastMap::default();
    for stretch in stretches {
        report.fault_count += stretch.fault_count;
        for fault in stretch.faults {
            if report.faults.len() < k {
                report.faults.push(fault);
            }
        }
        for (item, (count, smallest)) in stretch.failures.into_iter().enumerate() {
            let (total, kept) = &mut failures[item];
            *total += count;
            for below in smallest {
                if kept.len() < k {
                    kept.push(below);
                }
            }
        }
        for pair in stretch.pairs {
            match pair_of.get(&pair.key) {
                Some(&at) => {
                    pairs[at].persons += pair.persons;
                    pairs[at].masks.merge(&pair.masks);
                }
                None => {
                    pair_of.insert(pair.key, pairs.len());
                    pairs.push(pair);
                }
            }
        }
    }
    // The changes, gathered over the pairs in order of their first person
    // (so each change's example is its first person's).
    let mut changes: FastMap<(ChangeKind, usize), ChangeStat> = FastMap::default();
    for pair in &pairs {
        if pair.persons == 0 {
            continue;
        }
        for change in &pair.verdict.changes {
            let stat = changes
                .entry((change.kind, change.item))
                .or_insert(ChangeStat {
                    persons: 0,
                    delta: None,
                    example: (change.baseline, change.county),
                    masks: Masks::default(),
                });
            stat.persons += pair.persons;
            if let Some(d) = &change.delta {
                stat.delta = Some(match stat.delta {
                    None => (*d, *d),
                    Some((lo, hi)) => (lo.min(*d), hi.max(*d)),
                });
            }
            stat.masks.merge(&pair.masks);
        }
    }
    report.failures = failures
        .into_iter()
        .enumerate()
        .filter(|(_, (count, _))| *count > 0)
        .map(|(item, (count, smallest))| ItemFailure {
            item: catalogue.items[item].key.to_string(),
            name: catalogue.items[item].name.to_string(),
            persons: count,
            counterexamples: smallest
                .into_iter()
                .map(|(index, baseline, county, shortfall)| Counterexample {
                    person: person_or_first(index),
                    baseline,
                    county,
                    shortfall,
                })
                .collect(),
        })
        .collect();
    let description = proven.description();
    let mut keys: Vec<_> = changes.keys().copied().collect();
    keys.sort();
    for key in keys {
        let Some(stat) = changes.get(&key) else {
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
                catalogue.items[item].key.to_string(),
                catalogue.items[item].name.to_string(),
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
            ChangeKind::Raised => report.changes.raised.push(change),
            ChangeKind::Widened => report.changes.widened.push(change),
            ChangeKind::Extra => report.changes.extras.push(change),
        }
    }
}

/// Hashes what components return (their answers, as outcomes): one
/// multiply per word, keyed by a random number drawn once per process. A
/// component sees neither the key nor the time anything takes, so it cannot
/// search for answers that collide; SipHash, the standard map's, cost a
/// tenth of the proof here (each distinct answer of each batch is hashed
/// twice).
#[derive(Clone, Copy)]
struct Keyed(u64);

impl Default for Keyed {
    fn default() -> Keyed {
        static KEY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        Keyed(*KEY.get_or_init(|| {
            std::hash::BuildHasher::hash_one(&std::collections::hash_map::RandomState::new(), 0u8)
        }))
    }
}

impl std::hash::BuildHasher for Keyed {
    type Hasher = KeyedHasher;
    fn build_hasher(&self) -> KeyedHasher {
        KeyedHasher(self.0)
    }
}

struct KeyedHasher(u64);

impl KeyedHasher {
    #[inline]
    fn add(&mut self, v: u64) {
        let x = u128::from(self.0 ^ v) * 0x9e37_79b9_7f4a_7c15_u128;
        self.0 = (x as u64) ^ ((x >> 64) as u64);
    }
}

impl Hasher for KeyedHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let mut last = [0u8; 8];
        let rest = chunks.remainder();
        last[..rest.len()].copy_from_slice(rest);
        self.add(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
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
        let mut h = KeyedHasher(self.0);
        h.add(0x2545_f491_4f6c_dd1d);
        h.0
    }
}

/// Maps keyed by the host's own small numbers (the check's pairs, item
/// indices): the same cheap keyed hash.
type FastMap<K, V> = HashMap<K, V, Keyed>;

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
    /// Adds the person with these digits ([`Person::digits`]).
    #[inline]
    fn add_digits(&mut self, d: &[usize; 8]) {
        self.ages |= 1 << d[0];
        self.hukou |= 1 << d[1];
        self.ability |= 1 << d[2];
        self.assistance |= 1 << d[3];
        self.disability |= 1 << d[4];
        self.living |= 1 << d[5];
        self.fps |= 1 << d[6];
        self.veteran |= 1 << d[7];
    }

    fn merge(&mut self, other: &Masks) {
        self.ages |= other.ages;
        self.hukou |= other.hukou;
        self.ability |= other.ability;
        self.assistance |= other.assistance;
        self.disability |= other.disability;
        self.living |= other.living;
        self.fps |= other.fps;
        self.veteran |= other.veteran;
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
            escape(&s.county_name),
            escape(&s.county_code),
            s.baseline_name,
            s.baseline_code,
            s.baseline_edition,
            s.baseline_file
        )?;
        writeln!(f, "plugin {}", s.digest)?;
        writeln!(
            f,
            "{}: {} of {} persons materialised in {} ms on {} threads",
            if self.passed { "PASS" } else { "FAIL" },
            self.persons,
            self.domain,
            self.timing.total_ms,
            self.threads,
        )?;
        if let Some(t) = &self.table {
            writeln!(
                f,
                "answer table {} ({} bytes, {} distinct answers, {} cells)",
                t.digest, t.bytes, t.outcomes, t.cells
            )?;
        }
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
            writeln!(f, "\nFAULTS: {} persons; smallest:", self.fault_count)?;
            for fault in &self.faults {
                writeln!(
                    f,
                    "  {} [{}]: {}",
                    person_text(&fault.person),
                    fault.kind,
                    escape(&fault.message)
                )?;
            }
        }
        let d = &self.determinism;
        if let Some(m) = &d.mismatch {
            writeln!(
                f,
                "\nNONDETERMINISTIC: {} persons answered differently when asked in another order and other batches (seed {}); first:",
                d.differing, d.seed
            )?;
            writeln!(
                f,
                "  {}: first {}; then {}",
                person_text(&m.person),
                escape(&m.first),
                escape(&m.second)
            )?;
        } else if let Some(second) = &d.second_table {
            writeln!(
                f,
                "materialised again in another order ({} batches, {} fresh instances, seed {}): same table {}",
                d.batches, d.runs, d.seed, second
            )?;
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
                    escape(&c.item),
                    escape(&c.name),
                    c.persons,
                    describe_group(&c.group)
                )?;
            }
        }
        writeln!(
            f,
            "\nfuel: first pass {} ({} per person), second pass {}; budget {}, limit per person {}",
            self.fuel.first_pass,
            self.fuel.mean_per_person,
            self.fuel.second_pass,
            self.fuel.budget,
            self.fuel.limit_per_person
        )?;
        if self.fuel.retried_batches > 0 {
            writeln!(
                f,
                "{} batches ran out of fuel, memory or time after earlier batches in the same instance and were run again in a fresh one",
                self.fuel.retried_batches
            )?;
        }
        if self.fuel.split_batches > 0 {
            writeln!(
                f,
                "{} batches ran out of fuel, memory or time in a fresh instance and were taken in halves, each in a fresh instance",
                self.fuel.split_batches
            )?;
        }
        Ok(())
    }
}

//! The host server: the state behind the API (`crate::api`), the serving
//! snapshot, the upload pipeline and `qingdan serve` itself.
//!
//! # What runs is what was proven
//!
//! The request path never runs WebAssembly. An upload is validated,
//! compiled (in the compile worker) and proven in the background; the
//! proof's answer table is stored, content-addressed, with the verdict.
//! What evaluations read is the *serving snapshot*: for every county, its
//! activations and, for each version that was ever approved, its answer
//! tables paired with the baseline editions they were proven against
//! ([`Served`]). The snapshot is immutable and replaced whole per county
//! after a change is committed (`RwLock<Arc<…>>`, the lock held only to
//! clone the `Arc`), so a reader sees the old state or the new one, never
//! a mixture and never neither. Each snapshot also holds a plan per
//! county, derived from its catalogues and the county's serving state and
//! replaced with them, from which a request's decision (the baseline
//! edition in force, the version in force, its table) is read with one
//! lookup; anything a plan does not cover is read from the snapshot
//! directly, and a test holds the two readings equal.
//!
//! # Never an error instead of benefits
//!
//! Once a request names a county in the register and a person in the
//! domain, the answer is lines: no plugin in force, a suspended one, a
//! table missing for the baseline edition in force — each gives the
//! baseline lines with an incident (counted, logged and stored).

use crate::catalogue::{Catalogue, Library};
use crate::evaluate::{self, County, Evaluation, Fault, PluginRef, Served};
use crate::metrics::Metrics;
use crate::model::Person;
use crate::register::Register;
use crate::runtime::{Compiler, Limits, Runtime};
use crate::store::{Activation, ServableVersion, Store, Stored, Verdict};
use crate::table::AnswerTable;
use jiff::civil::Date;

mod editions;
pub use editions::{MAX_EDITION_BYTES, Publication, PublishError};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

/// The default address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8720";
/// The default data directory (the SQLite file, the compile cache).
pub const DEFAULT_DATA_DIR: &str = "qingdan-data";
/// How often a server looks for changes committed by other replicas (an
/// activation through one is in force on the others within this time).
pub const CHANGE_POLL: Duration = Duration::from_millis(200);
/// How long a verified token is trusted from memory before it is looked up
/// again (a revoked token stops working within this time).
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// How the server is set up.
#[derive(Clone, Debug)]
pub struct Config {
    /// The catalogue folder (with `register/`).
    pub catalogues: PathBuf,
    /// The data directory.
    pub data_dir: PathBuf,
    /// A database URL instead of the SQLite file in the data directory.
    pub database_url: Option<String>,
    /// The sandbox limits.
    pub limits: Limits,
    /// How components are compiled.
    pub compiler: Compiler,
    /// Threads for a proof (default: the machine's cores).
    pub proof_threads: Option<usize>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The catalogues or the register are invalid.
    #[error("catalogues in {dir}: {message}")]
    Catalogues {
        /// The folder.
        dir: String,
        /// What is wrong.
        message: String,
    },
    /// The database.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The runtime.
    #[error("runtime: {0}")]
    Runtime(String),
}

/// The catalogue editions and the register the server serves.
#[derive(Clone, Debug)]
pub struct Catalogues {
    /// Every edition.
    pub library: Library,
    /// The jurisdiction register.
    pub register: Register,
}

impl Catalogues {
    /// Reads a catalogue folder and its register, and checks them together.
    pub fn load(dir: &std::path::Path) -> Result<Catalogues, StartError> {
        let fail = |message: String| StartError::Catalogues {
            dir: dir.display().to_string(),
            message,
        };
        let library = Library::load_dir(dir).map_err(|e| fail(e.to_string()))?;
        let register = Register::of_catalogues(dir).map_err(|e| fail(e.to_string()))?;
        let problems = register.check_library(&library);
        if let Some(first) = problems.first() {
            return Err(fail(first.to_string()));
        }
        Ok(Catalogues { library, register })
    }

    /// These catalogues with the editions published through the server
    /// applied in publication order (each ends the edition in force before
    /// it; see [`Library::publish`]).
    pub fn with_published(
        &self,
        editions: &[crate::store::PublishedEdition],
    ) -> Result<Catalogues, StartError> {
        let mut library = self.library.clone();
        for e in editions {
            let fail = |message: String| StartError::Catalogues {
                dir: format!("published edition {} ({})", e.file_name, e.digest),
                message,
            };
            let c = Catalogue::parse(&e.text, std::path::Path::new(&e.file_name))
                .map_err(|x| fail(x.to_string()))?;
            library = library.publish(c, None).map_err(|x| fail(x.to_string()))?;
        }
        Ok(Catalogues {
            library,
            register: self.register.clone(),
        })
    }

    /// The edition with this digest.
    pub fn by_digest(&self, digest: &str) -> Option<&Catalogue> {
        self.library
            .catalogues()
            .iter()
            .find(|c| c.digest == digest)
    }
}

/// One version that has been approved, ready to serve.
#[derive(Clone, Debug)]
pub struct Servable {
    /// Version number.
    pub version: i64,
    /// Component digest.
    pub digest: String,
    /// Stored state (approved, suspended or rolled back).
    pub stored: Stored,
    /// County name the component gives.
    pub county_name: String,
    /// Its answer tables, by the digest of the baseline edition each was
    /// proven against.
    pub served: HashMap<String, Arc<Served>>,
}

/// What one county serves.
#[derive(Clone, Debug, Default)]
pub struct CountyServing {
    /// Activations, oldest first.
    pub activations: Vec<Activation>,
    /// Versions that were ever approved.
    pub versions: HashMap<i64, Arc<Servable>>,
}

/// Everything an evaluation reads: the catalogue editions (those of the
/// folder and those published through the server) and every county's
/// serving state, replaced together.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The editions and the register.
    pub catalogues: Arc<Catalogues>,
    /// By county code.
    pub counties: HashMap<String, Arc<CountyServing>>,
    /// What the request path reads of each county of the register that
    /// files plugins, by its code as a number: derived from the two above
    /// whenever either changes ([`Snapshot::new`], [`Snapshot::with_county`]).
    plans: HashMap<u32, Plan>,
}

/// What deciding a county's answer reads, found with one lookup by the
/// county's code ([`Snapshot::decide`]).
///
/// With thousands of counties in one host, each request's county is
/// rarely in the processor's caches, and the decision used to walk the
/// register (three lookups by code string), the library, the county's
/// activations (dates compared as strings) and its versions, each a miss;
/// `--bench counties` measured 0.5 µs for the decision and its answer key
/// with one county and 2.9 µs with 3,000. A plan holds the same facts side
/// by side: it is derived from the snapshot's catalogues and the county's
/// serving state and replaced with them, so it can never disagree with
/// them, and [`Snapshot::decide`] falls back to reading them directly for
/// anything a plan does not cover.
#[derive(Clone, Debug)]
struct Plan {
    /// The county's position in the register (its identity in answer keys).
    at: u32,
    /// Its parent's editions, in the order [`Library::in_force`] tries
    /// them.
    lists: Vec<PlannedList>,
    /// Its activations by (first day, row id), ascending: the last one not
    /// after a date is in force, as [`crate::store::in_force`] chooses.
    /// `None` when a stored day does not read as a date: then the
    /// activations are read as they are stored.
    schedule: Option<Vec<Planned>>,
}

/// One activation, as a plan holds it.
#[derive(Clone, Debug)]
struct Planned {
    from: Date,
    id: i64,
    /// The version it puts in force (`None` if it is not among the
    /// servable versions).
    servable: Option<Arc<Servable>>,
    /// The version's answer table under each of [`Plan`]'s lists.
    tables: Vec<Option<Arc<Served>>>,
}

/// One edition of a county's parent list, as a plan holds it.
#[derive(Clone, Copy, Debug)]
struct PlannedList {
    from: Date,
    to: Option<Date>,
    /// Position in [`Library::catalogues`].
    at: usize,
    /// The edition's digest as bytes.
    identity: [u8; 32],
}

impl Plan {
    /// The plan of `code` under `catalogues`, if the register has it as a
    /// county that files plugins.
    fn new(
        catalogues: &Catalogues,
        code: &str,
        serving: Option<Arc<CountyServing>>,
    ) -> Option<(u32, Plan)> {
        let register = &catalogues.register;
        let (entry, parent) = register.county(code).ok()?;
        let key = code_number(&entry.code)?;
        let at = u32::try_from(register.position(&entry.code)?).ok()?;
        let library = &catalogues.library;
        let lists: Vec<PlannedList> = library
            .positions(&parent.code)
            .iter()
            .filter_map(|at| {
                let c = library.catalogues().get(*at)?;
                Some(PlannedList {
                    from: c.effective_from,
                    to: c.effective_to,
                    at: *at,
                    identity: crate::table::digest_identity(&c.digest),
                })
            })
            .collect();
        let schedule = match &serving {
            None => Some(Vec::new()),
            Some(s) => {
                let planned = |a: &Activation| {
                    let servable = s.versions.get(&a.version).cloned();
                    let tables = lists
                        .iter()
                        .map(|l| {
                            let digest = &library.catalogues().get(l.at)?.digest;
                            servable.as_ref()?.served.get(digest).cloned()
                        })
                        .collect();
                    Some(Planned {
                        from: a.effective_from.parse::<Date>().ok()?,
                        id: a.id,
                        servable,
                        tables,
                    })
                };
                let mut days = s
                    .activations
                    .iter()
                    .map(planned)
                    .collect::<Option<Vec<_>>>();
                if let Some(days) = &mut days {
                    days.sort_unstable_by_key(|p| (p.from, p.id));
                }
                days
            }
        };
        Some((
            key,
            Plan {
                at,
                lists,
                schedule,
            },
        ))
    }
}

/// A register code (six digits) as a number, the key of [`Snapshot`]'s
/// plans.
fn code_number(code: &str) -> Option<u32> {
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

impl Snapshot {
    /// A snapshot of `catalogues` and `counties`, with every county's plan.
    pub fn new(catalogues: Arc<Catalogues>, counties: HashMap<String, Arc<CountyServing>>) -> Self {
        let plans = catalogues
            .register
            .entries()
            .iter()
            .filter_map(|e| Plan::new(&catalogues, &e.code, counties.get(&e.code).cloned()))
            .collect();
        Snapshot {
            catalogues,
            counties,
            plans,
        }
    }

    /// This snapshot with `county`'s serving state replaced.
    fn with_county(&self, county: &str, serving: CountyServing) -> Self {
        let serving = Arc::new(serving);
        let mut next = self.clone();
        next.counties
            .insert(county.to_string(), Arc::clone(&serving));
        if let Some((key, plan)) = Plan::new(&self.catalogues, county, Some(serving)) {
            next.plans.insert(key, plan);
        }
        next
    }

    fn plan(&self, county: &str) -> Option<&Plan> {
        self.plans.get(&code_number(county)?)
    }

    /// What serves `county` on `as_of`: the baseline edition in force, the
    /// version in force and its table. Read from the county's plan, or
    /// directly ([`Snapshot::decide_directly`]) for anything a plan does
    /// not cover, the errors among them (a county not in the register, not
    /// a county, with no list in force).
    pub fn decide(
        &self,
        county: &str,
        as_of: Date,
    ) -> Result<Decision<'_>, crate::register::BaselineError> {
        let catalogues = &self.catalogues;
        // The plan: one lookup for what follows.
        if let Some(plan) = self.plan(county)
            && let Some((l, list)) = plan
                .lists
                .iter()
                .enumerate()
                .find(|(_, l)| crate::catalogue::period_covers(l.from, l.to, as_of))
            && let Some(baseline) = catalogues.library.catalogues().get(list.at)
            && let Some(schedule) = &plan.schedule
        {
            let planned = schedule.iter().rev().find(|p| p.from <= as_of);
            return Ok(Decision {
                baseline,
                servable: planned.and_then(|p| p.servable.as_deref()),
                table: planned
                    .and_then(|p| p.tables.get(l))
                    .and_then(Option::as_deref),
                county_at: plan.at,
                baseline_identity: list.identity,
            });
        }
        self.decide_directly(county, as_of)
    }

    /// What serves `county` on `as_of`, read from the register, the
    /// library and the county's activations and versions as they are.
    fn decide_directly(
        &self,
        county: &str,
        as_of: Date,
    ) -> Result<Decision<'_>, crate::register::BaselineError> {
        let catalogues = &self.catalogues;
        let baseline = catalogues
            .register
            .baseline_for(&catalogues.library, county, as_of)?;
        let date = as_of.to_string();
        let servable = self
            .counties
            .get(county)
            .and_then(|s| {
                crate::store::in_force(&s.activations, &date)
                    .and_then(|a| s.versions.get(&a.version))
            })
            .map(Arc::as_ref);
        let county_at = catalogues
            .register
            .position(county)
            .and_then(|at| u32::try_from(at).ok())
            .unwrap_or(u32::MAX);
        Ok(Decision {
            baseline,
            servable,
            table: servable
                .and_then(|s| s.served.get(&baseline.digest))
                .map(Arc::as_ref),
            county_at,
            baseline_identity: crate::table::digest_identity(&baseline.digest),
        })
    }
}

/// A fallback to the baseline, as shown in a response.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Incident {
    /// `no-plugin`, `suspended`, `no-table`, `table`, …
    pub kind: String,
    /// What happened.
    pub message: String,
}

/// Population runs served at once over HTTP: a name list holds its file in
/// memory (up to [`crate::api::MAX_POPULATION_BYTES`]); an impact is
/// counted as it arrives and holds a few pieces of
/// [`crate::population::COUNT_PIECE_BYTES`].
pub const POPULATION_RUNS: usize = 2;

/// Answer tables read from the database in one query when a snapshot is
/// built (a start-up reads every table in force).
pub const TABLE_BATCH: usize = 64;

/// Bytes of served answer bodies kept in memory (64 MiB).
pub const ANSWER_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Memory of one cached answer beyond its texts, as the cache counts it:
/// an allowance for the map's slot (which holds the key), the `Arc` and
/// the record, and the allocator's headers of its allocations (an
/// estimate; with the cache full, `--bench counties` still measures about
/// 1.75× its bytes in RSS, the allocator's per-thread arenas keeping what
/// it frees).
const ANSWER_ENTRY_OVERHEAD: usize = 256;

/// What one cached answer holds in memory, as the cache counts it against
/// [`ANSWER_CACHE_BYTES`], under a key of type `K`.
fn answer_size<K>(answer: &CachedAnswer) -> usize {
    let incident = answer
        .incident
        .as_ref()
        .map_or(0, |i| i.kind.len() + i.message.len());
    std::mem::size_of::<K>()
        + answer.body.len()
        + answer.version_label.len()
        + incident
        + ANSWER_ENTRY_OVERHEAD
}

/// What serves one county on one date, read from one snapshot.
#[derive(Clone, Copy, Debug)]
pub struct Decision<'a> {
    /// The baseline edition in force.
    pub baseline: &'a Catalogue,
    /// The version in force, if any.
    pub servable: Option<&'a Servable>,
    /// The version's answer table proven against the baseline, if it has
    /// one.
    pub table: Option<&'a Served>,
    /// The county's position in the register.
    county_at: u32,
    /// The baseline's digest as bytes.
    baseline_identity: [u8; 32],
}

/// The key of a served answer: everything the answer is a function of —
/// county, date, person, baseline edition, version, its state and its
/// table — in a fixed size, so that a lookup hashes and compares a few
/// dozen bytes where a formatted key took an allocation and 190 bytes.
/// Digests are held as their 32 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    county: u32,
    person: u32,
    as_of: Date,
    baseline: [u8; 32],
    version: Option<(i64, Stored)>,
    table: Option<[u8; 32]>,
}

impl Decision<'_> {
    /// The key of `person`'s answer on `as_of` under this decision.
    pub fn key(&self, person: &Person, as_of: Date) -> AnswerKey {
        AnswerKey {
            county: self.county_at,
            // The domain has 1,171,200 persons.
            person: u32::try_from(person.index()).unwrap_or(u32::MAX),
            as_of,
            baseline: self.baseline_identity,
            version: self.servable.map(|s| (s.version, s.stored)),
            table: self.table.map(Served::identity),
        }
    }
}

/// A served answer, kept: the response body and what the counters need.
#[derive(Clone, Debug)]
pub struct CachedAnswer {
    /// The JSON body.
    pub body: axum::body::Bytes,
    /// The version that answered.
    pub version: Option<i64>,
    /// Its label in the counters (the number, or [`crate::metrics::NO_VERSION`]).
    pub version_label: String,
    /// Lines the guard refused.
    pub clamps: usize,
    /// The fallback, if any.
    pub incident: Option<Incident>,
}

/// The served answer bodies, in two generations of at most half of
/// [`ANSWER_CACHE_BYTES`] each. New bodies go to the current generation;
/// when it is full it becomes the previous one and the previous one is
/// dropped. A body found in the previous generation moves to the current
/// one, so an answer asked for again and again survives every turn, where
/// a cache emptied whole when full lost it among one-off answers (a sweep
/// over a population, say) and computed it again: the clock's second
/// chance, kept cheap enough for a lookup under one lock.
#[derive(Debug)]
struct AnswerCache<K = AnswerKey> {
    current: Generation<K>,
    previous: Generation<K>,
    /// Bytes of the current generation, as [`answer_size`] counts them.
    bytes: usize,
    /// Bytes of the previous generation.
    previous_bytes: usize,
}

/// One generation of the answer cache: bodies by key.
type Generation<K> = HashMap<K, Arc<CachedAnswer>>;

impl<K> Default for AnswerCache<K> {
    fn default() -> Self {
        AnswerCache {
            current: HashMap::new(),
            previous: HashMap::new(),
            bytes: 0,
            previous_bytes: 0,
        }
    }
}

/// What one generation of the answer cache holds at most.
const ANSWER_GENERATION_BYTES: usize = ANSWER_CACHE_BYTES / 2;

impl<K: std::hash::Hash + Eq> AnswerCache<K> {
    /// The body kept under `key`. One found in the previous generation
    /// moves to the current one; the generation it replaces, if that move
    /// filled the current one, is returned to be dropped outside the lock.
    fn get<Q>(&mut self, key: &Q) -> (Option<Arc<CachedAnswer>>, Option<Generation<K>>)
    where
        K: std::borrow::Borrow<Q>,
        Q: std::hash::Hash + Eq + ?Sized,
    {
        if let Some(found) = self.current.get(key) {
            return (Some(Arc::clone(found)), None);
        }
        let Some((key, found)) = self.previous.remove_entry(key) else {
            return (None, None);
        };
        let size = answer_size::<K>(&found);
        self.previous_bytes = self.previous_bytes.saturating_sub(size);
        let dropped = self.keep(key, Arc::clone(&found), size);
        (Some(found), dropped)
    }

    /// Keeps a body of `size` bytes; returns the generation dropped to make
    /// room, if any.
    /// An answer larger than a generation is not kept (and turns nothing
    /// out).
    fn keep(&mut self, key: K, answer: Arc<CachedAnswer>, size: usize) -> Option<Generation<K>> {
        if size > ANSWER_GENERATION_BYTES {
            return None;
        }
        let mut dropped = None;
        if self.bytes + size > ANSWER_GENERATION_BYTES {
            dropped = Some(std::mem::replace(
                &mut self.previous,
                std::mem::take(&mut self.current),
            ));
            self.previous_bytes = self.bytes;
            self.bytes = 0;
        }
        // The same answer kept twice (two requests that missed at once) is
        // counted once.
        let replaced = self.current.get(&key).map(|old| answer_size::<K>(old));
        self.bytes = self.bytes + size - replaced.unwrap_or(0);
        self.current.insert(key, answer);
        dropped
    }

    /// Bytes held in both generations.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes + self.previous_bytes
    }
}

/// An evaluation with the version that served it and any incident.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The evaluation (baseline, plugin, lines, clamps, fault).
    pub evaluation: Evaluation,
    /// The plugin version that answered, if any.
    pub version: Option<i64>,
    /// The fallback, if the baseline alone answered.
    pub incident: Option<Incident>,
}

/// The server's state, shared by every request.
pub struct App {
    /// The database.
    pub store: Store,
    /// The catalogue folder's editions and register (published editions
    /// are applied over them; see [`App::catalogues`]).
    files: Arc<Catalogues>,
    /// The runtime for uploads.
    pub runtime: Arc<Runtime>,
    /// Counters.
    pub metrics: Metrics,
    /// Threads per proof.
    pub proof_threads: usize,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Every answer table in memory, by digest, held by whatever serves it
    /// (the snapshot, a page being rendered): one copy however many
    /// versions, counties and snapshots share it, and none once nothing
    /// holds it.
    tables: Mutex<HashMap<String, Weak<AnswerTable>>>,
    tokens: Mutex<HashMap<String, (crate::store::Token, Instant)>>,
    proofs: tokio::sync::Semaphore,
    /// Population runs at once over HTTP ([`POPULATION_RUNS`]).
    pub populations: tokio::sync::Semaphore,
    /// The impact runs of this process, followed through the API.
    pub runs: crate::api::Runs,
    incidents: tokio::sync::mpsc::Sender<(String, Option<i64>, Incident)>,
    progress: Mutex<HashMap<(String, i64), String>>,
    answers: Mutex<AnswerCache>,
    /// Held while the snapshot is rebuilt from the database, so that two
    /// rebuilds (a county's and a publication's) never interleave.
    refresh: tokio::sync::Mutex<()>,
    /// Wakes the re-proof worker.
    reproof_wake: tokio::sync::Notify,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.store.backend())
            .finish_non_exhaustive()
    }
}

/// Today in China (UTC+8).
pub fn today() -> Date {
    jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}

impl App {
    /// Opens the database, reads the catalogues, starts the runtime, builds
    /// the serving snapshot and resumes any proof a stop interrupted.
    pub async fn start(config: Config) -> Result<Arc<App>, StartError> {
        let files = Arc::new(Catalogues::load(&config.catalogues)?);
        let store = match &config.database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_dir(&config.data_dir).await?,
        };
        let catalogues = Arc::new(files.with_published(&store.editions().await?)?);
        // Compiled artefacts are cached per process, on disk in the data
        // directory (never in the database: they are specific to this
        // build of the engine).
        let runtime = Runtime::new(config.limits.clone(), config.compiler.clone())
            .map_err(|e| StartError::Runtime(e.to_string()))?
            .with_cache_dir(config.data_dir.join("compiled"));
        let (incidents, mut receiver) = tokio::sync::mpsc::channel(1024);
        let app = Arc::new(App {
            store,
            files,
            runtime: Arc::new(runtime),
            metrics: Metrics::default(),
            proof_threads: config.proof_threads.unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1)
            }),
            snapshot: RwLock::new(Arc::new(Snapshot::new(catalogues, HashMap::new()))),
            tables: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            proofs: tokio::sync::Semaphore::new(1),
            populations: tokio::sync::Semaphore::new(POPULATION_RUNS),
            runs: crate::api::Runs::default(),
            incidents,
            progress: Mutex::new(HashMap::new()),
            answers: Mutex::new(AnswerCache::default()),
            refresh: tokio::sync::Mutex::new(()),
            reproof_wake: tokio::sync::Notify::new(),
        });
        app.refresh_all().await?;
        // Incidents are stored off the request path; a burst beyond the
        // channel's room is still counted and logged, only not stored.
        let writer = Arc::clone(&app);
        tokio::spawn(async move {
            while let Some((county, version, incident)) = receiver.recv().await {
                if let Err(e) = writer
                    .store
                    .incident(&county, version, &incident.kind, &incident.message)
                    .await
                {
                    tracing::warn!(error = %e, "storing an incident");
                }
            }
        });
        // Other replicas on the same database: every change of state
        // appends an audit record, so the audit head is the change counter.
        let watcher = Arc::clone(&app);
        let mut seen = app.store.audit_head().await?;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CHANGE_POLL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match watcher.follow_changes(seen).await {
                    Ok(head) => seen = head,
                    Err(e) => tracing::warn!(error = %e, "following the database's changes"),
                }
            }
        });
        for v in app.store.validating().await? {
            tracing::info!(county = %v.county, version = v.version, "resuming the proof of an upload a stop interrupted");
            app.spawn_proof(v.county.clone(), v.version, v.digest.clone());
        }
        // Re-proofs a stop interrupted, and any a version in force still
        // needs (an edition it has no table for).
        app.spawn_reproof_worker();
        app.ensure_reproofs().await?;
        Ok(app)
    }

    /// The catalogue editions in force now (the folder's and the
    /// published ones) and the register.
    pub fn catalogues(&self) -> Arc<Catalogues> {
        Arc::clone(&self.snapshot().catalogues)
    }

    /// The jurisdiction register (it never changes while serving).
    pub fn register(&self) -> &Register {
        &self.files.register
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace_county(&self, county: &str, serving: CountyServing) {
        let mut guard = match self.snapshot.write() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let next = guard.with_county(county, serving);
        *guard = Arc::new(next);
    }

    /// An answer table by digest: from memory, else from the database
    /// (its digest and canonical form checked).
    pub async fn table(&self, digest: &str) -> Result<Option<Arc<AnswerTable>>, String> {
        if let Some(t) = self.table_in_memory(digest) {
            return Ok(Some(t));
        }
        let Some(bytes) = self
            .store
            .table_bytes(digest)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(None);
        };
        let table = Arc::new(AnswerTable::decode(&bytes, Some(digest)).map_err(|e| e.to_string())?);
        Ok(Some(self.keep_table(table)))
    }

    fn table_in_memory(&self, digest: &str) -> Option<Arc<AnswerTable>> {
        self.tables
            .lock()
            .ok()
            .and_then(|m| m.get(digest).and_then(Weak::upgrade))
    }

    /// Keeps a decoded table in the table memory; the copy already there,
    /// if another caller was first.
    fn keep_table(&self, table: Arc<AnswerTable>) -> Arc<AnswerTable> {
        let Ok(mut m) = self.tables.lock() else {
            return table;
        };
        if let Some(there) = m.get(table.digest()).and_then(Weak::upgrade) {
            return there;
        }
        m.insert(table.digest().to_string(), Arc::downgrade(&table));
        table
    }

    /// Reads the tables `digests` from the database, [`TABLE_BATCH`] a
    /// query, and decodes them (digest and canonical form checked) on the
    /// blocking threads, as many batches at once as the machine has cores.
    /// A table that is missing or does not decode is left out here; it is
    /// logged when the version that needs it is built.
    async fn load_tables(
        &self,
        digests: &[String],
    ) -> Result<Vec<Arc<AnswerTable>>, crate::store::StoreError> {
        let at_once = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut decoding = std::collections::VecDeque::new();
        let mut loaded = Vec::with_capacity(digests.len());
        let mut collect = |decoded: Result<Vec<AnswerTable>, tokio::task::JoinError>| match decoded
        {
            Ok(tables) => loaded.extend(tables.into_iter().map(|t| self.keep_table(Arc::new(t)))),
            Err(e) => tracing::error!(error = %e, "decoding answer tables"),
        };
        for batch in digests.chunks(TABLE_BATCH) {
            let rows = self.store.tables_bytes(batch).await?;
            decoding.push_back(tokio::task::spawn_blocking(move || {
                rows.into_iter()
                    .filter_map(|(digest, bytes)| AnswerTable::decode(&bytes, Some(&digest)).ok())
                    .collect::<Vec<_>>()
            }));
            if decoding.len() >= at_once
                && let Some(first) = decoding.pop_front()
            {
                collect(first.await);
            }
        }
        while let Some(next) = decoding.pop_front() {
            collect(next.await);
        }
        Ok(loaded)
    }

    /// Rebuilds every county's serving state from the database.
    pub async fn refresh_all(&self) -> Result<(), crate::store::StoreError> {
        let _guard = self.refresh.lock().await;
        self.rebuild(self.catalogues()).await
    }

    /// Rebuilds the catalogues (a publication, here or on another replica)
    /// and then every county's serving state.
    pub async fn reload_catalogues(&self) -> Result<(), crate::store::StoreError> {
        let _guard = self.refresh.lock().await;
        let editions = self.store.editions().await?;
        let catalogues = self
            .files
            .with_published(&editions)
            .map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
        self.rebuild(Arc::new(catalogues)).await
    }

    /// Builds a whole snapshot under `catalogues` (the refresh lock held):
    /// three queries for the versions, the activations and the index of
    /// tables, then the tables not in memory yet, in batches
    /// ([`App::load_tables`]).
    async fn rebuild(&self, catalogues: Arc<Catalogues>) -> Result<(), crate::store::StoreError> {
        let versions = self.store.servable().await?;
        let activations = self.store.all_activations().await?;
        let mut tables: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for (digest, plugin, baseline) in self.store.table_index().await? {
            tables.entry(plugin).or_default().push((digest, baseline));
        }
        let missing: Vec<String> = versions
            .iter()
            .filter_map(|v| tables.get(&v.digest))
            .flatten()
            .filter(|(digest, baseline)| {
                catalogues.by_digest(baseline).is_some() && self.table_in_memory(digest).is_none()
            })
            .map(|(digest, _)| digest.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        // Held until the snapshot holds them.
        let _loaded = self.load_tables(&missing).await?;
        let mut counties: HashMap<String, CountyServing> = HashMap::new();
        for a in activations {
            counties
                .entry(a.county.clone())
                .or_default()
                .activations
                .push(a);
        }
        for v in versions {
            let rows = tables.get(&v.digest).map_or(&[][..], Vec::as_slice);
            let servable = self.servable(&catalogues, &v, rows).await;
            counties
                .entry(v.county.clone())
                .or_default()
                .versions
                .insert(v.version, Arc::new(servable));
        }
        let snapshot = Snapshot::new(
            catalogues,
            counties
                .into_iter()
                .map(|(k, v)| (k, Arc::new(v)))
                .collect(),
        );
        match self.snapshot.write() {
            Ok(mut g) => *g = Arc::new(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(snapshot),
        }
        self.forget_unused_tables();
        Ok(())
    }

    /// Drops the names of tables nothing holds any more.
    fn forget_unused_tables(&self) {
        if let Ok(mut m) = self.tables.lock() {
            m.retain(|_, t| t.strong_count() > 0);
        }
    }

    /// Refreshes the counties changed since audit record `seen` (by this
    /// process or another replica); returns the new head.
    pub async fn follow_changes(&self, seen: i64) -> Result<i64, crate::store::StoreError> {
        let head = self.store.audit_head().await?;
        if head == seen {
            return Ok(head);
        }
        if self.store.published_since(seen).await? {
            self.reload_catalogues().await?;
            return Ok(head);
        }
        let counties = self.store.counties_changed_since(seen).await?;
        for county in counties {
            self.refresh_county(&county).await?;
        }
        Ok(head)
    }

    /// Rebuilds one county's serving state after a committed change.
    pub async fn refresh_county(&self, county: &str) -> Result<(), crate::store::StoreError> {
        let _guard = self.refresh.lock().await;
        let catalogues = self.catalogues();
        let activations = self.store.activations(county).await?;
        let mut serving = CountyServing {
            activations,
            versions: HashMap::new(),
        };
        for v in self.store.versions(county).await? {
            if matches!(
                v.stored,
                Stored::Approved | Stored::Suspended | Stored::RolledBack
            ) {
                let rows = self.store.tables_of(&v.digest).await?;
                let servable = self
                    .servable(&catalogues, &ServableVersion::from(&v), &rows)
                    .await;
                serving.versions.insert(v.version, Arc::new(servable));
            }
        }
        self.replace_county(county, serving);
        self.forget_unused_tables();
        Ok(())
    }

    /// A version's answer tables under the editions they were proven
    /// against: the upload's and every re-proof's, `tables` as (table
    /// digest, edition digest) (a table whose edition is no longer in the
    /// catalogues is left out, and logged).
    async fn servable(
        &self,
        catalogues: &Catalogues,
        v: &ServableVersion,
        tables: &[(String, String)],
    ) -> Servable {
        let mut served = HashMap::new();
        for (digest, baseline) in tables {
            let Some(catalogue) = catalogues.by_digest(baseline) else {
                tracing::warn!(county = %v.county, version = v.version, %baseline, "the edition this table was proven against is no longer in the catalogues");
                continue;
            };
            match self.table(digest).await {
                Ok(Some(table)) => match Served::new(table, catalogue) {
                    Ok(s) => {
                        served.insert(baseline.clone(), Arc::new(s));
                    }
                    Err(e) => {
                        tracing::error!(county = %v.county, version = v.version, error = %e, "answer table does not fit its edition")
                    }
                },
                Ok(None) => {
                    tracing::error!(county = %v.county, version = v.version, "answer table missing from the database")
                }
                Err(e) => {
                    tracing::error!(county = %v.county, version = v.version, error = %e, "answer table unreadable")
                }
            }
        }
        Servable {
            version: v.version,
            digest: v.digest.clone(),
            stored: v.stored,
            county_name: v.county_name.clone().unwrap_or_default(),
            served,
        }
    }

    /// Evaluates one person for a county on a date, as production serves
    /// it. `Err` only for a county that has no baseline (not in the
    /// register, not a county, no list in force): there is nothing to
    /// serve.
    pub fn evaluate(
        &self,
        county: &str,
        person: &Person,
        as_of: Date,
    ) -> Result<Answer, crate::register::BaselineError> {
        let snapshot = self.snapshot();
        let decision = snapshot.decide(county, as_of)?;
        Ok(self.answer(&decision, county, person, as_of))
    }

    /// The answer under a decision (see [`Snapshot::decide`]).
    pub fn answer(
        &self,
        decision: &Decision<'_>,
        county: &str,
        person: &Person,
        as_of: Date,
    ) -> Answer {
        let baseline = decision.baseline;
        let Some(servable) = decision.servable else {
            let evaluation = evaluate::evaluate(baseline, County::None, person, as_of);
            return Answer {
                evaluation,
                version: None,
                incident: Some(Incident {
                    kind: "no-plugin".into(),
                    message: format!(
                        "no plugin version of {county} is in force on {as_of}: the baseline alone applies"
                    ),
                }),
            };
        };
        let fault = if servable.stored == Stored::Suspended {
            Fault {
                kind: "suspended".into(),
                message: format!(
                    "version {} is suspended: the baseline is served until a version is approved or the county is rolled back",
                    servable.version
                ),
            }
        } else if let Some(served) = decision.table {
            let evaluation = evaluate::evaluate(baseline, County::Table(served), person, as_of);
            // A table proven against this edition never gives less; one
            // re-proven against a newer edition may, and then the guard
            // raises the lines to the edition until a fixed version is
            // filed: each such answer is an incident.
            let incident = (!evaluation.clamps.is_empty()).then(|| {
                let items: Vec<&str> = evaluation.clamps.iter().map(|c| c.item.as_str()).collect();
                Incident {
                    kind: "below-floor".into(),
                    message: crate::text::cap(
                        &format!(
                            "version {} gives less than {} on {}: the guard raised them to the baseline",
                            servable.version,
                            baseline.label(),
                            items.join(", ")
                        ),
                        1024,
                    )
                    .into_owned(),
                }
            });
            if let Some(incident) = &incident {
                self.record_incident(county, Some(servable.version), incident);
            }
            return Answer {
                evaluation,
                version: Some(servable.version),
                incident,
            };
        } else {
            Fault {
                kind: "no-table".into(),
                message: format!(
                    "version {} has no answer table proven against {} (the edition in force on {as_of}): the baseline is served until it is proven against it",
                    servable.version,
                    baseline.label()
                ),
            }
        };
        let incident = Incident {
            kind: fault.kind.clone(),
            message: fault.message.clone(),
        };
        let plugin = PluginRef {
            digest: servable.digest.clone(),
            county_code: county.to_string(),
            county_name: servable.county_name.clone(),
            table: None,
        };
        let evaluation = evaluate::evaluate(
            baseline,
            County::Unavailable(&plugin, &fault),
            person,
            as_of,
        );
        self.record_incident(county, Some(servable.version), &incident);
        Answer {
            evaluation,
            version: Some(servable.version),
            incident: Some(incident),
        }
    }

    /// A served answer body from the answer cache.
    pub fn cached_answer(&self, key: &AnswerKey) -> Option<Arc<CachedAnswer>> {
        let (found, dropped) = match self.answers.lock() {
            Ok(mut c) => c.get(key),
            Err(_) => (None, None),
        };
        // A generation turned out is freed after the lock is released.
        drop(dropped);
        found
    }

    /// Keeps a served answer body (see [`AnswerCache`]: at most
    /// [`ANSWER_CACHE_BYTES`] in all).
    pub fn keep_answer(&self, key: AnswerKey, answer: Arc<CachedAnswer>) {
        let size = answer_size::<AnswerKey>(&answer);
        let dropped = match self.answers.lock() {
            Ok(mut c) => c.keep(key, answer, size),
            Err(_) => None,
        };
        drop(dropped);
    }

    /// Runs `f` with the population context of a county on a date: its
    /// baseline in force and the answer table in force (the baseline alone
    /// when none serves).
    pub fn with_population<T>(
        &self,
        county: &str,
        as_of: Date,
        f: impl FnOnce(&crate::population::Context<'_>) -> Result<T, crate::api::ApiError>,
    ) -> Result<T, crate::api::ApiError> {
        let snapshot = self.snapshot();
        let decision = snapshot
            .decide(county, as_of)
            .map_err(crate::api::no_baseline)?;
        // A suspended or rolled-back version serves the baseline alone.
        let served = decision
            .servable
            .filter(|v| v.stored == Stored::Approved)
            .and(decision.table);
        let ctx = crate::population::Context::new(decision.baseline, served, as_of);
        f(&ctx)
    }

    /// Stores an incident off the request path (dropped, but logged, when
    /// the writer is behind).
    pub fn record_incident(&self, county: &str, version: Option<i64>, incident: &Incident) {
        tracing::warn!(county, ?version, kind = %incident.kind, "served the baseline: {}", incident.message);
        let _ = self
            .incidents
            .try_send((county.to_string(), version, incident.clone()));
    }

    /// A verified token by its secret, from a short-lived memory cache or
    /// the database.
    pub async fn token(
        &self,
        secret: &str,
    ) -> Result<Option<crate::store::Token>, crate::store::StoreError> {
        let hash = crate::store::secret_hash(secret);
        if let Some((token, at)) = self.tokens.lock().ok().and_then(|m| m.get(&hash).cloned())
            && at.elapsed() < TOKEN_CACHE_TTL
        {
            return Ok(Some(token));
        }
        let token = self.store.token_by_secret(secret).await?;
        if let (Some(token), Ok(mut m)) = (&token, self.tokens.lock()) {
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(hash, (token.clone(), Instant::now()));
        }
        Ok(token)
    }

    /// The progress of a version being validated, from this process.
    pub fn progress_of(&self, county: &str, version: i64) -> Option<String> {
        self.progress
            .lock()
            .ok()
            .and_then(|m| m.get(&(county.to_string(), version)).cloned())
    }

    fn set_progress(&self, county: &str, version: i64, text: String) {
        if let Ok(mut m) = self.progress.lock() {
            m.insert((county.to_string(), version), text);
        }
    }

    fn clear_progress(&self, county: &str, version: i64) {
        if let Ok(mut m) = self.progress.lock() {
            m.remove(&(county.to_string(), version));
        }
    }

    /// Starts validating, compiling and proving an uploaded version in the
    /// background; one proof runs at a time (each uses every core).
    pub fn spawn_proof(self: &Arc<Self>, county: String, version: i64, digest: String) {
        let app = Arc::clone(self);
        self.set_progress(&county, version, "queued".into());
        tokio::spawn(async move {
            let Ok(_permit) = app.proofs.acquire().await else {
                return;
            };
            let started = Instant::now();
            let verdict = app.prove_upload(&county, version, &digest).await;
            let result = verdict.status.key();
            app.metrics.proof(&county, result, started.elapsed());
            tracing::info!(%county, version, result, ms = verdict.ms, "verdict");
            if let Err(e) = app.store.finish(&county, version, &verdict).await {
                tracing::error!(%county, version, error = %e, "storing a verdict");
            }
            app.clear_progress(&county, version);
        });
    }

    async fn prove_upload(self: &Arc<Self>, county: &str, version: i64, digest: &str) -> Verdict {
        let started = Instant::now();
        let rejected = rejection;
        let bytes = match self.store.component(digest).await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return rejected("the component's bytes are missing".into(), started),
            Err(e) => return rejected(format!("reading the component: {e}"), started),
        };
        self.set_progress(county, version, "validating and compiling".into());
        let _ = self
            .store
            .set_progress(county, version, "validating and compiling")
            .await;
        let app = Arc::clone(self);
        let county_owned = county.to_string();
        let (tx, mut rx) = tokio::sync::watch::channel(0usize);
        let forward = {
            let app = Arc::clone(self);
            let county = county.to_string();
            tokio::spawn(async move {
                let mut last = usize::MAX;
                while rx.changed().await.is_ok() {
                    let percent = *rx.borrow_and_update();
                    let text = format!("proving over every person, twice: {percent}%");
                    app.set_progress(&county, version, text.clone());
                    if percent / 10 != last / 10 {
                        last = percent;
                        let _ = app.store.set_progress(&county, version, &text).await;
                    }
                }
            })
        };
        let outcome =
            tokio::task::spawn_blocking(move || prove_blocking(&app, &county_owned, &bytes, &tx))
                .await;
        forward.abort();
        let mut verdict = match outcome {
            Ok(v) => v,
            Err(e) => rejected(format!("the proof stopped: {e}"), started),
        };
        verdict.ms = started.elapsed().as_millis() as i64;
        verdict
    }
}

/// The verdict on a component refused before or instead of a proof.
fn rejection(error: String, started: Instant) -> Verdict {
    Verdict {
        status: Stored::Rejected,
        county_name: None,
        baseline: None,
        table: None,
        report: None,
        error: Some(error),
        ms: started.elapsed().as_millis() as i64,
    }
}

/// Validation, compilation and proof of one component for one county, on a
/// blocking thread.
fn prove_blocking(
    app: &App,
    county: &str,
    bytes: &[u8],
    progress: &tokio::sync::watch::Sender<usize>,
) -> Verdict {
    let started = Instant::now();
    let rejected = |error: String| rejection(error, started);
    let plugin = match app.runtime.load(bytes) {
        Ok(p) => p,
        Err(e) => return rejected(format!("invalid component: {e}")),
    };
    let d = plugin.description();
    if d.county_code != county {
        return rejected(format!(
            "the component describes itself as the plugin of {}, but was uploaded for {}",
            app.files.register.label(&d.county_code),
            app.files.register.label(county)
        ));
    }
    let catalogues = app.catalogues();
    let register = &catalogues.register;
    if let Err(e) = register.check_named_baseline(county, &d.baseline) {
        return rejected(e.to_string());
    }
    let baseline = match register.baseline_for(&catalogues.library, county, today()) {
        Ok(c) => c,
        Err(e) => return rejected(e.to_string()),
    };
    let proof = match run_proof(app, &plugin, baseline, progress) {
        Ok(p) => p,
        Err(e) => return rejected(e),
    };
    let report_json = serde_json::to_value(&proof.report).ok();
    let passed = proof.report.passed && proof.table.is_some();
    Verdict {
        status: if passed {
            Stored::PendingReview
        } else {
            Stored::Rejected
        },
        county_name: Some(d.county_name.clone()),
        baseline: Some((baseline.label(), baseline.digest.clone())),
        table: proof.table,
        report: report_json,
        error: if passed {
            None
        } else {
            Some("the proof failed: see the report".into())
        },
        ms: started.elapsed().as_millis() as i64,
    }
}

/// The full-domain proof of a loaded component against an edition, with
/// the server's budgets and threads; progress in percent.
pub(crate) fn run_proof(
    app: &App,
    plugin: &crate::runtime::Plugin,
    baseline: &Catalogue,
    progress: &tokio::sync::watch::Sender<usize>,
) -> Result<crate::verify::Proof, String> {
    let options = crate::verify::Options {
        fuel_per_person: app.runtime.limits().fuel_per_evaluation,
        threads: app.proof_threads.max(1),
        ..crate::verify::Options::default()
    };
    let report = |done: usize, total: usize| {
        let percent = done * 100 / total.max(1);
        progress.send_if_modified(|p| {
            if *p == percent {
                false
            } else {
                *p = percent;
                true
            }
        });
    };
    crate::verify::verify(plugin, baseline, &options, &report).map_err(|e| e.to_string())
}

/// Runs the server until Ctrl-C or SIGTERM; finishes the requests in
/// flight before returning.
pub async fn serve(app: Arc<App>, listener: tokio::net::TcpListener) -> std::io::Result<()> {
    let router = crate::api::router(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(bytes: usize) -> Arc<CachedAnswer> {
        Arc::new(CachedAnswer {
            body: vec![b'x'; bytes].into(),
            version: Some(1),
            version_label: "1".into(),
            clamps: 0,
            incident: None,
        })
    }

    fn keep(c: &mut AnswerCache<String>, key: &str, bytes: usize) {
        let a = answer(bytes);
        let size = answer_size::<String>(&a);
        let _ = c.keep(key.to_string(), a, size);
    }

    /// What a decision comes to, comparable.
    type Seen = Result<(String, Option<(i64, Stored)>, AnswerKey), crate::register::BaselineError>;

    fn seen(d: Result<Decision<'_>, crate::register::BaselineError>, as_of: Date) -> Seen {
        let person = crate::model::Person::from_index(12_345).expect("a person of the domain");
        d.map(|d| {
            (
                d.baseline.digest.clone(),
                d.servable.map(|s| (s.version, s.stored)),
                d.key(&person, as_of),
            )
        })
    }

    fn servable(version: i64, stored: Stored) -> Arc<Servable> {
        Arc::new(Servable {
            version,
            digest: format!("sha256:{version:064x}"),
            stored,
            county_name: "县".into(),
            served: HashMap::new(),
        })
    }

    fn activation(id: i64, county: &str, version: i64, from: &str) -> Activation {
        Activation {
            id,
            county: county.into(),
            version,
            effective_from: from.into(),
            cause: "approval".into(),
            actor: "test".into(),
            at: String::new(),
        }
    }

    /// A county's plan decides exactly as reading the register, the
    /// library and the activations directly does: for every entry of the
    /// register and codes that are not in it, on the days around every
    /// edition's and every activation's first and last day, with several
    /// activations on one day (the later row wins), rows out of order,
    /// activations of versions that cannot serve, and a day that does not
    /// read as a date.
    #[test]
    fn a_plan_decides_as_reading_directly_does() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../catalogues");
        let catalogues = Arc::new(Catalogues::load(&dir).expect("the catalogue folder loads"));
        let codes: Vec<String> = catalogues
            .register
            .entries()
            .iter()
            .map(|e| e.code.clone())
            .chain(["999999", "33028", "3302820", "abcdef", ""].map(String::from))
            .collect();
        let mut counties = HashMap::new();
        let mut days: Vec<Date> = Vec::new();
        for c in catalogues.library.catalogues() {
            days.push(c.effective_from);
            days.extend(c.effective_to);
        }
        for (n, code) in codes.iter().enumerate() {
            let versions: HashMap<i64, Arc<Servable>> = [
                (1, servable(1, Stored::Approved)),
                (2, servable(2, Stored::Suspended)),
                (3, servable(3, Stored::RolledBack)),
            ]
            .into_iter()
            .collect();
            let activations = match n % 4 {
                0 => Vec::new(),
                1 => vec![
                    activation(7, code, 1, "2023-06-01"),
                    activation(3, code, 2, "2024-01-01"),
                    activation(9, code, 3, "2024-01-01"),
                    activation(4, code, 9, "2024-07-15"),
                ],
                2 => vec![
                    activation(11, code, 2, "2020-02-29"),
                    activation(10, code, 1, "2026-12-07"),
                ],
                _ => vec![
                    activation(1, code, 1, "2024-03-01"),
                    activation(2, code, 2, "not a day"),
                ],
            };
            for a in &activations {
                days.extend(a.effective_from.parse::<Date>().ok());
            }
            counties.insert(
                code.clone(),
                Arc::new(CountyServing {
                    activations,
                    versions,
                }),
            );
        }
        let around: Vec<Date> = days
            .iter()
            .flat_map(|d| [d.yesterday().ok(), Some(*d), d.tomorrow().ok()])
            .flatten()
            .collect();
        let snapshot = Snapshot::new(Arc::clone(&catalogues), counties);
        assert!(snapshot.plans.len() > 1, "the register has counties");
        let mut decided = 0;
        for code in &codes {
            for day in &around {
                let planned = seen(snapshot.decide(code, *day), *day);
                let direct = seen(snapshot.decide_directly(code, *day), *day);
                assert_eq!(planned, direct, "{code} on {day}");
                decided += usize::from(planned.is_ok());
            }
        }
        assert!(decided > 100, "only {decided} decisions found a list");
        // Replacing a county replaces its plan.
        let code = codes
            .iter()
            .find(|c| snapshot.plan(c).is_some())
            .expect("a county with a plan")
            .as_str();
        let next = snapshot.with_county(
            code,
            CountyServing {
                activations: vec![activation(20, code, 3, "2000-01-01")],
                versions: [(3, servable(3, Stored::RolledBack))].into_iter().collect(),
            },
        );
        for day in &around {
            assert_eq!(
                seen(next.decide(code, *day), *day),
                seen(next.decide_directly(code, *day), *day)
            );
        }
    }

    #[test]
    fn an_answer_asked_for_again_survives_a_sweep_of_one_off_answers() {
        let mut c = AnswerCache::<String>::default();
        keep(&mut c, "hot", 4_000);
        // Ten times the cache's bytes of answers asked for once, the hot
        // one asked for between them.
        for i in 0..(10 * ANSWER_CACHE_BYTES / 4_000) {
            keep(&mut c, &format!("sweep {i}"), 4_000);
            if i % 1_000 == 0 {
                assert!(c.get("hot").0.is_some(), "lost after {i} one-off answers");
            }
            assert!(c.bytes() <= ANSWER_CACHE_BYTES, "{} bytes kept", c.bytes());
        }
        assert!(c.get("hot").0.is_some());
        // A one-off answer from long ago is gone.
        assert!(c.get("sweep 0").0.is_none());
        assert!(c.current.len() + c.previous.len() > 1_000);
    }

    #[test]
    fn the_bytes_counted_are_the_bytes_kept() {
        let mut c = AnswerCache::<String>::default();
        keep(&mut c, "a", 100);
        keep(&mut c, "a", 100);
        keep(&mut c, "b", 200);
        let counted = |c: &AnswerCache<String>| {
            let sum = |m: &HashMap<String, Arc<CachedAnswer>>| {
                m.values().map(|a| answer_size::<String>(a)).sum::<usize>()
            };
            (c.bytes, c.previous_bytes) == (sum(&c.current), sum(&c.previous))
        };
        assert!(counted(&c));
        for i in 0..(ANSWER_GENERATION_BYTES / 5_000 + 10) {
            keep(&mut c, &format!("{i}"), 5_000);
        }
        assert!(counted(&c));
        // "a" and "b" went to the previous generation at the turn; one
        // found there moves back and is counted where it now is.
        assert!(c.get("a").0.is_some());
        assert!(c.current.contains_key("a") && !c.previous.contains_key("a"));
        assert!(counted(&c));
        // An answer larger than a generation is not kept.
        keep(&mut c, "huge", ANSWER_GENERATION_BYTES);
        assert!(c.get("huge").0.is_none());
        assert!(counted(&c));
    }
}

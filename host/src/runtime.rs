//! The WebAssembly runtime that runs county components (DESIGN §2.3–2.4, §4,
//! §6), shared by the command line, the verifier and the server so that a
//! county's local check and production can never drift.
//!
//! # Layout
//!
//! - this file: [`Runtime`] (one per process: the engine, the linkers, the
//!   deadline ticker, the compile caches), [`Plugin`] (a validated, compiled
//!   component), [`Session`] (one instance reused for batches), and the call
//!   path: a fresh store per call, fuel, epoch deadline, memory limiter, and
//!   the mapping of traps to [`CallError`].
//! - `limits`: [`Limits`] and the documented defaults.
//! - `error`: [`LoadError`], [`CallError`], [`RuntimeError`].
//! - `validate`: checks before anything runs (header, imports, exports) and
//!   on everything a plugin returns (description, answers).
//! - `wasi`: the deterministic, capability-free WASI for guests that import it.
//! - `cache`: the on-disk cache of compiled artefacts.
//! - `wit`: one module of generated bindings per contract version.
//!
//! # Example
//!
//! ```
//! use qingdan::runtime::{LoadError, Limits, Runtime};
//!
//! let runtime = Runtime::new(Limits { max_instances: 4, ..Limits::default() })?;
//! // A core module is refused before anything runs.
//! let err = runtime.load(b"(module)").unwrap_err();
//! assert!(matches!(err, LoadError::CoreModule));
//! # Ok::<(), qingdan::runtime::RuntimeError>(())
//! ```

mod cache;
mod error;
mod limits;
mod validate;
mod wasi;
mod wit;

pub use error::{CallError, LoadError, RuntimeError};
pub use limits::*;
pub use wasi::{
    CLOCK_STEP_NANOS, FIXED_WALL_CLOCK_SECONDS, RANDOM_SEED, WASI_INTERFACES, is_provided_wasi,
};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};

use crate::model::{Category, ItemCode, Line, Person};
use wit::latest as bindings;

/// How often the epoch advances: 10 ms. Deadlines are counted in ticks, so a
/// deadline is honoured to within one tick; a shorter tick costs a thread
/// wake-up more often for no benefit at these deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Core instances one component may contain. Toolchains split a component
/// into several core instances (the program, shims, adapters); 32 covers
/// every toolchain seen so far with room to spare.
pub const CORE_INSTANCES_PER_COMPONENT: u32 = 32;
/// Linear memories one component may contain (the program's, and one for an
/// adapter).
pub const MEMORIES_PER_COMPONENT: u32 = 2;
/// Tables one component may contain (indirect calls of the program, shims).
pub const TABLES_PER_COMPONENT: u32 = 8;

/// A baseline item a plugin refers to by code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaselineItem {
    /// The code the plugin uses for it on the hot path (below [`crate::model::HOST_CODES_FROM`]).
    pub code: ItemCode,
    /// The catalogue key, e.g. `old-age-allowance`.
    pub key: String,
}

/// An item a county adds beyond the baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExtraItem {
    /// The code the plugin uses for it.
    pub code: ItemCode,
    /// Stable key, lower-case words joined by `-`.
    pub key: String,
    /// Chinese name as published in the county list.
    pub name: String,
    /// Category of the national list.
    pub category: Category,
    /// The document that gives the item its force.
    pub legal_basis: String,
}

/// What a plugin says about itself (validated at load).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Description {
    /// GB/T 2260 code of the county, six digits.
    pub county_code: String,
    /// Name of the county.
    pub county_name: String,
    /// GB/T 2260 code of the list the county must not fall below.
    pub baseline: String,
    /// Baseline items the plugin names, with their codes.
    pub baseline_items: Vec<BaselineItem>,
    /// Items the county adds.
    pub extra_items: Vec<ExtraItem>,
}

/// Where a plugin's compiled code came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadSource {
    /// Compiled from the component now.
    Compiled,
    /// Loaded from the on-disk cache of precompiled artefacts.
    DiskCache,
    /// Already loaded by this runtime.
    MemoryCache,
}

/// One person's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The plugin's lines (validated, not yet merged with the baseline).
    pub lines: Vec<Line>,
    /// Fuel the call used (deterministic for a given plugin and input).
    pub fuel: u64,
    /// What the guest wrote to stdout/stderr (WASI guests only).
    pub log: String,
}

/// The outcome of one call with everything observed, success or not.
#[derive(Clone, Debug)]
pub struct Traced {
    /// The answer's lines, or why there is none.
    pub result: Result<Vec<Line>, CallError>,
    /// Fuel the call used.
    pub fuel: u64,
    /// What the guest wrote to stdout/stderr (WASI guests only).
    pub log: String,
    /// Wall-clock time of the call, instantiation included.
    pub elapsed: Duration,
}

/// The validated answers to a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchAnswers {
    /// Distinct answers.
    pub answers: Vec<Vec<Line>>,
    /// For each person in order, the index of their answer in `answers`
    /// (meaningless for persons listed in `errors`).
    pub outcomes: Vec<u32>,
    /// Persons (by index in the batch) the plugin could not evaluate, with its reason.
    pub errors: Vec<(u32, String)>,
    /// Fuel the call used.
    pub fuel: u64,
}

/// The pieces every plugin shares with the runtime: the engine and the
/// ticker that drives its deadlines. The ticker stops when the last holder
/// (runtime or plugin) is dropped.
struct Core {
    engine: Engine,
    limits: Limits,
    _ticker: Ticker,
}

struct Ticker {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn start(engine: Engine) -> Result<Ticker, RuntimeError> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("qingdan-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(EPOCH_TICK) {
                    engine.increment_epoch();
                }
            })
            .map_err(|e| RuntimeError::Ticker(e.to_string()))?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Dropping the sender wakes the thread at once.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The runtime: one per process. Cheap to share behind an `Arc` (it is
/// `Send + Sync`); plugins it loads stay usable after it is dropped.
pub struct Runtime {
    core: Arc<Core>,
    /// For components that import nothing.
    plain: Linker<StoreData>,
    /// For components that import WASI.
    wasi: Linker<StoreData>,
    loaded: Mutex<HashMap<String, Plugin>>,
    cache_dir: Option<PathBuf>,
}

impl Runtime {
    /// Sets up the engine (fuel, epoch interruption, pooling allocator sized
    /// by `limits`, wasm stack cap), the linkers and the deadline ticker.
    pub fn new(limits: Limits) -> Result<Runtime, RuntimeError> {
        let n = limits.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(limits.max_memory_bytes);
        let mut config = Config::new();
        config
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool))
            .consume_fuel(true)
            .epoch_interruption(true)
            .max_wasm_stack(limits.max_stack_bytes);
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let plain = Linker::new(&engine);
        let mut wasi = Linker::new(&engine);
        wasi::add_to_linker(&mut wasi).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let ticker = Ticker::start(engine.clone())?;
        Ok(Runtime {
            core: Arc::new(Core {
                engine,
                limits,
                _ticker: ticker,
            }),
            plain,
            wasi,
            loaded: Mutex::new(HashMap::new()),
            cache_dir: None,
        })
    }

    /// Keeps precompiled artefacts in `dir`, keyed by the component's sha256
    /// and the engine's compatibility hash, so that a restart loads a plugin
    /// in about a tenth of a millisecond instead of compiling it again. The
    /// directory must be private to this host.
    pub fn with_cache_dir(mut self, dir: PathBuf) -> Self {
        self.cache_dir = Some(dir);
        self
    }

    /// The limits the runtime enforces.
    pub fn limits(&self) -> &Limits {
        &self.core.limits
    }

    /// Reads and loads a component file (see [`Runtime::load`]).
    pub fn load_file(&self, path: &Path) -> Result<Plugin, LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        self.load(&bytes)
    }

    /// Validates a component, compiles it (or takes it from a cache), and
    /// calls `describe` once in a fresh instance. Nothing of the component
    /// runs before its size, header, imports and exports are checked.
    pub fn load(&self, bytes: &[u8]) -> Result<Plugin, LoadError> {
        let limits = &self.core.limits;
        if bytes.len() > limits.max_component_bytes {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                limit: limits.max_component_bytes,
            });
        }
        validate::header(bytes)?;
        let hex = hex::encode(Sha256::digest(bytes));
        let digest = format!("sha256:{hex}");
        if let Some(plugin) = self.cached(&digest) {
            return Ok(plugin);
        }

        let engine = &self.core.engine;
        let started = Instant::now();
        let from_disk = self
            .cache_dir
            .as_deref()
            .and_then(|dir| cache::load(dir, engine, &hex));
        let (component, source) = match from_disk {
            Some(component) => (component, LoadSource::DiskCache),
            None => {
                let component = Component::new(engine, bytes).map_err(|e| LoadError::Invalid {
                    message: format!("{e:#}"),
                })?;
                (component, LoadSource::Compiled)
            }
        };
        let compile_time = started.elapsed();

        let imports_wasi = validate::imports(engine, &component)?;
        let exports = validate::exports(engine, &component)?;
        let linker = if imports_wasi {
            &self.wasi
        } else {
            &self.plain
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| link_error(&component, engine, e))?;
        let pre = bindings::CountyListPre::new(pre).map_err(|e| LoadError::WrongWorld {
            expected: bindings::COUNTY_EXPORT.to_string(),
            problem: format!("{e:#}"),
            exports: Vec::new(),
        })?;

        let mut plugin = Plugin {
            inner: Arc::new(PluginInner {
                core: self.core.clone(),
                pre,
                digest: digest.clone(),
                imports_wasi,
                description: placeholder_description(),
                codes: None,
                load_log: String::new(),
            }),
            source,
            compile_time,
        };
        let (description, load_log) = plugin.describe().map_err(|e| match e {
            LoadError::WrongWorld {
                expected, problem, ..
            } => LoadError::WrongWorld {
                expected,
                problem,
                exports,
            },
            other => other,
        })?;
        let codes = validate::Codes::new(&description);
        // Nothing holds a clone of the plugin yet (describe ran in an
        // instance of its own), so this always succeeds.
        if let Some(inner) = Arc::get_mut(&mut plugin.inner) {
            inner.description = description;
            inner.codes = Some(codes);
            inner.load_log = load_log;
        }
        // Only a component that passed every check goes to the disk cache.
        if source == LoadSource::Compiled
            && let Some(dir) = &self.cache_dir
        {
            // A cache that cannot be written only costs a compile next time.
            let _ = cache::store(dir, engine, &hex, &component);
        }
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(digest, plugin.clone());
        }
        Ok(plugin)
    }

    fn cached(&self, digest: &str) -> Option<Plugin> {
        let loaded = self.loaded.lock().ok()?;
        let plugin = loaded.get(digest)?;
        Some(Plugin {
            inner: plugin.inner.clone(),
            source: LoadSource::MemoryCache,
            compile_time: Duration::ZERO,
        })
    }
}

/// Turns a linking failure into the most useful error: an import the
/// linker lacks (typically a WASI version the host does not provide) is a
/// forbidden import, named.
fn link_error(component: &Component, engine: &Engine, e: wasmtime::Error) -> LoadError {
    let message = format!("{e:#}");
    let names: Vec<String> = component
        .component_type()
        .imports(engine)
        .map(|(name, _)| name.to_string())
        .filter(|name| message.contains(&format!("`{name}`")))
        .collect();
    if names.is_empty() {
        LoadError::Link(message)
    } else {
        LoadError::ForbiddenImport { names }
    }
}

fn placeholder_description() -> Description {
    Description {
        county_code: String::new(),
        county_name: String::new(),
        baseline: String::new(),
        baseline_items: Vec::new(),
        extra_items: Vec::new(),
    }
}

struct PluginInner {
    core: Arc<Core>,
    pre: bindings::CountyListPre<StoreData>,
    digest: String,
    imports_wasi: bool,
    description: Description,
    /// `None` only while `describe` runs at load.
    codes: Option<validate::Codes>,
    load_log: String,
}

/// A validated, compiled county component. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
    source: LoadSource,
    compile_time: Duration,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin")
            .field("digest", &self.inner.digest)
            .field("county", &self.inner.description.county_code)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl Plugin {
    /// The sha256 of the component bytes, as `sha256:<hex>`.
    pub fn digest(&self) -> &str {
        &self.inner.digest
    }

    /// The validated description.
    pub fn description(&self) -> &Description {
        &self.inner.description
    }

    /// Whether the component imports WASI (and so runs with the sandboxed WASI).
    pub fn imports_wasi(&self) -> bool {
        self.inner.imports_wasi
    }

    /// Time spent compiling (or deserializing) the component at load; zero
    /// when it came from the runtime's memory cache.
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }

    /// Where the compiled code came from.
    pub fn load_source(&self) -> LoadSource {
        self.source
    }

    /// What the guest wrote to stdout/stderr during `describe` at load.
    pub fn load_log(&self) -> &str {
        &self.inner.load_log
    }

    /// The limits the plugin runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.core.limits
    }

    /// Evaluates one person in a fresh instance, so nothing leaks from one
    /// elder's evaluation into the next.
    pub fn evaluate(&self, person: &Person, baseline: &[Line]) -> Result<Answer, CallError> {
        let traced = self.evaluate_traced(person, baseline);
        traced.result.map(|lines| Answer {
            lines,
            fuel: traced.fuel,
            log: traced.log,
        })
    }

    /// Like [`Plugin::evaluate`], but keeps the fuel, log and time of a
    /// failed call too (for `qingdan check` and incident records).
    pub fn evaluate_traced(&self, person: &Person, baseline: &[Line]) -> Traced {
        let started = Instant::now();
        let mut instance = match self.instantiate() {
            Ok(instance) => instance,
            Err(e) => {
                return Traced {
                    result: Err(e),
                    fuel: 0,
                    log: String::new(),
                    elapsed: started.elapsed(),
                };
            }
        };
        let who = bindings::person(person);
        let lines: Vec<_> = baseline.iter().map(bindings::line_to_wit).collect();
        let (result, fuel) =
            instance.call(1, |county, store| county.call_evaluate(store, who, &lines));
        let limits = &self.inner.core.limits;
        let result = result.and_then(|answer| match answer {
            Ok(lines) => self.check_answer("lines", &lines),
            Err(message) => Err(CallError::Guest {
                message: validate::capped(message, limits),
            }),
        });
        Traced {
            result,
            fuel,
            log: instance.log(),
            elapsed: started.elapsed(),
        }
    }

    /// Starts a session: one instance reused for many batch calls.
    pub fn session(&self) -> Result<Session, CallError> {
        Ok(Session {
            plugin: self.clone(),
            instance: self.instantiate()?,
            calls: 0,
            poisoned: None,
        })
    }

    fn check_answer(
        &self,
        field: &str,
        lines: &[bindings::wit::Line],
    ) -> Result<Vec<Line>, CallError> {
        match &self.inner.codes {
            Some(codes) => validate::answer(field, lines, codes, &self.inner.core.limits),
            None => Err(CallError::malformed(field, "the plugin is not loaded yet")),
        }
    }

    fn describe(&self) -> Result<(Description, String), LoadError> {
        let mut instance = self.instantiate_checked().map_err(|e| match e {
            Instantiation::Call(e) => LoadError::DescribeFailed(e),
            Instantiation::Types(problem) => LoadError::WrongWorld {
                expected: bindings::COUNTY_EXPORT.to_string(),
                problem,
                exports: Vec::new(),
            },
        })?;
        let (result, _fuel) = instance.call(1, |county, store| county.call_describe(store));
        let raw = result.map_err(LoadError::DescribeFailed)?;
        let description = validate::description(raw, &self.inner.core.limits)?;
        Ok((description, instance.log()))
    }

    /// A fresh store and instance.
    fn instantiate(&self) -> Result<Instance, CallError> {
        self.instantiate_checked().map_err(|e| match e {
            Instantiation::Call(e) => e,
            Instantiation::Types(message) => CallError::Instantiate(message),
        })
    }

    /// A fresh store and instance; a failure to bind the exports with the
    /// contract's types is told apart (at load it means the wrong world).
    fn instantiate_checked(&self) -> Result<Instance, Instantiation> {
        let core = &self.inner.core;
        let mut store = Store::new(&core.engine, StoreData::new(&core.limits));
        store.limiter(|data| &mut data.limiter);
        // The instance's start-up code (if any) runs under a budget too.
        let fuel = core.limits.fuel_for(1);
        let started = Instant::now();
        arm(&mut store, fuel, core.limits.deadline);
        let instance = match self.inner.pre.instance_pre().instantiate(&mut store) {
            Ok(instance) => instance,
            Err(e) => {
                return Err(Instantiation::Call(
                    match classify(&e, store.data(), fuel, started, &core.limits) {
                        CallError::Trap { kind, .. } if kind == "host" => {
                            CallError::Instantiate(format!("{e:#}"))
                        }
                        other => other,
                    },
                ));
            }
        };
        let bindings = bindings::CountyList::new(&mut store, &instance)
            .map_err(|e| Instantiation::Types(format!("{e:#}")))?;
        Ok(Instance {
            store,
            bindings,
            limits: core.limits.clone(),
        })
    }
}

enum Instantiation {
    Call(CallError),
    Types(String),
}

/// Sets the fuel and the epoch deadline of the next call.
fn arm(store: &mut Store<StoreData>, fuel: u64, deadline: Duration) {
    // set_fuel only fails when fuel is disabled, which it never is here.
    let _ = store.set_fuel(fuel);
    let tick = EPOCH_TICK.as_nanos().max(1);
    let ticks = deadline.as_nanos().div_ceil(tick);
    // +1: the tick in progress may be about to end.
    store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX).saturating_add(1));
}

/// Maps a failed call to a [`CallError`]. A memory or log cap that was hit
/// explains a later generic trap (Rust aborts on allocation failure, and
/// panics when stdout fails).
fn classify(
    e: &wasmtime::Error,
    data: &StoreData,
    fuel: u64,
    started: Instant,
    limits: &Limits,
) -> CallError {
    let trap = e.downcast_ref::<Trap>();
    match trap {
        Some(Trap::OutOfFuel) => CallError::OutOfFuel { limit: fuel },
        Some(Trap::Interrupt) => CallError::Interrupted {
            after: started.elapsed(),
        },
        Some(Trap::StackOverflow) => CallError::StackOverflow,
        _ if data.limiter.hit => CallError::MemoryLimit {
            limit_bytes: limits.max_memory_bytes,
        },
        _ if data.wasi.as_ref().is_some_and(|w| w.log_full()) => CallError::LogLimit {
            limit_bytes: limits.max_log_bytes,
        },
        Some(trap) => CallError::Trap {
            kind: trap_kind(*trap),
            message: validate::capped(format!("{e:#}"), limits),
        },
        None => CallError::Trap {
            kind: "host".into(),
            message: validate::capped(format!("{e:#}"), limits),
        },
    }
}

fn trap_kind(trap: Trap) -> String {
    match trap {
        Trap::UnreachableCodeReached => "unreachable".into(),
        Trap::MemoryOutOfBounds => "memory-out-of-bounds".into(),
        Trap::IntegerDivisionByZero => "integer-division-by-zero".into(),
        Trap::IntegerOverflow => "integer-overflow".into(),
        Trap::IndirectCallToNull => "indirect-call-to-null".into(),
        Trap::BadSignature => "bad-signature".into(),
        Trap::TableOutOfBounds => "table-out-of-bounds".into(),
        Trap::BadConversionToInteger => "bad-conversion-to-integer".into(),
        other => format!("{other:?}"),
    }
}

/// One store and instance of a plugin.
struct Instance {
    store: Store<StoreData>,
    bindings: bindings::CountyList,
    limits: Limits,
}

impl Instance {
    /// Calls into the county interface with fuel and a deadline for
    /// `persons` persons; returns the result and the fuel used.
    fn call<R>(
        &mut self,
        persons: usize,
        f: impl FnOnce(&bindings::Guest, &mut Store<StoreData>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, u64) {
        let fuel = self.limits.fuel_for(persons);
        arm(&mut self.store, fuel, self.limits.deadline_for(persons));
        let started = Instant::now();
        let result = f(self.bindings.qingdan_county_county(), &mut self.store);
        let used = fuel.saturating_sub(self.store.get_fuel().unwrap_or(0));
        let result =
            result.map_err(|e| classify(&e, self.store.data(), fuel, started, &self.limits));
        (result, used)
    }

    fn log(&self) -> String {
        self.store
            .data()
            .wasi
            .as_ref()
            .map(|w| w.log())
            .unwrap_or_default()
    }
}

/// One instance reused for many batch calls (the verifier, population runs).
/// A session whose instance trapped is poisoned: every later call fails.
pub struct Session {
    plugin: Plugin,
    instance: Instance,
    calls: u64,
    poisoned: Option<CallError>,
}

impl Session {
    /// Evaluates a batch. `baselines` are the distinct baseline line-sets,
    /// `persons` pairs each person with the index of theirs (indices must be
    /// in range: they come from the host).
    pub fn evaluate_batch(
        &mut self,
        baselines: &[Vec<Line>],
        persons: &[(Person, u32)],
    ) -> Result<BatchAnswers, CallError> {
        if let Some(e) = &self.poisoned {
            return Err(CallError::Poisoned(e.to_string()));
        }
        self.calls += 1;
        let work = bindings::wit::Batch {
            baselines: baselines
                .iter()
                .map(|lines| lines.iter().map(bindings::line_to_wit).collect())
                .collect(),
            persons: persons
                .iter()
                .map(|(p, b)| (bindings::person(p), *b))
                .collect(),
        };
        let (result, fuel) = self.instance.call(persons.len(), |county, store| {
            county.call_evaluate_batch(store, &work)
        });
        match result {
            Ok(raw) => self.check_batch(raw, persons.len(), fuel),
            Err(e) => {
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    fn check_batch(
        &self,
        raw: bindings::wit::BatchAnswers,
        persons: usize,
        fuel: u64,
    ) -> Result<BatchAnswers, CallError> {
        let limits = &self.plugin.inner.core.limits;
        if raw.outcomes.len() != persons {
            return Err(CallError::malformed(
                "outcomes",
                format!("{} outcomes for {persons} persons", raw.outcomes.len()),
            ));
        }
        if raw.answers.len() > persons.max(1) {
            return Err(CallError::malformed(
                "answers",
                format!(
                    "{} distinct answers for {persons} persons",
                    raw.answers.len()
                ),
            ));
        }
        let mut failed = vec![false; persons];
        let mut errors = Vec::with_capacity(raw.errors.len());
        for (i, (person, message)) in raw.errors.into_iter().enumerate() {
            match failed.get_mut(person as usize) {
                Some(slot) if !*slot => *slot = true,
                Some(_) => {
                    return Err(CallError::malformed(
                        format!("errors[{i}]"),
                        format!("person {person} is listed twice"),
                    ));
                }
                None => {
                    return Err(CallError::malformed(
                        format!("errors[{i}]"),
                        format!("person index {person} is out of range (batch of {persons})"),
                    ));
                }
            }
            errors.push((person, validate::capped(message, limits)));
        }
        for (i, outcome) in raw.outcomes.iter().enumerate() {
            if !failed[i] && *outcome as usize >= raw.answers.len() {
                return Err(CallError::malformed(
                    format!("outcomes[{i}]"),
                    format!(
                        "answer index {outcome} is out of range ({} answers)",
                        raw.answers.len()
                    ),
                ));
            }
        }
        let answers = raw
            .answers
            .iter()
            .enumerate()
            .map(|(i, lines)| self.plugin.check_answer(&format!("answers[{i}]"), lines))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BatchAnswers {
            answers,
            outcomes: raw.outcomes,
            errors,
            fuel,
        })
    }

    /// Batch calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// What the guest wrote to stdout/stderr in this session so far.
    pub fn log(&self) -> String {
        self.instance.log()
    }

    /// The plugin the session runs.
    pub fn plugin(&self) -> &Plugin {
        &self.plugin
    }
}

/// The data of one store: the memory limiter, and the WASI state for guests
/// that import WASI (created on first use).
struct StoreData {
    limiter: MemoryLimiter,
    wasi: Option<wasi::WasiState>,
    table: ResourceTable,
    max_log_bytes: usize,
}

impl StoreData {
    fn new(limits: &Limits) -> StoreData {
        StoreData {
            limiter: MemoryLimiter {
                max_bytes: limits.max_memory_bytes,
                hit: false,
            },
            wasi: None,
            table: ResourceTable::new(),
            max_log_bytes: limits.max_log_bytes,
        }
    }
}

impl wasmtime_wasi::WasiView for StoreData {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        let max = self.max_log_bytes;
        let state = self.wasi.get_or_insert_with(|| wasi::WasiState::new(max));
        wasmtime_wasi::WasiCtxView {
            ctx: &mut state.ctx,
            table: &mut self.table,
        }
    }
}

impl wasi::HasWasi for StoreData {
    fn wasi_state(&mut self) -> (&mut wasi::WasiState, &mut ResourceTable) {
        let max = self.max_log_bytes;
        let state = self.wasi.get_or_insert_with(|| wasi::WasiState::new(max));
        (state, &mut self.table)
    }
}

/// Caps linear memory and remembers that the cap was hit, so that the trap
/// that usually follows (a Rust guest aborts when allocation fails) is
/// reported as [`CallError::MemoryLimit`].
struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            Ok(false)
        } else {
            Ok(true)
        }
    }

    fn table_growing(
        &mut self,
        _current: usize,
        _desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // The pooling allocator caps table size already.
        Ok(true)
    }
}

#[cfg(test)]
mod tests;

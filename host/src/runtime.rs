//! The WebAssembly runtime that runs county components (DESIGN §2.3–2.4, §4,
//! §6), shared by the command line, the verifier and the server so that a
//! county's local check and production can never drift.
//!
//! # Layout
//!
//! - this file: [`Runtime`] (one per process: the engine, the linkers, the
//!   deadline ticker, the compile caches), [`Plugin`] (a validated, compiled
//!   component), [`Session`] (one instance reused for batches), and the call
//!   path: a per-plugin instance slot, a fresh store per call, fuel, epoch
//!   deadline, memory limiter (which charges growth as fuel), and the mapping
//!   of traps to [`CallError`].
//! - `limits`: [`Limits`] and the documented defaults.
//! - `error`: [`LoadError`], [`CallError`], [`RuntimeError`].
//! - `precheck`: the structural pre-check that refuses compile bombs.
//! - `worker`: compilation in a resource-limited child process ([`Compiler`]).
//! - `validate`: checks before anything runs (header, imports, exports) and
//!   on everything a plugin returns (description, answers).
//! - `wasi`: the deterministic, capability-free WASI for guests that import it.
//! - `cache`: the on-disk cache of compiled artefacts.
//! - `wit`: one module of generated bindings per contract version.
//!
//! # Example
//!
//! ```
//! use qingdan::runtime::{Compiler, LoadError, Limits, Runtime};
//!
//! // Trusted input only; a server compiles in the worker (`Compiler::Worker`).
//! let runtime = Runtime::new(Limits { max_instances: 4, ..Limits::default() }, Compiler::InProcess)?;
//! // A core module is refused before anything runs.
//! let err = runtime.load(b"(module)").unwrap_err();
//! assert!(matches!(err, LoadError::CoreModule));
//! # Ok::<(), qingdan::runtime::RuntimeError>(())
//! ```

mod cache;
mod error;
mod limits;
mod precheck;
mod validate;
mod wasi;
mod wit;
mod worker;

pub use error::{CallError, CompileLimit, LoadError, RuntimeError};
pub use limits::*;
pub use precheck::Structure;
pub use wasi::{
    CLOCK_STEP_NANOS, FIXED_WALL_CLOCK_SECONDS, RANDOM_SEED, WASI_INTERFACES, is_provided_wasi,
};
pub use worker::{Compiler, WORKER_SUBCOMMAND, WorkerRequest, serve as serve_worker};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{
    Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, ResourceLimiter, Store,
    Trap,
};

use crate::model::{Category, ItemCode, Line, Person};

/// How often the epoch advances: 10 ms. Deadlines are counted in ticks, so a
/// deadline is honoured to within one tick; a shorter tick costs a thread
/// wake-up more often for no benefit at these deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Bytes of each pooled linear memory kept resident when its instance is
/// dropped: the pages a guest touched there are zeroed in place instead of
/// returned to the kernel, so the next instance in the slot (the proof
/// makes one per run of batches, some 500 per proof) does not fault them in
/// again. The guest sees zeroed memory either way. A Rust example plugin
/// touches a little over 1 MiB; the whole proof of one took about a fifth
/// less time with this than without. At most 2 MiB per memory slot stays
/// resident: 256 MiB if the two memories of every one of the
/// [`DEFAULT_MAX_INSTANCES`] slots were used, a few MiB for a proof's two
/// threads.
pub const KEEP_RESIDENT: usize = 2 << 20;
/// The same for each pooled table.
pub const KEEP_RESIDENT_TABLE: usize = 64 << 10;

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
    loaded: Mutex<MemoryCache>,
    cache_dir: Option<PathBuf>,
    compiler: Compiler,
    /// Compile workers running at once.
    workers: Arc<Slots>,
    compiles: AtomicU64,
    worker_peak: AtomicU64,
}

/// The engine configuration shared by the host and its compile worker: what
/// decides how code is compiled is the same in both. The host adds the
/// pooling allocator (`pool`); the worker, which only compiles, does not.
pub(crate) fn engine_config(stack_bytes: usize, pool: Option<PoolingAllocationConfig>) -> Config {
    let mut config = Config::new();
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(stack_bytes);
    if let Some(pool) = pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

/// The in-memory cache of loaded plugins: bounded by the bytes of their
/// compiled code, least recently used evicted first.
#[derive(Default)]
struct MemoryCache {
    entries: HashMap<String, Cached>,
    bytes: usize,
    clock: u64,
    evictions: u64,
}

struct Cached {
    plugin: Plugin,
    bytes: usize,
    used: u64,
}

impl MemoryCache {
    fn get(&mut self, digest: &str) -> Option<Plugin> {
        self.clock += 1;
        let entry = self.entries.get_mut(digest)?;
        entry.used = self.clock;
        Some(entry.plugin.clone())
    }

    fn insert(&mut self, plugin: Plugin, bytes: usize, limit: usize) {
        if bytes > limit {
            return;
        }
        self.clock += 1;
        let cached = Cached {
            plugin: plugin.clone(),
            bytes,
            used: self.clock,
        };
        if let Some(old) = self.entries.insert(plugin.digest().to_string(), cached) {
            self.bytes -= old.bytes;
        }
        self.bytes += bytes;
        while self.bytes > limit {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, c)| c.used)
                .map(|(digest, _)| digest.clone());
            let Some(evicted) = oldest.and_then(|d| self.entries.remove(&d)) else {
                break;
            };
            self.bytes -= evicted.bytes;
            self.evictions += 1;
        }
    }
}

/// What a runtime holds and has done ([`Runtime::stats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Plugins in the in-memory cache.
    pub cached_plugins: usize,
    /// Bytes of compiled code they take.
    pub cached_bytes: usize,
    /// The cap on those bytes ([`Limits::memory_cache_bytes`]).
    pub cache_limit_bytes: usize,
    /// Plugins evicted from the in-memory cache so far.
    pub evictions: u64,
    /// Compilations so far (in the worker or in process).
    pub compiles: u64,
    /// Compile workers running now.
    pub live_workers: u32,
    /// Loads refused because every compile-worker slot stayed busy.
    pub compile_busy: u64,
    /// The largest peak memory a compile worker reported, in bytes.
    pub worker_peak_bytes: Option<u64>,
    /// Each cached plugin's instances, by digest.
    pub plugins: Vec<PluginStats>,
}

/// One plugin's instance accounting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginStats {
    /// The plugin's digest.
    pub digest: String,
    /// Bytes of its compiled code.
    pub code_bytes: usize,
    /// Instances alive now.
    pub live_instances: u32,
    /// The most instances alive at once so far.
    pub peak_instances: u32,
    /// Calls refused because every slot stayed busy ([`CallError::Busy`]).
    pub busy: u64,
}

impl Runtime {
    /// Sets up the engine (fuel, epoch interruption, pooling allocator sized
    /// by `limits`, wasm stack cap), the linkers and the deadline ticker.
    /// `compiler` says where components are compiled: give
    /// [`Compiler::Worker`] for anything uploaded.
    pub fn new(limits: Limits, compiler: Compiler) -> Result<Runtime, RuntimeError> {
        let n = limits.max_instances.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(n)
            .total_core_instances(n.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
            .total_memories(n.saturating_mul(MEMORIES_PER_COMPONENT))
            .total_tables(n.saturating_mul(TABLES_PER_COMPONENT))
            .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
            .max_memories_per_component(MEMORIES_PER_COMPONENT)
            .max_tables_per_component(TABLES_PER_COMPONENT)
            .max_memory_size(limits.max_memory_bytes)
            .linear_memory_keep_resident(KEEP_RESIDENT)
            .table_keep_resident(KEEP_RESIDENT_TABLE);
        let config = engine_config(limits.max_stack_bytes, Some(pool));
        let engine = Engine::new(&config).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let plain = Linker::new(&engine);
        let mut wasi = Linker::new(&engine);
        wasi::add_to_linker(&mut wasi).map_err(|e| RuntimeError::Engine(format!("{e:#}")))?;

        let ticker = Ticker::start(engine.clone())?;
        let workers = Arc::new(Slots::new(limits.max_compile_workers, limits.compile_wait));
        Ok(Runtime {
            core: Arc::new(Core {
                engine,
                limits,
                _ticker: ticker,
            }),
            plain,
            wasi,
            loaded: Mutex::new(MemoryCache::default()),
            cache_dir: None,
            compiler,
            workers,
            compiles: AtomicU64::new(0),
            worker_peak: AtomicU64::new(0),
        })
    }

    /// Where this runtime compiles components.
    pub fn compiler(&self) -> &Compiler {
        &self.compiler
    }

    /// The in-memory cache, the compilations and each cached plugin's instances.
    pub fn stats(&self) -> RuntimeStats {
        let peak = self.worker_peak.load(Ordering::Relaxed);
        let (live_workers, compile_busy) = {
            let workers = self.workers.state();
            (workers.live, workers.busy)
        };
        let mut stats = RuntimeStats {
            cached_plugins: 0,
            cached_bytes: 0,
            cache_limit_bytes: self.core.limits.memory_cache_bytes,
            evictions: 0,
            compiles: self.compiles.load(Ordering::Relaxed),
            live_workers,
            compile_busy,
            worker_peak_bytes: (peak > 0).then_some(peak),
            plugins: Vec::new(),
        };
        if let Ok(cache) = self.loaded.lock() {
            stats.cached_plugins = cache.entries.len();
            stats.cached_bytes = cache.bytes;
            stats.evictions = cache.evictions;
            stats.plugins = cache.entries.values().map(|c| c.plugin.stats()).collect();
            stats.plugins.sort_by(|a, b| a.digest.cmp(&b.digest));
        }
        stats
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
        let header = validate::header(bytes)?;
        if header == validate::Header::Text && matches!(self.compiler, Compiler::Worker(_)) {
            return Err(LoadError::TextNotAccepted);
        }
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
        let (component, source, artefact, peak_bytes) = match from_disk {
            Some(component) => (component, LoadSource::DiskCache, None, None),
            None => {
                if header == validate::Header::Component {
                    precheck::check(bytes, limits)?;
                }
                let done = self.compile(bytes)?;
                (
                    done.component,
                    LoadSource::Compiled,
                    done.file,
                    done.peak_bytes,
                )
            }
        };
        let compile_time = started.elapsed();
        let image = component.image_range();
        let code_bytes = image.end.addr().saturating_sub(image.start.addr());

        let imports_wasi = validate::imports(engine, &component)?;
        let (version, exports) = validate::exports(engine, &component)?;
        let linker = if imports_wasi {
            &self.wasi
        } else {
            &self.plain
        };
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| link_error(&component, engine, e))?;
        let pre = wit::Pre::new(version, pre).map_err(|e| LoadError::WrongWorld {
            expected: version.export().to_string(),
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
                code_bytes,
                slots: Arc::new(Slots::new(
                    limits.max_instances_per_plugin,
                    limits.instance_wait,
                )),
            }),
            source,
            compile_time,
            peak_bytes,
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
            let _ = match &artefact {
                Some(file) => cache::store_file(dir, engine, &hex, file),
                None => cache::store(dir, engine, &hex, &component),
            };
        }
        if let Ok(mut loaded) = self.loaded.lock() {
            loaded.insert(plugin.clone(), code_bytes, limits.memory_cache_bytes);
        }
        Ok(plugin)
    }

    /// Compiles a component that passed the pre-check: in the worker, or
    /// (trusted input only) here.
    fn compile(&self, bytes: &[u8]) -> Result<worker::Compiled, LoadError> {
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let engine = &self.core.engine;
        let result = match &self.compiler {
            Compiler::Worker(exe) => match self.workers.acquire() {
                Ok(_slot) => worker::compile(exe, engine, &self.core.limits, bytes),
                Err(waited) => Err(LoadError::CompileBusy {
                    limit: self.workers.max,
                    waited,
                }),
            },
            Compiler::InProcess => Component::new(engine, bytes)
                .map(|component| worker::Compiled {
                    component,
                    file: None,
                    peak_bytes: None,
                })
                .map_err(|e| LoadError::Invalid {
                    message: format!("{e:#}"),
                }),
        };
        let peak = match &result {
            Ok(done) => done.peak_bytes,
            Err(LoadError::CompileLimit { peak_bytes, .. }) => *peak_bytes,
            Err(_) => None,
        };
        if let Some(peak) = peak {
            self.worker_peak.fetch_max(peak, Ordering::Relaxed);
        }
        result
    }

    fn cached(&self, digest: &str) -> Option<Plugin> {
        let plugin = self.loaded.lock().ok()?.get(digest)?;
        Some(Plugin {
            inner: plugin.inner,
            source: LoadSource::MemoryCache,
            compile_time: Duration::ZERO,
            peak_bytes: None,
        })
    }
}

/// The structural pre-check alone (it also runs inside [`Runtime::load`]):
/// refuses a binary component whose shape would make compiling it
/// expensive, naming the limit ([`LoadError::TooComplex`]). Cheap (one pass,
/// little memory), so a server can run it as an upload arrives.
pub fn precheck(bytes: &[u8], limits: &Limits) -> Result<(), LoadError> {
    precheck::check(bytes, limits)
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
    // A WASI interface the host provides, imported with another shape: name
    // the function wasmtime's explanation points at.
    if let Some(interface) = names.iter().find(|n| wasi::is_provided_wasi(n)) {
        let function = e.chain().find_map(|cause| {
            let text = cause.to_string();
            let rest = text.split_once("instance export `")?.1;
            Some(rest.split_once('`')?.0.to_string())
        });
        let problem = match e.chain().last().map(|c| c.to_string()) {
            Some(last) if last.ends_with("implementation is missing") => {
                "the host does not provide it".to_string()
            }
            Some(last) => last,
            None => message,
        };
        return LoadError::WasiMismatch {
            interface: interface.clone(),
            function,
            problem,
        };
    }
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
    pre: wit::Pre<StoreData>,
    digest: String,
    imports_wasi: bool,
    description: Description,
    /// `None` only while `describe` runs at load.
    codes: Option<validate::Codes>,
    load_log: String,
    /// Bytes of compiled code.
    code_bytes: usize,
    slots: Arc<Slots>,
}

/// A counting semaphore with a bounded wait, and its accounting. It gives
/// each plugin its instance slots (at most
/// [`Limits::max_instances_per_plugin`] alive at once; a call beyond it waits
/// up to [`Limits::instance_wait`], then fails with [`CallError::Busy`]), and
/// the runtime its compile-worker slots ([`Limits::max_compile_workers`],
/// [`Limits::compile_wait`], then [`LoadError::CompileBusy`]).
struct Slots {
    max: u32,
    wait: Duration,
    state: Mutex<SlotState>,
    freed: Condvar,
}

#[derive(Default)]
struct SlotState {
    live: u32,
    peak: u32,
    busy: u64,
}

impl Slots {
    fn new(max: u32, wait: Duration) -> Slots {
        Slots {
            max: max.max(1),
            wait,
            state: Mutex::new(SlotState::default()),
            freed: Condvar::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        // The state is plain counters: a panic elsewhere cannot break it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot, waiting at most the bounded wait; on failure, how long
    /// it waited.
    fn acquire(self: &Arc<Slots>) -> Result<Slot, Duration> {
        let started = Instant::now();
        let mut state = self.state();
        while state.live >= self.max {
            let left = self.wait.saturating_sub(started.elapsed());
            if left.is_zero() {
                state.busy += 1;
                return Err(started.elapsed());
            }
            state = self
                .freed
                .wait_timeout(state, left)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|e| e.into_inner().0);
        }
        state.live += 1;
        state.peak = state.peak.max(state.live);
        Ok(Slot(self.clone()))
    }
}

/// One taken slot, given back when dropped.
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.state().live -= 1;
        self.0.freed.notify_one();
    }
}

/// A validated, compiled county component. Cheap to clone.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<PluginInner>,
    source: LoadSource,
    compile_time: Duration,
    peak_bytes: Option<u64>,
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

    /// The contract version the component was built for, as `0.1.0`
    /// (components built for a compatible patch version, `0.1.x`, are
    /// served as that version).
    pub fn contract_version(&self) -> &'static str {
        self.inner.pre.version().name()
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

    /// The compile worker's peak memory when this load compiled the plugin
    /// in the worker; `None` otherwise.
    pub fn compile_peak_bytes(&self) -> Option<u64> {
        self.peak_bytes
    }

    /// Its instance accounting.
    pub fn stats(&self) -> PluginStats {
        let state = self.inner.slots.state();
        PluginStats {
            digest: self.inner.digest.clone(),
            code_bytes: self.inner.code_bytes,
            live_instances: state.live,
            peak_instances: state.peak,
            busy: state.busy,
        }
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
        let (result, fuel) =
            instance.call(1, |county, store| county.evaluate(store, person, baseline));
        let limits = &self.inner.core.limits;
        let result = result.and_then(|answer| match answer {
            Ok(lines) => self.check_answer(&|| "lines".to_string(), &lines),
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

    /// Checks one answer; `field` names it in an error (built only then).
    fn check_answer(
        &self,
        field: &dyn Fn() -> String,
        lines: &[Line],
    ) -> Result<Vec<Line>, CallError> {
        match &self.inner.codes {
            Some(codes) => validate::answer(field, lines, codes, &self.inner.core.limits),
            None => Err(CallError::malformed(
                field(),
                "the plugin is not loaded yet",
            )),
        }
    }

    fn describe(&self) -> Result<(Description, String), LoadError> {
        let mut instance = self.instantiate_checked().map_err(|e| match e {
            Instantiation::Call(e) => LoadError::Instantiate(e),
            Instantiation::Types(problem) => LoadError::WrongWorld {
                expected: self.inner.pre.version().export().to_string(),
                problem,
                exports: Vec::new(),
            },
        })?;
        let (result, _fuel) = instance.call(1, |county, store| county.describe(store));
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
        let slots = &self.inner.slots;
        let slot = slots.acquire().map_err(|waited| {
            Instantiation::Call(CallError::Busy {
                limit: slots.max,
                waited,
            })
        })?;
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
        let bindings = self
            .inner
            .pre
            .bind(&mut store, &instance)
            .map_err(|e| Instantiation::Types(format!("{e:#}")))?;
        Ok(Instance {
            store,
            bindings,
            limits: core.limits.clone(),
            _slot: slot,
        })
    }
}

enum Instantiation {
    Call(CallError),
    Types(String),
}

/// Sets the fuel and the epoch deadline of the next call, and starts its
/// memory-growth charge afresh.
fn arm(store: &mut Store<StoreData>, fuel: u64, deadline: Duration) {
    // set_fuel only fails when fuel is disabled, which it never is here.
    let _ = store.set_fuel(fuel);
    store.data_mut().limiter.start(fuel);
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
        _ if data.limiter.fuel_hit => CallError::OutOfFuel { limit: fuel },
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

/// One store and instance of a plugin. The slot is declared last so that it
/// is given back after the store (and its pooling slot) is gone.
struct Instance {
    store: Store<StoreData>,
    bindings: wit::Bindings,
    limits: Limits,
    _slot: Slot,
}

impl Instance {
    /// Calls into the county interface with fuel and a deadline for
    /// `persons` persons; returns the result and the fuel used: instructions
    /// plus the memory-growth charge. A call whose total is over its fuel
    /// fails with [`CallError::OutOfFuel`], even if it returned.
    fn call<R>(
        &mut self,
        persons: usize,
        f: impl FnOnce(&wit::Bindings, &mut Store<StoreData>) -> wasmtime::Result<R>,
    ) -> (Result<R, CallError>, u64) {
        let fuel = self.limits.fuel_for(persons);
        arm(&mut self.store, fuel, self.limits.deadline_for(persons));
        let started = Instant::now();
        let result = f(&self.bindings, &mut self.store);
        let limiter = &self.store.data().limiter;
        let used = fuel
            .saturating_sub(self.store.get_fuel().unwrap_or(0))
            .saturating_add(limiter.charged);
        let result = match result {
            Err(e) => Err(classify(&e, self.store.data(), fuel, started, &self.limits)),
            Ok(_) if used > fuel || limiter.fuel_hit => Err(CallError::OutOfFuel { limit: fuel }),
            Ok(value) => Ok(value),
        };
        (result, used)
    }

    /// The guest's log, with control and bidirectional-formatting
    /// characters escaped (newlines kept).
    fn log(&self) -> String {
        let log = self
            .store
            .data()
            .wasi
            .as_ref()
            .map(|w| w.log())
            .unwrap_or_default();
        crate::text::escape_keeping_lines(&log).into_owned()
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
        // Domain indices are below 1,171,200, so they fit a u32.
        let indices: Vec<u32> = persons.iter().map(|(p, _)| p.index() as u32).collect();
        let sets: Vec<u32> = persons.iter().map(|(_, set)| *set).collect();
        self.evaluate_indexed(baselines, &indices, &sets)
    }

    /// Evaluates a batch given as WIT 0.2.0 carries it: `persons` are
    /// domain indices ([`Person::index`]) and `baseline_of[i]` the index of
    /// person `i`'s lines in `baselines` (the host gives both; lists of
    /// different lengths, or an index past the domain, fail the call).
    pub fn evaluate_indexed(
        &mut self,
        baselines: &[Vec<Line>],
        persons: &[u32],
        baseline_of: &[u32],
    ) -> Result<BatchAnswers, CallError> {
        if let Some(e) = &self.poisoned {
            return Err(CallError::Poisoned(e.to_string()));
        }
        self.calls += 1;
        let (result, fuel) = self.instance.call(persons.len(), |county, store| {
            county.evaluate_indexed(store, baselines, persons, baseline_of)
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
        raw: wit::RawAnswers,
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
            .map(|(i, lines)| self.plugin.check_answer(&|| format!("answers[{i}]"), lines))
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
                bytes_per_fuel: limits.memory_bytes_per_fuel,
                budget: 0,
                charged: 0,
                fuel_hit: false,
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
/// reported as [`CallError::MemoryLimit`]. It also charges memory growth as
/// fuel ([`Limits::memory_bytes_per_fuel`]): growth whose charge alone would
/// pass the call's fuel is refused (and the call reported out of fuel), and
/// the charge is added to the fuel the call used.
struct MemoryLimiter {
    max_bytes: usize,
    hit: bool,
    bytes_per_fuel: u64,
    /// The fuel of the call in progress.
    budget: u64,
    /// Fuel charged for growth in the call in progress.
    charged: u64,
    fuel_hit: bool,
}

impl MemoryLimiter {
    fn start(&mut self, budget: u64) {
        self.budget = budget;
        self.charged = 0;
        self.fuel_hit = false;
    }
}

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_bytes {
            self.hit = true;
            return Ok(false);
        }
        let grown = u64::try_from(desired.saturating_sub(current)).unwrap_or(u64::MAX);
        let charge = if self.bytes_per_fuel == 0 {
            0
        } else {
            grown.div_ceil(self.bytes_per_fuel)
        };
        let charged = self.charged.saturating_add(charge);
        if charged > self.budget {
            self.fuel_hit = true;
            return Ok(false);
        }
        self.charged = charged;
        Ok(true)
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

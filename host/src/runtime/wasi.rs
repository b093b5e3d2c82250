//! The deterministic, capability-free WASI given to components that import
//! WASI (DESIGN §2.4): components built with Rust `std`, componentize-py or
//! jco import `wasi:cli`, `wasi:io`, `wasi:clocks`, `wasi:random`,
//! `wasi:filesystem` and `wasi:sockets` even when they never use them.
//!
//! What such a guest sees:
//! - no preopened directories, no environment variables, no arguments, an
//!   empty stdin, no network (TCP, UDP and name lookup are all refused);
//! - a virtual clock: the wall clock starts at [`FIXED_WALL_CLOCK_SECONDS`]
//!   (2000-01-01T00:00:00Z) and the monotonic clock at 0; both advance by
//!   [`CLOCK_STEP_NANOS`] on every monotonic reading and by the requested
//!   duration on every sleep. Sleeps return at once: guest time is virtual,
//!   so a guest can neither observe nor spend host time, and the same calls
//!   always give the same readings;
//! - randomness (secure and insecure) from a fixed seed ([`RANDOM_SEED`]);
//! - stdout and stderr captured together into one in-memory log of at most
//!   [`Limits::max_log_bytes`](super::Limits::max_log_bytes).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::p2::{DynPollable, Pollable};
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder};

/// The wall clock a guest sees at the start of every instance:
/// 2000-01-01T00:00:00Z, in seconds since the Unix epoch. A fixed, obviously
/// artificial instant: plugins must not depend on the date (the host gives
/// them the person's age on the evaluation date instead).
pub const FIXED_WALL_CLOCK_SECONDS: u64 = 946_684_800;

/// How far the virtual clock moves on each monotonic-clock reading: 1 µs,
/// so that code measuring an elapsed time sees time pass, deterministically.
pub const CLOCK_STEP_NANOS: u64 = 1_000;

/// Seed of the guest's random numbers (both `wasi:random/random` and
/// `wasi:random/insecure`), and the value of `wasi:random/insecure-seed`.
pub const RANDOM_SEED: u64 = 0x5169_6e67_6461_6e21; // "Qingdan!"

/// Length of the deterministic random byte cycle handed to the guest.
const RANDOM_CYCLE_BYTES: usize = 4096;

/// WASI interfaces (without version) that wasmtime-wasi's synchronous p2
/// linker provides (`wasmtime_wasi::p2::add_to_linker_sync`). An import
/// outside this list is refused at load; an import inside it must also match
/// the linker's version and types, which instantiation checks.
pub const WASI_INTERFACES: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/wall-clock",
    "wasi:clocks/monotonic-clock",
    "wasi:filesystem/types",
    "wasi:filesystem/preopens",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:sockets/network",
    "wasi:sockets/instance-network",
    "wasi:sockets/tcp",
    "wasi:sockets/tcp-create-socket",
    "wasi:sockets/udp",
    "wasi:sockets/udp-create-socket",
    "wasi:sockets/ip-name-lookup",
];

/// The monotonic clock interface whose sleeps the host replaces.
const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// Whether an import name is one of the WASI 0.2 interfaces the host provides.
pub fn is_provided_wasi(import: &str) -> bool {
    let (interface, version) = import.split_once('@').unwrap_or((import, ""));
    version.starts_with("0.2.") && WASI_INTERFACES.contains(&interface)
}

/// The virtual time of one instance, in nanoseconds since it started.
#[derive(Clone, Default)]
struct VirtualTime(Arc<AtomicU64>);

impl VirtualTime {
    fn advance(&self, nanos: u64) -> u64 {
        // fetch_add wraps; saturate instead so a guest sleeping u64::MAX
        // cannot make time run backwards.
        let mut now = self.0.load(Ordering::Relaxed);
        loop {
            let next = now.saturating_add(nanos);
            match self
                .0
                .compare_exchange(now, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return now,
                Err(actual) => now = actual,
            }
        }
    }
    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl HostMonotonicClock for VirtualTime {
    fn resolution(&self) -> u64 {
        CLOCK_STEP_NANOS
    }
    fn now(&self) -> u64 {
        self.advance(CLOCK_STEP_NANOS)
    }
}

struct VirtualWallClock(VirtualTime);

impl HostWallClock for VirtualWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_nanos(CLOCK_STEP_NANOS)
    }
    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECONDS) + Duration::from_nanos(self.0.now())
    }
}

/// The WASI state of one instance.
pub(crate) struct WasiState {
    pub(crate) ctx: WasiCtx,
    log: MemoryOutputPipe,
    log_limit: usize,
    time: VirtualTime,
}

impl WasiState {
    pub(crate) fn new(max_log_bytes: usize) -> WasiState {
        let log = MemoryOutputPipe::new(max_log_bytes);
        let time = VirtualTime::default();
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(log.clone())
            .stderr(log.clone())
            .wall_clock(VirtualWallClock(time.clone()))
            .monotonic_clock(time.clone())
            .secure_random(wasmtime_wasi::Deterministic::new(random_cycle()))
            .insecure_random(wasmtime_wasi::Deterministic::new(random_cycle()))
            .insecure_random_seed(u128::from(RANDOM_SEED))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        WasiState {
            ctx: builder.build(),
            log,
            log_limit: max_log_bytes,
            time,
        }
    }

    /// The captured stdout and stderr so far.
    pub(crate) fn log(&self) -> String {
        String::from_utf8_lossy(&self.log.contents()).into_owned()
    }

    /// Whether the guest filled the log.
    pub(crate) fn log_full(&self) -> bool {
        self.log.contents().len() >= self.log_limit
    }
}

/// The deterministic byte cycle behind the guest's randomness (splitmix64).
fn random_cycle() -> Vec<u8> {
    let mut state = RANDOM_SEED;
    let mut bytes = Vec::with_capacity(RANDOM_CYCLE_BYTES);
    while bytes.len() < RANDOM_CYCLE_BYTES {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        bytes.extend_from_slice(&z.to_le_bytes());
    }
    bytes
}

/// A pollable that is ready at once: a guest's sleep.
struct Elapsed;

#[wasmtime_wasi::async_trait]
impl Pollable for Elapsed {
    async fn ready(&mut self) {}
}

/// Gives access to an instance's WASI state from the store data.
pub(crate) trait HasWasi: wasmtime_wasi::WasiView + 'static {
    fn wasi_state(&mut self) -> (&mut WasiState, &mut ResourceTable);
}

/// Adds the WASI p2 interfaces to `linker`, then replaces the monotonic
/// clock's two sleep functions so that a sleep advances virtual time and
/// returns at once. Left as they are, they would block the host thread for
/// the requested real time, out of reach of the epoch deadline.
pub(crate) fn add_to_linker<T: HasWasi>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: wasmtime::StoreContextMut<'_, T>, (nanos,): (u64,)| {
            let (state, table) = store.data_mut().wasi_state();
            state.time.advance(nanos);
            sleep_pollable(table)
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: wasmtime::StoreContextMut<'_, T>, (when,): (u64,)| {
            let (state, table) = store.data_mut().wasi_state();
            let now = state.time.now();
            state.time.advance(when.saturating_sub(now));
            sleep_pollable(table)
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

fn sleep_pollable(table: &mut ResourceTable) -> wasmtime::Result<(Resource<DynPollable>,)> {
    let elapsed = table.push(Elapsed)?;
    Ok((wasmtime_wasi::p2::subscribe(table, elapsed)?,))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wasi_names_are_recognised_by_interface_and_version() {
        assert!(is_provided_wasi("wasi:cli/stdout@0.2.4"));
        assert!(is_provided_wasi("wasi:io/streams@0.2.12"));
        assert!(!is_provided_wasi("wasi:http/outgoing-handler@0.2.4"));
        assert!(!is_provided_wasi("wasi:cli/stdout@0.3.0"));
        assert!(!is_provided_wasi("wasi:cli/stdout"));
        assert!(!is_provided_wasi("env"));
    }

    #[test]
    fn virtual_time_advances_deterministically_and_saturates() {
        let t = VirtualTime::default();
        assert_eq!(HostMonotonicClock::now(&t), 0);
        assert_eq!(HostMonotonicClock::now(&t), CLOCK_STEP_NANOS);
        t.advance(u64::MAX);
        assert_eq!(t.now(), u64::MAX);
        let wall = VirtualWallClock(VirtualTime::default());
        assert_eq!(wall.now(), Duration::from_secs(FIXED_WALL_CLOCK_SECONDS));
    }

    #[test]
    fn random_cycle_is_fixed() {
        assert_eq!(random_cycle(), random_cycle());
        assert_eq!(random_cycle().len(), RANDOM_CYCLE_BYTES);
    }
}

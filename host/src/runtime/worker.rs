//! Isolated compilation: an untrusted component is compiled in a child
//! process, the compile worker, under limits on memory, CPU time and wall
//! time. wasmtime has no compile budget of its own, and its security policy
//! leaves denial of service during compilation to the embedder; a component
//! built to make Cranelift work hard must cost one killed child, not the host.
//!
//! The worker is the `qingdan` binary itself in a hidden mode
//! (`qingdan compile-worker`); the runtime is told which executable that is
//! ([`Compiler::Worker`]). One compilation:
//!
//! 1. The parent writes the component into a fresh private directory (mode
//!    0700) and starts the worker with the paths and limits as arguments, an
//!    empty environment, no stdin, and stdout and stderr sent to files there.
//! 2. The worker's first act, before it reads a byte of the component, is to
//!    lower its own resource limits: `RLIMIT_AS` (address space,
//!    [`Limits::compile_memory_bytes`]), `RLIMIT_CPU`
//!    ([`Limits::compile_cpu_seconds`]; the kernel sends `SIGXCPU`, then
//!    `SIGKILL` a second later) and `RLIMIT_CORE` (no core dumps). It does
//!    so with `setrlimit` through `rustix`, which is safe Rust: no `unsafe`
//!    `pre_exec` hook in the parent and no dependence on a `prlimit` tool
//!    being installed. A worker that cannot set them refuses to compile.
//! 3. It compiles with an engine configured like the host's (the same
//!    compilation settings; on-demand allocation instead of the pooling
//!    allocator, whose reservations an address-space limit would refuse),
//!    writes the artefact in the on-disk cache's format (checksum, then
//!    artefact) and answers one line of JSON: the artefact's sha256, the
//!    engine's compatibility tag and its own peak resident memory.
//! 4. The parent waits, polling the worker's peak memory, and kills it when
//!    [`Limits::compile_wall_time`] passes. It accepts the artefact only if
//!    its checksum and the digest the worker reported agree and the engine
//!    tag is its own; only then does it deserialize it (`cache::deserialize`).
//!
//! A worker that was stopped is a [`LoadError::CompileLimit`] naming the
//! limit and, when it could be read, the peak memory; one that crashed or
//! answered nonsense is a [`LoadError::Worker`]. Neither ever takes the
//! caller down.
//!
//! What this isolates is resources: memory, CPU and time spent compiling.
//! The worker is the host's own code and its artefact becomes executable
//! code in the host, so the checks above prove the artefact is the one the
//! worker made, not that a worker subverted by its input (a code-generation
//! bug exploited by a component) made an honest one. Against that, the
//! defence is wasmtime's own (its fuzzed compiler), as for any embedder.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{CompileLimit, Limits, LoadError, cache};

/// The hidden subcommand that runs the compile worker.
pub const WORKER_SUBCOMMAND: &str = "compile-worker";

/// How the runtime compiles components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compiler {
    /// In a compile worker started from this executable (the `qingdan`
    /// binary: the command line passes `std::env::current_exe()`, tests
    /// `env!("CARGO_BIN_EXE_qingdan")`). The only choice for untrusted input.
    Worker(PathBuf),
    /// In this process, without the worker's limits. Only for trusted input
    /// (unit tests, benchmarks): a component built to exhaust the compiler
    /// takes this process down with it. Accepts WebAssembly text.
    InProcess,
}

/// How often the parent looks at a running worker: its exit, its memory,
/// the wall clock. Short enough to add little to a 30 ms compile.
const POLL: Duration = Duration::from_millis(2);

/// Bytes of the worker's stderr kept for an error message.
const STDERR_BYTES: u64 = 4096;

/// The worker's answer on stdout.
#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    /// Compiled; the artefact is in the output file.
    Compiled {
        /// sha256 (hex) of the artefact, without the cache file's checksum.
        artefact_sha256: String,
        /// The engine's compatibility tag ([`cache::engine_tag`]).
        engine: String,
        /// Peak resident memory of the worker, in bytes.
        peak_bytes: Option<u64>,
    },
    /// wasmtime refused the component.
    Invalid {
        /// Its explanation.
        message: String,
    },
}

/// What the worker is asked to do (the hidden subcommand's arguments).
#[derive(Clone, Debug)]
pub struct WorkerRequest {
    /// The component.
    pub input: PathBuf,
    /// Where to write the artefact.
    pub output: PathBuf,
    /// `RLIMIT_AS`, in bytes.
    pub memory_bytes: u64,
    /// `RLIMIT_CPU`, in seconds.
    pub cpu_seconds: u64,
    /// The engine's wasm stack cap (part of its configuration).
    pub stack_bytes: usize,
}

/// A finished compilation.
pub(crate) struct Compiled {
    pub(crate) component: Component,
    /// The worker's artefact in the disk cache's format (checksum, then
    /// artefact); `None` when compiled in process.
    pub(crate) file: Option<Vec<u8>>,
    /// The worker's peak resident memory.
    pub(crate) peak_bytes: Option<u64>,
}

/// A private directory for one compilation, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch, LoadError> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "qingdan-compile-{}-{n}-{nanos:08x}",
            std::process::id()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(&dir)
            .map_err(|e| LoadError::Worker(format!("cannot create {}: {e}", dir.display())))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn io(what: &str, path: &Path) -> impl FnOnce(std::io::Error) -> LoadError {
    let what = format!("{what} {}", path.display());
    move |e| LoadError::Worker(format!("{what}: {e}"))
}

/// Compiles `bytes` in a worker started from `exe` (the parent's side).
pub(crate) fn compile(
    exe: &Path,
    engine: &Engine,
    limits: &Limits,
    bytes: &[u8],
) -> Result<Compiled, LoadError> {
    let scratch = Scratch::new()?;
    let input = scratch.0.join("component.wasm");
    let output = scratch.0.join("artefact.cwasm");
    let reply_path = scratch.0.join("reply.json");
    let stderr_path = scratch.0.join("stderr.txt");
    std::fs::write(&input, bytes).map_err(io("cannot write", &input))?;
    let reply_file =
        std::fs::File::create(&reply_path).map_err(io("cannot create", &reply_path))?;
    let stderr_file =
        std::fs::File::create(&stderr_path).map_err(io("cannot create", &stderr_path))?;

    let mut child = Command::new(exe)
        .arg(WORKER_SUBCOMMAND)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .arg("--memory-bytes")
        .arg(limits.compile_memory_bytes.to_string())
        .arg("--cpu-seconds")
        .arg(limits.compile_cpu_seconds.to_string())
        .arg("--stack-bytes")
        .arg(limits.max_stack_bytes.to_string())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(reply_file)
        .stderr(stderr_file)
        .spawn()
        .map_err(|e| {
            LoadError::Worker(format!(
                "cannot start the compile worker {}: {e}",
                exe.display()
            ))
        })?;

    let started = Instant::now();
    let mut peak: Option<u64> = None;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => {
                return Err(LoadError::Worker(format!(
                    "cannot wait for the worker: {e}"
                )));
            }
        }
        if let Some(now) = resident_peak(&format!("/proc/{}/status", child.id())) {
            peak = Some(peak.map_or(now, |p| p.max(now)));
        }
        if started.elapsed() > limits.compile_wall_time {
            let _ = child.kill();
            let _ = child.wait();
            return Err(LoadError::CompileLimit {
                limit: CompileLimit::WallTime {
                    limit: limits.compile_wall_time,
                },
                peak_bytes: peak,
            });
        }
        std::thread::sleep(POLL);
    };

    let stderr = read_capped(&stderr_path);
    let reply = std::fs::read_to_string(&reply_path).unwrap_or_default();
    let reply: Option<Reply> = serde_json::from_str(reply.trim()).ok();
    match reply {
        Some(Reply::Compiled {
            artefact_sha256,
            engine: tag,
            peak_bytes,
        }) if status.success() => {
            if tag != cache::engine_tag(engine) {
                return Err(LoadError::Worker(format!(
                    "the worker's engine ({tag}) is not this host's ({}): is {} another build of qingdan?",
                    cache::engine_tag(engine),
                    exe.display()
                )));
            }
            let file = std::fs::read(&output).map_err(io("cannot read", &output))?;
            let component = match cache::from_file(engine, &file, &artefact_sha256) {
                Ok(component) => component,
                Err(cache::Refused::Damaged) => {
                    return Err(LoadError::Worker(
                        "the worker's artefact does not match the digest it reported".into(),
                    ));
                }
                Err(cache::Refused::Engine(message)) => {
                    return Err(LoadError::Invalid { message });
                }
            };
            Ok(Compiled {
                component,
                file: Some(file),
                peak_bytes: peak_bytes.or(peak),
            })
        }
        Some(Reply::Invalid { message }) if status.success() => {
            if out_of_memory(&message) {
                Err(memory_limit(limits, peak))
            } else {
                Err(LoadError::Invalid { message })
            }
        }
        _ => Err(failure(status, &stderr, limits, peak)),
    }
}

fn memory_limit(limits: &Limits, peak: Option<u64>) -> LoadError {
    LoadError::CompileLimit {
        limit: CompileLimit::Memory {
            bytes: limits.compile_memory_bytes,
        },
        peak_bytes: peak,
    }
}

/// Whether a message says an allocation failed (the address-space limit).
fn out_of_memory(message: &str) -> bool {
    [
        "memory allocation of",
        "Cannot allocate memory",
        "os error 12",
        "out of memory",
        "failed to spawn thread",
    ]
    .iter()
    .any(|m| message.contains(m))
}

/// A worker that gave no acceptable answer: which limit stopped it, or how
/// it failed.
fn failure(status: ExitStatus, stderr: &str, limits: &Limits, peak: Option<u64>) -> LoadError {
    if signal(status) == Some(rustix::process::Signal::XCPU.as_raw()) {
        return LoadError::CompileLimit {
            limit: CompileLimit::CpuTime {
                seconds: limits.compile_cpu_seconds,
            },
            peak_bytes: peak,
        };
    }
    if out_of_memory(stderr) {
        return memory_limit(limits, peak);
    }
    let how = match signal(status) {
        Some(n) if n == rustix::process::Signal::KILL.as_raw() => {
            "was killed (SIGKILL: the CPU-time hard limit, or the system's out-of-memory killer)"
                .to_string()
        }
        Some(n) => format!("was stopped by signal {n}"),
        None => format!("exited with {status}"),
    };
    let stderr = stderr.trim();
    if stderr.is_empty() {
        LoadError::Worker(format!("the worker {how}"))
    } else {
        LoadError::Worker(format!("the worker {how}: {stderr}"))
    }
}

#[cfg(unix)]
fn signal(status: ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(&status)
}

#[cfg(not(unix))]
fn signal(_status: ExitStatus) -> Option<i32> {
    None
}

fn read_capped(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(file) = std::fs::File::open(path) {
        let mut bytes = Vec::new();
        let _ = file.take(STDERR_BYTES).read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    text
}

/// Peak resident memory (`VmHWM`) from a `/proc/<pid>/status` file, in bytes.
fn resident_peak(status: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib.saturating_mul(1024))
}

/// Runs the worker (the `qingdan compile-worker` side); returns the exit code.
pub fn serve(request: &WorkerRequest) -> u8 {
    match serve_inner(request) {
        Ok(reply) => match serde_json::to_string(&reply) {
            Ok(line) => {
                println!("{line}");
                0
            }
            Err(e) => {
                eprintln!("cannot encode the reply: {e}");
                3
            }
        },
        Err(message) => {
            eprintln!("{message}");
            3
        }
    }
}

fn serve_inner(request: &WorkerRequest) -> Result<Reply, String> {
    limit_self(request)?;
    let bytes = std::fs::read(&request.input)
        .map_err(|e| format!("cannot read {}: {e}", request.input.display()))?;
    let config = super::engine_config(request.stack_bytes, None);
    let engine = Engine::new(&config).map_err(|e| format!("cannot configure the engine: {e:#}"))?;
    let component = match Component::new(&engine, &bytes) {
        Ok(component) => component,
        Err(e) => {
            return Ok(Reply::Invalid {
                message: format!("{e:#}"),
            });
        }
    };
    let artefact = component
        .serialize()
        .map_err(|e| format!("cannot serialize the artefact: {e:#}"))?;
    cache::write_file(&request.output, &artefact)
        .map_err(|e| format!("cannot write {}: {e}", request.output.display()))?;
    Ok(Reply::Compiled {
        artefact_sha256: hex::encode(Sha256::digest(&artefact)),
        engine: cache::engine_tag(&engine),
        peak_bytes: resident_peak("/proc/self/status"),
    })
}

/// Lowers this process's limits for the rest of its life.
#[cfg(unix)]
fn limit_self(request: &WorkerRequest) -> Result<(), String> {
    use rustix::process::{Resource, Rlimit, setrlimit};
    let set = |resource: Resource, current: u64, maximum: u64| {
        setrlimit(
            resource,
            Rlimit {
                current: Some(current),
                maximum: Some(maximum),
            },
        )
        .map_err(|e| format!("cannot set the worker's {resource:?} limit: {e}"))
    };
    set(Resource::Core, 0, 0)?;
    set(
        Resource::Cpu,
        request.cpu_seconds,
        request.cpu_seconds.saturating_add(1),
    )?;
    set(Resource::As, request.memory_bytes, request.memory_bytes)
}

#[cfg(not(unix))]
fn limit_self(_request: &WorkerRequest) -> Result<(), String> {
    Err("the compile worker needs a Unix system to limit itself".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_are_read_from_proc_status() {
        if Path::new("/proc/self/status").exists() {
            assert!(resident_peak("/proc/self/status").is_some_and(|b| b > 0));
        }
        assert_eq!(resident_peak("/nonexistent"), None);
    }

    #[test]
    fn allocation_failures_are_recognised() {
        assert!(out_of_memory("memory allocation of 1048576 bytes failed"));
        assert!(out_of_memory(
            "mmap failed: Cannot allocate memory (os error 12)"
        ));
        assert!(!out_of_memory("type mismatch"));
    }
}

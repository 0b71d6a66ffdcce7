//! `pushpoll-server` running inside this process on a runtime of its own.
//!
//! `compare` needs server CPU per delivered message while the load generator
//! shares the process. The server gets its own runtime whose threads carry a
//! distinct name; its CPU time is the sum over those threads, read from
//! `/proc/self/task/*/schedstat` (nanoseconds; `stat`'s clock ticks as a
//! fallback). Off Linux the figure is unknown and reported as such.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::oneshot;

/// Prefix of every server thread's name; each embedded server adds its own
/// number, so two in one process (tests) never mix their CPU time.
pub const THREAD_PREFIX: &str = "pp-server-";

static NEXT_ID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// A running in-process server; dropped or [`stop`](Self::stop)ped, it shuts down.
pub struct EmbeddedServer {
    addr: SocketAddr,
    thread_name: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    /// Binds `127.0.0.1:0` and starts the server on `threads` worker threads.
    pub fn start(config: pushpoll_server::Config, threads: usize) -> anyhow::Result<Self> {
        // At most 15 bytes: Linux truncates thread names (`comm`) beyond that.
        let id = NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 100_000;
        let thread_name = format!("{THREAD_PREFIX}{id}");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(thread_name.clone())
            .enable_all()
            .build()
            .context("starting the server's runtime")?;
        // Bound here with std so that `start` works from inside another
        // runtime; converted on the server's own runtime below.
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .context("binding 127.0.0.1:0 for the embedded server")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(thread_name.clone())
            .spawn(move || {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                let served = runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener)?;
                    pushpoll_server::run(listener, config, shutdown)
                        .await
                        .map_err(std::io::Error::other)
                });
                if let Err(e) = served {
                    tracing::error!("embedded server failed: {e}");
                }
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .context("spawning the server thread")?;
        Ok(EmbeddedServer {
            addr,
            thread_name,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A reader of this server's CPU time, for [`pushpoll_loadgen::Hooks`].
    pub fn cpu_reader(&self) -> pushpoll_loadgen::CpuReader {
        let name = self.thread_name.clone();
        std::sync::Arc::new(move || threads_cpu_time(&name))
    }

    /// Stops the server and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// CPU time consumed so far by every live thread of this process named
/// `name`; `None` where `/proc` is unavailable.
pub fn threads_cpu_time(name: &str) -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = Duration::ZERO;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread ended while we looked
        };
        if comm.trim_end() != name {
            continue;
        }
        total += thread_cpu(&dir)?;
    }
    Some(total)
}

fn thread_cpu(dir: &std::path::Path) -> Option<Duration> {
    if let Ok(s) = std::fs::read_to_string(dir.join("schedstat")) {
        if let Some(ns) = s.split_whitespace().next().and_then(|v| v.parse().ok()) {
            return Some(Duration::from_nanos(ns));
        }
    }
    // Fallback: utime + stime in clock ticks (assumed 100 Hz, the Linux default).
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let after_comm = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

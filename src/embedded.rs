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

/// Name of every server thread (at most 15 bytes: Linux truncates `comm`).
pub const THREAD_NAME: &str = "pushpoll-server";

/// A running in-process server; dropped or [`stop`](Self::stop)ped, it shuts down.
pub struct EmbeddedServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmbeddedServer {
    /// Binds `127.0.0.1:0` and starts the server on `threads` worker threads.
    pub fn start(config: pushpoll_server::Config, threads: usize) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(THREAD_NAME)
            .enable_all()
            .build()
            .context("starting the server's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding 127.0.0.1:0 for the embedded server")?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(THREAD_NAME.into())
            .spawn(move || {
                let shutdown = async move {
                    let _ = stopped.await;
                };
                if let Err(e) = runtime.block_on(pushpoll_server::run(listener, config, shutdown)) {
                    tracing::error!("embedded server failed: {e}");
                }
                runtime.shutdown_timeout(Duration::from_secs(5));
            })
            .context("spawning the server thread")?;
        Ok(EmbeddedServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
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

/// CPU time consumed so far by every thread of this process named
/// [`THREAD_NAME`]; `None` where `/proc` is unavailable.
pub fn server_cpu_time() -> Option<Duration> {
    let tasks = std::fs::read_dir("/proc/self/task").ok()?;
    let mut total = Duration::ZERO;
    for task in tasks.flatten() {
        let dir = task.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue; // the thread ended while we looked
        };
        if comm.trim_end() != THREAD_NAME {
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

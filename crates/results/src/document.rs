//! The JSON document `pushpoll load --json` and `pushpoll compare --json`
//! write: the runs plus what a reader needs to trust and reproduce them
//! (command line, machine facts). [`SCHEMA`](crate::SCHEMA) describes it and
//! tests validate real output against it. Writing and reading the file is
//! the binary's business (`pushpoll::document`).

use serde::{Deserialize, Serialize};

use crate::RunResult;

/// Version of the document layout; bumped on incompatible changes.
pub const FORMAT: u32 = 1;

/// A results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    /// Layout version ([`FORMAT`]).
    pub format: u32,
    /// `load` or `compare`.
    pub command: String,
    /// The command line that produced it.
    pub argv: Vec<String>,
    /// pushpoll's version.
    pub pushpoll_version: String,
    /// Unix time the command started, seconds.
    pub started_unix_s: u64,
    /// The machine it ran on.
    pub machine: Machine,
    /// One entry per transport run.
    pub runs: Vec<RunResult>,
}

/// Facts about the machine, read at run time.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs available to the process.
    pub cpus: usize,
    /// `MemTotal` from `/proc/meminfo`, bytes (null off Linux).
    pub memory_bytes: Option<u64>,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: Option<String>,
    /// `std::env::consts::OS` / `ARCH`.
    pub os: String,
    /// CPU model name from `/proc/cpuinfo`.
    pub cpu_model: Option<String>,
}

impl Machine {
    /// Reads the facts of this machine.
    pub fn current() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        let memory_bytes = read("/proc/meminfo").and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .map(|kb| kb * 1024)
        });
        let cpu_model = read("/proc/cpuinfo").and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|v| v.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        });
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            kernel: read("/proc/sys/kernel/osrelease").map(|s| s.trim().to_string()),
            os: format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH),
            cpu_model,
        }
    }
}

impl Document {
    /// A document for `command` with these runs, stamped with this
    /// process's command line and machine. The version is the workspace's,
    /// which every pushpoll crate shares.
    pub fn new(command: &str, started_unix_s: u64, runs: Vec<RunResult>) -> Self {
        Document {
            format: FORMAT,
            command: command.into(),
            argv: std::env::args().collect(),
            pushpoll_version: env!("CARGO_PKG_VERSION").into(),
            started_unix_s,
            machine: Machine::current(),
            runs,
        }
    }
}

//! `pushpoll compare --url URL`: one running server's transports side by
//! side, in the same tables and report as pushpoll's own — the notes'
//! comparison on servers nobody here wrote (Faye's two Bayeux transports,
//! SockJS's three, socket.io's polling and WebSocket).
//!
//! Each transport is a `pushpoll load` run built as a user's command line
//! would be: the server's protocol from `--scenario` (join steps,
//! templates, channels), then the transport and the workload of this
//! comparison, which replace the scenario's. Runs go one after the other,
//! each with fresh connections; the server's state between them is the
//! server's (restart it between rounds for fresh state).

use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser as _};
use pushpoll_loadgen::{LoadOpts, LoadTransport, RunResult, Transport};

use super::{CompareOpts, Workload};

/// `pushpoll compare --url`: a server running elsewhere, yours or a peer's.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RemoteOpts {
    /// Compare the transports of the server at this URL (the same tables
    /// and report) instead of pushpoll's in-process one: its base URL, e.g.
    /// `http://127.0.0.1:8000/faye` for Faye, the SockJS prefix, or
    /// `http://host:port` for socket.io; `ws://`/`http://` is swapped per
    /// transport.
    #[arg(long)]
    pub url: Option<String>,
    /// With `--url`: the server's protocol as a `pushpoll load` scenario
    /// (join steps, templates, channels); this comparison's transport and
    /// workload replace the file's.
    #[arg(long, value_name = "FILE.toml", requires = "url")]
    pub scenario: Option<PathBuf>,
    /// With `--url`: the server's process id on this machine, whose CPU
    /// time (`/proc/PID/stat`) gives server CPU per delivered message.
    #[arg(long, value_name = "PID", requires = "url")]
    pub server_pid: Option<u32>,
}

/// Without `--url` every transport must be one of pushpoll's own.
pub(super) fn only_own(opts: &CompareOpts) -> anyhow::Result<()> {
    if let Some(s) = opts.transports.iter().find(|s| s.own().is_none()) {
        anyhow::bail!(
            "--transports {s}: pushpoll's own server speaks ws, sse, long-poll and short-poll; give --url to compare another server's"
        );
    }
    Ok(())
}

/// One transport of a server as `--transports` names it: `ws`, `sse`,
/// `long-poll`, `short-poll`, or a protocol with its own transports as
/// `PROTOCOL:MODE` (`socket.io:polling`, `bayeux:websocket`,
/// `sockjs:xhr-streaming`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportSpec {
    /// The `--transport` of `pushpoll load`.
    pub transport: LoadTransport,
    /// The protocol's own transport (`--socketio-transport`, ...), if named.
    pub mode: Option<String>,
}

impl TransportSpec {
    /// pushpoll's own transport this is, if it is one of the four.
    pub fn own(&self) -> Option<Transport> {
        if self.mode.is_some() {
            return None;
        }
        Transport::ALL
            .into_iter()
            .find(|t| LoadTransport::from(*t) == self.transport)
    }

    /// The option of `pushpoll load` that chooses the protocol's transport
    /// (`--socketio-transport` for `socket.io`).
    fn mode_option(&self) -> String {
        format!("--{}-transport", self.transport.name().replace('.', ""))
    }
}

impl From<Transport> for TransportSpec {
    fn from(t: Transport) -> Self {
        TransportSpec {
            transport: t.into(),
            mode: None,
        }
    }
}

impl FromStr for TransportSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, mode) = match s.split_once(':') {
            Some((n, m)) if !m.is_empty() => (n, Some(m.to_owned())),
            Some(_) => {
                return Err(format!(
                    "{s:?}: name the transport after the colon, e.g. bayeux:websocket"
                ))
            }
            None => (s, None),
        };
        let transport =
            <LoadTransport as clap::ValueEnum>::from_str(name, false).map_err(|_| {
                let known: Vec<String> = <LoadTransport as clap::ValueEnum>::value_variants()
                    .iter()
                    .map(|t| t.name().to_owned())
                    .collect();
                format!("unknown transport {name:?} (known: {})", known.join(", "))
            })?;
        Ok(TransportSpec { transport, mode })
    }
}

impl fmt::Display for TransportSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.mode {
            Some(m) => write!(f, "{}:{m}", self.transport.name()),
            None => f.write_str(self.transport.name()),
        }
    }
}

/// `url` with the scheme `transport` connects with: `ws(s)://` for plain
/// WebSocket subscribers, `http(s)://` for every other (their WebSocket
/// URLs, if any, are derived by the protocol).
fn url_for(url: &str, transport: LoadTransport) -> String {
    let swap = |from: &str, to: &str| url.strip_prefix(from).map(|rest| format!("{to}{rest}"));
    let swapped = if transport == LoadTransport::Ws {
        swap("http://", "ws://").or_else(|| swap("https://", "wss://"))
    } else {
        swap("ws://", "http://").or_else(|| swap("wss://", "https://"))
    };
    swapped.unwrap_or_else(|| url.to_owned())
}

/// The `pushpoll load` options of one transport under one workload.
pub fn load_opts(
    opts: &CompareOpts,
    url: &str,
    spec: &TransportSpec,
    w: &Workload,
) -> anyhow::Result<LoadOpts> {
    let mut args: Vec<OsString> = Vec::new();
    if let Some(s) = &opts.remote.scenario {
        args.extend(["--scenario".into(), s.clone().into_os_string()]);
    }
    let mut set = |k: &str, v: String| args.extend([OsString::from(k), OsString::from(v)]);
    set("--url", url_for(url, spec.transport));
    set("--transport", spec.transport.name().to_owned());
    if let Some(m) = &spec.mode {
        set(&spec.mode_option(), m.clone());
    }
    set("--subscribers", w.subscribers.to_string());
    set("--rate", w.rate.to_string());
    set("--duration", w.duration.to_string());
    set("--payload-bytes", w.payload_bytes.to_string());
    set("--idle", w.idle.to_string());
    // Browser headers by default, as for the in-process server; a scenario's
    // own header profile stands unless --header-profile is given.
    if opts.header_profile.is_some() || opts.remote.scenario.is_none() {
        let profile = match w.headers {
            super::BaseHeaders::Browser => "browser",
            super::BaseHeaders::Minimal => "minimal",
        };
        set("--header-profile", profile.to_owned());
    }
    match spec.transport {
        LoadTransport::ShortPoll => set("--poll-interval", w.poll_interval.to_string()),
        LoadTransport::LongPoll => set("--long-poll-wait", w.long_poll_wait.to_string()),
        _ => {}
    }
    // A scenario written for `pushpoll load` may hold its verdict (`slo`);
    // a comparison judges with its own `--slo`.
    let cmd = LoadOpts::command().arg(clap::Arg::new("slo").long("slo"));
    let args = pushpoll_loadgen::scenario::expand(&cmd, args)?;
    let mut argv = vec![OsString::from("load")];
    argv.extend(
        args.into_iter()
            .filter(|a| !a.to_string_lossy().starts_with("--slo=")),
    );
    LoadOpts::try_parse_from(argv).with_context(|| format!("the options of the {spec} run"))
}

/// A server process's CPU time from `/proc/PID/stat` (user + system), for
/// `--server-pid` (of `compare --url` and of `load`): the server's CPU per
/// delivered message, as for pushpoll's in-process server.
pub(crate) fn process_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux ABI (sysconf(_SC_CLK_TCK)).
    Some(Duration::from_millis(ticks * 10))
}

/// The runs of a comparison against `--url`, in order: every transport
/// under every workload (the poll interval only matters to short polling).
pub fn planned(opts: &CompareOpts) -> Vec<(TransportSpec, Workload)> {
    let mut planned: Vec<(TransportSpec, Workload)> = Vec::new();
    for w in Workload::matrix(opts) {
        for spec in &opts.transports {
            let redundant = spec.transport != LoadTransport::ShortPoll
                && planned
                    .iter()
                    .any(|(s, x)| s == spec && x.subscribers == w.subscribers && x.rate == w.rate);
            if !redundant {
                planned.push((spec.clone(), w.clone()));
            }
        }
    }
    planned
}

/// Runs every transport of `opts.transports` against `--url`, workload by
/// workload.
pub async fn run(
    opts: &CompareOpts,
    url: &str,
    stop: tokio_util::sync::CancellationToken,
    view: &crate::progress::View,
) -> anyhow::Result<Vec<RunResult>> {
    anyhow::ensure!(
        opts.rtt.is_empty(),
        "--rtt puts pushpoll's delaying proxy in front of its own server; against --url, run `pushpoll proxy` in front of yours and point --url at it"
    );
    anyhow::ensure!(
        opts.variants.is_empty(),
        "--variants are pushpoll's own server's; against --url, name each transport in --transports"
    );
    let server_cpu = match opts.remote.server_pid {
        Some(pid) => {
            anyhow::ensure!(
                process_cpu(pid).is_some(),
                "--server-pid {pid}: no readable /proc/{pid}/stat (is the server running on this machine?)"
            );
            let reader: pushpoll_loadgen::CpuReader = Arc::new(move || process_cpu(pid));
            Some(reader)
        }
        None => None,
    };
    let hooks = pushpoll_loadgen::Hooks {
        server_cpu,
        progress: view.live(),
        ..Default::default()
    };
    let planned = planned(opts);
    let mut results = Vec::new();
    for (i, (spec, w)) in planned.iter().enumerate() {
        if stop.is_cancelled() {
            break;
        }
        let load = load_opts(opts, url, spec, w)?;
        view.start(&format!(
            "[{}/{}] {spec} at {url}: {} subscribers, {} msg/s for {}s",
            i + 1,
            planned.len(),
            w.subscribers,
            w.rate,
            w.duration
        ));
        let mut result =
            pushpoll_loadgen::run(&load, hooks.clone(), stop.clone().cancelled_owned())
                .await
                .with_context(|| format!("running the {spec} load against {url}"))?;
        // The protocol's transport is what the tables compare: its name
        // is the column (`socket.io:polling`), as `ws` is for pushpoll's.
        result.transport = spec.to_string();
        view.finish(&format!(
            "[{}/{}] {spec}: delivered {}/{}, lost {}",
            i + 1,
            planned.len(),
            result.delivered,
            result.expected_deliveries,
            result.lost
        ));
        results.push(result);
    }
    view.close();
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_name_the_protocols_transport() {
        let s: TransportSpec = "socket.io:polling".parse().unwrap();
        assert_eq!(s.transport, LoadTransport::SocketIo);
        assert_eq!(s.mode_option(), "--socketio-transport");
        assert_eq!(s.to_string(), "socket.io:polling");
        assert_eq!(s.own(), None);
        let s: TransportSpec = "long-poll".parse().unwrap();
        assert_eq!(s.own(), Some(Transport::LongPoll));
        assert!("socket.io:".parse::<TransportSpec>().is_err());
        let e = "carrier-pigeon".parse::<TransportSpec>().unwrap_err();
        assert!(
            e.starts_with("unknown transport \"carrier-pigeon\" (known: ws, "),
            "{e}"
        );
        assert_eq!(url_for("http://h:1/x", LoadTransport::Ws), "ws://h:1/x");
        assert_eq!(url_for("wss://h/x", LoadTransport::Sse), "https://h/x");
        assert_eq!(
            url_for("http://h/faye", LoadTransport::SocketIo),
            "http://h/faye"
        );
    }

    #[test]
    fn this_process_cpu_reads_from_proc() {
        let cpu = process_cpu(std::process::id());
        assert!(cpu.is_some());
        assert_eq!(process_cpu(u32::MAX), None);
    }
}

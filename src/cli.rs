//! The command line: `pushpoll serve`, `pushpoll load`, `pushpoll compare`.

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::compare::{self, CompareOpts};
use crate::document::{self, Document};
use crate::slo::Slo;

/// Measures why WebSocket replaced AJAX polling.
#[derive(Debug, Parser)]
#[command(name = "pushpoll", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the broadcast chat hub over WebSocket, long polling, short polling and SSE on one port.
    Serve(ServeOpts),
    /// Load one transport of a server (pushpoll's or anyone's) and measure it.
    Load(Box<LoadCmd>),
    /// Run the same workload over every transport against an in-process server, side by side.
    Compare(CompareOpts),
    /// A TCP proxy that delays, throttles or cuts traffic: network conditions without netem.
    Proxy(pushpoll_proxy::ProxyOpts),
    /// Render results files (`--json` of compare or load) as Markdown and HTML with SVG charts.
    Report(ReportOpts),
    /// Run the load generator's WebSocket client against an Autobahn|Testsuite fuzzing server.
    AutobahnClient(AutobahnOpts),
}

/// Options of `pushpoll report`.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportOpts {
    /// Results files written by `pushpoll compare --json` or `pushpoll load --json`.
    #[arg(required = true)]
    pub results: Vec<std::path::PathBuf>,
    /// Folder for `report.md`, `report.html` and the charts (default
    /// `report`; with `--merge` and `--json`, only when given).
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
    /// Also print the terminal tables `pushpoll compare` prints.
    #[arg(long)]
    pub print: bool,
    /// Combine the runs of all the files (one per load agent, e.g. the pods
    /// of `deploy/`) into one exact result: counts summed, latency
    /// histograms added. Prints its summary.
    #[arg(long)]
    pub merge: bool,
    /// With `--merge`: write the merged result as a results document here.
    #[arg(long, requires = "merge")]
    pub json: Option<std::path::PathBuf>,
}

/// Options of `pushpoll autobahn-client`.
#[derive(Debug, Clone, clap::Args)]
pub struct AutobahnOpts {
    /// The fuzzing server, e.g. `ws://127.0.0.1:9001`.
    #[arg(long)]
    pub url: String,
    /// Agent name the report files the results under.
    #[arg(long, default_value = "pushpoll")]
    pub agent: String,
}

/// The process's arguments with `pushpoll load --scenario FILE` expanded
/// into the options the file holds (command-line options win).
pub fn args_with_scenario(
    args: Vec<std::ffi::OsString>,
) -> Result<Vec<std::ffi::OsString>, pushpoll_loadgen::LoadError> {
    use clap::CommandFactory as _;
    let is_load = args.get(1).is_some_and(|a| a == "load");
    if !is_load || !pushpoll_loadgen::scenario::names_a_scenario(&args[2..]) {
        return Ok(args);
    }
    let cli = Cli::command();
    let Some(load) = cli.find_subcommand("load") else {
        return Ok(args);
    };
    let mut out = args[..2].to_vec();
    out.extend(pushpoll_loadgen::scenario::expand(
        load,
        args[2..].to_vec(),
    )?);
    Ok(out)
}

/// `pushpoll load`: the load generator's options plus a verdict.
#[derive(Debug, Clone, clap::Args)]
pub struct LoadCmd {
    /// The run.
    #[command(flatten)]
    pub opts: pushpoll_loadgen::LoadOpts,
    /// Targets the run must meet, e.g. `p99=200ms,loss=0`; missing one exits with code 3.
    /// A run in which a subscriber never connected, or nothing was published, misses too.
    #[arg(long)]
    pub slo: Option<Slo>,
    /// The server's process id on this machine: its CPU time
    /// (`/proc/PID/stat`, user + system) is read when publishing starts and
    /// when the grace period ends, and reported as server CPU per delivered
    /// message, for a server without a Prometheus endpoint (a peer, the
    /// floor server) as for one with (instead of `--server-metrics-url`).
    #[arg(long, value_name = "PID", conflicts_with = "server_metrics_url")]
    pub server_pid: Option<u32>,
}

/// Options of `pushpoll serve`.
#[derive(Debug, Clone, clap::Args)]
pub struct ServeOpts {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Messages kept in history for resuming clients.
    #[arg(long)]
    pub history: Option<usize>,
    /// Most simultaneous connections; more are answered 503.
    #[arg(long)]
    pub max_connections: Option<usize>,
    /// Listen queue length: connections completed by the kernel but not yet
    /// accepted (default 4096; Linux caps it at net.core.somaxconn). When it
    /// overflows, as in a reconnect storm, clients wait a second or more.
    #[arg(long)]
    pub listen_backlog: Option<u32>,
    /// Longest a long poll is held, seconds.
    #[arg(long)]
    pub long_poll_max: Option<f64>,
    /// Largest WebSocket message (and frame) accepted, bytes; larger ones are
    /// closed with 1009. The default suits chat; conformance runs raise it.
    #[arg(long)]
    pub ws_max_message_bytes: Option<usize>,
    /// Content codings for poll answers, in the server's order of
    /// preference, used when a request's `Accept-Encoding` allows one:
    /// `br,gzip`, `gzip`, `br`, or `off` [default: br,gzip].
    #[arg(long, value_name = "br,gzip|off")]
    pub compression: Option<String>,
    /// Smallest poll answer that is compressed, bytes [default: 20, nginx's
    /// `gzip_min_length`].
    #[arg(long, value_name = "BYTES")]
    pub compress_min_bytes: Option<usize>,
    /// Serve over TLS (https://, wss://) with this PEM certificate chain,
    /// leaf first; needs --tls-key.
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
}

impl ServeOpts {
    /// The server configuration these options describe.
    pub fn config(&self) -> anyhow::Result<pushpoll_server::Config> {
        let mut config = pushpoll_server::Config::default();
        // Zeros and other nonsense are refused by `Limits::validate` below.
        if let Some(h) = self.history {
            config.limits.history = h;
        }
        if let Some(m) = self.max_connections {
            config.limits.max_connections = m;
        }
        if let Some(b) = self.listen_backlog {
            config.limits.listen_backlog = b;
        }
        if let Some(bytes) = self.ws_max_message_bytes {
            config.limits.ws_max_message_bytes = bytes;
            config.limits.ws_max_frame_bytes = bytes;
        }
        if let Some(list) = &self.compression {
            config.compression.codings =
                pushpoll_server::compress::Compression::parse_codings(list)
                    .map_err(|e| anyhow::anyhow!("--compression: {e}"))?;
        }
        if let Some(n) = self.compress_min_bytes {
            config.compression.min_bytes = n;
        }
        if let Some(secs) = self.long_poll_max {
            config.limits.long_poll_max = std::time::Duration::try_from_secs_f64(secs)
                .ok()
                .filter(|d| !d.is_zero())
                .context("--long-poll-max must be a positive number of seconds")?;
        }
        config
            .limits
            .validate()
            .context("checking the server's limits")?;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            let tls = pushpoll_server::TlsConfig::from_pem_files(
                cert,
                key,
                pushpoll_server::tls::DEFAULT_ALPN,
            )
            .context("--tls-cert / --tls-key")?;
            config.tls = Some(tls);
        }
        Ok(config)
    }
}

/// Logs go to stderr, filtered by `RUST_LOG` (default: warnings only, so the
/// tables stay readable; `RUST_LOG=info` shows connections and phases).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// A token cancelled by the first Ctrl-C (SIGINT) or SIGTERM: runs stop and
/// report what they measured; the server shuts down gracefully.
fn ctrl_c_token() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        if interrupted().await {
            eprintln!("interrupted: finishing");
            t.cancel();
        }
    });
    token
}

/// Resolves to true on SIGINT or SIGTERM (false if no handler could be set).
async fn interrupted() -> bool {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                r = tokio::signal::ctrl_c() => r.is_ok(),
                _ = term.recv() => true,
            },
            Err(_) => tokio::signal::ctrl_c().await.is_ok(),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.is_ok()
    }
}

/// Runs a parsed command line.
pub async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(opts) => serve(opts).await,
        Command::Load(cmd) => load(*cmd).await,
        Command::Compare(opts) => run_compare(opts).await,
        Command::Proxy(opts) => {
            let stop = ctrl_c_token();
            let proxy = pushpoll_proxy::Proxy::start(&opts).await?;
            eprintln!(
                "pushpoll proxy on {} -> {} (delay {} ms each way); Ctrl-C stops it",
                proxy.addr(),
                opts.upstream,
                opts.delay
            );
            stop.cancelled().await;
            let stats = proxy.stop().await;
            eprintln!("{}", serde_json::to_string(&stats)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Report(opts) if opts.merge => merge_report(&opts),
        Command::Report(opts) => {
            let inputs = pushpoll_report::load_documents(&opts.results)?;
            if opts.print {
                for input in &inputs {
                    print_tables(&input.runs);
                }
            }
            let out = opts.out.clone().unwrap_or_else(|| "report".into());
            print_written(&pushpoll_report::write_report(&inputs, &out)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::AutobahnClient(opts) => {
            let run = pushpoll_loadgen::autobahn::run_client(&opts.url, &opts.agent).await?;
            eprintln!(
                "ran {} Autobahn cases ({} ended with a client-side error; the report judges them)",
                run.cases, run.client_errors
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `pushpoll report --merge`: agents' runs combined into one.
fn merge_report(opts: &ReportOpts) -> anyhow::Result<ExitCode> {
    let started = document::unix_now_s();
    let inputs = pushpoll_report::load_documents(&opts.results)?;
    let runs: Vec<_> = inputs.iter().flat_map(|i| i.runs.iter().cloned()).collect();
    let merged = pushpoll_report::merge::merge(&runs).context("--merge")?;
    eprintln!("merged {} runs from {} files", runs.len(), inputs.len());
    print!("{}", pushpoll_report::summary::render(&merged));
    let doc = Document::new("merge", started, vec![merged]);
    if let Some(path) = &opts.json {
        document::write(&doc, path)?;
        eprintln!("wrote {}", path.display());
    }
    if opts.print {
        print_tables(&doc.runs);
    }
    let out = match (&opts.out, &opts.json) {
        (Some(dir), _) => Some(dir.clone()),
        (None, None) => Some("report".into()),
        (None, Some(_)) => None,
    };
    if let Some(dir) = out {
        print_written(&pushpoll_report::write_report(
            &[document::to_report_input(&doc)?],
            &dir,
        )?);
    }
    Ok(ExitCode::SUCCESS)
}

async fn serve(opts: ServeOpts) -> anyhow::Result<ExitCode> {
    let config = opts.config()?;
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .with_context(|| format!("binding {}", opts.addr))?;
    let addr = listener.local_addr()?;
    let (http, ws) = if config.tls.is_some() {
        ("https", "wss")
    } else {
        ("http", "ws")
    };
    eprintln!(
        "pushpoll serving on {http}://{addr}/ : {ws}://{addr}/ws, {http}://{addr}/messages, {http}://{addr}/events, {http}://{addr}/metrics"
    );
    let stop = ctrl_c_token();
    pushpoll_server::run(listener, config, stop.cancelled_owned())
        .await
        .context("serving")?;
    Ok(ExitCode::SUCCESS)
}

async fn load(cmd: LoadCmd) -> anyhow::Result<ExitCode> {
    if cmd.opts.worker {
        // A share of a bigger run, driven by the parent over stdin/stdout.
        pushpoll_loadgen::serve_worker().await?;
        return Ok(ExitCode::SUCCESS);
    }
    if cmd.opts.insecure {
        eprintln!("warning: --insecure: server certificates are not checked (the traffic is encrypted, but the server is not authenticated)");
    }
    let started = document::unix_now_s();
    let stop = ctrl_c_token();
    // On a terminal, the live view (worker processes' counts summed in).
    let view =
        std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| crate::progress::View::new(1));
    if let Some(v) = &view {
        v.start(&format!("load {}", cmd.opts.transport));
    }
    let server_cpu = match cmd.server_pid {
        Some(pid) => {
            anyhow::ensure!(
                compare::process_cpu(pid).is_some(),
                "--server-pid {pid}: no readable /proc/{pid}/stat (is the server running on this machine?)"
            );
            let reader: pushpoll_loadgen::CpuReader =
                std::sync::Arc::new(move || compare::process_cpu(pid));
            Some(reader)
        }
        None => None,
    };
    let hooks = pushpoll_loadgen::Hooks {
        server_cpu,
        progress: view.as_ref().and_then(|v| v.live()),
        metrics_bound: Some(std::sync::Arc::new(|addr| {
            eprintln!("serving the run's metrics on http://{addr}/metrics");
        })),
        ..Default::default()
    };
    let result = pushpoll_loadgen::run(&cmd.opts, hooks, stop.cancelled_owned()).await;
    if let Some(v) = &view {
        v.close();
    }
    let result = result?;
    print!("{}", pushpoll_report::summary::render(&result));
    let runs = vec![result];
    if let Some(path) = &cmd.opts.json {
        document::write(&Document::new("load", started, runs.clone()), path)?;
    }
    if let Some(path) = &cmd.opts.csv {
        let csv = pushpoll_results::timeline::to_csv(&runs[0].timeline);
        std::fs::write(path, csv).with_context(|| format!("--csv: writing {}", path.display()))?;
    }
    Ok(verdict(cmd.slo.as_ref(), &runs))
}

/// Exit code 3 (and one line per miss on stderr) when a run misses the SLO.
fn verdict(slo: Option<&Slo>, runs: &[pushpoll_loadgen::RunResult]) -> ExitCode {
    let misses = slo.map(|s| s.check(runs)).unwrap_or_default();
    for miss in &misses {
        eprintln!("{miss}");
    }
    if misses.is_empty() {
        if slo.is_some() {
            eprintln!("SLO met");
        }
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    }
}

async fn run_compare(opts: CompareOpts) -> anyhow::Result<ExitCode> {
    let started = document::unix_now_s();
    let stop = ctrl_c_token();
    let view = crate::progress::View::new(compare::total_runs(&opts) as u64);
    let results = compare::run(&opts, stop, &view).await?;
    print_tables(&results);
    let doc = Document::new("compare", started, results.clone());
    if let Some(path) = &opts.json {
        document::write(&doc, path)?;
        eprintln!("wrote {}", path.display());
    }
    if let Some(dir) = &opts.out {
        let files = pushpoll_report::write_report(&[document::to_report_input(&doc)?], dir)?;
        print_written(&files);
    }
    Ok(verdict(opts.slo.as_ref(), &results))
}

/// The side-by-side tables (variants as columns), headlines and
/// projections, one set per workload.
fn print_tables(results: &[pushpoll_loadgen::RunResult]) {
    use pushpoll_report::compare;
    for group in compare::groups(results) {
        println!("{}", compare::render(&group));
        for line in compare::headlines(&group) {
            println!("{line}");
        }
        println!();
        print!(
            "{}",
            pushpoll_report::projection::render(&compare::plain_runs(&group))
        );
        println!();
    }
}

fn print_written(files: &pushpoll_report::ReportFiles) {
    eprintln!(
        "wrote {} and {} ({} charts)",
        files.html.display(),
        files.markdown.display(),
        files.charts.len()
    );
}

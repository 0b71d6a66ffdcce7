//! A TCP proxy that puts network conditions between a client and a server
//! without `netem` (no root, no kernel module, any OS): a one-way delay per
//! direction, jitter that never reorders, a bandwidth cap per connection,
//! and a fault mode that cuts connections at random times.
//!
//! `pushpoll compare --rtt` puts one in front of the in-process server to
//! show which transports' latency grows with the round trip and by how much
//! (RFC 6202: a long poll needs up to three transits per event when events
//! come back to back; a WebSocket needs one). The fault mode checks that
//! every transport resumes without loss when its connection is cut.
//!
//! What it promises, per connection and direction:
//! - **Delay**: each chunk read at `t` is written no earlier than
//!   `t + delay ± jitter` (jitter uniform), and never before the chunk read
//!   ahead of it: its release time is `max(previous release, t + delay +
//!   jitter)`, so bytes keep their order however large the jitter.
//! - **Handshake**: a new connection's first bytes toward the upstream wait
//!   at least three one-way delays after the accept (SYN, SYN-ACK, then the
//!   data), as a real round trip would make TCP's handshake cost.
//! - **Bandwidth**: at most `--bandwidth` bytes per second are written,
//!   paced in small pieces (a token bucket holding one piece, so a
//!   connection idle for a while gets no burst).
//! - **Bounded memory**: at most `--buffer-bytes` read but not yet written;
//!   beyond that it stops reading, so TCP's own flow control pushes back on
//!   the sender. Half-closes (FIN) travel after the bytes before them.
//! - **Faults** (`--kill-every`): at random times (uniform between 0.5 and
//!   1.5 × the interval) one open connection, picked at random, is cut with
//!   probability `--kill-probability`, on both sides, by RST or by a plain
//!   close (`--kill-mode`), at most `--kill-max` times.
//!
//! The proxy runs on the caller's runtime ([`Proxy::start`]) and counts what
//! it did in [`ProxyStats`].

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::error::LoadError;

/// Largest chunk read at once (less when `--buffer-bytes` is smaller).
const CHUNK: usize = 16 << 10;
/// Time to connect to the upstream before the client is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest delay or jitter accepted, ms (an hour).
const MAX_DELAY_MS: f64 = 3_600_000.0;
/// Largest `--buffer-bytes`.
const MAX_BUFFER: usize = 1 << 30;
/// Pieces the bandwidth pacer writes per second at most (bigger pieces at
/// higher rates keep the timer cost bounded).
const PIECES_PER_S: u64 = 100;

/// How a fault cuts a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KillMode {
    /// A reset (RST) on both sides: what a crashed middlebox or host does.
    Rst,
    /// A plain close (FIN) on both sides: what an idle-timeout proxy does.
    Close,
    /// Either, at random, half and half.
    Mixed,
}

/// Options of `pushpoll proxy`; also how embedding callers configure one.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "pushpoll proxy",
    about = "Forward TCP with added delay, jitter, a bandwidth cap and connection faults"
)]
pub struct ProxyOpts {
    /// Address to listen on (`host:port`; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,

    /// Address every connection is forwarded to (`host:port`).
    #[arg(long)]
    pub upstream: String,

    /// One-way delay added to each direction, milliseconds (a round trip
    /// gains twice this).
    #[arg(long, default_value_t = 0.0)]
    pub delay: f64,

    /// Jitter, milliseconds: each chunk's delay is drawn uniformly in
    /// `delay ± jitter` (never below 0), without ever reordering bytes.
    #[arg(long, default_value_t = 0.0)]
    pub jitter: f64,

    /// Bytes per second each connection may carry in each direction
    /// (default: unlimited).
    #[arg(long)]
    pub bandwidth: Option<u64>,

    /// Fault mode: every this many seconds on average (each interval drawn
    /// uniformly between 0.5× and 1.5×), cut one random open connection.
    #[arg(long)]
    pub kill_every: Option<f64>,

    /// Chance that a fault tick actually cuts a connection.
    #[arg(long, default_value_t = 1.0)]
    pub kill_probability: f64,

    /// How a cut is made.
    #[arg(long, value_enum, default_value_t = KillMode::Mixed)]
    pub kill_mode: KillMode,

    /// Most connections cut over the proxy's life.
    #[arg(long, default_value_t = 1000)]
    pub kill_max: u64,

    /// Bytes each connection may hold per direction (read, not yet
    /// written); past it the proxy stops reading and TCP pushes back.
    #[arg(long, default_value_t = 256 * 1024)]
    pub buffer_bytes: usize,

    /// Most connections open at once; more are closed on accept.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
}

impl ProxyOpts {
    /// Options for a proxy in front of `upstream` with every default: no
    /// delay, no cap, no faults, listening on `127.0.0.1:0`.
    pub fn to(upstream: SocketAddr) -> ProxyOpts {
        ProxyOpts::parse_from(["proxy", "--upstream", &upstream.to_string()])
    }
}

/// What a proxy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyStats {
    /// Connections accepted and forwarded.
    pub connections: u64,
    /// Connections open now.
    pub open: u64,
    /// Connections closed on accept because `--max-connections` were open.
    pub refused: u64,
    /// Connections reset because the upstream could not be reached.
    pub upstream_failures: u64,
    /// Bytes written to the upstream.
    pub bytes_up: u64,
    /// Bytes written back to clients.
    pub bytes_down: u64,
    /// Connections the fault mode cut with a reset.
    pub killed_rst: u64,
    /// Connections the fault mode cut with a plain close.
    pub killed_close: u64,
    /// Most bytes one direction of one connection held at once.
    pub peak_buffered_bytes: u64,
}

impl ProxyStats {
    /// Connections the fault mode cut, either way.
    pub fn killed(&self) -> u64 {
        self.killed_rst + self.killed_close
    }
}

/// Validated settings.
#[derive(Debug, Clone)]
struct Config {
    upstream: SocketAddr,
    delay: Duration,
    jitter: Duration,
    bandwidth: Option<u64>,
    kill: Option<Kill>,
    buffer: usize,
    max_connections: usize,
}

#[derive(Debug, Clone, Copy)]
struct Kill {
    every: Duration,
    probability: f64,
    mode: KillMode,
    max: u64,
}

/// How a fault ends a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    Rst,
    Close,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    open: AtomicU64,
    refused: AtomicU64,
    upstream_failures: AtomicU64,
    bytes_up: AtomicU64,
    bytes_down: AtomicU64,
    killed_rst: AtomicU64,
    killed_close: AtomicU64,
    peak_buffered: AtomicU64,
}

/// What the accept loop and every connection share.
struct Shared {
    cfg: Config,
    counters: Counters,
    /// Open connections the fault mode may cut, by id.
    victims: Mutex<HashMap<u64, oneshot::Sender<Cut>>>,
}

impl Shared {
    fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        ProxyStats {
            connections: c.connections.load(Relaxed),
            open: c.open.load(Relaxed),
            refused: c.refused.load(Relaxed),
            upstream_failures: c.upstream_failures.load(Relaxed),
            bytes_up: c.bytes_up.load(Relaxed),
            bytes_down: c.bytes_down.load(Relaxed),
            killed_rst: c.killed_rst.load(Relaxed),
            killed_close: c.killed_close.load(Relaxed),
            peak_buffered_bytes: c.peak_buffered.load(Relaxed),
        }
    }
}

fn invalid(option: &'static str, reason: String) -> LoadError {
    LoadError::InvalidOption { option, reason }
}

fn millis(option: &'static str, v: f64) -> Result<Duration, LoadError> {
    if !(v.is_finite() && (0.0..=MAX_DELAY_MS).contains(&v)) {
        return Err(invalid(
            option,
            format!("must be between 0 and {MAX_DELAY_MS} milliseconds, got {v}"),
        ));
    }
    Ok(Duration::from_secs_f64(v / 1000.0))
}

async fn resolve(option: &'static str, hostport: &str) -> Result<SocketAddr, LoadError> {
    let resolve_error = |source| LoadError::Resolve {
        option,
        host: hostport.to_owned(),
        source,
    };
    tokio::net::lookup_host(hostport)
        .await
        .map_err(resolve_error)?
        .next()
        .ok_or_else(|| resolve_error(io::Error::new(io::ErrorKind::NotFound, "no address")))
}

impl Config {
    async fn new(o: &ProxyOpts) -> Result<Config, LoadError> {
        let delay = millis("delay", o.delay)?;
        let jitter = millis("jitter", o.jitter)?;
        if o.bandwidth == Some(0) {
            return Err(invalid(
                "bandwidth",
                "must be at least 1 byte per second (leave it out for no cap)".into(),
            ));
        }
        if !(o.kill_probability.is_finite() && (0.0..=1.0).contains(&o.kill_probability)) {
            return Err(invalid(
                "kill-probability",
                format!("must be between 0 and 1, got {}", o.kill_probability),
            ));
        }
        let kill = match o.kill_every {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s <= MAX_DELAY_MS / 1000.0 => Some(Kill {
                every: Duration::from_secs_f64(s),
                probability: o.kill_probability,
                mode: o.kill_mode,
                max: o.kill_max,
            }),
            Some(s) => {
                return Err(invalid(
                    "kill-every",
                    format!("must be a number of seconds > 0 and at most an hour, got {s}"),
                ))
            }
        };
        if o.buffer_bytes == 0 || o.buffer_bytes > MAX_BUFFER {
            return Err(invalid(
                "buffer-bytes",
                format!("must be between 1 and {MAX_BUFFER}, got {}", o.buffer_bytes),
            ));
        }
        if o.max_connections == 0 {
            return Err(invalid("max-connections", "must be at least 1".into()));
        }
        Ok(Config {
            upstream: resolve("upstream", &o.upstream).await?,
            delay,
            jitter,
            bandwidth: o.bandwidth,
            kill,
            buffer: o.buffer_bytes,
            max_connections: o.max_connections,
        })
    }
}

/// A running proxy. Dropping it (or [`stop`](Proxy::stop)) closes the
/// listener and every connection.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.cfg.upstream)
            .finish()
    }
}

impl Proxy {
    /// Checks `opts`, binds `--listen` and starts serving on the current
    /// runtime. With the default `127.0.0.1:0`, [`addr`](Proxy::addr) tells
    /// the port.
    pub async fn start(opts: &ProxyOpts) -> Result<Proxy, LoadError> {
        let cfg = Config::new(opts).await?;
        let listen_error = |source| LoadError::Listen {
            addr: opts.listen.clone(),
            source,
        };
        let listen = resolve("listen", &opts.listen).await?;
        let listener = TcpListener::bind(listen).await.map_err(listen_error)?;
        let addr = listener.local_addr().map_err(listen_error)?;
        let shared = Arc::new(Shared {
            cfg,
            counters: Counters::default(),
            victims: Mutex::new(HashMap::new()),
        });
        let stop = CancellationToken::new();
        let task = tokio::spawn(accept_loop(listener, shared.clone(), stop.clone()));
        tracing::info!(%addr, upstream = %shared.cfg.upstream, "proxy listening");
        Ok(Proxy {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// What it did so far.
    pub fn stats(&self) -> ProxyStats {
        self.shared.stats()
    }

    /// Closes the listener and every connection; returns what it did.
    pub async fn stop(mut self) -> ProxyStats {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.shared.stats()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// `pushpoll proxy`: serves until `stop` resolves, then returns what it did.
pub async fn run(
    opts: ProxyOpts,
    stop: impl Future<Output = ()> + Send,
) -> Result<ProxyStats, LoadError> {
    let proxy = Proxy::start(&opts).await?;
    stop.await;
    Ok(proxy.stop().await)
}

/// The next fault tick: uniformly between 0.5 and 1.5 × `every` from now.
fn next_tick(every: Duration) -> Instant {
    Instant::now() + every.mul_f64(0.5 + rand::random::<f64>())
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>, stop: CancellationToken) {
    let mut conns = JoinSet::new();
    let mut next_id: u64 = 0;
    let kill = shared.cfg.kill;
    let mut tick = kill.filter(|k| k.max > 0).map(|k| next_tick(k.every));
    // Cuts sent; connections count the ones they make (a connection may
    // end on its own first), but the bound is on what was sent.
    let mut issued: u64 = 0;
    loop {
        let fault = async {
            match tick {
                Some(at) => sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            _ = fault => {
                if let Some(k) = kill {
                    issued += u64::from(fault_tick(&shared, k));
                    tick = (issued < k.max).then(|| next_tick(k.every));
                }
            }
            accepted = listener.accept() => match accepted {
                Ok((client, peer)) => {
                    if shared.counters.open.load(Relaxed) >= shared.cfg.max_connections as u64 {
                        shared.counters.refused.fetch_add(1, Relaxed);
                        tracing::debug!(%peer, "proxy full: connection closed");
                        continue;
                    }
                    let id = next_id;
                    next_id += 1;
                    let (tx, rx) = oneshot::channel();
                    lock(&shared.victims).insert(id, tx);
                    shared.counters.open.fetch_add(1, Relaxed);
                    conns.spawn(connection(shared.clone(), id, client, rx));
                }
                Err(e) => {
                    // Out of descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "proxy accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    conns.shutdown().await;
    lock(&shared.victims).clear();
    shared.counters.open.store(0, Relaxed);
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One fault tick: maybe cut one random open connection. True if a cut
/// was sent.
fn fault_tick(shared: &Shared, k: Kill) -> bool {
    if rand::random::<f64>() >= k.probability {
        return false;
    }
    let cut = match k.mode {
        KillMode::Rst => Cut::Rst,
        KillMode::Close => Cut::Close,
        KillMode::Mixed if rand::random::<bool>() => Cut::Rst,
        KillMode::Mixed => Cut::Close,
    };
    let mut victims = lock(&shared.victims);
    let ids: Vec<u64> = victims.keys().copied().collect();
    if ids.is_empty() {
        return false;
    }
    let id = ids[rand::random_range(0..ids.len())];
    victims.remove(&id).is_some_and(|tx| tx.send(cut).is_ok())
}

/// Resets `s` on drop instead of closing it.
fn arm_reset(s: &TcpStream) {
    // A zero linger makes the close send RST at once; it never blocks.
    #[allow(deprecated)]
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// One proxied connection, from accept to close.
async fn connection(
    shared: Arc<Shared>,
    id: u64,
    mut client: TcpStream,
    mut cut: oneshot::Receiver<Cut>,
) {
    let accepted = Instant::now();
    let cfg = &shared.cfg;
    let upstream = tokio::select! {
        biased;
        c = &mut cut => Err(c.ok()),
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(cfg.upstream)) => match r {
            Ok(Ok(s)) => Ok(s),
            _ => Err(None),
        },
    };
    let mut upstream = match upstream {
        Ok(s) => s,
        Err(c) => {
            match c {
                Some(c) => count_cut(&shared, c),
                None => {
                    shared.counters.upstream_failures.fetch_add(1, Relaxed);
                }
            }
            // An unreachable upstream looks like a refused connection.
            if c != Some(Cut::Close) {
                arm_reset(&client);
            }
            finish(&shared, id);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    shared.counters.connections.fetch_add(1, Relaxed);

    let outcome = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        // TCP's handshake costs a round trip before the first data.
        let handshake = accepted + cfg.delay * 3;
        let up = pump(&shared, cr, uw, handshake, &shared.counters.bytes_up);
        let down = pump(&shared, ur, cw, accepted, &shared.counters.bytes_down);
        tokio::select! {
            biased;
            Ok(c) = &mut cut => {
                count_cut(&shared, c);
                Some(c)
            }
            r = async { tokio::try_join!(up, down) } => match r {
                Ok(_) => None,
                // A reset travels on as a reset, any other failure as a close.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Some(Cut::Rst),
                Err(_) => Some(Cut::Close),
            },
        }
    };
    if outcome == Some(Cut::Rst) {
        arm_reset(&client);
        arm_reset(&upstream);
    }
    finish(&shared, id);
}

fn count_cut(shared: &Shared, c: Cut) {
    let counter = match c {
        Cut::Rst => &shared.counters.killed_rst,
        Cut::Close => &shared.counters.killed_close,
    };
    counter.fetch_add(1, Relaxed);
}

/// A connection is gone: no longer a victim, no longer open.
fn finish(shared: &Shared, id: u64) {
    lock(&shared.victims).remove(&id);
    shared.counters.open.fetch_sub(1, Relaxed);
}

/// Bytes read in one direction, waiting for their release time. `data:
/// None` is the reader's end of stream (FIN).
struct Chunk {
    release: Instant,
    data: Option<Bytes>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One direction of a connection: reads from `from`, holds each chunk
/// until its release time, writes it to `to` at the allowed rate. Ends
/// when the end of stream has been passed on, or at the first error.
async fn pump<R, W>(
    shared: &Shared,
    mut from: R,
    mut to: W,
    floor: Instant,
    written: &AtomicU64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cfg = &shared.cfg;
    let cap = cfg.buffer;
    let budget = Arc::new(Semaphore::new(cap));
    let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
    let read = async {
        let mut buf = vec![0u8; CHUNK.min(cap)];
        let mut prev = floor;
        loop {
            let n = from.read(&mut buf).await?;
            let release = prev.max(Instant::now() + jittered(cfg.delay, cfg.jitter));
            prev = release;
            if n == 0 {
                let _ = tx.send(Chunk {
                    release,
                    data: None,
                    _permit: None,
                });
                return Ok::<_, io::Error>(());
            }
            // Past the cap, stop reading until the writer catches up.
            let permit = budget
                .clone()
                .acquire_many_owned(n as u32)
                .await
                .expect("the budget is never closed");
            let held = (cap - budget.available_permits()) as u64;
            shared.counters.peak_buffered.fetch_max(held, Relaxed);
            let chunk = Chunk {
                release,
                data: Some(Bytes::copy_from_slice(&buf[..n])),
                _permit: Some(permit),
            };
            if tx.send(chunk).is_err() {
                return Ok(());
            }
        }
    };
    let write = async {
        let mut pacer = Pacer::new(cfg.bandwidth);
        while let Some(chunk) = rx.recv().await {
            sleep_until(chunk.release).await;
            let Some(data) = chunk.data else {
                to.shutdown().await?;
                return Ok(());
            };
            for piece in data.chunks(pacer.piece) {
                pacer.wait(piece.len()).await;
                to.write_all(piece).await?;
                written.fetch_add(piece.len() as u64, Relaxed);
            }
        }
        Ok(())
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// `delay` plus a uniform draw in `±jitter`, never below zero.
fn jittered(delay: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let s = delay.as_secs_f64() + jitter.as_secs_f64() * (2.0 * rand::random::<f64>() - 1.0);
    Duration::from_secs_f64(s.max(0.0))
}

/// Paces writes to a byte rate: a token bucket that holds one piece, so
/// by time `T` at most `rate × T + piece` bytes have gone out.
struct Pacer {
    rate: Option<u64>,
    /// Largest write.
    piece: usize,
    /// When the next piece may go.
    next: Instant,
}

impl Pacer {
    fn new(rate: Option<u64>) -> Pacer {
        let piece = match rate {
            None => CHUNK,
            Some(r) => (r / PIECES_PER_S).clamp(1, CHUNK as u64) as usize,
        };
        Pacer {
            rate,
            piece,
            next: Instant::now(),
        }
    }

    async fn wait(&mut self, n: usize) {
        let Some(rate) = self.rate else { return };
        let now = Instant::now();
        if self.next < now {
            self.next = now;
        }
        sleep_until(self.next).await;
        self.next += Duration::from_secs_f64(n as f64 / rate as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let d = Duration::from_millis(20);
        let j = Duration::from_millis(10);
        let draws: Vec<Duration> = (0..1000).map(|_| jittered(d, j)).collect();
        assert!(draws.iter().all(|x| *x >= d - j && *x <= d + j));
        assert!(draws.iter().any(|x| *x < d - j / 2));
        assert!(draws.iter().any(|x| *x > d + j / 2));
        // Jitter larger than the delay never makes a negative delay.
        assert!((0..100).all(|_| jittered(Duration::ZERO, j) <= j));
        assert_eq!(jittered(d, Duration::ZERO), d);
    }

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_to_its_rate() {
        let mut p = Pacer::new(Some(1000));
        assert_eq!(p.piece, 10);
        let start = Instant::now();
        let mut sent = 0;
        while Instant::now() - start < Duration::from_secs(3) {
            p.wait(p.piece).await;
            sent += p.piece;
        }
        // 3 s at 1,000 B/s, plus the piece that may go at the very start.
        assert!((3000..=3010).contains(&sent), "{sent}");
        let mut unlimited = Pacer::new(None);
        unlimited.wait(1 << 20).await;
        assert_eq!(unlimited.piece, CHUNK);
    }
}

//! Counters behind `GET /metrics`, rendered in the Prometheus text format
//! by `prometheus-client`.
//!
//! Every counter is a plain atomic indexed by [`Transport`]: no lock is taken
//! on the hot path, and each group sits on its own cache line so that cores
//! counting bytes do not fight over the line cores counting deliveries use.

use std::fmt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::hub::Hub;

/// Who a request, a socket or a byte is attributed to (the `transport` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub(crate) enum Transport {
    Ws = 0,
    Sse = 1,
    LongPoll = 2,
    ShortPoll = 3,
    Publish = 4,
    Other = 5,
}

impl Transport {
    /// All label values, in index order.
    pub(crate) const ALL: [Transport; 6] = [
        Transport::Ws,
        Transport::Sse,
        Transport::LongPoll,
        Transport::ShortPoll,
        Transport::Publish,
        Transport::Other,
    ];
    /// The four subscriber transports (the labels of per-subscriber metrics).
    const SUBSCRIBERS: [Transport; 4] = [
        Transport::Ws,
        Transport::Sse,
        Transport::LongPoll,
        Transport::ShortPoll,
    ];

    pub(crate) fn label(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::Sse => "sse",
            Transport::LongPoll => "long_poll",
            Transport::ShortPoll => "short_poll",
            Transport::Publish => "publish",
            Transport::Other => "other",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_index(i: u8) -> Option<Transport> {
        Transport::ALL.get(usize::from(i)).copied()
    }
}

/// One counter per transport, alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct PerTransport([AtomicU64; 6]);

impl PerTransport {
    pub(crate) fn add(&self, t: Transport, n: u64) {
        if n != 0 {
            self.0[t.index()].fetch_add(n, Relaxed);
        }
    }

    pub(crate) fn get(&self, t: Transport) -> u64 {
        self.0[t.index()].load(Relaxed)
    }
}

/// Every counter and gauge of one server.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    connections: [AtomicI64; 4],
    pub(crate) deliveries: PerTransport,
    pub(crate) requests: PerTransport,
    pub(crate) bytes_received: PerTransport,
    pub(crate) bytes_sent: PerTransport,
    pub(crate) slow_consumers: PerTransport,
    pub(crate) gap_notices: PerTransport,
    /// TLS handshakes that failed or timed out (TLS servers only).
    tls_handshake_failures: AtomicU64,
    /// WebSocket deliveries a publisher wrote itself to a parked session
    /// (`transport::ws::direct`); also in `deliveries`.
    pub(crate) ws_direct_deliveries: AtomicU64,
}

/// Counts one open socket or in-flight request while it lives.
#[derive(Debug)]
pub(crate) struct OpenGuard<'a> {
    gauge: &'a AtomicI64,
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.gauge.fetch_sub(1, Relaxed);
    }
}

impl Metrics {
    /// Counts a TLS handshake that failed or timed out.
    pub(crate) fn tls_handshake_failed(&self) {
        self.tls_handshake_failures.fetch_add(1, Relaxed);
    }

    /// Adds one to `pushpoll_connections{transport}` until the guard drops.
    /// Only subscriber transports have the gauge; others are not counted.
    pub(crate) fn open(&self, t: Transport) -> Option<OpenGuard<'_>> {
        let gauge = self.connections.get(t.index())?;
        gauge.fetch_add(1, Relaxed);
        Some(OpenGuard { gauge })
    }
}

/// The Prometheus text exposition (format 0.0.4) of `metrics` and `hub`,
/// encoded by `prometheus-client` (the encoder the load generator's
/// endpoint uses too). The values are read at the scrape from the atomics
/// the connections already count into: the collector adds nothing to the
/// hot path.
pub(crate) fn render(metrics: &Arc<Metrics>, hub: &Arc<Hub>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Scrape {
        metrics: metrics.clone(),
        hub: hub.clone(),
    }));
    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail, and the collector only fails when
    // its writer does.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

/// What one scrape reads.
#[derive(Debug)]
struct Scrape {
    metrics: Arc<Metrics>,
    hub: Arc<Hub>,
}

/// Encodes one family whose samples are labelled by transport.
fn per_transport<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    ts: &[Transport],
    value: impl Fn(Transport) -> M,
) -> fmt::Result {
    let Some(first) = ts.first() else {
        return Ok(());
    };
    let mut family = enc.encode_descriptor(name, help, None, value(*first).metric_type())?;
    for &t in ts {
        value(t).encode(family.encode_family(&[("transport", t.label())])?)?;
    }
    Ok(())
}

/// Encodes one unlabelled sample.
fn single<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: M,
) -> fmt::Result {
    let e = enc.encode_descriptor(name, help, None, m.metric_type())?;
    m.encode(e)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let m = &*self.metrics;
        let hub = &*self.hub;
        per_transport(
            &mut enc,
            "pushpoll_connections",
            "Open WebSocket and SSE sockets, and poll requests in flight.",
            &Transport::SUBSCRIBERS,
            |t| ConstGauge::new(m.connections[t.index()].load(Relaxed).max(0)),
        )?;
        // Counter names go without `_total`: the encoder appends it.
        single(
            &mut enc,
            "pushpoll_messages_published",
            "Messages published (the hub's last sequence number).",
            ConstCounter::new(hub.last_seq()),
        )?;
        let per = [
            (
                "pushpoll_deliveries",
                "Messages handed to a subscriber's socket.",
                &m.deliveries,
                &Transport::SUBSCRIBERS[..],
            ),
            (
                "pushpoll_requests",
                "HTTP requests, WebSocket handshakes included.",
                &m.requests,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_bytes_received",
                "Bytes read from sockets, headers and framing included.",
                &m.bytes_received,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_bytes_sent",
                "Bytes written to sockets, headers and framing included.",
                &m.bytes_sent,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_slow_consumer_disconnects",
                "Subscribers disconnected for falling too far behind.",
                &m.slow_consumers,
                &Transport::SUBSCRIBERS[..],
            ),
            (
                "pushpoll_gap_notices",
                "Answers telling a client that history no longer holds what it asked for.",
                &m.gap_notices,
                &Transport::SUBSCRIBERS[..],
            ),
        ];
        for (name, help, counts, ts) in per {
            per_transport(&mut enc, name, help, ts, |t| {
                ConstCounter::new(counts.get(t))
            })?;
        }
        single(
            &mut enc,
            "pushpoll_tls_handshake_failures",
            "TLS handshakes that failed or timed out (0 unless served over TLS).",
            ConstCounter::new(m.tls_handshake_failures.load(Relaxed)),
        )?;
        single(
            &mut enc,
            "pushpoll_ws_direct_deliveries",
            "WebSocket deliveries the publisher wrote itself to an idle session's socket (no task woken); counted in pushpoll_deliveries too.",
            ConstCounter::new(m.ws_direct_deliveries.load(Relaxed)),
        )?;
        single(
            &mut enc,
            "pushpoll_history_messages",
            "Messages held in the history ring.",
            ConstGauge::new(hub.len() as u64),
        )?;
        single(
            &mut enc,
            "pushpoll_last_seq",
            "Newest sequence number.",
            ConstGauge::new(hub.last_seq()),
        )?;
        // The load generator reads this one (`--server-metrics-url`).
        single(
            &mut enc,
            "process_cpu_seconds",
            "User and system CPU time spent by the server process, in seconds.",
            ConstCounter::new(process::cpu_seconds()),
        )?;
        single(
            &mut enc,
            "process_resident_memory_bytes",
            "Resident memory of the server process, in bytes.",
            ConstGauge::new(process::resident_bytes()),
        )
    }
}

/// Process statistics, from the kernel.
mod process {
    /// CPU time (user + system) of the whole process, from `getrusage`.
    #[cfg(unix)]
    pub(super) fn cpu_seconds() -> f64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: `getrusage` writes a `rusage` into the pointer it is given,
        // which points to enough initialised (zeroed) memory for one.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        if rc != 0 {
            return 0.0;
        }
        // SAFETY: zero-initialised and, on success, filled in by the kernel.
        let usage = unsafe { usage.assume_init() };
        let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
        secs(usage.ru_utime) + secs(usage.ru_stime)
    }

    #[cfg(not(unix))]
    pub(super) fn cpu_seconds() -> f64 {
        0.0
    }

    /// Resident set size from `/proc/self/statm` (0 where there is none).
    pub(super) fn resident_bytes() -> u64 {
        let Ok(statm) = std::fs::read_to_string("/proc/self/statm") else {
            return 0;
        };
        let pages: u64 = statm
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        pages * page_size()
    }

    #[cfg(unix)]
    fn page_size() -> u64 {
        // SAFETY: `sysconf` has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(size).unwrap_or(4096)
    }

    #[cfg(not(unix))]
    fn page_size() -> u64 {
        4096
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_name_once_with_type_lines() {
        let m = Arc::new(Metrics::default());
        let hub = Hub::new(4);
        hub.publish(pushpoll_wire::Kind::Text, bytes::Bytes::from_static(b"x"));
        m.deliveries.add(Transport::Sse, 3);
        let guard = m.open(Transport::Ws);
        assert!(m.open(Transport::Publish).is_none());
        let text = render(&m, &hub);
        assert!(
            text.contains("pushpoll_connections{transport=\"ws\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("pushpoll_deliveries_total{transport=\"sse\"} 3\n"));
        assert!(text.contains("pushpoll_messages_published_total 1\n"));
        assert!(text.contains("pushpoll_requests_total{transport=\"publish\"} 0\n"));
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        assert!(text.contains(
            "# HELP pushpoll_deliveries_total Messages handed to a subscriber's socket.\n"
        ));
        // Every sample reads back with the one parser the generator uses.
        let samples: Vec<_> = pushpoll_wire::prometheus::samples(&text).collect();
        assert!(samples.iter().all(Result::is_ok), "{text}");
        assert!(pushpoll_wire::prometheus::value(&text, "process_cpu_seconds_total").is_some());
        drop(guard);
        assert!(render(&m, &hub).contains("pushpoll_connections{transport=\"ws\"} 0\n"));
    }
}

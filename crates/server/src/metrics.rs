//! Counters behind `GET /metrics`, rendered in the Prometheus text format.
//!
//! Every counter is a plain atomic indexed by [`Transport`]: no lock is taken
//! on the hot path, and each group sits on its own cache line so that cores
//! counting bytes do not fight over the line cores counting deliveries use.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};

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

    /// The Prometheus text exposition (format 0.0.4).
    pub(crate) fn render(&self, hub: &Hub) -> String {
        let mut out = String::with_capacity(4096);
        let gauge = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        };
        let counter = |out: &mut String, name: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
        };
        let labelled =
            |out: &mut String, name: &str, ts: &[Transport], get: &dyn Fn(Transport) -> u64| {
                for &t in ts {
                    let _ = writeln!(out, "{name}{{transport=\"{}\"}} {}", t.label(), get(t));
                }
            };

        gauge(
            &mut out,
            "pushpoll_connections",
            "Open WebSocket and SSE sockets, and poll requests in flight.",
        );
        for t in Transport::SUBSCRIBERS {
            let v = self.connections[t.index()].load(Relaxed).max(0);
            let _ = writeln!(
                out,
                "pushpoll_connections{{transport=\"{}\"}} {v}",
                t.label()
            );
        }

        counter(
            &mut out,
            "pushpoll_messages_published_total",
            "Messages published (the hub's last sequence number).",
        );
        let _ = writeln!(out, "pushpoll_messages_published_total {}", hub.last_seq());

        let per = [
            (
                "pushpoll_deliveries_total",
                "Messages handed to a subscriber's socket.",
                &self.deliveries,
                &Transport::SUBSCRIBERS[..],
            ),
            (
                "pushpoll_requests_total",
                "HTTP requests, WebSocket handshakes included.",
                &self.requests,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_bytes_received_total",
                "Bytes read from sockets, headers and framing included.",
                &self.bytes_received,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_bytes_sent_total",
                "Bytes written to sockets, headers and framing included.",
                &self.bytes_sent,
                &Transport::ALL[..],
            ),
            (
                "pushpoll_slow_consumer_disconnects_total",
                "Subscribers disconnected for falling too far behind.",
                &self.slow_consumers,
                &Transport::SUBSCRIBERS[..],
            ),
            (
                "pushpoll_gap_notices_total",
                "Answers telling a client that history no longer holds what it asked for.",
                &self.gap_notices,
                &Transport::SUBSCRIBERS[..],
            ),
        ];
        for (name, help, counts, ts) in per {
            counter(&mut out, name, help);
            labelled(&mut out, name, ts, &|t| counts.get(t));
        }

        counter(
            &mut out,
            "pushpoll_tls_handshake_failures_total",
            "TLS handshakes that failed or timed out (0 unless served over TLS).",
        );
        let _ = writeln!(
            out,
            "pushpoll_tls_handshake_failures_total {}",
            self.tls_handshake_failures.load(Relaxed)
        );

        gauge(
            &mut out,
            "pushpoll_history_messages",
            "Messages held in the history ring.",
        );
        let _ = writeln!(out, "pushpoll_history_messages {}", hub.len());
        gauge(&mut out, "pushpoll_last_seq", "Newest sequence number.");
        let _ = writeln!(out, "pushpoll_last_seq {}", hub.last_seq());

        counter(
            &mut out,
            "process_cpu_seconds_total",
            "User and system CPU time spent by the server process, in seconds.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {}", process::cpu_seconds());
        gauge(
            &mut out,
            "process_resident_memory_bytes",
            "Resident memory of the server process, in bytes.",
        );
        let _ = writeln!(
            out,
            "process_resident_memory_bytes {}",
            process::resident_bytes()
        );
        out
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
        let m = Metrics::default();
        let hub = Hub::new(4);
        hub.publish(pushpoll_wire::Kind::Text, bytes::Bytes::from_static(b"x"));
        m.deliveries.add(Transport::Sse, 3);
        let guard = m.open(Transport::Ws);
        assert!(m.open(Transport::Publish).is_none());
        let text = m.render(&hub);
        assert!(
            text.contains("pushpoll_connections{transport=\"ws\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("pushpoll_deliveries_total{transport=\"sse\"} 3\n"));
        assert!(text.contains("pushpoll_messages_published_total 1\n"));
        assert!(text.contains("pushpoll_requests_total{transport=\"publish\"} 0\n"));
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"));
        drop(guard);
        assert!(m
            .render(&hub)
            .contains("pushpoll_connections{transport=\"ws\"} 0\n"));
    }
}

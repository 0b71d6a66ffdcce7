//! The result of one load run: plain data, serialised as the JSON contract
//! described by the schema ([`crate::SCHEMA`]).
//!
//! Field names are a contract with users' scripts: add fields, never rename.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Everything one `pushpoll load` run measured, for one transport.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// `ws`, `long-poll`, `short-poll` or `sse`.
    pub transport: String,
    /// The subscriber URL the run targeted.
    pub url: String,
    /// Random id carried in every marker of this run (hex).
    pub run_id: String,
    /// Subscribers asked for.
    pub subscribers: u64,
    /// Subscribers that were connected when publishing began (only these are
    /// expected to receive).
    pub subscribers_connected: u64,
    /// Publisher count.
    pub publishers: u64,
    /// Messages per second across all publishers (the schedule).
    pub publish_rate: f64,
    /// Configured publishing time, seconds.
    pub duration_s: f64,
    /// Measured time from the first scheduled publish to the end of the grace
    /// period (or until every subscriber had everything), seconds.
    pub active_s: f64,
    /// Payload size of every published message, bytes.
    pub payload_bytes: u64,
    /// Short-poll interval, seconds (null for other transports).
    pub poll_interval_s: Option<f64>,
    /// Long-poll `wait`, seconds (null for other transports).
    pub long_poll_wait_s: Option<f64>,
    /// Messages the server accepted (publishes that failed are not expected).
    pub published: u64,
    /// Publishes that failed (counted by kind in `errors` as well): refused,
    /// timed out, or never sent because no connection could be made before
    /// `--timeout` after the last was due (`publish_unsent`).
    pub publish_errors: u64,
    /// `subscribers_connected × (published + publish_errors)`: every
    /// message whose time came, to every connected subscriber. What the
    /// chat should have carried; the SLO target `loss` is judged against it.
    #[serde(default)]
    pub planned_deliveries: u64,
    /// `planned_deliveries − expected_deliveries`: deliveries that never had
    /// a chance because the server refused (or never got) the publish.
    #[serde(default)]
    pub unsent: u64,
    /// `subscribers_connected × published`; with `--churn`, per subscriber
    /// the accepted messages scheduled while it was connected, less
    /// `boundary`.
    pub expected_deliveries: u64,
    /// Distinct expected (message, subscriber) pairs that arrived.
    pub delivered: u64,
    /// Expected deliveries that never arrived: `expected_deliveries −
    /// delivered`, or with `--churn` counted per subscriber.
    pub lost: u64,
    /// `--churn`: deliveries of messages scheduled within `--churn-guard`
    /// of a subscriber leaving or rejoining: neither expected nor lost
    /// (counted as delivered when they arrive). 0 without churn.
    #[serde(default)]
    pub boundary: u64,
    /// Arrivals of a (message, subscriber) pair already seen.
    pub duplicated: u64,
    /// Arrivals older than a message the same subscriber had already seen
    /// from the same publisher.
    pub reordered: u64,
    /// Markers of this run that arrived but were never acknowledged as
    /// published (for example a publish that timed out yet was relayed).
    pub unexpected: u64,
    /// Markers of other runs that arrived (other load agents publishing to
    /// the same server): ignored for delivery and latency, counted so a
    /// distributed run shows each agent saw, and left out, the others'.
    #[serde(default)]
    pub other_run_markers: u64,
    /// Messages, events and data frames the subscribers received that
    /// carried no marker at all (a server's own traffic: welcome messages,
    /// presence, or payloads it rewrote). Counted so that a run with zero
    /// deliveries can tell "nothing arrived" from "something else arrived".
    #[serde(default)]
    pub unmarked_frames: u64,
    /// Delivery latency: receive time − scheduled publish time.
    pub latency_us: LatencySummary,
    /// The merged latency histogram, HdrHistogram V2 + DEFLATE, base64, so
    /// runs from several processes can be merged exactly.
    pub latency_histogram: String,
    /// HTTP requests the subscribers sent during the active phase, handshakes
    /// and empty polls included.
    pub requests: u64,
    /// Poll answers that carried no message.
    pub empty_polls: u64,
    /// `requests / delivered` (null when nothing was delivered).
    pub requests_per_delivered: Option<f64>,
    /// Bytes the subscribers' sockets wrote during the active phase.
    pub bytes_up: u64,
    /// Bytes the subscribers' sockets read during the active phase.
    pub bytes_down: u64,
    /// `(bytes_up + bytes_down) / delivered`.
    pub bytes_per_delivered: Option<f64>,
    /// Payload bytes per delivery (the useful part of `bytes_per_delivered`).
    pub payload_bytes_per_delivered: Option<f64>,
    /// Bytes the subscriber sockets moved from the first publish to the end
    /// of the run, per connected subscriber per second of `active_s`: the
    /// steady traffic (connection set-up before publishing is left out), the
    /// figure projections to more clients scale.
    pub bytes_per_subscriber_second: Option<f64>,
    /// Same, without the payload: headers, framing, handshakes, pings.
    pub overhead_bytes_per_subscriber_second: Option<f64>,
    /// Server CPU seconds spent from the first publish to the end of the
    /// grace period, when known.
    pub server_cpu_s: Option<f64>,
    /// `server_cpu_s / delivered`, in µs (null when unknown).
    pub server_cpu_us_per_delivered: Option<f64>,
    /// CPU seconds the load generator itself spent from the first publish
    /// to the end of the grace period (its process, less the in-process
    /// server's share under `compare`; null with `--workers`, whose
    /// processes are not counted).
    #[serde(default)]
    pub generator_cpu_s: Option<f64>,
    /// `generator_cpu_s / delivered`, in µs: how much a delivery costs the
    /// generator, hence how far it is from being the bottleneck.
    #[serde(default)]
    pub generator_cpu_us_per_delivered: Option<f64>,
    /// `(server_cpu_s + generator_cpu_s) / delivered`, in µs. On loopback
    /// the kernel charges the receiver's TCP work to the sending thread:
    /// a push server pays its subscribers' receive cost, polling's request
    /// cost lands on the generator. The sum is what one delivery costs
    /// both ends, whichever way the kernel attributed it.
    #[serde(default)]
    pub total_cpu_us_per_delivered: Option<f64>,
    /// Where the subscribers' bytes went while messages were published
    /// (WebSocket runs without `--workers`; null otherwise).
    #[serde(default)]
    pub wire: Option<WireOverhead>,
    /// The sender's side of every message, counted at the publishers'
    /// sockets from the first publish to the end of the run: a `POST` with
    /// its headers and answer, or one WebSocket frame. Absent for echo runs
    /// (the senders are the subscribers) and in documents older than it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<SenderCost>,
    /// What subscribers cost while nothing is published.
    pub idle: IdleCost,
    /// Errors by kind (`connect_refused`, `timeout`, `reset`, `bad_status_503`,
    /// `protocol`, `closed_1008`, `gone_410`, `publish_...`).
    pub errors: BTreeMap<String, u64>,
    /// `--label` of the run (e.g. `rtt 20ms` from `compare --rtt`), null when none.
    #[serde(default)]
    pub label: Option<String>,
    /// One-way delay added between the subscribers and the server, ms: half
    /// the round trip `compare --rtt` puts in front of them (0 for an RTT
    /// sweep's undelayed runs), null when the run added none. The report
    /// measures latency in transits of this delay.
    #[serde(default)]
    pub one_way_delay_ms: Option<f64>,
    /// The run second by second, from the first subscriber's connect to the
    /// end of the grace period (empty for documents written before it existed).
    #[serde(default)]
    pub timeline: Vec<crate::timeline::TimelineEntry>,
}

impl RunResult {
    /// The deliveries the run planned: `planned_deliveries`, or for a
    /// document written before that field existed (read as 0), the
    /// expected ones, which it then equals (such runs counted no refusals).
    pub fn planned(&self) -> u64 {
        self.planned_deliveries.max(self.expected_deliveries)
    }
}

/// Latency percentiles in microseconds (all 0 when nothing was delivered).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LatencySummary {
    /// Number of recorded deliveries.
    pub count: u64,
    /// Smallest.
    pub min: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
    /// Arithmetic mean.
    pub mean: f64,
}

/// What publishing cost the senders, per message the server accepted
/// ("per sent message"). The receivers' figures are the rest of the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SenderCost {
    /// Bytes the publishers' sockets wrote (requests or frames, TLS included).
    pub bytes_up: u64,
    /// Bytes they read: `POST` answers, or what the server pushed to a
    /// publisher's WebSocket (a chat relays every message to its sender too).
    pub bytes_down: u64,
    /// HTTP requests the publishers sent: one per `POST`, one per WebSocket
    /// handshake made during the window (reconnects).
    pub requests: u64,
    /// `bytes_up / published`.
    pub bytes_up_per_sent: Option<f64>,
    /// `bytes_down / published`.
    pub bytes_down_per_sent: Option<f64>,
    /// `requests / published`.
    pub requests_per_sent: Option<f64>,
}

/// Cost of connected subscribers while no message is published, measured over
/// a window before publishing starts.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct IdleCost {
    /// Length of the window, seconds (0 when not measured).
    pub window_s: f64,
    /// Requests the subscribers sent in the window.
    pub requests: u64,
    /// Bytes written and read by subscriber sockets in the window.
    pub bytes: u64,
    /// `requests / subscribers / minutes` (null when not measured).
    pub requests_per_subscriber_minute: Option<f64>,
    /// `bytes / subscribers / minutes` (null when not measured).
    pub bytes_per_subscriber_minute: Option<f64>,
}

/// A WebSocket run's bytes by purpose, from the first publish to the end of
/// the run: what the application asked for (payload), what WebSocket added
/// (frame headers), what kept the connection alive (control frames), and
/// what TCP/IP added underneath (from the kernel's per-socket counters).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WireOverhead {
    /// Data frames (messages) the subscribers received, duplicates included.
    pub data_frames: u64,
    /// Payload bytes in them.
    pub payload_bytes: u64,
    /// Their frame headers (2 bytes each up to 125 bytes of payload;
    /// `pushpoll.v1`'s 9-byte sequence header counts here too).
    pub framing_bytes: u64,
    /// Ping, pong and close frames in both directions, headers included
    /// (kept apart: they are paid per second, not per message).
    pub control_bytes: u64,
    /// `--ws-deflate` runs: subscribers whose connection negotiated
    /// permessage-deflate (absent otherwise). Payload and framing are then
    /// counted inflated, and socket bytes compressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deflate_negotiated: Option<u64>,
    /// Socket bytes minus all of the above, signed: positive for bytes that
    /// are none of them (a reconnect's handshake, the extra headers of a
    /// fragmented message), negative when the socket moved less than the
    /// payload and framing (permessage-deflate, counted inflated); 0 on a
    /// clean uncompressed run.
    pub other_bytes: i64,
    /// `(payload_bytes + framing_bytes) / data_frames`: one message as
    /// WebSocket frames it, uncompressed.
    pub bytes_per_message: Option<f64>,
    /// Socket bytes without control frames `/ data_frames`: one message as
    /// the socket measured it (compressed where negotiated).
    #[serde(default)]
    pub socket_bytes_per_message: Option<f64>,
    /// `framing_bytes / payload_bytes`: WebSocket's overhead on the payload.
    pub framing_over_payload: Option<f64>,
    /// TCP/IP underneath, null where `TCP_INFO` could not be read or a
    /// subscriber reconnected during the window (its counters would mix
    /// sockets).
    pub tcp: Option<TcpOverhead>,
}

/// TCP/IP's share, from `getsockopt(TCP_INFO)` on every subscriber socket
/// at the first publish and at the end of the grace period.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TcpOverhead {
    /// Sockets read.
    pub sockets: u64,
    /// Segments the subscribers' sockets sent (mostly ACKs) (`tcpi_segs_out`).
    pub segments_out: u64,
    /// Segments they received (`tcpi_segs_in`).
    pub segments_in: u64,
    /// Payload bytes the kernel received on them (`tcpi_bytes_received`).
    pub bytes_received: u64,
    /// Payload bytes the server acknowledged (`tcpi_bytes_acked`).
    pub bytes_acked: u64,
    /// IP + TCP header bytes per segment assumed: 52 (IPv4, TCP with
    /// timestamps, loopback); Ethernet adds 14.
    pub header_bytes_per_segment: u64,
    /// `(segments_in + segments_out) × header_bytes_per_segment`.
    pub header_bytes: u64,
    /// `header_bytes / data_frames`.
    pub header_bytes_per_message: Option<f64>,
    /// `data_frames / segments_in`: messages per received segment (the
    /// server's write batching, seen from the wire).
    pub messages_per_segment: Option<f64>,
}

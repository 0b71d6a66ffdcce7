//! The run's sums: everything measured, put together as a [`RunResult`]
//! with every derived figure computed once, here.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use pushpoll_results::histogram::latency_summary;

use crate::config::opts::LoadTransport as Transport;
use crate::config::plan::Plan;
use crate::core::merge::encode_histogram;
use crate::core::rooms::deliveries;
use crate::core::tally::TallySummary;
use crate::net::count::{IoTotals, PubTotals};
use crate::net::wire::WireTotals;
use pushpoll_results::{IdleCost, RunResult, SenderCost, TcpOverhead, WireOverhead};

/// Everything [`build`] needs.
pub(super) struct Inputs<'a> {
    pub(super) plan: &'a Plan,
    pub(super) run_id: u32,
    pub(super) connected: u64,
    /// Connected subscribers per room (one entry without `--rooms`).
    pub(super) by_room: Vec<u64>,
    /// (attempted, acknowledged) messages per publisher (empty for echo).
    pub(super) per_publisher: Vec<(u64, u64)>,
    pub(super) published: u64,
    pub(super) attempted: u64,
    pub(super) payload_total: u64,
    pub(super) summary: TallySummary,
    pub(super) histogram: Histogram<u64>,
    pub(super) active_io: IoTotals,
    /// From the first publish to the end: the steady traffic, without the
    /// ramp's handshakes, that per-second rates are computed from.
    pub(super) publishing_io: IoTotals,
    pub(super) idle_io: IoTotals,
    pub(super) idle_window: Duration,
    pub(super) active_s: f64,
    pub(super) server_cpu_s: Option<f64>,
    pub(super) generator_cpu_s: Option<f64>,
    /// The wire counters from the first publish to the end of grace, and
    /// those at the first publish (for their socket count).
    pub(super) window_wire: Option<(WireTotals, WireTotals)>,
    /// The publishers' sockets from the first publish to the end of grace.
    pub(super) sender_io: PubTotals,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) timeline: Vec<pushpoll_results::TimelineEntry>,
}

/// `a / b`, or `None` when `b` is zero.
fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

pub(super) fn build(i: Inputs<'_>) -> RunResult {
    let plan = i.plan;
    // What every connected subscriber would expect: each message reaches
    // its room's connected subscribers (an echo message its sender alone).
    let (everyone, planned) = if plan.echo() {
        (i.published, i.attempted.max(i.published))
    } else {
        let acked: Vec<u64> = i.per_publisher.iter().map(|p| p.1).collect();
        let tried: Vec<u64> = i.per_publisher.iter().map(|p| p.0.max(p.1)).collect();
        (
            deliveries(&i.by_room, &acked),
            deliveries(&i.by_room, &tried),
        )
    };
    // With churn, each subscriber expected only what was scheduled while it
    // was there (its tally says); otherwise every accepted message.
    let (expected, lost) = match plan.churn {
        Some(_) => (i.summary.expected, i.summary.lost),
        None => (everyone, everyone.saturating_sub(i.summary.delivered)),
    };
    let delivered = i.summary.delivered;
    let d = delivered as f64;
    let bytes = (i.active_io.up + i.active_io.down) as f64;
    // Average size of an accepted payload (the marker may make it longer than asked).
    let payload_each = if i.published > 0 {
        i.payload_total as f64 / i.published as f64
    } else {
        plan.payload_bytes as f64
    };
    let sub_seconds = i.connected as f64 * i.active_s;
    let publishing_bytes = (i.publishing_io.up + i.publishing_io.down) as f64;
    let idle_minutes = i.connected as f64 * i.idle_window.as_secs_f64() / 60.0;
    let idle_bytes = i.idle_io.up + i.idle_io.down;
    RunResult {
        transport: plan.transport.name().to_owned(),
        url: plan.sub.url.to_string(),
        run_id: format!("{:08x}", i.run_id),
        subscribers: plan.subscribers as u64,
        subscribers_connected: i.connected,
        publishers: plan.publishers as u64,
        // With stages, the schedule's average.
        publish_rate: match plan.rate_stages {
            Some(_) => {
                ratio(plan.total_messages as f64, plan.duration.as_secs_f64()).unwrap_or(0.0)
            }
            None => plan.rate,
        },
        duration_s: plan.duration.as_secs_f64(),
        active_s: i.active_s,
        payload_bytes: plan.payload_bytes as u64,
        poll_interval_s: (plan.transport == Transport::ShortPoll)
            .then_some(plan.poll_interval.as_secs_f64()),
        long_poll_wait_s: (plan.transport == Transport::LongPoll)
            .then_some(plan.long_poll_wait.as_secs_f64()),
        published: i.published,
        publish_errors: i.attempted.saturating_sub(i.published),
        planned_deliveries: planned,
        unsent: planned - everyone,
        expected_deliveries: expected,
        delivered,
        lost,
        boundary: i.summary.boundary,
        duplicated: i.summary.duplicated,
        reordered: i.summary.reordered,
        unexpected: i.summary.unexpected,
        other_run_markers: i.summary.other_runs,
        unmarked_frames: i.summary.unmarked,
        latency_us: latency_summary(&i.histogram),
        latency_histogram: encode_histogram(&i.histogram),
        requests: i.active_io.requests,
        empty_polls: i.active_io.empty_polls,
        requests_per_delivered: ratio(i.active_io.requests as f64, d),
        bytes_up: i.active_io.up,
        bytes_down: i.active_io.down,
        bytes_per_delivered: ratio(bytes, d),
        payload_bytes_per_delivered: (delivered > 0).then_some(payload_each),
        bytes_per_subscriber_second: ratio(publishing_bytes, sub_seconds),
        overhead_bytes_per_subscriber_second: ratio(
            (publishing_bytes - d * payload_each).max(0.0),
            sub_seconds,
        ),
        server_cpu_s: i.server_cpu_s,
        server_cpu_us_per_delivered: i.server_cpu_s.and_then(|c| ratio(c * 1e6, d)),
        generator_cpu_s: i.generator_cpu_s,
        generator_cpu_us_per_delivered: i.generator_cpu_s.and_then(|c| ratio(c * 1e6, d)),
        total_cpu_us_per_delivered: i
            .server_cpu_s
            .zip(i.generator_cpu_s)
            .and_then(|(s, g)| ratio((s + g) * 1e6, d)),
        wire: wire_overhead(plan, &i),
        sender: sender_cost(plan, &i),
        idle: IdleCost {
            window_s: i.idle_window.as_secs_f64(),
            requests: i.idle_io.requests,
            bytes: idle_bytes,
            requests_per_subscriber_minute: ratio(i.idle_io.requests as f64, idle_minutes),
            bytes_per_subscriber_minute: ratio(idle_bytes as f64, idle_minutes),
        },
        errors: i.errors,
        label: None,
        one_way_delay_ms: None,
        timeline: i.timeline,
    }
}

/// What sending cost at the publishers' sockets, per accepted message.
/// None for echo runs, whose senders are the subscribers (already counted).
fn sender_cost(plan: &Plan, i: &Inputs<'_>) -> Option<SenderCost> {
    // Bayeux publishers keep their own sockets (not yet counted here).
    if plan.echo() || matches!(plan.publish, crate::config::plan::PublishTarget::Bayeux(_)) {
        return None;
    }
    let s = i.sender_io;
    let sent = i.published as f64;
    Some(SenderCost {
        bytes_up: s.up,
        bytes_down: s.down,
        requests: s.requests,
        bytes_up_per_sent: ratio(s.up as f64, sent),
        bytes_down_per_sent: ratio(s.down as f64, sent),
        requests_per_sent: ratio(s.requests as f64, sent),
    })
}

/// The bytes of a WebSocket run by purpose, over the publishing window.
fn wire_overhead(plan: &Plan, i: &Inputs<'_>) -> Option<WireOverhead> {
    if plan.transport != Transport::Ws {
        return None;
    }
    let (w, start) = i.window_wire?;
    let socket = i.publishing_io.up + i.publishing_io.down;
    let parts = w.payload + w.framing + w.control_bytes;
    let frames = w.data_frames as f64;
    // The same sockets at both ends, none opened in between: the kernel's
    // counters then belong to this window's traffic alone.
    let same_sockets =
        w.tcp_sockets > 0 && w.tcp_sockets == start.tcp_sockets && i.publishing_io.requests == 0;
    let seg = crate::net::tcp_info::SEGMENT_HEADER_BYTES;
    let tcp = same_sockets.then(|| {
        let header_bytes = (w.tcp.segs_in + w.tcp.segs_out) * seg;
        TcpOverhead {
            sockets: w.tcp_sockets,
            segments_out: w.tcp.segs_out,
            segments_in: w.tcp.segs_in,
            bytes_received: w.tcp.bytes_received,
            bytes_acked: w.tcp.bytes_acked,
            header_bytes_per_segment: seg,
            header_bytes,
            header_bytes_per_message: ratio(header_bytes as f64, frames),
            messages_per_segment: ratio(frames, w.tcp.segs_in as f64),
        }
    });
    Some(WireOverhead {
        data_frames: w.data_frames,
        payload_bytes: w.payload,
        framing_bytes: w.framing,
        control_bytes: w.control_bytes,
        deflate_negotiated: plan.ws_deflate.then_some(w.deflate),
        // Signed: with permessage-deflate the socket moves less than the
        // inflated payload and framing, and that must show.
        other_bytes: socket as i64 - parts as i64,
        bytes_per_message: ratio((w.payload + w.framing) as f64, frames),
        socket_bytes_per_message: ratio(socket.saturating_sub(w.control_bytes) as f64, frames),
        framing_over_payload: ratio(w.framing as f64, w.payload as f64),
        tcp,
    })
}

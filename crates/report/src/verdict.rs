//! The verdict: what the report opens with. At most five plain sentences
//! with the measured ratios that answer "why did WebSocket replace AJAX
//! polling?" — requests and bytes per delivered message in the quiet and
//! the busy chat, the sender's cost per sent message, latency and CPU, and
//! what an idle subscriber costs — then the one chart that shows it.
//!
//! The quiet chat is the workload with the lowest message rate among those
//! measured without an added delay, the busy chat the one with the highest;
//! only their plain runs (the table's common label) count. Every number is
//! a measured figure or a ratio of two; a sentence whose figures are
//! missing is left out, not guessed.

use crate::charts::{self, Chart};
use crate::{compare, fmt, ReportError, RunResult};

/// The section's heading.
pub const TITLE: &str = "Verdict";

/// Most sentences the verdict holds.
pub const MAX_SENTENCES: usize = 5;

/// The verdict of a report.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The sentences, at most [`MAX_SENTENCES`].
    pub sentences: Vec<String>,
    /// Requests per delivered message against the rate, when two rates
    /// or more were measured.
    pub chart: Option<Chart>,
}

/// The verdict of the report's tables (each a workload's runs), or `None`
/// when no table has two transports to compare.
pub fn verdict(tables: &[Vec<RunResult>]) -> Result<Option<Verdict>, ReportError> {
    let chats: Vec<Vec<RunResult>> = tables
        .iter()
        .filter(|t| t.iter().all(|r| r.one_way_delay_ms.unwrap_or(0.0) == 0.0))
        .map(|t| compare::plain_runs(t))
        .filter(|p| p.len() >= 2)
        .collect();
    let by_rate =
        |a: &&Vec<RunResult>, b: &&Vec<RunResult>| a[0].publish_rate.total_cmp(&b[0].publish_rate);
    let Some(quiet) = chats.iter().min_by(by_rate) else {
        return Ok(None);
    };
    // The busy chat and the chart keep the quiet chat's subscriber count
    // (a sweep of both would otherwise mix them).
    let chats: Vec<&Vec<RunResult>> = chats
        .iter()
        .filter(|c| c[0].subscribers == quiet[0].subscribers)
        .collect();
    let Some(busy) = chats.iter().copied().max_by(by_rate) else {
        return Ok(None);
    };
    let two = quiet[0].publish_rate != busy[0].publish_rate;
    let mut sentences: Vec<String> = Vec::new();
    sentences.extend(chat_sentence(
        if two {
            "In the quiet chat"
        } else {
            "In this chat"
        },
        quiet,
        true,
    ));
    if two {
        sentences.extend(chat_sentence("In the busy chat", busy, false));
    }
    sentences.extend(sender_sentence(busy).or_else(|| sender_sentence(quiet)));
    sentences.extend(latency_cpu_sentence(busy, two));
    sentences.extend(idle_sentence(quiet).or_else(|| idle_sentence(busy)));
    sentences.truncate(MAX_SENTENCES);
    let all: Vec<RunResult> = chats.iter().copied().flatten().cloned().collect();
    Ok(Some(Verdict {
        sentences,
        chart: charts::verdict::chart(&all)?,
    }))
}

fn find<'a>(runs: &'a [RunResult], transport: &str) -> Option<&'a RunResult> {
    runs.iter().find(|r| r.transport == transport)
}

/// `100 subscribers, one message every 10 s` or `20 messages a second`.
fn workload(r: &RunResult, subscribers: bool) -> String {
    let pace = if r.publish_rate < 1.0 && r.publish_rate > 0.0 {
        format!("one message every {} s", fmt::axis(1.0 / r.publish_rate))
    } else {
        format!("{} messages a second", fmt::axis(r.publish_rate))
    };
    if subscribers {
        format!("{} subscribers, {pace}", fmt::thousands(r.subscribers))
    } else {
        pace
    }
}

/// Requests per delivered message and bytes against WebSocket's, per
/// polling transport.
fn chat_sentence(name: &str, runs: &[RunResult], first: bool) -> Option<String> {
    let ws = find(runs, "ws")?;
    let ws_bytes = ws.bytes_per_delivered?;
    let mut parts = Vec::new();
    for (t, said) in [
        ("short-poll", "short polling"),
        ("long-poll", "long polling"),
    ] {
        let Some(r) = find(runs, t) else { continue };
        let (Some(req), Some(b)) = (r.requests_per_delivered, r.bytes_per_delivered) else {
            continue;
        };
        parts.push(if parts.is_empty() {
            format!(
                "{said} sent {} requests and {} WebSocket's bytes",
                fmt::sig3(req),
                fmt::times(fmt::ratio(b, ws_bytes))
            )
        } else {
            format!(
                "{said} {} and {}",
                fmt::sig3(req),
                fmt::times(fmt::ratio(b, ws_bytes))
            )
        });
    }
    if parts.is_empty() {
        return None;
    }
    Some(format!(
        "{name} ({}), per delivered message {}.",
        workload(ws, first),
        parts.join(", ")
    ))
}

/// A browser's `POST` against one WebSocket frame, per sent message.
fn sender_sentence(runs: &[RunResult]) -> Option<String> {
    let ws = find(runs, "ws")?.sender?.bytes_up_per_sent?;
    let post = ["short-poll", "long-poll", "sse"]
        .iter()
        .filter_map(|t| find(runs, t))
        .find_map(|r| {
            r.sender
                .and_then(|s| s.bytes_up_per_sent.zip(s.bytes_down_per_sent))
        })?;
    Some(format!(
        "Per sent message, the sender's POST wrote {} B and read {} B back; a WebSocket frame wrote {} B.",
        fmt::sig3(post.0),
        fmt::sig3(post.1),
        fmt::sig3(ws),
    ))
}

/// p99 latency per transport and CPU per delivered message against
/// WebSocket's.
fn latency_cpu_sentence(runs: &[RunResult], two: bool) -> Option<String> {
    let ws = find(runs, "ws")?;
    let latencies: Vec<String> = ["ws", "sse", "long-poll", "short-poll"]
        .iter()
        .filter_map(|t| find(runs, t))
        .filter(|r| r.delivered > 0)
        .map(|r| format!("{} {} ms", r.transport, fmt::ms(r.latency_us.p99)))
        .collect();
    let mut s = format!(
        "Latency p99{}: {}",
        if two { " in the busy chat" } else { "" },
        latencies.join(", ")
    );
    let cpu: Vec<String> = ["short-poll", "long-poll", "sse"]
        .iter()
        .filter_map(|t| find(runs, t))
        .filter_map(|r| {
            let ratio = fmt::ratio(
                r.total_cpu_us_per_delivered?,
                ws.total_cpu_us_per_delivered?,
            )?;
            Some(format!("{} {}", r.transport, fmt::times(Some(ratio))))
        })
        .collect();
    if !cpu.is_empty() {
        s.push_str(&format!(
            "; CPU per delivered message (server and generator), against WebSocket's: {}",
            cpu.join(", ")
        ));
    }
    s.push('.');
    Some(s)
}

/// Requests and bytes a minute of one idle subscriber; the transports that
/// sent nothing named together.
fn idle_sentence(runs: &[RunResult]) -> Option<String> {
    let measured: Vec<&RunResult> = ["short-poll", "long-poll", "sse", "ws"]
        .iter()
        .filter_map(|t| find(runs, t))
        .filter(|r| r.idle.window_s > 0.0 && r.idle.bytes_per_subscriber_minute.is_some())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let busy: Vec<String> = measured
        .iter()
        .filter(|r| r.idle.bytes > 0)
        .map(|r| {
            format!(
                "{} {} requests ({})",
                r.transport,
                fmt::sig3(r.idle.requests_per_subscriber_minute.unwrap_or(0.0)),
                fmt::bytes(r.idle.bytes_per_subscriber_minute.unwrap_or(0.0))
            )
        })
        .collect();
    let silent: Vec<String> = measured
        .iter()
        .filter(|r| r.idle.bytes == 0)
        .map(|r| r.transport.clone())
        .collect();
    let mut s = format!(
        "Idle, one subscriber still sent per minute: {}",
        if busy.is_empty() {
            "nothing".to_string()
        } else {
            busy.join(", ")
        }
    );
    if !silent.is_empty() {
        s.push_str(&format!("; {} sent nothing", fmt::and_list(&silent)));
    }
    s.push('.');
    Some(s)
}

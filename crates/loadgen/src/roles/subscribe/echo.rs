//! The publishing half of an echo subscriber (`--pattern echo`): subscriber
//! `s` of `N` sends the messages `k ≡ s (mod N)` of the open-loop schedule on
//! its own WebSocket, with itself as the marker's publisher, and expects
//! exactly those back. The schedule lives here, outside the connection, so a
//! reconnect resumes it: messages that fell due meanwhile are sent at once on
//! the new connection, keeping their scheduled time (open loop). Messages
//! that never got a connection before the run ended are counted as
//! `publish_not_connected`, unless publishing was stopped (Ctrl-C).

use std::sync::atomic::Ordering::Relaxed;

use pushpoll_wire::marker::Marker;
use tokio::time::Instant;

use super::Env;
use crate::core::acks::Resolve;
use crate::core::schedule;
use crate::roles::publish::PubReport;

/// One echo subscriber's publisher.
#[derive(Debug)]
pub(crate) struct EchoPub {
    publisher: usize,
    next: u64,
    count: u64,
    /// Every seq below this was sent or failed.
    resolved: u64,
    pub report: PubReport,
}

impl Resolve for EchoPub {
    fn status(&self, _slot: usize, seq: u64) -> Option<bool> {
        (seq < self.resolved).then(|| self.report.acked.contains(seq))
    }
}

impl EchoPub {
    pub fn new(publisher: usize, env: &Env) -> Self {
        EchoPub {
            publisher,
            next: 0,
            resolved: 0,
            count: schedule::messages_for(publisher, env.plan.publishers, env.plan.total_messages),
            report: PubReport::default(),
        }
    }

    /// When the next message is due: `None` before publishing starts, after
    /// the last message, or once publishing was stopped.
    pub fn next_due(&self, env: &Env) -> Option<Instant> {
        if self.next >= self.count || env.publish_stop.is_cancelled() {
            return None;
        }
        let t0 = (*env.publish_t0.borrow())?;
        let k = schedule::global_index(self.next, self.publisher, env.plan.publishers);
        Some(t0 + schedule::offset(k, env.plan.rate))
    }

    /// The next message (its time has come), as sent, and its payload's
    /// length; the caller reports the send with [`sent`](Self::sent).
    pub fn take(&mut self, env: &Env, due: Instant) -> (u64, String, usize) {
        let seq = self.next;
        self.next += 1;
        self.report.attempted += 1;
        env.live.echo_attempted.fetch_add(1, Relaxed);
        let marker = Marker {
            run_id: env.run_id,
            publisher: self.publisher as u32,
            seq,
            scheduled_us: env.clock.unix_us(due),
        };
        let payload = marker.payload(env.plan.payload_bytes);
        let len = payload.len();
        // An echo subscriber is its own publisher: its `{id}` is its own.
        let text = match &env.plan.publish_template {
            Some(t) => t.render(&env.plan.sub_vars(self.publisher), &payload),
            None => payload,
        };
        (seq, text, len)
    }

    /// Records how the send of `seq` (`len` bytes) went.
    pub fn sent(&mut self, env: &Env, seq: u64, len: usize, result: Result<(), &str>) {
        match result {
            Ok(()) => self.report.ok(&env.live, seq, len),
            Err(kind) => self.report.failed(&env.live, kind),
        }
        self.resolved = self.resolved.max(seq + 1);
    }

    /// The report, with every message whose time came but that was never
    /// sent counted as `publish_not_connected` (none when publishing was
    /// stopped early, as for other publishers).
    pub fn finish(mut self, env: &Env) -> PubReport {
        if env.publish_t0.borrow().is_some() && !env.publish_stop.is_cancelled() {
            while self.next < self.count {
                self.next += 1;
                self.report.attempted += 1;
                env.live.echo_attempted.fetch_add(1, Relaxed);
                self.report.failed(&env.live, "not_connected");
            }
        }
        self.report
    }
}

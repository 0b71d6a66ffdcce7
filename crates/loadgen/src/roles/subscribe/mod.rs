//! Subscribers: one task per subscriber, one module per transport.
//!
//! Every subscriber follows the same life: connect (counted as a ramp-up
//! attempt until it is *ready*), receive, and on any failure count the error
//! by kind and reconnect with a bounded, fully jittered backoff until the run
//! tells it to stop. A `429` or `503` answer's `Retry-After` is obeyed (at
//! most [`RETRY_AFTER_MAX`]), with the backoff's jitter added so that many
//! subscribers told the same thing do not come back in the same instant. What it measured lives in the task ([`Sub`]) and is handed back
//! when the task ends; only the socket counters ([`SubIo`]) and a few live
//! totals are shared.

pub(crate) mod bayeux;
mod echo;
mod poll;
mod socketio;
mod sockjs;
mod sse;
mod ws;

pub(crate) use sockjs::check_info as check_sockjs_info;
pub(crate) use ws::check_subprotocol;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use pushpoll_wire::marker::Marker;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::opts::LoadTransport as Transport;
use crate::config::plan::Plan;
use crate::core::acks::{Acks, Resolve};
use crate::core::error::{ErrorCounts, Kind};
use crate::core::progress::Live;
use crate::core::schedule::Clock;
use crate::core::tally::{Gap, LatencyShards, Tally};
use crate::net::count::{SubIo, SubState};
pub(crate) use crate::proto::retry::retry_after;

/// Connection attempts a subscriber makes during the ramp-up before giving up.
const RAMP_ATTEMPTS: u32 = 3;
/// First reconnect delay; doubles up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// What all subscribers of a run share (read-only but for the atomics).
pub(crate) struct Env {
    pub plan: Plan,
    pub addr: SocketAddr,
    pub run_id: u32,
    pub clock: Clock,
    pub live: Arc<Live>,
    pub shards: LatencyShards,
    /// What the publishers have resolved so far: a delivery's latency is
    /// recorded once its publish is known to be accepted.
    pub acks: Arc<Acks>,
    /// False once the grace period is over: later arrivals are ignored.
    pub accepting: AtomicBool,
    /// Cancelled when the ramp-up ends: subscribers not ready by then give up.
    pub ramp_over: CancellationToken,
    /// Cancelled when the run ends: every subscriber returns its report.
    pub cancel: CancellationToken,
    /// When the first message is due; set when publishing starts (echo
    /// subscribers publish on their own connections).
    pub publish_t0: watch::Sender<Option<Instant>>,
    /// Cancelled to stop publishing early (Ctrl-C, the hard deadline).
    pub publish_stop: CancellationToken,
    /// The shared connections of HTTP/2 subscribers (`--http2`).
    pub h2: Option<crate::proto::http2::H2Pool>,
    /// Every subscriber's counters, as they are spawned: the timeline's
    /// sampler sums them once a second.
    pub ios: std::sync::Mutex<Vec<Arc<SubIo>>>,
    /// One per subscriber when subscribers come and go (`--churn`,
    /// `--subscriber-stages`; empty otherwise).
    pub presence: Vec<Presence>,
}

/// Whether a subscriber should be connected, set by the run's presence
/// controller: `away` for `--subscriber-stages`, `kick` to leave and rejoin
/// at once (`--churn`); `notify` wakes the subscriber to look.
#[derive(Debug, Default)]
pub(crate) struct Presence {
    pub away: AtomicBool,
    pub kick: AtomicBool,
    pub notify: tokio::sync::Notify,
}

impl Presence {
    /// Resolves when the subscriber must leave.
    async fn must_leave(&self) {
        loop {
            self.notify.notified().await;
            if self.away.load(Relaxed) || self.kick.swap(false, Relaxed) {
                return;
            }
        }
    }

    /// Resolves when the subscriber may be connected.
    async fn may_join(&self) {
        while self.away.load(Relaxed) {
            self.notify.notified().await;
        }
    }
}

impl Env {
    /// A fresh run's shared state: nothing accepted late yet, nothing
    /// cancelled, publishing not started. `publish_stop` is the caller's
    /// token that ends publishing early.
    pub(crate) fn new(
        plan: Plan,
        addr: SocketAddr,
        run_id: u32,
        clock: Clock,
        live: Arc<Live>,
        publish_stop: CancellationToken,
    ) -> Self {
        let shards =
            LatencyShards::new(crate::core::tally::shard_count()).feeding(live.latency.clone());
        let (plan_churn, plan_subscribers) = (plan.churn.is_some(), plan.subscribers);
        // Staged subscribers start away: the stages start from 0.
        let staged = plan.subscriber_stages.is_some();
        Env {
            h2: crate::proto::http2::H2Pool::for_plan(&plan),
            acks: Arc::new(Acks::new(plan.publishers)),
            plan,
            addr,
            run_id,
            clock,
            live,
            shards,
            accepting: AtomicBool::new(true),
            ramp_over: CancellationToken::new(),
            cancel: CancellationToken::new(),
            publish_t0: watch::channel(None).0,
            publish_stop,
            ios: Default::default(),
            presence: match plan_churn {
                true => (0..plan_subscribers)
                    .map(|_| Presence {
                        away: AtomicBool::new(staged),
                        ..Presence::default()
                    })
                    .collect(),
                false => Vec::new(),
            },
        }
    }
}

impl Env {
    /// Adds a subscriber's counters to those the sampler sums.
    pub(crate) fn register(&self, io: &Arc<SubIo>) {
        self.ios
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(io.clone());
    }
}

/// One subscriber's task state.
pub(crate) struct Sub {
    pub env: Arc<Env>,
    pub io: Arc<SubIo>,
    pub tally: Tally,
    pub errors: ErrorCounts,
    /// The subscriber's own publisher (`--pattern echo`).
    pub(crate) echo: Option<echo::EchoPub>,
    /// The subscriber's index in the run (its HTTP/2 connection's, too).
    pub idx: usize,
    ready: bool,
    /// Connected now (counted in `Live::connected`): from each successful
    /// connect (or poll answer) to the next failure or reconnect pause.
    online: bool,
    /// Its times away (`--churn`): left at, back at (Unix µs).
    gaps: Vec<Gap>,
    /// `pushpoll.v1` and polling: the seq a reconnect (a churn rejoin
    /// too) resumes after.
    pub resume_seq: Option<u64>,
    /// SSE: the `Last-Event-ID` a reconnect (a churn rejoin too) sends.
    pub resume_event_id: Option<String>,
    ramp_failures: u32,
    permit: Option<OwnedSemaphorePermit>,
    settled: Option<mpsc::UnboundedSender<()>>,
}

/// What a subscriber hands back when it ends.
pub(crate) struct SubReport {
    pub tally: Tally,
    pub errors: ErrorCounts,
    /// What it published (`--pattern echo`).
    pub echo: Option<crate::roles::publish::PubReport>,
    /// When `--churn` had it leave, and when it was back.
    pub gaps: Vec<Gap>,
}

impl Sub {
    pub fn new(
        idx: usize,
        env: Arc<Env>,
        io: Arc<SubIo>,
        permit: OwnedSemaphorePermit,
        settled: mpsc::UnboundedSender<()>,
    ) -> Sub {
        let (tally, echo) = if env.plan.echo() {
            (
                Tally::own(env.run_id, idx as u32, idx),
                Some(echo::EchoPub::new(idx, &env)),
            )
        } else {
            let room = env.plan.sub_vars(idx).room;
            let tally = Tally::in_room(env.run_id, env.plan.publishers, env.plan.rooms, room, idx);
            (tally, None)
        };
        Sub {
            env,
            io,
            tally,
            errors: ErrorCounts::default(),
            echo,
            idx,
            ready: false,
            online: false,
            gaps: Vec::new(),
            resume_seq: None,
            resume_event_id: None,
            ramp_failures: 0,
            permit: Some(permit),
            settled: Some(settled),
        }
    }

    /// Tells the ramp-up this subscriber is done connecting, one way or the other.
    fn settle(&mut self) {
        self.permit = None;
        if let Some(tx) = self.settled.take() {
            let _ = tx.send(());
        }
    }

    /// Called when the subscriber is connected and can receive. False when
    /// the ramp-up had already ended without it: the subscriber must stop.
    pub fn ready(&mut self) -> bool {
        if self.ready {
            self.set_online(true);
            return true;
        }
        let won = self.io.settle(SubState::Ready);
        if won {
            self.ready = true;
            self.env.live.ready.fetch_add(1, Relaxed);
            self.set_online(true);
        }
        self.settle();
        won
    }

    /// A staged subscriber not wanted at the start: it takes part (it is
    /// ready, away since the beginning) without connecting yet. False when
    /// the ramp-up had already ended.
    fn away_from_start(&mut self) -> bool {
        let won = self.io.settle(SubState::Ready);
        if won {
            self.ready = true;
            self.env.live.ready.fetch_add(1, Relaxed);
            self.gaps.push((0, None));
        }
        self.settle();
        won
    }

    /// Keeps `Live::connected` in step: counted on transitions only.
    fn set_online(&mut self, online: bool) {
        if self.online != online {
            self.online = online;
            if online {
                // Back after a churn leave: the gap closes now.
                if let Some(gap) = self.gaps.last_mut().filter(|g| g.1.is_none()) {
                    gap.1 = Some(self.env.clock.now_us());
                }
            }
            if online {
                self.env.live.connected.fetch_add(1, Relaxed);
            } else {
                self.env.live.connected.fetch_sub(1, Relaxed);
            }
        }
    }

    /// Counts an error.
    pub fn error(&mut self, kind: Kind) {
        tracing::debug!(kind = %kind, "subscriber error");
        self.env.live.error(&kind);
        self.errors.add(kind);
    }

    /// Counts a failed connection attempt. False when a subscriber that was
    /// never ready has used up its ramp-up attempts: it must stop.
    pub fn failed(&mut self, kind: Kind) -> bool {
        self.error(kind);
        self.set_online(false);
        if self.ready {
            return true;
        }
        self.ramp_failures += 1;
        if self.ramp_failures >= RAMP_ATTEMPTS {
            self.settle();
            return false;
        }
        true
    }

    /// Runs `fut`, unless the subscriber is not ready yet and the ramp-up
    /// ends first (then `None`: the subscriber must stop).
    pub async fn guard<F: std::future::Future>(&self, fut: F) -> Option<F::Output> {
        if self.ready {
            return Some(fut.await);
        }
        tokio::select! {
            biased;
            _ = self.env.ramp_over.cancelled() => None,
            out = fut => Some(out),
        }
    }

    /// Sleeps before a reconnect or retry: the backoff's next delay, after
    /// `retry_after` when the server asked for one. False when the
    /// subscriber must stop.
    pub async fn pause(&mut self, backoff: &mut Backoff, retry_after: Option<Duration>) -> bool {
        // Waiting to reconnect or retry: not connected meanwhile.
        self.set_online(false);
        let d = retry_after.unwrap_or_default() + backoff.next_delay();
        self.guard(tokio::time::sleep(d)).await.is_some()
    }

    /// Connects the subscriber's HTTP client: its own HTTP/1.1
    /// connection, or a stream handle of its shared HTTP/2 one (`--http2`).
    pub async fn http_connect(&self) -> Result<crate::proto::http2::SubConn, Kind> {
        let env = &self.env;
        let h2 = env.h2.as_ref().map(|p| p.conn(self.idx));
        crate::proto::http2::SubConn::connect(
            h2.as_deref(),
            env.addr,
            env.plan.sub.tls.as_ref(),
            env.plan.timeout,
            &self.io,
        )
        .await
    }

    /// Looks for this run's marker in a received payload and counts it.
    pub fn deliver(&mut self, payload: &[u8]) {
        let Some(m) = Marker::find(payload) else {
            self.tally.unmarked += 1;
            return;
        };
        // Other runs' markers (other load agents) reach the tally, which
        // counts them apart and leaves them out of delivery and latency.
        if !self.env.accepting.load(Relaxed) {
            return;
        }
        let now = self.env.clock.now_us();
        // An echo subscriber's messages are its own: it knows their fate.
        let acks: &dyn Resolve = match &self.echo {
            Some(own) => own,
            None => &*self.env.acks,
        };
        if self.tally.record(&m, now, &self.env.shards, acks) {
            self.env.live.delivered.fetch_add(1, Relaxed);
        }
    }
}

/// A subscriber's whole life; returns when the run cancels it, or earlier
/// if it never got ready.
pub(crate) async fn run(mut sub: Sub) -> SubReport {
    let cancel = sub.env.cancel.clone();
    let transport = sub.env.plan.transport;
    let env = sub.env.clone();
    let presence = env.presence.get(sub.idx);
    if presence.is_some_and(|p| p.away.load(Relaxed)) {
        // Not wanted yet (`--subscriber-stages`): a participant from the
        // start, away until the stages call it in.
        if !sub.away_from_start() {
            return SubReport {
                tally: sub.tally,
                errors: sub.errors,
                echo: None,
                gaps: sub.gaps,
            };
        }
    }
    'life: loop {
        if let Some(p) = presence {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break 'life,
                _ = p.may_join() => {}
            }
        }
        // Told to leave, the subscriber drops its connection (closing its
        // sockets), and rejoins afresh once it may.
        let left = tokio::select! {
            biased;
            _ = cancel.cancelled() => false,
            _ = async {
                match presence {
                    Some(p) => p.must_leave().await,
                    None => std::future::pending().await,
                }
            } => true,
            _ = session(transport, &mut sub) => false,
        };
        if !left {
            break;
        }
        sub.set_online(false);
        sub.gaps.push((sub.env.clock.now_us(), None));
    }
    sub.settle();
    sub.set_online(false);
    // Only a subscriber that was ready publishes (or owes messages).
    let echo = match sub.echo.take() {
        Some(e) if sub.ready => Some(e.finish(&sub.env)),
        _ => None,
    };
    SubReport {
        tally: sub.tally,
        errors: sub.errors,
        echo,
        gaps: sub.gaps,
    }
}

/// A subscriber's connections over `transport`, boxed: matched inline, the
/// task's future would be as large as the largest transport's (about 11 KB,
/// held by every idle subscriber whatever its transport); boxed, each
/// subscriber holds only its own transport's.
fn session<'a>(
    transport: Transport,
    sub: &'a mut Sub,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>> {
    match transport {
        Transport::Ws => Box::pin(ws::run(sub)),
        Transport::LongPoll | Transport::ShortPoll => Box::pin(poll::run(sub)),
        Transport::Sse => Box::pin(sse::run(sub)),
        Transport::SocketIo => Box::pin(socketio::run(sub)),
        Transport::Bayeux => Box::pin(bayeux::run(sub)),
        Transport::SockJs => Box::pin(sockjs::run(sub)),
    }
}

/// Reconnect delays with "full jitter": the step doubles from
/// [`BACKOFF_MIN`] to [`BACKOFF_MAX`], and each delay is drawn uniformly
/// between zero and the current step. Subscribers cut at the same instant
/// (a restarted server) thus come back spread over the whole step rather
/// than in lockstep.
#[derive(Debug)]
pub(crate) struct Backoff {
    step: Duration,
}

impl Backoff {
    pub fn new() -> Self {
        Backoff { step: BACKOFF_MIN }
    }

    pub fn reset(&mut self) {
        self.step = BACKOFF_MIN;
    }

    pub fn next_delay(&mut self) -> Duration {
        let d = self.step.mul_f64(rand::random::<f64>());
        self.step = (self.step * 2).min(BACKOFF_MAX);
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_bounded() {
        let mut b = Backoff::new();
        let delays: Vec<Duration> = (0..20).map(|_| b.next_delay()).collect();
        assert!(delays.iter().all(|d| *d <= BACKOFF_MAX));
        assert!(delays[0] <= BACKOFF_MIN && delays[1] <= BACKOFF_MIN * 2);
        b.reset();
        assert!(b.next_delay() <= BACKOFF_MIN);
    }

    #[test]
    fn backoff_jitter_spreads_over_the_whole_step() {
        // 1,000 subscribers cut at once: their first delays must cover the
        // step from near zero to near its end, not cluster (the chance that
        // uniform draws miss either end by this much is below 1e-90).
        let delays: Vec<Duration> = (0..1000).map(|_| Backoff::new().next_delay()).collect();
        let min = delays.iter().min().unwrap();
        let max = delays.iter().max().unwrap();
        assert!(*min < BACKOFF_MIN / 5, "{min:?}");
        assert!(*max > BACKOFF_MIN * 4 / 5, "{max:?}");
        assert!(*max <= BACKOFF_MIN);
        let in_first_half = delays.iter().filter(|d| **d < BACKOFF_MIN / 2).count();
        assert!((350..=650).contains(&in_first_half), "{in_first_half}");
    }
}

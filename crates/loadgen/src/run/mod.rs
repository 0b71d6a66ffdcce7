//! One run, phase by phase: ramp-up, idle window, open-loop publishing,
//! grace, then the sums. Every wait is bounded and every task is joined or
//! aborted before [`run`] returns.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;

use crate::config::opts::LoadOpts;
use crate::config::plan::{Plan, PublishTarget};
use crate::core::error::{ErrorCounts, Kind, LoadError};
use crate::core::schedule::{self, Clock};
use crate::core::tally::{Gap, LostBySecond, RangeSet, TallySummary};
use crate::core::timeline::{self, Timeline};
use crate::net::count::{IoTotals, SubIo, SubState};
use crate::roles::publish::{self, PubEnv, PubReport, WsPub};
use crate::roles::publish_bayeux::{self, BayeuxPub};
use crate::roles::subscribe::{self, Env};
use crate::worker::Pool;
use pushpoll_results::RunResult;

mod build;
mod exporter;

use crate::core::progress::{Hooks, Live, Phase, Reporter, PROGRESS_EVERY};
use crate::roles::ramp::{ramp, ready_ids};
use build::{build, Inputs};

/// How often the grace period checks whether everything has arrived.
const GRACE_POLL: Duration = Duration::from_millis(5);
/// How long stopped subscriber tasks get to hand back their reports.
const JOIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Runs one load test. See the crate documentation for the phases.
///
/// `stop` resolving (Ctrl-C) ends publishing early; the grace period still
/// runs (it ends as soon as every subscriber has every published message),
/// and everything measured is returned. Only setup problems are errors.
pub async fn run(
    opts: &LoadOpts,
    hooks: Hooks,
    stop: impl Future<Output = ()> + Send,
) -> Result<RunResult, LoadError> {
    let plan = Plan::new(opts)?;
    let metrics = exporter::bind(opts).await?;
    let sub_addr = plan.sub.resolve().await?;
    let pub_addr = plan.publish.target().resolve().await?;
    crate::net::source_ip::validate(&plan.source_ips, sub_addr)?;
    crate::net::preflight::check(&plan.sub, sub_addr, plan.timeout).await?;
    if plan.publish.target().url != plan.sub.url {
        crate::net::preflight::check(plan.publish.target(), pub_addr, plan.timeout).await?;
    }
    subscribe::check_subprotocol(&plan, sub_addr).await?;
    subscribe::check_sockjs_info(&plan, sub_addr).await?;
    let run_id: u32 = opts.run_id.unwrap_or_else(rand::random);
    let live = Arc::new(Live::default());
    let sockets = exporter::Sockets::default();
    let metrics = metrics.map(|m| {
        let t = plan.transport.name();
        m.serve(&hooks, run_id, t, live.clone(), sockets.clone())
    });
    let stop_token = CancellationToken::new();
    let pool = match plan.workers {
        0 => None,
        _ => Some(Pool::spawn(opts, &plan, run_id, &hooks, live.clone(), &stop_token).await?),
    };
    let hard = CancellationToken::new();
    let deadline = plan.hard_deadline();
    let mut body = pin!(orchestrate(
        plan,
        sub_addr,
        pub_addr,
        hooks,
        stop_token.clone(),
        hard.clone(),
        run_id,
        live,
        pool,
        sockets,
    ));
    let mut stop = pin!(stop);
    let mut hard_deadline = pin!(tokio::time::sleep(deadline));
    let (mut stopped, mut expired) = (false, false);
    let result = loop {
        tokio::select! {
            result = &mut body => break result.map(|r| RunResult { label: opts.label.clone(), ..r }),
            _ = &mut stop, if !stopped => {
                tracing::info!("stop requested: publishing ends, grace period follows");
                stopped = true;
                stop_token.cancel();
            }
            _ = &mut hard_deadline, if !expired => {
                tracing::warn!(?deadline, "run passed its hard deadline; ending it");
                expired = true;
                stop_token.cancel();
                hard.cancel();
            }
        }
    };
    if let Some(m) = metrics {
        // Ctrl-C during the linger ends it.
        m.finish(result.as_ref().ok(), (!stopped).then_some(stop))
            .await;
    }
    result
}

/// Phase 3 of an echo run: the subscribers publish on their own
/// connections; wait until the schedule is over and every ready subscriber
/// has sent (or failed) its share, or at most `--timeout` more.
async fn echo_publishing(
    env: &Arc<Env>,
    ios: &[Arc<SubIo>],
    t0: Instant,
    stop: &CancellationToken,
    hard: &CancellationToken,
    reporter: &mut Reporter,
) {
    let plan = &env.plan;
    let owed: u64 = ios
        .iter()
        .enumerate()
        .filter(|(_, io)| io.state() == SubState::Ready)
        .map(|(i, _)| schedule::messages_for(i, plan.publishers, plan.total_messages))
        .sum();
    env.publish_t0.send_replace(Some(t0));
    let last = t0 + plan.schedule.offset(plan.total_messages.saturating_sub(1));
    let limit = last + plan.timeout;
    loop {
        if env.live.echo_attempted.load(Relaxed) >= owed {
            break;
        }
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = hard.cancelled() => break,
            _ = sleep_until(limit) => break,
            _ = tokio::time::sleep(GRACE_POLL) => reporter.report(Phase::Publishing, false),
        }
    }
}

/// Reads the server's CPU time, from the hook or the metrics endpoint.
async fn server_cpu(hooks: &Hooks, plan: &Plan, errors: &mut ErrorCounts) -> Option<f64> {
    if let Some(f) = &hooks.server_cpu {
        return f().map(|d| d.as_secs_f64());
    }
    let target = plan.metrics.as_ref()?;
    match publish::scrape_cpu(target, plan.timeout).await {
        Ok(v) => Some(v),
        Err(kind) => {
            errors.add(Kind::Owned(format!("metrics_{kind}")));
            None
        }
    }
}

// The run's parts, handed over once from `run`; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
async fn orchestrate(
    plan: Plan,
    sub_addr: SocketAddr,
    pub_addr: SocketAddr,
    hooks: Hooks,
    stop: CancellationToken,
    hard: CancellationToken,
    run_id: u32,
    live: Arc<Live>,
    mut pool: Option<Pool>,
    sockets: exporter::Sockets,
) -> Result<RunResult, LoadError> {
    let clock = Clock::new();
    let env = Arc::new(Env::new(
        plan.clone(),
        sub_addr,
        run_id,
        clock,
        live.clone(),
        stop.clone(),
    ));
    let mut reporter = Reporter::new(hooks.progress.clone(), live.clone());
    let mut run_errors = ErrorCounts::default();
    let sampler_stop = CancellationToken::new();
    let sampler = crate::roles::sampler::spawn(env.clone(), sampler_stop.clone());
    tracing::info!(run_id = format!("{run_id:08x}"), transport = %plan.transport, subscribers = plan.subscribers, "ramping up");

    // Phase 1: ramp-up. Whoever is not ready when it ends takes no part.
    let (ios, handles, connected, by_room) = match &mut pool {
        // Worker processes hold the subscribers; this process publishes.
        Some(pool) => {
            let (connected, by_room) = pool.ramp(&stop, &hard, &mut reporter).await?;
            (Vec::new(), Vec::new(), connected, by_room)
        }
        None => {
            let (ios, handles) = ramp(&env, &stop, &mut reporter).await;
            env.ramp_over.cancel();
            let _ = sockets.set(ios.clone());
            let ready = ready_ids(&ios, &plan);
            let connected = ready.len() as u64;
            let by_room = crate::core::rooms::connected_by_room(ready.into_iter(), plan.rooms);
            (ios, handles, connected, by_room)
        }
    };
    tracing::info!(connected, asked = plan.subscribers, "ramp-up over");

    // Publishers' own connections, opened before anything is measured.
    let pub_env = Arc::new(PubEnv {
        plan: plan.clone(),
        addr: pub_addr,
        run_id,
        clock,
        live: live.clone(),
        acks: env.acks.clone(),
        stop: stop.clone(),
        parked: Default::default(),
        io: Default::default(),
    });
    let mut ws_pubs: Vec<Option<WsPub>> = (0..plan.publishers).map(|_| None).collect();
    let mut bayeux_pubs: Vec<Option<BayeuxPub>> = (0..plan.publishers).map(|_| None).collect();
    if matches!(plan.publish, PublishTarget::Bayeux(_)) && !stop.is_cancelled() {
        let connects = (0..plan.publishers).map(|p| publish_bayeux::connect(&plan, pub_addr, p));
        tokio::select! {
            _ = stop.cancelled() => {}
            conns = futures_util::future::join_all(connects) => {
                bayeux_pubs = conns.into_iter().map(Result::ok).collect();
            }
        }
    }
    if matches!(
        plan.publish,
        PublishTarget::Ws(_) | PublishTarget::SocketIo(_) | PublishTarget::SockJs(_)
    ) && !stop.is_cancelled()
        && !plan.echo()
    {
        let connects =
            (0..plan.publishers).map(|p| publish::connect(&plan, pub_addr, p, &pub_env.io));
        tokio::select! {
            _ = stop.cancelled() => {}
            conns = futures_util::future::join_all(connects) => {
                ws_pubs = conns.into_iter().map(Result::ok).collect();
            }
        }
    }

    // Phase 2: idle window.
    let before_idle = io_now(&ios, &mut pool).await?;
    let mut idle_window = Duration::ZERO;
    if !plan.idle.is_zero() && !stop.is_cancelled() {
        reporter.report(Phase::Idle, true);
        let t = Instant::now();
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(plan.idle) => {}
        }
        idle_window = t.elapsed();
    }
    let idle_io = io_now(&ios, &mut pool).await?.minus(before_idle);

    // Phase 3: open-loop publishing.
    let mut pub_reports: Vec<PubReport> = Vec::new();
    let mut active: Option<(Instant, Option<f64>)> = None;
    let mut publish_start_io = io_now(&ios, &mut pool).await?;
    let mut sender_start = pub_env.io.snapshot();
    let mut generator_cpu0 = None;
    // Unix second of the first scheduled publish (the timeline's t_s = 0);
    // when publishing never started, where it would have.
    let mut t0_s = clock.now_us() / 1_000_000 + 1;
    if !stop.is_cancelled() {
        let cpu0 = server_cpu(&hooks, &plan, &mut run_errors).await;
        // Publishing starts on a whole Unix second, so that every process's
        // timeline (keyed by Unix second) has second 0 where publishing began.
        let t0_us = (clock.now_us() / 1_000_000 + 1) * 1_000_000;
        t0_s = t0_us / 1_000_000;
        let t0 = clock.instant_at(t0_us);
        sleep_until(t0).await;
        publish_start_io = io_now(&ios, &mut pool).await?;
        sender_start = pub_env.io.snapshot();
        generator_cpu0 = crate::net::tcp_info::process_cpu_s();
        if let Some(stages) = &plan.rate_stages {
            reporter.stages_from(stages, &plan.schedule, t0);
        }
        if let Some(stages) = &plan.subscriber_stages {
            reporter.subscriber_stages_from(stages, t0);
        }
        reporter.report(Phase::Publishing, true);
        active = Some((t0, cpu0));
        if plan.echo() {
            echo_publishing(&env, &ios, t0, &stop, &hard, &mut reporter).await;
        } else {
            let mut tasks: Vec<JoinHandle<PubReport>> = Vec::with_capacity(plan.publishers);
            let conns = ws_pubs.drain(..).zip(bayeux_pubs.drain(..));
            for (p, (conn, bayeux_conn)) in conns.enumerate() {
                let env = pub_env.clone();
                tasks.push(match plan.publish {
                    PublishTarget::Ws(_)
                    | PublishTarget::SocketIo(_)
                    | PublishTarget::SockJs(_) => tokio::spawn(publish::run_ws(env, p, t0, conn)),
                    PublishTarget::Post(_) => tokio::spawn(publish::run_post(env, p, t0)),
                    PublishTarget::Bayeux(_) => {
                        tokio::spawn(publish_bayeux::run(env, p, t0, bayeux_conn))
                    }
                });
            }
            let churn = crate::roles::presence::spawn(&env, &ios, t0);
            let mut ticker = tokio::time::interval(PROGRESS_EVERY);
            for mut task in tasks {
                let report = loop {
                    tokio::select! {
                        r = &mut task => break r,
                        _ = ticker.tick() => {
                            reporter.report(Phase::Publishing, false);
                            // Workers' subscribers hold latencies of
                            // unresolved publishes until they hear.
                            if let Some(pool) = &mut pool {
                                pool.send_acks(&env.acks).await?;
                            }
                        }
                    }
                };
                match report {
                    Ok(r) => pub_reports.push(r),
                    Err(_) => run_errors.add(Kind::Borrowed("publish_internal")),
                }
            }
            // Churn is for while messages are published.
            if let Some(c) = churn {
                c.abort();
            }
        }
    }
    drop(ws_pubs);
    drop(bayeux_pubs);
    let published_sets: Vec<RangeSet> = pub_reports.iter().map(|r| r.acked.clone()).collect();
    let published: u64 = published_sets.iter().map(RangeSet::len).sum();
    // (attempted, acknowledged) per publisher, for what each room expects.
    let per_publisher: Vec<(u64, u64)> = pub_reports
        .iter()
        .map(|r| (r.attempted, r.acked.len()))
        .collect();

    // Phase 4: grace, until every connected subscriber has every message.
    let mut end = Instant::now();
    let mut server_cpu_s = None;
    let mut generator_cpu_s = None;
    let mut window_wire = None;
    if let Some((_, cpu0)) = active {
        reporter.report(Phase::Grace, true);
        // Arrivals are counted live without knowing which publishes will be
        // acknowledged; when some failed, their arrivals would be mistaken
        // for expected ones, so only a run without failures may end early.
        let (attempted, published, expected) = if plan.echo() {
            // Each message has one receiver, its sender.
            let a = live.echo_attempted.load(Relaxed);
            let p = live.published.load(Relaxed);
            (a, p, p)
        } else {
            let a: u64 = pub_reports.iter().map(|r| r.attempted).sum();
            let per: Vec<u64> = published_sets.iter().map(RangeSet::len).collect();
            (a, published, crate::core::rooms::deliveries(&by_room, &per))
        };
        let want = if attempted == published || connected == 0 {
            expected
        } else {
            u64::MAX
        };
        let grace_start = Instant::now();
        let grace_end = grace_start + plan.grace;
        match &mut pool {
            Some(pool) => {
                // Each worker waits for its own subscribers, then reports.
                let complete = want != u64::MAX;
                let waited = pool
                    .finish(
                        &published_sets,
                        complete,
                        plan.grace,
                        t0_s,
                        &hard,
                        &mut reporter,
                    )
                    .await?;
                end = grace_start + waited;
            }
            None => {
                while live.delivered.load(Relaxed) < want {
                    tokio::select! {
                        biased;
                        _ = hard.cancelled() => break,
                        _ = sleep_until(grace_end) => break,
                        _ = tokio::time::sleep(GRACE_POLL) => reporter.report(Phase::Grace, false),
                    }
                }
                end = Instant::now();
            }
        }
        env.accepting.store(false, Relaxed);
        let cpu1 = server_cpu(&hooks, &plan, &mut run_errors).await;
        server_cpu_s = cpu0.zip(cpu1).map(|(a, b)| (b - a).max(0.0));
        if pool.is_none() {
            // Before the subscribers close their sockets: TCP_INFO needs them open.
            let end_wire = IoTotals::sum(&ios).wire;
            window_wire = Some((end_wire.minus(publish_start_io.wire), publish_start_io.wire));
        }
        // An in-process server (`compare`) shares the process's CPU time.
        // With workers this is the parent's share (the publishers); the
        // workers' own is added once they have reported.
        let server_share = if hooks.server_cpu.is_some() && hooks.server_in_process {
            server_cpu_s
        } else {
            Some(0.0)
        };
        generator_cpu_s = generator_cpu0
            .zip(crate::net::tcp_info::process_cpu_s())
            .zip(server_share)
            .map(|((a, b), s)| (b - a - s).max(0.0));
    }
    env.accepting.store(false, Relaxed);
    sampler_stop.cancel();
    let mut tl = sampler.await.unwrap_or_default();
    let sender_io = pub_env.io.snapshot().minus(sender_start);

    // Stop every subscriber and collect what it measured.
    env.cancel.cancel();
    drop(std::mem::take(
        &mut *pub_env.parked.lock().unwrap_or_else(|e| e.into_inner()),
    ));
    let join_deadline = Instant::now() + JOIN_TIMEOUT;
    let mut summary = TallySummary::default();
    let mut errors = BTreeMap::new();
    let mut published = published;
    let mut remote = None;
    if let Some(pool) = pool.take() {
        let merged = pool.merged().await?;
        generator_cpu_s = generator_cpu_s.zip(merged.cpu_s).map(|(a, b)| a + b);
        summary.add(merged.summary);
        tl.merge(&merged.timeline);
        for (k, n) in merged.errors {
            *errors.entry(k).or_default() += n;
        }
        remote = Some((merged.histogram, merged.io));
    }
    let mut lost = LostBySecond {
        schedule: &plan.schedule,
        publishers: plan.publishers,
        t0_s,
        timeline: Timeline::default(),
        // Subscribers that resume by seq expect everything
        // once they first joined: no guard, and their later gaps are moot.
        guard_us: match plan.resumes() {
            true => 0,
            false => plan.churn.map_or(0, |(_, g)| g.as_micros() as u64),
        },
    };
    let publish_second = |set: &RangeSet, p: usize, tl: &mut Timeline| {
        timeline::by_second(set, p, plan.publishers, &plan.schedule, |s, n| {
            tl.at(t0_s + s).published += n
        })
    };
    for (p, set) in published_sets.iter().enumerate() {
        publish_second(set, p, &mut tl);
    }
    let resumes = plan.resumes();
    for (i, mut h) in handles.into_iter().enumerate() {
        // Only subscribers connected when publishing began were expected to receive.
        let expected = ios.get(i).is_some_and(|io| io.state() == SubState::Ready);
        match tokio::time::timeout_at(join_deadline, &mut h).await {
            Ok(Ok(rep)) => {
                let lost = expected.then_some(&mut lost);
                match rep.echo {
                    // An echo subscriber expects its own messages only.
                    Some(own) => {
                        summary.add(rep.tally.finish(
                            std::slice::from_ref(&own.acked),
                            &env.shards,
                            lost,
                            &expected_gaps(&rep.gaps, resumes),
                        ));
                        publish_second(&own.acked, i, &mut tl);
                        published += own.acked.len();
                        pub_reports.push(own);
                    }
                    None => summary.add(rep.tally.finish(
                        &published_sets,
                        &env.shards,
                        lost,
                        &expected_gaps(&rep.gaps, resumes),
                    )),
                }
                rep.errors.merge_into(&mut errors);
            }
            Ok(Err(_)) => run_errors.add(Kind::Borrowed("internal")),
            Err(_) => {
                h.abort();
                run_errors.add(Kind::Borrowed("subscriber_stuck"));
            }
        }
    }
    // Subscribers flushed their last latencies into the shards as they ended.
    let (histogram, total_io) =
        remote.unwrap_or_else(|| (env.shards.merged(), IoTotals::sum(&ios)));
    tl.merge(&env.shards.timeline());
    tl.merge(&lost.timeline);
    reporter.report(Phase::Done, true);

    let mut attempted = 0;
    let mut payload_total = 0;
    for r in pub_reports {
        attempted += r.attempted;
        payload_total += r.payload_bytes;
        r.errors.merge_into(&mut errors);
    }
    run_errors.merge_into(&mut errors);

    Ok(build(Inputs {
        plan: &plan,
        run_id,
        connected,
        by_room,
        per_publisher,
        published,
        attempted,
        payload_total,
        summary,
        histogram,
        active_io: total_io.minus(idle_io),
        publishing_io: total_io.minus(publish_start_io),
        idle_io,
        idle_window,
        active_s: active.map_or(0.0, |(t0, _)| (end - t0).as_secs_f64()),
        server_cpu_s,
        generator_cpu_s,
        window_wire,
        sender_io,
        errors,
        timeline: tl.entries(t0_s),
    }))
}

/// The gaps a subscriber's expectation leaves out: all of them, or for one
/// that resumes by sequence number, only the time before it first joined
/// (a staged subscriber away from the start).
fn expected_gaps(gaps: &[Gap], resumes: bool) -> Vec<Gap> {
    match resumes {
        false => gaps.to_vec(),
        true => gaps.iter().copied().filter(|g| g.0 == 0).collect(),
    }
}

/// The subscribers' socket counters now: summed here, or asked of the workers.
async fn io_now(ios: &[Arc<SubIo>], pool: &mut Option<Pool>) -> Result<IoTotals, LoadError> {
    match pool {
        Some(pool) => pool.io().await,
        None => Ok(IoTotals::sum(ios)),
    }
}

//! Subscribers that come and go while messages are published: the
//! controller that tells them when (`--subscriber-stages`, `--churn`).
//! Each subscriber keeps its own record of its times away, from which its
//! expected messages are computed when the run is over (`Tally::finish`).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant};

use crate::core::schedule::target_at;
use crate::net::count::{SubIo, SubState};
use crate::roles::subscribe::Env;

/// How often the controller follows the stages.
const TICK: Duration = Duration::from_millis(50);

/// From `t0` until aborted: keeps `floor(target)` subscribers (the lowest
/// indices) present as the stages move, and has `--churn` R present ones a
/// second, chosen at random, leave and rejoin. `None` when subscribers do
/// not come and go.
pub(crate) fn spawn(env: &Arc<Env>, ios: &[Arc<SubIo>], t0: Instant) -> Option<JoinHandle<()>> {
    let (rate, _) = env.plan.churn?;
    let (env, ios) = (env.clone(), ios.to_vec());
    Some(tokio::spawn(async move {
        let n = env.presence.len().min(ios.len());
        let mut kicked: u64 = 0;
        let mut next = t0;
        loop {
            sleep_until(next).await;
            next += TICK;
            let t = next.saturating_duration_since(t0 + TICK).as_secs_f64();
            if let Some(stages) = &env.plan.subscriber_stages {
                let want = (target_at(stages, 0.0, t).floor() as usize).min(n);
                for (i, p) in env.presence.iter().enumerate().take(n) {
                    let away = i >= want;
                    if p.away.swap(away, Relaxed) != away {
                        p.notify.notify_one();
                    }
                }
            }
            let due = (rate * t).floor() as u64;
            while kicked < due {
                kicked += 1;
                let present: Vec<usize> = (0..n)
                    .filter(|&i| ios[i].state() == SubState::Ready)
                    .filter(|&i| !env.presence[i].away.load(Relaxed))
                    .collect();
                if present.is_empty() {
                    break;
                }
                let p = &env.presence[present[rand::random_range(0..present.len())]];
                p.kick.store(true, Relaxed);
                p.notify.notify_one();
            }
        }
    }))
}

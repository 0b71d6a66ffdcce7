//! What a person sees while runs go on: on a terminal, a progress bar over
//! the planned runs with the live state of the current one (phase, connected
//! subscribers, deliveries per second, errors); otherwise (CI logs, pipes)
//! plain lines, one when each run starts and ends.

use std::io::IsTerminal as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pushpoll_loadgen::{Phase, Progress, ProgressSink};

/// Progress over `steps` runs.
#[derive(Clone)]
pub struct View {
    bar: Option<ProgressBar>,
    /// Deliveries and time at the previous live report, for a rate.
    last: Arc<Mutex<(u64, Duration)>>,
}

impl View {
    /// A bar when stderr is a terminal, plain lines otherwise.
    pub fn new(steps: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{bar:20} {pos}/{len} {prefix} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        View {
            bar,
            last: Arc::new(Mutex::new((0, Duration::ZERO))),
        }
    }

    /// A run begins.
    pub fn start(&self, what: &str) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = (0, Duration::ZERO);
        match &self.bar {
            Some(bar) => bar.set_prefix(what.to_string()),
            None => eprintln!("{what}"),
        }
    }

    /// A run ended with this summary.
    pub fn finish(&self, summary: &str) {
        match &self.bar {
            Some(bar) => {
                bar.println(summary);
                bar.inc(1);
            }
            None => eprintln!("{summary}"),
        }
    }

    /// Everything is done: remove the bar.
    pub fn close(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    /// The load generator's live reports, shown on the bar (ignored without one).
    pub fn live(&self) -> Option<ProgressSink> {
        let bar = self.bar.clone()?;
        let last = self.last.clone();
        Some(Arc::new(move |p: &Progress| {
            let mut last = last.lock().unwrap_or_else(|e| e.into_inner());
            let dt = p.elapsed.saturating_sub(last.1).as_secs_f64();
            let rate = if dt > 0.0 {
                p.delivered.saturating_sub(last.0) as f64 / dt
            } else {
                0.0
            };
            *last = (p.delivered, p.elapsed);
            bar.set_message(line(p, rate));
        }))
    }
}

/// The live line: phase, counts, and on a staged run the stage and its target.
fn line(p: &Progress, rate: f64) -> String {
    let mut s = format!(
        "{}: {} connected, {} published, {} delivered ({:.0}/s), {} errors",
        phase_name(p.phase),
        p.subscribers_ready,
        p.published,
        p.delivered,
        rate,
        p.errors
    );
    if let Some(st) = p.stage {
        s.push_str(&format!(
            ", stage {}/{} → {} msg/s (now {:.1})",
            st.index, st.count, st.target_rate, st.rate_now
        ));
    }
    if let Some(st) = p.subscriber_stage {
        s.push_str(&format!(
            ", subscriber stage {}/{} → {} (now {:.0})",
            st.index, st.count, st.target, st.now
        ));
    }
    s
}

fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Connecting => "connecting",
        Phase::Idle => "idle window",
        Phase::Publishing => "publishing",
        Phase::Grace => "grace",
        Phase::Done => "done",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_the_stage_and_its_target() {
        let mut p = Progress {
            phase: Phase::Publishing,
            elapsed: Duration::from_secs(3),
            subscribers_ready: 4,
            published: 10,
            delivered: 40,
            errors: 0,
            stage: None,
            subscriber_stage: None,
        };
        assert!(!line(&p, 2.0).contains("stage"));
        p.stage = Some(pushpoll_loadgen::StageProgress {
            index: 2,
            count: 3,
            target_rate: 100.0,
            rate_now: 62.5,
        });
        assert_eq!(
            line(&p, 2.0),
            "publishing: 4 connected, 10 published, 40 delivered (2/s), 0 errors, stage 2/3 → 100 msg/s (now 62.5)"
        );
        p.subscriber_stage = Some(pushpoll_loadgen::SubscriberStageProgress {
            index: 1,
            count: 2,
            target: 40.0,
            now: 12.4,
        });
        assert!(line(&p, 2.0).ends_with(", subscriber stage 1/2 → 40 (now 12)"));
    }
}

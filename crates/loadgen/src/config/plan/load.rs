//! The run's size and clock: rate, counts, durations and their limits.

use std::time::Duration;

use crate::config::opts::{LoadOpts, LoadTransport as Transport};
use crate::core::error::LoadError;
use crate::core::schedule;

use crate::core::limits::{
    MAX_IN_FLIGHT, MAX_MESSAGES, MAX_PAYLOAD, MAX_PUBLISHERS, MAX_SUBSCRIBERS,
};

/// Longest any duration option may be, seconds (a week).
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Default ramp timeout before `subscribers / ramp` is added.
const RAMP_TIMEOUT_BASE: f64 = 60.0;
/// Grace before the short-poll interval is added.
const GRACE_BASE: f64 = 2.0;
/// The durations and counts a run is scheduled by, checked.
pub(super) struct Timing {
    /// Rooms (1 without `--rooms`).
    pub rooms: usize,
    /// Publishers of a broadcast run (`--publishers`, or one per room).
    pub publishers: usize,
    pub duration: Duration,
    pub total_messages: u64,
    pub poll_interval: Duration,
    pub long_poll_wait: Duration,
    pub ramp_timeout: Duration,
    pub idle: Duration,
    pub grace: Duration,
    pub timeout: Duration,
}

/// Checks the rate, the counts, every duration and the concurrency limits.
pub(super) fn timing(o: &LoadOpts) -> Result<Timing, LoadError> {
    if !(o.rate.is_finite() && o.rate > 0.0) {
        return Err(LoadError::InvalidOption {
            option: "rate",
            reason: format!(
                "must be a finite number of messages per second > 0, got {}",
                o.rate
            ),
        });
    }
    let duration = seconds("duration", o.duration, false)?;
    if o.subscribers == 0 || o.subscribers > MAX_SUBSCRIBERS {
        return Err(LoadError::InvalidOption {
            option: "subscribers",
            reason: format!(
                "must be between 1 and {MAX_SUBSCRIBERS}, got {}",
                o.subscribers
            ),
        });
    }
    let (rooms, publishers) = rooms_and_publishers(o)?;
    let total_messages = schedule::total_messages(o.rate, duration.as_secs_f64());
    if total_messages > MAX_MESSAGES {
        return Err(LoadError::InvalidOption {
            option: "rate",
            reason: format!(
                "rate × duration schedules {total_messages} messages; at most {MAX_MESSAGES} per run"
            ),
        });
    }
    let poll_interval = seconds("poll-interval", o.poll_interval, false)?;
    let long_poll_wait = seconds("long-poll-wait", o.long_poll_wait, true)?;
    if o.payload_bytes > MAX_PAYLOAD {
        return Err(LoadError::InvalidOption {
            option: "payload-bytes",
            reason: format!("at most {MAX_PAYLOAD} bytes, got {}", o.payload_bytes),
        });
    }
    if let Some(r) = o.ramp {
        if !(r.is_finite() && r > 0.0) {
            return Err(LoadError::InvalidOption {
                option: "ramp",
                reason: format!("must be a finite number of connections per second > 0, got {r}"),
            });
        }
    }
    if !(1..=MAX_IN_FLIGHT).contains(&o.publish_in_flight) {
        return Err(LoadError::InvalidOption {
            option: "publish-in-flight",
            reason: format!(
                "must be 1 to {}, got {}",
                MAX_IN_FLIGHT, o.publish_in_flight
            ),
        });
    }
    if o.connect_concurrency == 0 {
        return Err(LoadError::InvalidOption {
            option: "connect-concurrency",
            reason: "must be at least 1".into(),
        });
    }
    let ramp_timeout = match o.ramp_timeout {
        Some(v) => seconds("ramp-timeout", v, false)?,
        None => {
            let extra = o.ramp.map_or(0.0, |r| o.subscribers as f64 / r);
            seconds(
                "ramp-timeout",
                (RAMP_TIMEOUT_BASE + extra).min(MAX_SECONDS),
                false,
            )?
        }
    };
    let idle = seconds("idle", o.idle, true)?;
    let grace = match o.grace {
        Some(g) => seconds("grace", g, true)?,
        None => {
            let extra = if o.transport == Transport::ShortPoll {
                o.poll_interval
            } else {
                0.0
            };
            seconds("grace", GRACE_BASE + extra, true)?
        }
    };
    let timeout = seconds("timeout", o.timeout, false)?;
    Ok(Timing {
        rooms,
        publishers,
        duration,
        total_messages,
        poll_interval,
        long_poll_wait,
        ramp_timeout,
        idle,
        grace,
        timeout,
    })
}

fn seconds(option: &'static str, v: f64, allow_zero: bool) -> Result<Duration, LoadError> {
    let ok = v.is_finite() && v <= MAX_SECONDS && if allow_zero { v >= 0.0 } else { v > 0.0 };
    if !ok {
        let want = if allow_zero { ">= 0" } else { "> 0" };
        return Err(LoadError::InvalidOption {
            option,
            reason: format!(
                "must be a finite number of seconds {want} and at most {MAX_SECONDS}, got {v}"
            ),
        });
    }
    Ok(Duration::from_secs_f64(v))
}

/// `--rooms` and `--publishers`: one publisher per room by default, and
/// never fewer publishers than rooms (a room without one would expect
/// nothing and measure nothing).
fn rooms_and_publishers(o: &LoadOpts) -> Result<(usize, usize), LoadError> {
    let rooms = match o.rooms {
        None => 1,
        Some(n) if n == 0 || n > o.subscribers => {
            return Err(LoadError::InvalidOption {
                option: "rooms",
                reason: format!(
                "must be between 1 and --subscribers ({}), so every room has a subscriber; got {n}",
                o.subscribers
            ),
            })
        }
        Some(n) => n,
    };
    let publishers = o.publishers.unwrap_or(rooms);
    if publishers == 0 || publishers > MAX_PUBLISHERS {
        return Err(LoadError::InvalidOption {
            option: "publishers",
            reason: format!("must be between 1 and {MAX_PUBLISHERS}, got {publishers}"),
        });
    }
    if publishers < rooms {
        return Err(LoadError::InvalidOption {
            option: "publishers",
            reason: format!(
                "{publishers} publishers for {rooms} rooms: publisher j is in room j mod {rooms}, so every room needs one; give --publishers {rooms} or more (the default with --rooms)"
            ),
        });
    }
    Ok((rooms, publishers))
}

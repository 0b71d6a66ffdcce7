//! `--slo p99=200ms,loss=0`: targets a run must meet, so a load test gives a
//! verdict a CI job or a launch checklist can act on (exit code 3 when missed).

use std::fmt;
use std::str::FromStr;

use pushpoll_loadgen::RunResult;

/// One target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// A latency percentile (`p50`, `p90`, `p99`, `p999`, `max`) at most this many µs.
    Latency {
        /// Which percentile.
        which: Percentile,
        /// Bound, microseconds.
        max_us: u64,
    },
    /// At most this many lost deliveries, or this fraction of expected ones.
    Loss(Bound),
    /// At most this many duplicated deliveries.
    Duplicated(Bound),
    /// At most this many reordered deliveries.
    Reordered(Bound),
    /// At most this many errors of any kind.
    Errors(u64),
}

/// A latency percentile name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Percentile {
    /// Median.
    P50,
    /// 90th.
    P90,
    /// 99th.
    P99,
    /// 99.9th.
    P999,
    /// Largest.
    Max,
}

/// A count bound, absolute or as a share of expected deliveries.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    /// At most this many.
    Count(u64),
    /// At most this fraction (0..=1) of `expected_deliveries`.
    Share(f64),
}

/// A list of targets, as given on the command line.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Slo(pub Vec<Target>);

impl FromStr for Slo {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        s.split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| parse_target(t.trim()))
            .collect::<Result<Vec<_>, _>>()
            .map(Slo)
    }
}

fn parse_target(t: &str) -> Result<Target, String> {
    let (key, value) = t
        .split_once('=')
        .ok_or_else(|| format!("SLO target {t:?} needs the form name=value, e.g. p99=200ms"))?;
    let which = match key {
        "p50" => Some(Percentile::P50),
        "p90" => Some(Percentile::P90),
        "p99" => Some(Percentile::P99),
        "p999" => Some(Percentile::P999),
        "max" => Some(Percentile::Max),
        _ => None,
    };
    if let Some(which) = which {
        return Ok(Target::Latency {
            which,
            max_us: parse_duration_us(value).ok_or_else(|| {
                format!("SLO {key}: {value:?} is not a duration such as 200ms, 1.5s or 800us")
            })?,
        });
    }
    let bound = || {
        parse_bound(value)
            .ok_or_else(|| format!("SLO {key}: {value:?} is not a count (0, 12) or a share (0.1%)"))
    };
    match key {
        "loss" => Ok(Target::Loss(bound()?)),
        "dup" | "duplicated" => Ok(Target::Duplicated(bound()?)),
        "reorder" | "reordered" => Ok(Target::Reordered(bound()?)),
        "errors" => value
            .parse()
            .map(Target::Errors)
            .map_err(|_| format!("SLO errors: {value:?} is not a count")),
        _ => Err(format!(
            "unknown SLO target {key:?}; known: p50, p90, p99, p999, max, loss, dup, reorder, errors"
        )),
    }
}

fn parse_duration_us(v: &str) -> Option<u64> {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    let x: f64 = num.parse().ok()?;
    (x.is_finite() && x >= 0.0).then(|| (x * scale).round() as u64)
}

fn parse_bound(v: &str) -> Option<Bound> {
    if let Some(p) = v.strip_suffix('%') {
        let x: f64 = p.parse().ok()?;
        return (x.is_finite() && (0.0..=100.0).contains(&x)).then_some(Bound::Share(x / 100.0));
    }
    v.parse().ok().map(Bound::Count)
}

/// A target a run missed.
#[derive(Debug, Clone, PartialEq)]
pub struct Miss {
    /// The transport of the run.
    pub transport: String,
    /// What was wanted and what was measured.
    pub what: String,
}

impl fmt::Display for Miss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SLO missed on {}: {}", self.transport, self.what)
    }
}

impl Slo {
    /// Every target every run missed; empty means the runs pass.
    ///
    /// Targets are measured over the subscribers that connected and the
    /// messages the server accepted, so a run must also have measured
    /// something for its verdict to mean anything: a run in which some
    /// subscribers never connected, or nothing was there to deliver, misses
    /// (saying so) whatever the targets are. Otherwise a server that refused
    /// half the connections, or every publish, would "meet" `loss=0`.
    pub fn check(&self, runs: &[RunResult]) -> Vec<Miss> {
        let mut misses = Vec::new();
        for r in runs {
            if self.0.is_empty() {
                continue;
            }
            let mut miss = |what: String| {
                misses.push(Miss {
                    transport: r.transport.clone(),
                    what,
                })
            };
            if r.subscribers_connected < r.subscribers {
                miss(format!(
                    "only {} of {} subscribers connected (the targets cover connected subscribers only)",
                    r.subscribers_connected, r.subscribers
                ));
            }
            if r.expected_deliveries == 0 {
                miss(format!(
                    "nothing to measure: {} messages accepted by the server for {} connected subscribers",
                    r.published, r.subscribers_connected
                ));
            }
            for t in &self.0 {
                if let Some(what) = t.miss(r) {
                    misses.push(Miss {
                        transport: r.transport.clone(),
                        what,
                    });
                }
            }
        }
        misses
    }
}

impl Target {
    fn miss(&self, r: &RunResult) -> Option<String> {
        match *self {
            Target::Latency { which, max_us } => {
                let l = &r.latency_us;
                let (name, got) = match which {
                    Percentile::P50 => ("p50", l.p50),
                    Percentile::P90 => ("p90", l.p90),
                    Percentile::P99 => ("p99", l.p99),
                    Percentile::P999 => ("p999", l.p999),
                    Percentile::Max => ("max", l.max),
                };
                (got > max_us).then(|| format!("{name} latency {got} µs > {max_us} µs"))
            }
            // Judged against what should have been carried: a publish the
            // server refused loses its deliveries as surely as a drop.
            Target::Loss(b) => {
                let planned = r.planned();
                let missing = r.lost + r.unsent;
                b.miss("lost", missing, planned).map(|m| {
                    if r.unsent > 0 {
                        format!(
                            "{m} ({} lost after the server accepted the publish, {} unsent because it refused or never got {} publishes)",
                            r.lost, r.unsent, r.publish_errors
                        )
                    } else {
                        m
                    }
                })
            }
            Target::Duplicated(b) => b.miss("duplicated", r.duplicated, r.expected_deliveries),
            Target::Reordered(b) => b.miss("reordered", r.reordered, r.expected_deliveries),
            Target::Errors(max) => {
                let n: u64 = r.errors.values().sum();
                (n > max).then(|| format!("{n} errors > {max}"))
            }
        }
    }
}

impl Bound {
    fn miss(&self, name: &str, got: u64, expected: u64) -> Option<String> {
        match *self {
            Bound::Count(max) => (got > max).then(|| format!("{got} {name} > {max}")),
            Bound::Share(share) => {
                let allowed = share * expected as f64;
                (got as f64 > allowed)
                    .then(|| format!("{got} {name} of {expected} > {}%", share * 100.0))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_and_names_bad_ones() {
        let slo: Slo = "p99=200ms, loss=0,dup=0.1%,max=1.5s,p50=800us,errors=3"
            .parse()
            .unwrap();
        assert_eq!(
            slo.0,
            vec![
                Target::Latency {
                    which: Percentile::P99,
                    max_us: 200_000
                },
                Target::Loss(Bound::Count(0)),
                Target::Duplicated(Bound::Share(0.001)),
                Target::Latency {
                    which: Percentile::Max,
                    max_us: 1_500_000
                },
                Target::Latency {
                    which: Percentile::P50,
                    max_us: 800
                },
                Target::Errors(3),
            ]
        );
        for bad in [
            "p99",
            "p99=fast",
            "loss=-1",
            "loss=200%",
            "speed=1",
            "p99=5m",
        ] {
            assert!(bad.parse::<Slo>().is_err(), "{bad}");
        }
    }
}

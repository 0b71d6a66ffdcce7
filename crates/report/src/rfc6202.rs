//! RFC 6202's model of polling latency, as plain data: how far a measured
//! mean may stray from a prediction, and whether events come spaced wider
//! than a round trip. Both the RTT section ([`crate::rtt`]) and its chart
//! ([`crate::charts::rtt`]) judge runs by it, so it sits below both.

/// How far a measured mean may stray from its prediction and still agree
/// (a fraction of the prediction). Server and client processing on a busy
/// machine add a little to every transit, and the sample of events is small.
pub const TOLERANCE: f64 = 0.25;

/// Whether a run's events come wider apart than a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// Fewer than one event per round trip.
    Spaced,
    /// One event per round trip or more.
    BackToBack,
}

impl Regime {
    /// The regime of `events_per_round_trip` (`rate × 2d`).
    pub fn of(events_per_round_trip: f64) -> Self {
        if events_per_round_trip < 1.0 {
            Regime::Spaced
        } else {
            Regime::BackToBack
        }
    }

    /// `spaced` or `back to back`.
    pub fn name(self) -> &'static str {
        match self {
            Regime::Spaced => "spaced",
            Regime::BackToBack => "back to back",
        }
    }
}

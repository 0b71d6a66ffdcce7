//! Scales this run's measured bytes per subscriber-second to 1,000, 10,000
//! and 100,000 clients, beside the figures Kaazing published (computed, not
//! measured, in "A Quantum Leap in Scalability"; see BACKGROUND.md).
//!
//! The projection is linear on purpose: it answers "what would this much
//! traffic per client be at that scale", the same question Kaazing asked, and
//! leaves the server's own limits to measured sweeps.

use crate::{fmt, table::Table, RunResult};

/// Client counts the projection shows.
pub const CLIENTS: [u64; 3] = [1_000, 10_000, 100_000];

/// Kaazing's polling figures (871 header bytes per poll, one poll per second
/// per client), Mbps, for [`CLIENTS`].
pub const KAAZING_POLLING_MBPS: [f64; 3] = [6.6, 66.0, 665.0];
/// Kaazing's WebSocket figures (2 bytes of framing per message, one message
/// per second per client), Mbps, for [`CLIENTS`].
pub const KAAZING_WEBSOCKET_MBPS: [f64; 3] = [0.015, 0.153, 1.526];

/// Bits in the "megabit" of the projection. Kaazing's figures use 2^20
/// (871 B × 8 × 1,000 / 2^20 = 6.65 → their 6.6); so do we, so the columns
/// compare like with like.
pub const MEGABIT: f64 = 1_048_576.0;

/// Megabits per second that `bytes_per_subscriber_second` makes for `clients`.
pub fn mbps(bytes_per_subscriber_second: f64, clients: u64) -> f64 {
    bytes_per_subscriber_second * clients as f64 * 8.0 / MEGABIT
}

/// The projection table: one row per transport (total traffic, then
/// overhead only), then Kaazing's two rows; one column per client count.
pub fn render(results: &[RunResult]) -> String {
    let mut t = Table::new(
        std::iter::once("Mbps at".to_string()).chain(
            CLIENTS
                .iter()
                .map(|&c| format!("{} clients", fmt::thousands(c))),
        ),
    );
    let row = |label: String, per_second: Option<f64>| {
        std::iter::once(label)
            .chain(
                CLIENTS
                    .iter()
                    .map(move |&c| fmt::opt(per_second.map(|b| mbps(b, c)))),
            )
            .collect::<Vec<_>>()
    };
    for r in results {
        t.row(row(
            format!("{} total", r.transport),
            r.bytes_per_subscriber_second,
        ));
        t.row(row(
            format!("{} overhead", r.transport),
            r.overhead_bytes_per_subscriber_second,
        ));
    }
    let quoted = |label: &str, figures: [f64; 3]| {
        std::iter::once(label.to_string())
            .chain(figures.iter().map(|&f| fmt::sig3(f)))
            .collect::<Vec<_>>()
    };
    t.row(quoted(
        "Kaazing polling (871 B/poll, 1 poll/s)",
        KAAZING_POLLING_MBPS,
    ));
    t.row(quoted(
        "Kaazing WebSocket (2 B/msg, 1 msg/s)",
        KAAZING_WEBSOCKET_MBPS,
    ));
    let mut out = String::from(
        "Traffic of this run projected to more clients (measured bytes per subscriber-second × clients × 8 / 2^20,\n\
         the unit of Kaazing's computed figures; overhead = all but payload: headers, framing, handshakes, pings)\n",
    );
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kaazing_arithmetic_matches_their_figures() {
        // 871 B/s per client at 1 poll/s and 2 B/s per client at 1 msg/s
        // give their published figures to the digits they printed.
        for (i, &clients) in CLIENTS.iter().enumerate() {
            let polling = mbps(871.0, clients);
            assert!((polling - KAAZING_POLLING_MBPS[i]).abs() < 0.02 * KAAZING_POLLING_MBPS[i]);
            let ws = mbps(2.0, clients);
            assert!((ws - KAAZING_WEBSOCKET_MBPS[i]).abs() < 0.02 * KAAZING_WEBSOCKET_MBPS[i]);
        }
    }
}

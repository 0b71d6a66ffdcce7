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

/// The projection table: one column per transport (total and overhead-only
/// traffic), then Kaazing's two columns.
pub fn render(results: &[RunResult]) -> String {
    let mut header = vec!["clients".to_string()];
    for r in results {
        header.push(format!("{} total", r.transport));
        header.push(format!("{} overhead", r.transport));
    }
    header.push("Kaazing polling".into());
    header.push("Kaazing WebSocket".into());
    let mut t = Table::new(header);
    for (i, &clients) in CLIENTS.iter().enumerate() {
        let mut row = vec![fmt::thousands(clients)];
        for r in results {
            row.push(fmt::opt(r.bytes_per_subscriber_second.map(|b| mbps(b, clients))));
            row.push(fmt::opt(
                r.overhead_bytes_per_subscriber_second.map(|b| mbps(b, clients)),
            ));
        }
        row.push(fmt::sig3(KAAZING_POLLING_MBPS[i]));
        row.push(fmt::sig3(KAAZING_WEBSOCKET_MBPS[i]));
        t.row(row);
    }
    let mut out = String::from(
        "Traffic projected from this run (Mbps = measured bytes per subscriber-second × clients × 8 / 2^20, Kaazing's unit;\n\
         overhead = everything but payload: headers, framing, handshakes, pings)\n",
    );
    out.push_str(&t.render());
    out.push_str(
        "Kaazing (websocket.org, computed): polling = 871 B of headers per poll at 1 poll/s; \
         WebSocket = 2 B of framing per message at 1 msg/s.\n",
    );
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

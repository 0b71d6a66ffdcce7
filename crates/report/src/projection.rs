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

/// What the projection's numbers are, in words (the text rendering prints it
/// above the table; the reports print it as the caption).
pub const EXPLANATION: &str = "Traffic of this run projected to more clients (measured bytes per subscriber-second × clients × 8 / 2^20, \
the unit of Kaazing's computed figures; overhead = all but payload: headers, framing, handshakes, pings)";

/// The header of the projection table: the row label's column, then one
/// column per client count.
pub fn header() -> Vec<String> {
    std::iter::once("Mbps at".to_string())
        .chain(
            CLIENTS
                .iter()
                .map(|&c| format!("{} clients", fmt::thousands(c))),
        )
        .collect()
}

/// The rows of the projection table: per transport its total traffic, then
/// its overhead only, then Kaazing's two rows; each row a label and one cell
/// per client count. Shared by every rendering.
pub fn rows(results: &[RunResult]) -> Vec<(String, Vec<String>)> {
    let row = |label: String, per_second: Option<f64>| {
        let cells = CLIENTS
            .iter()
            .map(|&c| fmt::opt(per_second.map(|b| mbps(b, c))))
            .collect();
        (label, cells)
    };
    let mut out = Vec::new();
    for r in results {
        out.push(row(
            format!("{} total", r.transport),
            r.bytes_per_subscriber_second,
        ));
        out.push(row(
            format!("{} overhead", r.transport),
            r.overhead_bytes_per_subscriber_second,
        ));
    }
    let quoted = |label: &str, figures: [f64; 3]| {
        (
            label.to_string(),
            figures.iter().map(|&f| fmt::sig3(f)).collect(),
        )
    };
    out.push(quoted(
        "Kaazing polling (871 B/poll, 1 poll/s)",
        KAAZING_POLLING_MBPS,
    ));
    out.push(quoted(
        "Kaazing WebSocket (2 B/msg, 1 msg/s)",
        KAAZING_WEBSOCKET_MBPS,
    ));
    out
}

/// The projection table: one row per transport (total traffic, then
/// overhead only), then Kaazing's two rows; one column per client count.
pub fn render(results: &[RunResult]) -> String {
    let mut t = Table::new(header());
    for (label, cells) in rows(results) {
        t.row(std::iter::once(label).chain(cells));
    }
    let mut out = EXPLANATION.replacen("2^20, ", "2^20,\n", 1);
    out.push('\n');
    out.push_str(&t.render());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rendering_keeps_its_two_line_explanation() {
        let text = render(&[]);
        assert!(text.starts_with(
            "Traffic of this run projected to more clients (measured bytes per subscriber-second × clients × 8 / 2^20,\n\
             the unit of Kaazing's computed figures; overhead = all but payload: headers, framing, handshakes, pings)\n\
             Mbps at"
        ));
        assert!(text.contains("Kaazing polling (871 B/poll, 1 poll/s)"));
    }

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

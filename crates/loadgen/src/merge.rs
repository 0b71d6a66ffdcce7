//! The latency histogram as it travels in results: HdrHistogram V2 +
//! DEFLATE, base64 (`latency_histogram`). Worker processes and load agents
//! on other machines hand theirs over this way, and adding the decoded
//! histograms (`Histogram::add`) gives exactly the histogram of all their
//! samples together, so merged percentiles are exact, not averaged.

use std::io::Cursor;

use base64::Engine as _;
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::Histogram;

use crate::result::LatencySummary;

/// Decodes a `latency_histogram` of a [`RunResult`](crate::RunResult).
pub fn decode_histogram(b64: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|e| format!("not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut Cursor::new(bytes))
        .map_err(|e| format!("not an HdrHistogram: {e:?}"))
}

/// Encodes a histogram as a `latency_histogram` (empty on failure, logged).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    crate::run::encode_histogram(h)
}

/// The `latency_us` summary of a histogram, computed as a run computes it.
pub fn latency_summary(h: &Histogram<u64>) -> LatencySummary {
    crate::run::latency_summary(h)
}

/// An empty histogram with the bounds every run uses (µs, 3 significant
/// figures, up to an hour), to add decoded ones into.
pub fn new_histogram() -> Histogram<u64> {
    crate::tally::new_histogram()
}

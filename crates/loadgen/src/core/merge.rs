//! The latency histogram as it travels in results, for callers of
//! `pushpoll_loadgen::merge`: the codec itself lives in
//! [`pushpoll_results::histogram`], shared with the report's merge; only
//! the generator's encoding, which logs instead of failing a run, is here.

use hdrhistogram::Histogram;
pub use pushpoll_results::histogram::{
    decode_histogram, latency_summary, new_histogram, HistogramError,
};

/// Encodes a histogram as a `latency_histogram` (empty on failure, logged:
/// a run's figures are worth keeping without it).
pub fn encode_histogram(h: &Histogram<u64>) -> String {
    pushpoll_results::histogram::encode_histogram(h).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot serialise the latency histogram");
        String::new()
    })
}

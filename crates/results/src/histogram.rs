//! The latency histogram as it travels in results: HdrHistogram V2 +
//! DEFLATE, base64 (`latency_histogram`). A run encodes its own, worker
//! processes and load agents on other machines hand theirs over this way,
//! and adding the decoded histograms (`Histogram::add`) gives exactly the
//! histogram of all their samples together, so merged percentiles are
//! exact, not averaged. Encoding, decoding and the bounds live here, once,
//! so every producer and every merge agree on them.

use base64::Engine as _;
use hdrhistogram::serialization::{
    DeserializeError, Deserializer, Serializer as _, V2DeflateSerializeError, V2DeflateSerializer,
};
use hdrhistogram::Histogram;

use crate::result::LatencySummary;

/// Highest latency the histograms track, µs (one hour; more saturates).
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Why a `latency_histogram` could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum HistogramError {
    /// The text is not base64.
    #[error("not base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// The bytes are not a serialised HdrHistogram.
    #[error("not an HdrHistogram: {0:?}")]
    Decode(DeserializeError),
    /// The histogram cannot be serialised (a count past `i64::MAX`).
    #[error("cannot serialise the histogram: {0:?}")]
    Encode(V2DeflateSerializeError),
}

/// An empty histogram with the bounds every run uses (µs, 3 significant
/// figures, up to [`MAX_LATENCY_US`]): what a run records into and what
/// decoded ones are added into, so adding never fails on bounds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// Encodes a histogram as a `latency_histogram`.
pub fn encode_histogram(h: &Histogram<u64>) -> Result<String, HistogramError> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(HistogramError::Encode)?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Decodes a `latency_histogram` of a [`RunResult`](crate::RunResult).
pub fn decode_histogram(b64: &str) -> Result<Histogram<u64>, HistogramError> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64)?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(HistogramError::Decode)
}

/// The `latency_us` summary of a histogram (all 0 when it is empty), the
/// same for a run and for a merge of runs.
pub fn latency_summary(h: &Histogram<u64>) -> LatencySummary {
    if h.is_empty() {
        return LatencySummary::default();
    }
    LatencySummary {
        count: h.len(),
        min: h.min(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
        mean: h.mean(),
    }
}

//! `Retry-After`: how long a `429` or `503` answer asks a client to wait,
//! read the same way by every HTTP client of the generator.

use std::time::Duration;

/// Longest `Retry-After` obeyed; a server asking for more gets this.
pub(crate) const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);

/// The wait a `429` or `503` answer asks for in `Retry-After` (seconds or
/// an HTTP date), at most [`RETRY_AFTER_MAX`]; `None` for other statuses or
/// when the header is absent or unreadable.
pub(crate) fn retry_after(status: u16, headers: &http::HeaderMap) -> Option<Duration> {
    retry_after_value(status, headers.get(http::header::RETRY_AFTER)?.as_bytes())
}

/// [`retry_after`] of the header's raw value (for heads parsed without a
/// `HeaderMap`).
pub(crate) fn retry_after_value(status: u16, value: &[u8]) -> Option<Duration> {
    if status != 429 && status != 503 {
        return None;
    }
    // As `HeaderValue::to_str`: visible ASCII only.
    if !value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return None;
    }
    let v = std::str::from_utf8(value).ok()?.trim();
    let wait = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs.min(RETRY_AFTER_MAX.as_secs())),
        Err(_) => {
            let at = httpdate::parse_http_date(v).ok()?;
            at.duration_since(std::time::SystemTime::now())
                .unwrap_or_default()
        }
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_on_429_and_503_only_and_bounded() {
        let mut h = http::HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(503, &h), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(429, &h), Some(Duration::from_secs(3)));
        assert_eq!(retry_after(500, &h), None);
        h.insert(http::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(503, &h), Some(RETRY_AFTER_MAX));
        h.insert(http::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(retry_after(503, &h), None);
        let past = httpdate::fmt_http_date(std::time::SystemTime::UNIX_EPOCH);
        h.insert(http::header::RETRY_AFTER, past.parse().unwrap());
        assert_eq!(retry_after(503, &h), Some(Duration::ZERO));
        let later = std::time::SystemTime::now() + Duration::from_secs(3600);
        h.insert(
            http::header::RETRY_AFTER,
            httpdate::fmt_http_date(later).parse().unwrap(),
        );
        assert_eq!(retry_after(429, &h), Some(RETRY_AFTER_MAX));
        assert_eq!(retry_after(503, &http::HeaderMap::new()), None);
    }
}

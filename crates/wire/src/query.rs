//! Parsing of the polling and resume parameters, with errors a client can act
//! on. The server answers every [`QueryError`] with `400 Bad Request` and the
//! error's message.

use std::time::Duration;

/// The parameters of `GET /messages`, `GET /events` and `GET /ws`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct PollQuery {
    /// Deliver messages with `seq > since`; `None` means "from now on".
    pub since: Option<u64>,
    /// Long-poll hold time; `None` or zero means answer at once (short poll).
    pub wait: Option<Duration>,
}

/// A parameter the server cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `since` was not a non-negative integer.
    #[error("`since` must be a sequence number (a non-negative integer), got {0:?}")]
    BadSince(String),
    /// `wait` was not a finite, non-negative number of seconds.
    #[error("`wait` must be a non-negative number of seconds such as 30 or 0.5, got {0:?}")]
    BadWait(String),
    /// A parameter appeared twice.
    #[error("`{0}` given more than once")]
    Repeated(&'static str),
    /// `Last-Event-ID` was not a sequence number.
    #[error("`Last-Event-ID` must be a sequence number, got {0:?}")]
    BadLastEventId(String),
}

impl PollQuery {
    /// Parses a raw query string (without `?`). Unknown parameters are
    /// ignored, as cache busters like jQuery's `_=1234` are common.
    pub fn parse(query: &str) -> Result<Self, QueryError> {
        let mut q = PollQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "since" => {
                    if q.since.is_some() {
                        return Err(QueryError::Repeated("since"));
                    }
                    q.since =
                        Some(parse_seq(value).ok_or_else(|| QueryError::BadSince(value.into()))?);
                }
                "wait" => {
                    if q.wait.is_some() {
                        return Err(QueryError::Repeated("wait"));
                    }
                    q.wait = Some(parse_wait(value)?);
                }
                _ => {}
            }
        }
        Ok(q)
    }

    /// The hold time clamped to the server's cap; `None` for a short poll.
    pub fn hold(&self, cap: Duration) -> Option<Duration> {
        self.wait.filter(|w| !w.is_zero()).map(|w| w.min(cap))
    }
}

/// Parses a `Last-Event-ID` header value.
pub fn parse_last_event_id(value: &str) -> Result<u64, QueryError> {
    parse_seq(value.trim()).ok_or_else(|| QueryError::BadLastEventId(value.into()))
}

fn parse_seq(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 20 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

fn parse_wait(value: &str) -> Result<Duration, QueryError> {
    let bad = || QueryError::BadWait(value.into());
    // Digits with at most one dot: rules out "inf", "nan", "1e9", "-1", "+1".
    let well_formed = !value.is_empty()
        && value.len() <= 16
        && value.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && value.bytes().filter(|&b| b == b'.').count() <= 1
        && value != ".";
    if !well_formed {
        return Err(bad());
    }
    let secs: f64 = value.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(secs).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_common_forms() {
        assert_eq!(PollQuery::parse("").unwrap(), PollQuery::default());
        let q = PollQuery::parse("since=42&wait=0.5&_=99").unwrap();
        assert_eq!(q.since, Some(42));
        assert_eq!(q.wait, Some(Duration::from_millis(500)));
        assert_eq!(
            q.hold(Duration::from_secs(30)),
            Some(Duration::from_millis(500))
        );
        let q = PollQuery::parse("wait=3600").unwrap();
        assert_eq!(
            q.hold(Duration::from_secs(30)),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            PollQuery::parse("wait=0")
                .unwrap()
                .hold(Duration::from_secs(30)),
            None
        );
    }

    #[test]
    fn rejects_bad_values_with_their_names() {
        for bad in [
            "since=-1",
            "since=abc",
            "since=",
            "since=1.5",
            "since=99999999999999999999999",
        ] {
            assert!(
                matches!(PollQuery::parse(bad), Err(QueryError::BadSince(_))),
                "{bad}"
            );
        }
        for bad in [
            "wait=-1",
            "wait=nan",
            "wait=inf",
            "wait=1e3",
            "wait=",
            "wait=.",
            "wait=1.2.3",
        ] {
            assert!(
                matches!(PollQuery::parse(bad), Err(QueryError::BadWait(_))),
                "{bad}"
            );
        }
        assert_eq!(
            PollQuery::parse("since=1&since=2"),
            Err(QueryError::Repeated("since"))
        );
        assert_eq!(parse_last_event_id(" 17 "), Ok(17));
        assert!(parse_last_event_id("x").is_err());
    }
}

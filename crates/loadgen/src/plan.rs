//! Turns [`LoadOpts`] into a validated [`Plan`]: every option checked, URLs
//! parsed and completed with pushpoll's default paths, durations converted.
//! Nothing here does I/O except [`Target::resolve`].

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

use crate::error::LoadError;
use crate::opts::{LoadOpts, Transport, WsSubprotocol};
use crate::schedule;

/// Most subscribers one run may ask for.
pub const MAX_SUBSCRIBERS: usize = 1_000_000;
/// Most publishers one run may ask for.
pub const MAX_PUBLISHERS: usize = 10_000;
/// Most messages one run may schedule (`rate × duration`).
pub const MAX_MESSAGES: u64 = 1_000_000_000;
/// Largest payload, bytes.
pub const MAX_PAYLOAD: usize = 16 << 20;
/// Longest any duration option may be, seconds (a week).
const MAX_SECONDS: f64 = 7.0 * 24.0 * 3600.0;
/// Default ramp timeout before `subscribers / ramp` is added.
const RAMP_TIMEOUT_BASE: f64 = 60.0;
/// Grace before the short-poll interval is added.
const GRACE_BASE: f64 = 2.0;

/// A host the generator connects to, resolved once.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The full URL (default path filled in).
    pub url: Url,
    /// `host[:port]`, for the `Host` header.
    pub authority: String,
    /// Path and query, for the request line.
    pub path_and_query: String,
    /// Which option it came from, for messages.
    pub option: &'static str,
}

impl Target {
    fn new(option: &'static str, url: Url) -> Result<Self, LoadError> {
        let host = url.host_str().ok_or_else(|| LoadError::BadUrl {
            option,
            url: url.to_string(),
            reason: "the URL has no host".into(),
        })?;
        let authority = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_owned(),
        };
        let path_and_query = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
        Ok(Target {
            url,
            authority,
            path_and_query,
            option,
        })
    }

    /// Looks the host up (once per run, so a million subscribers cost one lookup).
    pub async fn resolve(&self) -> Result<SocketAddr, LoadError> {
        let host = self.url.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = self.url.port_or_known_default().unwrap_or(80);
        let hostport = format!("{host}:{port}");
        let mut addrs = tokio::net::lookup_host((host, port))
            .await
            .map_err(|source| LoadError::Resolve {
                option: self.option,
                host: hostport.clone(),
                source,
            })?;
        addrs.next().ok_or_else(|| LoadError::Resolve {
            option: self.option,
            host: hostport,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        })
    }

    /// Path and query with extra `key=value` parameters appended.
    pub fn path_with(&self, params: &str) -> String {
        if params.is_empty() {
            self.path_and_query.clone()
        } else if self.url.query().is_some() {
            format!("{}&{params}", self.path_and_query)
        } else {
            format!("{}?{params}", self.path_and_query)
        }
    }
}

/// How publishers send.
#[derive(Debug, Clone)]
pub(crate) enum PublishTarget {
    /// Text frames on a WebSocket per publisher.
    Ws(Target),
    /// `POST` of the payload.
    Post(Target),
}

impl PublishTarget {
    pub fn target(&self) -> &Target {
        match self {
            PublishTarget::Ws(t) | PublishTarget::Post(t) => t,
        }
    }
}

/// A validated run plan.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub transport: Transport,
    pub sub: Target,
    pub publish: PublishTarget,
    pub metrics: Option<Target>,
    pub subscribers: usize,
    pub publishers: usize,
    pub rate: f64,
    pub duration: Duration,
    pub total_messages: u64,
    pub poll_interval: Duration,
    pub long_poll_wait: Duration,
    pub payload_bytes: usize,
    pub ramp: Option<f64>,
    pub connect_concurrency: usize,
    pub ramp_timeout: Duration,
    pub idle: Duration,
    pub grace: Duration,
    pub timeout: Duration,
    /// Subprotocol WebSocket subscribers ask for (`None`: plain clients).
    pub ws_subprotocol: Option<WsSubprotocol>,
}

fn seconds(option: &'static str, v: f64, allow_zero: bool) -> Result<Duration, LoadError> {
    let ok = v.is_finite() && v <= MAX_SECONDS && if allow_zero { v >= 0.0 } else { v > 0.0 };
    if !ok {
        let want = if allow_zero { ">= 0" } else { "> 0" };
        return Err(LoadError::InvalidOption {
            option,
            reason: format!(
                "must be a finite number of seconds {want} and at most {MAX_SECONDS}, got {v}"
            ),
        });
    }
    Ok(Duration::from_secs_f64(v))
}

fn parse_url(option: &'static str, raw: &str) -> Result<Url, LoadError> {
    let url = Url::parse(raw).map_err(|e| LoadError::BadUrl {
        option,
        url: raw.to_owned(),
        reason: e.to_string(),
    })?;
    if matches!(url.scheme(), "wss" | "https") {
        return Err(LoadError::TlsUnsupported {
            option,
            url: raw.to_owned(),
        });
    }
    Ok(url)
}

fn bad_scheme(option: &'static str, raw: &str, want: &str) -> LoadError {
    LoadError::BadUrl {
        option,
        url: raw.to_owned(),
        reason: format!("expected a {want} URL"),
    }
}

/// pushpoll's path for a transport, used when the URL has none.
fn default_path(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "/ws",
        Transport::LongPoll | Transport::ShortPoll => "/messages",
        Transport::Sse => "/events",
    }
}

impl Plan {
    /// Checks every option; the first problem found is the error.
    pub fn new(o: &LoadOpts) -> Result<Plan, LoadError> {
        if !(o.rate.is_finite() && o.rate > 0.0) {
            return Err(LoadError::InvalidOption {
                option: "rate",
                reason: format!(
                    "must be a finite number of messages per second > 0, got {}",
                    o.rate
                ),
            });
        }
        let duration = seconds("duration", o.duration, false)?;
        if o.subscribers == 0 || o.subscribers > MAX_SUBSCRIBERS {
            return Err(LoadError::InvalidOption {
                option: "subscribers",
                reason: format!(
                    "must be between 1 and {MAX_SUBSCRIBERS}, got {}",
                    o.subscribers
                ),
            });
        }
        if o.publishers == 0 || o.publishers > MAX_PUBLISHERS {
            return Err(LoadError::InvalidOption {
                option: "publishers",
                reason: format!(
                    "must be between 1 and {MAX_PUBLISHERS}, got {}",
                    o.publishers
                ),
            });
        }
        let total_messages = schedule::total_messages(o.rate, duration.as_secs_f64());
        if total_messages > MAX_MESSAGES {
            return Err(LoadError::InvalidOption {
                option: "rate",
                reason: format!(
                    "rate × duration schedules {total_messages} messages; at most {MAX_MESSAGES} per run"
                ),
            });
        }
        let poll_interval = seconds("poll-interval", o.poll_interval, false)?;
        let long_poll_wait = seconds("long-poll-wait", o.long_poll_wait, true)?;
        if o.payload_bytes > MAX_PAYLOAD {
            return Err(LoadError::InvalidOption {
                option: "payload-bytes",
                reason: format!("at most {MAX_PAYLOAD} bytes, got {}", o.payload_bytes),
            });
        }
        if let Some(r) = o.ramp {
            if !(r.is_finite() && r > 0.0) {
                return Err(LoadError::InvalidOption {
                    option: "ramp",
                    reason: format!(
                        "must be a finite number of connections per second > 0, got {r}"
                    ),
                });
            }
        }
        if o.connect_concurrency == 0 {
            return Err(LoadError::InvalidOption {
                option: "connect-concurrency",
                reason: "must be at least 1".into(),
            });
        }
        let ramp_timeout = match o.ramp_timeout {
            Some(v) => seconds("ramp-timeout", v, false)?,
            None => {
                let extra = o.ramp.map_or(0.0, |r| o.subscribers as f64 / r);
                seconds(
                    "ramp-timeout",
                    (RAMP_TIMEOUT_BASE + extra).min(MAX_SECONDS),
                    false,
                )?
            }
        };
        let idle = seconds("idle", o.idle, true)?;
        let grace = match o.grace {
            Some(g) => seconds("grace", g, true)?,
            None => {
                let extra = if o.transport == Transport::ShortPoll {
                    o.poll_interval
                } else {
                    0.0
                };
                seconds("grace", GRACE_BASE + extra, true)?
            }
        };
        let timeout = seconds("timeout", o.timeout, false)?;
        if o.ws_subprotocol.is_some() && o.transport != Transport::Ws {
            return Err(LoadError::InvalidOption {
                option: "ws-subprotocol",
                reason: format!(
                    "only WebSocket subscribers speak a subprotocol; drop it or use --transport ws (got {})",
                    o.transport
                ),
            });
        }

        let sub_url = parse_url("url", &o.url)?;
        let want = match o.transport {
            Transport::Ws => "ws",
            _ => "http",
        };
        if sub_url.scheme() != want {
            let reason = format!("{want}:// (transport {})", o.transport);
            return Err(bad_scheme("url", &o.url, &reason));
        }
        let mut sub_url = sub_url;
        if sub_url.path().is_empty() || sub_url.path() == "/" {
            sub_url.set_path(default_path(o.transport));
        }
        let sub = Target::new("url", sub_url)?;

        let publish = match &o.publish_url {
            Some(raw) => {
                let u = parse_url("publish-url", raw)?;
                match u.scheme() {
                    "http" => PublishTarget::Post(Target::new("publish-url", u)?),
                    "ws" => PublishTarget::Ws(Target::new("publish-url", u)?),
                    _ => return Err(bad_scheme("publish-url", raw, "http:// or ws://")),
                }
            }
            None => match o.transport {
                Transport::Ws => PublishTarget::Ws(Target::new("url", sub.url.clone())?),
                _ => {
                    let mut u = sub.url.clone();
                    u.set_path("/messages");
                    u.set_query(None);
                    u.set_fragment(None);
                    PublishTarget::Post(Target::new("url", u)?)
                }
            },
        };

        let metrics = match &o.server_metrics_url {
            Some(raw) => {
                let u = parse_url("server-metrics-url", raw)?;
                if u.scheme() != "http" {
                    return Err(bad_scheme("server-metrics-url", raw, "http://"));
                }
                Some(Target::new("server-metrics-url", u)?)
            }
            None => None,
        };

        Ok(Plan {
            transport: o.transport,
            sub,
            publish,
            metrics,
            subscribers: o.subscribers,
            publishers: o.publishers,
            rate: o.rate,
            duration,
            total_messages,
            poll_interval,
            long_poll_wait,
            payload_bytes: o.payload_bytes,
            ramp: o.ramp,
            connect_concurrency: o.connect_concurrency,
            ramp_timeout,
            idle,
            grace,
            timeout,
            ws_subprotocol: o.ws_subprotocol,
        })
    }

    /// Request timeout of one subscriber HTTP request.
    pub fn request_timeout(&self) -> Duration {
        match self.transport {
            Transport::LongPoll => self.timeout + self.long_poll_wait,
            _ => self.timeout,
        }
    }

    /// The latest the whole run may take; a safety net behind every phase's own bound.
    pub fn hard_deadline(&self) -> Duration {
        self.ramp_timeout
            + self.idle
            + self.duration
            + self.grace
            + self.timeout * 3
            + self.long_poll_wait
            + Duration::from_secs(30)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    fn plan(args: &[&str]) -> Result<Plan, LoadError> {
        let mut v = vec!["load"];
        v.extend_from_slice(args);
        Plan::new(&LoadOpts::try_parse_from(v).unwrap())
    }

    #[test]
    fn default_paths_and_publish_targets() {
        let p = plan(&["--url", "ws://127.0.0.1:9"]).unwrap();
        assert_eq!(p.sub.path_and_query, "/ws");
        assert!(
            matches!(&p.publish, PublishTarget::Ws(t) if t.url.as_str() == "ws://127.0.0.1:9/ws")
        );
        let p = plan(&["--url", "http://h:8/x?a=1", "--transport", "long-poll"]).unwrap();
        assert_eq!(p.sub.path_with("since=3"), "/x?a=1&since=3");
        assert_eq!(p.sub.authority, "h:8");
        assert!(
            matches!(&p.publish, PublishTarget::Post(t) if t.url.as_str() == "http://h:8/messages")
        );
        let p = plan(&["--url", "http://h:8", "--transport", "sse"]).unwrap();
        assert_eq!(p.sub.path_and_query, "/events");
        let p = plan(&["--url", "ws://h/ws", "--publish-url", "http://h/messages"]).unwrap();
        assert!(matches!(&p.publish, PublishTarget::Post(_)));
    }

    #[test]
    fn grace_defaults() {
        let p = plan(&[
            "--url",
            "http://h:8",
            "--transport",
            "short-poll",
            "--poll-interval",
            "0.5",
        ])
        .unwrap();
        assert_eq!(p.grace, Duration::from_millis(2500));
        let p = plan(&["--url", "http://h:8", "--transport", "long-poll"]).unwrap();
        assert_eq!(p.grace, Duration::from_secs(2));
        assert_eq!(p.request_timeout(), Duration::from_secs(40));
    }
}

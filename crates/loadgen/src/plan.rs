//! Turns [`LoadOpts`] into a validated [`Plan`]: every option checked, URLs
//! parsed and completed with pushpoll's default paths, durations converted.
//! Nothing here does I/O except [`Target::resolve`].

use std::net::SocketAddr;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use url::Url;

use crate::error::LoadError;
use crate::headers::{Profile, RequestKind};
use crate::opts::{
    LoadOpts, LoadTransport as Transport, Pattern, SocketIoTransport, WsSubprotocol,
};
use crate::schedule;
use crate::tls::{TlsClient, TlsTarget, Trust, DEFAULT_ALPN};

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
/// Most `--header`s one run may add.
const MAX_HEADERS: usize = 64;
/// Most bytes all `--header`s, `--origin` and `--subprotocol`s may add up to.
const MAX_HEADER_BYTES: usize = 16 << 10;
/// Headers the generator writes itself; `--header` may not set them.
const RESERVED_HEADERS: [(&str, &str); 14] = [
    ("host", "it comes from the URL"),
    ("content-length", "the generator frames bodies itself"),
    ("transfer-encoding", "the generator frames bodies itself"),
    ("content-type", "publishers send text/plain"),
    ("connection", "the generator manages connections"),
    ("keep-alive", "the generator manages connections"),
    ("te", "the generator manages connections"),
    ("upgrade", "the WebSocket handshake sets it"),
    ("sec-websocket-key", "the WebSocket handshake sets it"),
    ("sec-websocket-version", "the WebSocket handshake sets it"),
    (
        "sec-websocket-extensions",
        "the generator asks for no extension",
    ),
    ("sec-websocket-accept", "it is a response header"),
    ("sec-websocket-protocol", "use --subprotocol"),
    ("origin", "use --origin"),
];

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
    /// TLS settings of a `wss://` or `https://` URL (`None`: plain).
    pub tls: Option<TlsTarget>,
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
            tls: None,
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
    /// Socket.IO events on a Socket.IO connection (WebSocket transport) per
    /// publisher; the target is the server's `http://` URL.
    SocketIo(Target),
}

impl PublishTarget {
    pub fn target(&self) -> &Target {
        match self {
            PublishTarget::Ws(t) | PublishTarget::Post(t) | PublishTarget::SocketIo(t) => t,
        }
    }

    fn target_mut(&mut self) -> &mut Target {
        match self {
            PublishTarget::Ws(t) | PublishTarget::Post(t) | PublishTarget::SocketIo(t) => t,
        }
    }
}

/// What Socket.IO subscribers and publishers need (`--transport socket.io`).
#[derive(Debug, Clone)]
pub(crate) struct SocketIoPlan {
    /// Engine.IO transport of the subscribers.
    pub mode: SocketIoTransport,
    /// Event name of messages.
    pub event: String,
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
    /// `POST`s in flight per publisher (`--publish-in-flight`).
    pub publish_in_flight: usize,
    pub ramp_timeout: Duration,
    pub idle: Duration,
    pub grace: Duration,
    pub timeout: Duration,
    /// Subprotocol WebSocket subscribers ask for (`None`: plain clients).
    pub ws_subprotocol: Option<WsSubprotocol>,
    /// WebSocket subscribers offer permessage-deflate (`--ws-deflate`).
    pub ws_deflate: bool,
    /// Extra headers of every handshake and HTTP request (`--header`,
    /// `--origin`), subscribers and publishers alike.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The header profile (`--header-profile`), resolved for the
    /// subscriber URL's origin; `--header` values replace its own.
    pub profile: Profile,
    /// Generic subprotocols WebSocket subscribers ask for (`--subprotocol`).
    pub subprotocols: Vec<String>,
    /// WebSocket publishers send binary frames.
    pub binary: bool,
    /// Broadcast, or echo (every subscriber publishes its own messages).
    pub pattern: Pattern,
    /// Socket.IO settings (`--transport socket.io` only).
    pub socketio: Option<SocketIoPlan>,
    /// Subscribers per HTTP/2 connection (`--http2`); `None`: HTTP/1.1.
    pub http2: Option<usize>,
    /// Local addresses subscribers bind to, round-robin (`--source-ips`).
    pub source_ips: Vec<std::net::IpAddr>,
    /// Worker processes holding the subscribers (0: this process holds them).
    pub workers: usize,
}

/// Parses one `--header NAME:VALUE`.
fn parse_header(raw: &str) -> Result<(HeaderName, HeaderValue), LoadError> {
    let bad = |reason: String| LoadError::InvalidOption {
        option: "header",
        reason,
    };
    let Some((name, value)) = raw.split_once(':') else {
        return Err(bad(format!(
            "expected NAME:VALUE (for example --header 'Cookie: session=abc'), got {raw:?}"
        )));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(bad(format!(
            "the header name before ':' is empty in {raw:?}"
        )));
    }
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        bad(format!(
            "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    })?;
    if let Some((_, why)) = RESERVED_HEADERS.iter().find(|(n, _)| *n == name.as_str()) {
        return Err(bad(format!("{name} cannot be set with --header: {why}")));
    }
    let value = HeaderValue::from_str(value.trim()).map_err(|_| {
        bad(format!(
            "the value of {name} has characters a header cannot carry (control characters such as a newline)"
        ))
    })?;
    Ok((name, value))
}

/// Whether `s` is an HTTP token (RFC 9110), as a subprotocol name must be.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The `Origin` header value of `--origin`: `scheme://host[:port]`, or `null`.
fn parse_origin(raw: &str) -> Result<HeaderValue, LoadError> {
    let bad = |reason: &str| LoadError::InvalidOption {
        option: "origin",
        reason: format!("{reason}, got {raw:?}"),
    };
    if raw == "null" {
        return Ok(HeaderValue::from_static("null"));
    }
    let url =
        Url::parse(raw).map_err(|_| bad("expected an origin such as http://localhost:8080"))?;
    if url.host_str().is_none() {
        return Err(bad("an origin needs a host (scheme://host[:port])"));
    }
    let origin = url.origin().ascii_serialization();
    HeaderValue::from_str(&origin).map_err(|_| bad("not usable as a header value"))
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
    Ok(url)
}

fn bad_scheme(option: &'static str, raw: &str, want: &str) -> LoadError {
    LoadError::BadUrl {
        option,
        url: raw.to_owned(),
        reason: format!("expected a {want} URL"),
    }
}

/// Gives every `wss://` and `https://` target its TLS settings: one client
/// configuration for the run, trusting what `--ca-cert` / `--insecure` say.
/// `--ca-cert` is read (and refused when unusable) even if no URL needs it.
fn tls_targets<'a>(
    o: &LoadOpts,
    targets: impl IntoIterator<Item = Option<&'a mut Target>>,
) -> Result<(), LoadError> {
    let trust = match (&o.ca_cert, o.insecure) {
        (Some(_), true) => {
            return Err(LoadError::InvalidOption {
                option: "insecure",
                reason: "--insecure checks no certificate, so --ca-cert would have no effect; give one or the other".into(),
            })
        }
        (Some(path), false) => Trust::from_ca_file(path)?,
        (None, true) => Trust::Insecure,
        (None, false) => Trust::WebPki,
    };
    let mut client: Option<TlsClient> = None;
    // `--http2` subscribers ask for `h2` alone (publishers stay on HTTP/1.1).
    let mut h2_client: Option<TlsClient> = None;
    for t in targets.into_iter().flatten() {
        if !matches!(t.url.scheme(), "wss" | "https") {
            continue;
        }
        let (cache, alpn) = if o.http2 && t.option == "url" {
            (&mut h2_client, &[&b"h2"[..]][..])
        } else {
            (&mut client, DEFAULT_ALPN)
        };
        let client = match cache {
            Some(c) => c.clone(),
            None => cache.insert(TlsClient::new(&trust, alpn)?).clone(),
        };
        let host = t.url.host_str().unwrap_or_default();
        t.tls = Some(
            TlsTarget::new(client, host).map_err(|reason| LoadError::BadUrl {
                option: t.option,
                url: t.url.to_string(),
                reason,
            })?,
        );
    }
    Ok(())
}

/// pushpoll's path for a transport, used when the URL has none.
fn default_path(t: Transport) -> &'static str {
    match t {
        Transport::Ws => "/ws",
        Transport::LongPoll | Transport::ShortPoll => "/messages",
        Transport::Sse => "/events",
        Transport::SocketIo => "/socket.io/",
    }
}

/// Most subscribers one HTTP/2 connection may carry as streams.
pub const MAX_H2_STREAMS: usize = 10_000;

/// `--http2` and `--h2-streams-per-connection`: streams per connection, or
/// `None` for HTTP/1.1.
fn http2_streams(o: &LoadOpts) -> Result<Option<usize>, LoadError> {
    if !o.http2 {
        return Ok(None);
    }
    if matches!(o.transport, Transport::Ws | Transport::SocketIo) {
        return Err(LoadError::InvalidOption {
            option: "http2",
            reason: format!(
                "HTTP/2 carries polls and SSE only (long-poll, short-poll, sse); {} needs HTTP/1.1 (WebSocket over HTTP/2, RFC 8441, is not spoken)",
                o.transport
            ),
        });
    }
    let n = o.h2_streams_per_connection;
    if n == 0 || n > MAX_H2_STREAMS {
        return Err(LoadError::InvalidOption {
            option: "h2-streams-per-connection",
            reason: format!("must be between 1 and {MAX_H2_STREAMS}, got {n}"),
        });
    }
    Ok(Some(n))
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
        if !(1..=crate::publish::MAX_IN_FLIGHT).contains(&o.publish_in_flight) {
            return Err(LoadError::InvalidOption {
                option: "publish-in-flight",
                reason: format!(
                    "must be 1 to {}, got {}",
                    crate::publish::MAX_IN_FLIGHT,
                    o.publish_in_flight
                ),
            });
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
        if o.ws_deflate && o.transport != Transport::Ws {
            return Err(LoadError::InvalidOption {
                option: "ws-deflate",
                reason: format!(
                    "only WebSocket subscribers offer permessage-deflate; drop it or use --transport ws (got {})",
                    o.transport
                ),
            });
        }

        let mut headers = Vec::with_capacity(o.headers.len() + 1);
        if o.headers.len() > MAX_HEADERS {
            return Err(LoadError::InvalidOption {
                option: "header",
                reason: format!("at most {MAX_HEADERS} headers, got {}", o.headers.len()),
            });
        }
        for raw in &o.headers {
            headers.push(parse_header(raw)?);
        }
        if let Some(raw) = &o.origin {
            headers.push((http::header::ORIGIN, parse_origin(raw)?));
        }
        let extra_bytes: usize = headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .chain(o.subprotocols.iter().map(|p| p.len() + 2))
            .sum();
        if extra_bytes > MAX_HEADER_BYTES {
            return Err(LoadError::InvalidOption {
                option: "header",
                reason: format!(
                    "--header, --origin and --subprotocol add {extra_bytes} bytes to every request; at most {MAX_HEADER_BYTES}"
                ),
            });
        }
        for p in &o.subprotocols {
            if !is_token(p) {
                return Err(LoadError::InvalidOption {
                    option: "subprotocol",
                    reason: format!(
                        "{p:?} is not a valid subprotocol name (one token: letters, digits and !#$%&'*+-.^_`|~, no spaces or commas)"
                    ),
                });
            }
        }
        if !o.subprotocols.is_empty() {
            if o.transport != Transport::Ws {
                return Err(LoadError::InvalidOption {
                    option: "subprotocol",
                    reason: format!(
                        "only WebSocket subscribers ask for a subprotocol; drop it or use --transport ws (got {})",
                        o.transport
                    ),
                });
            }
            if o.ws_subprotocol.is_some() {
                return Err(LoadError::InvalidOption {
                    option: "subprotocol",
                    reason: "--ws-subprotocol already chooses the subprotocol (and how frames are read); use one or the other".into(),
                });
            }
        }
        if o.pattern == Pattern::Echo {
            let reason = if o.transport != Transport::Ws {
                Some(format!(
                    "echo needs WebSocket subscribers, which send on their own connection (got --transport {})",
                    o.transport
                ))
            } else if o.publish_url.is_some() {
                Some("with echo every subscriber publishes on its own connection; drop --publish-url".into())
            } else if o.publishers != 1 {
                Some("with echo every subscriber is its own publisher; drop --publishers".into())
            } else if o.ws_subprotocol.is_some() {
                Some("pushpoll.v1 is a broadcast protocol; drop --ws-subprotocol".into())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(LoadError::InvalidOption {
                    option: "pattern",
                    reason,
                });
            }
        }

        let socketio = if o.transport == Transport::SocketIo {
            let event = o
                .socketio_event
                .clone()
                .unwrap_or_else(|| "chat message".into());
            if event.is_empty() || event.len() > 256 {
                return Err(LoadError::InvalidOption {
                    option: "socketio-event",
                    reason: format!("must be 1 to 256 bytes, got {}", event.len()),
                });
            }
            Some(SocketIoPlan {
                mode: o.socketio_transport.unwrap_or(SocketIoTransport::Upgrade),
                event,
            })
        } else {
            let given = if o.socketio_transport.is_some() {
                Some("socketio-transport")
            } else if o.socketio_event.is_some() {
                Some("socketio-event")
            } else {
                None
            };
            if let Some(option) = given {
                return Err(LoadError::InvalidOption {
                    option,
                    reason: format!(
                        "only Socket.IO subscribers use it; drop it or use --transport socket.io (got {})",
                        o.transport
                    ),
                });
            }
            None
        };

        let sub_url = parse_url("url", &o.url)?;
        let want = match o.transport {
            Transport::Ws => ["ws", "wss"],
            _ => ["http", "https"],
        };
        if !want.contains(&sub_url.scheme()) {
            let reason = format!(
                "{}:// or {}:// (transport {})",
                want[0], want[1], o.transport
            );
            return Err(bad_scheme("url", &o.url, &reason));
        }
        let mut sub_url = sub_url;
        if sub_url.path().is_empty() || sub_url.path() == "/" {
            sub_url.set_path(default_path(o.transport));
        }
        let sub = Target::new("url", sub_url)?;
        // The page the requests come from is served by the same origin.
        let page_scheme = match sub.url.scheme() {
            "wss" | "https" => "https",
            _ => "http",
        };
        let mut profile = Profile::new(
            &o.header_profile,
            &format!("{page_scheme}://{}", sub.authority),
        )?;
        profile.without(&headers.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>());

        let publish = match &o.publish_url {
            Some(raw) if o.transport == Transport::SocketIo => {
                let u = parse_url("publish-url", raw)?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(bad_scheme(
                        "publish-url",
                        raw,
                        "http:// or https:// (the Socket.IO server publishers connect to)",
                    ));
                }
                let mut u = u;
                if u.path().is_empty() || u.path() == "/" {
                    u.set_path(default_path(Transport::SocketIo));
                }
                PublishTarget::SocketIo(Target::new("publish-url", u)?)
            }
            Some(raw) => {
                let u = parse_url("publish-url", raw)?;
                match u.scheme() {
                    "http" | "https" => PublishTarget::Post(Target::new("publish-url", u)?),
                    "ws" | "wss" => PublishTarget::Ws(Target::new("publish-url", u)?),
                    _ => {
                        return Err(bad_scheme(
                            "publish-url",
                            raw,
                            "http://, https://, ws:// or wss://",
                        ))
                    }
                }
            }
            None => match o.transport {
                Transport::Ws => PublishTarget::Ws(Target::new("url", sub.url.clone())?),
                Transport::SocketIo => {
                    PublishTarget::SocketIo(Target::new("url", sub.url.clone())?)
                }
                _ => {
                    let mut u = sub.url.clone();
                    u.set_path("/messages");
                    u.set_query(None);
                    u.set_fragment(None);
                    PublishTarget::Post(Target::new("url", u)?)
                }
            },
        };

        if o.binary && !matches!(publish, PublishTarget::Ws(_)) {
            return Err(LoadError::InvalidOption {
                option: "binary",
                reason: "publishers send binary frames only as plain WebSocket publishers; here they POST or emit Socket.IO events (give a ws:// --publish-url, or drop --binary)".into(),
            });
        }
        let publishers = match o.pattern {
            Pattern::Broadcast => o.publishers,
            Pattern::Echo => o.subscribers,
        };

        let metrics = match &o.server_metrics_url {
            Some(raw) => {
                let u = parse_url("server-metrics-url", raw)?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(bad_scheme("server-metrics-url", raw, "http:// or https://"));
                }
                Some(Target::new("server-metrics-url", u)?)
            }
            None => None,
        };
        let (mut sub, mut publish, mut metrics) = (sub, publish, metrics);
        tls_targets(
            o,
            [Some(&mut sub), Some(publish.target_mut()), metrics.as_mut()],
        )?;

        let http2 = http2_streams(o)?;
        Ok(Plan {
            transport: o.transport,
            sub,
            publish,
            metrics,
            subscribers: o.subscribers,
            publishers,
            rate: o.rate,
            duration,
            total_messages,
            poll_interval,
            long_poll_wait,
            payload_bytes: o.payload_bytes,
            ramp: o.ramp,
            connect_concurrency: o.connect_concurrency,
            publish_in_flight: o.publish_in_flight,
            ramp_timeout,
            idle,
            grace,
            timeout,
            ws_subprotocol: o.ws_subprotocol,
            ws_deflate: o.ws_deflate,
            headers,
            profile,
            subprotocols: o.subprotocols.clone(),
            binary: o.binary,
            pattern: o.pattern,
            socketio,
            http2,
            source_ips: o.source_ips.clone(),
            workers: crate::worker::count(o)?,
        })
    }

    /// Adds the header profile's headers for `kind`, then the extra ones
    /// (`--header`, `--origin`), to a request.
    pub fn request_headers(
        &self,
        kind: RequestKind,
        mut req: http::request::Builder,
    ) -> http::request::Builder {
        for (n, v) in self.profile.headers(kind) {
            req = req.header(n, v);
        }
        self.add_headers(req)
    }

    /// Adds the extra headers (`--header`, `--origin`) to a request.
    pub fn add_headers(&self, mut req: http::request::Builder) -> http::request::Builder {
        for (n, v) in &self.headers {
            req = req.header(n, v);
        }
        req
    }

    /// Whether every subscriber publishes its own messages (`--pattern echo`).
    pub fn echo(&self) -> bool {
        self.pattern == Pattern::Echo
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

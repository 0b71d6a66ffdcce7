//! Where the generator connects: the subscriber, publisher and metrics URLs,
//! completed with pushpoll's default paths, and their TLS settings.

use std::net::SocketAddr;

use url::Url;

use crate::config::opts::{LoadOpts, LoadTransport as Transport};
use crate::config::trust::{TlsClient, TlsTarget, Trust, DEFAULT_ALPN};
use crate::core::error::LoadError;

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
    pub(super) fn new(option: &'static str, url: Url) -> Result<Self, LoadError> {
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
    /// Bayeux publish messages, over the run's `--bayeux-transport`; the
    /// target is the Bayeux endpoint's `http://` URL.
    Bayeux(Target),
}

impl PublishTarget {
    pub fn target(&self) -> &Target {
        match self {
            PublishTarget::Ws(t)
            | PublishTarget::Post(t)
            | PublishTarget::SocketIo(t)
            | PublishTarget::Bayeux(t) => t,
        }
    }

    pub(super) fn target_mut(&mut self) -> &mut Target {
        match self {
            PublishTarget::Ws(t)
            | PublishTarget::Post(t)
            | PublishTarget::SocketIo(t)
            | PublishTarget::Bayeux(t) => t,
        }
    }
}

/// The subscriber and publisher targets (`--url`, `--publish-url`).
pub(super) fn targets(o: &LoadOpts) -> Result<(Target, PublishTarget), LoadError> {
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
            Transport::SocketIo => PublishTarget::SocketIo(Target::new("url", sub.url.clone())?),
            Transport::Bayeux => PublishTarget::Bayeux(Target::new("url", sub.url.clone())?),
            _ => {
                let mut u = sub.url.clone();
                u.set_path("/messages");
                u.set_query(None);
                u.set_fragment(None);
                PublishTarget::Post(Target::new("url", u)?)
            }
        },
    };

    Ok((sub, publish))
}

/// The server's metrics endpoint (`--server-metrics-url`).
pub(super) fn metrics(o: &LoadOpts) -> Result<Option<Target>, LoadError> {
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
    Ok(metrics)
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
pub(super) fn tls_targets<'a>(
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
        // Faye's usual mount point; CometD's is /cometd.
        Transport::Bayeux => "/faye",
    }
}

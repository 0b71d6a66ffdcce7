//! Where the generator connects: the subscriber, publisher and metrics URLs,
//! completed with pushpoll's default paths, and their TLS settings.

use std::borrow::Cow;
use std::net::SocketAddr;

use url::Url;

use crate::config::opts::{LoadOpts, LoadTransport as Transport};
use crate::config::template::{self, Scope, Template, Vars};
use crate::config::trust::{TlsClient, TlsTarget, Trust, DEFAULT_ALPN};
use crate::config::users::Users;
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
    /// The URL with its placeholders (`{room}`, `{user.token}`, ...) when
    /// its path or query differs per connection; `url` and
    /// `path_and_query` then hold connection 0's.
    template: Option<Template>,
}

/// What a placeholder of a URL option stands in for while the URL is parsed
/// and completed: a plain token the URL parser leaves alone.
fn hole(i: usize) -> String {
    format!("ppvar{i}x")
}

/// A URL option's text with its placeholders swapped for [`hole`]s, and
/// the placeholders' names in order.
struct Punched {
    text: String,
    names: Vec<String>,
}

fn punch(raw: &str) -> Punched {
    let mut text = String::with_capacity(raw.len());
    let mut names = Vec::new();
    for piece in template::scan(raw) {
        match piece {
            template::Piece::Text(t) => text.push_str(t),
            template::Piece::Name(n) => {
                text.push_str(&hole(names.len()));
                names.push(n.to_owned());
            }
        }
    }
    Punched { text, names }
}

impl Target {
    pub(super) fn new(option: &'static str, url: Url) -> Result<Self, LoadError> {
        Target::with_names(option, url, &[], None)
    }

    /// A target whose URL may hold the [`hole`]s of `names`: they are put
    /// back as placeholders, checked against `users`, and the URL of
    /// connection 0 stands for the rest in messages.
    fn with_names(
        option: &'static str,
        url: Url,
        names: &[String],
        users: Option<&Users>,
    ) -> Result<Self, LoadError> {
        let mut text = url.as_str().to_owned();
        let mut used = false;
        for (i, name) in names.iter().enumerate() {
            let h = hole(i);
            if url.host_str().is_some_and(|host| host.contains(&h)) {
                return Err(LoadError::BadUrl {
                    option,
                    url: url.to_string(),
                    reason: format!(
                        "{{{name}}} in the host: placeholders go in the path or the query (every connection goes to the same server)"
                    ),
                });
            }
            if text.contains(&h) {
                used = true;
                text = text.replace(&h, &format!("{{{name}}}"));
            }
        }
        if !used {
            return Target::plain(option, url);
        }
        let scope = Scope {
            marker: false,
            users,
        };
        let template = Template::parse(option, &text, scope)?;
        let first = Target::parse_rendered(option, &template, &Vars::first(users))?;
        Ok(Target {
            template: Some(template),
            ..first
        })
    }

    fn parse_rendered(
        option: &'static str,
        template: &Template,
        vars: &Vars<'_>,
    ) -> Result<Target, LoadError> {
        let rendered = template.render(vars, "");
        let url = Url::parse(&rendered).map_err(|e| LoadError::BadUrl {
            option,
            url: rendered.clone(),
            reason: format!("after filling in the placeholders: {e}"),
        })?;
        Target::plain(option, url)
    }

    fn plain(option: &'static str, url: Url) -> Result<Self, LoadError> {
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
            template: None,
        })
    }

    /// The URL of one connection.
    pub fn url_for(&self, vars: &Vars<'_>) -> Cow<'_, Url> {
        match &self.template {
            None => Cow::Borrowed(&self.url),
            // Checked before the run for connection 0; a value of another
            // row that breaks the URL falls back to connection 0's URL.
            Some(t) => match Url::parse(&t.render(vars, "")) {
                Ok(u) => Cow::Owned(u),
                Err(_) => Cow::Borrowed(&self.url),
            },
        }
    }

    /// Path and query of one connection's URL, for the request line.
    pub fn path(&self, vars: &Vars<'_>) -> Cow<'_, str> {
        match &self.template {
            None => Cow::Borrowed(&self.path_and_query),
            Some(_) => {
                let u = self.url_for(vars);
                Cow::Owned(u[url::Position::BeforePath..url::Position::AfterQuery].to_owned())
            }
        }
    }

    /// Checks every connection's URL parses and keeps the host, before the
    /// run (a `--users` value with a space in the host part, say).
    pub(super) fn check_connections<'a>(
        &self,
        connections: impl Iterator<Item = Vars<'a>>,
    ) -> Result<(), LoadError> {
        let Some(t) = &self.template else {
            return Ok(());
        };
        for v in connections {
            let u = Target::parse_rendered(self.option, t, &v)?;
            if u.authority != self.authority {
                return Err(LoadError::BadUrl {
                    option: self.option,
                    url: u.url.to_string(),
                    reason: format!(
                        "connection {} would go to {} instead of {}: placeholders may change the path and query only",
                        v.id, u.authority, self.authority
                    ),
                });
            }
        }
        Ok(())
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

    /// Path and query of one connection's URL with extra `key=value`
    /// parameters appended.
    pub fn path_with(&self, vars: &Vars<'_>, params: &str) -> String {
        let path = self.path(vars);
        if params.is_empty() {
            path.into_owned()
        } else if path.contains('?') {
            format!("{path}&{params}")
        } else {
            format!("{path}?{params}")
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
    /// SockJS messages on a SockJS WebSocket session per publisher; the
    /// target is the SockJS prefix (`http://host:port/chat`).
    SockJs(Target),
}

impl PublishTarget {
    pub fn target(&self) -> &Target {
        match self {
            PublishTarget::Ws(t)
            | PublishTarget::Post(t)
            | PublishTarget::SocketIo(t)
            | PublishTarget::SockJs(t) => t,
        }
    }

    pub(super) fn target_mut(&mut self) -> &mut Target {
        match self {
            PublishTarget::Ws(t)
            | PublishTarget::Post(t)
            | PublishTarget::SocketIo(t)
            | PublishTarget::SockJs(t) => t,
        }
    }
}

/// The subscriber and publisher targets (`--url`, `--publish-url`).
pub(super) fn targets(
    o: &LoadOpts,
    users: Option<&Users>,
) -> Result<(Target, PublishTarget), LoadError> {
    let sub_punched = punch(&o.url);
    let sub_url = parse_url("url", &sub_punched.text)?;
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
    let sub = Target::with_names("url", sub_url.clone(), &sub_punched.names, users)?;
    let pub_punched = o.publish_url.as_deref().map(punch);
    let pub_names = pub_punched.as_ref().map_or(&[][..], |p| &p.names[..]);
    let publish_target = |u: Url| Target::with_names("publish-url", u, pub_names, users);
    // Publishers on the subscriber URL keep its placeholders.
    let same_as_sub = |u: Url| Target::with_names("url", u, &sub_punched.names, users);
    let publish = match pub_punched.as_ref().map(|p| &p.text) {
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
            PublishTarget::SocketIo(publish_target(u)?)
        }
        Some(raw) => {
            let u = parse_url("publish-url", raw)?;
            match u.scheme() {
                "http" | "https" => PublishTarget::Post(publish_target(u)?),
                "ws" | "wss" => PublishTarget::Ws(publish_target(u)?),
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
            Transport::Ws => PublishTarget::Ws(same_as_sub(sub_url)?),
            Transport::SocketIo => PublishTarget::SocketIo(same_as_sub(sub_url)?),
            Transport::SockJs => PublishTarget::SockJs(same_as_sub(sub_url)?),
            _ => {
                let mut u = sub_url;
                u.set_path("/messages");
                u.set_query(None);
                u.set_fragment(None);
                PublishTarget::Post(same_as_sub(u)?)
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
        // A SockJS server may sit at the root (prefix "").
        Transport::SockJs => "/",
    }
}

//! Turns [`LoadOpts`] into a validated [`Plan`]: every option checked, URLs
//! parsed and completed with pushpoll's default paths, durations converted.
//! Nothing here does I/O except [`Target::resolve`].
//!
//! Validation is grouped by what the options are about, each group in its
//! file, and [`Plan::new`] runs the groups in a fixed order (the first
//! problem found is the error): [`load`] (rate, counts, durations),
//! [`protocol`] (options only some transports speak), [`identity`]
//! (headers, origin, subprotocols), [`sockjs`], [`target`] (URLs and TLS).

mod identity;
mod load;
mod protocol;
mod sockjs;
mod target;
mod workers;

pub(crate) use sockjs::{SockJsPlan, MIN_FRAME as SOCKJS_MIN_FRAME};
pub(crate) use target::{PublishTarget, Target};
#[cfg(test)]
pub(crate) use workers::count as count_workers;

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use crate::config::template::{Template, Vars};
use crate::config::users::Users;

use crate::config::headers::{Profile, RequestKind};
use crate::config::opts::{
    LoadOpts, LoadTransport as Transport, Pattern, SocketIoTransport, WsSubprotocol,
};
use crate::core::error::LoadError;

/// What Socket.IO subscribers and publishers need (`--transport socket.io`).
#[derive(Debug, Clone)]
pub(crate) struct SocketIoPlan {
    /// Engine.IO transport of the subscribers.
    pub mode: SocketIoTransport,
    /// Event name of messages.
    pub event: String,
    /// Namespace (`/` by default).
    pub namespace: String,
    /// The connect packet's `auth` object (`--socketio-auth`).
    pub auth: Option<Template>,
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
    /// Extra headers whose value differs per connection (a placeholder in
    /// a `--header` value).
    pub header_templates: Vec<(HeaderName, Template)>,
    /// Rooms (`--rooms`; 1 without): subscriber `i` is in room `i mod
    /// rooms`, publisher `j` in room `j mod rooms`.
    pub rooms: usize,
    /// The `--users` rows (`{user.COLUMN}`).
    pub users: Option<Arc<Users>>,
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
    /// SockJS settings (`--transport sockjs` only).
    pub sockjs: Option<SockJsPlan>,
    /// Subscribers per HTTP/2 connection (`--http2`); `None`: HTTP/1.1.
    pub http2: Option<usize>,
    /// Local addresses subscribers bind to, round-robin (`--source-ips`).
    pub source_ips: Vec<std::net::IpAddr>,
    /// Worker processes holding the subscribers (0: this process holds them).
    pub workers: usize,
    /// Steps every WebSocket connection runs after its handshake
    /// (`--on-connect`).
    pub steps: Vec<crate::config::template::Step>,
    /// What publishers send around each payload (`--publish-template`).
    pub publish_template: Option<crate::config::template::Template>,
    /// `Content-Type` of `POST` publishes.
    pub publish_content_type: HeaderValue,
    /// The run-wide `{id}` of this process's subscriber 0.
    pub first_id: usize,
}

impl Plan {
    /// Checks every option; the first problem found is the error.
    pub fn new(o: &LoadOpts) -> Result<Plan, LoadError> {
        let t = load::timing(o)?;
        protocol::ws_options(o)?;
        let users = match &o.users {
            Some(path) => Some(Arc::new(Users::load(path)?)),
            None => None,
        };
        let extra = identity::headers(o, users.as_deref())?;
        let headers = extra.fixed;
        let socketio = protocol::pattern_and_socketio(o, users.as_deref())?;
        let sockjs = sockjs::plan(o)?;
        let (sub, publish) = target::targets(o, users.as_deref())?;
        // The page the requests come from is served by the same origin.
        let page_scheme = match sub.url.scheme() {
            "wss" | "https" => "https",
            _ => "http",
        };
        let mut profile = Profile::new(
            &o.header_profile,
            &format!("{page_scheme}://{}", sub.authority),
        )?;
        let named: Vec<HeaderName> = (headers.iter().map(|(n, _)| n))
            .chain(extra.templated.iter().map(|(n, _)| n))
            .cloned()
            .collect();
        profile.without(&named);
        if o.binary && !matches!(publish, PublishTarget::Ws(_)) {
            return Err(LoadError::InvalidOption {
                option: "binary",
                reason: "publishers send binary frames only as plain WebSocket publishers; here they POST or emit Socket.IO events (give a ws:// --publish-url, or drop --binary)".into(),
            });
        }
        let publishers = match o.pattern {
            Pattern::Broadcast => t.publishers,
            Pattern::Echo => o.subscribers,
        };

        let speech = protocol::speech(o, &publish, users.as_deref())?;
        let metrics = target::metrics(o)?;
        let (mut sub, mut publish, mut metrics) = (sub, publish, metrics);
        target::tls_targets(
            o,
            [Some(&mut sub), Some(publish.target_mut()), metrics.as_mut()],
        )?;

        let http2 = protocol::http2_streams(o)?;
        let plan = Plan {
            transport: o.transport,
            sub,
            publish,
            metrics,
            subscribers: o.subscribers,
            publishers,
            rate: o.rate,
            duration: t.duration,
            total_messages: t.total_messages,
            poll_interval: t.poll_interval,
            long_poll_wait: t.long_poll_wait,
            payload_bytes: o.payload_bytes,
            ramp: o.ramp,
            connect_concurrency: o.connect_concurrency,
            publish_in_flight: o.publish_in_flight,
            ramp_timeout: t.ramp_timeout,
            idle: t.idle,
            grace: t.grace,
            timeout: t.timeout,
            ws_subprotocol: o.ws_subprotocol,
            ws_deflate: o.ws_deflate,
            headers,
            profile,
            subprotocols: o.subprotocols.clone(),
            binary: o.binary,
            pattern: o.pattern,
            socketio,
            sockjs,
            http2,
            source_ips: o.source_ips.clone(),
            workers: workers::count(o)?,
            steps: speech.steps,
            publish_template: speech.template,
            publish_content_type: speech.content_type,
            first_id: o.first_id,
            header_templates: extra.templated,
            rooms: t.rooms,
            users,
        };
        plan.check_connections()?;
        Ok(plan)
    }

    /// With `--users`: a row for every connection, and every connection's
    /// URLs and header values usable (`{id}` and `{room}` alone render
    /// digits, which connection 0's check covers).
    fn check_connections(&self) -> Result<(), LoadError> {
        let Some(users) = &self.users else {
            return Ok(());
        };
        users.check_rows(self.first_id + self.subscribers + self.publishers)?;
        let subs = || (0..self.subscribers).map(|i| self.sub_vars(i));
        let pubs = || (0..self.publishers).map(|p| self.pub_vars(p));
        self.sub.check_connections(subs())?;
        self.publish.target().check_connections(pubs())?;
        for (name, t) in &self.header_templates {
            for v in subs().chain(pubs()) {
                identity::header_value(name, t, &v)?;
            }
        }
        Ok(())
    }

    /// Subscriber `idx`'s placeholders (`idx` counts in this process; its
    /// `{id}` is run-wide).
    pub fn sub_vars(&self, idx: usize) -> Vars<'_> {
        let id = self.first_id + idx;
        Vars {
            id,
            room: id % self.rooms,
            users: self.users.as_deref(),
        }
    }

    /// Publisher `p`'s placeholders: `{id}` after every subscriber's,
    /// `{room}` `p mod rooms`.
    pub fn pub_vars(&self, p: usize) -> Vars<'_> {
        Vars {
            id: self.subscribers + p,
            room: p % self.rooms,
            users: self.users.as_deref(),
        }
    }

    /// Adds the header profile's headers for `kind`, then the extra ones
    /// (`--header`, `--origin`), to a request.
    pub fn request_headers(
        &self,
        kind: RequestKind,
        mut req: http::request::Builder,
        vars: &Vars<'_>,
    ) -> http::request::Builder {
        for (n, v) in self.profile.headers(kind) {
            req = req.header(n, v);
        }
        self.add_headers(req, vars)
    }

    /// Adds the extra headers (`--header`, `--origin`) to a request.
    pub fn add_headers(
        &self,
        mut req: http::request::Builder,
        vars: &Vars<'_>,
    ) -> http::request::Builder {
        for (n, v) in self.extra_headers(vars) {
            req = req.header(n, v);
        }
        req
    }

    /// The extra headers (`--header`, `--origin`) of one connection.
    pub fn extra_headers<'s>(
        &'s self,
        vars: &Vars<'_>,
    ) -> impl Iterator<Item = (&'s HeaderName, HeaderValue)> + 's {
        let templated: Vec<_> = self
            .header_templates
            .iter()
            .filter_map(|(n, t)| Some((n, identity::header_value(n, t, vars).ok()?)))
            .collect();
        self.headers
            .iter()
            .map(|(n, v)| (n, v.clone()))
            .chain(templated)
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
        assert_eq!(p.sub.path_with(&p.sub_vars(0), "since=3"), "/x?a=1&since=3");
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
    fn on_connect_and_templates_are_checked_before_the_run() {
        let err = |args: &[&str]| plan(args).unwrap_err().to_string();
        let e = err(&[
            "--url",
            "http://h:8",
            "--transport",
            "long-poll",
            "--on-connect",
            "send:hi",
        ]);
        assert!(
            e.starts_with("--on-connect: only WebSocket and SockJS connections"),
            "{e}"
        );
        // A ws:// publisher of a polling run does run them.
        let p = plan(&[
            "--url",
            "http://h:8",
            "--transport",
            "sse",
            "--publish-url",
            "ws://h:8/ws",
            "--on-connect",
            "send:hi",
        ])
        .unwrap();
        assert_eq!(p.steps.len(), 1);
        let e = err(&[
            "--url",
            "ws://h:8",
            "--publish-template",
            "{\"text\":\"hi\"}",
        ]);
        assert!(
            e.starts_with("--publish-template: ") && e.contains("has no {marker}"),
            "{e}"
        );
        let e = err(&[
            "--url",
            "ws://h:8",
            "--publish-template",
            "{rooms}:{marker}",
        ]);
        assert!(e.contains("unknown placeholder {rooms}"), "{e}");
        let e = err(&[
            "--url",
            "ws://h:8",
            "--publish-content-type",
            "application/json",
        ]);
        assert!(
            e.starts_with("--publish-content-type: only POST publishers"),
            "{e}"
        );
        let p = plan(&[
            "--url",
            "http://h:8",
            "--transport",
            "long-poll",
            "--publish-template",
            "{\"text\":\"{marker}\"}",
            "--publish-content-type",
            "application/json",
        ])
        .unwrap();
        assert_eq!(p.publish_content_type, "application/json");
        assert_eq!(
            p.publish_template
                .as_ref()
                .unwrap()
                .render(&p.pub_vars(0), "m"),
            "{\"text\":\"m\"}"
        );
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

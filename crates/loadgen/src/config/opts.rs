//! Options of a load run. The same struct is the `pushpoll load` command line
//! (via clap) and the library's input, so tests build it with
//! `LoadOpts::try_parse_from([...])`.

use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use serde::{Deserialize, Serialize};

/// The transports of pushpoll's own server, which `pushpoll compare` runs
/// side by side. [`LoadTransport`] is every transport `pushpoll load` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum)]
pub enum Transport {
    /// WebSocket: one connection per subscriber, messages pushed as frames.
    Ws,
    /// HTTP long polling: `GET ...?since=S&wait=W` held until a message exists.
    LongPoll,
    /// HTTP short polling: `GET ...?since=S` every `--poll-interval`.
    ShortPoll,
    /// Server-Sent Events: one streaming `GET` per subscriber.
    Sse,
}

impl Transport {
    /// All four, in the order `compare` runs them.
    pub const ALL: [Transport; 4] = [
        Transport::Ws,
        Transport::Sse,
        Transport::LongPoll,
        Transport::ShortPoll,
    ];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Ws => "ws",
            Transport::LongPoll => "long-poll",
            Transport::ShortPoll => "short-poll",
            Transport::Sse => "sse",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which transport the subscribers of a `pushpoll load` run use: pushpoll's
/// four, or Socket.IO (spoken by the generator itself, for servers such as
/// the Node `socket.io` chat example).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum LoadTransport {
    /// WebSocket: one connection per subscriber, messages pushed as frames.
    Ws,
    /// HTTP long polling: `GET ...?since=S&wait=W` held until a message exists.
    LongPoll,
    /// HTTP short polling: `GET ...?since=S` every `--poll-interval`.
    ShortPoll,
    /// Server-Sent Events: one streaming `GET` per subscriber.
    Sse,
    /// Socket.IO v5 over Engine.IO v4 (long polling, WebSocket, or polling
    /// upgraded to WebSocket: `--socketio-transport`).
    #[value(name = "socket.io")]
    SocketIo,
    /// Bayeux (Faye, CometD): handshake, subscribe to `--bayeux-channel`,
    /// then the `/meta/connect` loop, over long-polling or WebSocket
    /// (`--bayeux-transport`).
    Bayeux,
    /// SockJS (`--url` is the SockJS prefix, e.g. `http://host:port/chat`):
    /// `GET <prefix>/info`, then a session over WebSocket, xhr-streaming or
    /// xhr-polling (`--sockjs-transport`).
    #[value(name = "sockjs")]
    SockJs,
}

impl LoadTransport {
    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            LoadTransport::Ws => "ws",
            LoadTransport::LongPoll => "long-poll",
            LoadTransport::ShortPoll => "short-poll",
            LoadTransport::Sse => "sse",
            LoadTransport::SocketIo => "socket.io",
            LoadTransport::Bayeux => "bayeux",
            LoadTransport::SockJs => "sockjs",
        }
    }
}

impl From<Transport> for LoadTransport {
    fn from(t: Transport) -> Self {
        match t {
            Transport::Ws => LoadTransport::Ws,
            Transport::LongPoll => LoadTransport::LongPoll,
            Transport::ShortPoll => LoadTransport::ShortPoll,
            Transport::Sse => LoadTransport::Sse,
        }
    }
}

impl std::fmt::Display for LoadTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How a Socket.IO subscriber talks to the server (Engine.IO transports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum SocketIoTransport {
    /// HTTP long polling only: `GET` loop, `POST` to send.
    Polling,
    /// WebSocket only, from the first request.
    Websocket,
    /// As socket.io's browser client: open with long polling, then upgrade
    /// to WebSocket (`2probe` / `3probe` / `5`) and receive there.
    Upgrade,
}

/// How a Bayeux client talks to the server (its `connectionType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum BayeuxTransport {
    /// Every message an HTTP `POST` of a JSON array; `/meta/connect` held
    /// by the server until it has messages.
    LongPolling,
    /// One WebSocket at the Bayeux endpoint (`ws://` of the same URL),
    /// each frame a JSON array of messages.
    Websocket,
}

impl BayeuxTransport {
    /// The protocol's name for it (`connectionType`).
    pub fn connection_type(self) -> &'static str {
        match self {
            BayeuxTransport::LongPolling => "long-polling",
            BayeuxTransport::Websocket => "websocket",
        }
    }
}

/// How a SockJS subscriber receives (SockJS's own transport names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum SockJsTransport {
    /// `<prefix>/<server>/<session>/websocket`, SockJS frames inside
    /// WebSocket text frames.
    Websocket,
    /// `POST .../xhr_streaming`: one long answer of newline-separated frames,
    /// reopened on the same session when the server ends it (its response
    /// limit, 128 KiB in sockjs-node).
    XhrStreaming,
    /// `POST .../xhr` in a loop, one answer per frame.
    XhrPolling,
}

impl SockJsTransport {
    /// The name on the command line (`xhr-streaming`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SockJsTransport::Websocket => "websocket",
            SockJsTransport::XhrStreaming => "xhr-streaming",
            SockJsTransport::XhrPolling => "xhr-polling",
        }
    }
}

/// Options of one load run against one transport. Serialisable, because
/// worker processes receive their share of a run as JSON.
#[derive(Debug, Clone, Parser, Serialize, Deserialize)]
#[command(
    name = "pushpoll load",
    about = "Measure delivery latency, requests, bytes and loss of one transport"
)]
pub struct LoadOpts {
    /// Subscriber URL: `ws://host:port/ws` for WebSocket, `http://host:port/messages`
    /// for polling, `http://host:port/events` for SSE, `http://host:port` for
    /// Socket.IO (path `/socket.io/`), the SockJS prefix for SockJS
    /// (`http://host:port/chat`). A bare `http://host:port` gets the
    /// default path for the transport.
    #[arg(long)]
    pub url: String,

    /// Transport the subscribers use.
    #[arg(long, value_enum, default_value_t = LoadTransport::Ws)]
    pub transport: LoadTransport,

    /// Number of subscribers (one connection each).
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,

    /// Number of publishers sharing `--rate` (default 1; with `--rooms N`,
    /// N: one per room).
    #[arg(long)]
    pub publishers: Option<usize>,

    /// Messages per second, all publishers together (open loop: sends follow
    /// the schedule whatever the server does).
    #[arg(long, default_value_t = 1.0)]
    pub rate: f64,

    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,

    /// Shape the publish rate over time, k6's way: `DUR:TARGET,…` (e.g.
    /// `30s:100,2m:100,30s:0`), linear from 0 msg/s to each stage's target
    /// over its duration. The stages' sum replaces --duration and --rate.
    #[arg(long, value_name = "DUR:TARGET,...")]
    pub rate_stages: Option<String>,

    /// Subscribers a second that disconnect and at once reconnect while
    /// messages are published (chosen at random among the connected). A
    /// churned subscriber expects only what was scheduled while it was
    /// connected, less --churn-guard at each edge (docs/timeline.md).
    #[arg(long, value_name = "R")]
    pub churn: Option<f64>,

    /// Shape the connected subscribers over time on the publishing clock,
    /// k6's way: `DUR:TARGET,…` from 0; subscribers join and leave to follow
    /// the targets (judged as --churn's are). The peak replaces --subscribers.
    #[arg(long, value_name = "DUR:TARGET,...")]
    pub subscriber_stages: Option<String>,

    /// Seconds after a churned subscriber rejoined and before it left in
    /// which a message is neither expected nor lost (`boundary` in the JSON).
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub churn_guard: f64,

    /// Seconds between short polls. Below 0.001 (the timer's resolution)
    /// each poll is sent as soon as the previous answer arrived, as a
    /// benchmark tool such as wrk does.
    #[arg(long, default_value_t = 1.0)]
    pub poll_interval: f64,

    /// Seconds a long poll asks the server to hold (`wait=`).
    #[arg(long, default_value_t = 30.0)]
    pub long_poll_wait: f64,

    /// Poll and stream over HTTP/2 (`long-poll`, `short-poll`, `sse`):
    /// prior knowledge on `http://`, ALPN `h2` on `https://`. Subscribers
    /// share connections as streams (`--h2-streams-per-connection`), as a
    /// browser's tabs share one connection per origin; bytes are counted at
    /// each shared socket and summed for the run. Publishers stay on
    /// HTTP/1.1 (their bytes are not part of the subscriber figures).
    #[arg(long)]
    pub http2: bool,

    /// Subscribers multiplexed as streams on one HTTP/2 connection
    /// (`--http2`): subscriber `i` uses connection `i / N`.
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub h2_streams_per_connection: usize,

    /// Size of every published payload, bytes (at least the marker, ~40 B).
    #[arg(long, default_value_t = 64)]
    pub payload_bytes: usize,

    /// Where publishers send. Default: for `ws`, text frames on the subscriber
    /// URL (as the notes' browser page does); otherwise `POST` to
    /// `/messages` on the subscriber URL's origin. An `http(s)://` URL here
    /// makes `ws` runs publish by `POST` too; a `ws://` URL makes publishers
    /// of any transport send frames there.
    #[arg(long)]
    pub publish_url: Option<String>,

    /// Subscriber connections opened per second while ramping up
    /// (default: as fast as `--connect-concurrency` allows).
    #[arg(long)]
    pub ramp: Option<f64>,

    /// Seconds the ramp-up may take; subscribers not connected by then are
    /// left out (not expected to receive) and publishing starts anyway.
    /// Default: 60 s, plus `subscribers / ramp` when `--ramp` is given.
    #[arg(long)]
    pub ramp_timeout: Option<f64>,

    /// Connection attempts in flight at once while ramping up.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,

    /// `POST`s one publisher may have in flight at once (1 to 256). The
    /// default, 1, keeps each publisher's messages in order at the server:
    /// with more, concurrent requests may be accepted out of order, and
    /// subscribers then count reorders the generator caused. A publisher
    /// that falls behind its schedule sends late, and the latency measured
    /// from the schedule shows it; add `--publishers` for more concurrency.
    #[arg(long, default_value_t = 1)]
    pub publish_in_flight: usize,

    /// Seconds to measure idle cost (all subscribers connected, nothing
    /// published) before publishing starts; 0 skips it.
    #[arg(long, default_value_t = 0.0)]
    pub idle: f64,

    /// Seconds after the last publish that subscribers may still take to
    /// receive everything; what is missing then is lost. Default:
    /// 2 s + one poll interval (short polling).
    #[arg(long)]
    pub grace: Option<f64>,

    /// Seconds before a connection attempt or an HTTP answer counts as a timeout
    /// (long polls get `--long-poll-wait` on top).
    #[arg(long, default_value_t = 10.0)]
    pub timeout: f64,

    /// A Prometheus endpoint of the server (e.g. `http://host:port/metrics`)
    /// whose `process_cpu_seconds_total` is read before and after, to report
    /// server CPU per delivered message.
    #[arg(long)]
    pub server_metrics_url: Option<String>,

    /// Accept any server certificate on `wss://` and `https://` URLs (a
    /// self-signed test certificate, say). The traffic is still encrypted,
    /// but the server is not authenticated: for test servers only.
    #[arg(long)]
    pub insecure: bool,

    /// Also trust the certificates in this PEM file (a private CA, or the
    /// server's own self-signed certificate), beside the usual web roots.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// Write the full result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,

    /// Serve the run's live figures for Prometheus on this address
    /// (`GET /metrics`, e.g. `0.0.0.0:9464`): `pushpoll_load_published_total`,
    /// `pushpoll_load_delivered_total`, requests, bytes, errors by kind,
    /// connected subscribers and a latency histogram, labelled with the run
    /// id and transport (docs/metrics.md). Bound before the run starts.
    #[arg(long, value_name = "ADDR")]
    #[serde(default)]
    pub metrics_addr: Option<std::net::SocketAddr>,

    /// With `--metrics-addr`: seconds to keep serving the final numbers
    /// once the run is over, so that a scraper sees them before the
    /// process exits (at most 3600; Ctrl-C ends it early).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    #[serde(default)]
    pub metrics_linger: f64,

    /// Write the run's per-second timeline as CSV to this file (header row
    /// `t_s,…`; docs/timeline.md).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,

    /// A name for this run in results and reports (e.g. the network
    /// condition it ran under); runs that differ only in label are shown apart.
    #[arg(long)]
    pub label: Option<String>,

    /// WebSocket subprotocol the subscribers ask for (`--transport ws` only).
    /// `pushpoll.v1` (pushpoll's server) gives every message its sequence
    /// number, so a subscriber whose connection is cut reconnects with
    /// `?since=<last seq>` and loses nothing; history the server no longer
    /// holds is reported as `gap` errors. The run fails before it starts if
    /// the server does not select the subprotocol. Default: a plain client,
    /// which works with any relay but loses what is sent while it reconnects.
    #[arg(long, value_enum)]
    pub ws_subprotocol: Option<WsSubprotocol>,

    /// WebSocket subscribers offer permessage-deflate (`--transport ws`
    /// only): `Sec-WebSocket-Extensions: permessage-deflate;
    /// client_no_context_takeover; server_no_context_takeover`. Compressed
    /// messages are inflated under the WebSocket library, so bytes are
    /// counted as they cross the socket (compressed). The result tells how
    /// many subscribers the server accepted it from; a server that declines
    /// is read as plain WebSocket.
    #[arg(long)]
    pub ws_deflate: bool,

    /// An extra request header, `NAME:VALUE` (repeatable), for servers that
    /// want a cookie or a token: sent on every WebSocket handshake and every
    /// HTTP request of subscribers and publishers alike. Headers the
    /// generator sets itself (`Host`, `Connection`, `Upgrade`,
    /// `Sec-WebSocket-*`, `Content-Length`, ...) are refused; use
    /// `--origin` and `--subprotocol` for `Origin` and
    /// `Sec-WebSocket-Protocol`.
    #[arg(long = "header", value_name = "NAME:VALUE")]
    pub headers: Vec<String>,

    /// The header set every request carries (the issue's `--headers`; named
    /// apart from `--header`, which adds one header on top of the profile).
    /// `minimal`: a `User-Agent` and the `Accept` the transport needs (about
    /// 56 bytes a poll). `browser`: what desktop Chromium sends to a
    /// same-origin API (client hints, `Sec-Fetch-*`, `Referer`,
    /// `Accept-Encoding`, a session cookie; 731 bytes a poll), and
    /// compressed answers are decoded. FILE: a captured header block, one
    /// `Name: value` per line. Exact sizes: `docs/headers.md`.
    #[arg(long, value_name = "minimal|browser|FILE", default_value = "minimal")]
    pub header_profile: crate::config::headers::HeaderProfile,

    /// A WebSocket subprotocol to ask for (repeatable, in order of
    /// preference; `--transport ws` in plain mode). Unlike `--ws-subprotocol`
    /// it changes nothing in how frames are read: every frame is still
    /// searched for the marker. A server that selects none of them fails the
    /// handshake (counted as `no_subprotocol`).
    #[arg(long = "subprotocol", value_name = "NAME")]
    pub subprotocols: Vec<String>,

    /// `Origin` header for WebSocket handshakes and HTTP requests (what a
    /// browser page at that origin would send), e.g. `http://localhost:8080`.
    #[arg(long, value_name = "URL")]
    pub origin: Option<String>,

    /// WebSocket publishers send binary frames instead of text frames.
    #[arg(long)]
    pub binary: bool,

    /// A step run on every connection (subscribers and publishers) right
    /// after its handshake, in order (repeatable), for servers that relay
    /// nothing until a client joins or subscribes: `send:TEXT` sends a
    /// message (a frame; an event array with Socket.IO, a message with
    /// SockJS; Bayeux subscribes by `--bayeux-channel` instead), `expect:TEXT`
    /// waits (within `--timeout`) for one containing TEXT. Placeholders: `{id}` (the connection's index: subscribers
    /// 0..S-1, publishers S..S+P-1), `{room}`, `{user.COLUMN}`
    /// (docs/load-testing.md). A connection that
    /// fails a step is not connected; its error kind names the step
    /// (`on_connect_expect_timeout`, `on_connect_send_<kind>`, ...).
    #[arg(long = "on-connect", value_name = "STEP")]
    #[serde(default)]
    pub on_connect: Vec<String>,

    /// What a publisher sends instead of the bare payload: a WebSocket text
    /// frame, or the `POST` body. Must contain `{marker}`, the payload (the
    /// marker padded to --payload-bytes, plain ASCII, safe inside a JSON
    /// string); `{id}`, `{room}` and `{user.COLUMN}` are the publisher's. Other braces are
    /// literal, so JSON needs no escaping:
    /// `--publish-template '{"type":"say","text":"{marker}"}'`.
    #[arg(long, value_name = "TEXT")]
    #[serde(default)]
    pub publish_template: Option<String>,

    /// `Content-Type` of `POST` publishes (default `text/plain`; with
    /// `--publish-template` usually `application/json`).
    #[arg(long, value_name = "TYPE")]
    #[serde(default)]
    pub publish_content_type: Option<String>,

    /// Rooms the run is spread over: subscriber `i` is in room `i mod N`,
    /// publisher `j` in room `j mod N`, and a message is expected only by
    /// its room's subscribers (put `{room}` where the server names a room:
    /// a join step, the URL, a template). Expected deliveries, loss,
    /// duplicates and reorders are counted per room and summed; a message
    /// arriving in another room is `unexpected`. `--publishers` defaults to
    /// N; fewer publishers than rooms is an error.
    #[arg(long, value_name = "N")]
    #[serde(default)]
    pub rooms: Option<usize>,

    /// Per-user values, a CSV file with a header row: `{user.COLUMN}` in
    /// `--url`, `--publish-url`, `--header` values, `--on-connect` steps and
    /// `--publish-template` is connection `{id}`'s value in that column (data
    /// row `{id}`: subscribers first, then publishers). Fewer rows than
    /// connections, or an unknown column, is an error before the run.
    #[arg(long, value_name = "FILE.csv")]
    #[serde(default)]
    pub users: Option<PathBuf>,

    /// Who receives what. `broadcast`: every subscriber receives every
    /// published message. `echo` (`--transport ws` only): every subscriber
    /// connection is also its own publisher, sending its share of `--rate`
    /// on that connection; the server is expected to send each message back
    /// to its sender only, so a delivery is a subscriber's own message
    /// returned and the latency is the round trip.
    #[arg(long, value_enum, default_value_t = Pattern::Broadcast)]
    pub pattern: Pattern,

    /// Engine.IO transport of Socket.IO subscribers (`--transport socket.io`;
    /// default `upgrade`). Publishers always use `websocket`.
    #[arg(long, value_enum)]
    pub socketio_transport: Option<SocketIoTransport>,

    /// Socket.IO event that carries messages, both ways (`--transport
    /// socket.io`; default `chat message`, as in socket.io's chat example).
    #[arg(long, value_name = "NAME")]
    pub socketio_event: Option<String>,

    /// Socket.IO namespace subscribers and publishers connect to
    /// (`--transport socket.io`; default `/`), e.g. `/chat`.
    #[arg(long, value_name = "/NS")]
    #[serde(default)]
    pub socketio_namespace: Option<String>,

    /// The `auth` object sent in every Socket.IO connect packet (`--transport
    /// socket.io`), which the server's middleware reads as
    /// `socket.handshake.auth`; placeholders allowed, e.g.
    /// `{"token":"{user.token}"}`.
    #[arg(long, value_name = "JSON")]
    #[serde(default)]
    pub socketio_auth: Option<String>,

    /// How Bayeux clients talk to the server (`--transport bayeux`; default
    /// `long-polling`). Publishers use the same, unless `--publish-url`
    /// says otherwise.
    #[arg(long, value_enum)]
    #[serde(default)]
    pub bayeux_transport: Option<BayeuxTransport>,

    /// The Bayeux channel subscribers subscribe to and publishers publish
    /// on (`--transport bayeux`; default `/pushpoll`). It starts with `/`;
    /// `{id}` and `{room}` are filled in per connection, e.g. `/chat/{room}`.
    #[arg(long, value_name = "CHANNEL")]
    #[serde(default)]
    pub bayeux_channel: Option<String>,
    /// SockJS transport of the subscribers (`--transport sockjs`; default
    /// `websocket`). Publishers always use `websocket` unless `--publish-url`
    /// says otherwise; a server whose `/info` says `websocket: false` is
    /// refused before the run when `websocket` is asked for.
    #[arg(long, value_enum)]
    #[serde(default)]
    pub sockjs_transport: Option<SockJsTransport>,

    /// Most subscribers one process holds. One process may open only so many
    /// sockets (`ulimit -n`, about 20,000 here); a run with more subscribers
    /// starts `ceil(subscribers / N)` worker processes of this same program,
    /// each holding a share, while this process publishes, and merges their
    /// results exactly (delivery sets, summed counters, HdrHistograms).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub subscribers_per_worker: usize,

    /// Local addresses subscriber sockets bind to, round-robin, e.g.
    /// `127.0.0.2,127.0.0.3` (any `127.x.y.z` is local on Linux). One
    /// source address reaches one server address through at most the
    /// ephemeral port range (about 28,000 connections); several lift that.
    #[arg(long, value_delimiter = ',', value_name = "IP,IP,...")]
    pub source_ips: Vec<std::net::IpAddr>,

    /// The run id carried in every marker, 8 hex digits (default: random).
    /// Give each of several load agents against one server its own (for
    /// example from the pod's `JOB_COMPLETION_INDEX`): every agent measures
    /// only its own messages and counts the others' as `other_run_markers`.
    #[arg(long, value_parser = parse_run_id, value_name = "HEX")]
    pub run_id: Option<u32>,

    /// Read options from a TOML file: every key is a `pushpoll load`
    /// option's long name without the dashes (`url`, `on-connect`,
    /// `publish-template`, ...), a list for a repeatable option, `true` for
    /// a flag. Options on the command line replace the file's. Examples:
    /// `examples/*.toml`.
    #[arg(long, value_name = "FILE.toml")]
    #[serde(skip)]
    pub scenario: Option<PathBuf>,

    /// Internal: this process is a worker of a bigger run (its share of the
    /// run arrives on stdin; it reports on stdout).
    #[arg(long, hide = true)]
    pub worker: bool,

    /// Internal: the run-wide index of this process's first subscriber (a
    /// worker's share starts past the others'), so `{id}` is the same
    /// whether or not a run is split.
    #[arg(skip)]
    #[serde(default)]
    pub first_id: usize,
}

/// Parses `--run-id`: 1 to 8 hex digits.
fn parse_run_id(s: &str) -> Result<u32, String> {
    let digits = s.trim_start_matches("0x");
    if digits.is_empty() || digits.len() > 8 {
        return Err(format!("expected 1 to 8 hex digits, got {s:?}"));
    }
    u32::from_str_radix(digits, 16).map_err(|_| format!("expected hex digits, got {s:?}"))
}

/// Who is expected to receive a published message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum Pattern {
    /// Every subscriber receives every message (a chat room).
    Broadcast,
    /// Each subscriber sends on its own connection and receives its own
    /// messages back (an echo server): round trips.
    Echo,
}

/// A WebSocket subprotocol the subscribers know how to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ValueEnum, Serialize, Deserialize)]
pub enum WsSubprotocol {
    /// pushpoll's own: sequence numbers in a 9-byte header, a hello frame
    /// with `last_seq`, gap notices (`docs/protocol.md`).
    #[value(name = "pushpoll.v1")]
    PushpollV1,
}

impl WsSubprotocol {
    /// The token sent in `Sec-WebSocket-Protocol`.
    pub fn token(self) -> &'static str {
        match self {
            WsSubprotocol::PushpollV1 => pushpoll_wire::frame::SUBPROTOCOL,
        }
    }
}

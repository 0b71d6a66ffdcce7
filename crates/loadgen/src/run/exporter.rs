//! `--metrics-addr`: the run's live figures for Prometheus, on
//! `GET /metrics`, encoded by `prometheus-client` (as the server's are).
//!
//! Every value is read at the scrape from counters the run keeps anyway:
//! the live totals ([`Live`]), each subscriber's socket counters
//! ([`SubIo`], summed per scrape once the ramp-up has handed them over),
//! the latency buckets the subscribers' batches feed, and the sums of the
//! worker processes' progress reports. A scrape takes no lock a delivery
//! takes.
//!
//! When the run is over the endpoint shows the result's own figures
//! (`published`, `delivered`, `errors`, `subscribers_connected`), which
//! settle what the live counts could not know yet (a publish that failed
//! after its message arrived), and keeps serving for `--metrics-linger`
//! seconds, so that a scraper's last sample is the result's.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::opts::LoadOpts;
use crate::core::error::LoadError;
use crate::core::live_metrics::LATENCY_BOUNDS_US;
use crate::core::progress::{Hooks, Live};
use crate::net::count::{IoTotals, SubIo};
use pushpoll_results::RunResult;

/// The longest `--metrics-linger`.
const MAX_LINGER_S: f64 = 3600.0;
/// Scrapers served at once; more connections are closed at once (a
/// Prometheus or two, a curl: never hundreds).
const MAX_SCRAPERS: usize = 16;
/// Longest a scraper may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// The subscribers' socket counters, handed over when the ramp-up ends
/// (a run with workers reads theirs from [`Live::remote_io`]).
pub(crate) type Sockets = Arc<OnceLock<Vec<Arc<SubIo>>>>;

/// The endpoint's socket, bound before the run starts.
pub(crate) struct Bound {
    listener: TcpListener,
    linger: Duration,
}

/// Binds `--metrics-addr` (if given) and checks `--metrics-linger`, so that
/// a taken address fails the run before it starts.
pub(crate) async fn bind(opts: &LoadOpts) -> Result<Option<Bound>, LoadError> {
    let Some(addr) = opts.metrics_addr else {
        return Ok(None);
    };
    let l = opts.metrics_linger;
    if !(l.is_finite() && (0.0..=MAX_LINGER_S).contains(&l)) {
        return Err(LoadError::InvalidOption {
            option: "metrics-linger",
            reason: format!("must be a number of seconds from 0 to {MAX_LINGER_S}, got {l}"),
        });
    }
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| LoadError::InvalidOption {
            option: "metrics-addr",
            reason: format!(
                "cannot listen on {addr}: {e}{}",
                if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another process has it: pick another port, or 127.0.0.1:0 for any)"
                } else {
                    ""
                }
            ),
        })?;
    Ok(Some(Bound {
        listener,
        linger: Duration::from_secs_f64(l),
    }))
}

/// What a scrape reads.
#[derive(Debug)]
struct State {
    live: Arc<Live>,
    sockets: Sockets,
    /// The result's figures, once the run is over.
    settled: OnceLock<Settled>,
}

#[derive(Debug)]
struct Settled {
    published: u64,
    delivered: u64,
    connected: u64,
    errors: BTreeMap<String, u64>,
}

/// The running endpoint.
pub(crate) struct Exporter {
    state: Arc<State>,
    addr: SocketAddr,
    linger: Duration,
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Bound {
    /// Starts serving the run `run_id` over `transport`, reading `live` and,
    /// once set, `sockets`; tells `hooks.metrics_bound` the address.
    pub(crate) fn serve(
        self,
        hooks: &Hooks,
        run_id: u32,
        transport: &'static str,
        live: Arc<Live>,
        sockets: Sockets,
    ) -> Exporter {
        let addr = self
            .listener
            .local_addr()
            .expect("a bound listener has an address");
        let state = Arc::new(State {
            live,
            sockets,
            settled: OnceLock::new(),
        });
        let mut registry = Registry::with_labels(
            [
                ("run_id".into(), format!("{run_id:08x}").into()),
                ("transport".into(), transport.into()),
            ]
            .into_iter(),
        );
        registry.register_collector(Box::new(Scrape(state.clone())));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(accept(self.listener, Arc::new(registry), shutdown.clone()));
        tracing::info!(%addr, "serving the run's metrics on /metrics");
        if let Some(tell) = &hooks.metrics_bound {
            tell(addr);
        }
        Exporter {
            state,
            addr,
            linger: self.linger,
            shutdown,
            task,
        }
    }
}

impl Exporter {
    /// Shows `result`'s figures (when the run produced one), keeps serving
    /// them for `--metrics-linger` or until `stop` resolves, then stops.
    pub(crate) async fn finish(
        self,
        result: Option<&RunResult>,
        stop: Option<impl Future<Output = ()>>,
    ) {
        if let Some(r) = result {
            let _ = self.state.settled.set(Settled {
                published: r.published,
                delivered: r.delivered,
                connected: r.subscribers_connected,
                errors: r.errors.clone(),
            });
            if !self.linger.is_zero() {
                tracing::info!(addr = %self.addr, linger = ?self.linger, "serving the run's final metrics (--metrics-linger)");
                let linger = tokio::time::sleep(self.linger);
                match stop {
                    Some(stop) => tokio::select! {
                        _ = linger => {}
                        _ = stop => {}
                    },
                    None => linger.await,
                }
            }
        }
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Accepts scrapers until `shutdown`; each connection ends with it too.
async fn accept(listener: TcpListener, registry: Arc<Registry>, shutdown: CancellationToken) {
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SCRAPERS));
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("metrics endpoint: too many scrapers at once; connection closed");
            continue;
        };
        let (registry, shutdown) = (registry.clone(), shutdown.clone());
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let registry = registry.clone();
                async move { Ok::<_, std::convert::Infallible>(answer(&req, &registry)) }
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = conn => {}
            }
        });
    }
}

fn answer(req: &Request<Incoming>, registry: &Registry) -> Response<Full<Bytes>> {
    let (status, ctype, body) = match (req.method(), req.uri().path()) {
        (&http::Method::GET, "/metrics") => (
            StatusCode::OK,
            prometheus_text::CONTENT_TYPE,
            render(registry),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "the load generator serves GET /metrics only\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(4096);
    // Writing to a String cannot fail; the collector fails only when it does.
    let _ = prometheus_text::encode(&mut out, registry);
    out
}

/// The collector: reads [`State`] at each scrape.
#[derive(Debug)]
struct Scrape(Arc<State>);

fn single<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    m: M,
) -> fmt::Result {
    let e = enc.encode_descriptor(name, help, None, m.metric_type())?;
    m.encode(e)
}

impl Collector for Scrape {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = &*self.0;
        let live = &*s.live;
        let settled = s.settled.get();
        // Counter names go without `_total`: the encoder appends it.
        single(
            &mut enc,
            "pushpoll_load_published",
            "Messages the server accepted from the generator's publishers.",
            ConstCounter::new(
                settled.map_or_else(|| live.published.load(Relaxed), |f| f.published),
            ),
        )?;
        single(
            &mut enc,
            "pushpoll_load_delivered",
            "Distinct (message, subscriber) deliveries; after the run, the result's `delivered`.",
            ConstCounter::new(
                settled.map_or_else(|| live.delivered.load(Relaxed), |f| f.delivered),
            ),
        )?;
        let mut io = s
            .sockets
            .get()
            .map(IoTotals::sum_counters)
            .unwrap_or_default();
        io.up += live.remote_io.up.load(Relaxed);
        io.down += live.remote_io.down.load(Relaxed);
        io.requests += live.remote_io.requests.load(Relaxed);
        single(
            &mut enc,
            "pushpoll_load_requests",
            "HTTP requests of the subscribers since the run started (handshakes, polls, reconnects).",
            ConstCounter::new(io.requests),
        )?;
        {
            let mut family = enc.encode_descriptor(
                "pushpoll_load_bytes",
                "Bytes the subscribers' sockets wrote (up) and read (down) since the run started.",
                None,
                MetricType::Counter,
            )?;
            for (direction, n) in [("up", io.up), ("down", io.down)] {
                ConstCounter::new(n).encode(family.encode_family(&[("direction", direction)])?)?;
            }
        }
        {
            let errors = match settled {
                Some(f) => f.errors.clone(),
                None => live.error_kinds.snapshot(),
            };
            let mut family = enc.encode_descriptor(
                "pushpoll_load_errors",
                "Errors during the run, by kind (connect_refused, timeout, bad_status_503, ...).",
                None,
                MetricType::Counter,
            )?;
            for (kind, n) in &errors {
                ConstCounter::new(*n).encode(family.encode_family(&[("kind", kind.as_str())])?)?;
            }
        }
        single(
            &mut enc,
            "pushpoll_load_subscribers_connected",
            "Subscribers that connected and became ready (one that reconnects stays counted); after the run, the result's `subscribers_connected`.",
            ConstGauge::new(settled.map_or_else(|| live.ready.load(Relaxed), |f| f.connected)),
        )?;
        single(
            &mut enc,
            "pushpoll_load_run_finished",
            "1 once the run is over and these are the result's figures (served for --metrics-linger), else 0.",
            ConstGauge::new(i64::from(settled.is_some())),
        )?;
        let lat = live.latency.snapshot();
        let buckets: Vec<(f64, u64)> = LATENCY_BOUNDS_US
            .iter()
            .map(|&b| b as f64 / 1e6)
            .chain([f64::INFINITY])
            .zip(lat.counts.iter().copied())
            .collect();
        let mut e = enc.encode_descriptor(
            "pushpoll_load_latency_seconds",
            "Delivery latency from the message's scheduled publish time (open loop), accepted publishes only.",
            None,
            MetricType::Histogram,
        )?;
        e.encode_histogram::<NoLabelSet>(lat.sum_us as f64 / 1e6, lat.count(), &buckets, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;
    use pushpoll_wire::prometheus::{labelled, samples, value};

    /// `GET /metrics` over a socket, as Prometheus asks it.
    async fn scrape(addr: SocketAddr) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
        assert!(
            text.contains("content-type: text/plain; version=0.0.4"),
            "{text}"
        );
        text.split_once("\r\n\r\n").unwrap().1.to_owned()
    }

    #[tokio::test]
    async fn serves_live_figures_then_the_results() {
        let live = Arc::new(Live::default());
        live.published.store(3, Relaxed);
        live.delivered.store(5, Relaxed);
        live.ready.store(2, Relaxed);
        live.error("reset");
        live.latency.record(&[700, 3_000_000]);
        live.remote_io.requests.store(4, Relaxed);
        let io = Arc::new(SubIo::default());
        io.up.store(10, Relaxed);
        io.down.store(20, Relaxed);
        io.requests.store(1, Relaxed);
        let sockets = Sockets::default();
        let _ = sockets.set(vec![io]);
        let opts = LoadOpts::try_parse_from([
            "load",
            "--url",
            "ws://127.0.0.1:1/ws",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .unwrap();
        let bound = bind(&opts).await.unwrap().unwrap();
        let x = bound.serve(&Hooks::default(), 0xab, "ws", live, sockets);
        let text = scrape(x.addr).await;
        assert!(samples(&text).all(|s| s.is_ok()), "{text}");
        let l = [("run_id", "000000ab"), ("transport", "ws")];
        assert_eq!(
            labelled(&text, "pushpoll_load_published_total", &l),
            Some(3.0)
        );
        assert_eq!(value(&text, "pushpoll_load_delivered_total"), Some(5.0));
        assert_eq!(value(&text, "pushpoll_load_requests_total"), Some(5.0));
        let bytes = |d| labelled(&text, "pushpoll_load_bytes_total", &[("direction", d)]);
        assert_eq!((bytes("up"), bytes("down")), (Some(10.0), Some(20.0)));
        assert_eq!(
            labelled(&text, "pushpoll_load_errors_total", &[("kind", "reset")]),
            Some(1.0)
        );
        assert_eq!(
            value(&text, "pushpoll_load_subscribers_connected"),
            Some(2.0)
        );
        let bucket = |le| labelled(&text, "pushpoll_load_latency_seconds_bucket", &[("le", le)]);
        assert_eq!(
            (bucket("0.001"), bucket("2.5"), bucket("5")),
            (Some(1.0), Some(1.0), Some(2.0))
        );
        assert_eq!(bucket("+Inf"), Some(2.0));
        assert_eq!(
            value(&text, "pushpoll_load_latency_seconds_count"),
            Some(2.0)
        );
        assert_eq!(
            value(&text, "pushpoll_load_latency_seconds_sum"),
            Some(3.0007)
        );

        // What `finish` sets from the result.
        let _ = x.state.settled.set(Settled {
            published: 3,
            delivered: 4,
            connected: 2,
            errors: BTreeMap::from([("timeout".to_owned(), 2)]),
        });
        let text = scrape(x.addr).await;
        assert_eq!(value(&text, "pushpoll_load_delivered_total"), Some(4.0));
        assert_eq!(value(&text, "pushpoll_load_errors_total"), Some(2.0));
        assert_eq!(value(&text, "pushpoll_load_run_finished"), Some(1.0));
        x.finish(None, None::<std::future::Ready<()>>).await;
    }

    #[tokio::test]
    async fn scrapers_beyond_the_cap_are_turned_away() {
        use tokio::io::AsyncReadExt;
        let opts = LoadOpts::try_parse_from([
            "load",
            "--url",
            "ws://127.0.0.1:1/ws",
            "--metrics-addr",
            "127.0.0.1:0",
        ])
        .unwrap();
        let live = Arc::new(Live::default());
        let x = bind(&opts).await.unwrap().unwrap().serve(
            &Hooks::default(),
            1,
            "sse",
            live,
            Sockets::default(),
        );
        let mut idle = Vec::new();
        for _ in 0..MAX_SCRAPERS {
            idle.push(tokio::net::TcpStream::connect(x.addr).await.unwrap());
        }
        let mut extra = tokio::net::TcpStream::connect(x.addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(5), extra.read(&mut buf))
            .await
            .expect("the extra connection is closed, not held");
        assert_eq!(n.unwrap_or(0), 0);
        drop(idle);
        // Their slots come back as they close.
        let text = pushpoll_testkit::within("a scrape after the idle ones left", async {
            loop {
                let mut s = tokio::net::TcpStream::connect(x.addr).await.unwrap();
                use tokio::io::AsyncWriteExt;
                let _ = s
                    .write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                    .await;
                let mut text = String::new();
                let _ = s.read_to_string(&mut text).await;
                if text.starts_with("HTTP/1.1 200") {
                    return text;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(
            text.contains("pushpoll_load_run_finished{run_id=\"00000001\",transport=\"sse\"} 0"),
            "{text}"
        );
        x.finish(None, None::<std::future::Ready<()>>).await;
    }
}

//! The server's `GET /metrics`, scraped the simplest way there is (one
//! request on a fresh plain TCP connection that the server then closes),
//! so a scrape never depends on the HTTP client a test is exercising.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use pushpoll_wire::prometheus;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wait::{within, PATIENCE};

/// `/metrics` parsed: `name{labels}` (as written, labels included) → value.
pub type Metrics = HashMap<String, f64>;

const REQUEST: &[u8] = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// The text of the server's `/metrics` at `addr` (plain HTTP). Panics if
/// the answer is not a `200`, or does not come within
/// [`PATIENCE`].
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    within("a /metrics scrape", async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .unwrap_or_else(|e| panic!("connecting to {addr} for /metrics: {e}"));
        s.write_all(REQUEST).await.expect("sending GET /metrics");
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .await
            .expect("reading the /metrics answer");
        body(answer)
    })
    .await
}

/// [`scrape_metrics`] for code outside a runtime (plain `#[test]`s
/// watching a server that runs elsewhere).
pub fn scrape_metrics_blocking(addr: SocketAddr) -> String {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect_timeout(&addr, PATIENCE)
        .unwrap_or_else(|e| panic!("connecting to {addr} for /metrics: {e}"));
    s.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    s.write_all(REQUEST).expect("sending GET /metrics");
    let mut answer = Vec::new();
    s.read_to_end(&mut answer)
        .expect("reading the /metrics answer");
    body(answer)
}

/// The body of a whole `/metrics` answer (the server sends it with a
/// `content-length`, never chunked).
fn body(answer: Vec<u8>) -> String {
    let text = String::from_utf8(answer).expect("/metrics answers UTF-8");
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no complete answer to GET /metrics: {text:?}"));
    assert!(
        head.starts_with("HTTP/1.1 200 "),
        "GET /metrics answered {head:?}"
    );
    body.to_owned()
}

/// Prometheus text → [`Metrics`] (comments and blank lines skipped).
pub fn parse_metrics(text: &str) -> Metrics {
    prometheus::samples(text)
        .map(|s| {
            let s = s.unwrap_or_else(|e| panic!("/metrics: {e}"));
            let labels: Vec<String> = s
                .labels()
                .map(|(n, v)| {
                    let v = v
                        .replace('\\', "\\\\")
                        .replace('"', "\\\"")
                        .replace('\n', "\\n");
                    format!("{n}=\"{v}\"")
                })
                .collect();
            let key = if labels.is_empty() {
                s.name.to_owned()
            } else {
                format!("{}{{{}}}", s.name, labels.join(","))
            };
            (key, s.value)
        })
        .collect()
}

/// `/metrics` at `addr`, parsed.
pub async fn metrics(addr: SocketAddr) -> Metrics {
    parse_metrics(&scrape_metrics(addr).await)
}

/// `name`, or `name{transport="t"}` with a transport; panics naming the key
/// when the server does not expose it.
pub fn metric(m: &Metrics, name: &str, transport: Option<&str>) -> f64 {
    let key = match transport {
        Some(t) => format!("{name}{{transport=\"{t}\"}}"),
        None => name.to_owned(),
    };
    *m.get(&key).unwrap_or_else(|| panic!("no metric {key}"))
}

/// Scrapes `/metrics` until `ok` holds (counters settle as sockets close
/// and tasks finish), and returns that scrape; panics naming `what` after
/// [`PATIENCE`].
pub async fn metrics_until(addr: SocketAddr, what: &str, ok: impl Fn(&Metrics) -> bool) -> Metrics {
    within(what, async {
        loop {
            let m = metrics(addr).await;
            if ok(&m) {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_labels_and_values() {
        let m = parse_metrics(
            "# TYPE pushpoll_last_seq gauge\npushpoll_last_seq 7\n\n\
             pushpoll_deliveries_total{transport=\"ws\"} 3\nprocess_cpu_seconds_total 0.25\n",
        );
        assert_eq!(metric(&m, "pushpoll_last_seq", None), 7.0);
        assert_eq!(metric(&m, "pushpoll_deliveries_total", Some("ws")), 3.0);
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn the_body_of_an_answer_is_what_follows_the_head() {
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\na 1\n".to_vec();
        assert_eq!(body(answer), "a 1\n");
    }
}

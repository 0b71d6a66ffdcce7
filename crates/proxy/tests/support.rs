//! The proxy's test kit: small upstreams with known behaviour, options
//! built as the command line would, and checks in virtual time.

#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use pushpoll_proxy::ProxyOpts;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, Instant};

pub const MS: Duration = Duration::from_millis(1);

/// An upstream that echoes every byte back.
pub async fn echo_server() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

/// Bytes an upstream received, with the (virtual) time of each read.
pub type Arrivals = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// An upstream that records what it reads and never answers.
pub async fn sink_server() -> (SocketAddr, Arrivals) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let got: Arrivals = Arc::default();
    let g = got.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let g = g.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    g.lock().unwrap().push((Instant::now(), buf[..n].to_vec()));
                }
            });
        }
    });
    (addr, got)
}

/// An upstream that writes `total` bytes to every connection as fast as it may.
pub async fn firehose_server(total: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let _ = s.write_all(&vec![7u8; total]).await;
            });
        }
    });
    addr
}

pub fn received(got: &Arrivals) -> usize {
    got.lock().unwrap().iter().map(|(_, b)| b.len()).sum()
}

/// Sleeps 1 ms (virtual) at a time until `cond` holds, at most `limit`.
pub async fn within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        sleep(MS).await;
    }
    cond()
}

pub fn proxy_opts(upstream: SocketAddr, args: &[&str]) -> ProxyOpts {
    let up = upstream.to_string();
    let mut v = vec!["proxy", "--upstream", &up];
    v.extend_from_slice(args);
    ProxyOpts::try_parse_from(v).expect("valid proxy options")
}

pub async fn round_trip(c: &mut TcpStream) -> Duration {
    let t = Instant::now();
    c.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
    t.elapsed()
}

/// A loopback address nothing listens on (its listener was bound, then
/// dropped): connections to it are refused.
pub fn dead_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// How a connection through a killing proxy fares on one more round trip.
#[derive(Debug, PartialEq, Eq)]
pub enum Fate {
    Alive,
    Reset,
    Closed,
}

pub async fn fate(c: &mut TcpStream) -> Fate {
    let mut b = [0u8; 4];
    if let Err(e) = c.write_all(b"ping").await {
        assert!(matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
        ));
        return Fate::Reset;
    }
    match c.read(&mut b).await {
        Ok(0) => Fate::Closed,
        Ok(n) => {
            c.read_exact(&mut b[n..]).await.unwrap();
            assert_eq!(&b, b"ping");
            Fate::Alive
        }
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Fate::Reset,
        Err(e) => panic!("unexpected error {e}"),
    }
}

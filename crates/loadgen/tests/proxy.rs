//! The network-conditions proxy, on a paused clock: delays, jitter and
//! bandwidth are checked in virtual time, so nothing here depends on how
//! fast the machine is.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use pushpoll_loadgen::proxy::{KillMode, Proxy, ProxyOpts};
use pushpoll_loadgen::LoadError;
use pushpoll_testkit::{dead_addr, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::{sleep, Instant};

const MS: Duration = Duration::from_millis(1);

/// An upstream that echoes every byte back.
async fn echo_server() -> SocketAddr {
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
type Arrivals = Arc<Mutex<Vec<(Instant, Vec<u8>)>>>;

/// An upstream that records what it reads and never answers.
async fn sink_server() -> (SocketAddr, Arrivals) {
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
async fn firehose_server(total: usize) -> SocketAddr {
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

fn received(got: &Arrivals) -> usize {
    got.lock().unwrap().iter().map(|(_, b)| b.len()).sum()
}

fn proxy_opts(upstream: SocketAddr, args: &[&str]) -> ProxyOpts {
    let up = upstream.to_string();
    let mut v = vec!["proxy", "--upstream", &up];
    v.extend_from_slice(args);
    ProxyOpts::try_parse_from(v).expect("valid proxy options")
}

async fn round_trip(c: &mut TcpStream) -> Duration {
    let t = Instant::now();
    c.write_all(b"ping").await.unwrap();
    let mut b = [0u8; 4];
    c.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"ping");
    t.elapsed()
}

#[tokio::test(start_paused = true)]
async fn a_round_trip_gains_two_delays_and_a_new_connection_one_more() {
    let proxy = Proxy::start(&proxy_opts(echo_server().await, &["--delay", "50"]))
        .await
        .unwrap();
    let d = 50 * MS;
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    // First exchange: TCP's handshake round trip, then there and back.
    let first = round_trip(&mut c).await;
    assert!(first >= 4 * d && first < 5 * d, "{first:?}");
    for _ in 0..3 {
        let rtt = round_trip(&mut c).await;
        assert!(rtt >= 2 * d && rtt < 3 * d, "{rtt:?}");
    }
    // Without a delay the proxy adds nothing (in virtual time).
    let plain = Proxy::start(&proxy_opts(echo_server().await, &[]))
        .await
        .unwrap();
    let mut c = TcpStream::connect(plain.addr()).await.unwrap();
    assert!(round_trip(&mut c).await < MS * 2);
    let stats = proxy.stop().await;
    assert_eq!(stats.connections, 1);
    assert_eq!(stats.bytes_up, 16);
    assert_eq!(stats.bytes_down, 16);
}

#[tokio::test(start_paused = true)]
async fn bytes_are_held_for_the_delay_and_not_longer() {
    let (sink, got) = sink_server().await;
    let proxy = Proxy::start(&proxy_opts(sink, &["--delay", "100"]))
        .await
        .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    // A new connection's first bytes wait for the handshake: 3 one-way delays.
    c.write_all(b"a").await.unwrap();
    sleep(299 * MS).await;
    assert_eq!(received(&got), 0, "delivered before the handshake's delay");
    assert!(eventually(10 * MS, || received(&got) == 1).await);
    // Then every chunk waits one delay.
    for (i, byte) in [b"b", b"c", b"d"].into_iter().enumerate() {
        c.write_all(byte).await.unwrap();
        sleep(99 * MS).await;
        assert_eq!(received(&got), i + 1, "delivered before the delay");
        assert!(eventually(10 * MS, || received(&got) == i + 2).await);
    }
}

#[tokio::test(start_paused = true)]
async fn jitter_never_reorders_bytes() {
    let (sink, got) = sink_server().await;
    let proxy = Proxy::start(&proxy_opts(sink, &["--delay", "20", "--jitter", "20"]))
        .await
        .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    // 500 numbered chunks 1 ms apart: each draws a delay in 0..40 ms, so
    // delaying them independently would reorder most of them.
    const N: u32 = 500;
    let mut sent_at = Vec::new();
    for i in 0..N {
        sent_at.push(Instant::now());
        c.write_all(&i.to_be_bytes()).await.unwrap();
        sleep(MS).await;
    }
    assert!(eventually(Duration::from_secs(1), || received(&got) == 4 * N as usize).await);
    let arrivals = got.lock().unwrap().clone();
    let bytes: Vec<u8> = arrivals.iter().flat_map(|(_, b)| b.clone()).collect();
    let numbers: Vec<u32> = bytes
        .chunks(4)
        .map(|b| u32::from_be_bytes(b.try_into().unwrap()))
        .collect();
    assert_eq!(numbers, (0..N).collect::<Vec<_>>(), "bytes were reordered");
    // And the jitter was real: the time each number spent in the proxy varies.
    let mut at = Vec::new();
    for (t, b) in &arrivals {
        at.extend(std::iter::repeat_n(*t, b.len() / 4));
    }
    let spent: Vec<Duration> = at.iter().zip(&sent_at).map(|(a, s)| *a - *s).collect();
    let steady = &spent[100..];
    let (lo, hi) = (steady.iter().min().unwrap(), steady.iter().max().unwrap());
    assert!(*hi - *lo >= 10 * MS, "no jitter: {lo:?}..{hi:?}");
    assert!(
        steady.iter().all(|d| *d <= 41 * MS),
        "held past delay + jitter"
    );
}

#[tokio::test(start_paused = true)]
async fn bandwidth_caps_each_direction_of_each_connection() {
    let (sink, got) = sink_server().await;
    let up = Proxy::start(&proxy_opts(sink, &["--bandwidth", "10000"]))
        .await
        .unwrap();
    let down = Proxy::start(&proxy_opts(
        firehose_server(1 << 20).await,
        &["--bandwidth", "10000"],
    ))
    .await
    .unwrap();
    let start = Instant::now();
    // Up: two connections writing 1 MiB each; down: one reading a firehose.
    let mut writers = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(up.addr()).await.unwrap();
        writers.push(tokio::spawn(async move {
            let _ = c.write_all(&vec![1u8; 1 << 20]).await;
            c
        }));
    }
    let read_down = Arc::new(AtomicU64::new(0));
    let r = read_down.clone();
    let mut c = TcpStream::connect(down.addr()).await.unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        while let Ok(n) = c.read(&mut buf).await {
            if n == 0 {
                break;
            }
            r.fetch_add(n as u64, Relaxed);
        }
    });
    tokio::time::sleep_until(start + Duration::from_secs(5)).await;
    // 5 s at 10,000 B/s in pieces of 100 B: at most 50,000 plus the first piece.
    let up_total = received(&got) as u64;
    assert!(
        (2 * 45_000..=2 * 50_100).contains(&up_total),
        "two connections, 5 s: {up_total}"
    );
    let down_total = read_down.load(Relaxed);
    assert!((45_000..=50_100).contains(&down_total), "{down_total}");
    assert_eq!(up.stats().bytes_up, up_total);
    assert_eq!(down.stats().bytes_down, down_total);
    drop(writers);
}

#[tokio::test(start_paused = true)]
async fn a_slow_release_pushes_back_instead_of_buffering() {
    let (sink, got) = sink_server().await;
    let cap = 64 << 10;
    let proxy = Proxy::start(&proxy_opts(
        sink,
        &["--delay", "100", "--buffer-bytes", &cap.to_string()],
    ))
    .await
    .unwrap();
    // More than the kernel's socket buffers can hold on both sides together.
    const TOTAL: usize = 32 << 20;
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    let writer = tokio::spawn(async move {
        c.write_all(&data).await.unwrap();
        c
    });
    // Before the first release nothing has left the proxy, the writer is
    // stuck, and the proxy holds no more than its cap.
    sleep(250 * MS).await;
    assert_eq!(received(&got), 0);
    assert!(!writer.is_finished(), "no back pressure");
    let peak = proxy.stats().peak_buffered_bytes;
    assert!(peak > 0 && peak <= cap as u64, "{peak}");
    // Then everything arrives, in order, never more than the cap held.
    assert!(eventually(Duration::from_secs(3600), || received(&got) == TOTAL).await);
    let _ = writer.await.unwrap();
    let all: Vec<u8> = got
        .lock()
        .unwrap()
        .iter()
        .flat_map(|(_, b)| b.clone())
        .collect();
    assert!(all.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
    assert!(proxy.stats().peak_buffered_bytes <= cap as u64);
}

/// How a connection through a killing proxy fares on one more round trip.
#[derive(Debug, PartialEq, Eq)]
enum Fate {
    Alive,
    Reset,
    Closed,
}

async fn fate(c: &mut TcpStream) -> Fate {
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

#[tokio::test(start_paused = true)]
async fn kill_mode_cuts_random_connections_a_bounded_number_of_times() {
    let echo = echo_server().await;
    for (mode, dead) in [("rst", Fate::Reset), ("close", Fate::Closed)] {
        let o = proxy_opts(
            echo,
            &[
                "--kill-every",
                "0.1",
                "--kill-max",
                "3",
                "--kill-mode",
                mode,
            ],
        );
        assert_eq!(
            o.kill_mode,
            if mode == "rst" {
                KillMode::Rst
            } else {
                KillMode::Close
            }
        );
        let proxy = Proxy::start(&o).await.unwrap();
        let mut conns = Vec::new();
        for _ in 0..8 {
            let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
            assert_eq!(fate(&mut c).await, Fate::Alive);
            conns.push(c);
        }
        assert!(eventually(Duration::from_secs(10), || proxy.stats().killed() == 3).await);
        // The bound holds however long the proxy runs.
        sleep(Duration::from_secs(5)).await;
        let stats = proxy.stats();
        assert_eq!(stats.killed(), 3, "{stats:?}");
        let (rst, close) = if mode == "rst" { (3, 0) } else { (0, 3) };
        assert_eq!((stats.killed_rst, stats.killed_close), (rst, close));
        let mut fates = Vec::new();
        for c in &mut conns {
            fates.push(fate(c).await);
        }
        assert_eq!(fates.iter().filter(|f| **f == dead).count(), 3, "{fates:?}");
        assert_eq!(fates.iter().filter(|f| **f == Fate::Alive).count(), 5);
        let stats = proxy.stop().await;
        assert_eq!(stats.connections, 8);
    }
}

#[tokio::test(start_paused = true)]
async fn kill_probability_zero_cuts_nothing() {
    let proxy = Proxy::start(&proxy_opts(
        echo_server().await,
        &["--kill-every", "0.1", "--kill-probability", "0"],
    ))
    .await
    .unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    sleep(Duration::from_secs(10)).await;
    assert_eq!(fate(&mut c).await, Fate::Alive);
    assert_eq!(proxy.stats().killed(), 0);
}

#[tokio::test(start_paused = true)]
async fn unreachable_upstreams_and_a_full_proxy_are_counted() {
    // Nothing listens on a port whose listener was dropped.
    let dead = dead_addr();
    let proxy = Proxy::start(&proxy_opts(dead, &[])).await.unwrap();
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(fate(&mut c).await, Fate::Reset);
    assert_eq!(proxy.stats().upstream_failures, 1);
    assert_eq!(proxy.stats().connections, 0);

    let proxy = Proxy::start(&proxy_opts(
        echo_server().await,
        &["--max-connections", "2"],
    ))
    .await
    .unwrap();
    let mut a = TcpStream::connect(proxy.addr()).await.unwrap();
    let mut b = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_eq!(fate(&mut a).await, Fate::Alive);
    assert_eq!(fate(&mut b).await, Fate::Alive);
    let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
    assert_ne!(fate(&mut c).await, Fate::Alive);
    let s = proxy.stats();
    assert_eq!((s.connections, s.open, s.refused), (2, 2, 1));
}

#[tokio::test]
async fn bad_options_are_refused_by_name() {
    let up = "127.0.0.1:9";
    for (args, option) in [
        (&["--delay=-1"][..], "delay"),
        (&["--jitter", "NaN"], "jitter"),
        (&["--bandwidth", "0"], "bandwidth"),
        (&["--kill-every", "0"], "kill-every"),
        (
            &["--kill-every", "1", "--kill-probability", "1.5"],
            "kill-probability",
        ),
        (&["--buffer-bytes", "0"], "buffer-bytes"),
        (&["--max-connections", "0"], "max-connections"),
    ] {
        let mut v = vec!["proxy", "--upstream", up];
        v.extend_from_slice(args);
        let o = ProxyOpts::try_parse_from(v).unwrap();
        match Proxy::start(&o).await {
            Err(LoadError::InvalidOption { option: o, .. }) => assert_eq!(o, option),
            other => panic!("{args:?}: {other:?}"),
        }
    }
    let o = ProxyOpts::try_parse_from(["proxy", "--upstream", "no port"]).unwrap();
    assert!(matches!(
        Proxy::start(&o).await,
        Err(LoadError::Resolve {
            option: "upstream",
            ..
        })
    ));
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut o = ProxyOpts::to("127.0.0.1:9".parse().unwrap());
    o.listen = taken.local_addr().unwrap().to_string();
    assert!(matches!(
        Proxy::start(&o).await,
        Err(LoadError::Listen { .. })
    ));
}

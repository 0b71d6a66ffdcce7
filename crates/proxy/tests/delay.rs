//! Delay and jitter, on a paused clock: checked in virtual time, so
//! nothing here depends on how fast the machine is.

use std::time::Duration;

use pushpoll_proxy::Proxy;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant};

use crate::support::*;

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
    assert!(within(10 * MS, || received(&got) == 1).await);
    // Then every chunk waits one delay.
    for (i, byte) in [b"b", b"c", b"d"].into_iter().enumerate() {
        c.write_all(byte).await.unwrap();
        sleep(99 * MS).await;
        assert_eq!(received(&got), i + 1, "delivered before the delay");
        assert!(within(10 * MS, || received(&got) == i + 2).await);
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
    assert!(within(Duration::from_secs(1), || received(&got) == 4 * N as usize).await);
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

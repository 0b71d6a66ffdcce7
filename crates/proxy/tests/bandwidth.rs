//! The bandwidth cap and the bounded buffer, on a paused clock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use pushpoll_proxy::Proxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, Instant};

use crate::support::*;

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
    assert!(within(Duration::from_secs(3600), || received(&got) == TOTAL).await);
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

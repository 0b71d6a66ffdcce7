//! The fault mode and the proxy's own failures (an unreachable upstream,
//! a full proxy), on a paused clock.

use std::time::Duration;

use pushpoll_proxy::{KillMode, Proxy};
use tokio::net::TcpStream;
use tokio::time::sleep;

use crate::support::*;

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
        assert!(within(Duration::from_secs(10), || proxy.stats().killed() == 3).await);
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

//! Small known-good (and known-bad) servers for the generator to measure.

#![allow(dead_code)]

pub mod engineio;
pub mod http_hub;
pub mod ws_relay;

use std::sync::Arc;
use std::time::Duration;

use pushpoll_loadgen::LoadOpts;

/// A loopback address nothing listens on (its listener was bound, then
/// dropped): connections to it are refused.
pub fn dead_addr() -> std::net::SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// Builds options the way `pushpoll load` would parse them.
pub fn opts(args: &[&str]) -> LoadOpts {
    use clap::Parser as _;
    let mut v = vec!["pushpoll-load"];
    v.extend_from_slice(args);
    LoadOpts::try_parse_from(v).expect("valid test options")
}

/// A future that never resolves: no Ctrl-C.
pub async fn never() {
    std::future::pending::<()>().await
}

/// Polls `cond` every few ms for at most `limit`; true when it held.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// Bytes a server read from and wrote to one connection.
pub type ByteCount = pushpoll_netio::ByteCounts;

/// The server side's own counting stream: the same one the generator uses
/// (netio's), with its own counter.
pub type Counting<S> = pushpoll_netio::Counted<S, Arc<ByteCount>>;

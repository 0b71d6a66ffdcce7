//! Small known-good (and known-bad) servers for the generator to measure,
//! and how the tests build its options. What every package's tests share
//! (pushpoll's own server, PKI, bounded waits) is `pushpoll_testkit`.

#![allow(dead_code)]

pub mod engineio;
pub mod http_hub;
pub mod sockjs;
pub mod ws_relay;

use pushpoll_loadgen::LoadOpts;

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

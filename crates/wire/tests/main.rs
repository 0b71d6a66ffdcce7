//! Property tests of pushpoll-wire: every decoder here reads bytes that come
//! off the network, so each is fed arbitrary input and must never panic, and
//! every encoder/decoder pair must round-trip.
//!
//! Cases per property: 64 by default, so `cargo test` stays fast; set
//! `PROPTEST_CASES` for a longer run (`scripts/fuzz-smoke.sh` uses 5000).
//! A failing case is shrunk and saved under `crates/wire/proptest-regressions/`
//! (commit it: it is replayed first on every later run).

mod engineio;
mod frame;
mod marker;
mod poll;
mod prometheus;
mod query;
mod sse;

use proptest::test_runner::Config;

/// The proptest configuration every property uses: `PROPTEST_CASES` when
/// set, else a modest default.
pub fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = 64;
    }
    config
}

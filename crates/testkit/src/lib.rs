//! The test kit every pushpoll package's tests share (a dev-dependency
//! only): instead of each test file starting the server, making
//! certificates or polling a condition its own way, they all use these.
//!
//! Map of the crate:
//! - [`server`]: [`TestServer`], pushpoll's server on `127.0.0.1:0`, as a
//!   task of the test's runtime or on a thread of its own.
//! - [`pki`]: [`make_pki`], a private CA and a server certificate it signs;
//!   [`TempFile`] for files a test hands to the code under test.
//! - [`net`]: [`dead_addr`], the byte-counting [`Counted`] socket,
//!   [`read_to_close`].
//! - [`metrics`]: [`scrape_metrics`] (`GET /metrics` over plain TCP),
//!   [`parse_metrics`], [`metrics_until`].
//! - [`wait`]: [`within`] and [`eventually`], the bounded waits.
//!
//! Every helper panics when the scaffolding fails (a socket, a deadline):
//! a test kit has no caller that could handle the error better.
#![warn(missing_docs)]

pub mod metrics;
pub mod net;
pub mod pki;
pub mod server;
pub mod wait;

pub use metrics::{
    metric, metrics, metrics_until, parse_metrics, scrape_metrics, scrape_metrics_blocking, Metrics,
};
pub use net::{counted, dead_addr, read_to_close, read_until_closed, Counted, Counts};
pub use pki::{make_pki, make_pki_for, Pki, TempFile};
pub use server::TestServer;
pub use wait::{eventually, within, within_for, PATIENCE};

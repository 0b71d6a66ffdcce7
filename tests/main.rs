//! End-to-end tests of the `pushpoll` binary's library: the in-process server,
//! the load generator over every transport, the JSON document and its schema.

mod compare;
mod load;
mod scenario;
mod slo;
mod storm;
mod workers;

/// Progress for tests: plain lines to stderr (captured by the test harness).
fn quiet() -> pushpoll::progress::View {
    pushpoll::progress::View::new(0)
}

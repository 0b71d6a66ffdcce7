//! Bounded waits: tests assert outcomes, never durations, but a test that
//! waits must not hang forever when the outcome never comes.

use std::future::Future;
use std::time::Duration;

/// How long [`within`] waits: far more than anything a passing test waits
/// for, even on a loaded machine.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Awaits `f`, or panics after [`PATIENCE`] naming `what` (the thing that
/// never came, as in "timed out waiting for {what}").
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    // Not `within_for(PATIENCE, ..)`: every async layer keeps its own copy
    // of `f`, and tests nest `within` deep enough (futures with read
    // buffers inside) that debug builds overflow a test thread's stack.
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// [`within`] with a limit of the caller's choosing: paused-clock tests
/// hold for minutes of virtual time, which costs no real time.
pub async fn within_for<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, f)
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// Checks `cond` every millisecond (of the runtime's clock, so a paused
/// clock steps too) for at most `limit`; true as soon as it holds, false
/// if it still does not at the end. For state a test can only look at,
/// such as counters other tasks update.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < end {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    cond()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn eventually_sees_a_condition_that_comes_true_in_time() {
        let start = tokio::time::Instant::now();
        let ready = move || start.elapsed() >= Duration::from_millis(50);
        assert!(eventually(Duration::from_millis(100), ready).await);
        assert!(!eventually(Duration::from_millis(10), || false).await);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "timed out waiting for the answer")]
    async fn within_names_what_never_came() {
        within("the answer", std::future::pending::<()>()).await;
    }
}

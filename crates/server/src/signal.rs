//! A one-way, server-wide signal (shutdown, abort) that every connection
//! task waits on, at no cost per wake.
//!
//! A `CancellationToken` takes two mutexes each time a waiting future is
//! polled (its tree node's, to read the flag, and its `Notify`'s, to renew
//! the waker), and a task polls every branch of its `select!` on every wake:
//! at one message a second to 19,000 WebSockets that was about 5 % of the
//! server's CPU (issue #18), and a child token per connection is a tree node
//! on the heap. Here the flag is an atomic, a future registers its waker
//! once (the only lock it takes), and a later poll with the same waker is an
//! atomic load and a pointer compare.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;

/// Raised once, never lowered; see the [module docs](self).
#[derive(Debug, Default)]
pub(crate) struct Signal {
    raised: AtomicBool,
    notify: Notify,
}

impl Signal {
    /// Raises the signal and wakes every future waiting on it.
    pub(crate) fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether [`raise`](Self::raise) was called.
    pub(crate) fn is_raised(&self) -> bool {
        self.raised.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is raised (at once if it already is).
    pub(crate) fn raised(&self) -> Raised<'_> {
        Raised {
            // Created before the flag is first read (in `poll`), so a raise
            // in between is seen by one or the other.
            notified: self.notify.notified(),
            signal: self,
            registered: None,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Signal::raised`].
    pub(crate) struct Raised<'a> {
        #[pin]
        notified: Notified<'a>,
        signal: &'a Signal,
        // The waker the `Notify` holds for this future, once registered.
        registered: Option<Waker>,
    }
}

impl Future for Raised<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.project();
        if this.signal.is_raised() {
            return Poll::Ready(());
        }
        if this
            .registered
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            // Registered with this very waker: `raise` will wake it.
            return Poll::Pending;
        }
        if this.notified.poll(cx).is_ready() {
            return Poll::Ready(());
        }
        *this.registered = Some(cx.waker().clone());
        if this.signal.is_raised() {
            return Poll::Ready(());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn wakes_every_waiter_and_resolves_at_once_after() {
        let signal = Arc::new(Signal::default());
        let waiters: Vec<_> = (0..8)
            .map(|_| {
                let s = Arc::clone(&signal);
                tokio::spawn(async move { s.raised().await })
            })
            .collect();
        tokio::task::yield_now().await;
        assert!(!signal.is_raised());
        signal.raise();
        for w in waiters {
            tokio::time::timeout(Duration::from_secs(10), w)
                .await
                .expect("every waiter wakes")
                .expect("no waiter panics");
        }
        assert!(signal.is_raised());
        signal.raised().await;
    }

    #[tokio::test]
    async fn a_future_polled_many_times_before_the_raise_still_wakes() {
        let signal = Arc::new(Signal::default());
        let s = Arc::clone(&signal);
        let waiter = tokio::spawn(async move {
            let raised = s.raised();
            tokio::pin!(raised);
            let mut polls = 0u32;
            loop {
                tokio::select! {
                    biased;
                    () = &mut raised => return polls,
                    () = tokio::task::yield_now() => polls += 1,
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        signal.raise();
        let polls = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("the waiter wakes")
            .expect("it does not panic");
        assert!(polls > 0, "polled again before the raise");
    }
}

//! Runs a session's two halves until either ends, polling the receive half
//! only when it was woken.
//!
//! With `select!` every message to send also polled the reader (about a
//! sixth of the instructions a delivery cost, scripts/callgrind-fanout.sh).
//! `FuturesUnordered` gave each half its own waker, for four 80-byte
//! allocations and two boxes per idle WebSocket. Here both halves stay in
//! the session's own future: the send half is polled on every wake of the
//! task (it is what deliveries wake), the receive half only when its own
//! waker fired (frames from clients are rare), and before the send half;
//! one small shared flag tells them apart.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

/// The receive half's waker: marks it woken, then wakes the task.
pub(super) struct ReceiveWake {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for ReceiveWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// Polls `send` and `receive` until one of them ends; resolves to its
/// output. (A future of its own rather than an `async fn`: an `async fn`
/// keeps its arguments in its state, and pinning them would hold both
/// halves twice.)
pub(super) fn first_of<T, S, R>(send: S, receive: R) -> FirstOf<S, R>
where
    S: Future<Output = T>,
    R: Future<Output = T>,
{
    let wake = Arc::new(ReceiveWake {
        // Polled once at the start, as any future must be.
        woken: AtomicBool::new(true),
        task: AtomicWaker::new(),
    });
    FirstOf {
        send,
        receive,
        wake,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`first_of`].
    pub(super) struct FirstOf<S, R> {
        #[pin]
        send: S,
        #[pin]
        receive: R,
        // (The receive half's `Waker` is made from it when needed rather
        // than kept: the session's state is what an idle socket holds.)
        wake: Arc<ReceiveWake>,
    }
}

impl<T, S, R> Future for FirstOf<S, R>
where
    S: Future<Output = T>,
    R: Future<Output = T>,
{
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.project();
        this.wake.task.register(cx.waker());
        // The receive half first: what it asks of the send half (a Ping) is
        // then seen in the same poll.
        if this.wake.woken.swap(false, Ordering::AcqRel) {
            let waker = Waker::from(Arc::clone(this.wake));
            let mut rcx = Context::from_waker(&waker);
            if let Poll::Ready(out) = this.receive.poll(&mut rcx) {
                return Poll::Ready(out);
            }
        }
        this.send.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_receive_half_is_polled_only_when_woken() {
        let polls = AtomicU32::new(0);
        let sends = 5;
        let (to_send, mut sent) = tokio::sync::mpsc::unbounded_channel::<()>();
        let (to_receive, mut received) = tokio::sync::oneshot::channel::<&str>();
        let send = async {
            for _ in 0..sends {
                sent.recv().await.expect("the driver sends");
            }
            std::future::pending::<&str>().await
        };
        let receive = std::future::poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            Pin::new(&mut received)
                .poll(cx)
                .map(|r| r.expect("the driver sends"))
        });
        let driver = async {
            for _ in 0..sends {
                tokio::task::yield_now().await;
                to_send.send(()).expect("the send half listens");
            }
            tokio::task::yield_now().await;
            to_receive
                .send("received")
                .expect("the receive half listens");
            std::future::pending::<()>().await;
        };
        let out = tokio::time::timeout(Duration::from_secs(10), async {
            tokio::select! {
                out = first_of(send, receive) => out,
                () = driver => unreachable!("the driver never ends"),
            }
        })
        .await
        .expect("the receive half ends");
        assert_eq!(out, "received");
        assert_eq!(
            polls.load(Ordering::Relaxed),
            2,
            "polled once at the start and once when woken, not on the {sends} sends"
        );
    }
}

//! The delay line: one direction of one connection, holding each chunk
//! until its release time (`--delay ± --jitter`, never reordering), within
//! a bounded buffer (`--buffer-bytes`), written through the [`Pacer`].

use std::io;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::{sleep_until, Instant};

use crate::config::Config;
use crate::pacer::{Pacer, CHUNK};

/// Bytes read in one direction, waiting for their release time. `data:
/// None` is the reader's end of stream (FIN).
struct Chunk {
    release: Instant,
    data: Option<Bytes>,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One direction of a connection: reads from `from`, holds each chunk
/// until its release time (never before `floor`), writes it to `to` at the
/// allowed rate, adding what it wrote to `written` and the most it held to
/// `peak`. Ends when the end of stream has been passed on, or at the first
/// error.
pub(crate) async fn pump<R, W>(
    cfg: &Config,
    mut from: R,
    mut to: W,
    floor: Instant,
    written: &AtomicU64,
    peak: &AtomicU64,
) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let cap = cfg.buffer;
    let budget = Arc::new(Semaphore::new(cap));
    let (tx, mut rx) = mpsc::unbounded_channel::<Chunk>();
    let read = async {
        let mut buf = vec![0u8; CHUNK.min(cap)];
        let mut prev = floor;
        loop {
            let n = from.read(&mut buf).await?;
            let release = prev.max(Instant::now() + jittered(cfg.delay, cfg.jitter));
            prev = release;
            if n == 0 {
                let _ = tx.send(Chunk {
                    release,
                    data: None,
                    _permit: None,
                });
                return Ok::<_, io::Error>(());
            }
            // Past the cap, stop reading until the writer catches up.
            let permit = budget
                .clone()
                .acquire_many_owned(n as u32)
                .await
                .expect("the budget is never closed");
            let held = (cap - budget.available_permits()) as u64;
            peak.fetch_max(held, Relaxed);
            let chunk = Chunk {
                release,
                data: Some(Bytes::copy_from_slice(&buf[..n])),
                _permit: Some(permit),
            };
            if tx.send(chunk).is_err() {
                return Ok(());
            }
        }
    };
    let write = async {
        let mut pacer = Pacer::new(cfg.bandwidth);
        while let Some(chunk) = rx.recv().await {
            sleep_until(chunk.release).await;
            let Some(data) = chunk.data else {
                to.shutdown().await?;
                return Ok(());
            };
            for piece in data.chunks(pacer.piece) {
                pacer.wait(piece.len()).await;
                to.write_all(piece).await?;
                written.fetch_add(piece.len() as u64, Relaxed);
            }
        }
        Ok(())
    };
    tokio::try_join!(read, write).map(|_| ())
}

/// `delay` plus a uniform draw in `±jitter`, never below zero.
fn jittered(delay: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let s = delay.as_secs_f64() + jitter.as_secs_f64() * (2.0 * rand::random::<f64>() - 1.0);
    Duration::from_secs_f64(s.max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_its_bounds_and_varies() {
        let d = Duration::from_millis(20);
        let j = Duration::from_millis(10);
        let draws: Vec<Duration> = (0..1000).map(|_| jittered(d, j)).collect();
        assert!(draws.iter().all(|x| *x >= d - j && *x <= d + j));
        assert!(draws.iter().any(|x| *x < d - j / 2));
        assert!(draws.iter().any(|x| *x > d + j / 2));
        // Jitter larger than the delay never makes a negative delay.
        assert!((0..100).all(|_| jittered(Duration::ZERO, j) <= j));
        assert_eq!(jittered(d, Duration::ZERO), d);
    }
}

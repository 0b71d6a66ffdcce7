//! The bandwidth cap (`--bandwidth`): a pacer each direction of each
//! connection writes through.

use std::time::Duration;

use tokio::time::{sleep_until, Instant};

/// Largest chunk read or written at once (reads take less when
/// `--buffer-bytes` is smaller).
pub(crate) const CHUNK: usize = 16 << 10;
/// Pieces the bandwidth pacer writes per second at most (bigger pieces at
/// higher rates keep the timer cost bounded).
const PIECES_PER_S: u64 = 100;

/// Paces writes to a byte rate: a token bucket that holds one piece, so
/// by time `T` at most `rate × T + piece` bytes have gone out.
pub(crate) struct Pacer {
    rate: Option<u64>,
    /// Largest write.
    pub piece: usize,
    /// When the next piece may go.
    next: Instant,
}

impl Pacer {
    pub(crate) fn new(rate: Option<u64>) -> Pacer {
        let piece = match rate {
            None => CHUNK,
            Some(r) => (r / PIECES_PER_S).clamp(1, CHUNK as u64) as usize,
        };
        Pacer {
            rate,
            piece,
            next: Instant::now(),
        }
    }

    /// Waits until `n` more bytes may go.
    pub(crate) async fn wait(&mut self, n: usize) {
        let Some(rate) = self.rate else { return };
        let now = Instant::now();
        if self.next < now {
            self.next = now;
        }
        sleep_until(self.next).await;
        self.next += Duration::from_secs_f64(n as f64 / rate as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_pacer_keeps_to_its_rate() {
        let mut p = Pacer::new(Some(1000));
        assert_eq!(p.piece, 10);
        let start = Instant::now();
        let mut sent = 0;
        while Instant::now() - start < Duration::from_secs(3) {
            p.wait(p.piece).await;
            sent += p.piece;
        }
        // 3 s at 1,000 B/s, plus the piece that may go at the very start.
        assert!((3000..=3010).contains(&sent), "{sent}");
        let mut unlimited = Pacer::new(None);
        unlimited.wait(1 << 20).await;
        assert_eq!(unlimited.piece, CHUNK);
    }
}

//! One proxied connection, from accept to close: connect upstream, run
//! the two delay lines, and end both sides the way the first one ended
//! (or the way a fault says).

use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Config;
use crate::delay::pump;
use crate::fault::{arm_reset, count_cut, Cut, Victims};
use crate::stats::Counters;

/// Time to connect to the upstream before the client is reset.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the accept loop and every connection share.
pub(crate) struct Shared {
    pub cfg: Config,
    pub counters: Counters,
    pub victims: Victims,
}

/// One proxied connection, from accept to close.
pub(crate) async fn connection(
    shared: Arc<Shared>,
    id: u64,
    mut client: TcpStream,
    mut cut: oneshot::Receiver<Cut>,
) {
    let accepted = Instant::now();
    let cfg = &shared.cfg;
    let counters = &shared.counters;
    let upstream = tokio::select! {
        biased;
        c = &mut cut => Err(c.ok()),
        r = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(cfg.upstream)) => match r {
            Ok(Ok(s)) => Ok(s),
            _ => Err(None),
        },
    };
    let mut upstream = match upstream {
        Ok(s) => s,
        Err(c) => {
            match c {
                Some(c) => count_cut(counters, c),
                None => {
                    counters.upstream_failures.fetch_add(1, Relaxed);
                }
            }
            // An unreachable upstream looks like a refused connection.
            if c != Some(Cut::Close) {
                arm_reset(&client);
            }
            finish(&shared, id);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    counters.connections.fetch_add(1, Relaxed);

    let outcome = {
        let (cr, cw) = client.split();
        let (ur, uw) = upstream.split();
        // TCP's handshake costs a round trip before the first data.
        let handshake = accepted + cfg.delay * 3;
        let peak = &counters.peak_buffered;
        let up = pump(cfg, cr, uw, handshake, &counters.bytes_up, peak);
        let down = pump(cfg, ur, cw, accepted, &counters.bytes_down, peak);
        tokio::select! {
            biased;
            Ok(c) = &mut cut => {
                count_cut(counters, c);
                Some(c)
            }
            r = async { tokio::try_join!(up, down) } => match r {
                Ok(_) => None,
                // A reset travels on as a reset, any other failure as a close.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Some(Cut::Rst),
                Err(_) => Some(Cut::Close),
            },
        }
    };
    if outcome == Some(Cut::Rst) {
        arm_reset(&client);
        arm_reset(&upstream);
    }
    finish(&shared, id);
}

/// A connection is gone: no longer a victim, no longer open.
fn finish(shared: &Shared, id: u64) {
    shared.victims.remove(id);
    shared.counters.open.fetch_sub(1, Relaxed);
}

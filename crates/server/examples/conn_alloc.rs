//! Where a connection's heap goes: the server, behind an allocator that
//! counts live blocks by size, so that the blocks an idle connection holds
//! can be listed (`scripts/conn-cost.sh` measures RSS; this names what makes
//! it up).
//!
//! ```text
//! cargo build --release -p pushpoll-server --example conn_alloc
//! target/release/examples/conn_alloc      # prints "listening PORT"
//! ```
//! Then: a line on stdin takes the "before" snapshot; open N connections
//! with another process (`pushpoll load --idle 120 ...`); a second line
//! prints the live blocks added since, by size (bytes, count), and the total
//! per connection when the line holds N. EOF stops the server.
//!
//! Limits: blocks up to 64 KiB are counted by exact size, larger ones in one
//! bucket; listens on 127.0.0.1 only.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead as _;
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};

/// Sizes counted exactly; larger blocks share the last bucket.
const EXACT: usize = 64 << 10;

struct Counting;

static LIVE: [AtomicI64; EXACT + 1] = [const { AtomicI64::new(0) }; EXACT + 1];

fn bucket(size: usize) -> usize {
    size.min(EXACT)
}

// SAFETY: every call is forwarded to `System` unchanged; the counters
// are only bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE[bucket(layout.size())].fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE[bucket(layout.size())].fetch_sub(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE[bucket(layout.size())].fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE[bucket(layout.size())].fetch_sub(1, Relaxed);
        LIVE[bucket(new_size)].fetch_add(1, Relaxed);
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn snapshot() -> Vec<i64> {
    LIVE.iter().map(|c| c.load(Relaxed)).collect()
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("binding 127.0.0.1:0");
    let port = listener.local_addr().expect("a bound address").port();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = runtime.spawn(pushpoll_server::run(
        listener,
        pushpoll_server::Config::default(),
        async move {
            let _ = stop_rx.await;
        },
    ));
    println!("listening {port}");
    let mut before = snapshot();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let now = snapshot();
        if line.trim().is_empty() {
            before = now;
            println!("snapshot taken");
            continue;
        }
        let n: i64 = line.trim().parse().unwrap_or(1).max(1);
        let mut total = 0i64;
        for (size, (a, b)) in before.iter().zip(&now).enumerate() {
            let d = b - a;
            if d.abs() >= n / 2 {
                println!(
                    "{size:>6} B x {d:>7}  ({:.2} per connection)",
                    d as f64 / n as f64
                );
            }
            total += d * size as i64;
        }
        println!(
            "live bytes added: {total} ({:.1} per connection)",
            total as f64 / n as f64
        );
    }
    let _ = stop_tx.send(());
    let _ = runtime.block_on(server);
}

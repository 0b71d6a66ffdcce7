//! Where a subscriber's heap goes: the generator, behind an allocator that
//! counts live blocks by size, so that the blocks an idle subscriber holds
//! can be listed (`scripts/idle-memory.sh` measures RSS; this names what
//! makes it up). The generator's counterpart of the server's
//! `crates/server/examples/conn_alloc.rs`.
//!
//! ```text
//! cargo build --release -p pushpoll-loadgen --example sub_alloc
//! target/release/pushpoll serve --addr 127.0.0.1:8080 --long-poll-max 120 &
//! target/release/examples/sub_alloc --url ws://127.0.0.1:8080/ws --transport ws \
//!     --subscribers 1000 --idle 120 --publish-url http://127.0.0.1:8080/messages \
//!     --rate 1 --duration 1
//! ```
//! The arguments are `pushpoll load`'s. A snapshot of the live blocks is
//! taken when the ramp-up starts; once the idle window has gone on for two
//! seconds (every subscriber connected), the blocks added since are
//! printed by size (bytes, count, per subscriber), with the live bytes per
//! subscriber, and the run is stopped. Subscribers not all ready when the
//! idle window started, and the run's errors, are said on stderr (a
//! listing with either is not one of idle subscribers).
//!
//! Limits: blocks up to 64 KiB are counted by exact size, larger ones in one
//! bucket; sizes are what was asked for (the allocator's size classes and
//! untouched pages are not seen: RSS is the script's).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicI64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Parser as _;
use pushpoll_loadgen::{Hooks, LoadOpts, Phase, Progress};

/// Sizes counted exactly; larger blocks share the last bucket.
const EXACT: usize = 64 << 10;
/// How long the idle window runs before the second snapshot.
const SETTLE: Duration = Duration::from_secs(2);

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

/// Prints the blocks added between `before` and now, per subscriber.
fn report(before: &[i64], n: u64) {
    let now = snapshot();
    let n = n.max(1) as i64;
    let mut total = 0i64;
    for (size, (a, b)) in before.iter().zip(&now).enumerate() {
        let d = b - a;
        if d.abs() >= n / 2 {
            println!(
                "{size:>6} B x {d:>7}  ({:.2} per subscriber)",
                d as f64 / n as f64
            );
        }
        total += d * size as i64;
    }
    println!(
        "live bytes added: {total} ({:.1} per subscriber)",
        total as f64 / n as f64
    );
}

/// Where the measurement stands, moved on by the progress hook.
#[derive(Default)]
struct Watch {
    before: Option<Vec<i64>>,
    done: bool,
}

fn main() -> std::process::ExitCode {
    let mut args: Vec<String> = vec!["load".into()];
    args.extend(std::env::args().skip(1));
    let opts = match LoadOpts::try_parse_from(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let want = opts.subscribers as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let stop = tokio_util::sync::CancellationToken::new();
    let watch = Arc::new(Mutex::new(Watch::default()));
    let hooks = Hooks {
        progress: Some({
            let (watch, stop) = (watch.clone(), stop.clone());
            Arc::new(move |p: &Progress| {
                let mut w = watch.lock().unwrap_or_else(|e| e.into_inner());
                if w.done {
                    return;
                }
                match p.phase {
                    Phase::Connecting if w.before.is_none() => w.before = Some(snapshot()),
                    Phase::Connecting => {}
                    _ => {
                        // The idle window is reported once, when it starts:
                        // the second snapshot is taken on a thread of its own.
                        w.done = true;
                        let before = w.before.take().unwrap_or_else(snapshot);
                        let (ready, stop) = (p.subscribers_ready, stop.clone());
                        if p.phase != Phase::Idle || ready != want {
                            eprintln!("{:?} with {ready} of {want} subscribers ready", p.phase);
                        }
                        std::thread::spawn(move || {
                            std::thread::sleep(SETTLE);
                            report(&before, want);
                            stop.cancel();
                        });
                    }
                }
            })
        }),
        ..Hooks::default()
    };
    match runtime.block_on(pushpoll_loadgen::run(
        &opts,
        hooks,
        stop.clone().cancelled_owned(),
    )) {
        Ok(result) => {
            if !result.errors.is_empty() {
                eprintln!("errors: {:?}", result.errors);
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

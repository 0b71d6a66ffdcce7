//! Fan-out cost in countable units, for `scripts/callgrind-fanout.sh`:
//! instructions (under callgrind) and heap allocations (counted here) per
//! delivered message. Times vary from run to run on a shared machine;
//! instruction and allocation counts barely do.
//!
//! ```text
//! fanout_profile hub SUBSCRIBERS MESSAGES
//!     in memory: publish, then every subscriber's cursor takes the message
//!     (the criterion `fanout` workload, without criterion)
//! fanout_profile serve
//!     the real server on 127.0.0.1:0, one runtime worker; prints
//!     `listening PORT`, serves until stdin closes, then prints its
//!     allocation totals
//! fanout_profile drive PORT SUBSCRIBERS MESSAGES paced|burst
//!     SUBSCRIBERS plain WebSocket clients, plus one publisher connection
//!     (the server sends it every message too); `paced` publishes one
//!     message at a time and waits until every connection has it (one frame
//!     per write), `burst` publishes all of them at once (the server's
//!     batching at work)
//! ```
//!
//! Setup (connections, handshakes, runtime start) costs the same whatever
//! MESSAGES is, so the script runs each case with two message counts and
//! divides the difference by the difference in deliveries.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Read as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use pushpoll_server::hub::Hub;
use pushpoll_wire::Kind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// The system allocator, counting.
struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(layout.size() as u64, Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        ALLOC_BYTES.fetch_add(new_size as u64, Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Payload of every message: 64 bytes of text, as in the benches.
const PAYLOAD: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> u64 {
        args.get(i)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| usage())
    };
    match args.first().map(String::as_str) {
        Some("hub") => hub(num(1) as usize, num(2)),
        Some("serve") => serve(),
        Some("drive") => {
            let burst = match args.get(4).map(String::as_str) {
                Some("paced") => false,
                Some("burst") => true,
                _ => usage(),
            };
            drive(num(1) as u16, num(2) as usize, num(3), burst)
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: fanout_profile hub SUBSCRIBERS MESSAGES | serve | drive PORT SUBSCRIBERS MESSAGES paced|burst"
    );
    std::process::exit(2)
}

fn hub(subscribers: usize, messages: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let _guard = rt.enter();
    let hub = Hub::new(1024);
    let mut subs: Vec<_> = (0..subscribers).map(|_| hub.subscribe(None)).collect();
    let payload = Bytes::from(vec![b'x'; PAYLOAD]);
    let mut out = Vec::with_capacity(16);
    let (a0, b0) = (ALLOCS.load(Relaxed), ALLOC_BYTES.load(Relaxed));
    let mut delivered = 0u64;
    for _ in 0..messages {
        hub.publish(Kind::Text, payload.clone());
        for s in subs.iter_mut() {
            out.clear();
            s.try_recv(&mut out, 16);
            delivered += out.len() as u64;
        }
    }
    let (a, b) = (ALLOCS.load(Relaxed) - a0, ALLOC_BYTES.load(Relaxed) - b0);
    println!("deliveries {delivered} allocations {a} bytes {b}");
}

fn serve() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        println!(
            "listening {}",
            listener.local_addr().expect("address").port()
        );
        let stop = Arc::new(Notify::new());
        let notify = stop.clone();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_to_end(&mut Vec::new());
            notify.notify_one();
        });
        let shutdown = async move { stop.notified().await };
        pushpoll_server::run(listener, pushpoll_server::Config::default(), shutdown)
            .await
            .expect("server");
    });
    println!(
        "allocations {} bytes {}",
        ALLOCS.load(Relaxed),
        ALLOC_BYTES.load(Relaxed)
    );
}

/// Opens a plain WebSocket on `/ws` and reads the `101` head.
async fn connect(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let req = format!(
        "GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.expect("handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).await.expect("101");
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "no 101");
    s
}

fn drive(port: u16, subscribers: usize, messages: u64, burst: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        // A server text frame of PAYLOAD bytes: 2 header bytes.
        let frame_len = (PAYLOAD + 2) as u64;
        let received = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(Notify::new());
        let publisher = connect(port).await;
        let mut readers = Vec::new();
        let mut conns = Vec::new();
        for _ in 0..subscribers {
            conns.push(connect(port).await);
        }
        let (pub_read, mut pub_write) = publisher.into_split();
        let mut all_reads: Vec<tokio::net::tcp::OwnedReadHalf> = vec![pub_read];
        let mut keep = Vec::new();
        for c in conns {
            let (r, w) = c.into_split();
            all_reads.push(r);
            keep.push(w);
        }
        for mut r in all_reads {
            let (received, progress) = (received.clone(), progress.clone());
            readers.push(tokio::spawn(async move {
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    match r.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            received.fetch_add(n as u64, Relaxed);
                            progress.notify_one();
                        }
                    }
                }
            }));
        }
        let connections = subscribers as u64 + 1;
        // A masked client text frame (mask key 0: the payload stays as is).
        let mut frame = vec![0x81, 0x80 | PAYLOAD as u8, 0, 0, 0, 0];
        frame.extend(std::iter::repeat_n(b'x', PAYLOAD));
        let wait_for = |want: u64| {
            let (received, progress) = (received.clone(), progress.clone());
            async move {
                while received.load(Relaxed) < want {
                    let _ = tokio::time::timeout(
                        std::time::Duration::from_millis(50),
                        progress.notified(),
                    )
                    .await;
                }
            }
        };
        if burst {
            let all: Vec<u8> = (0..messages).flat_map(|_| frame.clone()).collect();
            pub_write.write_all(&all).await.expect("publish");
            wait_for(messages * connections * frame_len).await;
        } else {
            for k in 1..=messages {
                pub_write.write_all(&frame).await.expect("publish");
                wait_for(k * connections * frame_len).await;
            }
        }
        println!(
            "deliveries {} bytes {}",
            messages * connections,
            received.load(Relaxed)
        );
        drop((pub_write, keep));
        for r in readers {
            r.abort();
        }
    });
}

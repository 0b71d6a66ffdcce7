//! The cost floor of a WebSocket broadcast on this machine: the Node `ws`
//! chat server of the notes (every message to every open client), in native
//! code with nothing else in the way. One thread per connection reads
//! (blocking); the thread that read a message writes its frame, encoded once,
//! to every client in turn, **one `write(2)` per delivery**: no event loop,
//! no tasks, no wakers, no allocation per delivery, no batching.
//!
//! `scripts/bench-peers.sh --servers floor` measures it beside the other
//! servers. What it spends per delivery is, near enough, what the kernel
//! spends on one small write over loopback TCP (the receiver's TCP
//! processing and wake-up included, since loopback delivers in the sender's
//! system call). A server that writes each frame on its own cannot go below
//! it; only writing several frames at once (batching) can.
//!
//! ```text
//! cargo build --release -p pushpoll-server --example floor_broadcast
//! target/release/examples/floor_broadcast [PORT]   # 0 = any free port; prints "listening PORT"
//! ```
//!
//! Limits: text and binary messages up to 64 KiB (larger ones close the
//! sender's connection); pings are answered; at most 20,000 connections, a
//! thread each (64 KiB stacks). A connection holds **one** file descriptor
//! (its reader and its writers share the socket), so a process limited to
//! ~19,900 descriptors holds 10,000 subscribers with room to spare
//! (`scripts/fanout-cost.sh` measures it there, beside pushpoll). A
//! subscriber's thread sleeps in `read(2)` and costs nothing while nothing
//! is sent to the server: only the publisher's thread runs per broadcast.
//! Listens on 127.0.0.1 only. A client that stops reading blocks every
//! broadcast (as a blocking writer must): this is a measuring floor, not a
//! server to deploy.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use tokio_tungstenite::tungstenite::{self, Message};

/// Most connections held at once.
const MAX_CONNECTIONS: usize = 20_000;
/// Largest message relayed.
const MAX_MESSAGE: usize = 64 << 10;

/// The open clients' write halves, by connection id.
type Clients = Arc<Mutex<Vec<(u64, Arc<Mutex<Socket>>)>>>;

/// One socket shared by a connection's reader (tungstenite) and its writers
/// (broadcasts, pongs). `TcpStream::try_clone` would `dup(2)` it: two
/// descriptors a connection, and 10,000 connections past the ~19,900 a
/// process may open. `&TcpStream` reads and writes, so an `Arc` will do.
#[derive(Clone)]
struct Socket(Arc<TcpStream>);

impl Read for Socket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        (&*self.0).read(buf)
    }
}

impl Write for Socket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        (&*self.0).write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        (&*self.0).flush()
    }
}

fn main() {
    let port: u16 = match std::env::args().nth(1).as_deref().map(str::parse) {
        None => 0,
        Some(Ok(p)) => p,
        Some(Err(e)) => {
            eprintln!("floor_broadcast: PORT must be a port number: {e}");
            std::process::exit(64);
        }
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("floor_broadcast: cannot listen on 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    // std listens with a queue of 128, which drops SYNs when thousands of
    // clients connect at once; pushpoll serve's default is 4096. Calling
    // listen again on a listening socket only resizes its queue.
    // SAFETY: `listen` on a descriptor we own; it touches no memory.
    #[cfg(unix)]
    unsafe {
        libc::listen(std::os::fd::AsRawFd::as_raw_fd(&listener), 4096);
    }
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening {port}");
    let clients: Clients = Arc::default();
    for (id, stream) in (0u64..).zip(listener.incoming()) {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // Out of descriptors, say: say so, and do not spin on it.
                eprintln!("floor_broadcast: accept failed: {e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
                continue;
            }
        };
        if clients.lock().unwrap_or_else(|e| e.into_inner()).len() >= MAX_CONNECTIONS {
            eprintln!("floor_broadcast: {MAX_CONNECTIONS} connections held; refusing one");
            continue;
        }
        let clients = clients.clone();
        let spawned = std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || serve(id, stream, &clients));
        if let Err(e) = spawned {
            eprintln!("floor_broadcast: cannot start a thread: {e}");
        }
    }
}

/// One connection: handshake, register its write half, relay what it sends.
fn serve(id: u64, stream: TcpStream, clients: &Clients) {
    let _ = stream.set_nodelay(true);
    let socket = Socket(Arc::new(stream));
    let writer = socket.clone();
    let mut ws = match tungstenite::accept(socket) {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("floor_broadcast: handshake failed: {e}");
            return;
        }
    };
    let writer = Arc::new(Mutex::new(writer));
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((id, writer.clone()));
    let mut frame = Vec::with_capacity(MAX_MESSAGE + 4);
    loop {
        let (opcode, payload) = match ws.read() {
            Ok(Message::Text(t)) => (0x1, t.as_bytes().to_vec()),
            Ok(Message::Binary(b)) => (0x2, b.to_vec()),
            // Pings: answered through the writer lock, so a pong never
            // lands inside a broadcast frame.
            Ok(Message::Ping(p)) if p.len() <= 125 => {
                let mut pong = vec![0x8a, p.len() as u8];
                pong.extend_from_slice(&p);
                if write_frame(&writer, &pong).is_err() {
                    break;
                }
                continue;
            }
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(_) => continue,
        };
        if payload.len() > MAX_MESSAGE {
            eprintln!("floor_broadcast: a {} B message is over the {MAX_MESSAGE} B limit; closing its sender", payload.len());
            break;
        }
        encode(&mut frame, opcode, &payload);
        // The list is copied so no lock is held while writing.
        let targets: Vec<_> = clients
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, w)| w.clone())
            .collect();
        for w in targets {
            let _ = write_frame(&w, &frame);
        }
    }
    clients
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|(i, _)| *i != id);
}

/// A server-to-client frame (unmasked, FIN set) of `payload`.
fn encode(frame: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    frame.clear();
    frame.push(0x80 | opcode);
    if payload.len() < 126 {
        frame.push(payload.len() as u8);
    } else {
        frame.push(126);
        frame.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    frame.extend_from_slice(payload);
}

/// One `write(2)` for a whole small frame (a short write is finished).
fn write_frame(w: &Mutex<Socket>, frame: &[u8]) -> std::io::Result<()> {
    w.lock().unwrap_or_else(|e| e.into_inner()).write_all(frame)
}

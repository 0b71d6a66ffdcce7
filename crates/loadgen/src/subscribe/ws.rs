//! WebSocket subscriber: a plain client (no subprotocol), so it works with any
//! server that relays frames, the notes' Node `ws` server included. Every text
//! or binary frame is searched for this run's marker; anything else (other
//! traffic, control frames) is ignored but its bytes are counted.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{Backoff, Sub};
use crate::count::{connect_counted, Counted, SubIo};
use crate::error::{ws_kind, Kind};

/// Read chunk of each subscriber connection: small, as there may be very many.
const READ_BUFFER: usize = 8 << 10;
/// Largest frame or message accepted from the server.
const MAX_MESSAGE: usize = 16 << 20;

pub(crate) type Ws = WebSocketStream<Counted<TcpStream>>;

/// The configuration of every generator WebSocket: small buffers, bounded
/// messages, frames written as soon as they are sent.
pub(crate) fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Opens a counted connection and performs the opening handshake (one request).
async fn connect(
    url: &str,
    addr: SocketAddr,
    timeout: Duration,
    io: &Arc<SubIo>,
) -> Result<Ws, Kind> {
    let tcp = connect_counted(addr, timeout, io).await?;
    io.request();
    let handshake = tokio_tungstenite::client_async_with_config(url, tcp, Some(config()));
    match tokio::time::timeout(timeout, handshake).await {
        Err(_) => Err(Kind::Borrowed("timeout")),
        Ok(Err(e)) => Err(ws_kind(&e)),
        Ok(Ok((ws, _response))) => Ok(ws),
    }
}

pub(super) async fn run(sub: &mut Sub) {
    let env = sub.env.clone();
    let url = env.plan.sub.url.as_str();
    let mut backoff = Backoff::new();
    loop {
        match sub
            .guard(connect(url, env.addr, env.plan.timeout, &sub.io))
            .await
        {
            None => return,
            Some(Ok(ws)) => {
                if !sub.ready() {
                    return;
                }
                backoff.reset();
                let kind = receive(sub, ws).await;
                sub.error(kind);
            }
            Some(Err(kind)) => {
                if !sub.failed(kind) {
                    return;
                }
            }
        }
        if !sub.pause(&mut backoff).await {
            return;
        }
    }
}

/// Receives until the connection ends; returns why it ended.
async fn receive(sub: &mut Sub, mut ws: Ws) -> Kind {
    loop {
        let msg = match ws.next().await {
            None => return Kind::Borrowed("eof"),
            Some(Err(e)) => return ws_kind(&e),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Text(t) => sub.deliver(t.as_bytes()),
            Message::Binary(b) => sub.deliver(&b),
            Message::Ping(_) => {
                // tungstenite queued the pong; make sure it leaves now.
                if let Err(e) = ws.flush().await {
                    return ws_kind(&e);
                }
            }
            Message::Close(frame) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                // Answer the close (queued by tungstenite), then reconnect.
                let _ = ws.flush().await;
                return Kind::Owned(format!("closed_{code}"));
            }
            Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

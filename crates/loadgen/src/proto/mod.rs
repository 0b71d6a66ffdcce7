//! Layer 4, the protocols spoken over the network layer's sockets: lean
//! HTTP/1.1, hyper's HTTP/1.1 and HTTP/2, answer decoding, WebSocket
//! permessage-deflate, Socket.IO's addressing and SockJS's framing.

pub(crate) mod decode;
pub(crate) mod deflate;
pub(crate) mod h1;
pub(crate) mod http;
pub(crate) mod http2;
pub(crate) mod retry;
pub(crate) mod socketio;
pub(crate) mod sockjs;
pub(crate) mod sockjs_ws;
pub(crate) mod ws;

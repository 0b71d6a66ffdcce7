//! Integration tests of pushpoll-server, each against a real server on
//! `127.0.0.1:0`, talking to it only over sockets.

mod support;

mod bytes_counted;
mod delivery;
mod direct;
mod held;
mod history;
mod hostile;
mod hostile_support;
mod http2;
mod http_limits;
mod long_poll;
mod metrics;
mod page;
mod resume;
mod shutdown;
mod slow_consumer;
mod tls;
mod websocket;

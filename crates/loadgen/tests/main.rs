//! Integration tests of the load generator against small servers with known
//! behaviour. Every assertion is about counts, never about durations.

mod support;

mod deflate;
mod errors;
mod faults;
mod headers;
mod http2;
mod metrics;
mod opaque;
mod options;
mod poll;
mod rooms;
mod socketio;
mod sockjs;
mod sse;
mod stop;
mod tls;
mod wire;
mod ws;

//! End-to-end tests of the `pushpoll` binary's library: the in-process server,
//! the load generator over every transport, the JSON document and its schema.

mod compare;
mod slo;

//! Integration tests of pushpoll-report, one binary (modules below).
//!
//! The fixtures are real `pushpoll compare --quick --json` documents:
//! `compare-quick.json` (one workload, four transports) and
//! `compare-quick-sweep.json` (`--subscribers 10,40 --rate 2,8`).

mod charts;
mod correctness;
mod errors;
mod escaping;
mod html;
mod markdown;
mod merge;
mod readings;
mod rtt;
mod sweeps;
mod util;
mod variants;
mod verdict;

//! Integration tests of the proxy against small upstreams with known
//! behaviour, mostly on a paused clock: every assertion is in virtual time
//! or about counts.

mod support;

mod bandwidth;
mod delay;
mod faults;
mod options;

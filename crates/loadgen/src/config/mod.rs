//! Layer 2, configuration: the command-line options, header profiles, and
//! the validated plan a run is built from. No I/O but name resolution and
//! reading the files options name (`--users`, `--scenario`).

pub mod headers;
pub mod opts;
pub(crate) mod plan;
pub mod scenario;
pub(crate) mod template;
pub(crate) mod trust;
pub(crate) mod users;

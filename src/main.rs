//! `pushpoll`: thin entry point; everything lives in the library so tests
//! and benches drive the same code.

use clap::Parser as _;

/// jemalloc, not the system allocator, for memory per idle connection:
/// hyper gives every HTTP/1 connection an 8 KiB read and an 8 KiB write
/// buffer, of which a held long poll touches a few hundred bytes. glibc's
/// malloc puts each block's header in line, so neighbouring blocks touch
/// nearly every page those buffers span; jemalloc keeps 8 KiB blocks in
/// page-aligned runs without headers, so only touched pages become
/// resident (a held long poll: 17.1 KiB of server RSS with glibc, 13.1 with
/// jemalloc, at 10,000 connections; `scripts/idle-memory.sh`).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    pushpoll::cli::init_tracing();
    let cli = match pushpoll::cli::args_with_scenario(std::env::args_os().collect()) {
        Ok(args) => pushpoll::cli::Cli::parse_from(args),
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(pushpoll::cli::dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! `pushpoll`: thin entry point; everything lives in the library so tests
//! and benches drive the same code.

use clap::Parser as _;

fn main() -> std::process::ExitCode {
    pushpoll::cli::init_tracing();
    let cli = pushpoll::cli::Cli::parse();
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

//! The `buildhooks` binary: parses the command line, starts tracing, hands over to the library
//! and prints a failure with its whole cause chain on one line (`error: a: b: c`).

use std::process::ExitCode;

use clap::Parser;

/// mimalloc rather than glibc's malloc: fewer instructions per allocation, and no arena
/// contention between the runtime's threads (see the README's Benchmark). With its `override`
/// feature (`Cargo.toml`) it is the process's `malloc` and `free` too, so the bundled SQLite
/// allocates from it: glibc's malloc and free took 8% of SQLite's writer thread.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = buildhooks::Cli::parse();
    buildhooks_server::telemetry::init(cli.config.log_format);
    match buildhooks::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", buildhooks::database::chain(&error));
            ExitCode::FAILURE
        }
    }
}

//! The `buildhooks` binary: parses the command line, starts tracing, and hands over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = buildhooks_server::cli::Cli::parse();
    buildhooks_server::telemetry::init();
    buildhooks_server::cli::run(cli).await
}

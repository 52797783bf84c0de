//! Tracing set-up: human-readable logs on stderr, filtered by `RUST_LOG` (default `info`).
//! Whatever `RUST_LOG` says, lapin's notice of a returned (unroutable) message stays quiet: it
//! prints the whole message, payload and signatures; the attempt log records the return.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let filter = match "lapin::returned_messages=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

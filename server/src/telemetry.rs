//! Tracing set-up: logs on stderr as human-readable text or one JSON object per line
//! (`BUILDHOOKS_LOG_FORMAT`), filtered by `RUST_LOG` (default `info`). Whatever `RUST_LOG` says,
//! lapin's notice of a returned (unroutable) message stays quiet: it prints the whole message,
//! payload and signatures; the attempt log records the return.

use clap::ValueEnum;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line: the event's fields at the top level beside `timestamp`,
    /// `level`, `target` and `message`, the enclosing spans' fields (a request's `request_id`)
    /// under `span` and `spans`.
    Json,
}

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let filter = match "lapin::returned_messages=error".parse() {
        Ok(quiet) => filter.add_directive(quiet),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}

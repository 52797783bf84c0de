//! The buildhooks server as a library: `AppState::connect` opens the database and builds the
//! schema, `run` serves HTTP (and, by role, runs the dispatcher) until shutdown. The binary and
//! the end-to-end tests start exactly the same thing.

pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use buildhooks_schema::{build_schema, AppSchema, Faults, Store, WebhookConfig};
use tokio::net::TcpListener;

pub use config::{Config, Role};

/// Everything a running server shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub store: Store,
    pub config: Arc<Config>,
    /// Test-only fault switches.
    pub faults: Arc<Faults>,
}

impl AppState {
    /// Connects to the configured database, migrates it, and builds the schema.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        let store = db::connect(&config.database_url).await?;
        let faults = Arc::new(Faults::default());
        let schema = build_schema(
            store.clone(),
            WebhookConfig {
                allow_private_targets: config.allow_private_targets,
            },
            faults.clone(),
        );
        Ok(AppState {
            schema,
            store,
            config: Arc::new(config),
            faults,
        })
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    role: Role,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = role;
    let app = http::router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

//! `GET /healthz` (liveness: 200 when the database answers, 503 within the acquire timeout when
//! it does not), `GET /readyz` (readiness: the database answers, every migration this binary
//! knows is applied, and the dispatcher runs where this process's role has one; 503 with a JSON
//! body naming what is not ready) and `GET /metrics` (`crate::metrics`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::AppState;

/// How long `SELECT 1` may take on top of the acquire timeout.
const QUERY_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    // The pool bounds the wait for a connection; this also bounds a connection that hangs
    // (packets dropped rather than refused), with room for the query after a slow acquire.
    let limit = state.config.database_acquire_timeout() + QUERY_GRACE;
    let answered = tokio::time::timeout(limit, state.store.db().ping()).await;
    match answered {
        Ok(Ok(_)) => (StatusCode::OK, "ok"),
        Ok(Err(error)) => {
            tracing::error!(%error, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::error!(?limit, "health check timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}

const NOT_REQUIRED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPED: u8 = 2;

/// Whether this process's dispatcher runs: not required (a process without one, by role),
/// running (its task is alive), or stopped (it returned or panicked).
#[derive(Debug, Default)]
pub struct Dispatcher(AtomicU8);

/// Marks the dispatcher running until dropped (when its task ends, also by a panic).
pub struct Running(Arc<Dispatcher>);

impl Dispatcher {
    /// Marks the dispatcher running; held by its task.
    pub fn start(self: &Arc<Self>) -> Running {
        self.0.store(RUNNING, Ordering::Relaxed);
        Running(self.clone())
    }

    /// `not_required`, `running` or `stopped`.
    pub fn state(&self) -> &'static str {
        match self.0.load(Ordering::Relaxed) {
            NOT_REQUIRED => "not_required",
            RUNNING => "running",
            _ => "stopped",
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0 .0.store(STOPPED, Ordering::Relaxed);
    }
}

/// Readiness: 200 `{"ready": true, ...}`, or 503 with `not_ready` naming each part that is not
/// (`database`, `migrations`, `dispatcher`). Database errors stay in the log.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = state.config.database_acquire_timeout() + QUERY_GRACE;
    let db = state.store.db();
    let checked = tokio::time::timeout(limit, async {
        db.ping().await?;
        buildhooks_store::readiness::pending_migrations(db).await
    })
    .await;
    let mut not_ready = Vec::new();
    let (database, pending) = match checked {
        Ok(Ok(pending)) => ("ok", Some(pending)),
        Ok(Err(error)) => {
            tracing::error!(%error, "readiness check failed");
            ("unavailable", None)
        }
        Err(_) => {
            tracing::error!(?limit, "readiness check timed out");
            ("unavailable", None)
        }
    };
    if database != "ok" {
        not_ready.push("database");
    }
    if pending.as_ref().is_some_and(|p| !p.is_empty()) {
        not_ready.push("migrations");
    }
    let dispatcher = state.dispatcher.state();
    if dispatcher == "stopped" {
        not_ready.push("dispatcher");
    }
    let status = match not_ready.is_empty() {
        true => StatusCode::OK,
        false => StatusCode::SERVICE_UNAVAILABLE,
    };
    let body = json!({
        "ready": not_ready.is_empty(),
        "not_ready": not_ready,
        "database": database,
        "migrations": match &pending {
            Some(p) if p.is_empty() => json!("applied"),
            Some(p) => json!({ "pending": p }),
            None => json!("unknown"),
        },
        "dispatcher": dispatcher,
    });
    (status, Json(body)).into_response()
}

/// The Prometheus exposition: deliveries, requests, the outbox, failing endpoints, inbound
/// hooks, brokers, retention and the process. OpenMetrics text when the client asks for it (as
/// Prometheus does), else the classic text format (curl, `promtool check metrics`).
pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match state.metrics.render(&state).await {
        Ok(text) if openmetrics => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::metrics::OPENMETRICS)],
            text,
        )
            .into_response(),
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, crate::metrics::TEXT)],
            crate::metrics::classic_text(&text),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot render metrics");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response()
        }
    }
}

//! `GET /healthz` (200 when the database answers, 503 within the acquire timeout when it does
//! not) and `GET /metrics` (Prometheus text).

use crate::AppState;
use axum::extract::State;
use axum::http::StatusCode;

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

/// Prometheus metrics of deliveries and the outbox.
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match state.sender.metrics.render(state.store.db()).await {
        Ok(mut text) => {
            crate::delivery::metrics::render_inbound(state.store.inbound_counters(), &mut text);
            crate::delivery::metrics::render_brokers(&state.sender.sinks.brokers(), &mut text);
            state.retention.render(&mut text);
            (
                StatusCode::OK,
                [("content-type", "text/plain; version=0.0.4")],
                text,
            )
                .into_response()
        }
        Err(error) => {
            tracing::error!(%error, "cannot render metrics");
            (StatusCode::SERVICE_UNAVAILABLE, "metrics unavailable").into_response()
        }
    }
}

//! The HTTP surface: routes, the shared state they read, and JSON error responses.

pub mod graphiql;
pub mod graphql;
pub mod health;
pub mod inbound;
pub mod request;
pub mod root;
pub mod settings;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::{AppState, Role};

/// The routes this role serves: health, readiness, metrics and `/` always, the API and settings
/// page unless this is a dispatcher-only process; any other path is a plain 404.
pub fn router(state: AppState, role: Role) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics));
    if role == Role::Dispatcher {
        router = router.route("/", get(root::dispatcher_page));
    } else {
        router = router
            .route("/", get(root::page))
            .route("/graphql", get(graphiql::page).post(graphql::execute))
            .route("/graphql/assets/{file}", get(graphiql::asset))
            .route("/graphql/schema.graphql", get(graphiql::schema))
            .route(
                "/hooks/in/{id}",
                axum::routing::post(inbound::receive).head(inbound::exists),
            )
            .route("/settings/assets/settings.js", get(settings::script))
            .route(
                "/settings/assets/settings-chat.js",
                get(settings::chat_script),
            )
            .route(
                "/settings/assets/settings-inbound.js",
                get(settings::inbound_script),
            )
            .route(
                "/settings/assets/settings-format.js",
                get(settings::format_script),
            )
            .route(
                "/settings/assets/settings-secrets.js",
                get(settings::secrets_script),
            )
            .route(
                "/settings/assets/settings-control.js",
                get(settings::control_script),
            )
            .route(
                "/settings/assets/settings-deliveries.js",
                get(settings::deliveries_script),
            )
            .route("/settings/assets/settings.css", get(settings::style))
            .route("/settings/{owner_uid}", get(settings::page))
            .route("/favicon.ico", get(settings::favicon));
    }
    // The route's template is noted from inside the router. A panic anywhere below answers 500
    // with no detail instead of dropping the connection. Outermost, the request's id, span,
    // completion line and metrics (which see the panic's 500 too).
    let metrics = state.metrics.clone();
    router
        .route_layer(axum::middleware::from_fn(request::mark_route))
        .fallback(root::not_found)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(axum::middleware::from_fn_with_state(
            metrics,
            request::trace,
        ))
        .with_state(state)
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
}

/// A GraphQL-shaped error response: `{"errors": [{"message", "extensions": {"code"}}]}`.
pub fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, Json(body)).into_response()
}

/// 503 `UNAVAILABLE`: the database could not be reached within the pool's acquire timeout.
/// The client may retry; the cause stays in the logs.
pub fn unavailable_response() -> Response {
    let mut response = error_response(
        StatusCode::SERVICE_UNAVAILABLE,
        buildhooks_schema::error::UNAVAILABLE,
        "the database is unavailable; try again",
    );
    with_retry_after(&mut response);
    response
}

/// Adds `Retry-After: 1` to a 503: the database usually answers again within seconds.
pub fn with_retry_after(response: &mut Response) {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
}

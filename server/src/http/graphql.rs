//! `POST /graphql`: bearer-token authenticated, one operation per request, bounded body.
//! (`GET /graphql`, GraphiQL, is in `graphiql`.)

use std::net::SocketAddr;

use axum::body::{to_bytes, Body};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use axum::Json;
use buildhooks_schema::error::{is_unavailable_response, normalize_response};
use buildhooks_schema::webhook::audit::ClientAddr;
use buildhooks_schema::Error;
use buildhooks_schema::{bounded, introspection, parsed};

use super::{error_response, unavailable_response, with_retry_after};
use crate::AppState;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// Executes one GraphQL operation as the organization the bearer token belongs to.
pub async fn execute(
    State(state): State<AppState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let unauthenticated =
        |msg: &str| error_response(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", msg);
    let Some(token) = bearer(&headers).filter(|t| !t.is_empty()) else {
        return unauthenticated(
            "send `Authorization: Bearer <token>` with an organization API token",
        );
    };
    let viewer = match state.store.authenticate(token).await {
        Ok(viewer) => viewer,
        Err(Error::Unauthenticated) => return unauthenticated("the API token is not valid"),
        Err(Error::Unavailable(error)) => {
            tracing::warn!(%error, "authentication failed: database unavailable");
            return unavailable_response();
        }
        Err(error) => {
            tracing::error!(%error, "authentication failed");
            return error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            );
        }
    };
    let bytes = match to_bytes(body, state.config.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "VALIDATION",
                &format!(
                    "the request body is larger than {} bytes",
                    state.config.max_body_bytes
                ),
            )
        }
    };
    let value: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(value) => value,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("the request body is not valid JSON: {e}"),
            )
        }
    };
    if value.is_array() {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            "batched requests are not supported: send one operation per request",
        );
    }
    if !value.get("query").is_some_and(serde_json::Value::is_string) {
        return error_response(
            StatusCode::BAD_REQUEST,
            "VALIDATION",
            "not a GraphQL request: expected a JSON object with a \"query\" string",
        );
    }
    let request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(e) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "VALIDATION",
                &format!("not a GraphQL request (expected query, variables, operationName): {e}"),
            )
        }
    };
    // Size and nesting checked before any parser sees the text; parsed once per distinct text;
    // the schema still validates every request.
    let known = parsed::API_TYPES.of(&state.schema);
    let mut request = match parsed::prepare(&parsed::API, bounded::API, request, known) {
        Ok(request) => request,
        Err(refused) => {
            return error_response(StatusCode::BAD_REQUEST, "VALIDATION", &refused.to_string())
        }
    };
    // Depth and complexity, introspection counted apart; answered as the schema answers its own.
    if let Err(error) = introspection::check(&mut request, introspection::API) {
        let refused = async_graphql::Response::from_errors(vec![error]);
        return Json(normalize_response(refused)).into_response();
    }
    // Named by its root field for the metrics (bounded: the schema's fields, else a fixed word).
    let operation = state.metrics.requests.operation(&mut request);
    let started = std::time::Instant::now();
    let mut request = request.data(viewer);
    if let Some(Extension(ConnectInfo(peer))) = peer {
        request = request.data(ClientAddr(peer.ip()));
    }
    let response = normalize_response(state.schema.execute(request).await);
    state
        .metrics
        .requests
        .observe_api(operation, response.errors.is_empty(), started.elapsed());
    if is_unavailable_response(&response) {
        let mut answer = (StatusCode::SERVICE_UNAVAILABLE, Json(response)).into_response();
        with_retry_after(&mut answer);
        return answer;
    }
    Json(response).into_response()
}

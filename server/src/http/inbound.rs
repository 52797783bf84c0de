//! `POST /hooks/in/{id}` (GitHub, GitLab and generic JSON senders) and `HEAD /hooks/in/{id}` (a
//! sender's check that the hook exists). The source is found first (404), the body read up to
//! `BUILDHOOKS_INBOUND_MAX_BYTES` (413); everything after that is the schema's `inbound::receive`.

use axum::body::{to_bytes, Body};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use buildhooks_schema::inbound::{self, Answer};

use crate::AppState;

/// The server's header map, as the schema reads headers.
struct Headers<'a>(&'a HeaderMap);

impl inbound::Headers for Headers<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

fn respond(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Json(answer.body)).into_response();
    if answer.status == 503 {
        super::with_retry_after(&mut response);
    }
    response
}

/// `?token=` of a generic sender's URL.
fn query_token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(name, _)| name == "token")
        .map(|(_, value)| value.into_owned())
}

/// Receives one inbound request.
pub async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let source = match inbound::find(&state.store, &id).await {
        Ok(Some(source)) => source,
        Ok(None) => return respond(Answer::not_found(&state.store)),
        Err(error) => {
            tracing::warn!(%error, "inbound: cannot look up the source");
            return super::unavailable_response();
        }
    };
    let limit = state.config.inbound_max_bytes;
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return respond(inbound::receive::too_large(&state.store, &source, limit).await);
    }
    let bytes = match to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => return respond(inbound::receive::too_large(&state.store, &source, limit).await),
    };
    let token = query_token(query.as_deref());
    let answer = inbound::receive(
        &state.store,
        &state.payload,
        &source,
        &Headers(&headers),
        token.as_deref(),
        &bytes,
    )
    .await;
    respond(answer)
}

/// 200 for a live source, 404 otherwise.
pub async fn exists(State(state): State<AppState>, Path(id): Path<String>) -> StatusCode {
    match inbound::find(&state.store, &id).await {
        Ok(Some(_)) => StatusCode::OK,
        Ok(None) => StatusCode::NOT_FOUND,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}

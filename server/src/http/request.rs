//! Each HTTP request's id and record: the id is the caller's `X-Request-Id` when it is one
//! (1 to 128 visible ASCII characters), else a new UUID v4; every log line written while the
//! request is served carries it (a `request` span), and the response returns it in
//! `X-Request-Id`. When the answer is ready, one `info` line (method, path without the query
//! string, which may hold a token, status, duration) and the HTTP families by route template.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::metrics::Metrics;

/// `X-Request-Id`.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest caller's id kept.
pub const MAX_ID_LEN: usize = 128;

/// This request's id (in the request's extensions, for handlers that want it).
#[derive(Clone, Debug)]
pub struct RequestId(pub Arc<str>);

/// The route template the router matched, carried out in the response's extensions.
#[derive(Clone)]
struct Route(Arc<str>);

/// The caller's id, if it is one to keep: 1 to 128 visible ASCII characters.
pub fn valid(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    let ok = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes.iter().all(|b| (0x21..=0x7e).contains(b));
    ok.then(|| value.to_str().ok()).flatten()
}

/// Inside the router (a route layer): notes the matched route's template on the response.
pub async fn mark_route(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| Arc::<str>::from(m.as_str()));
    let mut response = next.run(request).await;
    if let Some(route) = route {
        response.extensions_mut().insert(Route(route));
    }
    response
}

/// Outermost layer: the id, the span, the completion line and the HTTP families.
pub async fn trace(
    State(metrics): State<Arc<Metrics>>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id: Arc<str> = match request.headers().get(&REQUEST_ID).and_then(valid) {
        Some(id) => id.into(),
        None => uuid::Uuid::new_v4().to_string().into(),
    };
    request.extensions_mut().insert(RequestId(id.clone()));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span.clone()).await;
    let took = started.elapsed();
    let status = response.status().as_u16();
    let route = response
        .extensions()
        .get::<Route>()
        .map(|r| r.0.clone())
        .unwrap_or_else(|| Arc::from("unmatched"));
    metrics
        .requests
        .observe_http(&route, method.as_str(), status, took);
    span.in_scope(|| {
        tracing::info!(
            method = %method,
            path = %path,
            route = %route,
            status,
            duration_ms = took.as_micros() as f64 / 1000.0,
            "request"
        )
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    response
}

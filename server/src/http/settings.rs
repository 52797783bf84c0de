//! `GET /settings/{ownerUid}`: the per-organization settings page (endpoints, chat robots,
//! inbound CI sources). Its HTML, scripts and stylesheet are embedded in the binary (no build
//! step, nothing fetched from elsewhere) and served under a strict Content-Security-Policy; the
//! page talks to `POST /graphql`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const HTML: &str = include_str!("../../assets/settings.html");
const SCRIPT: &str = include_str!("../../assets/settings.js");
const CHAT_SCRIPT: &str = include_str!("../../assets/settings-chat.js");
const INBOUND_SCRIPT: &str = include_str!("../../assets/settings-inbound.js");
const FORMAT_SCRIPT: &str = include_str!("../../assets/settings-format.js");
const SECRETS_SCRIPT: &str = include_str!("../../assets/settings-secrets.js");
const CONTROL_SCRIPT: &str = include_str!("../../assets/settings-control.js");
const DELIVERIES_SCRIPT: &str = include_str!("../../assets/settings-deliveries.js");
const STYLE: &str = include_str!("../../assets/settings.css");

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The page, for any owner uid (the page signs in against the API).
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", HTML)
}

pub async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn chat_script() -> Response {
    asset("text/javascript; charset=utf-8", CHAT_SCRIPT)
}

pub async fn inbound_script() -> Response {
    asset("text/javascript; charset=utf-8", INBOUND_SCRIPT)
}

pub async fn format_script() -> Response {
    asset("text/javascript; charset=utf-8", FORMAT_SCRIPT)
}

pub async fn secrets_script() -> Response {
    asset("text/javascript; charset=utf-8", SECRETS_SCRIPT)
}

pub async fn control_script() -> Response {
    asset("text/javascript; charset=utf-8", CONTROL_SCRIPT)
}

pub async fn deliveries_script() -> Response {
    asset("text/javascript; charset=utf-8", DELIVERIES_SCRIPT)
}

pub async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// No favicon: an empty answer instead of a 404 in the browser console.
pub async fn favicon() -> StatusCode {
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use buildhooks_schema::webhook::format::{CIRRUS_QUERY, DEFAULT_QUERY};

    use super::*;

    /// The scripts carry copies of the default queries (one quoted string per line): a change to
    /// `format.rs` must reach them, or the editor shows a query the server does not run.
    fn carries(script: &str, query: &str) -> bool {
        query
            .lines()
            .all(|line| script.contains(&format!("'{line}'")))
    }

    #[test]
    fn the_page_shows_the_default_queries_the_server_runs() {
        assert!(carries(SCRIPT, DEFAULT_QUERY), "settings.js: DEFAULT_QUERY");
        assert!(
            carries(FORMAT_SCRIPT, CIRRUS_QUERY),
            "settings-format.js: CIRRUS_QUERY"
        );
    }
}

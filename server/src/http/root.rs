//! `GET /`: a small page that says what this server serves and links it (the settings page, by
//! an organization uid typed in a form, GraphiQL, the schema, health, metrics, the docs), and
//! the 404 for any path no route serves. The page lists nothing of any organization: it is
//! public. A dispatcher-only process says that it serves health and metrics only.

use std::collections::HashMap;

use axum::extract::Query;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

/// No script, nothing fetched; the one inline stylesheet is static.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                   frame-ancestors 'none'; base-uri 'none'";

/// The project's repository when the package names one (its README is the documentation).
const REPOSITORY: &str = env!("CARGO_PKG_REPOSITORY");

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;\
                     padding:0 1rem;color:#222}code{background:#f2f2f2;padding:0 .2em}\
                     li{margin:.4rem 0}input{width:6rem}";

/// The page, or, with the form's `?org=<uid>`, a redirect to `/settings/<uid>`.
pub async fn page(Query(query): Query<HashMap<String, String>>) -> Response {
    match query.get("org").map(|uid| uid.trim()) {
        Some(uid) if is_uid(uid) => Redirect::to(&format!("/settings/{uid}")).into_response(),
        Some(_) => html(
            StatusCode::BAD_REQUEST,
            &api_page(Some(
                "An organization uid is a number, as <code>buildhooks org create</code> prints it.",
            )),
        ),
        None => html(StatusCode::OK, &api_page(None)),
    }
}

/// The page of a process that runs the dispatcher only.
pub async fn dispatcher_page() -> Response {
    let body = format!(
        "<h1>buildhooks: dispatcher</h1><p>This process delivers the outbox only \
         (<code>serve --role dispatcher</code>): it serves <a href=\"/healthz\">/healthz</a> and \
         <a href=\"/metrics\">/metrics</a>. The API, GraphiQL and the settings page are served \
         by the processes started with <code>--role api</code> or <code>--role all</code>.</p>{}",
        docs()
    );
    html(StatusCode::OK, &document(&body))
}

/// Any path no route serves.
pub async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found: GET / lists what this server serves\n",
    )
        .into_response()
}

fn is_uid(text: &str) -> bool {
    !text.is_empty() && text.len() <= 10 && text.bytes().all(|b| b.is_ascii_digit())
}

fn api_page(problem: Option<&str>) -> String {
    let problem = problem.map_or(String::new(), |p| format!("<p><strong>{p}</strong></p>"));
    let body = format!(
        "<h1>buildhooks</h1>\
         <p>Signed, at-least-once webhooks for CI builds and tasks.</p>\
         <h2>Settings page</h2>{problem}\
         <form action=\"/\" method=\"get\">\
         <label>Organization uid <input name=\"org\" inputmode=\"numeric\" pattern=\"[0-9]+\" \
         required></label> <button>Open settings</button></form>\
         <p>Each organization has its page at <code>/settings/&lt;uid&gt;</code>; sign in there \
         with its API token. <code>buildhooks org create NAME</code> prints the uid and a token; \
         with a token, <code>{{ ownerInfo {{ uid }} }}</code> answers it.</p>\
         <h2>API</h2><ul>\
         <li><a href=\"/graphql\">GraphiQL</a>: explore and run queries \
         (<code>POST /graphql</code> with <code>Authorization: Bearer &lt;token&gt;</code>)</li>\
         <li><a href=\"/graphql/schema.graphql\">The schema</a> (SDL)</li>\
         <li><a href=\"/healthz\">/healthz</a>: the database answers</li>\
         <li><a href=\"/metrics\">/metrics</a>: Prometheus metrics</li></ul>{}",
        docs()
    );
    document(&body)
}

fn docs() -> String {
    let where_ = match REPOSITORY.is_empty() {
        true => "the <code>README.md</code> at the root of the source tree".to_owned(),
        false => format!("<a href=\"{REPOSITORY}#readme\">the README</a>"),
    };
    format!(
        "<h2>Documentation</h2><p>How to run, configure and call buildhooks: {where_}; the \
         command line: <code>buildhooks --help</code>.</p>"
    )
}

fn document(body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>buildhooks</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
}

fn html(status: StatusCode, body: &str) -> Response {
    let mut response = (status, body.to_owned()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
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
    response
}

#[cfg(test)]
mod tests {
    use super::is_uid;

    #[test]
    fn only_numbers_are_uids() {
        assert!(is_uid("1") && is_uid("2147483647"));
        for bad in ["", "a1", "1/../x", "12345678901", "-1"] {
            assert!(!is_uid(bad), "{bad}");
        }
    }
}

//! The API's public schema tooling, no token needed: `GET /graphql` (GraphiQL),
//! `GET /graphql/assets/{file}` (its scripts, stylesheets and licences) and
//! `GET /graphql/schema.graphql` (the SDL).
//!
//! GraphiQL and React are vendored in `server/assets/graphiql/` (versions, tarballs and hashes in
//! its README) and embedded in the binary: the page fetches nothing from elsewhere and works with
//! no network. Its Content-Security-Policy allows scripts from this server only, and no inline
//! script: the page's own code is the `boot.js` asset.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The vendored packages' versions (see `server/assets/graphiql/README.md`). They go into the
/// assets' URLs, so a browser drops its cached copy when they change.
const GRAPHIQL_VERSION: &str = "3.9.0";
const REACT_VERSION: &str = "18.3.1";

/// Fonts and icons are inlined as `data:` URLs in GraphiQL's stylesheet.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   font-src data:; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// One file under `/graphql/assets/`.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    /// Linked from the page with its package's version in the URL (`?v=`): cached for a year.
    /// Our own files and the licences are small and revalidated on every load.
    versioned: bool,
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const TEXT: &str = "text/plain; charset=utf-8";

macro_rules! asset {
    ($name:literal, $content_type:expr, $versioned:expr) => {
        Asset {
            name: $name,
            content_type: $content_type,
            body: include_bytes!(concat!("../../assets/graphiql/", $name)),
            versioned: $versioned,
        }
    };
}

const ASSETS: &[Asset] = &[
    asset!("graphiql.min.js", JS, true),
    asset!("graphiql.min.css", CSS, true),
    asset!("react.production.min.js", JS, true),
    asset!("react-dom.production.min.js", JS, true),
    asset!("LICENSE.graphiql", TEXT, false),
    asset!("LICENSE.react", TEXT, false),
    asset!("LICENSE.react-dom", TEXT, false),
    asset!("boot.js", JS, false),
    asset!("page.css", CSS, false),
];

/// The page: GraphiQL's stylesheet and scripts, then `boot.js`, which mounts it.
fn page_html() -> String {
    let (g, r) = (GRAPHIQL_VERSION, REACT_VERSION);
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>buildhooks GraphQL</title>
<link rel="stylesheet" href="/graphql/assets/graphiql.min.css?v={g}">
<link rel="stylesheet" href="/graphql/assets/page.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<noscript>GraphiQL needs JavaScript. The schema is at <a href="/graphql/schema.graphql">/graphql/schema.graphql</a>.</noscript>
<script src="/graphql/assets/react.production.min.js?v={r}"></script>
<script src="/graphql/assets/react-dom.production.min.js?v={r}"></script>
<script src="/graphql/assets/graphiql.min.js?v={g}"></script>
<script src="/graphql/assets/boot.js"></script>
</body>
</html>
"#
    )
}

fn respond(content_type: &'static str, cache: &'static str, body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// `GET /graphql`: GraphiQL, pointed at this server.
pub async fn page() -> Response {
    static HTML: OnceLock<String> = OnceLock::new();
    let html = HTML.get_or_init(page_html).as_str();
    let mut response = respond("text/html; charset=utf-8", "no-cache", html);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// `GET /graphql/assets/{file}`: one of the embedded files, or 404.
pub async fn asset(Path(file): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let cache = if asset.versioned {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    respond(asset.content_type, cache, asset.body)
}

/// `GET /graphql/schema.graphql`: the API's schema in SDL, the same text as `buildhooks schema`.
pub async fn schema() -> Response {
    static SDL: OnceLock<String> = OnceLock::new();
    let sdl = SDL.get_or_init(buildhooks_schema::sdl).as_str();
    respond("text/plain; charset=utf-8", "no-cache", sdl)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file the page links is embedded, and the ones cached for a year carry a version.
    #[test]
    fn the_page_loads_only_embedded_assets() {
        let html = page_html();
        let sources: Vec<&str> = html
            .split('"')
            .filter(|s| s.starts_with('/') || s.contains("://"))
            .collect();
        assert!(sources.len() >= 6, "{sources:?}");
        for source in sources {
            if source == "/graphql/schema.graphql" {
                continue;
            }
            let name = source
                .strip_prefix("/graphql/assets/")
                .unwrap_or_else(|| panic!("{source} is not an embedded asset"));
            let (name, version) = name.split_once("?v=").unwrap_or((name, ""));
            let asset = ASSETS
                .iter()
                .find(|a| a.name == name)
                .unwrap_or_else(|| panic!("{name} is not embedded"));
            assert_eq!(asset.versioned, !version.is_empty(), "{source}");
        }
    }
}

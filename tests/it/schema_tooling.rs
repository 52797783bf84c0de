//! Schema tooling against the real server: the standard introspection query (graphql-js's, as
//! GraphiQL and other tools send it) is answered although it is deeper than the API's depth
//! limit; introspection is still bounded on its own, and ordinary queries keep their limits;
//! `GET /graphql/schema.graphql` and `buildhooks schema` give the served schema's SDL; GraphiQL's
//! page and assets come from the binary.

use std::process::Command;

use buildhooks_schema::{MAX_COMPLEXITY, MAX_DEPTH, MAX_INTROSPECTION_DEPTH};
use serde_json::{json, Value};

use crate::utils::{error_code, TestApp};

/// graphql-js 16.15.0's `getIntrospectionQuery()`, default options (15 fields deep).
const INTROSPECTION_QUERY: &str = include_str!("fixtures/introspection_query.graphql");
/// The same with every option on (`specifiedByURL`, `isRepeatable`, `isOneOf`, ...).
const INTROSPECTION_QUERY_ALL: &str =
    include_str!("fixtures/introspection_query_all_options.graphql");

/// `{ build(id: "1") { tasks { build { tasks ... { id } } } } }`: an ordinary query exactly
/// `depth` fields deep.
fn ordinary(depth: usize) -> String {
    let mut text = String::from("id");
    for level in (0..depth - 2).rev() {
        let field = if level % 2 == 0 { "tasks" } else { "build" };
        text = format!("{field} {{ {text} }}");
    }
    format!("build(id: \"1\") {{ {text} }}")
}

/// The message of a refused operation, after asserting it is `VALIDATION` (HTTP 200, as
/// async-graphql's limits have always answered).
async fn refusal(app: &TestApp, query: &str) -> String {
    let (status, resp) = app
        .post_raw(Some(&app.org.token), &json!({ "query": query }).to_string())
        .await;
    assert_eq!(status, 200, "{resp:.300}");
    assert_eq!(error_code(&resp), Some("VALIDATION"), "{resp:.300}");
    assert!(resp["data"].is_null(), "{resp:.300}");
    resp["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Is `resp` refused by a depth or complexity limit?
fn over_a_limit(resp: &Value) -> bool {
    resp.to_string().contains("too deep") || resp.to_string().contains("too complex")
}

#[tokio::test]
async fn the_standard_introspection_query_is_answered() {
    let app = TestApp::spawn().await;
    // 9 levels of `ofType` under `__schema { types { fields { args { type`: 15 deep.
    assert_eq!(INTROSPECTION_QUERY.matches("ofType {").count(), 9);
    const { assert!(15 > MAX_DEPTH && 15 <= MAX_INTROSPECTION_DEPTH) };
    for query in [INTROSPECTION_QUERY, INTROSPECTION_QUERY_ALL] {
        let data = app.ok(query, json!({})).await;
        let schema = &data["__schema"];
        assert_eq!(schema["queryType"]["name"], "QueryRoot");
        assert_eq!(schema["mutationType"]["name"], "MutationRoot");
        let types: Vec<&str> = schema["types"]
            .as_array()
            .expect("types")
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        for name in ["QueryRoot", "MutationRoot", "Build", "Task", "__Type"] {
            assert!(types.contains(&name), "{name} not in {types:?}");
        }
        let build = schema["types"]
            .as_array()
            .and_then(|t| t.iter().find(|t| t["name"] == "Build"))
            .expect("Build");
        assert!(
            build["fields"]
                .as_array()
                .expect("fields")
                .iter()
                .any(|f| f["name"] == "tasks"),
            "{build}"
        );
    }
}

#[tokio::test]
async fn introspection_is_still_bounded() {
    let app = TestApp::spawn().await;
    // A hostile `__type { ofType { ofType { ... } } }`, nested within the bracket limit.
    let levels = MAX_INTROSPECTION_DEPTH + 5;
    let deep = format!(
        "{{ __type(name: \"Build\") {{ {}name{} }} }}",
        "ofType { ".repeat(levels),
        " }".repeat(levels)
    );
    assert_eq!(
        refusal(&app, &deep).await,
        "Query is nested too deep.",
        "{levels} levels of ofType"
    );
    // The same 1,000 deep never reaches the parser (`bounded`): 400 `VALIDATION`.
    let deeper = format!(
        "{{ __type(name: \"Build\") {{ {}name{} }} }}",
        "ofType { ".repeat(1_000),
        " }".repeat(1_000)
    );
    let (status, resp) = app
        .post_raw(
            Some(&app.org.token),
            &json!({ "query": deeper }).to_string(),
        )
        .await;
    assert_eq!(status, 400, "{resp:.300}");
    assert_eq!(error_code(&resp), Some("VALIDATION"));
    // A wide introspection selection is too complex.
    let wide = format!(
        "{{ __schema {{ types {{ {} }} }} }}",
        "name ".repeat(buildhooks_schema::MAX_INTROSPECTION_COMPLEXITY)
    );
    assert_eq!(refusal(&app, &wide).await, "Query is too complex.");
    // The server answers on.
    assert_eq!(
        app.ok("{ __type(name: \"Build\") { name } }", json!({}))
            .await["__type"]["name"],
        "Build"
    );
}

#[tokio::test]
async fn ordinary_queries_keep_their_limits_beside_introspection() {
    let app = TestApp::spawn().await;
    let at_limit = format!("{{ {} }}", ordinary(MAX_DEPTH));
    let past_limit = format!("{{ {} }}", ordinary(MAX_DEPTH + 1));
    // At the limit: executed (the build does not exist).
    let resp = app.gql(&at_limit, json!({})).await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    // One deeper: refused as before, with or without introspection beside it.
    assert_eq!(
        refusal(&app, &past_limit).await,
        "Query is nested too deep."
    );
    let with_introspection = format!(
        "{{ {} __schema {{ types {{ fields {{ type {{ ofType {{ ofType {{ name }} }} }} }} }} }} }}",
        ordinary(MAX_DEPTH + 1)
    );
    assert_eq!(
        refusal(&app, &with_introspection).await,
        "Query is nested too deep."
    );
    // Introspection does not use up the ordinary query's depth.
    let beside = format!(
        "{{ {} __schema {{ types {{ fields {{ type {{ ofType {{ ofType {{ ofType {{ name }} }} }} }} }} }} }} }}",
        ordinary(MAX_DEPTH)
    );
    let resp = app.gql(&beside, json!({})).await;
    assert!(!over_a_limit(&resp), "{resp:.300}");
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp:.300}");
    // Complexity, as before; a fragment counts where it is spread.
    let wide = format!("{{ {} }}", "__typename ".repeat(MAX_COMPLEXITY + 1));
    assert_eq!(refusal(&app, &wide).await, "Query is too complex.");
    let half = "__typename ".repeat(MAX_COMPLEXITY / 2 + 1);
    let spread_twice = format!("{{ ...F ...F }} fragment F on Query {{ {half} }}");
    assert_eq!(refusal(&app, &spread_twice).await, "Query is too complex.");
    let with_introspection = format!(
        "{{ {} {INTROSPECTION_QUERY_BODY} }}",
        "__typename ".repeat(MAX_COMPLEXITY)
    );
    let data = app.ok(&with_introspection, json!({})).await;
    assert_eq!(data["__schema"]["queryType"]["name"], "QueryRoot");
}

/// Introspection worth about 100 of complexity, for a query whose ordinary part is at its limit.
const INTROSPECTION_QUERY_BODY: &str = "__schema { queryType { name } types { name kind \
     fields { name type { name kind ofType { name kind ofType { name kind } } } } } }";

#[tokio::test]
async fn the_sdl_is_served_and_printed_by_the_binary() {
    let app = TestApp::spawn().await;
    // No token needed: the schema is public.
    let resp = app
        .client
        .get(app.url("/graphql/schema.graphql"))
        .send()
        .await
        .expect("GET schema.graphql");
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    let served = resp.text().await.expect("body");
    for needle in [
        "type Build {",
        "type Task {",
        "type QueryRoot {",
        "type MutationRoot {",
    ] {
        assert!(served.contains(needle), "{needle} missing");
    }
    // Built without a database, it is still the served schema's SDL.
    assert_eq!(served, app.state.schema.sdl());

    let out = Command::new(crate::cli::binary())
        .arg("schema")
        .env("RUST_LOG", "warn")
        .output()
        .expect("run buildhooks schema");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), served);
}

#[tokio::test]
async fn graphiql_and_its_assets_come_from_the_binary() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(app.url("/graphql"))
        .send()
        .await
        .expect("GET /graphql");
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(csp.contains("script-src 'self';"), "{csp}");
    assert!(csp.contains("default-src 'none'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(!html.contains("<script>"), "no inline script");
    assert!(!html.contains("://"), "nothing from elsewhere: {html}");
    let expected = [
        ("graphiql.min.js?v=3.9.0", "text/javascript", true),
        ("graphiql.min.css?v=3.9.0", "text/css", true),
        ("react.production.min.js?v=18.3.1", "text/javascript", true),
        (
            "react-dom.production.min.js?v=18.3.1",
            "text/javascript",
            true,
        ),
        ("boot.js", "text/javascript", false),
        ("page.css", "text/css", false),
    ];
    for (file, content_type, vendored) in expected {
        let path = format!("/graphql/assets/{file}");
        assert!(
            html.contains(&format!("\"{path}\"")),
            "{path} not on the page"
        );
        let resp = app.client.get(app.url(&path)).send().await.expect("asset");
        assert_eq!(resp.status(), 200, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .expect("ascii")
                .starts_with(content_type),
            "{path}: {:?}",
            headers["content-type"]
        );
        let cache = headers["cache-control"].to_str().expect("ascii");
        assert_eq!(cache.contains("immutable"), vendored, "{path}: {cache}");
        assert!(!resp.bytes().await.expect("body").is_empty(), "{path}");
    }
    for licence in ["LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"] {
        let resp = app
            .client
            .get(app.url(&format!("/graphql/assets/{licence}")))
            .send()
            .await
            .expect("licence");
        assert_eq!(resp.status(), 200);
        assert!(resp.text().await.expect("text").starts_with("MIT License"));
    }
    for missing in ["nope.js", "..%2Fsettings.js", "README.md"] {
        let resp = app
            .client
            .get(app.url(&format!("/graphql/assets/{missing}")))
            .send()
            .await
            .expect("missing");
        assert_eq!(resp.status(), 404, "{missing}");
    }
}

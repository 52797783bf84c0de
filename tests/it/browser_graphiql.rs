//! GraphiQL in a real headless Chromium with no network: every host name but 127.0.0.1 fails
//! to resolve, so a file fetched from a CDN would fail and GraphiQL would stay on "Loading".
//! The page opens with the organization's token in the URL fragment, loads the schema (the
//! documentation explorer lists the root types), runs a query and shows the real answer; every
//! request the page made went to this server. Saves `target/screenshots/graphiql-offline.png`.
//! Without Chromium and outside CI it is skipped with a message; under `CI=true` it always runs.

use std::panic::AssertUnwindSafe;
use std::path::Path;

use fantoccini::{Client, Locator};
use futures::FutureExt;
use serde_json::{json, Value};

use crate::utils::browser::{
    browser_paths, click, screenshot, start_browser_with, wait_text, Driver,
};
use crate::utils::TestApp;

/// Chromium as `utils::browser::start_browser` starts it, plus: no host name resolves but
/// 127.0.0.1, and no proxy.
async fn start_offline_browser(chromium: &Path, driver: &Path, profile: &Path) -> (Driver, Client) {
    let offline = [
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        "--no-proxy-server",
    ];
    start_browser_with(chromium, driver, profile, &offline).await
}

/// The texts of GraphiQL's variables and headers editors.
const EDITORS: &str =
    "return Array.from(document.querySelectorAll('.graphiql-editor-tool .CodeMirror'))\
                       .map(e => e.CodeMirror.getValue())";

/// Runs `script` in the page and returns its value.
async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect(script)
}

#[tokio::test]
async fn graphiql_loads_the_schema_and_runs_a_query_with_no_network() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_offline_browser(&chromium, &driver, profile.path()).await;
    // Chromium outlives chromedriver unless its session is closed: close it on failure too.
    let outcome = AssertUnwindSafe(drive(&app, &c)).catch_unwind().await;
    c.close().await.expect("close the browser");
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The test proper, in the browser `c`.
async fn drive(app: &TestApp, c: &Client) {
    // The offline rules hold: a CDN is unreachable from this browser.
    let _ = c.goto("https://unpkg.com/graphiql/graphiql.min.js").await;
    let shown = js(c, "return document.body.innerText").await;
    assert!(
        shown
            .as_str()
            .is_some_and(|s| s.contains("ERR_NAME_NOT_RESOLVED")),
        "a CDN answered: {shown:.300}"
    );

    c.goto(&app.url(&format!("/graphql#token={}", app.org.token)))
        .await
        .expect("open /graphql");
    c.wait()
        .for_element(Locator::Css(".graphiql-container"))
        .await
        .expect("GraphiQL mounted");
    // The token left the address bar at once and filled the headers editor.
    assert_eq!(js(c, "return window.location.hash").await, "");
    let editors = js(c, EDITORS).await;
    let bearer = format!("\"Authorization\": \"Bearer {}\"", app.org.token);
    assert!(
        editors
            .as_array()
            .expect("editors")
            .iter()
            .any(|e| e.as_str().is_some_and(|e| e.contains(&bearer))),
        "{editors}"
    );

    // The schema loads: the documentation explorer shows the root types and a field.
    click(c, "button[aria-label='Show Documentation Explorer']").await;
    wait_text(c, ".graphiql-doc-explorer", "QueryRoot").await;
    click(
        c,
        ".graphiql-doc-explorer a.graphiql-doc-explorer-type-name",
    )
    .await;
    wait_text(c, ".graphiql-doc-explorer", "ownerInfo").await;

    // Run a query: the result pane shows the organization the token belongs to.
    let query = "{ ownerInfo { uid name } }";
    js(
        c,
        &format!(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue({});",
            json!(query)
        ),
    )
    .await;
    click(c, ".graphiql-execute-button").await;
    let answer = wait_text(c, ".graphiql-response", &app.org.name).await;
    assert!(answer.contains(&format!("\"{}\"", app.org.uid)), "{answer}");
    assert!(!answer.contains("errors"), "{answer}");
    screenshot(c, "graphiql-offline").await;

    // Nothing is still loading, and every request the page made went to this server.
    let text = js(c, "return document.body.innerText").await;
    assert!(
        !text.as_str().unwrap_or_default().contains("Loading"),
        "{text:.300}"
    );
    let origin = js(c, "return window.location.origin").await;
    let origin = origin.as_str().expect("origin").to_owned();
    assert_eq!(origin, app.url(""));
    let fetched = js(
        c,
        "return performance.getEntriesByType('resource').map(e => e.name)",
    )
    .await;
    let fetched: Vec<&str> = fetched
        .as_array()
        .expect("names")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for asset in [
        "/graphql/assets/graphiql.min.js",
        "/graphql/assets/react.production.min.js",
        "/graphql/assets/boot.js",
    ] {
        assert!(
            fetched.iter().any(|u| u.contains(asset)),
            "{asset} not fetched: {fetched:?}"
        );
    }
    assert!(
        fetched.iter().filter(|u| u.ends_with("/graphql")).count() >= 2,
        "introspection and the query: {fetched:?}"
    );
    for url in &fetched {
        assert!(
            url.starts_with(&format!("{origin}/")),
            "left 127.0.0.1: {url}"
        );
    }

    // Opened again without a token: the headers editor offers the template, and the token was
    // not kept in the browser's storage.
    c.goto(&app.url("/graphql"))
        .await
        .expect("open /graphql again");
    c.wait()
        .for_element(Locator::Css(".graphiql-container"))
        .await
        .expect("GraphiQL mounted");
    let editors = js(c, EDITORS).await.to_string();
    assert!(editors.contains("Bearer <token>"), "{editors}");
    let stored = js(c, "return JSON.stringify(window.localStorage)").await;
    assert!(
        !stored.to_string().contains(&app.org.token),
        "the token was stored: {stored:.300}"
    );
}

//! Relay pagination on every connection, over more rows than any page: `last: 50` is the newest
//! 50 deliveries, oldest of them first (the connection's order, Cirrus's: oldest first);
//! walking `first/after` forwards and `last/before` backwards visits every row once, in the
//! same order, with `hasPreviousPage`/`hasNextPage` true exactly where more rows lie; the same
//! for `Repository.builds` and `OwnerInfo.builds`; bad sizes and `first` with `last` refused.

use buildhooks_entity::webhook_delivery;
use buildhooks_server::Role;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::utils::database::TestDatabase;
use crate::utils::{error_code, save_endpoints, Org, TestApp};

/// An API-only server (no dispatcher: deliveries stay in the outbox, cheap to make).
async fn api_only() -> TestApp {
    let db = TestDatabase::new().await;
    let mut config = crate::utils::database::config(&db.url);
    config.allow_private_targets = true;
    TestApp::start(db, config, Role::Api).await
}

/// One page of a connection: node ids, `hasPreviousPage`, `hasNextPage`, start and end cursors.
struct Page {
    ids: Vec<String>,
    has_previous: bool,
    has_next: bool,
    start: Value,
    end: Value,
}

/// Runs `field(first, after, last, before)` under `root` (e.g. `ownerInfo`), whose connection
/// sits at `path` in `data`.
async fn page(
    app: &TestApp,
    token: &str,
    root: &str,
    field: &str,
    path: &[&str],
    args: Value,
) -> Page {
    let query = format!(
        "query($first: Int, $after: String, $last: Int, $before: String) {{ {root} {{
            {field}(first: $first, after: $after, last: $last, before: $before) {{
                edges {{ cursor node {{ id }} }}
                pageInfo {{ hasPreviousPage hasNextPage startCursor endCursor }} }} }} }}"
    );
    let resp = app.gql_as(token, &query, args.clone()).await;
    assert!(resp.get("errors").is_none(), "{args}: {resp}");
    let mut conn = &resp["data"];
    for key in path {
        conn = &conn[*key];
    }
    let edges = conn["edges"].as_array().expect("edges");
    // Each cursor stands for its own edge.
    let ids: Vec<String> = edges
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_owned())
        .collect();
    let info = &conn["pageInfo"];
    assert_eq!(
        info["startCursor"],
        edges.first().map_or(Value::Null, |e| e["cursor"].clone())
    );
    assert_eq!(
        info["endCursor"],
        edges.last().map_or(Value::Null, |e| e["cursor"].clone())
    );
    Page {
        ids,
        has_previous: info["hasPreviousPage"] == true,
        has_next: info["hasNextPage"] == true,
        start: info["startCursor"].clone(),
        end: info["endCursor"].clone(),
    }
}

/// Walks the whole connection forwards with `first: size` and backwards with `last: size`;
/// checks each page's flags and that both walks visit `expected`, in order.
async fn walk_both_ways(
    app: &TestApp,
    token: &str,
    root: &str,
    field: &str,
    path: &[&str],
    size: usize,
    expected: &[String],
) {
    let pages = expected.len().div_ceil(size);
    let mut forward = Vec::new();
    let mut after = Value::Null;
    for n in 0..pages {
        let p = page(
            app,
            token,
            root,
            field,
            path,
            json!({ "first": size, "after": after }),
        )
        .await;
        assert_eq!(
            p.has_previous,
            n > 0,
            "{field} forward page {n}: hasPreviousPage"
        );
        assert_eq!(
            p.has_next,
            n + 1 < pages,
            "{field} forward page {n}: hasNextPage"
        );
        forward.extend(p.ids);
        after = p.end;
    }
    assert_eq!(
        forward, expected,
        "{field}: first/after visits every row in order"
    );

    let mut backward: Vec<Vec<String>> = Vec::new();
    let mut before = Value::Null;
    for n in 0..pages {
        let p = page(
            app,
            token,
            root,
            field,
            path,
            json!({ "last": size, "before": before }),
        )
        .await;
        assert_eq!(p.has_next, n > 0, "{field} backward page {n}: hasNextPage");
        assert_eq!(
            p.has_previous,
            n + 1 < pages,
            "{field} backward page {n}: hasPreviousPage"
        );
        before = p.start;
        backward.push(p.ids);
    }
    backward.reverse();
    assert_eq!(
        backward.concat(),
        expected,
        "{field}: last/before visits the same rows in the same order"
    );
}

#[tokio::test]
async fn last_50_is_the_newest_deliveries_and_pages_walk_the_same_rows_both_ways() {
    let app = api_only().await;
    // Three endpoints for every event; one build of 85 tasks: 86 events, 258 deliveries.
    let endpoints: Vec<Value> = (0..3)
        .map(|i| json!({ "webhookURL": format!("http://127.0.0.1:9/{i}"), "events": ["*"] }))
        .collect();
    let saved = save_endpoints(&app, &app.org, json!(endpoints)).await;
    assert!(saved.get("errors").is_none(), "{saved}");
    let repo = app.create_repository("paged").await;
    let tasks: Vec<(String, bool)> = (0..85).map(|i| (format!("t{i}"), false)).collect();
    let tasks: Vec<(&str, bool)> = tasks.iter().map(|(n, o)| (n.as_str(), *o)).collect();
    app.create_build(&repo, &tasks, false).await;

    // The truth, from the store: every delivery, oldest first.
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let truth: Vec<String> = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::OrgId.eq(org_id))
        .order_by_asc(webhook_delivery::Column::Id)
        .all(app.state.store.conn())
        .await
        .expect("deliveries")
        .into_iter()
        .map(|d| d.uuid)
        .collect();
    assert_eq!(truth.len(), 258);

    let token = app.org.token.clone();
    let path = ["ownerInfo", "webhookDeliveries"];
    // Cirrus's settings page asks for `last: 50`: the newest 50, oldest of them first.
    let newest = page(
        &app,
        &token,
        "ownerInfo",
        "webhookDeliveries",
        &path,
        json!({ "last": 50 }),
    )
    .await;
    assert_eq!(newest.ids, truth[208..]);
    assert!(newest.has_previous && !newest.has_next);
    // Without a size, the same page.
    let default = page(
        &app,
        &token,
        "ownerInfo",
        "webhookDeliveries",
        &path,
        json!({}),
    )
    .await;
    assert_eq!(default.ids, newest.ids);
    // `first: 50` is the oldest 50.
    let oldest = page(
        &app,
        &token,
        "ownerInfo",
        "webhookDeliveries",
        &path,
        json!({ "first": 50 }),
    )
    .await;
    assert_eq!(oldest.ids, truth[..50]);
    assert!(!oldest.has_previous && oldest.has_next);

    walk_both_ways(
        &app,
        &token,
        "ownerInfo",
        "webhookDeliveries",
        &path,
        40,
        &truth,
    )
    .await;
    walk_both_ways(
        &app,
        &token,
        "ownerInfo",
        "webhookDeliveries",
        &path,
        100,
        &truth,
    )
    .await;
}

/// Creates a build of `repo` on `branch` as `org`; returns its id.
async fn build_on(app: &TestApp, org: &Org, repo: &str, branch: &str) -> String {
    let resp = app
        .gql_as(
            &org.token,
            "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { id } } }",
            json!({ "i": { "repositoryId": repo, "branch": branch, "tasks": [{ "name": "t" }] } }),
        )
        .await;
    resp["data"]["createBuild"]["build"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{resp}"))
        .to_owned()
}

#[tokio::test]
async fn repository_and_owner_builds_walk_the_same_rows_both_ways() {
    let app = api_only().await;
    let org = app.new_org("builds").await;
    let repo = app
        .gql_as(
            &org.token,
            "mutation { createRepository(input: {name: \"many\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    let other = app
        .gql_as(
            &org.token,
            "mutation { createRepository(input: {name: \"other\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    let mut all = Vec::new();
    let mut of_repo = Vec::new();
    let mut on_dev = Vec::new();
    for i in 0..255 {
        // Every tenth build is the other repository's; every third of the rest is on `dev`.
        let (r, branch) = match i {
            i if i % 10 == 9 => (&other, "main"),
            i if i % 3 == 0 => (&repo, "dev"),
            _ => (&repo, "main"),
        };
        let id = build_on(&app, &org, r, branch).await;
        if r == &repo {
            of_repo.push(id.clone());
            if branch == "dev" {
                on_dev.push(id.clone());
            }
        }
        all.push(id);
    }
    assert!(of_repo.len() > 200, "{}", of_repo.len());

    let root = format!("repository(id: \"{repo}\")");
    let path = ["repository", "builds"];
    let newest = page(
        &app,
        &org.token,
        &root,
        "builds",
        &path,
        json!({ "last": 1 }),
    )
    .await;
    assert_eq!(
        newest.ids,
        [of_repo.last().expect("builds").clone()],
        "last: 1 is the newest build"
    );
    let default = page(&app, &org.token, &root, "builds", &path, json!({})).await;
    assert_eq!(
        default.ids,
        of_repo[of_repo.len() - 20..],
        "without a size, the newest 20"
    );
    walk_both_ways(&app, &org.token, &root, "builds", &path, 30, &of_repo).await;
    // The branch filter: the newest 100 builds on `dev`, oldest first.
    let dev = app
        .gql_as(
            &org.token,
            &format!("{{ repository(id: \"{repo}\") {{ builds(branch: \"dev\", last: 100) {{ edges {{ node {{ id branch }} }} }} }} }}"),
            json!({}),
        )
        .await;
    let dev_ids: Vec<&str> = dev["data"]["repository"]["builds"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id"))
        .collect();
    assert_eq!(dev_ids, on_dev[on_dev.len() - dev_ids.len()..]);
    assert_eq!(dev_ids.len(), on_dev.len().min(100));

    walk_both_ways(
        &app,
        &org.token,
        "ownerInfo",
        "builds",
        &["ownerInfo", "builds"],
        45,
        &all,
    )
    .await;
}

#[tokio::test]
async fn page_sizes_and_directions_are_checked() {
    let app = api_only().await;
    for (args, field) in [
        ("first: 0", "first"),
        ("first: 101", "first"),
        ("last: 0", "last"),
        ("last: 101", "last"),
        ("first: 1, last: 1", "last"),
        ("last: 1, before: \"x\"", "before"),
        ("first: 1, after: \"x\"", "after"),
    ] {
        for connection in ["webhookDeliveries", "builds", "repositories"] {
            let resp = app
                .gql(
                    &format!("{{ ownerInfo {{ {connection}({args}) {{ edges {{ cursor }} }} }} }}"),
                    json!({}),
                )
                .await;
            assert_eq!(
                error_code(&resp),
                Some("VALIDATION"),
                "{connection}({args}): {resp}"
            );
            let message = resp["errors"][0]["message"].as_str().unwrap_or("");
            assert!(
                message.starts_with(field),
                "{connection}({args}): {message}"
            );
        }
    }
}

//! API tokens: `ownerAccessTokens` lists them masked with their last use, and
//! `deleteOwnerAccessToken` revokes one: refused at once by the instance that revoked it, and on
//! PostgreSQL by every other instance within a second (`NOTIFY`), well inside the 5 s cache,
//! also after its listening connection was cut. Another organization cannot revoke it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use buildhooks_server::{AppState, Config, Role};
use serde_json::{json, Value};

use crate::utils::database::{drop_postgres_database, postgres_server};
use crate::utils::faults::Faults;
use crate::utils::{error_code, TestApp};

const LIST: &str = "{ ownerAccessTokens { id maskedToken createdAt lastUsedAt revokedAt } }";
const REVOKE: &str =
    "mutation($i: DeleteOwnerAccessTokenInput!) { deleteOwnerAccessToken(input: $i) {
    token { id maskedToken revokedAt } clientMutationId } }";
const NEW_TOKEN: &str = "mutation($i: GenerateNewOwnerAccessTokenInput!) {
    generateNewOwnerAccessToken(input: $i) { token } }";

/// A new token of the app's organization.
async fn new_token(app: &TestApp) -> String {
    let data = app
        .ok(
            NEW_TOKEN,
            json!({ "i": { "platform": "github", "ownerUid": app.org.uid } }),
        )
        .await;
    data["generateNewOwnerAccessToken"]["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// The organization's tokens as `token` lists them.
async fn list(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.gql_as(token, LIST, json!({})).await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["ownerAccessTokens"]
        .as_array()
        .expect("tokens")
        .clone()
}

/// The status of `{ ownerInfo { uid } }` sent with `token` to the server at `addr`.
async fn status_at(app: &TestApp, addr: std::net::SocketAddr, token: &str) -> u16 {
    app.client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": "{ ownerInfo { uid } }" }))
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

/// The backends of the database at `url` listening for revocations.
async fn listener_pids(url: &str) -> Vec<i32> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = sea_orm::Database::connect(url).await.expect("connect");
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND query LIKE 'LISTEN%buildhooks_token_revoked%'",
        ))
        .await
        .expect("pg_stat_activity");
    let _ = db.close().await;
    rows.iter()
        .map(|r| r.try_get_by_index::<i32>(0).expect("pid"))
        .collect()
}

/// Cuts the connections of backends `pids`.
async fn terminate(url: &str, pids: &[i32]) {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await.expect("connect");
    for pid in pids {
        db.execute_unprepared(&format!("SELECT pg_terminate_backend({pid})"))
            .await
            .expect("terminate");
    }
    let _ = db.close().await;
}

fn masked(token: &str) -> String {
    format!("bh_…{}", &token[token.len() - 4..])
}

#[tokio::test]
async fn tokens_are_listed_masked_with_their_last_use_and_revoked_at_once() {
    let app = TestApp::spawn().await;
    let first = app.org.token.clone();
    let second = new_token(&app).await;
    // A token from before hints were kept.
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let old = "bh_issued_before_hints";
    {
        use sea_orm::{ActiveModelTrait, Set};
        buildhooks_entity::api_token::ActiveModel {
            org_id: Set(org_id),
            token_hash: Set(buildhooks_schema::auth::hash_token(old)),
            created_at: Set(1),
            ..Default::default()
        }
        .insert(app.state.store.conn())
        .await
        .expect("old token");
    }

    let tokens = list(&app, &first).await;
    let shown: Vec<&str> = tokens
        .iter()
        .map(|t| t["maskedToken"].as_str().expect("masked"))
        .collect();
    assert_eq!(shown, [masked(&first), masked(&second), "••••".into()]);
    for t in &tokens {
        assert!(t["revokedAt"].is_null(), "{t}");
        assert!(!t.to_string().contains(&first[3..]) && !t.to_string().contains(&second[3..]));
    }
    assert!(tokens[0]["createdAt"].as_i64().expect("createdAt") > 1_600_000_000_000);

    // The first token's use is noted in the background, once: later uses within the minute
    // change nothing.
    let deadline = Instant::now() + Duration::from_secs(5);
    let noted = loop {
        let tokens = list(&app, &first).await;
        if let Some(at) = tokens[0]["lastUsedAt"].as_i64() {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "lastUsedAt never noted: {tokens:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(
        tokens[1]["lastUsedAt"].is_null(),
        "the second token was never used"
    );
    for _ in 0..3 {
        list(&app, &first).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(list(&app, &first).await[0]["lastUsedAt"], noted);

    // The second token works (and is cached), then is revoked by the first: refused at once.
    assert_eq!(status_at(&app, app.addr, &second).await, 200);
    let id = tokens[1]["id"].as_str().expect("id").to_owned();
    let revoked = app
        .ok(
            REVOKE,
            json!({ "i": { "id": id, "clientMutationId": "r1" } }),
        )
        .await;
    let payload = &revoked["deleteOwnerAccessToken"];
    assert_eq!(payload["clientMutationId"], "r1");
    assert_eq!(payload["token"]["maskedToken"], masked(&second).as_str());
    let revoked_at = payload["token"]["revokedAt"].as_i64().expect("revokedAt");
    assert_eq!(status_at(&app, app.addr, &second).await, 401);
    let (status, resp) = app
        .post_raw(Some(&second), &json!({ "query": LIST }).to_string())
        .await;
    assert_eq!((status, error_code(&resp)), (401, Some("UNAUTHENTICATED")));
    // Listed with its revocation; revoking again changes nothing.
    let tokens = list(&app, &first).await;
    assert_eq!(tokens[1]["revokedAt"], revoked_at);
    let again = app.ok(REVOKE, json!({ "i": { "id": id } })).await;
    assert_eq!(
        again["deleteOwnerAccessToken"]["token"]["revokedAt"],
        revoked_at
    );
    // The first token still works; ids that name nothing are NOT_FOUND.
    assert_eq!(status_at(&app, app.addr, &first).await, 200);
    for missing in ["999999", "x"] {
        let resp = app.gql(REVOKE, json!({ "i": { "id": missing } })).await;
        assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    }
}

#[tokio::test]
async fn another_organization_cannot_list_or_revoke_a_token() {
    let app = TestApp::spawn().await;
    let other = app.new_org("other").await;
    let mine = list(&app, &app.org.token).await;
    assert_eq!(mine.len(), 1);
    let theirs = list(&app, &other.token).await;
    assert_eq!(theirs.len(), 1);
    assert_ne!(mine[0]["id"], theirs[0]["id"]);

    let resp = app
        .gql_as(
            &other.token,
            REVOKE,
            json!({ "i": { "id": mine[0]["id"] } }),
        )
        .await;
    assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{resp}");
    assert!(resp["data"].is_null() || resp["data"]["deleteOwnerAccessToken"].is_null());
    assert_eq!(status_at(&app, app.addr, &app.org.token).await, 200);
    assert!(list(&app, &app.org.token).await[0]["revokedAt"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_revoked_on_one_instance_is_refused_by_another_within_a_second() {
    if postgres_server().is_none() {
        println!("skipped on SQLite: two instances need PostgreSQL; set BUILDHOOKS_TEST_DATABASE_URL (.ci/run does)");
        return;
    }
    let a = TestApp::spawn().await;
    let url = a.db.url.clone();
    // Instance B: its own pools, token cache and listener over the same database.
    let mut config = Config::for_database(url.clone());
    config.allow_private_targets = true;
    let state = AppState::connect_with(config, Arc::new(Faults::default()))
        .await
        .expect("second state");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let b = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(buildhooks_server::run(listener, state, Role::All, async {
        let _ = stopped.await;
    }));

    let victim = new_token(&a).await;
    let id = list(&a, &a.org.token).await[1]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // B knows the token valid (and caches it for 5 s); its listener is connected by now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status_at(&a, b, &victim).await, 200);
    assert_eq!(status_at(&a, b, &victim).await, 200);

    a.ok(REVOKE, json!({ "i": { "id": id } })).await;
    let revoked = Instant::now();
    assert_eq!(
        status_at(&a, a.addr, &victim).await,
        401,
        "refused at once by A"
    );
    let refused_after = loop {
        if status_at(&a, b, &victim).await == 401 {
            break revoked.elapsed();
        }
        assert!(
            revoked.elapsed() < Duration::from_secs(3),
            "B still accepts the revoked token"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    println!("revoked token refused by the second instance after {refused_after:?}");
    assert!(
        refused_after < Duration::from_secs(1),
        "refused after {refused_after:?}"
    );
    // And stays refused; the organization's other token still works on B.
    assert_eq!(status_at(&a, b, &victim).await, 401);
    assert_eq!(status_at(&a, b, &a.org.token).await, 200);

    // The listening connections are cut: each instance listens again, and B still hears.
    let listeners = || listener_pids(&url);
    let cut = listeners().await;
    assert_eq!(
        cut.len(),
        2,
        "one revocation listener per instance: {cut:?}"
    );
    terminate(&url, &cut).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = listeners().await;
        if now.len() == 2 && now.iter().all(|pid| !cut.contains(pid)) {
            break;
        }
        assert!(Instant::now() < deadline, "listeners not back: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let second = new_token(&a).await;
    let id = list(&a, &a.org.token).await[2]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_eq!(status_at(&a, b, &second).await, 200);
    a.ok(REVOKE, json!({ "i": { "id": id } })).await;
    let revoked = Instant::now();
    while status_at(&a, b, &second).await != 401 {
        assert!(
            revoked.elapsed() < Duration::from_secs(1),
            "B accepts a revoked token after its listener reconnected"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "after a reconnect, refused by the second instance after {:?}",
        revoked.elapsed()
    );

    let _ = stop.send(());
    let _ = server.await;
    a.stop().await;
    drop_postgres_database(&url).await;
}

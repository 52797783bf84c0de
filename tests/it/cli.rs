//! The `buildhooks` binary's commands, run as a child process: `org create` prints one JSON
//! object whose token works against a server started by `serve` on the same database; a failure
//! prints its whole cause chain.

use std::process::Command;
use std::time::Duration;

use crate::utils::database::{key_env, TestDatabase};

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_buildhooks-under-test")
}

#[tokio::test]
async fn org_create_prints_a_token_that_the_served_api_accepts() {
    let db = TestDatabase::new().await;
    let name = format!("cli-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let out = Command::new(binary())
        .args(["org", "create", &name])
        .env("BUILDHOOKS_DATABASE_URL", &db.url)
        .envs(key_env(&db.url))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run buildhooks org create");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(printed["name"], name.as_str());
    let token = printed["token"].as_str().expect("token").to_owned();
    let uid = printed["uid"].as_str().expect("uid").to_owned();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let mut child = Command::new(binary())
        .args(["serve"])
        .env("BUILDHOOKS_DATABASE_URL", &db.url)
        .envs(key_env(&db.url))
        .env("BUILDHOOKS_LISTEN", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("serve");
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut answer = None;
    for _ in 0..100 {
        let sent = client
            .post(format!("http://127.0.0.1:{port}/graphql"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "query": "{ ownerInfo { uid name } }" }))
            .send()
            .await;
        if let Ok(resp) = sent {
            answer = Some(resp.json::<serde_json::Value>().await.expect("json"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("the server answered");
    assert_eq!(answer["data"]["ownerInfo"]["uid"], uid.as_str(), "{answer}");
    assert_eq!(answer["data"]["ownerInfo"]["name"], name.as_str());
}

#[test]
fn a_database_that_cannot_be_opened_is_named_with_its_cause() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let path = dir.path().join("missing").join("x.db");
    let out = Command::new(binary())
        .args(["org", "create", "acme"])
        .env(
            "BUILDHOOKS_DATABASE_URL",
            format!("sqlite://{}?mode=rwc", path.display()),
        )
        .env("RUST_LOG", "warn")
        .output()
        .expect("run buildhooks org create");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let named = format!(
        "error: the database file {} cannot be opened: ",
        path.display()
    );
    assert!(stderr.contains(&named), "{stderr}");
    assert!(stderr.contains("unable to open database file"), "{stderr}");
    assert!(!stderr.contains("internal error"), "{stderr}");
}

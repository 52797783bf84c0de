//! Where the key comes from and how values move under a new one: secrets an older version left
//! in clear are sealed when the server starts (and still deliver and verify); the embedded
//! database keeps a generated key in `<database file>.key` readable by its owner only, while a
//! database server refuses to start without `BUILDHOOKS_SECRET_KEY`; `buildhooks secrets
//! rotate-key` (the real binary) re-seals every value under the new key and says how many.

use std::process::Command;
use std::time::Duration;

use buildhooks_entity::{inbound_source, webhook_endpoint};
use buildhooks_server::config::SecretKey;
use buildhooks_store::secrets::{self, Purpose};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde_json::json;

use super::{cirrus_verifies, dump, holds_none};
use crate::cli::binary;
use crate::inbound::{github_as, github_source};
use crate::utils::database::{config, key_env, TEST_SECRET_KEY};
use crate::utils::robots::{Robot, Vendor};
use crate::utils::{save_endpoints, Receiver, TestApp};

#[tokio::test]
async fn secrets_left_in_clear_are_sealed_at_start_and_still_work() {
    let app = TestApp::spawn_with(|c| c.throttle_scale = 0.01).await;
    let receiver = Receiver::start(vec![]).await;
    let slack = Robot::start(Vendor::Slack, None).await;
    let org_id: i32 = app.org.uid.parse().expect("uid");
    let clear_secret = format!("left-in-clear-{}", uuid::Uuid::new_v4().simple());
    // Rows as an older version wrote them: secrets and a robot's URL in clear.
    for (position, kind, url, secret) in [
        (0, "webhook", receiver.url(), Some(clear_secret.clone())),
        (1, "slack", slack.url(), None),
    ] {
        webhook_endpoint::ActiveModel {
            org_id: Set(org_id),
            position: Set(position),
            url: Set(url),
            secret: Set(secret),
            kind: Set(kind.into()),
            events: Set("[\"build.created\"]".into()),
            enabled: Set(true),
            deleted: Set(false),
            created_at: Set(0),
            ..Default::default()
        }
        .insert(app.state.store.conn())
        .await
        .expect("endpoint");
    }
    let source_secret = format!("source-in-clear-{}", uuid::Uuid::new_v4().simple());
    let uid = uuid::Uuid::new_v4().simple().to_string();
    inbound_source::ActiveModel {
        uid: Set(uid.clone()),
        org_id: Set(org_id),
        kind: Set("github".into()),
        name: Set("old".into()),
        secret: Set(source_secret.clone()),
        deleted: Set(false),
        created_at: Set(0),
        ..Default::default()
    }
    .insert(app.state.store.conn())
    .await
    .expect("source");
    assert!(
        dump(&app.db).contains(&clear_secret),
        "the rows start in clear"
    );

    // What every start does before it serves.
    buildhooks_server::db::open_vault(app.state.store.db(), &config(&app.db.url))
        .await
        .expect("vault");
    holds_none(
        &dump(&app.db),
        &[
            ("the endpoint secret", &clear_secret),
            ("Slack's token", &slack.token),
            ("the source's secret", &source_secret),
        ],
    );

    let repo = app.create_repository("old").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert!(cirrus_verifies(&clear_secret, &got[0]));
    assert_eq!(slack.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(slack.problems(), Vec::<String>::new());
    let ping = json!({ "zen": "Still here.", "hook_id": 2 }).to_string();
    let answer = github_as(&app, &uid, &source_secret, "ping", "d-1", ping.as_bytes()).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    app.stop().await;
}

#[tokio::test]
async fn the_key_comes_from_the_variable_or_from_a_file_beside_the_embedded_database() {
    let app = TestApp::spawn().await;
    match app.db.is_postgres() {
        true => {
            let mut without = config(&app.db.url);
            without.secret_key = None;
            let error = buildhooks_server::AppState::connect(without)
                .await
                .err()
                .expect("no start without the key");
            let text = format!("{error:#}");
            assert!(text.contains("BUILDHOOKS_SECRET_KEY"), "{text}");
            let mut wrong = config(&app.db.url);
            wrong.secret_key = Some(SecretKey("c2hvcnQ=".into()));
            let text = format!(
                "{:#}",
                buildhooks_server::AppState::connect(wrong)
                    .await
                    .err()
                    .expect("a short key")
            );
            assert!(
                text.contains("BUILDHOOKS_SECRET_KEY") && !text.contains("c2hvcnQ="),
                "{text}"
            );
        }
        false => {
            let path = secrets::keys::key_file(&app.db.url).expect("a file database");
            let meta = std::fs::metadata(&path).expect("the key file beside the database");
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            }
            let keys = secrets::vault::parse_keys(&std::fs::read_to_string(&path).expect("read"));
            assert_eq!(keys.expect("one key").len(), 1, "a key of 32 bytes, base64");
            let _ = meta;
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn rotate_key_reseals_every_secret_under_the_new_key() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let slack = Robot::start(Vendor::Slack, None).await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": receiver.url(), "generateSecret": true },
            slack.endpoint(&["build.*"]),
        ]),
    )
    .await;
    let whsec = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]
        ["generatedSecretToken"]
        .as_str()
        .expect("generated")
        .to_owned();
    let source = github_source(&app, &app.org).await;
    let old_id = app
        .state
        .store
        .vault()
        .sealing_key_id()
        .expect("a key")
        .to_owned();
    assert!(dump(&app.db).contains(&format!("sealed:{old_id}:")));

    // A database server: the new key first, the old one after it. The embedded database without
    // the variable: the command makes the new key in the key file.
    let new_key = SecretKey::generate();
    let mut command = Command::new(binary());
    command
        .args(["secrets", "rotate-key"])
        .env("BUILDHOOKS_DATABASE_URL", &app.db.url)
        .env("RUST_LOG", "warn");
    if app.db.is_postgres() {
        assert_eq!(key_env(&app.db.url).len(), 1);
        command.env(
            "BUILDHOOKS_SECRET_KEY",
            format!("{},{TEST_SECRET_KEY}", new_key.0),
        );
    }
    let out = command.output().expect("run buildhooks secrets rotate-key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    // The generated secret, the robot's URL, the source's secret.
    assert_eq!(printed["total"], 3, "{printed}");
    assert_eq!(printed["failed"], 0, "{printed}");
    let new_id = printed["key_id"].as_str().expect("key id").to_owned();
    assert_ne!(new_id, old_id);

    let text = dump(&app.db);
    assert!(
        !text.contains(&format!("sealed:{old_id}:")),
        "a value left under the old key"
    );
    assert_eq!(text.matches(&format!("sealed:{new_id}:")).count(), 3);
    // Only the new key is needed now.
    let only_new = match app.db.is_postgres() {
        true => Some(new_key.0.as_str()),
        false => None,
    };
    let vault = secrets::vault_for(app.state.store.db(), &app.db.url, only_new).expect("vault");
    assert_eq!(vault.key_ids(), vec![new_id.as_str()]);
    let rows = webhook_endpoint::Entity::find()
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(app.state.store.conn())
        .await
        .expect("rows");
    let stored = rows[0].secret.as_deref().expect("sealed secret");
    assert_eq!(
        &*vault.open(Purpose::EndpointSecret, stored).expect("opens"),
        whsec
    );
    assert_eq!(
        &*vault
            .open(Purpose::EndpointUrl, &rows[1].url)
            .expect("opens"),
        slack.url()
    );
    let sources = inbound_source::Entity::find()
        .all(app.state.store.conn())
        .await
        .expect("rows");
    assert_eq!(
        &*vault
            .open(Purpose::InboundSecret, &sources[0].secret)
            .expect("opens"),
        source.secret
    );
    app.stop().await;
}

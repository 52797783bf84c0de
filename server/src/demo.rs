//! `buildhooks demo`: everything on a temporary embedded database — the server, an organization,
//! a repository, an endpoint with a generated secret and an in-process receiver that verifies
//! every signature, and two chat robots (Slack and DingTalk formats) — then one build driven
//! through approval, execution and a failure. Each delivery is printed as it arrives, and each
//! chat message as its reader would see it; the exit status says whether all arrived and
//! verified.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Router;
use buildhooks_receiver::{VerifiedWebhook, WebhookSecret};
use buildhooks_schema::clock::now_ms;
use serde_json::json;
use tokio::sync::mpsc;

use crate::api_client::Api;
use crate::{run, AppState, Config, Role};

#[derive(Clone)]
struct Inbox {
    secret: Arc<str>,
    tx: mpsc::UnboundedSender<(VerifiedWebhook, i64)>,
}

impl WebhookSecret for Inbox {
    fn webhook_secret(&self) -> &str {
        &self.secret
    }
}

async fn receive(State(inbox): State<Inbox>, hook: VerifiedWebhook) -> StatusCode {
    let _ = inbox.tx.send((hook, now_ms()));
    StatusCode::OK
}

/// Runs the demo; `keep` keeps the server up afterwards until Ctrl-C.
pub async fn demo(keep: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir().context("temporary directory")?;
    let mut config = Config::for_database(crate::db::file_url(&dir.path().join("demo.db")));
    // The demo's receiver lives on 127.0.0.1.
    config.allow_private_targets = true;
    config.retry_delay_ms = 200;
    // A throwaway database: a key of its own, no key file to write beside it.
    config.secret_key = Some(crate::config::SecretKey::generate());
    let state = AppState::connect(config).await?;
    let store = state.store.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(run(listener, state, Role::All, async {
        let _ = stop_rx.await;
    }));

    let (org, token) = buildhooks_schema::auth::create_organization(store.conn(), "demo", "github")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let api = Api {
        client: reqwest::Client::builder().no_proxy().build()?,
        url: format!("http://{addr}/graphql"),
        token,
    };
    let repo = api
        .call(
            "mutation { createRepository(input: {name: \"hello-world\"}) { repository { id } } }",
            json!({}),
        )
        .await?["createRepository"]["repository"]["id"]
        .as_str()
        .context("repository id")?
        .to_owned();

    // The receiver, with the secret the server generates for its endpoint.
    let receiver = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let receiver_url = format!("http://{}/webhooks", receiver.local_addr()?);
    // Two chat robots beside it: a Slack-format one told of failures, and a signed DingTalk
    // one told of failures and fixes.
    let (slack_url, dingtalk_url, mut said) = crate::demo_chat::start().await?;
    let saved = api
        .call(
            "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { endpoints { id generatedSecretToken } } } }",
            json!({ "i": { "ownerUid": org.id.to_string(), "deliveryEndpoints": [
                { "webhookURL": receiver_url, "generateSecret": true },
                { "kind": "SLACK", "webhookURL": slack_url, "events": ["task.failed", "build.failed"] },
                { "kind": "DINGTALK", "webhookURL": dingtalk_url, "secretToken": crate::demo_chat::DINGTALK_SECRET,
                  "events": ["build.failed", "build.fixed"] },
            ] } }),
        )
        .await?;
    let webhook_endpoint: i32 = saved["saveWebHookSettings"]["settings"]["endpoints"][0]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .context("endpoint id")?;
    let secret = saved["saveWebHookSettings"]["settings"]["endpoints"][0]["generatedSecretToken"]
        .as_str()
        .context("generated secret")?
        .to_owned();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let inbox = Inbox {
        secret: secret.into(),
        tx,
    };
    let app = Router::new()
        .route("/webhooks", axum::routing::post(receive))
        .with_state(inbox);
    tokio::spawn(async move {
        let _ = axum::serve(receiver, app).await;
    });

    println!("buildhooks demo: server on http://{addr}, receiver on {receiver_url}");
    println!(
        "settings page: http://{addr}/settings/{}{}",
        org.id,
        if keep {
            ""
        } else {
            "  (use --keep to keep it open)"
        }
    );
    println!(
        "{:<6} {:<8} {:<34} {:<10} {:>9}",
        "event", "action", "status", "signature", "commit->receipt"
    );

    let started = Instant::now();
    let build = api
        .call(
            "mutation($r: ID!) { createBuild(input: {repositoryId: $r, branch: \"main\", sha: \"4b825dc\", message: \"Demo build\", needsApproval: true, tasks: [{name: \"unit\"}, {name: \"integration\"}]}) { build { id tasks { id } } } }",
            json!({ "r": repo }),
        )
        .await?;
    let build_id = build["createBuild"]["build"]["id"]
        .as_str()
        .context("build id")?
        .to_owned();
    let tasks: Vec<String> = build["createBuild"]["build"]["tasks"]
        .as_array()
        .context("tasks")?
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    api.call(
        "mutation($b: ID!) { approve(input: {buildId: $b}) { build { status } } }",
        json!({ "b": build_id }),
    )
    .await?;
    let set = "mutation($t: ID!, $s: TaskStatus!) { updateTaskStatus(input: {taskId: $t, status: $s}) { task { status } } }";
    for (task, status) in [
        (&tasks[0], "EXECUTING"),
        (&tasks[1], "EXECUTING"),
        (&tasks[0], "COMPLETED"),
        (&tasks[1], "FAILED"),
    ] {
        api.call(set, json!({ "t": task, "s": status })).await?;
    }

    // Every event the build made has one outbox row; wait for each to arrive.
    let all = buildhooks_store::outbox::log::of_org(store.conn(), org.id).await?;
    let chat_messages = all
        .iter()
        .filter(|d| d.endpoint_id != webhook_endpoint)
        .count();
    let expected: Vec<_> = all
        .into_iter()
        .filter(|d| d.endpoint_id == webhook_endpoint)
        .collect();
    let created_at: std::collections::HashMap<String, i64> = expected
        .iter()
        .map(|d| (d.uuid.clone(), d.created_at))
        .collect();
    let mut arrived = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while arrived.len() < expected.len() {
        let Ok(Some((hook, at))) = tokio::time::timeout_at(deadline, rx.recv()).await else {
            break;
        };
        let id = hook.delivery_id.clone().unwrap_or_default();
        let payload = hook.payload().context("payload")?;
        let new_status = match hook.event.as_str() {
            "task" => payload.data.task.as_ref().map(|t| t.status.clone()),
            _ => payload.data.build.as_ref().map(|b| b.status.clone()),
        }
        .unwrap_or_default();
        let change = match &payload.old_status {
            Some(old) => format!("{old} -> {new_status}"),
            None => new_status,
        };
        let latency = created_at
            .get(&id)
            .map(|c| format!("{} ms", at - c))
            .unwrap_or_default();
        let action = serde_json::to_value(payload.action)?
            .as_str()
            .unwrap_or("")
            .to_owned();
        println!(
            "{:<6} {:<8} {:<34} {:<10} {:>9}",
            hook.event, action, change, "verified", latency
        );
        arrived.insert(id);
    }
    // The robots' messages, as their readers see them (each robot is paced: DingTalk takes 20
    // messages a minute).
    let mut heard = 0;
    let mut signed = true;
    while heard < chat_messages {
        let Ok(Some(message)) = tokio::time::timeout_at(deadline, said.recv()).await else {
            break;
        };
        heard += 1;
        signed &= message.robot != "dingtalk" || message.signed;
        println!(
            "--- {} robot{}:\n{}",
            message.robot,
            if message.signed {
                " (signature verified)"
            } else {
                ""
            },
            message.text.trim_end()
        );
    }
    println!("{heard} of {chat_messages} chat messages arrived");
    let all_known = arrived.iter().all(|id| created_at.contains_key(id));
    println!(
        "{} of {} deliveries arrived and verified in {} ms",
        arrived.len(),
        expected.len(),
        started.elapsed().as_millis()
    );
    if keep {
        println!(
            "serving until Ctrl-C; API token of org {}: {}",
            org.id, api.token
        );
        crate::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    let _ = server.await;
    if arrived.len() != expected.len() || !all_known || expected.is_empty() {
        bail!("not every delivery arrived verified");
    }
    if heard != chat_messages || chat_messages == 0 || !signed {
        bail!("not every chat message arrived");
    }
    Ok(())
}

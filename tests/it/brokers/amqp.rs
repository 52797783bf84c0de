//! RabbitMQ endpoints against the real broker: a transition reaches a queue bound to the
//! default exchange with the default routing key, as a persistent JSON message whose
//! `message_id` is the delivery id, with the webhook's headers in its header table and Cirrus
//! and Standard Webhooks signatures that verify; a named exchange and a key template with
//! `{repository}` and `{build}` render; a key no queue is bound to fails `unroutable` after one
//! retry; a redelivery publishes the delivered message again. Each test holds
//! [`super::RESTART`] for read, so the restart test never stops the broker under it.

use std::time::Duration;

use serde_json::{json, Value};

use super::{
    assert_delivered_once, attempts, id_of, redeliver, save_ok, settled, spawn, AMQP_BROKER,
    RESTART,
};
use crate::chat::settle;
use crate::utils::brokers::{
    amqp_url, assert_signed, connect_amqp, declare_exchange, delete_exchange, unique, AmqpQueue,
    Received, DEFAULT_EXCHANGE,
};

const WITHIN: Duration = Duration::from_secs(15);

/// The message properties every broker delivery carries.
fn assert_properties(m: &Received, id: &str) {
    assert_eq!(m.message_id.as_deref(), Some(id), "message_id: {m:?}");
    assert_eq!(m.delivery_mode, Some(2), "persistent: {m:?}");
    assert_eq!(m.content_type.as_deref(), Some("application/json"));
    assert_eq!(m.app_id.as_deref(), Some("buildhooks"));
    assert_eq!(m.header("x-cirrus-delivery"), Some(id));
    assert_eq!(m.header("content-type"), Some("application/json"));
    let ts: i64 = m
        .header("x-cirrus-timestamp")
        .expect("x-cirrus-timestamp")
        .parse()
        .expect("a timestamp in ms");
    assert!(ts > 1_600_000_000_000, "{ts}");
}

#[tokio::test]
async fn a_transition_reaches_a_queue_bound_to_the_default_routing_key_signed() {
    let Some(url) = amqp_url() else { return };
    let _shared = RESTART.read().await;
    let app = spawn(None, Some(&url), |_| {}).await;
    let org = app.org.uid.clone();
    let mut queue = AmqpQueue::bind(&url, DEFAULT_EXCHANGE, &format!("buildhooks.{org}.#")).await;
    let saved = save_ok(
        &app,
        json!([{ "kind": "AMQP", "broker": AMQP_BROKER, "generateSecret": true,
                 "events": ["build.created", "task.created"] }]),
    )
    .await;
    assert_eq!(saved[0]["kind"], "AMQP");
    assert_eq!(saved[0]["exchange"], DEFAULT_EXCHANGE);
    assert_eq!(saved[0]["subject"], "buildhooks.{org}.{event}.{status}");
    let secret = saved[0]["generatedSecretToken"]
        .as_str()
        .expect("a generated secret")
        .to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let repo = app.create_repository("rabbit").await;
    let (build, _) = app.create_build(&repo, &[("a", false)], false).await;

    let rows = settle(&app, &app.org, 2, WITHIN).await;
    assert_eq!(rows.len(), 2, "build.created and task.created: {rows:?}");
    let ids: Vec<&str> = rows.iter().map(id_of).collect();
    let got = queue.wait_for(&ids, WITHIN).await;
    for d in &rows {
        assert_delivered_once(d);
        let id = id_of(d);
        let m = got.iter().find(|m| m.delivery() == id).expect("message");
        let event = d["payload"]["event"].as_str().expect("event");
        let key = format!("buildhooks.{org}.{event}.created");
        assert_eq!(m.subject, key, "the routing key");
        assert_eq!(m.exchange.as_deref(), Some(DEFAULT_EXCHANGE));
        assert_eq!(
            d["webhookURL"],
            format!("amqp://{AMQP_BROKER}/{DEFAULT_EXCHANGE}/{key}")
        );
        assert_eq!(m.header("x-cirrus-event"), Some(event));
        assert_properties(m, id);
        assert_signed(&secret, m);
        let body = m.json();
        assert_eq!(body["action"], "created");
        assert_eq!(
            body["data"]["build"]["id"].to_string().trim_matches('"'),
            build
        );
    }
    assert_eq!(got.len(), 2, "one message per delivery");
    let extra: Vec<Received> = queue
        .rest(Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|m| ids.contains(&m.delivery()))
        .collect();
    assert!(extra.is_empty(), "no repeats: {extra:?}");
    queue.delete().await;
}

#[tokio::test]
async fn a_named_exchange_and_a_key_template_render() {
    let Some(url) = amqp_url() else { return };
    let _shared = RESTART.read().await;
    let app = spawn(None, Some(&url), |_| {}).await;
    let exchange = unique("bh-test-x-");
    let prefix = unique("bh");
    {
        // Declared first, the way the sink declares it, so that the queue can be bound.
        let (conn, channel) = connect_amqp(&url).await;
        declare_exchange(&channel, &exchange).await;
        let _ = conn.close(200, "done".into()).await;
    }
    let mut queue = AmqpQueue::bind(&url, &exchange, &format!("{prefix}.#")).await;
    let template = format!("{prefix}.{{org}}.{{repository}}.{{build}}.{{event}}.{{status}}");
    let saved = save_ok(
        &app,
        json!([{ "kind": "AMQP", "broker": AMQP_BROKER, "exchange": exchange,
                 "subject": template, "secretToken": "plain-secret",
                 "events": ["build.created"] }]),
    )
    .await;
    assert_eq!(saved[0]["exchange"], exchange);
    assert_eq!(
        saved[0]["webhookURL"],
        format!("amqp://{AMQP_BROKER}/{exchange}/{template}")
    );
    let repo = app.create_repository("templated").await;
    let (build, _) = app.create_build(&repo, &[("a", false)], false).await;
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    let d = &rows[0];
    assert_delivered_once(d);
    let id = id_of(d);
    let got = queue.wait_for(&[id], WITHIN).await;
    let m = &got[0];
    let org = &app.org.uid;
    let key = format!("{prefix}.{org}.{repo}.{build}.build.created");
    assert_eq!(m.subject, key);
    assert_eq!(m.exchange.as_deref(), Some(exchange.as_str()));
    assert_eq!(
        d["webhookURL"],
        format!("amqp://{AMQP_BROKER}/{exchange}/{key}")
    );
    assert_properties(m, id);
    assert_signed("plain-secret", m);
    assert!(
        m.header("webhook-signature").is_none(),
        "Standard Webhooks headers come with whsec_ secrets only"
    );
    queue.delete().await;
    delete_exchange(&url, &exchange).await;
}

#[tokio::test]
async fn a_key_no_queue_is_bound_to_fails_unroutable_after_one_retry() {
    let Some(url) = amqp_url() else { return };
    let _shared = RESTART.read().await;
    let app = spawn(None, Some(&url), |_| {}).await;
    let prefix = unique("bhnone");
    save_ok(
        &app,
        json!([{ "kind": "AMQP", "broker": AMQP_BROKER,
                 "subject": format!("{prefix}.{{org}}.{{event}}"), "events": ["build.created"] }]),
    )
    .await;
    let repo = app.create_repository("nowhere").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    assert_eq!(rows.len(), 1);
    let d = &rows[0];
    assert_eq!(d["state"], "FAILED", "{d}");
    let unroutable = (Value::Null, json!("unroutable"));
    assert_eq!(attempts(d), [unroutable.clone(), unroutable], "{d}");
}

#[tokio::test]
async fn a_redelivery_publishes_the_delivered_message_again() {
    let Some(url) = amqp_url() else { return };
    let _shared = RESTART.read().await;
    let app = spawn(None, Some(&url), |_| {}).await;
    let prefix = unique("bh");
    let mut queue = AmqpQueue::bind(&url, DEFAULT_EXCHANGE, &format!("{prefix}.#")).await;
    save_ok(
        &app,
        json!([{ "kind": "AMQP", "broker": AMQP_BROKER, "events": ["build.created"],
                 "subject": format!("{prefix}.{{org}}.{{event}}.{{status}}"),
                 "secretToken": "again" }]),
    )
    .await;
    let repo = app.create_repository("again").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let rows = settle(&app, &app.org, 1, WITHIN).await;
    assert_delivered_once(&rows[0]);
    let id = id_of(&rows[0]).to_owned();
    let first = queue.wait_for(&[&id], WITHIN).await.remove(0);

    redeliver(&app, &id).await;
    let again = queue.wait_for(&[&id], WITHIN).await.remove(0);
    assert_eq!(again.body, first.body, "the same bytes");
    assert_eq!(again.subject, first.subject, "the same routing key");
    assert!(
        again
            .message_id
            .as_deref()
            .is_some_and(|m| m == id || m.starts_with(&format!("{id}."))),
        "message_id names the delivery: {again:?}"
    );
    assert_signed("again", &again);
    let d = settled(&app, &id, 2).await;
    assert_eq!(d["state"], "DELIVERED", "{d}");
    assert_eq!(
        attempts(&d),
        [(Value::Null, Value::Null), (Value::Null, Value::Null)],
        "{d}"
    );
    assert!(
        queue.rest(Duration::from_millis(300)).await.is_empty(),
        "published once more, not twice"
    );
    queue.delete().await;
}

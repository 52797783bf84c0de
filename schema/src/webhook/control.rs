//! Endpoints disabled by buildhooks and enabled again (issue 19). An endpoint is disabled when a
//! receiver answers `410 Gone`, or when its deliveries have all failed for a while (the
//! dispatcher decides: `server/src/delivery/control.rs`); its reason and time are kept and shown
//! (`disabledReason`, `disabledAt`). Disabling writes, in its transaction, an `endpoint.disabled`
//! event and one outbox row per endpoint of the organization whose patterns name it
//! (`endpoint.*` or `endpoint.disabled`; never `*`), and `enableWebhookEndpoint` writes
//! `endpoint.recovered` likewise, after a test message to the endpoint succeeded (else it is
//! refused with `TEST_MESSAGE_FAILED` and the endpoint stays disabled).
//!
//! Deliveries queued for a disabled endpoint are not lost: each ends FAILED without a request,
//! with the stable error `endpoint_disabled`, so `webhookRedeliver` (or a replay of FAILED
//! deliveries) sends them once the endpoint is enabled again.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::webhook_endpoint;
use buildhooks_store::outbox::NewDelivery;
use buildhooks_store::{events::NewEvent, WriteTxn};
use serde_json::json;

use super::actions::{insert_ping, DeliverNow};
use super::delivery::{load, WebHookDelivery};
use super::endpoints::WebHookDeliveryEndpoint;
use super::format;
use super::outbox::{commit_audited, state};
use super::{broker, kinds, pattern};
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};

/// The reason kept when a receiver answered `410 Gone`.
pub const GONE: &str = "410 Gone";

/// The reason kept when an endpoint's deliveries failed for `for_ms` (`failed` of them).
pub fn failing_reason(failed: i32, for_ms: i64) -> String {
    format!(
        "every delivery failed for {} ({failed} in a row)",
        human(for_ms)
    )
}

/// `5d`, `3h`, `10m` or `12s`: the largest whole unit.
fn human(ms: i64) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h", s / 3_600),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The body of an `endpoint.<action>` event about `subject`: the same for every payload format
/// (Cirrus has no such event to copy).
fn body(subject: &webhook_endpoint::Model, action: &str, now: i64) -> String {
    let data = json!({
        "ownerUid": subject.org_id.to_string(),
        "timestamp": now,
        "endpoint": {
            "id": subject.id.to_string(),
            "webhookURL": kinds::shown_url(&subject.kind, &subject.url),
            "enabled": subject.enabled,
            "disabledReason": subject.disabled_reason,
            "disabledAt": subject.disabled_at,
            "failingSince": subject.failing_since,
            "failedDeliveries": subject.failed_deliveries,
        },
    });
    format::documented(action, None, data)
}

/// Writes the `endpoint.<action>` event about `subject` (as it is now) and one PENDING outbox
/// row per other endpoint of its organization that selects it, in `w`; returns how many rows.
/// Chat robots take no operational events (as with audit events).
pub async fn publish(
    w: &WriteTxn<'_>,
    subject: &webhook_endpoint::Model,
    action: &'static str,
) -> Result<usize> {
    let org_id = subject.org_id;
    let key = format!("endpoint.{action}");
    let endpoints = buildhooks_store::endpoints::of_org(w.txn(), org_id, true).await?;
    let now = now_ms();
    let body = body(subject, action, now);
    let values = broker::Values {
        org: org_id,
        event: "endpoint",
        status: action.to_owned(),
        action,
        repository: 0,
        build: 0,
    };
    let rows: Vec<NewDelivery> = endpoints
        .iter()
        .filter(|e| e.id != subject.id && !kinds::is_chat(&e.kind))
        .filter(|e| pattern::parse_stored(&e.events).is_ok_and(|p| pattern::any_matches(&p, &key)))
        .map(|e| NewDelivery {
            event: 0,
            org_id,
            endpoint_id: e.id,
            repository_id: None,
            url: broker::row_url(e, &values).unwrap_or_else(|| kinds::shown_url(&e.kind, &e.url)),
            kind: "endpoint".to_owned(),
            action: action.to_owned(),
            body: body.clone(),
            build_id: None,
            order_key: None,
            lease: None,
        })
        .collect();
    let n = rows.len();
    let event = NewEvent {
        kind: "endpoint",
        action,
        old_status: None,
        new_status: action,
        repository_id: 0,
        build_id: 0,
        task_id: None,
    };
    buildhooks_store::outbox::write(w.txn(), org_id, now, &[event], rows, true).await?;
    Ok(n)
}

/// Disables endpoint `id` for `reason` (if it is enabled), with its `endpoint.disabled` event,
/// in the caller's transaction `w`; true when this call disabled it (the caller commits, then
/// wakes the dispatcher).
pub async fn disable(w: &WriteTxn<'_>, id: i32, reason: &str) -> Result<bool> {
    if !buildhooks_store::control::disable(w.txn(), id, reason, now_ms()).await? {
        return Ok(false);
    }
    let Some(subject) = buildhooks_store::endpoints::by_id(w.txn(), id).await? else {
        return Ok(false);
    };
    publish(w, &subject, "disabled").await?;
    tracing::warn!(
        endpoint = id,
        org = subject.org_id,
        reason,
        "endpoint disabled"
    );
    Ok(true)
}

#[derive(InputObject)]
pub struct EnableWebhookEndpointInput {
    pub endpoint_id: ID,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct EnableWebhookEndpointPayload {
    /// The endpoint, enabled.
    pub endpoint: WebHookDeliveryEndpoint,
    /// The test message that succeeded.
    pub test_delivery: WebHookDelivery,
    pub client_mutation_id: Option<String>,
}

async fn enable(
    ctx: &Context<'_>,
    input: EnableWebhookEndpointInput,
) -> Result<EnableWebhookEndpointPayload> {
    let org_id = viewer(ctx)?.org_id;
    let id = parse_id(&input.endpoint_id, "webhook endpoint")?;
    let endpoint = buildhooks_store::endpoints::find(db(ctx)?, org_id, Some(id), None)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    if endpoint.enabled {
        return Err(Error::InvalidTransition(format!(
            "webhook endpoint {id} is enabled already"
        )));
    }
    // The test message first, sent even though the endpoint is disabled.
    let store = store(ctx)?;
    let w = store.begin_write().await?;
    let (row, lease) = insert_ping(
        w.txn(),
        store.vault(),
        &org_id.to_string(),
        org_id,
        &endpoint,
    )
    .await?;
    w.commit().await?;
    let sender = ctx
        .data_opt::<Arc<dyn DeliverNow>>()
        .ok_or_else(|| Error::Internal("no delivery sender".into()))?;
    sender.test_now(row.id, &lease).await;
    let test = buildhooks_store::outbox::log::by_uuid(db(ctx)?, org_id, &row.uuid)
        .await?
        .ok_or(Error::NotFound("webhook delivery"))?;
    if test.state != state::DELIVERED {
        let status = test.last_status.filter(|s| *s > 0);
        return Err(Error::TestMessageFailed {
            status,
            error: match status {
                Some(_) => None,
                None => test.last_response.clone(),
            },
        });
    }
    let w = store.begin_write().await?;
    if !buildhooks_store::control::enable(w.txn(), org_id, id).await? {
        return Err(Error::InvalidTransition(format!(
            "webhook endpoint {id} is enabled already"
        )));
    }
    let enabled = buildhooks_store::endpoints::by_id(w.txn(), id)
        .await?
        .ok_or(Error::NotFound("webhook endpoint"))?;
    // Recovered from a disabling by buildhooks; an endpoint its organization disabled is just
    // enabled again.
    if endpoint.disabled_reason.is_some() {
        publish(&w, &enabled, "recovered").await?;
    }
    commit_audited(ctx, w, org_id, None).await?;
    store.wake_dispatcher();
    Ok(EnableWebhookEndpointPayload {
        endpoint: WebHookDeliveryEndpoint::from_row(&enabled, None)?,
        test_delivery: load(db(ctx)?, org_id, &row.uuid).await?,
        client_mutation_id: input.client_mutation_id,
    })
}

#[derive(Default)]
pub struct EndpointControlMutation;

#[Object]
impl EndpointControlMutation {
    /// Enables a disabled endpoint again, after a test message to it succeeded: refused with
    /// `TEST_MESSAGE_FAILED` (and the answer's `status` or `error`) otherwise. An endpoint that
    /// buildhooks had disabled sends `endpoint.recovered` to the endpoints that select it.
    async fn enable_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: EnableWebhookEndpointInput,
    ) -> async_graphql::Result<EnableWebhookEndpointPayload> {
        enable(ctx, input).await.extend()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_name_the_spell() {
        assert_eq!(
            failing_reason(20, 5 * 86_400_000),
            "every delivery failed for 5d (20 in a row)"
        );
        assert_eq!(human(1_000), "1s");
        assert_eq!(human(90_000), "1m");
        assert_eq!(human(7_200_000), "2h");
    }
}

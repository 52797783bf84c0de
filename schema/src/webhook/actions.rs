//! Webhook actions beyond settings: `webhookRedeliver` (same id and body, new attempts),
//! `webhookPing` (a signed `ping` delivery sent at once, its attempt returned) and
//! `webhookPreview` (a stored query rendered for a repository's latest build, sent nowhere).
//! Sending is the server's: it lends a [`DeliverNow`] to the schema.

use std::sync::Arc;

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use serde_json::json;

use super::delivery::{load, WebHookDelivery};
use super::format::PayloadFormat;
use super::outbox::commit_audited;
use super::outbox::state;
use super::{kinds, query_check, render, sealed};
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::owner::types::check_owner;
use crate::PayloadSchema;
use buildhooks_store::outbox::{log, NewDelivery};
use buildhooks_store::{endpoints, runs};

/// Sends one claimed delivery now and records the attempt (implemented by the dispatcher).
#[async_trait::async_trait]
pub trait DeliverNow: Send + Sync {
    /// One attempt of delivery `delivery_id`, claimed with `lease_token`; no retry.
    async fn deliver_now(&self, delivery_id: i64, lease_token: &str);

    /// As `deliver_now`, sent even when the endpoint is disabled: the test message that
    /// re-enabling an endpoint asks for first.
    async fn test_now(&self, delivery_id: i64, lease_token: &str) {
        self.deliver_now(delivery_id, lease_token).await
    }
}

/// How long a ping's claim lasts if the process dies while sending it.
const PING_LEASE_MS: i64 = 60_000;

#[derive(InputObject)]
pub struct WebhookRedeliverInput {
    pub delivery_id: String,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct WebhookPingInput {
    pub owner_uid: ID,
    /// The endpoint to ping, by id ...
    pub endpoint_id: Option<ID>,
    /// ... or by its saved URL.
    #[graphql(name = "webhookURL")]
    pub webhook_url: Option<String>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct WebhookDeliveryPayload {
    pub delivery: WebHookDelivery,
    pub client_mutation_id: Option<String>,
}

/// A rendered payload that was not sent.
#[derive(SimpleObject)]
pub struct WebHookPreview {
    /// The body as it would be sent.
    pub body: String,
    /// Problems of the query (validation, or fields that resolved to errors).
    pub errors: Vec<String>,
}

async fn redeliver(ctx: &Context<'_>, input: WebhookRedeliverInput) -> Result<WebHookDelivery> {
    let org_id = viewer(ctx)?.org_id;
    let store = store(ctx)?;
    let w = store.begin_write().await?;
    let row = log::by_uuid(w.txn(), org_id, input.delivery_id.trim())
        .await?
        .ok_or(Error::NotFound("webhook delivery"))?;
    if row.state == state::PENDING || row.state == state::IN_FLIGHT {
        return Err(Error::InvalidTransition(format!(
            "delivery {} is {} already",
            row.uuid, row.state
        )));
    }
    if row.erased_at.is_some() {
        return Err(Error::Erased(format!(
            "delivery {} was erased: it cannot be sent again",
            row.uuid
        )));
    }
    let uuid = row.uuid.clone();
    let repository_id = row.repository_id;
    log::requeue(w.txn(), row, now_ms()).await?;
    commit_audited(ctx, w, org_id, repository_id).await?;
    store.wake_dispatcher();
    load(db(ctx)?, org_id, &uuid).await
}

async fn ping(ctx: &Context<'_>, input: WebhookPingInput) -> Result<WebHookDelivery> {
    let org = check_owner(ctx, None, &input.owner_uid).await?;
    let (id, url) = match (&input.endpoint_id, &input.webhook_url) {
        (Some(id), _) => (Some(parse_id(id, "webhook endpoint")?), None),
        (None, Some(url)) => (None, Some(url.trim())),
        (None, None) => {
            return Err(Error::field(
                "endpointId",
                "name the endpoint by endpointId or webhookURL",
            ))
        }
    };
    let vault = store(ctx)?.vault().clone();
    let mut endpoint = endpoints::find(db(ctx)?, org.org_id, id, url).await?;
    if let (None, Some(url)) = (&endpoint, url) {
        // A robot's URL is sealed: found among the opened ones, by itself or by its mask.
        let all = endpoints::of_org(db(ctx)?, org.org_id, false).await?;
        for stored in all {
            let opened = sealed::opened(&vault, stored.clone())?;
            if opened.url == url || kinds::mask_url(&opened.url) == url {
                endpoint = Some(stored);
                break;
            }
        }
    }
    let endpoint = endpoint.ok_or(Error::NotFound("webhook endpoint"))?;
    let store = store(ctx)?;
    let w = store.begin_write().await?;
    let (row, lease) =
        insert_ping(w.txn(), &vault, org.uid.as_str(), org.org_id, &endpoint).await?;
    commit_audited(ctx, w, org.org_id, None).await?;
    let sender = ctx
        .data_opt::<Arc<dyn DeliverNow>>()
        .ok_or_else(|| Error::Internal("no delivery sender".into()))?;
    sender.deliver_now(row.id, &lease).await;
    load(db(ctx)?, org.org_id, &row.uuid).await
}

/// Writes a `ping` delivery to `endpoint` of organization `org_id` (`org_uid`) in `db`, claimed
/// by the caller: the row and its lease token (the dispatcher leaves it alone unless this
/// process dies).
pub(crate) async fn insert_ping(
    db: &impl sea_orm::ConnectionTrait,
    vault: &buildhooks_store::secrets::Vault,
    org_uid: &str,
    org_id: i32,
    endpoint: &buildhooks_entity::webhook_endpoint::Model,
) -> Result<(buildhooks_entity::webhook_delivery::Model, String)> {
    let now = now_ms();
    // A chat endpoint gets a test message in its robot's format (its sink composes it).
    let body = match kinds::is_chat(&endpoint.kind) {
        false => json!({
            "action": "ping",
            "data": { "ownerUid": org_uid, "endpointId": endpoint.id.to_string(), "timestamp": now },
        })
        .to_string(),
        true => super::message::ping_envelope(org_uid, endpoint.id, now),
    };
    let lease = (uuid::Uuid::new_v4().to_string(), now + PING_LEASE_MS);
    let row = buildhooks_store::outbox::insert_one(
        db,
        NewDelivery {
            event: 0,
            org_id,
            endpoint_id: endpoint.id,
            repository_id: None,
            // A robot's URL is its secret: only its mask is kept with the delivery.
            url: match super::broker::row_url(endpoint, &super::broker::Values::ping(org_id)) {
                Some(url) => url,
                None => sealed::row_url(vault, endpoint)?,
            },
            kind: "ping".into(),
            action: "ping".into(),
            body,
            build_id: None,
            order_key: None,
            lease: Some((lease.0.clone(), lease.1)),
        },
        now,
    )
    .await?;
    Ok((row, lease.0))
}

async fn preview(
    ctx: &Context<'_>,
    repository_id: ID,
    query: Option<String>,
    format: PayloadFormat,
) -> Result<WebHookPreview> {
    let org_id = viewer(ctx)?.org_id;
    let repo = crate::graph::load_repository(ctx, parse_id(&repository_id, "repository")?).await?;
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema".into()))?;
    let query = query.filter(|q| !q.trim().is_empty());
    if let Some(q) = &query {
        if let Err(message) = query_check::check(schema, db(ctx)?.clone(), q).await {
            return Ok(WebHookPreview {
                body: String::new(),
                errors: vec![message],
            });
        }
    }
    let latest = runs::latest_build(db(ctx)?, org_id, repo.row_id)
        .await?
        .ok_or_else(|| Error::field("repositoryId", "this repository has no builds yet"))?;
    let first_task = runs::first_task(db(ctx)?, org_id, latest.id).await?;
    let event = EventDraft {
        kind: if first_task.is_some() {
            EventKind::Task
        } else {
            EventKind::Build
        },
        action: "updated",
        old_status: None,
        new_status: "EXECUTING",
        repository_id: latest.repository_id,
        build_id: latest.id,
        task_id: first_task.map(|t| t.id),
    };
    let text = query.as_deref().unwrap_or(format.default_query());
    let data = render::render_data(
        schema,
        db(ctx)?.clone(),
        Default::default(),
        org_id,
        text,
        &event,
    )
    .await;
    Ok(WebHookPreview {
        body: super::format::body(format, &event, data),
        errors: Vec::new(),
    })
}

#[derive(Default)]
pub struct WebhookActionsQuery;

#[Object]
impl WebhookActionsQuery {
    /// Renders a stored query (or the default one) for the latest build of a repository, as the
    /// payload of a task event, without delivering anything.
    async fn webhook_preview(
        &self,
        ctx: &Context<'_>,
        repository_id: ID,
        query: Option<String>,
        #[graphql(desc = "The body's shape (default `DOCUMENTED`); also picks the default query.")]
        payload_format: Option<PayloadFormat>,
    ) -> async_graphql::Result<WebHookPreview> {
        preview(
            ctx,
            repository_id,
            query,
            payload_format.unwrap_or_default(),
        )
        .await
        .extend()
    }
}

#[derive(Default)]
pub struct WebhookActionsMutation;

#[Object]
impl WebhookActionsMutation {
    /// Sends a delivery again: same id and body, new attempts (retried once as usual).
    async fn webhook_redeliver(
        &self,
        ctx: &Context<'_>,
        input: WebhookRedeliverInput,
    ) -> async_graphql::Result<WebhookDeliveryPayload> {
        let client_mutation_id = input.client_mutation_id.clone();
        let delivery = redeliver(ctx, input).await.extend()?;
        Ok(WebhookDeliveryPayload {
            delivery,
            client_mutation_id,
        })
    }

    /// Sends a signed `ping` to a saved endpoint now and returns the delivery with its attempt.
    async fn webhook_ping(
        &self,
        ctx: &Context<'_>,
        input: WebhookPingInput,
    ) -> async_graphql::Result<WebhookDeliveryPayload> {
        let client_mutation_id = input.client_mutation_id.clone();
        let delivery = ping(ctx, input).await.extend()?;
        Ok(WebhookDeliveryPayload {
            delivery,
            client_mutation_id,
        })
    }
}

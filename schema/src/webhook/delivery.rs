//! The deliveries log: `OwnerInfo.webhookDeliveries(first, after, last, before)` (a Relay
//! connection, oldest first as in Cirrus: `last: 50` is the newest 50; see `page`), filtered by
//! `endpointId`, `state` and `event` (`delivery_filter`), and `webhookDelivery(id)`, in Cirrus's
//! `WebHookDelivery` shape plus state, URL, its event's build, task and status change and its
//! latency (`delivery_facts`), and every attempt with the answer's headers.

use async_graphql::connection::Connection;
use async_graphql::{ComplexObject, Context, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::webhook_delivery;
use buildhooks_store::outbox::log;
use sea_orm::ConnectionTrait;

use super::delivery_facts::{self, Facts};
use super::delivery_filter::FilterArgs;
use crate::ctx::{db, viewer};
use crate::error::{Error, Result};
use crate::page::PageArgs;

/// What was sent.
#[derive(SimpleObject, Clone)]
pub struct WebHookDeliveryPayload {
    /// `build`, `task` or `ping`.
    pub event: String,
    pub action: String,
    /// The body exactly as sent (JSON text).
    pub data: String,
}

/// The last response.
#[derive(SimpleObject, Clone)]
pub struct WebHookDeliveryResponse {
    /// HTTP status of the last attempt; 0 when none was received.
    pub status: i32,
    /// Milliseconds the last attempt took.
    pub duration: i64,
    /// The start of the last response body.
    pub data: String,
}

/// One HTTP attempt.
#[derive(SimpleObject, Clone)]
pub struct WebHookAttempt {
    pub number: i32,
    /// Milliseconds since the epoch when the attempt started.
    pub at: i64,
    pub duration_ms: i64,
    pub status: Option<i32>,
    /// `timeout`, `connect`, `blocked_target`, ... when no HTTP status was received.
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    /// The answer's headers (names in lower case, values cut at 256 bytes, at most 8 KiB in
    /// all, cookies and credential-like headers left out); null without an answer (a broker,
    /// a timeout) and once erased.
    pub response_headers: Option<Vec<HeaderPair>>,
}

/// A delivery of an event to an endpoint (Cirrus's `WebHookDelivery`, extended).
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct WebHookDelivery {
    /// The `X-Cirrus-Delivery` id.
    pub id: ID,
    pub platform: String,
    pub owner_uid: String,
    pub repository_id: Option<ID>,
    /// Milliseconds since the epoch when the delivery was created.
    pub timestamp: i64,
    pub payload: WebHookDeliveryPayload,
    pub response: WebHookDeliveryResponse,
    /// PENDING, IN_FLIGHT, DELIVERED or FAILED.
    pub state: String,
    #[graphql(name = "webhookURL")]
    pub webhook_url: String,
    pub endpoint_id: ID,
    /// The event delivered (`event(id)` tells where else it went); null for a test message.
    pub event_id: Option<ID>,
    pub attempt_count: i32,
    /// When the next attempt is due (milliseconds since the epoch), while PENDING.
    pub next_attempt_at: i64,
    /// Whether its payload was erased (`eraseDeliveryPayloads`): the body, response and
    /// response excerpts are empty, and it cannot be redelivered.
    pub erased: bool,
    /// When its payload was erased (milliseconds since the epoch).
    pub erased_at: Option<i64>,
    /// HTTP status of the last attempt; null when none was received (no attempt yet, a
    /// timeout, a broker).
    pub response_status: Option<i32>,
    /// The build of its event; null for a test message or an audit event.
    pub build_id: Option<ID>,
    /// The task of its event, for a task event.
    pub task_id: Option<ID>,
    /// Its event's status before (null when the event created the build or task).
    pub old_status: Option<String>,
    /// Its event's new status (null for a test message).
    pub new_status: Option<String>,
    /// Milliseconds from the delivery's creation (in the transaction that committed its event)
    /// to the end of its first successful attempt (a 2xx, or a broker's acknowledgement); null
    /// until it succeeds. The last attempt's own duration is `response.duration`.
    pub latency_ms: Option<i64>,
    #[graphql(skip)]
    pub row_id: i64,
}

impl WebHookDelivery {
    pub(crate) fn from_row(m: webhook_delivery::Model, platform: &str) -> Self {
        WebHookDelivery {
            id: ID(m.uuid),
            platform: platform.to_owned(),
            owner_uid: m.org_id.to_string(),
            repository_id: m.repository_id.map(|r| ID(r.to_string())),
            timestamp: m.created_at,
            payload: WebHookDeliveryPayload {
                event: m.kind,
                action: m.action,
                data: m.body,
            },
            response: WebHookDeliveryResponse {
                status: m.last_status.unwrap_or(0),
                duration: m.last_duration_ms.unwrap_or(0),
                data: m.last_response.unwrap_or_default(),
            },
            state: m.state,
            webhook_url: m.url,
            endpoint_id: ID(m.endpoint_id.to_string()),
            event_id: m.event_id.map(|e| ID(e.to_string())),
            attempt_count: m.attempt_count,
            next_attempt_at: m.next_attempt_at,
            erased: m.erased_at.is_some(),
            erased_at: m.erased_at,
            response_status: m.last_status,
            build_id: m.build_id.map(|b| ID(b.to_string())),
            task_id: None,
            old_status: None,
            new_status: None,
            latency_ms: None,
            row_id: m.id,
        }
    }

    /// With its event's build, task and status change, and its latency.
    fn with_facts(mut self, facts: Option<&Facts>) -> Self {
        if let Some(f) = facts {
            self.build_id = f.build_id.map(|b| ID(b.to_string()));
            self.task_id = f.task_id.map(|t| ID(t.to_string()));
            self.old_status = f.old_status.clone();
            self.new_status = f.new_status.clone();
            self.latency_ms = f.latency_ms;
        }
        self
    }
}

/// One request or response header.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct HeaderPair {
    pub name: String,
    pub value: String,
}

#[ComplexObject]
impl WebHookDelivery {
    /// The request headers of the last attempt (or of the next one), signatures included.
    async fn request_headers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<HeaderPair>> {
        async {
            let db = db(ctx)?;
            let endpoint_id: i32 = self.endpoint_id.parse().unwrap_or(0);
            let endpoint = buildhooks_store::endpoints::by_id(db, endpoint_id).await?;
            let webhook = endpoint.as_ref().is_none_or(|e| e.kind == "webhook");
            let last = log::last_attempt(db, self.row_id).await?;
            let number = last.as_ref().map_or(1, |a| a.number);
            let at = last
                .map(|a| a.started_at)
                .unwrap_or_else(crate::clock::now_ms);
            let secrets = match &endpoint {
                Some(e) => super::sealed::signing_secrets(crate::ctx::store(ctx)?.vault(), e, at)?,
                None => Vec::new(),
            };
            let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
            let signed = buildhooks_receiver::sign_all(
                &secrets,
                &self.payload.event,
                self.id.as_str(),
                at,
                self.payload.data.as_bytes(),
            );
            let mut headers = vec![
                HeaderPair {
                    name: "content-type".into(),
                    value: "application/json".into(),
                },
                HeaderPair {
                    name: "user-agent".into(),
                    value: super::USER_AGENT.into(),
                },
            ];
            headers.extend(signed.pairs().into_iter().map(|(name, value)| HeaderPair {
                name: name.to_owned(),
                value,
            }));
            // The webhook sink numbers its attempts (`sink/webhook.rs`).
            if webhook {
                headers.push(HeaderPair {
                    name: "x-cirrus-attempt".into(),
                    value: number.to_string(),
                });
            }
            Ok::<_, Error>(headers)
        }
        .await
        .extend()
    }

    /// Every attempt, in order.
    async fn attempts(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<WebHookAttempt>> {
        async {
            let rows = log::attempts(db(ctx)?, self.row_id).await?;
            Ok::<_, Error>(
                rows.into_iter()
                    .map(|a| WebHookAttempt {
                        number: a.number,
                        at: a.started_at,
                        duration_ms: a.duration_ms,
                        status: a.status,
                        error: a.error,
                        response_excerpt: a.response_excerpt,
                        response_headers: a.response_headers.as_deref().map(header_pairs),
                    })
                    .collect(),
            )
        }
        .await
        .extend()
    }
}

/// Stored response headers (a JSON object) as pairs, in the stored order.
fn header_pairs(json: &str) -> Vec<HeaderPair> {
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(json) {
        Ok(map) => map
            .into_iter()
            .map(|(name, value)| HeaderPair {
                name,
                value: value.as_str().unwrap_or_default().to_owned(),
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A page of deliveries.
pub type DeliveryConnection = Connection<String, WebHookDelivery>;

async fn platform(db: &impl ConnectionTrait, org_id: i32) -> Result<String> {
    Ok(buildhooks_store::orgs::org(db, org_id)
        .await?
        .map(|o| o.platform)
        .unwrap_or_default())
}

/// A page of the deliveries of `org_id` that pass `filter`, oldest first (`last: 50` is the
/// newest 50). The cursors are ids, so paging back and forth with a filter stays on its rows.
pub(crate) async fn page(
    db: &impl ConnectionTrait,
    org_id: i32,
    args: &PageArgs,
    filter: &FilterArgs,
) -> Result<DeliveryConnection> {
    let page = args.page(50)?;
    let filter = filter.check(db, org_id).await?;
    let rows = log::page(db, org_id, &filter, &page.window).await?;
    let platform = platform(db, org_id).await?;
    let facts = delivery_facts::of(db, org_id, &rows).await?;
    Ok(page.connection(
        rows,
        |m| m.id,
        |m| {
            let f = facts.get(&m.id);
            WebHookDelivery::from_row(m, &platform).with_facts(f)
        },
    ))
}

/// `rows` of organization `org_id` as the log shows them, event facts and latency included.
pub(crate) async fn shown(
    db: &impl ConnectionTrait,
    org_id: i32,
    rows: Vec<webhook_delivery::Model>,
    platform: &str,
) -> Result<Vec<WebHookDelivery>> {
    let facts = delivery_facts::of(db, org_id, &rows).await?;
    Ok(rows
        .into_iter()
        .map(|m| {
            let f = facts.get(&m.id);
            WebHookDelivery::from_row(m, platform).with_facts(f)
        })
        .collect())
}

/// A delivery of `org_id` by its id.
pub async fn load(db: &impl ConnectionTrait, org_id: i32, id: &str) -> Result<WebHookDelivery> {
    let row = log::by_uuid(db, org_id, id.trim())
        .await?
        .ok_or(Error::NotFound("webhook delivery"))?;
    let platform = platform(db, org_id).await?;
    let shown = shown(db, org_id, vec![row], &platform).await?;
    shown
        .into_iter()
        .next()
        .ok_or(Error::NotFound("webhook delivery"))
}

#[derive(Default)]
pub struct WebhookQuery;

#[Object]
impl WebhookQuery {
    /// A delivery by its id (`X-Cirrus-Delivery`), with every attempt.
    async fn webhook_delivery(
        &self,
        ctx: &Context<'_>,
        id: String,
    ) -> async_graphql::Result<Option<WebHookDelivery>> {
        async { load(db(ctx)?, viewer(ctx)?.org_id, &id).await.map(Some) }
            .await
            .extend()
    }
}

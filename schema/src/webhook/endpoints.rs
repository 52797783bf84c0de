//! `OwnerInfo.webhookSettings`: an organization's saved endpoints as clients see them, secrets
//! masked, and the limits a save enforces.

use async_graphql::{SimpleObject, ID};
use buildhooks_entity::webhook_endpoint;
use buildhooks_store::secrets::Vault;
use sea_orm::ConnectionTrait;

use super::format::PayloadFormat;
use super::kinds::{shown_url, EndpointKind, EndpointOrdering};
use super::{pattern, secret};
use crate::error::{Error, Result};
/// Most endpoints an organization may have.
pub const MAX_ENDPOINTS: usize = 20;
/// An endpoint's deliveries in flight at once unless it says otherwise (`maxInFlight`).
pub const DEFAULT_IN_FLIGHT: i32 = 4;
/// The highest `maxInFlight` an endpoint may ask for.
pub const MAX_IN_FLIGHT: i32 = 64;

/// An organization's webhook settings.
#[derive(SimpleObject)]
pub struct WebHookSettings {
    pub owner_uid: ID,
    pub endpoints: Vec<WebHookDeliveryEndpoint>,
    /// Where a person sees a build, for links in chat messages (minijinja over `build`,
    /// `repository`, `task`: `https://ci.example.com/build/{{ build.id }}`), or null.
    #[graphql(name = "buildUrlTemplate")]
    pub build_url_template: Option<String>,
}

/// A chat kind's own settings, stored as JSON in `webhook_endpoint.options`.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct ChatOptions {
    /// DingTalk: mobile numbers to mention.
    pub at_mobiles: Vec<String>,
    /// DingTalk: mention everyone.
    pub is_at_all: bool,
    /// WeCom: user ids to mention (`@all` for everyone).
    pub mentioned_list: Vec<String>,
}

impl ChatOptions {
    /// The options of a stored row (none when the column is empty or unreadable).
    pub fn of_row(m: &webhook_endpoint::Model) -> ChatOptions {
        m.options
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok())
            .unwrap_or_default()
    }
}

/// One endpoint, as clients see it: never its secret.
#[derive(SimpleObject, Clone)]
pub struct WebHookDeliveryEndpoint {
    pub id: ID,
    #[graphql(name = "webhookURL")]
    pub webhook_url: String,
    /// A mask standing for the saved secret (send it back to keep the secret), or null.
    pub masked_secret_token: Option<String>,
    /// Event patterns: `*`, `build.*`, `task.*`, `build.<status>`, `task.<status>`.
    pub events: Vec<String>,
    /// Only this repository's events, or null for all of the organization's.
    pub repository_id: Option<ID>,
    /// The custom stored query, or null for the default one.
    pub query: Option<String>,
    pub enabled: bool,
    /// Most deliveries to this endpoint in flight at once (per dispatcher process).
    pub max_in_flight: i32,
    /// The secret this save generated (`generateSecret: true`): shown this once, never again.
    pub generated_secret_token: Option<String>,
    /// What receives the events.
    pub kind: EndpointKind,
    /// A chat kind's message template, or null for the kind's default message.
    pub template: Option<String>,
    /// Whether an event of a build waits for the build's earlier events.
    pub ordering: EndpointOrdering,
    /// Events of one build waiting behind the robot's pace go out as one message.
    pub digest: bool,
    /// DingTalk: mobile numbers mentioned in each message.
    pub at_mobiles: Vec<String>,
    /// DingTalk: every message mentions everyone.
    pub is_at_all: bool,
    /// WeCom: user ids mentioned in each message.
    pub mentioned_list: Vec<String>,
    /// NATS and AMQP: the operator's broker it publishes to.
    pub broker: Option<String>,
    /// NATS and AMQP: the subject (routing key) template.
    pub subject: Option<String>,
    /// AMQP: the exchange.
    pub exchange: Option<String>,
    /// The body's shape (webhook and broker kinds; chat kinds send messages).
    pub payload_format: PayloadFormat,
    /// While a secret rotation overlaps (`rotateWebhookSecret`): when the previous secret stops
    /// signing beside the new one (ms since the epoch); null otherwise.
    pub secret_overlap_ends_at: Option<i64>,
    /// Seconds before each retry, or null for Cirrus's rule (one retry shortly after).
    pub retry_schedule: Option<Vec<i32>>,
    /// Why buildhooks disabled the endpoint (`410 Gone`, or every delivery failing for a
    /// while), or null; `enableWebhookEndpoint` enables it again after a test message.
    pub disabled_reason: Option<String>,
    /// When buildhooks disabled it (milliseconds since the epoch).
    pub disabled_at: Option<i64>,
    /// Since when every delivery to it has failed (milliseconds since the epoch), or null when
    /// the last one succeeded.
    pub failing_since: Option<i64>,
    /// Deliveries that failed in a row since the last success.
    pub failed_deliveries: i32,
}

impl WebHookDeliveryEndpoint {
    /// The endpoint of row `m`. Its stored patterns are checked as a save checks them: a row
    /// that fails is an internal error (the cause, logged, names the endpoint), not an endpoint
    /// shown with no patterns.
    pub(crate) fn from_row(m: &webhook_endpoint::Model, generated: Option<String>) -> Result<Self> {
        let events = pattern::parse_stored(&m.events)
            .map_err(|e| Error::Internal(format!("endpoint {}: {e}", m.id)))?;
        let kind = EndpointKind::of_stored(&m.kind)
            .ok_or_else(|| Error::Internal(format!("endpoint {}: unknown kind", m.id)))?;
        let options = ChatOptions::of_row(m);
        let target = super::broker::endpoint_target(m);
        Ok(WebHookDeliveryEndpoint {
            id: ID(m.id.to_string()),
            // A robot's URL holds its token: shown masked, like a secret.
            webhook_url: shown_url(&m.kind, &m.url),
            kind,
            template: m.template.clone(),
            ordering: EndpointOrdering::of_stored(&m.ordering),
            digest: m.digest,
            at_mobiles: options.at_mobiles,
            is_at_all: options.is_at_all,
            mentioned_list: options.mentioned_list,
            masked_secret_token: m.secret.as_deref().map(secret::mask),
            events,
            repository_id: m.repository_id.map(|r| ID(r.to_string())),
            query: m.query.clone(),
            enabled: m.enabled,
            max_in_flight: m.max_in_flight,
            generated_secret_token: generated,
            broker: target.as_ref().map(|t| t.broker.to_owned()),
            subject: target.as_ref().map(|t| t.subject.to_owned()),
            exchange: target.and_then(|t| t.exchange.map(str::to_owned)),
            payload_format: PayloadFormat::of_stored(&m.payload_format),
            secret_overlap_ends_at: buildhooks_store::secrets::overlap_until(
                m,
                crate::clock::now_ms(),
            ),
            retry_schedule: super::schedule::parse_stored(m.retry_schedule.as_deref())
                .map(|steps| steps.into_iter().map(|s| s as i32).collect()),
            disabled_reason: m.disabled_reason.clone(),
            disabled_at: m.disabled_at,
            failing_since: m.failing_since,
            failed_deliveries: m.failed_deliveries,
        })
    }
}

/// The saved endpoints of an organization, in order (their secrets opened with `vault` to be
/// masked).
pub async fn load_settings(
    db: &impl ConnectionTrait,
    vault: &Vault,
    org_id: i32,
) -> Result<WebHookSettings> {
    let rows = buildhooks_store::endpoints::of_org(db, org_id, false).await?;
    let rows = super::sealed::all_opened(vault, rows)?;
    let org = buildhooks_store::orgs::org(db, org_id).await?;
    Ok(WebHookSettings {
        owner_uid: ID(org_id.to_string()),
        build_url_template: org.and_then(|o| o.build_url_template),
        endpoints: rows
            .iter()
            .map(|r| WebHookDeliveryEndpoint::from_row(r, None))
            .collect::<Result<_>>()?,
    })
}

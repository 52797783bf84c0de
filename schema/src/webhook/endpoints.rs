//! `OwnerInfo.webhookSettings`: an organization's saved endpoints as clients see them, secrets
//! masked, and the limits a save enforces.

use async_graphql::{SimpleObject, ID};
use buildhooks_entity::webhook_endpoint;
use sea_orm::ConnectionTrait;

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
}

impl WebHookDeliveryEndpoint {
    /// The endpoint of row `m`. Its stored patterns are checked as a save checks them: a row
    /// that fails is an internal error (the cause, logged, names the endpoint), not an endpoint
    /// shown with no patterns.
    pub(crate) fn from_row(m: &webhook_endpoint::Model, generated: Option<String>) -> Result<Self> {
        let events = pattern::parse_stored(&m.events)
            .map_err(|e| Error::Internal(format!("endpoint {}: {e}", m.id)))?;
        Ok(WebHookDeliveryEndpoint {
            id: ID(m.id.to_string()),
            webhook_url: m.url.clone(),
            masked_secret_token: m.secret.as_deref().map(secret::mask),
            events,
            repository_id: m.repository_id.map(|r| ID(r.to_string())),
            query: m.query.clone(),
            enabled: m.enabled,
            max_in_flight: m.max_in_flight,
            generated_secret_token: generated,
        })
    }
}

/// The saved endpoints of an organization, in order.
pub async fn load_settings(db: &impl ConnectionTrait, org_id: i32) -> Result<WebHookSettings> {
    let rows = buildhooks_store::endpoints::of_org(db, org_id, false).await?;
    Ok(WebHookSettings {
        owner_uid: ID(org_id.to_string()),
        endpoints: rows
            .iter()
            .map(|r| WebHookDeliveryEndpoint::from_row(r, None))
            .collect::<Result<_>>()?,
    })
}

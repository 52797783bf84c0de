//! `saveWebHookSettings`: an organization's endpoints, replaced as a whole and validated all or
//! nothing; secrets are write-only (the read side is `endpoints`).

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::webhook_endpoint;
use buildhooks_store::{endpoints, orgs};
use sea_orm::Set;

pub use super::endpoints::{
    load_settings, WebHookDeliveryEndpoint, WebHookSettings, DEFAULT_IN_FLIGHT, MAX_ENDPOINTS,
    MAX_IN_FLIGHT,
};
use super::{kinds, pattern, query_check, secret, WebhookConfig};
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};
use crate::owner::types::{check_owner, OwnerInfo};
use crate::PayloadSchema;

#[derive(InputObject)]
pub struct WebHookDeliveryEndpointInput {
    /// The endpoint to update; without it, a saved endpoint with the same URL is updated.
    pub id: Option<ID>,
    #[graphql(name = "webhookURL")]
    pub webhook_url: String,
    /// A new secret, the mask of the saved one (unchanged), or "" for none. Null keeps the saved
    /// secret of the endpoint being updated.
    pub secret_token: Option<String>,
    /// Generate a new secret (returned once in `generatedSecretToken`).
    #[graphql(default)]
    pub generate_secret: bool,
    pub events: Option<Vec<String>>,
    pub repository_id: Option<ID>,
    pub query: Option<String>,
    pub enabled: Option<bool>,
    /// Most deliveries to this endpoint in flight at once, 1 to 64 (default 4; null keeps the
    /// saved value). A receiver that is slow or hangs holds at most this many of the
    /// dispatcher's slots; raise it for a fast receiver that takes a high volume.
    pub max_in_flight: Option<i32>,
}

#[derive(InputObject)]
pub struct SaveWebHookSettingsInput {
    pub platform: Option<String>,
    pub owner_uid: ID,
    pub delivery_endpoints: Option<Vec<WebHookDeliveryEndpointInput>>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct SaveWebHookSettingsPayload {
    /// Always null: errors are GraphQL errors with a code and the field they concern.
    pub error: Option<String>,
    pub info: OwnerInfo,
    pub settings: WebHookSettings,
    pub client_mutation_id: Option<String>,
}

/// An endpoint input that passed validation.
struct Checked {
    url: String,
    events: Vec<String>,
    repository_id: Option<i32>,
    query: Option<String>,
    max_in_flight: Option<i32>,
}

async fn check_endpoint(
    ctx: &Context<'_>,
    i: usize,
    input: &WebHookDeliveryEndpointInput,
) -> Result<Checked> {
    let field = |name: &str| format!("deliveryEndpoints[{i}].{name}");
    let config = ctx.data_opt::<WebhookConfig>().cloned().unwrap_or_default();
    // Every endpoint is a `webhook` until the input names a kind.
    let kind = kinds::of("webhook").ok_or_else(|| Error::Internal("no webhook kind".into()))?;
    let url = kind
        .check_url(&input.webhook_url, config.allow_private_targets)
        .await
        .map_err(|m| Error::field(field("webhookURL"), m))?;
    let events = input.events.clone().unwrap_or_else(|| vec!["*".into()]);
    // The rules `pattern::parse_stored` checks again when the row is read back.
    pattern::validate_all(&events).map_err(|e| Error::field(field("events"), e.to_string()))?;
    let query = input
        .query
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty());
    if let Some(q) = query {
        let schema = ctx
            .data_opt::<PayloadSchema>()
            .ok_or_else(|| Error::Internal("no payload schema".into()))?;
        query_check::check(schema, db(ctx)?.clone(), q)
            .await
            .map_err(|m| Error::field(field("query"), m))?;
    }
    if let Some(s) = input
        .secret_token
        .as_deref()
        .filter(|s| !secret::is_mask(s))
    {
        kind.check_secret(s)
            .map_err(|m| Error::field(field("secretToken"), m))?;
    }
    let repository_id = match &input.repository_id {
        Some(id) => Some(
            parse_id(id, "repository")
                .map_err(|_| Error::field(field("repositoryId"), "no such repository"))?,
        ),
        None => None,
    };
    if let Some(n) = input.max_in_flight {
        if !(1..=MAX_IN_FLIGHT).contains(&n) {
            return Err(Error::field(
                field("maxInFlight"),
                format!("give 1 to {MAX_IN_FLIGHT} deliveries in flight"),
            ));
        }
    }
    Ok(Checked {
        url: url.to_string(),
        events,
        repository_id,
        query: query.map(str::to_owned),
        max_in_flight: input.max_in_flight,
    })
}

/// Which saved endpoint an input updates: by id, else the first unclaimed one with its URL.
fn match_saved(
    saved: &[webhook_endpoint::Model],
    claimed: &[i32],
    input: &WebHookDeliveryEndpointInput,
    url: &str,
) -> Option<usize> {
    if let Some(id) = &input.id {
        let id: i32 = id.parse().ok()?;
        return saved.iter().position(|s| s.id == id);
    }
    saved
        .iter()
        .position(|s| !claimed.contains(&s.id) && (s.url == url || s.url == input.webhook_url))
}

/// The secret an input asks for, given the endpoint it updates.
fn resolve_secret(
    field: String,
    input: &WebHookDeliveryEndpointInput,
    saved: Option<&webhook_endpoint::Model>,
    all_saved: &[webhook_endpoint::Model],
) -> Result<(Option<String>, Option<String>)> {
    if input.generate_secret {
        let s = secret::generate();
        return Ok((Some(s.clone()), Some(s)));
    }
    let keep = saved.and_then(|s| s.secret.clone());
    match input.secret_token.as_deref() {
        None => Ok((keep, None)),
        Some("") => Ok((None, None)),
        Some(m) if secret::is_mask(m) => {
            let same = |s: &webhook_endpoint::Model| {
                s.secret.as_deref().is_some_and(|x| secret::mask(x) == m)
            };
            saved
                .filter(|s| same(s))
                .or_else(|| all_saved.iter().find(|s| same(s)))
                .map(|s| (s.secret.clone(), None))
                .ok_or_else(|| {
                    Error::field(
                        field,
                        "this masked secret matches no saved endpoint; send the secret itself",
                    )
                })
        }
        Some(s) => Ok((Some(s.to_owned()), None)),
    }
}

async fn save(
    ctx: &Context<'_>,
    input: SaveWebHookSettingsInput,
) -> Result<SaveWebHookSettingsPayload> {
    let org = check_owner(ctx, input.platform.as_deref(), &input.owner_uid).await?;
    let endpoints = input.delivery_endpoints.unwrap_or_default();
    if endpoints.len() > MAX_ENDPOINTS {
        return Err(Error::field(
            "deliveryEndpoints",
            format!("at most {MAX_ENDPOINTS} endpoints"),
        ));
    }
    let mut checked = Vec::with_capacity(endpoints.len());
    for (i, e) in endpoints.iter().enumerate() {
        checked.push(check_endpoint(ctx, i, e).await?);
    }
    let w = store(ctx)?.begin_write().await?;
    let saved = endpoints::of_org(w.txn(), org.org_id, false).await?;
    let now = now_ms();
    let mut claimed = Vec::new();
    let mut out = Vec::new();
    for (i, (input, c)) in endpoints.iter().zip(checked).enumerate() {
        if let Some(repo) = c.repository_id {
            let found = orgs::repo(w.txn(), org.org_id, repo).await?;
            if found.is_none() {
                return Err(Error::field(
                    format!("deliveryEndpoints[{i}].repositoryId"),
                    "no such repository",
                ));
            }
        }
        let target = match_saved(&saved, &claimed, input, &c.url);
        if input.id.is_some() && target.is_none() {
            return Err(Error::field(
                format!("deliveryEndpoints[{i}].id"),
                "no such endpoint",
            ));
        }
        let previous = target.map(|t| &saved[t]);
        let (secret, generated) = resolve_secret(
            format!("deliveryEndpoints[{i}].secretToken"),
            input,
            previous,
            &saved,
        )?;
        let events =
            serde_json::to_string(&c.events).map_err(|e| Error::Internal(e.to_string()))?;
        let mut row = match previous {
            Some(p) => {
                claimed.push(p.id);
                webhook_endpoint::ActiveModel::from(p.clone())
            }
            None => webhook_endpoint::ActiveModel {
                org_id: Set(org.org_id),
                deleted: Set(false),
                created_at: Set(now),
                ..Default::default()
            },
        };
        row.position = Set(i as i32);
        row.url = Set(c.url);
        row.secret = Set(secret);
        row.events = Set(events);
        row.repository_id = Set(c.repository_id);
        row.query = Set(c.query);
        row.enabled = Set(input.enabled.unwrap_or(true));
        row.max_in_flight = Set(c
            .max_in_flight
            .or(previous.map(|p| p.max_in_flight))
            .unwrap_or(DEFAULT_IN_FLIGHT));
        let model = endpoints::save(w.txn(), row, previous.is_none()).await?;
        out.push(WebHookDeliveryEndpoint::from_row(&model, generated)?);
    }
    for old in saved.iter().filter(|s| !claimed.contains(&s.id)) {
        endpoints::delete(w.txn(), old.clone()).await?;
    }
    w.commit().await?;
    Ok(SaveWebHookSettingsPayload {
        error: None,
        settings: WebHookSettings {
            owner_uid: ID(org.org_id.to_string()),
            endpoints: out,
        },
        info: org,
        client_mutation_id: input.client_mutation_id,
    })
}

#[derive(Default)]
pub struct WebhookSettingsMutation;

#[Object]
impl WebhookSettingsMutation {
    /// Replaces the organization's endpoints (all or nothing).
    async fn save_web_hook_settings(
        &self,
        ctx: &Context<'_>,
        input: SaveWebHookSettingsInput,
    ) -> async_graphql::Result<SaveWebHookSettingsPayload> {
        let _ = viewer(ctx).extend()?;
        save(ctx, input).await.extend()
    }
}

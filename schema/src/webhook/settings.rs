//! `saveWebHookSettings`: an organization's endpoints, replaced as a whole and validated all or
//! nothing; secrets are write-only (the read side is `endpoints`). The saved rows are opened
//! (`sealed`) to compare URLs and masks, and each row is sealed again as it is written.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::webhook_endpoint;
use buildhooks_store::{endpoints, orgs};
use sea_orm::Set;

use super::broker_settings;
pub use super::endpoints::{
    load_settings, ChatOptions, WebHookDeliveryEndpoint, WebHookSettings, DEFAULT_IN_FLIGHT,
    MAX_ENDPOINTS, MAX_IN_FLIGHT,
};
use super::format::PayloadFormat;
use super::kinds::{is_masked_url, mask_url, EndpointKind, EndpointOrdering};
use super::outbox::commit_audited;
use super::{chat_settings, pattern, query_check, sealed, secret, WebhookConfig};
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};
use crate::owner::types::{check_owner, OwnerInfo};
use crate::PayloadSchema;

#[derive(InputObject)]
pub struct WebHookDeliveryEndpointInput {
    /// The endpoint to update; without it, a saved endpoint with the same URL is updated.
    pub id: Option<ID>,
    /// Where it sends: a webhook's URL, a chat robot's URL. Null for NATS and AMQP endpoints,
    /// which name a `broker`.
    #[graphql(name = "webhookURL")]
    pub webhook_url: Option<String>,
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
    /// What receives the events (null: the saved endpoint's kind, else `WEBHOOK`). A chat
    /// robot's URL goes in `webhookURL`; DingTalk's and Feishu's signing secret in
    /// `secretToken`.
    pub kind: Option<EndpointKind>,
    /// A chat kind's message (minijinja over `event`, `key`, `action`, `old_status`,
    /// `new_status`, `data` (the stored query's result), `link` and, for digests, `events`);
    /// null or "" for the kind's default message.
    pub template: Option<String>,
    /// Null: the saved value, else `PER_BUILD` for chat kinds and `NONE` for `WEBHOOK`.
    pub ordering: Option<EndpointOrdering>,
    /// Events of one build waiting behind the robot's pace go out as one message (null: the
    /// saved value, else true for DingTalk and WeCom).
    pub digest: Option<bool>,
    /// DingTalk: mobile numbers to mention.
    pub at_mobiles: Option<Vec<String>>,
    /// DingTalk: mention everyone.
    pub is_at_all: Option<bool>,
    /// WeCom: user ids to mention (`@all` for everyone).
    pub mentioned_list: Option<Vec<String>>,
    /// NATS and AMQP: one of the operator's brokers, by name (the `brokers` query lists them).
    pub broker: Option<String>,
    /// NATS: the subject; AMQP: the routing key. A template over `{org}`, `{event}`,
    /// `{status}`, `{action}`, `{repository}`, `{build}`; null for
    /// `buildhooks.{org}.{event}.{status}` (`buildhooks.42.task.failed`).
    pub subject: Option<String>,
    /// AMQP: the exchange (a durable topic exchange, declared if missing; null for
    /// `buildhooks`).
    pub exchange: Option<String>,
    /// The body's shape (webhook and broker kinds): `DOCUMENTED` (`{action, old_status, data}`)
    /// or `CIRRUS` (the flat body Cirrus CI sends today, numeric ids). Null keeps the saved one,
    /// else `DOCUMENTED`.
    pub payload_format: Option<PayloadFormat>,
    /// Seconds to wait before each retry (at most 10 steps of 1 to 86400 s, jittered by
    /// +/-20%; `[]` for none): a `Retry-After` on a 429 or 503 shortens a step, never lengthens
    /// it. Null: Cirrus's rule, one retry shortly after the first attempt. Omitted: the saved
    /// schedule.
    pub retry_schedule: async_graphql::MaybeUndefined<Vec<i32>>,
}

impl WebHookDeliveryEndpointInput {
    /// The URL as given ("" when none was).
    fn url_text(&self) -> &str {
        self.webhook_url.as_deref().unwrap_or_default()
    }
}

#[derive(InputObject)]
pub struct SaveWebHookSettingsInput {
    pub platform: Option<String>,
    pub owner_uid: ID,
    pub delivery_endpoints: Option<Vec<WebHookDeliveryEndpointInput>>,
    /// Where a person sees a build, for links in chat messages (minijinja over `build`,
    /// `repository`, `task`): null keeps the saved one, "" removes it.
    pub build_url_template: Option<String>,
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
    /// The URL to save; `None`: the input sent the mask of the saved one (unchanged).
    url: Option<String>,
    events: Vec<String>,
    repository_id: Option<i32>,
    query: Option<String>,
    max_in_flight: Option<i32>,
    kind: EndpointKind,
    template: Option<String>,
    ordering: Option<EndpointOrdering>,
    options: Option<ChatOptions>,
    payload_format: Option<PayloadFormat>,
}

async fn check_endpoint(
    ctx: &Context<'_>,
    i: usize,
    input: &WebHookDeliveryEndpointInput,
    kind: EndpointKind,
    kept_brokers: &[(EndpointKind, String)],
) -> Result<Checked> {
    let field = |name: &str| format!("deliveryEndpoints[{i}].{name}");
    let config = ctx.data_opt::<WebhookConfig>().cloned().unwrap_or_default();
    let given = broker_settings::Given {
        broker: input.broker.as_deref(),
        subject: input.subject.as_deref(),
        exchange: input.exchange.as_deref(),
    };
    let broker = broker_settings::check(kind, given, &config.brokers, kept_brokers)
        .map_err(|(name, m)| Error::field(field(name), m))?;
    let url = if let Some(broker) = &broker {
        Some(broker.shown_url(kind))
    } else if kind.url_is_secret() && is_masked_url(input.url_text()) {
        None
    } else {
        let url = kind
            .check_url(input.url_text(), config.allow_private_targets)
            .await
            .map_err(|m| Error::field(field("webhookURL"), m))?;
        Some(url.to_string())
    };
    let events = input.events.clone().unwrap_or_else(|| vec!["*".into()]);
    // The rules `pattern::parse_stored` checks again when the row is read back.
    pattern::validate_all(&events).map_err(|e| Error::field(field("events"), e.to_string()))?;
    if kind.chat().is_some() && events.iter().any(|e| e.starts_with("audit_event")) {
        return Err(Error::field(
            field("events"),
            "audit events go to webhook and broker endpoints, not to chat robots",
        ));
    }
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
        .filter(|s| !s.is_empty() && !secret::is_mask(s))
    {
        kind.check_secret(s)
            .map_err(|m| Error::field(field("secretToken"), m))?;
    }
    if input.generate_secret && kind.chat().is_some_and(|c| !c.signs_with_secret()) {
        return Err(Error::field(
            field("generateSecret"),
            format!("{} endpoints carry their secret in the URL", kind.stored()),
        ));
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
    let template = chat_settings::check_template(kind, input.template.as_deref())
        .map_err(|m| Error::field(field("template"), m))?;
    let options = chat_settings::check_options(kind, input)
        .map_err(|(name, m)| Error::field(field(name), m))?;
    if kind.chat().is_some() && input.payload_format.is_some() {
        return Err(Error::field(
            field("payloadFormat"),
            format!(
                "{} endpoints send a chat message: use a template, not a payload format",
                kind.stored()
            ),
        ));
    }
    Ok(Checked {
        url,
        events,
        repository_id,
        query: query.map(str::to_owned),
        max_in_flight: input.max_in_flight,
        kind,
        template,
        ordering: input.ordering,
        options,
        payload_format: input.payload_format,
    })
}

/// Which saved endpoint an input updates: by id, else the first unclaimed one with its URL
/// (or, for a URL that is a secret, with the mask the input sent back).
fn match_saved(
    saved: &[webhook_endpoint::Model],
    claimed: &[i32],
    input: &WebHookDeliveryEndpointInput,
    url: Option<&str>,
) -> Option<usize> {
    if let Some(id) = &input.id {
        let id: i32 = id.parse().ok()?;
        return saved.iter().position(|s| s.id == id);
    }
    saved.iter().position(|s| {
        !claimed.contains(&s.id)
            && (url == Some(s.url.as_str())
                || (!input.url_text().is_empty()
                    && (s.url == input.url_text() || mask_url(&s.url) == input.url_text())))
    })
}

/// The kind each input asks for: its own, else the kind of the saved endpoint it updates, else
/// `WEBHOOK`.
fn kinds_of(
    saved: &[webhook_endpoint::Model],
    inputs: &[WebHookDeliveryEndpointInput],
) -> Vec<EndpointKind> {
    inputs
        .iter()
        .map(|input| {
            input.kind.unwrap_or_else(|| {
                match_saved(saved, &[], input, Some(input.url_text()))
                    .and_then(|i| EndpointKind::of_stored(&saved[i].kind))
                    .unwrap_or_default()
            })
        })
        .collect()
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
    let vault = store(ctx)?.vault().clone();
    let before = sealed::all_opened(
        &vault,
        endpoints::of_org(db(ctx)?, org.org_id, false).await?,
    )?;
    let kinds = kinds_of(&before, &endpoints);
    let kept_brokers: Vec<(EndpointKind, String)> = before
        .iter()
        .filter_map(|e| {
            let target = super::broker::endpoint_target(e)?;
            Some((target.kind, target.broker.to_owned()))
        })
        .collect();
    let mut checked = Vec::with_capacity(endpoints.len());
    for (i, (e, kind)) in endpoints.iter().zip(kinds).enumerate() {
        checked.push(check_endpoint(ctx, i, e, kind, &kept_brokers).await?);
    }
    for (i, e) in endpoints.iter().enumerate() {
        if let async_graphql::MaybeUndefined::Value(steps) = &e.retry_schedule {
            super::schedule::validate(steps)
                .map_err(|m| Error::field(format!("deliveryEndpoints[{i}].retrySchedule"), m))?;
        }
    }
    let link_template = chat_settings::check_link_template(input.build_url_template.as_deref())
        .map_err(|m| Error::field("buildUrlTemplate", m))?;
    let w = store(ctx)?.begin_write().await?;
    let saved = sealed::all_opened(&vault, endpoints::of_org(w.txn(), org.org_id, false).await?)?;
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
        let target = match_saved(&saved, &claimed, input, c.url.as_deref());
        if input.id.is_some() && target.is_none() {
            return Err(Error::field(
                format!("deliveryEndpoints[{i}].id"),
                "no such endpoint",
            ));
        }
        let previous = target.map(|t| &saved[t]);
        let url = match (c.url, previous) {
            (Some(url), _) => url,
            (None, Some(p)) => p.url.clone(),
            (None, None) => {
                return Err(Error::field(
                    format!("deliveryEndpoints[{i}].webhookURL"),
                    "this masked URL matches no saved endpoint; send the URL itself",
                ))
            }
        };
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
                send_after: Set(0),
                ..Default::default()
            },
        };
        let same_kind = previous.is_some_and(|p| p.kind == c.kind.stored());
        if previous.is_some_and(|p| p.secret != secret) {
            // A secret set by hand replaces the one a rotation keeps signing beside it.
            row.previous_secret = Set(None);
            row.previous_secret_until = Set(None);
        }
        row.position = Set(i as i32);
        row.url = Set(url);
        row.secret = Set(secret);
        row.events = Set(events);
        row.repository_id = Set(c.repository_id);
        row.query = Set(c.query);
        // An endpoint buildhooks disabled comes back through `enableWebhookEndpoint` (after a
        // test message), not through a save.
        let held = previous.is_some_and(|p| !p.enabled && p.disabled_reason.is_some());
        row.enabled = Set(input.enabled.unwrap_or(true) && !held);
        row.retry_schedule = Set(match &input.retry_schedule {
            async_graphql::MaybeUndefined::Undefined => {
                previous.and_then(|p| p.retry_schedule.clone())
            }
            async_graphql::MaybeUndefined::Null => None,
            async_graphql::MaybeUndefined::Value(steps) => Some(super::schedule::stored(steps)),
        });
        row.max_in_flight = Set(c
            .max_in_flight
            .or(previous.map(|p| p.max_in_flight))
            .unwrap_or(DEFAULT_IN_FLIGHT));
        row.kind = Set(c.kind.stored().to_owned());
        row.template = Set(c.template);
        row.ordering = Set(c
            .ordering
            .or(previous
                .filter(|_| same_kind)
                .map(|p| EndpointOrdering::of_stored(&p.ordering)))
            .unwrap_or(c.kind.default_ordering())
            .stored()
            .to_owned());
        row.digest = Set(input
            .digest
            .or(previous.filter(|_| same_kind).map(|p| p.digest))
            .unwrap_or(c.kind.default_digest()));
        row.options = Set(match c.options {
            Some(options) => {
                Some(serde_json::to_string(&options).map_err(|e| Error::Internal(e.to_string()))?)
            }
            None => previous
                .filter(|_| same_kind)
                .and_then(|p| p.options.clone()),
        });
        row.payload_format = Set(c
            .payload_format
            .or(previous
                .filter(|_| same_kind)
                .map(|p| PayloadFormat::of_stored(&p.payload_format)))
            .unwrap_or_default()
            .stored()
            .to_owned());
        sealed::seal_row(&vault, &mut row)?;
        let model = endpoints::save(w.txn(), row, previous.is_none()).await?;
        let model = sealed::opened(&vault, model)?;
        out.push(WebHookDeliveryEndpoint::from_row(&model, generated)?);
    }
    for old in saved.iter().filter(|s| !claimed.contains(&s.id)) {
        endpoints::delete(w.txn(), old.clone()).await?;
    }
    if let Some(template) = link_template.clone() {
        orgs::set_build_url_template(w.txn(), org.org_id, template).await?;
    }
    let build_url_template = match link_template {
        Some(template) => template,
        None => orgs::org(w.txn(), org.org_id)
            .await?
            .and_then(|o| o.build_url_template),
    };
    commit_audited(ctx, w, org.org_id, None).await?;
    Ok(SaveWebHookSettingsPayload {
        error: None,
        settings: WebHookSettings {
            owner_uid: ID(org.org_id.to_string()),
            endpoints: out,
            build_url_template,
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

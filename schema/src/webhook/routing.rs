//! "Why was it not delivered?": `event(id)` (an event of the viewer's organization; any other is
//! NOT_FOUND) and its `routing`, one entry per endpoint the organization has (deleted ones
//! too): whether the outbox wrote a delivery of the event for it and, when it did not or the
//! delivery was refused, why. Matching is `route`'s, the rule the outbox applied.

use async_graphql::{ComplexObject, Context, Enum, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::{event, webhook_delivery, webhook_endpoint};

use super::delivery::WebHookDelivery;
use super::route::{self, Miss};
use super::{kinds, pattern};
use crate::ctx::{db, viewer};
use crate::error::{Error, Result};

/// Why an endpoint did not get an event (or got it and nothing was sent).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum RoutingReason {
    /// None of its event patterns selects the event.
    Pattern,
    /// It is scoped to another repository.
    RepositoryScope,
    /// It is disabled.
    Disabled,
    /// It was deleted.
    Deleted,
    /// Its kind takes no event of this kind (chat robots take build and task events only).
    KindFilter,
    /// Its target was refused when sending (a blocked address, a URL that does not parse).
    RefusedTarget,
    /// It was made after the event.
    CreatedAfterEvent,
    /// Its stored event patterns cannot be read (saved before a rule existed): it gets nothing
    /// until they are saved again.
    UnreadablePatterns,
    /// It takes this event as it is now, but no delivery was written: it was disabled, or its
    /// settings were different, when the event happened.
    SettingsChanged,
}

/// An endpoint as routing shows it: its URL masked where the URL is a secret, as everywhere.
#[derive(SimpleObject, Clone)]
pub struct RoutedEndpoint {
    pub id: ID,
    pub url: String,
    /// The stored kind (`webhook`, `slack`, `nats`, ...).
    pub kind: String,
    pub enabled: bool,
    pub deleted: bool,
}

/// Whether one endpoint got the event, and if not why.
#[derive(SimpleObject, Clone)]
pub struct EventRoute {
    pub endpoint: RoutedEndpoint,
    /// A delivery of the event was written for this endpoint.
    pub matched: bool,
    /// Why the event was not delivered there (null when it matched and was not refused).
    pub reason: Option<RoutingReason>,
    /// The same, for people.
    pub message: String,
    /// The delivery written for it, when matched.
    pub delivery: Option<WebHookDelivery>,
}

/// An event of the organization: a build or task creation or status change, a derived build
/// event, or an audit event.
#[derive(SimpleObject, Clone)]
#[graphql(complex)]
pub struct WebHookEvent {
    pub id: ID,
    /// `build`, `task`, `audit_event`, ...: the `X-Cirrus-Event` value.
    pub kind: String,
    pub action: String,
    pub old_status: Option<String>,
    pub new_status: String,
    /// What event patterns are matched against (`task.failed`).
    pub filter_key: String,
    pub repository_id: Option<ID>,
    pub build_id: Option<ID>,
    pub task_id: Option<ID>,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    #[graphql(skip)]
    pub row: event::Model,
}

impl WebHookEvent {
    fn from_row(row: event::Model) -> Self {
        let positive = |id: i32| (id != 0).then(|| ID(id.to_string()));
        WebHookEvent {
            id: ID(row.id.to_string()),
            kind: row.kind.clone(),
            action: row.action.clone(),
            old_status: row.old_status.clone(),
            new_status: row.new_status.clone(),
            filter_key: route::stored_key(&row),
            repository_id: positive(row.repository_id),
            build_id: positive(row.build_id),
            task_id: row.task_id.map(|t| ID(t.to_string())),
            created_at: row.created_at,
            row,
        }
    }
}

/// Why `endpoint` has no delivery of `row`. What its settings say (kind, scope, patterns)
/// comes before its state (deleted, disabled): an endpoint deleted since that would not have
/// taken the event anyway says why it would not.
fn unmatched(endpoint: &webhook_endpoint::Model, row: &event::Model) -> (RoutingReason, String) {
    if endpoint.created_at > row.created_at {
        return (
            RoutingReason::CreatedAfterEvent,
            "the endpoint was made after the event".into(),
        );
    }
    let Ok(patterns) = pattern::parse_stored(&endpoint.events) else {
        return (
            RoutingReason::UnreadablePatterns,
            "the endpoint's stored event patterns cannot be read; save them again".into(),
        );
    };
    let key = route::stored_key(row);
    match route::stored_event(endpoint, &patterns, row) {
        Err(Miss::KindFilter) => (
            RoutingReason::KindFilter,
            format!(
                "{} endpoints take build and task events only, not {}",
                endpoint.kind, row.kind
            ),
        ),
        Err(Miss::RepositoryScope) => (
            RoutingReason::RepositoryScope,
            format!(
                "the endpoint takes events of repository {} only",
                endpoint.repository_id.unwrap_or_default()
            ),
        ),
        Err(Miss::Pattern) => (
            RoutingReason::Pattern,
            format!(
                "none of its patterns ({}) selects {key}",
                patterns.join(", ")
            ),
        ),
        Ok(()) if endpoint.deleted => (RoutingReason::Deleted, "the endpoint was deleted".into()),
        Ok(()) if !endpoint.enabled => {
            let why = endpoint
                .disabled_reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            (
                RoutingReason::Disabled,
                format!("the endpoint is disabled{why}"),
            )
        }
        Ok(()) => (
            RoutingReason::SettingsChanged,
            format!("it takes {key} now; it was disabled or set otherwise when the event happened"),
        ),
    }
}

/// Why a delivery that was written sent nothing, from its last outcome (an attempt that got no
/// answer keeps its error code where the answer would be).
fn refused(delivery: &webhook_delivery::Model) -> Option<(RoutingReason, String)> {
    if delivery.last_status.is_some() {
        return None;
    }
    let reason = match delivery.last_response.as_deref()? {
        "blocked_target" | "invalid_url" => RoutingReason::RefusedTarget,
        "endpoint_disabled" => RoutingReason::Disabled,
        "endpoint_removed" => RoutingReason::Deleted,
        _ => return None,
    };
    Some((
        reason,
        format!(
            "a delivery was written and nothing was sent: {}",
            delivery.last_response.as_deref().unwrap_or_default()
        ),
    ))
}

#[ComplexObject]
impl WebHookEvent {
    /// For each endpoint of the organization (deleted ones too): whether the event went there
    /// and, if not, why.
    async fn routing(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<EventRoute>> {
        async {
            let db = db(ctx)?;
            let org_id = self.row.org_id;
            let endpoints = buildhooks_store::routing::endpoints(db, org_id).await?;
            let deliveries = buildhooks_store::routing::deliveries(db, org_id, self.row.id).await?;
            let platform = buildhooks_store::orgs::org(db, org_id)
                .await?
                .map(|o| o.platform)
                .unwrap_or_default();
            let shown = super::delivery::shown(db, org_id, deliveries.clone(), &platform).await?;
            let routes = endpoints.iter().map(|endpoint| {
                let written = deliveries.iter().find(|d| d.endpoint_id == endpoint.id);
                let (reason, message) = match written {
                    Some(d) => match refused(d) {
                        Some((reason, message)) => (Some(reason), message),
                        None => (None, format!("a delivery was written ({})", d.state)),
                    },
                    None => {
                        let (reason, message) = unmatched(endpoint, &self.row);
                        (Some(reason), message)
                    }
                };
                EventRoute {
                    endpoint: RoutedEndpoint {
                        id: ID(endpoint.id.to_string()),
                        url: kinds::shown_url(&endpoint.kind, &endpoint.url),
                        kind: endpoint.kind.clone(),
                        enabled: endpoint.enabled,
                        deleted: endpoint.deleted,
                    },
                    matched: written.is_some(),
                    reason,
                    message,
                    delivery: written
                        .and_then(|d| shown.iter().find(|s| s.row_id == d.id))
                        .cloned(),
                }
            });
            Ok::<_, Error>(routes.collect())
        }
        .await
        .extend()
    }
}

/// Event `id` of `org_id`.
async fn load(ctx: &Context<'_>, id: &ID) -> Result<WebHookEvent> {
    let org_id = viewer(ctx)?.org_id;
    let id: i64 = id
        .as_str()
        .trim()
        .parse()
        .map_err(|_| Error::NotFound("event"))?;
    let row = buildhooks_store::routing::event(db(ctx)?, org_id, id)
        .await?
        .ok_or(Error::NotFound("event"))?;
    Ok(WebHookEvent::from_row(row))
}

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// An event of the viewer's organization, with where it went and why not elsewhere.
    async fn event(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<WebHookEvent> {
        load(ctx, &id).await.extend()
    }
}

//! The transactional outbox: for each event of a transition, one `webhook_delivery` row per
//! matching endpoint, written in the transition's own transaction, then the commit and the
//! dispatcher's wake-up. A refused or rolled-back transition leaves no event and no row.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::Context;
use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_store::events::NewEvent;
use buildhooks_store::outbox::NewDelivery;
use buildhooks_store::WriteTxn;

use super::audit::{self, Audit};
use super::format::{self, PayloadFormat};
use super::kinds::{self, EndpointOrdering};
use super::{broker, message, pattern, render, route, sealed};
use crate::clock::now_ms;
use crate::ctx::store;
use crate::error::{Error, Result};
use crate::event::EventDraft;
use crate::store::{Lease, Store};
use crate::transition::Changes;
use crate::PayloadSchema;

pub use buildhooks_store::outbox::state;

/// Where a transition's outbox rows are being prepared: in its open write transaction, or
/// before anything is written (a new build written at once, `new_build`).
#[derive(Clone, Copy)]
pub(crate) enum Reader<'a, 'w> {
    /// Reads and payload queries run in the transaction and see its uncommitted rows.
    Txn(&'a WriteTxn<'w>),
    /// Reads go through the pool; a payload the schema would have to render (its query reads
    /// the rows, which are not written yet) makes [`prepare`] answer `None`.
    Pool,
}

/// A transition's events (and audit event) and their outbox rows, ready to write, and the
/// endpoints they go to.
pub(crate) struct Prepared {
    pub events: Vec<NewEvent<'static>>,
    pub rows: Vec<NewDelivery>,
    pub endpoints: Vec<webhook_endpoint::Model>,
    /// Tell other instances that rows are there to claim.
    pub notify: bool,
    /// The rows' creation time.
    pub now: i64,
}

impl Prepared {
    /// The endpoints that got a row of `written`.
    pub fn used(self, written: &[webhook_delivery::Model]) -> Vec<webhook_endpoint::Model> {
        self.endpoints
            .into_iter()
            .filter(|e| written.iter().any(|d| d.endpoint_id == e.id))
            .collect()
    }
}

/// Writes the events of `changes` (and its audit event) and their outbox rows in `w`, leased
/// with `lease` (token, until) when given, PENDING otherwise; returns the rows written. Its seed
/// holds the rows the transition left, which the payload renders take instead of reading them
/// again.
pub async fn publish(
    store: &Store,
    w: &WriteTxn<'_>,
    schema: &PayloadSchema,
    org_id: i32,
    changes: Changes,
    lease: Option<&Lease>,
) -> Result<(Vec<webhook_delivery::Model>, Vec<webhook_endpoint::Model>)> {
    let mut prepared = prepare(store, Reader::Txn(w), schema, org_id, changes, lease)
        .await?
        .ok_or_else(|| Error::Internal("a transaction's rows were not prepared".into()))?;
    let rows = std::mem::take(&mut prepared.rows);
    let written = buildhooks_store::outbox::write(
        w.txn(),
        org_id,
        prepared.now,
        &prepared.events,
        rows,
        prepared.notify,
    )
    .await?;
    let used = prepared.used(&written);
    Ok((written, used))
}

/// The events of `changes` (and its audit event) and their outbox rows, leased with `lease`
/// when given; `None` when `reader` is the pool and a payload needs the schema.
pub(crate) async fn prepare(
    store: &Store,
    reader: Reader<'_, '_>,
    schema: &PayloadSchema,
    org_id: i32,
    changes: Changes,
    lease: Option<&Lease>,
) -> Result<Option<Prepared>> {
    let db = match reader {
        Reader::Txn(w) => w.handle(),
        Reader::Pool => store.handle(),
    };
    let Changes {
        events,
        mut seed,
        audit,
    } = changes;
    let (events, audit) = (events.as_slice(), audit.as_ref());
    let endpoints = match seed.take_endpoints() {
        Some(read_with_the_transition) => read_with_the_transition,
        None => buildhooks_store::endpoints::of_org(&db, org_id, true).await?,
    };
    // An endpoint whose stored patterns fail the save's checks (a row written by hand, or before
    // a rule existed) gets nothing, and says so: logged and counted, never read as "none".
    let endpoints: Vec<(webhook_endpoint::Model, Vec<String>)> = endpoints
        .into_iter()
        .filter_map(|e| match pattern::parse_stored(&e.events) {
            Ok(patterns) => Some((e, patterns)),
            Err(error) => {
                pattern::count_unparsable();
                tracing::error!(endpoint = e.id, org = e.org_id, %error, "stored event patterns do not parse; the endpoint gets no deliveries until they are saved again");
                None
            }
        })
        .collect();
    let now = now_ms();
    let mut rows = Vec::new();
    // The endpoints that take the mutation's audit event: only those naming `audit_event.*`.
    let auditors: Vec<&webhook_endpoint::Model> = match audit {
        None => Vec::new(),
        Some(audit) => endpoints
            .iter()
            .filter(|(e, patterns)| {
                route::other_event(e, patterns, audit.repository_id, audit::KEY).is_ok()
            })
            .map(|(e, _)| e)
            .collect(),
    };
    if !auditors.is_empty() {
        if let Some(org) = store.rows().organization(&db, org_id).await? {
            seed.put_organization(org);
        }
    }
    let audit_repository = match (audit.and_then(|a| a.repository_id), auditors.is_empty()) {
        (Some(id), false) => store.rows().repository(&db, org_id, id).await?,
        _ => None,
    };
    if !endpoints.is_empty() && !events.is_empty() {
        if let Some(org) = store.rows().organization(&db, org_id).await? {
            seed.put_organization(org);
        }
        let mut repositories: Vec<i32> = events.iter().map(|e| e.repository_id).collect();
        repositories.sort_unstable();
        repositories.dedup();
        for id in repositories {
            if let Some(repository) = store.rows().repository(&db, org_id, id).await? {
                seed.put_repository(repository);
            }
        }
    }
    // Read from the database, not the row cache: the template changes with the settings (and
    // another instance may have changed it).
    let link_template = match endpoints.iter().any(|(e, _)| kinds::is_chat(&e.kind)) {
        true => buildhooks_store::orgs::org(&db, org_id)
            .await?
            .and_then(|o| o.build_url_template),
        false => None,
    };
    let seed = Arc::new(seed);
    // Rows of endpoints that order per build: a build's row is in turn (handed straight to the
    // dispatcher like any other) when no earlier row of that build waits or is in flight there;
    // transitions of one build hold its row lock, so every earlier row is visible here.
    let ordered: Vec<i32> = endpoints
        .iter()
        .filter(|(e, _)| e.ordering == EndpointOrdering::PerBuild.stored())
        .map(|(e, _)| e.id)
        .collect();
    let mut waiting_turns = match ordered.is_empty() {
        true => Default::default(),
        false => {
            let mut builds: Vec<i32> = events.iter().map(|e| e.build_id).collect();
            builds.sort_unstable();
            builds.dedup();
            buildhooks_store::outbox::turns::unfinished(&db, &ordered, &builds).await?
        }
    };
    for (position, event) in events.iter().enumerate() {
        let key = event.filter_key();
        // Rendered once per distinct query per event, not once per endpoint; a chat endpoint's
        // row holds the envelope its sink makes the message from.
        let mut bodies: HashMap<(&str, Option<PayloadFormat>), String> = HashMap::new();
        for (endpoint, patterns) in &endpoints {
            if route::build_event(endpoint, patterns, event.repository_id, &key).is_err() {
                continue;
            }
            let chat = kinds::is_chat(&endpoint.kind);
            // Others hold the body in the endpoint's payload format.
            let format = (!chat).then(|| PayloadFormat::of_stored(&endpoint.payload_format));
            let default = format.map_or(message::CHAT_QUERY, PayloadFormat::default_query);
            let query = endpoint.query.as_deref().unwrap_or(default);
            // The default query's documented body is written straight from the seed's rows.
            let written = match (format, query == render::DEFAULT_QUERY) {
                (Some(PayloadFormat::Documented), true)
                    if !bodies.contains_key(&(query, format)) =>
                {
                    render::default_body(&seed, org_id, event)
                }
                _ => None,
            };
            if let Some(body) = written {
                bodies.insert((query, format), body);
            }
            let body = match bodies.get(&(query, format)) {
                Some(body) => body.clone(),
                None => {
                    let Reader::Txn(w) = reader else {
                        return Ok(None);
                    };
                    let data =
                        render::render_data(schema, w.handle(), seed.clone(), org_id, query, event)
                            .await;
                    let body = match format {
                        None => message::envelope(
                            message::chat_event(event, data, now),
                            link_template.as_deref(),
                        ),
                        Some(format) => format::body(format, event, data),
                    };
                    bodies.insert((query, format), body.clone());
                    body
                }
            };
            let ordered = endpoint.ordering == EndpointOrdering::PerBuild.stored();
            // A row that waits for its build's earlier rows, or any row of a paced robot, is
            // claimed (where turns and pace are checked), never handed straight over.
            let in_turn = !ordered || waiting_turns.insert((endpoint.id, event.build_id));
            let lease = match chat || !in_turn {
                true => None,
                false => lease.and_then(|l| l.for_row(org_id, endpoint.id)),
            };
            rows.push(NewDelivery {
                event: position,
                org_id,
                endpoint_id: endpoint.id,
                repository_id: Some(event.repository_id),
                // A robot's URL is its secret: the row keeps only its mask (the sink sends to
                // the endpoint's URL), so the deliveries log never shows it.
                // A broker endpoint's row names its broker and the subject rendered for this
                // event.
                url: match broker::row_url(endpoint, &broker::Values::of(org_id, event)) {
                    Some(url) => url,
                    None => sealed::row_url(store.vault(), endpoint)?,
                },
                kind: event.kind.as_str().to_owned(),
                action: event.action.to_owned(),
                body,
                build_id: Some(event.build_id),
                order_key: ordered.then_some(event.build_id),
                lease,
            });
        }
    }
    let mut events: Vec<NewEvent<'static>> = events.iter().map(EventDraft::to_new).collect();
    if let (Some(audit), false) = (audit, auditors.is_empty()) {
        let owner = seed.organization(org_id);
        let repository = audit_repository.as_ref().zip(owner);
        for endpoint in auditors {
            let format = PayloadFormat::of_stored(&endpoint.payload_format);
            let values = broker::Values::audit(org_id, audit.repository_id);
            rows.push(NewDelivery {
                event: events.len(),
                org_id,
                endpoint_id: endpoint.id,
                repository_id: audit.repository_id,
                url: match broker::row_url(endpoint, &values) {
                    Some(url) => url,
                    None => sealed::row_url(store.vault(), endpoint)?,
                },
                kind: "audit_event".to_owned(),
                action: "created".to_owned(),
                body: audit.body(format, repository),
                build_id: None,
                order_key: None,
                lease: lease.and_then(|l| l.for_row(org_id, endpoint.id)),
            });
        }
        events.push(NewEvent {
            kind: "audit_event",
            action: "created",
            old_status: None,
            new_status: audit::TYPE,
            repository_id: audit.repository_id.unwrap_or(0),
            build_id: 0,
            task_id: None,
        });
    }
    // Leased rows go to this process's dispatcher; only rows written for any instance to claim
    // wake the others (rows without a free share here are claimed when a slot frees, or by
    // another instance's next look at the outbox).
    let notify = lease.is_none();
    let endpoints = endpoints.into_iter().map(|(e, _)| e).collect();
    Ok(Some(Prepared {
        events,
        rows,
        endpoints,
        notify,
        now,
    }))
}

/// Publishes `events` in `w`, commits, and wakes the dispatcher when rows were written.
pub(crate) async fn commit_with_events(
    ctx: &Context<'_>,
    w: WriteTxn<'_>,
    org_id: i32,
    changes: Changes,
) -> Result<()> {
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema in context".into()))?;
    let repository = changes.events.first().map(|e| e.repository_id);
    // Boxed: every mutation awaits this, and a root field's future is the size of the largest
    // mutation's, moved for each field resolved (callgrind: 8 M instructions of memcpy per
    // 1,000 transitions unboxed).
    Box::pin(commit_mutation(ctx, schema, w, org_id, changes, repository)).await
}

/// Commits a mutation's `changes` with its audit event, made only when one of the
/// organization's endpoints selects audit events: the endpoints are read here when the
/// transition has not read them already (publishing takes them from the seed, so they are read
/// once either way).
async fn commit_mutation(
    ctx: &Context<'_>,
    schema: &PayloadSchema,
    w: WriteTxn<'_>,
    org_id: i32,
    mut changes: Changes,
    repository: Option<i32>,
) -> Result<()> {
    if changes.seed.endpoints().is_none() {
        let endpoints = buildhooks_store::endpoints::of_org(w.txn(), org_id, true).await?;
        changes.seed.put_endpoints(endpoints);
    }
    if changes.seed.endpoints().is_some_and(wants_audit) {
        changes.audit = Some(Audit::of(ctx, repository));
    }
    commit_changes(store(ctx)?, schema, w, org_id, changes).await
}

/// Whether one of `endpoints` selects audit events: only then is a mutation's audit event made.
pub(crate) fn wants_audit(endpoints: &[webhook_endpoint::Model]) -> bool {
    endpoints.iter().any(|e| e.events.contains("audit_event"))
}

/// Commits a mutation that changed no build or task, with its audit event (about
/// `repository_id`, when it concerns one) where an endpoint selects `audit_event.*`.
pub(crate) async fn commit_audited(
    ctx: &Context<'_>,
    w: WriteTxn<'_>,
    org_id: i32,
    repository_id: Option<i32>,
) -> Result<()> {
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema in context".into()))?;
    Box::pin(commit_mutation(
        ctx,
        schema,
        w,
        org_id,
        Changes::default(),
        repository_id,
    ))
    .await
}

/// Publishes a transition's `changes` in `w`, commits, and hands the rows written to the
/// dispatcher (or wakes it): the one way a transition ends, from the API or an inbound hook.
pub async fn commit_changes(
    store: &Store,
    schema: &PayloadSchema,
    w: WriteTxn<'_>,
    org_id: i32,
    changes: Changes,
) -> Result<()> {
    let lease = store.lease(now_ms());
    let (written, endpoints) = publish(store, &w, schema, org_id, changes, lease.as_ref()).await?;
    store.hooks().before_commit()?;
    if written.is_empty() {
        return Ok(w.commit().await?);
    }
    // Handed to the dispatcher by the committing task, so a request dropped while waiting for
    // its commit still gets its deliveries sent at once (not after its lease expires).
    let store = store.clone();
    Ok(w.commit_then(Box::new(move || {
        committed(&store, written, endpoints, lease)
    }))
    .await?)
}

/// After a commit that wrote `written`: tells the hooks, and hands the leased rows to the
/// dispatcher (or wakes it).
pub(crate) fn committed(
    store: &Store,
    written: Vec<webhook_delivery::Model>,
    endpoints: Vec<webhook_endpoint::Model>,
    lease: Option<Lease>,
) {
    let ids: Vec<String> = written.iter().map(|d| d.uuid.clone()).collect();
    store.hooks().committed(&ids);
    match lease {
        // Leased rows go to the dispatcher; rows written PENDING for want of a free share are
        // claimed when their endpoint's or organization's slot frees, or now if one freed
        // since the lease was made (its claim ran before this commit and missed them).
        Some(lease) => {
            // A paced robot's rows are claimed: look now. So is a row waiting for its build's
            // earlier row: that one may have been recorded before this commit.
            let waits = |id: i32| {
                endpoints.iter().any(|e| {
                    e.id == id
                        && (kinds::is_chat(&e.kind)
                            || e.ordering == EndpointOrdering::PerBuild.stored())
                })
            };
            let unleased = written.iter().filter(|d| d.lease_token.is_none());
            let waiting = unleased.clone().any(|d| waits(d.endpoint_id))
                || (unleased.count() > 0 && (lease.freed_since)());
            let leased: Vec<_> = written
                .into_iter()
                .filter(|d| d.lease_token.is_some())
                .collect();
            if !leased.is_empty() {
                store.hand_off(leased, lease.token, endpoints);
            }
            if waiting {
                store.wake_dispatcher();
            }
        }
        None => store.wake_dispatcher(),
    }
}

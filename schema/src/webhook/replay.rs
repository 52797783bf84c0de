//! Filtered replay: `webhookReplay(input: {endpointId?, since, until, states, repositoryId?,
//! branch?, buildId?, dryRun})` over the viewer's organization. A dry run answers how many
//! deliveries match, exactly; otherwise a `webhook_replay` row is written and the server's
//! replay runner puts the deliveries back in the outbox in bounded pages (same delivery ids,
//! new attempts), behind live traffic. `webhookReplay(id)` reads its progress (the deliveries
//! carrying its id), `cancelWebhookReplay` stops it queuing. Bad input writes nothing.

use async_graphql::{Context, Enum, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_entity::webhook_replay;
use buildhooks_store::replay::{self, replay_state, Filter, Stored};

use super::outbox::{commit_audited, state};
use crate::clock::now_ms;
use crate::ctx::{db, parse_id, store, viewer};
use crate::error::{Error, Result};

/// Widest window a replay may cover (`until - since`): 31 days, in ms.
pub const MAX_WINDOW_MS: i64 = 31 * 24 * 3600 * 1000;
/// Longest branch name a filter may give, in bytes.
pub const MAX_BRANCH_BYTES: usize = 255;

/// The finished states a replay may select (live rows are never replayed).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReplayableState {
    Failed,
    Delivered,
}

impl ReplayableState {
    fn stored(self) -> &'static str {
        match self {
            ReplayableState::Failed => state::FAILED,
            ReplayableState::Delivered => state::DELIVERED,
        }
    }
}

/// Where a replay stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum WebhookReplayState {
    /// Pages are still being queued (or the last one is being sent).
    Running,
    /// Every page was queued and sent.
    Done,
    /// Stopped queuing; rows already queued finish.
    Cancelled,
}

#[derive(InputObject)]
pub struct WebhookReplayInput {
    /// Only deliveries to this endpoint.
    pub endpoint_id: Option<ID>,
    /// Deliveries created at or after this time (ms since the epoch) ...
    pub since: i64,
    /// ... and before this one (at most 31 days after `since`).
    pub until: i64,
    /// Which finished deliveries: `FAILED`, `DELIVERED`.
    pub states: Vec<ReplayableState>,
    pub repository_id: Option<ID>,
    /// Only deliveries of builds on this branch.
    pub branch: Option<String>,
    pub build_id: Option<ID>,
    /// Count the matching deliveries and change nothing.
    #[graphql(default)]
    pub dry_run: bool,
    pub client_mutation_id: Option<String>,
}

#[derive(InputObject)]
pub struct CancelWebhookReplayInput {
    pub id: ID,
    pub client_mutation_id: Option<String>,
}

/// A replay's filter, as given.
#[derive(SimpleObject, Clone)]
pub struct WebhookReplayFilter {
    pub endpoint_id: Option<ID>,
    pub since: i64,
    pub until: i64,
    pub states: Vec<String>,
    pub repository_id: Option<ID>,
    pub branch: Option<String>,
    pub build_id: Option<ID>,
}

/// A replay and its progress.
#[derive(SimpleObject, Clone)]
pub struct WebhookReplay {
    pub id: ID,
    pub state: WebhookReplayState,
    /// Deliveries the filter matched when the replay was made.
    pub matched: i64,
    /// Deliveries queued again so far.
    pub queued: i64,
    /// Of those, delivered, failed again, and still in the outbox.
    pub delivered: i64,
    pub failed: i64,
    pub pending: i64,
    pub filter: WebhookReplayFilter,
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub finished_at: Option<i64>,
}

#[derive(SimpleObject)]
pub struct WebhookReplayPayload {
    /// How many deliveries the filter matches.
    pub matched: i64,
    pub dry_run: bool,
    /// The replay made (null for a dry run).
    pub replay: Option<WebhookReplay>,
    pub client_mutation_id: Option<String>,
}

#[derive(SimpleObject)]
pub struct CancelWebhookReplayPayload {
    pub replay: WebhookReplay,
    pub client_mutation_id: Option<String>,
}

fn id_of(id: i32) -> ID {
    ID(id.to_string())
}

/// Replay row `row` with its progress.
async fn shown(
    db: &impl sea_orm::ConnectionTrait,
    row: webhook_replay::Model,
) -> Result<WebhookReplay> {
    let stored = Stored::of(&row)?;
    let progress = replay::progress(db, row.id).await?;
    let state = match row.state.as_str() {
        replay_state::DONE => WebhookReplayState::Done,
        replay_state::CANCELLED => WebhookReplayState::Cancelled,
        _ => WebhookReplayState::Running,
    };
    let f = stored.filter;
    Ok(WebhookReplay {
        id: ID(row.id.to_string()),
        state,
        matched: row.matched,
        queued: row.queued,
        delivered: progress.delivered,
        failed: progress.failed,
        pending: progress.pending,
        filter: WebhookReplayFilter {
            endpoint_id: f.endpoint_id.map(id_of),
            since: f.since,
            until: f.until,
            states: f.states,
            repository_id: f.repository_id.map(id_of),
            branch: f.branch,
            build_id: f.build_id.map(id_of),
        },
        created_at: row.created_at,
        finished_at: row.finished_at,
    })
}

/// The filter `input` gives for `org_id`, checked: the window, the states, and that the
/// endpoint, repository and build it names are the organization's.
async fn filter(ctx: &Context<'_>, org_id: i32, input: &WebhookReplayInput) -> Result<Filter> {
    if input.since >= input.until {
        return Err(Error::field("until", "until must be after since"));
    }
    if input.until - input.since > MAX_WINDOW_MS {
        return Err(Error::field(
            "until",
            "a replay covers at most 31 days: replay a wider window in parts",
        ));
    }
    if input.states.is_empty() {
        return Err(Error::field(
            "states",
            "name at least one state (FAILED, DELIVERED)",
        ));
    }
    let mut states: Vec<String> = input.states.iter().map(|s| s.stored().to_owned()).collect();
    states.sort_unstable();
    states.dedup();
    let branch = match input.branch.as_deref().map(str::trim) {
        None => None,
        Some("") => return Err(Error::field("branch", "give a branch name or leave it out")),
        Some(b) if b.len() > MAX_BRANCH_BYTES => {
            return Err(Error::field(
                "branch",
                format!("a branch name has at most {MAX_BRANCH_BYTES} bytes"),
            ))
        }
        Some(b) => Some(b.to_owned()),
    };
    let db = db(ctx)?;
    let endpoint_id = match &input.endpoint_id {
        None => None,
        Some(id) => {
            let id = parse_id(id, "webhook endpoint")?;
            buildhooks_store::endpoints::find(db, org_id, Some(id), None)
                .await?
                .ok_or(Error::NotFound("webhook endpoint"))?;
            Some(id)
        }
    };
    let repository_id = match &input.repository_id {
        None => None,
        Some(id) => {
            let id = parse_id(id, "repository")?;
            buildhooks_store::orgs::repo(db, org_id, id)
                .await?
                .ok_or(Error::NotFound("repository"))?;
            Some(id)
        }
    };
    let build_id = match &input.build_id {
        None => None,
        Some(id) => {
            let id = parse_id(id, "build")?;
            buildhooks_store::runs::build(db, org_id, id)
                .await?
                .ok_or(Error::NotFound("build"))?;
            Some(id)
        }
    };
    Ok(Filter {
        org_id,
        endpoint_id,
        since: input.since,
        until: input.until,
        states,
        repository_id,
        branch,
        build_id,
    })
}

async fn start(ctx: &Context<'_>, input: &WebhookReplayInput) -> Result<WebhookReplayPayload> {
    let org_id = viewer(ctx)?.org_id;
    let filter = filter(ctx, org_id, input).await?;
    if input.dry_run {
        let (matched, _) = replay::count(db(ctx)?, &filter).await?;
        return Ok(WebhookReplayPayload {
            matched,
            dry_run: true,
            replay: None,
            client_mutation_id: input.client_mutation_id.clone(),
        });
    }
    let repository_id = filter.repository_id;
    // Counted before the write, on the pool: a long count never holds the writers up. The set
    // the replay works through is fixed by the highest id counted.
    let (matched, last_id) = replay::count(db(ctx)?, &filter).await?;
    let store = store(ctx)?;
    let w = store.begin_write().await?;
    let row = replay::insert(w.txn(), filter, matched, last_id.unwrap_or(0), now_ms()).await?;
    commit_audited(ctx, w, org_id, repository_id).await?;
    Ok(WebhookReplayPayload {
        matched,
        dry_run: false,
        replay: Some(shown(db(ctx)?, row).await?),
        client_mutation_id: input.client_mutation_id.clone(),
    })
}

fn replay_id(id: &ID) -> Result<i64> {
    id.as_str()
        .trim()
        .parse()
        .map_err(|_| Error::NotFound("webhook replay"))
}

async fn cancel(ctx: &Context<'_>, input: &CancelWebhookReplayInput) -> Result<WebhookReplay> {
    let org_id = viewer(ctx)?.org_id;
    let id = replay_id(&input.id)?;
    let store = store(ctx)?;
    let w = store.begin_write().await?;
    let row = replay::cancel(w.txn(), org_id, id, now_ms())
        .await?
        .ok_or(Error::NotFound("webhook replay"))?;
    if row.state == replay_state::DONE {
        return Err(Error::InvalidTransition(format!(
            "webhook replay {id} is DONE already"
        )));
    }
    commit_audited(ctx, w, org_id, None).await?;
    shown(db(ctx)?, row).await
}

#[derive(Default)]
pub struct ReplayQuery;

#[Object]
impl ReplayQuery {
    /// A replay of the viewer's organization with its progress.
    async fn webhook_replay(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookReplay> {
        async {
            let org_id = viewer(ctx)?.org_id;
            let row = replay::by_id(db(ctx)?, org_id, replay_id(&id)?)
                .await?
                .ok_or(Error::NotFound("webhook replay"))?;
            shown(db(ctx)?, row).await
        }
        .await
        .extend()
    }
}

#[derive(Default)]
pub struct ReplayMutation;

#[Object]
impl ReplayMutation {
    /// Counts (`dryRun: true`) or redelivers in the background the organization's finished
    /// deliveries that match: same delivery ids, new attempts, live deliveries first.
    async fn webhook_replay(
        &self,
        ctx: &Context<'_>,
        input: WebhookReplayInput,
    ) -> async_graphql::Result<WebhookReplayPayload> {
        start(ctx, &input).await.extend()
    }

    /// Stops a replay queuing more deliveries (those already queued finish).
    async fn cancel_webhook_replay(
        &self,
        ctx: &Context<'_>,
        input: CancelWebhookReplayInput,
    ) -> async_graphql::Result<CancelWebhookReplayPayload> {
        let replay = cancel(ctx, &input).await.extend()?;
        Ok(CancelWebhookReplayPayload {
            replay,
            client_mutation_id: input.client_mutation_id,
        })
    }
}

//! Chat messages on the schema's side: the stored envelope a chat endpoint's outbox row holds
//! (the event, the endpoint's query result and the organization's build URL template, which the
//! chat sink turns into the robot's message when it sends), the query chat endpoints get unless
//! they store their own, the settings a message is composed with, and `webhookMessagePreview`.

use async_graphql::{Context, InputObject, Object, ResultExt, SimpleObject, ID};
use buildhooks_chat::{Event as ChatEvent, Settings};
use buildhooks_entity::webhook_endpoint;
use serde::{Deserialize, Serialize};

use super::endpoints::ChatOptions;
use super::kinds::EndpointKind;
use super::{chat_settings, query_check, render};
use crate::ctx::db;
use crate::error::{Error, Result};
use crate::event::{EventDraft, EventKind};
use crate::owner::types::check_owner;
use crate::PayloadSchema;

/// The query a chat endpoint's message is made from unless it stores its own: what the default
/// messages show (names, branch, commit title, statuses, durations).
pub const CHAT_QUERY: &str = "query ChatMessage($repositoryId: ID!, $buildId: ID!, $taskId: ID) {
  repository(id: $repositoryId) { id owner name }
  build(id: $buildId) { id name branch changeIdInRepo changeMessageTitle status durationInSeconds }
  task(id: $taskId) { id name status durationInSeconds }
}";

/// What a chat endpoint's outbox row holds: the event and the organization's build URL
/// template at the time of the transition.
#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct Envelope {
    #[serde(flatten)]
    pub event: ChatEvent,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_template: Option<String>,
}

/// The chat event of a transition's event with its rendered `data`.
pub fn chat_event(event: &EventDraft, data: serde_json::Value, at_ms: i64) -> ChatEvent {
    ChatEvent {
        event: event.kind.as_str().to_owned(),
        key: event.filter_key(),
        action: event.action.to_owned(),
        old_status: event.old_status.map(str::to_owned),
        new_status: Some(event.new_status.to_owned()),
        data,
        at_ms,
    }
}

/// The envelope text stored in the outbox row.
pub fn envelope(event: ChatEvent, link_template: Option<&str>) -> String {
    serde_json::to_string(&Envelope {
        event,
        link_template: link_template.map(str::to_owned),
    })
    .unwrap_or_default()
}

/// The envelope of a test message (`webhookPing`) to a chat endpoint.
pub fn ping_envelope(owner_uid: &str, endpoint_id: i32, now: i64) -> String {
    envelope(
        ChatEvent {
            event: "ping".into(),
            key: "ping".into(),
            action: "ping".into(),
            old_status: None,
            new_status: None,
            data: serde_json::json!({ "ownerUid": owner_uid, "endpointId": endpoint_id.to_string() }),
            at_ms: now,
        },
        None,
    )
}

/// The settings an endpoint row's messages are composed with.
pub fn settings_of(endpoint: &webhook_endpoint::Model, link_template: Option<String>) -> Settings {
    let options = ChatOptions::of_row(endpoint);
    Settings {
        template: endpoint.template.clone(),
        link_template,
        at_mobiles: options.at_mobiles,
        is_at_all: options.is_at_all,
        mentioned_list: options.mentioned_list,
    }
}

#[derive(InputObject)]
pub struct WebhookMessagePreviewInput {
    pub owner_uid: ID,
    /// A chat kind.
    pub kind: EndpointKind,
    pub template: Option<String>,
    /// A stored query to render the data with (default: the chat query).
    pub query: Option<String>,
    pub at_mobiles: Option<Vec<String>>,
    pub is_at_all: Option<bool>,
    pub mentioned_list: Option<Vec<String>>,
}

/// A chat message as the robot would get it, sent nowhere.
#[derive(SimpleObject)]
pub struct WebHookMessagePreview {
    /// The JSON body as the vendor would receive it (unsigned).
    pub body: String,
    /// The message as a person reads it.
    pub text: String,
    /// The event it shows (`task.failed`, ...).
    pub event_key: String,
    /// Rendered from the organization's latest event (else from a sample event).
    pub from_event: bool,
    /// Problems of the template or the query (the line is named); empty when fine.
    pub errors: Vec<String>,
}

fn status_of(kind: EventKind, name: &str) -> Option<&'static str> {
    match kind {
        EventKind::Build => name
            .parse::<crate::status::BuildStatus>()
            .ok()
            .map(|s| s.as_str()),
        EventKind::Task => name
            .parse::<crate::status::TaskStatus>()
            .ok()
            .map(|s| s.as_str()),
    }
}

/// The organization's latest event as a draft, if it has one that still reads.
async fn latest_event(ctx: &Context<'_>, org_id: i32) -> Result<Option<EventDraft>> {
    let Some(row) = buildhooks_store::events::latest(db(ctx)?, org_id).await? else {
        return Ok(None);
    };
    let kind = match row.kind.as_str() {
        "build" => EventKind::Build,
        _ => EventKind::Task,
    };
    let action = match row.action.as_str() {
        "created" => "created",
        "fixed" => "fixed",
        "still_failing" => "still_failing",
        _ => "updated",
    };
    let Some(new_status) = status_of(kind, &row.new_status) else {
        return Ok(None);
    };
    Ok(Some(EventDraft {
        kind,
        action,
        old_status: row.old_status.as_deref().and_then(|s| status_of(kind, s)),
        new_status,
        repository_id: row.repository_id,
        build_id: row.build_id,
        task_id: row.task_id,
    }))
}

async fn preview(
    ctx: &Context<'_>,
    input: WebhookMessagePreviewInput,
) -> Result<WebHookMessagePreview> {
    let org = check_owner(ctx, None, &input.owner_uid).await?;
    let Some(chat) = input.kind.chat() else {
        return Err(Error::field(
            "kind",
            "previews show chat messages: pick a chat kind",
        ));
    };
    let mut errors = Vec::new();
    let template = match chat_settings::check_template(input.kind, input.template.as_deref()) {
        Ok(t) => t,
        Err(message) => {
            errors.push(message);
            None
        }
    };
    let schema = ctx
        .data_opt::<PayloadSchema>()
        .ok_or_else(|| Error::Internal("no payload schema".into()))?;
    let mut query = input.query.filter(|q| !q.trim().is_empty());
    if let Some(q) = &query {
        if let Err(message) = query_check::check(schema, db(ctx)?.clone(), q).await {
            errors.push(message);
            query = None;
        }
    }
    let now = crate::clock::now_ms();
    let (event, from_event) = match latest_event(ctx, org.org_id).await? {
        Some(draft) => {
            let data = render::render_data(
                schema,
                db(ctx)?.clone(),
                Default::default(),
                org.org_id,
                query.as_deref().unwrap_or(CHAT_QUERY),
                &draft,
            )
            .await;
            (chat_event(&draft, data, now), true)
        }
        None => (
            buildhooks_chat::sample_events()
                .into_iter()
                .next()
                .ok_or_else(|| Error::Internal("no sample event".into()))?,
            false,
        ),
    };
    let link_template = buildhooks_store::orgs::org(db(ctx)?, org.org_id)
        .await?
        .and_then(|o| o.build_url_template);
    let settings = Settings {
        template,
        link_template,
        at_mobiles: input.at_mobiles.unwrap_or_default(),
        is_at_all: input.is_at_all.unwrap_or(false),
        mentioned_list: input.mentioned_list.unwrap_or_default(),
    };
    let key = event.key.clone();
    match buildhooks_chat::compose(chat, &settings, &[event]) {
        Ok(message) => Ok(WebHookMessagePreview {
            body: serde_json::to_string_pretty(&message.body).unwrap_or_default(),
            text: message.text,
            event_key: key,
            from_event,
            errors,
        }),
        Err(error) => {
            errors.push(error.to_string());
            Ok(WebHookMessagePreview {
                body: String::new(),
                text: String::new(),
                event_key: key,
                from_event,
                errors,
            })
        }
    }
}

#[derive(Default)]
pub struct MessagePreviewQuery;

#[Object]
impl MessagePreviewQuery {
    /// A chat message as the robot would get it, from the organization's latest event (or a
    /// sample one), sent nowhere.
    async fn webhook_message_preview(
        &self,
        ctx: &Context<'_>,
        input: WebhookMessagePreviewInput,
    ) -> async_graphql::Result<WebHookMessagePreview> {
        preview(ctx, input).await.extend()
    }
}

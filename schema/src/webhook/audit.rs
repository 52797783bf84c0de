//! Audit events as Cirrus has them: one `X-Cirrus-Event: audit_event` event per GraphQL
//! mutation (`type: graphql.mutation`), naming the actor (the API token), the operation, the
//! repository when there is one and the time, written in the mutation's own transaction and
//! delivered to the endpoints whose patterns name `audit_event.*`. Its `data` holds the
//! mutation's name and only the input fields listed in [`SHOWN_INPUT`]: ids and names, never a
//! secret, a URL or a query.

use std::net::IpAddr;

use async_graphql::Context;
use buildhooks_entity::{organization, repository};
use serde_json::{json, Map, Value};

use super::format::{self, PayloadFormat};
use crate::clock::now_ms;
use crate::ctx::viewer;

/// The filter key of an audit event of a mutation.
pub const KEY: &str = "audit_event.graphql.mutation";
/// The audit event's `type`.
pub const TYPE: &str = "graphql.mutation";

/// Input fields an audit event shows: what identifies what was done, nothing that can be a
/// secret (`secretToken`, `webhookURL`, `deliveryEndpoints`, `query`, `template`, tokens).
pub const SHOWN_INPUT: [&str; 16] = [
    "platform",
    "ownerUid",
    "repositoryId",
    "buildId",
    "taskId",
    "taskIds",
    "endpointId",
    "deliveryId",
    "branch",
    "sha",
    "status",
    "name",
    "kind",
    "needsApproval",
    "attachTerminal",
    "clientMutationId",
];

/// The address a request came from, when the server knows it (set per request).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub IpAddr);

/// One mutation, as its audit event tells it.
#[derive(Clone, Debug)]
pub struct Audit {
    /// The event's id (a UUID, as Cirrus's).
    pub id: String,
    pub timestamp: i64,
    /// `mutationName` and the shown input fields, in the input's order.
    pub data: Map<String, Value>,
    /// The API token that acted, if a token did.
    pub actor: Option<i32>,
    pub actor_ip: Option<String>,
    pub repository_id: Option<i32>,
}

impl Audit {
    /// The audit of the mutation `ctx` resolves, about `repository_id` when it has one.
    pub fn of(ctx: &Context<'_>, repository_id: Option<i32>) -> Audit {
        let field = ctx.field();
        let mut data = Map::new();
        data.insert("mutationName".into(), mutation_name(ctx).into());
        if let Ok(arguments) = field.arguments() {
            for (name, value) in arguments {
                let value = value.into_json().unwrap_or(Value::Null);
                match (name.as_str(), value) {
                    ("input", Value::Object(input)) => {
                        for (k, v) in input {
                            if SHOWN_INPUT.contains(&k.as_str()) {
                                data.insert(k, v);
                            }
                        }
                    }
                    (other, value) if SHOWN_INPUT.contains(&other) => {
                        data.insert(other.to_owned(), value);
                    }
                    _ => {}
                }
            }
        }
        Audit {
            id: uuid::Uuid::new_v4().to_string(),
            timestamp: now_ms(),
            data,
            actor: viewer(ctx).ok().and_then(|v| v.token_id),
            actor_ip: ctx.data_opt::<ClientAddr>().map(|a| a.0.to_string()),
            repository_id,
        }
    }

    /// The `data` text: pretty-printed JSON with two-space indents, as Cirrus's.
    fn data_text(&self) -> String {
        serde_json::to_string_pretty(&self.data).unwrap_or_default()
    }

    /// The body in `format`, with the repository (and its organization) when there is one.
    pub fn body(
        &self,
        format: PayloadFormat,
        repository: Option<(&repository::Model, &organization::Model)>,
    ) -> String {
        let repository = repository.map(|(r, o)| {
            json!({"id": r.id.to_string(), "owner": o.name, "name": r.name, "isPrivate": r.is_private})
        });
        let actor = json!({ "id": self.actor.map(|id| id.to_string()) });
        match format {
            // Cirrus's documented fragment (`AuditEventWebhookPayload`) under `data`.
            PayloadFormat::Documented => {
                let mut data = Map::new();
                data.insert("id".into(), self.id.clone().into());
                data.insert("type".into(), TYPE.into());
                data.insert("timestamp".into(), self.timestamp.into());
                data.insert("data".into(), self.data_text().into());
                data.insert("actor".into(), actor);
                data.insert("actorLocationIP".into(), self.actor_ip.clone().into());
                data.insert("repository".into(), repository.unwrap_or(Value::Null));
                format::documented("created", None, Value::Object(data))
            }
            // What Cirrus sends (cirrus-webhooks-server's `audit_event.json`): flat, numeric
            // ids, `{}` for the entities it has none of.
            PayloadFormat::Cirrus => {
                let mut body = Map::new();
                body.insert("id".into(), self.id.clone().into());
                body.insert("type".into(), TYPE.into());
                body.insert("timestamp".into(), self.timestamp.into());
                body.insert("data".into(), self.data_text().into());
                body.insert("actor".into(), format::entity(actor));
                if let Some(ip) = &self.actor_ip {
                    body.insert("actorLocationIp".into(), ip.clone().into());
                }
                body.insert("action".into(), "created".into());
                body.insert("repository".into(), format::entity(repository.into()));
                body.insert("build".into(), format::entity(Value::Null));
                body.insert("task".into(), format::entity(Value::Null));
                Value::Object(body).to_string()
            }
        }
    }
}

/// Cirrus's `mutationName`: the mutation's input type without `Input` (`TaskReRun` for
/// `rerun`), else the field's name with a capital.
fn mutation_name(ctx: &Context<'_>) -> String {
    let field = ctx.field().name();
    let registry = &ctx.schema_env.registry;
    let input_type = registry
        .mutation_type
        .as_deref()
        .and_then(|m| registry.types.get(m))
        .and_then(|t| t.field_by_name(field))
        .and_then(|f| f.args.get("input"))
        .map(|a| {
            a.ty.trim_end_matches('!')
                .trim_end_matches("Input")
                .to_owned()
        });
    input_type.unwrap_or_else(|| {
        let mut name = field.to_owned();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        name
    })
}

//! The buildhooks GraphQL schema and the domain services behind it: status machines and
//! transitions, events, webhook settings, payload rendering and the transactional outbox.
//! It knows nothing of HTTP: `server/` serves it, and renders payloads through it.

pub mod attributes;
pub mod auth;
pub mod bounded;
pub mod build;
mod ctx;
pub mod error;
pub mod event;
pub mod graph;
pub mod inbound;
pub mod introspection;
pub mod memo;
pub mod owner;
mod page;
pub mod parsed;
pub mod repository;
pub mod seed;
pub mod status;
pub mod store;
pub mod task;
pub mod transition;
pub mod webhook;

use std::sync::Arc;

use async_graphql::{EmptyMutation, EmptySubscription, MergedObject, Schema};

pub use auth::Viewer;
pub use buildhooks_store::{clock, DbHandle};
pub use error::{Error, Result};
pub use store::{CommitHooks, Lease, NoHooks, Outlet, Store};
pub use webhook::actions::DeliverNow;
pub use webhook::WebhookConfig;

/// Every query field.
#[derive(MergedObject, Default)]
pub struct QueryRoot(
    owner::query::OwnerQuery,
    owner::tokens::OwnerTokensQuery,
    repository::query::RepositoryQuery,
    build::query::BuildQuery,
    task::query::TaskQuery,
    webhook::delivery::WebhookQuery,
    webhook::actions::WebhookActionsQuery,
    webhook::message::MessagePreviewQuery,
    webhook::broker_settings::BrokersQuery,
    webhook::replay::ReplayQuery,
    webhook::routing::EventQuery,
);

/// Every mutation field.
#[derive(MergedObject, Default)]
pub struct MutationRoot(
    owner::mutation::OwnerMutation,
    owner::tokens::OwnerTokensMutation,
    repository::mutation::RepositoryMutation,
    build::mutation::BuildMutation,
    task::mutation::TaskMutation,
    webhook::settings::WebhookSettingsMutation,
    webhook::actions::WebhookActionsMutation,
    webhook::rotation::WebhookRotationMutation,
    webhook::control::EndpointControlMutation,
    inbound::source::InboundMutation,
    webhook::replay::ReplayMutation,
    webhook::erase::EraseMutation,
);

/// The public API schema.
pub type AppSchema = Schema<QueryRoot, MutationRoot, EmptySubscription>;

/// The same queries without mutations: what stored payload queries run against.
pub type PayloadSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

/// Limits of the public API, not counting introspection (`introspection`).
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 1000;
/// Limits of the API's introspection (`__schema`, `__type` and what is under them): the standard
/// introspection query is 15 deep and costs about 230.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;
pub const MAX_INTROSPECTION_COMPLEXITY: usize = 1000;
pub const MAX_DIRECTIVES: usize = 10;
/// Deepest nesting of `{`, `[` and `(` (counted together) in any GraphQL text we parse; deeper
/// texts are refused before the recursive parser sees them (`bounded`). No accepted operation
/// comes near it: async-graphql refuses selection sets nested more than 32 deep, and our input
/// objects nest a few levels. A 2 MiB worker stack parses it with room to spare, even in debug.
pub const MAX_NESTING: usize = 64;
/// Largest API operation text, in bytes (the request body may be larger: big values such as a
/// stored query belong in `variables`, which are not GraphQL text).
pub const MAX_OPERATION_BYTES: usize = 64 * 1024;
/// Stricter limits of stored payload queries, which run inside transitions.
pub const PAYLOAD_MAX_DEPTH: usize = 8;
pub const PAYLOAD_MAX_COMPLEXITY: usize = 200;

/// Builds the payload schema.
pub fn build_payload_schema(store: &Store) -> PayloadSchema {
    Schema::build(QueryRoot::default(), EmptyMutation, EmptySubscription)
        .data(store.handle())
        .limit_depth(PAYLOAD_MAX_DEPTH)
        .limit_complexity(PAYLOAD_MAX_COMPLEXITY)
        .limit_directives(MAX_DIRECTIVES)
        .disable_introspection()
        .finish()
}

/// Builds the public schema over `store`.
pub fn build_schema(store: Store, config: WebhookConfig, sender: Arc<dyn DeliverNow>) -> AppSchema {
    let payload = build_payload_schema(&store);
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .data(sender)
    .data(store.handle())
    .data(store)
    .data(payload)
    .data(config)
    // Backstops only: `POST /graphql` applies the API's limits, introspection counted apart
    // (`introspection::check`), before it executes. async-graphql counts both parts together,
    // and each fragment once more on its own.
    .limit_depth(MAX_DEPTH.max(MAX_INTROSPECTION_DEPTH))
    .limit_complexity(2 * (MAX_COMPLEXITY + MAX_INTROSPECTION_COMPLEXITY))
    .limit_directives(MAX_DIRECTIVES)
    .finish()
}

/// The public schema in SDL: `buildhooks schema` and `GET /graphql/schema.graphql`. A schema's
/// types are fixed when it is compiled, so no database is needed.
pub fn sdl() -> String {
    Schema::build(
        QueryRoot::default(),
        MutationRoot::default(),
        EmptySubscription,
    )
    .finish()
    .sdl()
}

//! Webhooks: endpoint settings and their validation (targets, event patterns, stored queries),
//! payload rendering, the transactional outbox, and the deliveries log.

pub mod actions;
pub mod audit;
pub mod broker;
pub mod broker_settings;
pub mod chat_settings;
pub mod control;
pub mod delivery;
pub mod delivery_facts;
pub mod delivery_filter;
pub mod endpoints;
pub mod erase;
pub mod format;
pub mod kinds;
pub mod message;
pub mod new_build;
pub mod order;
pub mod outbox;
pub mod pattern;
pub mod query_check;
pub mod render;
pub mod replay;
pub mod rotation;
pub mod route;
pub mod routing;
pub mod schedule;
pub mod sealed;
pub mod secret;
pub mod settings;
pub mod target;

/// The `User-Agent` of every delivery.
pub const USER_AGENT: &str = concat!("buildhooks/", env!("CARGO_PKG_VERSION"));

/// Webhook behaviour the operator configures.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfig {
    /// Allow endpoints on loopback and private networks (development and tests only).
    pub allow_private_targets: bool,
    /// Where this server is reached from outside (`BUILDHOOKS_PUBLIC_URL`), for the inbound
    /// sources' URLs; `None`: they are given as paths.
    pub public_url: Option<String>,
    /// The operator's brokers (`BUILDHOOKS_BROKERS`), by name and kind: what broker endpoints
    /// may name.
    pub brokers: Vec<broker::Broker>,
    /// Deliveries one `eraseDeliveryPayloads` transaction reads at most (`0`: 1,000).
    pub erase_batch: u64,
}

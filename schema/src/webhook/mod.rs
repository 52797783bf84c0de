//! Webhooks: endpoint settings and their validation (targets, event patterns, stored queries),
//! payload rendering, the transactional outbox, and the deliveries log.

pub mod delivery;
pub mod outbox;
pub mod pattern;
pub mod query_check;
pub mod render;
pub mod secret;
pub mod settings;
pub mod target;

/// Webhook behaviour the operator configures.
#[derive(Clone, Debug, Default)]
pub struct WebhookConfig {
    /// Allow endpoints on loopback and private networks (development and tests only).
    pub allow_private_targets: bool,
}

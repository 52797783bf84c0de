//! `webhook_endpoint`: where an organization's events are delivered. Rows are soft-deleted when
//! the settings list drops them, so deliveries already queued can say what happened to them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    pub org_id: i32,
    pub position: i32,
    /// Where it sends: an HTTP kind's URL; a broker kind's target with its subject template
    /// (`nats://<broker>/<template>`, `amqp://<broker>/<exchange>/<template>`).
    pub url: String,
    /// The signing secret; write-only for clients, never returned.
    pub secret: Option<String>,
    /// JSON array of event patterns (`*`, `task.*`, `build.failed`, ...).
    pub events: String,
    pub repository_id: Option<i32>,
    /// A custom stored GraphQL query; `None` means the default payload query.
    pub query: Option<String>,
    pub enabled: bool,
    pub deleted: bool,
    pub created_at: i64,
    /// Most deliveries to this endpoint in flight at once, per dispatcher process.
    pub max_in_flight: i32,
    /// Which sink delivers to it: `webhook` (a signed HTTP POST), a chat robot (`slack`,
    /// `discord`, `teams`, `dingtalk`, `feishu`, `wecom`), or a broker (`nats`, `amqp`).
    pub kind: String,
    /// A chat kind's message template (minijinja); `None` means the kind's default message.
    pub template: Option<String>,
    /// `NONE` or `PER_BUILD`: whether an event of a build waits for the earlier ones.
    pub ordering: String,
    /// Events of one build waiting behind the kind's pace go out as one message.
    pub digest: bool,
    /// The kind's own settings as JSON (`atMobiles`, `isAtAll`, `mentionedList`).
    pub options: Option<String>,
    /// No message to this endpoint before this time (ms since the epoch): the kind's pace.
    pub send_after: i64,
    /// A webhook's body shape: `documented` (`{action, old_status, data}`) or `cirrus` (the flat
    /// body Cirrus sends today, numeric ids).
    pub payload_format: String,
    /// JSON array of the seconds to wait before each retry (`[5, 300, 1800]`); `None` keeps
    /// Cirrus's rule, one retry shortly after the first attempt.
    pub retry_schedule: Option<String>,
    /// Why the endpoint was disabled by buildhooks (`410 Gone`, failing for 5 days); `None`
    /// when enabled, or disabled by its organization.
    pub disabled_reason: Option<String>,
    /// When it was disabled (ms since the epoch).
    pub disabled_at: Option<i64>,
    /// When the first of its deliveries failing since its last success failed; `None` when the
    /// last delivery succeeded.
    pub failing_since: Option<i64>,
    /// Deliveries that ended FAILED since its last success.
    pub failed_deliveries: i32,
    /// The secret being rotated away from, still signing (beside the new one) until
    /// `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::org_scoped!(Entity, Column::OrgId);

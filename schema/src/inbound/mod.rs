//! Inbound sources: GitHub Actions, GitLab CI and any JSON sender call `/hooks/in/{id}`, and
//! what they report becomes our builds, tasks and events, in one transaction with the outbox.
//!
//! `source` is the GraphQL face (create, list, regenerate, delete, the inbound log); `verify`
//! checks who sent a request; `github`, `gitlab` and `generic` (with its `mapping`) read a
//! verified body into a `report::Report`, with the status tables in `statuses`; `apply` turns a
//! report into a transition; `receive` is the whole request, from a source to an answer
//! (`answer`), with the log rows written outside a transition in `record` and the counters for
//! `/metrics` in `counters`.

pub mod answer;
pub mod apply;
pub mod counters;
pub mod fields;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod mapping;
pub mod receive;
pub mod record;
pub mod report;
pub mod sealed;
pub mod source;
pub mod statuses;
pub mod verify;

pub use receive::{find, receive, Answer, Headers, Outcome};

/// The kinds of source, as stored.
pub mod kind {
    pub const GITHUB: &str = "github";
    pub const GITLAB: &str = "gitlab";
    pub const GENERIC: &str = "generic";
}

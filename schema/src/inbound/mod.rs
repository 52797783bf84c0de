//! Inbound CI sources (issue 16): reading GitHub, GitLab and generic JSON senders' bodies into
//! [`report::Report`]s. (A minimal module file for the readers' branch; the lead owns the real
//! one.)

pub mod fields;
pub mod generic;
pub mod github;
pub mod gitlab;
pub mod mapping;
pub mod report;
pub mod statuses;

//! Chat robots for buildhooks: everything about a Slack, Discord, Teams, DingTalk, Feishu or WeCom
//! robot that needs no network and no database. The chat sink calls, in order:
//!
//! 1. [`compose`]: the vendor-native message for one event, or one digest of a build's events
//!    (the default message per kind, or the endpoint's minijinja template), cut to the vendor's
//!    size limits;
//! 2. [`request`]: the URL and body bytes to POST, signed as DingTalk and Feishu document;
//! 3. [`answer`]: what the vendor's reply means (delivered, refused, retry, or wait), with
//!    [`Kind::pace`] and [`discord_bucket_wait`] for pacing.
//!
//! Saving an endpoint checks its template with [`validate_template`] (and an organization's build
//! URL template with [`validate_link_template`]); previews render [`sample_events`].
//!
//! ```
//! use buildhooks_chat::{answer, compose, request, sample_events, Answer, Kind, Settings};
//!
//! let settings = Settings {
//!     link_template: Some("https://ci.example.com/build/{{ build.id }}".into()),
//!     ..Settings::default()
//! };
//! let events = &sample_events()[..1];
//! let message = compose(Kind::DingTalk, &settings, events).expect("the default message");
//! assert!(message.text.contains("EXECUTING -> FAILED"));
//!
//! let url = "https://oapi.dingtalk.com/robot/send?access_token=T";
//! let (signed, body) = request(Kind::DingTalk, url, Some("SECret"), &message, 1_700_000_000_000);
//! assert!(signed.contains("&timestamp=1700000000000&sign="));
//! assert!(body.len() <= Kind::DingTalk.body_limit());
//!
//! let reply = br#"{"errcode":310000,"errmsg":"keywords not in content"}"#;
//! assert_eq!(
//!     answer(Kind::DingTalk, 200, None, reply),
//!     Answer::Failed { message: "keywords not in content".into() }
//! );
//! ```

#![forbid(unsafe_code)]

mod answer;
mod compose;
mod cut;
mod event;
mod facts;
mod kind;
mod sign;
mod template;

pub use answer::{answer, discord_bucket_wait, Answer};
pub use compose::compose;
pub use event::{sample_events, Event, Message, Settings};
pub use kind::Kind;
pub use sign::request;
pub use template::{validate_link_template, validate_template, TemplateError};

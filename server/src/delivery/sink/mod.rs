//! The sink seam: the dispatcher claims rows and hands each to the [`Sink`] its endpoint's kind
//! names (`webhook_endpoint.kind`). A kind owns turning a delivery (its event and rendered
//! payload) into what it sends, sending it, and classifying the outcome ([`Class`]: delivered,
//! worth a retry, or failed, with a typed [`AttemptError`] when nothing answered). The signed
//! HTTP webhook (`webhook`) is one kind, each chat robot another (`chat`); a kind with a pace
//! (a robot that takes so many messages a minute) says so (`Sink::pace`), and may carry several
//! waiting deliveries of one build in one message (`Sink::attempt_all`). The broker kinds
//! (`nats`, `amqp`, with `broker` for what they share) publish to the operator's brokers.
//! Secrets and robot URLs are sealed in the database; `secrets` opens them for an attempt.

pub mod amqp;
pub mod broker;
pub mod chat;
pub mod http;
pub mod nats;
pub mod outcome;
pub mod seam;
pub mod secrets;
pub mod webhook;

pub use amqp::AmqpSink;
pub use chat::ChatSink;
pub use nats::NatsSink;
pub use outcome::{AttemptError, Class, Outcome};
pub use seam::{Sink, Sinks};
pub use webhook::WebhookSink;

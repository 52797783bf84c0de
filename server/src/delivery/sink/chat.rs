//! The chat kinds (Slack and Slack-compatible, Discord, Teams, DingTalk, Feishu, WeCom): a
//! row's stored envelope (the event and its query's data) made into the robot's message by
//! `buildhooks-chat` (its default message or the endpoint's template; several waiting events of
//! one build as one digest), signed where the vendor signs (DingTalk's query parameters,
//! Feishu's body fields), POSTed through the guarded client, and the vendor's answer classified:
//! an HTTP 200 carrying an error code is a failure with the vendor's message, a rate-limit answer
//! waits the time it names without spending the retry. Each endpoint is paced to its vendor's
//! documented rate (`pace`, times the operator's `throttle_scale`).

use std::time::Duration;

use buildhooks_chat::{Answer, Event as ChatEvent, Kind};
use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use buildhooks_schema::clock::now_ms;
use buildhooks_schema::webhook::message::{settings_of, Envelope};

use super::http::{post, Answered};
use super::outcome::{AttemptError, Class, Outcome};
use super::seam::Sink;
use super::secrets;
use buildhooks_store::secrets::Vault;

/// One chat robot kind.
pub struct ChatSink {
    pub kind: Kind,
    pub client: reqwest::Client,
    pub allow_private: bool,
    /// Multiplies the vendor's pace (tests shorten it; 1.0 in production).
    pub throttle_scale: f64,
    /// Opens the robots' sealed URLs and signing secrets.
    pub vault: Vault,
}

impl ChatSink {
    /// A sink for every chat kind.
    pub fn all(
        client: &reqwest::Client,
        allow_private: bool,
        throttle_scale: f64,
        vault: &Vault,
    ) -> Vec<Self> {
        Kind::ALL
            .into_iter()
            .map(|kind| ChatSink {
                kind,
                client: client.clone(),
                allow_private,
                throttle_scale,
                vault: vault.clone(),
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Sink for ChatSink {
    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    fn pace(&self, _endpoint: &webhook_endpoint::Model) -> Option<Duration> {
        Some(self.kind.pace().mul_f64(self.throttle_scale.max(0.0)))
    }

    async fn attempt(
        &self,
        delivery: &webhook_delivery::Model,
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        self.attempt_all(&[delivery], endpoint).await
    }

    async fn attempt_all(
        &self,
        deliveries: &[&webhook_delivery::Model],
        endpoint: &webhook_endpoint::Model,
    ) -> Outcome {
        let mut events: Vec<ChatEvent> = Vec::with_capacity(deliveries.len());
        let mut link_template = None;
        for delivery in deliveries {
            match serde_json::from_str::<Envelope>(&delivery.body) {
                Ok(envelope) => {
                    link_template = envelope.link_template.or(link_template);
                    events.push(envelope.event);
                }
                Err(error) => {
                    tracing::error!(delivery = %delivery.uuid, %error, "a chat row's envelope does not read");
                    return Outcome::refused(AttemptError::Message);
                }
            }
        }
        let settings = settings_of(endpoint, link_template);
        let message = match buildhooks_chat::compose(self.kind, &settings, &events) {
            Ok(message) => message,
            Err(error) => {
                let mut outcome = Outcome::refused(AttemptError::Message);
                outcome.excerpt = Some(error.to_string());
                return outcome;
            }
        };
        let opened = secrets::url(&self.vault, endpoint).and_then(|url| {
            let secret = secrets::signing(&self.vault, endpoint, now_ms())?;
            Ok((url, secret))
        });
        let (robot_url, secret) = match opened {
            Ok(opened) => opened,
            Err(error) => return Outcome::refused(error),
        };
        let (url, body) = buildhooks_chat::request(
            self.kind,
            &robot_url,
            secret.first().map(|s| &**s),
            &message,
            now_ms(),
        );
        let posted = post(&self.client, &url, [], body, self.allow_private).await;
        let (status, error, excerpt, class, pause) = match &posted.answer {
            Ok(answer) => self.judge(answer),
            Err(error) => {
                let class = match error.retryable() {
                    true => Class::Retry,
                    false => Class::Failed,
                };
                (None, Some(*error), None, class, None)
            }
        };
        Outcome {
            started_at: posted.started_at,
            duration_ms: posted.duration_ms,
            status,
            error,
            excerpt,
            response_headers: posted.answer.as_ref().ok().and_then(|a| a.stored_headers()),
            class,
            pause,
            sink: self.kind.name(),
        }
    }
}

type Judged = (
    Option<u16>,
    Option<AttemptError>,
    Option<String>,
    Class,
    Option<Duration>,
);

impl ChatSink {
    /// The vendor's answer as an outcome: status, error code, the answer's text, class, and
    /// any pause the vendor announced for the next message.
    fn judge(&self, answer: &Answered) -> Judged {
        let status = Some(answer.status);
        let excerpt = Some(answer.excerpt());
        let bucket = match self.kind {
            Kind::Discord => buildhooks_chat::discord_bucket_wait(
                answer.header("x-ratelimit-remaining"),
                answer.header("x-ratelimit-reset-after"),
            ),
            _ => None,
        };
        let judged = buildhooks_chat::answer(
            self.kind,
            answer.status,
            answer.header("retry-after"),
            &answer.body,
        );
        match judged {
            Answer::Delivered => (status, None, excerpt, Class::Delivered, bucket),
            Answer::Failed { .. } => {
                // A 2xx that carries an error is the vendor's refusal, named as such; other
                // refusals are told by their status.
                let error = (200..300)
                    .contains(&answer.status)
                    .then_some(AttemptError::Vendor);
                (status, error, excerpt, Class::Failed, bucket)
            }
            Answer::Retry { .. } => (status, None, excerpt, Class::Retry, bucket),
            Answer::RateLimited { wait, .. } => (
                status,
                Some(AttemptError::RateLimited),
                excerpt,
                Class::RateLimited(wait),
                Some(wait),
            ),
        }
    }
}

//! Endpoint kinds as a save sees them: the GraphQL names (`EndpointKind`, `EndpointOrdering`),
//! the stored names (`webhook_endpoint.kind`), and what each kind checks of its settings when
//! saved (where it sends, its secret). The dispatcher's sinks (`server/src/delivery/sink/`)
//! deliver to the same kinds by the same stored name; the chat kinds' messages, signing and
//! answers are the `buildhooks-chat` crate's, shared by both.

use async_graphql::Enum;
use buildhooks_chat::Kind as ChatKind;

use super::{secret, target};

/// What receives an endpoint's events.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EndpointKind {
    /// A signed HTTP POST of the payload (the default).
    #[default]
    Webhook,
    /// A Slack incoming webhook (and Slack-compatible ones: Mattermost).
    Slack,
    /// A Discord webhook.
    Discord,
    /// A Microsoft Teams Workflows webhook (an Adaptive Card).
    Teams,
    /// A DingTalk custom robot (signed when a secret is set).
    Dingtalk,
    /// A Feishu / Lark custom bot (signed when a secret is set).
    Feishu,
    /// A WeCom group robot.
    Wecom,
    /// A NATS JetStream subject on a broker the operator configured.
    Nats,
    /// A RabbitMQ (AMQP 0-9-1) topic exchange on a broker the operator configured.
    Amqp,
}

impl EndpointKind {
    /// Every kind.
    pub const ALL: [EndpointKind; 9] = [
        EndpointKind::Webhook,
        EndpointKind::Slack,
        EndpointKind::Discord,
        EndpointKind::Teams,
        EndpointKind::Dingtalk,
        EndpointKind::Feishu,
        EndpointKind::Wecom,
        EndpointKind::Nats,
        EndpointKind::Amqp,
    ];

    /// The chat robot behind this kind, if it is one.
    pub fn chat(self) -> Option<ChatKind> {
        match self {
            EndpointKind::Webhook | EndpointKind::Nats | EndpointKind::Amqp => None,
            EndpointKind::Slack => Some(ChatKind::Slack),
            EndpointKind::Discord => Some(ChatKind::Discord),
            EndpointKind::Teams => Some(ChatKind::Teams),
            EndpointKind::Dingtalk => Some(ChatKind::DingTalk),
            EndpointKind::Feishu => Some(ChatKind::Feishu),
            EndpointKind::Wecom => Some(ChatKind::WeCom),
        }
    }

    /// The stored name (`webhook_endpoint.kind`).
    pub fn stored(self) -> &'static str {
        match self {
            EndpointKind::Nats => "nats",
            EndpointKind::Amqp => "amqp",
            _ => self.chat().map_or("webhook", ChatKind::name),
        }
    }

    /// Whether it publishes to one of the operator's brokers (no URL of its own).
    pub fn is_broker(self) -> bool {
        matches!(self, EndpointKind::Nats | EndpointKind::Amqp)
    }

    /// The kind of a stored name.
    pub fn of_stored(name: &str) -> Option<EndpointKind> {
        Self::ALL.into_iter().find(|k| k.stored() == name)
    }

    /// The ordering an endpoint of this kind gets unless it asks: chat messages in order.
    pub fn default_ordering(self) -> EndpointOrdering {
        match self.chat() {
            Some(_) => EndpointOrdering::PerBuild,
            None => EndpointOrdering::None,
        }
    }

    /// Whether events waiting behind the pace go out as one message unless it asks.
    pub fn default_digest(self) -> bool {
        self.chat().is_some_and(ChatKind::default_digest)
    }

    /// Checks the endpoint's address (and normalises it): every kind sends over HTTP(S) to a
    /// public address (the SSRF guard's ranges, again at connect time).
    pub async fn check_url(self, raw: &str, allow_private: bool) -> Result<url::Url, String> {
        target::check_url(raw, allow_private).await
    }

    /// Checks a secret the client set: a webhook's or a broker message's signing secret, or
    /// the signing secret of a DingTalk or Feishu robot. Robots whose secret is their URL take
    /// none.
    pub fn check_secret(self, value: &str) -> Result<(), String> {
        match self.chat() {
            None => secret::validate(value),
            Some(chat) if chat.signs_with_secret() => {
                secret::validate(value)?;
                if value.trim().is_empty() {
                    return Err("give the robot's signing secret, or none".into());
                }
                Ok(())
            }
            Some(_) => Err(format!(
                "{} endpoints carry their secret in the URL: leave secretToken empty",
                self.stored()
            )),
        }
    }

    /// Whether the URL itself is a secret (a robot's URL holds its token): masked when read.
    pub fn url_is_secret(self) -> bool {
        self.chat().is_some()
    }
}

/// Whether an endpoint's events wait for the earlier events of the same build.
#[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndpointOrdering {
    /// Deliveries go out as soon as a slot is free, in parallel.
    None,
    /// An event of a build goes out after the earlier events of that build have finished
    /// (delivered or finally failed); different builds go in parallel.
    PerBuild,
}

impl EndpointOrdering {
    /// The stored name (`webhook_endpoint.ordering`).
    pub fn stored(self) -> &'static str {
        match self {
            EndpointOrdering::None => "NONE",
            EndpointOrdering::PerBuild => "PER_BUILD",
        }
    }

    /// The ordering of a stored name (anything unknown orders nothing).
    pub fn of_stored(name: &str) -> EndpointOrdering {
        match name {
            "PER_BUILD" => EndpointOrdering::PerBuild,
            _ => EndpointOrdering::None,
        }
    }
}

/// Whether an endpoint of stored kind `stored` is a chat robot (its rows hold a message
/// envelope, its URL is a secret, its sink is paced).
pub fn is_chat(stored: &str) -> bool {
    EndpointKind::of_stored(stored).is_some_and(|k| k.chat().is_some())
}

/// Whether an endpoint of stored kind `stored` publishes to a broker.
pub fn is_broker(stored: &str) -> bool {
    EndpointKind::of_stored(stored).is_some_and(EndpointKind::is_broker)
}

/// The URL as clients see it and as a delivery keeps it: a robot's URL (a secret) masked,
/// a webhook's as it is.
pub fn shown_url(stored_kind: &str, url: &str) -> String {
    match is_chat(stored_kind) {
        true => mask_url(url),
        false => url.to_owned(),
    }
}

/// What a client sees of a URL that is a secret: its scheme and host, and the mask of the whole
/// URL (a fingerprint that tells two URLs apart without revealing a character of either).
pub fn mask_url(url: &str) -> String {
    let origin = url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            u.host_str().map(|h| format!("{}://{h}{port}", u.scheme()))
        })
        .unwrap_or_default();
    format!("{origin}/{}", secret::mask(url))
}

/// Is this URL input the mask of a saved one (`mask_url`)?
pub fn is_masked_url(input: &str) -> bool {
    input
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('/'))
        .is_some_and(|(_, path)| secret::is_mask(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn kinds_check_their_address_and_secret() {
        assert_eq!(
            EndpointKind::of_stored("webhook"),
            Some(EndpointKind::Webhook)
        );
        assert_eq!(
            EndpointKind::of_stored("dingtalk"),
            Some(EndpointKind::Dingtalk)
        );
        assert!(EndpointKind::of_stored("carrier-pigeon").is_none());
        assert!(!is_chat("webhook") && !is_chat("nats") && !is_chat("amqp") && is_chat("slack"));
        assert!(is_broker("nats") && is_broker("amqp") && !is_broker("webhook"));
        assert_eq!(EndpointKind::of_stored("amqp"), Some(EndpointKind::Amqp));
        let webhook = EndpointKind::Webhook;
        assert!(webhook
            .check_url("https://hooks.example.com/x", false)
            .await
            .is_ok());
        assert!(webhook
            .check_url("http://127.0.0.1:9/x", false)
            .await
            .is_err());
        assert!(EndpointKind::Slack
            .check_url("http://169.254.169.254/latest", false)
            .await
            .is_err());
        assert!(webhook.check_secret("whsec_short").is_err());
        assert!(webhook.check_secret("a plain secret").is_ok());
        assert!(EndpointKind::Dingtalk.check_secret("SEC0123").is_ok());
        assert!(EndpointKind::Slack.check_secret("x").is_err());
        assert_eq!(
            EndpointKind::Wecom.default_ordering(),
            EndpointOrdering::PerBuild
        );
        assert!(EndpointKind::Dingtalk.default_digest() && !EndpointKind::Slack.default_digest());
    }

    #[test]
    fn a_secret_url_is_masked_without_any_of_its_characters() {
        let url = "https://oapi.dingtalk.com/robot/send?access_token=abcdef123456";
        let masked = mask_url(url);
        assert!(masked.starts_with("https://oapi.dingtalk.com/********"));
        assert!(!masked.contains("abcdef") && !masked.contains("3456"));
        assert!(is_masked_url(&masked));
        assert!(!is_masked_url(url));
        assert_ne!(
            masked,
            mask_url("https://oapi.dingtalk.com/robot/send?access_token=x")
        );
    }
}

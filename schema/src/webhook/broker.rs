//! Broker endpoints as a save and the outbox see them: the operator's brokers (names and kinds,
//! never their URLs), the subject or routing-key template (its placeholders, checked at save by
//! rendering the longest values each can take, rendered per event in the transition's
//! transaction), the AMQP exchange name, and the target: an endpoint's `url` keeps it with the
//! template (`nats://<broker>/<template>`, `amqp://<broker>/<exchange>/<template>`), a delivery
//! row's with the subject rendered, which the sinks read back.

use async_graphql::SimpleObject;
use buildhooks_entity::webhook_endpoint;

use super::kinds::EndpointKind;
use crate::event::EventDraft;

/// The subject (routing key) an endpoint gets unless it sets one: `buildhooks.42.task.failed`.
pub const DEFAULT_SUBJECT: &str = "buildhooks.{org}.{event}.{status}";
/// The exchange an AMQP endpoint publishes to unless it names one (a durable topic exchange).
pub const DEFAULT_EXCHANGE: &str = "buildhooks";
/// Longest rendered subject: AMQP's routing-key limit (a short string), also kept for NATS.
pub const MAX_SUBJECT_BYTES: usize = 255;
/// Longest template, in bytes.
pub const MAX_TEMPLATE_BYTES: usize = 255;
/// Longest exchange name (AMQP's short string, as RabbitMQ limits it).
pub const MAX_EXCHANGE_BYTES: usize = 127;

/// A broker the operator configured, as organizations see it: its name and kind.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct Broker {
    /// The name endpoints give as `broker`.
    pub name: String,
    /// `NATS` or `AMQP`.
    pub kind: EndpointKind,
}

/// The placeholders a template may hold.
const PLACEHOLDERS: [&str; 6] = ["org", "event", "status", "action", "repository", "build"];

/// What an event puts in each placeholder.
#[derive(Clone, Debug)]
pub struct Values<'a> {
    pub org: i32,
    pub event: &'a str,
    pub status: String,
    pub action: &'a str,
    pub repository: i32,
    pub build: i32,
}

impl<'a> Values<'a> {
    /// The values of `event` of organization `org`: `{event}.{status}` is its filter key.
    pub fn of(org: i32, event: &'a EventDraft) -> Values<'a> {
        let status = match event.is_derived() {
            true => event.action.to_owned(),
            false => event.new_status.to_ascii_lowercase(),
        };
        Values {
            org,
            event: event.kind.as_str(),
            status,
            action: event.action,
            repository: event.repository_id,
            build: event.build_id,
        }
    }

    /// The values of a test message (`webhookPing`).
    pub fn ping(org: i32) -> Values<'static> {
        Values {
            org,
            event: "ping",
            status: "ping".into(),
            action: "ping",
            repository: 0,
            build: 0,
        }
    }

    /// The values of an audit event (`audit_event.mutation`), of a repository or none (0).
    pub fn audit(org: i32, repository: Option<i32>) -> Values<'static> {
        Values {
            org,
            event: "audit_event",
            status: "mutation".into(),
            action: "created",
            repository: repository.unwrap_or(0),
            build: 0,
        }
    }

    /// The longest value each placeholder takes (ids are positive): a template whose rendering
    /// with these fits fits with any.
    fn longest() -> Values<'static> {
        Values {
            org: i32::MAX,
            event: "audit_event",
            status: "still_failing".into(),
            action: "still_failing",
            repository: i32::MAX,
            build: i32::MAX,
        }
    }

    /// Values an error message shows a rendering with.
    fn sample() -> Values<'static> {
        Values {
            org: 42,
            event: "task",
            status: "failed".into(),
            action: "updated",
            repository: 7,
            build: 1234,
        }
    }

    fn get(&self, name: &str) -> Option<String> {
        Some(match name {
            "org" => self.org.to_string(),
            "event" => self.event.to_owned(),
            "status" => self.status.clone(),
            "action" => self.action.to_owned(),
            "repository" => self.repository.to_string(),
            "build" => self.build.to_string(),
            _ => return None,
        })
    }
}

/// `template` with its placeholders filled from `values`, or why it cannot be.
fn fill(template: &str, values: &Values<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(open) = rest.find(['{', '}']) {
        if rest.as_bytes()[open] == b'}' {
            return Err("a '}' without its '{'".into());
        }
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| "a '{' without its '}'".to_owned())?;
        let name = &after[..close];
        let value = values.get(name).ok_or_else(|| {
            format!(
                "unknown placeholder {{{name}}}: use {}",
                PLACEHOLDERS.map(|p| format!("{{{p}}}")).join(", ")
            )
        })?;
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `template` rendered for an event: the row's subject. Templates are checked at save; one that
/// fails anyway (a row written by hand) renders as its text, which the broker then refuses.
pub fn render(template: &str, values: &Values<'_>) -> String {
    fill(template, values).unwrap_or_else(|_| template.to_owned())
}

/// Whether `subject` is a subject NATS publishes to and a routing key AMQP takes: dot-separated
/// tokens, none empty, of printable ASCII without spaces or the wildcards `*` and `>`. Every
/// placeholder's value is such a token's characters, so a sample rendering tells.
fn check_tokens(subject: &str) -> Result<(), String> {
    for token in subject.split('.') {
        if token.is_empty() {
            return Err(format!(
                "renders '{subject}', which has an empty token (a leading, trailing or double '.')"
            ));
        }
        if let Some(c) = token
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '*' | '>'))
        {
            return Err(format!(
                "renders '{subject}', which holds {c:?}: a subject is printable ASCII without spaces or the wildcards '*' and '>'"
            ));
        }
    }
    Ok(())
}

/// The template to save (`None` given: the default), or why it is refused: a template whose
/// placeholders are all known and whose every rendering is a valid subject.
pub fn check_template(template: Option<&str>) -> Result<String, String> {
    let Some(template) = template.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(DEFAULT_SUBJECT.to_owned());
    };
    if template.len() > MAX_TEMPLATE_BYTES {
        return Err(format!("a template has at most {MAX_TEMPLATE_BYTES} bytes"));
    }
    check_tokens(&fill(template, &Values::sample())?)?;
    let longest = fill(template, &Values::longest())?.len();
    if longest > MAX_SUBJECT_BYTES {
        return Err(format!(
            "renders up to {longest} bytes; a subject has at most {MAX_SUBJECT_BYTES}"
        ));
    }
    Ok(template.to_owned())
}

/// The exchange to save (`None` given: the default), or why it is refused.
pub fn check_exchange(name: Option<&str>) -> Result<String, String> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(DEFAULT_EXCHANGE.to_owned());
    };
    if name.len() > MAX_EXCHANGE_BYTES
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
    {
        return Err(format!(
            "an exchange name is 1 to {MAX_EXCHANGE_BYTES} letters, digits, '-', '_', '.' or ':'"
        ));
    }
    if name.starts_with("amq.") {
        return Err("names starting with 'amq.' are the broker's own".into());
    }
    Ok(name.to_owned())
}

/// Where a delivery row sends: the broker's name and kind, the AMQP exchange, the subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target<'a> {
    pub kind: EndpointKind,
    pub broker: &'a str,
    pub exchange: Option<&'a str>,
    pub subject: &'a str,
}

impl Target<'_> {
    /// The row's `url`: `nats://<broker>/<subject>`, `amqp://<broker>/<exchange>/<subject>`.
    pub fn url(&self) -> String {
        match self.exchange {
            Some(exchange) => format!("amqp://{}/{exchange}/{}", self.broker, self.subject),
            None => format!("nats://{}/{}", self.broker, self.subject),
        }
    }
}

/// A broker endpoint's target, with its subject template, from the endpoint's `url` (where a
/// save keeps it: `nats://<broker>/<template>`, `amqp://<broker>/<exchange>/<template>`).
/// `None` for the HTTP kinds.
pub fn endpoint_target(endpoint: &webhook_endpoint::Model) -> Option<Target<'_>> {
    // An HTTP kind's URL is http(s): the prefix check fails at once.
    parse_target(&endpoint.url).filter(|t| t.kind.stored() == endpoint.kind)
}

/// The URL a delivery row of `endpoint` keeps for an event with `values`, when the endpoint is
/// a broker kind: its target with the subject rendered.
pub fn row_url(endpoint: &webhook_endpoint::Model, values: &Values<'_>) -> Option<String> {
    let target = endpoint_target(endpoint)?;
    let subject = render(target.subject, values);
    Some(
        Target {
            subject: &subject,
            ..target
        }
        .url(),
    )
}

/// The target a row's `url` names (the inverse of [`Target::url`]).
pub fn parse_target(url: &str) -> Option<Target<'_>> {
    if let Some(rest) = url.strip_prefix("nats://") {
        let (broker, subject) = rest.split_once('/')?;
        return Some(Target {
            kind: EndpointKind::Nats,
            broker,
            exchange: None,
            subject,
        });
    }
    let rest = url.strip_prefix("amqp://")?;
    let (broker, rest) = rest.split_once('/')?;
    let (exchange, subject) = rest.split_once('/')?;
    Some(Target {
        kind: EndpointKind::Amqp,
        broker,
        exchange: Some(exchange),
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    #[test]
    fn the_default_subject_names_the_org_the_event_and_its_status() {
        let failed = EventDraft::updated(EventKind::Task, "EXECUTING", "FAILED", (3, 7, Some(9)));
        assert_eq!(
            render(DEFAULT_SUBJECT, &Values::of(42, &failed)),
            "buildhooks.42.task.failed"
        );
        let mut fixed = EventDraft::updated(EventKind::Build, "FAILED", "COMPLETED", (3, 7, None));
        fixed.action = "fixed";
        assert_eq!(
            render(
                "ci.{org}.{repository}.{build}.{event}.{status}.{action}",
                &Values::of(1, &fixed)
            ),
            "ci.1.3.7.build.fixed.fixed"
        );
        assert_eq!(
            render(DEFAULT_SUBJECT, &Values::ping(5)),
            "buildhooks.5.ping.ping"
        );
    }

    #[test]
    fn templates_that_render_an_invalid_subject_are_refused() {
        assert_eq!(check_template(None).as_deref(), Ok(DEFAULT_SUBJECT));
        assert_eq!(check_template(Some("  ")).as_deref(), Ok(DEFAULT_SUBJECT));
        assert!(check_template(Some("ci.{org}.{event}")).is_ok());
        for bad in [
            "buildhooks.{nope}",
            "a..b",
            "a.*.b",
            "a.>",
            "{org}.",
            ".{org}",
            "a b",
            "a.{org",
            "a.org}",
            "tab\tx",
        ] {
            assert!(check_template(Some(bad)).is_err(), "{bad}");
        }
        let long = format!("{}.{{build}}", "x".repeat(245));
        assert!(check_template(Some(&long)).is_err());
        let error = check_template(Some("a..{org}")).expect_err("empty token");
        assert!(error.contains("'a..42'"), "{error}");
        assert!(check_template(Some(&"x".repeat(256))).is_err());
    }

    #[test]
    fn exchange_names_are_checked() {
        assert_eq!(check_exchange(None).as_deref(), Ok(DEFAULT_EXCHANGE));
        assert!(check_exchange(Some("ci.events-1:x")).is_ok());
        for bad in ["amq.topic", "a b", "é", &"x".repeat(128)] {
            assert!(check_exchange(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_target_reads_back_from_its_url() {
        for target in [
            Target {
                kind: EndpointKind::Nats,
                broker: "bus",
                exchange: None,
                subject: "buildhooks.1.task.failed",
            },
            Target {
                kind: EndpointKind::Amqp,
                broker: "rabbit",
                exchange: Some("ci"),
                subject: "buildhooks.1.build.created",
            },
        ] {
            assert_eq!(parse_target(&target.url()), Some(target.clone()));
        }
        assert_eq!(parse_target("https://x/y"), None);
        assert_eq!(parse_target("amqp://only-broker/x"), None);
    }
}

//! A broker endpoint's settings as a save checks them (the broker names one of the operator's
//! brokers of the endpoint's kind; the subject template and the exchange name), and the
//! `brokers` query, which tells organizations the names they may use (never the URLs).

use async_graphql::{Context, Object, ResultExt};

use super::broker::{self, Broker, Target};
use super::kinds::EndpointKind;
use super::WebhookConfig;
use crate::ctx::viewer;

/// A broker endpoint's checked settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerFields {
    pub broker: String,
    pub subject: String,
    /// AMQP only.
    pub exchange: Option<String>,
}

impl BrokerFields {
    /// What the endpoint's `url` holds (and clients see): its target with the template.
    pub fn shown_url(&self, kind: EndpointKind) -> String {
        Target {
            kind,
            broker: &self.broker,
            exchange: self.exchange.as_deref(),
            subject: &self.subject,
        }
        .url()
    }
}

/// What an endpoint input gives of the broker settings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Given<'a> {
    pub broker: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub exchange: Option<&'a str>,
}

/// The broker settings `input` gives (`None` for kinds that are not brokers), or the field and why
/// they are refused. `kept` are the (kind, broker) pairs the organization's saved endpoints
/// name: a broker the operator has since removed may stay named (its deliveries fail with
/// `unknown_broker`), so that one stale endpoint does not block every later save.
pub fn check(
    kind: EndpointKind,
    input: Given<'_>,
    brokers: &[Broker],
    kept: &[(EndpointKind, String)],
) -> Result<Option<BrokerFields>, (&'static str, String)> {
    if !kind.is_broker() {
        for (name, given) in [
            ("broker", input.broker.is_some()),
            ("subject", input.subject.is_some()),
            ("exchange", input.exchange.is_some()),
        ] {
            if given {
                return Err((name, format!("{name} is for NATS and AMQP endpoints")));
            }
        }
        return Ok(None);
    }
    let name = input
        .broker
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ("broker", "name one of the operator's brokers".to_owned()))?;
    let of_kind: Vec<&str> = brokers
        .iter()
        .filter(|b| b.kind == kind)
        .map(|b| b.name.as_str())
        .collect();
    let kept = kept.iter().any(|(k, b)| *k == kind && b == name);
    if !of_kind.contains(&name) && !kept {
        let known = match of_kind.is_empty() {
            true => format!("this server has no {} broker", kind.stored()),
            false => format!("its {} brokers are: {}", kind.stored(), of_kind.join(", ")),
        };
        return Err((
            "broker",
            format!("no {} broker named '{name}'; {known}", kind.stored()),
        ));
    }
    let subject = broker::check_template(input.subject).map_err(|m| ("subject", m))?;
    let exchange = match kind {
        EndpointKind::Amqp => {
            Some(broker::check_exchange(input.exchange).map_err(|m| ("exchange", m))?)
        }
        _ if input.exchange.is_some() => {
            return Err(("exchange", "an exchange is for AMQP endpoints".into()))
        }
        _ => None,
    };
    Ok(Some(BrokerFields {
        broker: name.to_owned(),
        subject,
        exchange,
    }))
}

#[derive(Default)]
pub struct BrokersQuery;

#[Object]
impl BrokersQuery {
    /// The brokers this server's operator configured, which NATS and AMQP endpoints name.
    async fn brokers(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Broker>> {
        let _ = viewer(ctx).extend()?;
        Ok(ctx
            .data_opt::<WebhookConfig>()
            .map(|c| c.brokers.clone())
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers() -> Vec<Broker> {
        vec![
            Broker {
                name: "bus".into(),
                kind: EndpointKind::Nats,
            },
            Broker {
                name: "rabbit".into(),
                kind: EndpointKind::Amqp,
            },
        ]
    }

    fn given(broker: &str) -> Given<'_> {
        Given {
            broker: Some(broker),
            ..Given::default()
        }
    }

    #[test]
    fn a_broker_endpoint_names_a_configured_broker_of_its_kind() {
        let nats = check(EndpointKind::Nats, given("bus"), &brokers(), &[]).expect("valid");
        assert_eq!(
            nats,
            Some(BrokerFields {
                broker: "bus".into(),
                subject: broker::DEFAULT_SUBJECT.into(),
                exchange: None
            })
        );
        let amqp = check(EndpointKind::Amqp, given("rabbit"), &brokers(), &[]).expect("valid");
        assert_eq!(
            amqp.and_then(|f| f.exchange).as_deref(),
            Some(broker::DEFAULT_EXCHANGE)
        );
        for (kind, name) in [(EndpointKind::Nats, "rabbit"), (EndpointKind::Amqp, "nope")] {
            let refused = check(kind, given(name), &brokers(), &[]).expect_err("refused");
            assert_eq!(refused.0, "broker");
        }
        let exchange = Given {
            exchange: Some("x"),
            ..given("bus")
        };
        assert_eq!(
            check(EndpointKind::Nats, exchange, &brokers(), &[]).map_err(|e| e.0),
            Err("exchange")
        );
        assert_eq!(
            check(EndpointKind::Webhook, given("bus"), &brokers(), &[]).map_err(|e| e.0),
            Err("broker")
        );
        assert_eq!(
            check(EndpointKind::Webhook, Given::default(), &brokers(), &[]),
            Ok(None)
        );
    }

    #[test]
    fn a_removed_broker_may_stay_named_by_the_endpoint_that_names_it() {
        let kept = [(EndpointKind::Nats, "gone".to_owned())];
        assert!(check(EndpointKind::Nats, given("gone"), &brokers(), &kept).is_ok());
        // Only for the kind that names it, and only while a saved endpoint does.
        assert!(check(EndpointKind::Amqp, given("gone"), &brokers(), &kept).is_err());
        assert!(check(EndpointKind::Nats, given("gone"), &brokers(), &[]).is_err());
    }
}

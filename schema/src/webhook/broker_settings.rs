//! A broker endpoint's settings as a save checks them (the broker names one of the operator's
//! brokers of the endpoint's kind; the subject template and the exchange name), and the
//! `brokers` query, which tells organizations the names they may use (never the URLs).

use async_graphql::{Context, Object, ResultExt};

use super::broker::{self, Broker, Target};
use super::kinds::EndpointKind;
use super::settings::WebHookDeliveryEndpointInput;
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

/// The broker settings of `input` (`None` for kinds that are not brokers), or the field and why
/// they are refused.
pub fn check(
    kind: EndpointKind,
    input: &WebHookDeliveryEndpointInput,
    brokers: &[Broker],
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
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
        .ok_or_else(|| ("broker", "name one of the operator's brokers".to_owned()))?;
    let of_kind: Vec<&str> = brokers
        .iter()
        .filter(|b| b.kind == kind)
        .map(|b| b.name.as_str())
        .collect();
    if !of_kind.contains(&name) {
        let known = match of_kind.is_empty() {
            true => format!("this server has no {} broker", kind.stored()),
            false => format!("its {} brokers are: {}", kind.stored(), of_kind.join(", ")),
        };
        return Err((
            "broker",
            format!("no {} broker named '{name}'; {known}", kind.stored()),
        ));
    }
    let subject = broker::check_template(input.subject.as_deref()).map_err(|m| ("subject", m))?;
    let exchange = match kind {
        EndpointKind::Amqp => {
            Some(broker::check_exchange(input.exchange.as_deref()).map_err(|m| ("exchange", m))?)
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

//! The operator's brokers: `BUILDHOOKS_BROKERS` and `BUILDHOOKS_BROKERS_FILE` read into named
//! connections (`name=nats://...`, `name=amqp://...`). Organizations name a broker; they never
//! give an address, so no endpoint can make the server connect where the operator did not say.
//! Credentials stay here: what the schema sees is names and kinds, and `Debug` masks the URL.

use std::collections::HashSet;

use anyhow::{bail, Context};
use buildhooks_schema::webhook::broker::Broker;
use buildhooks_schema::webhook::kinds::EndpointKind;

use crate::config::Config;

/// Most brokers one server may name.
pub const MAX_BROKERS: usize = 64;

/// One configured broker.
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerSpec {
    pub name: String,
    /// `Nats` or `Amqp`.
    pub kind: EndpointKind,
    /// Where it is, with its credentials.
    pub url: String,
}

impl std::fmt::Debug for BrokerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("url", &redacted(&self.url))
            .finish()
    }
}

/// `url` without its user information: what logs and errors may show.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            if !parsed.username().is_empty() || parsed.password().is_some() {
                let _ = parsed.set_username("***");
                let _ = parsed.set_password(None);
            }
            parsed.to_string()
        }
        Err(_) => "<unparsable URL>".into(),
    }
}

/// Whether `name` may name a broker: 1 to 63 of `a-z`, `0-9`, `-`, `_`, starting with a
/// letter or digit.
fn valid_name(name: &str) -> bool {
    name.len() <= 63
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// One `name=url` entry.
fn entry(text: &str) -> anyhow::Result<BrokerSpec> {
    let (name, url) = text
        .split_once('=')
        .with_context(|| format!("a broker entry is name=url, not '{}'", redacted(text)))?;
    let name = name.trim();
    if !valid_name(name) {
        bail!("broker name '{name}': use 1 to 63 of a-z, 0-9, '-' and '_'");
    }
    let url = url.trim();
    let parsed = url::Url::parse(url)
        .map_err(|_| anyhow::anyhow!("broker '{name}': its URL does not parse"))?;
    let kind = match parsed.scheme() {
        "nats" | "tls" => EndpointKind::Nats,
        "amqp" | "amqps" => EndpointKind::Amqp,
        other => bail!(
            "broker '{name}': scheme '{other}' is neither nats://, tls://, amqp:// nor amqps://"
        ),
    };
    if parsed.host_str().is_none_or(str::is_empty) {
        bail!("broker '{name}': its URL names no host");
    }
    Ok(BrokerSpec {
        name: name.to_owned(),
        kind,
        url: url.to_owned(),
    })
}

/// The entries of `text`: separated by commas, spaces or new lines; `#` starts a comment.
pub fn parse(text: &str) -> anyhow::Result<Vec<BrokerSpec>> {
    let mut specs = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default();
        for item in line
            .split([',', ' ', '\t'])
            .filter(|i| !i.trim().is_empty())
        {
            specs.push(entry(item)?);
        }
    }
    Ok(specs)
}

/// The brokers `config` names, from the variable and the file, each name once.
pub fn load(config: &Config) -> anyhow::Result<Vec<BrokerSpec>> {
    let mut specs =
        parse(config.brokers.as_deref().unwrap_or_default()).context("BUILDHOOKS_BROKERS")?;
    if let Some(path) = &config.brokers_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read BUILDHOOKS_BROKERS_FILE {}", path.display()))?;
        specs.extend(
            parse(&text).with_context(|| format!("BUILDHOOKS_BROKERS_FILE {}", path.display()))?,
        );
    }
    let mut seen = HashSet::new();
    for spec in &specs {
        if !seen.insert(spec.name.as_str()) {
            bail!("broker '{}' is named twice", spec.name);
        }
    }
    if specs.len() > MAX_BROKERS {
        bail!("at most {MAX_BROKERS} brokers");
    }
    Ok(specs)
}

/// What organizations see of `specs`: names and kinds.
pub fn public(specs: &[BrokerSpec]) -> Vec<Broker> {
    specs
        .iter()
        .map(|s| Broker {
            name: s.name.clone(),
            kind: s.kind,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_named_urls_of_a_broker_scheme() {
        let specs = parse(
            "bus=nats://127.0.0.1:4222, rabbit=amqp://guest:s3cret@127.0.0.1:5672/%2f\n# a comment\nsecure=amqps://mq.example.com",
        )
        .expect("parses");
        let names: Vec<_> = specs.iter().map(|s| (s.name.as_str(), s.kind)).collect();
        assert_eq!(
            names,
            [
                ("bus", EndpointKind::Nats),
                ("rabbit", EndpointKind::Amqp),
                ("secure", EndpointKind::Amqp)
            ]
        );
        assert!(!format!("{specs:?}").contains("s3cret"));
        for bad in [
            "bus",
            "Bus=nats://x",
            "bus=http://x",
            "bus=nats://",
            "-x=nats://h",
            "bus=not a url",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let error = parse("x=amqp://u:s3cret@")
            .expect_err("no host")
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }

    #[test]
    fn a_name_is_given_once() {
        let mut config = Config::for_database("unused://");
        config.brokers = Some("a=nats://h:1,a=amqp://h:2".into());
        assert!(load(&config).is_err());
        config.brokers = Some("a=nats://h:1,b=amqp://h:2".into());
        assert_eq!(load(&config).expect("loads").len(), 2);
    }
}

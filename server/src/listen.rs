//! The address the HTTP server listens on (`BUILDHOOKS_LISTEN`, `--listen`): `host:port` where
//! the host is an IP address (`127.0.0.1`, `[::1]`) or a name (`localhost`), resolved when the
//! server starts. A name's addresses are tried in the resolver's order; the first one that can
//! be bound is served.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;

/// `BUILDHOOKS_LISTEN`: loopback only, so a first run exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// `host:port` as given; checked for its shape when parsed, resolved by [`Listen::bind`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listen(String);

impl std::str::FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let shape =
            || format!("{text:?} is not host:port (127.0.0.1:8080, localhost:8080, [::1]:8080)");
        let (host, port) = text.rsplit_once(':').ok_or_else(shape)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(shape());
        }
        // A bare IPv6 address must be bracketed, or its last group would read as the port.
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(shape());
        }
        Ok(Listen(text.to_owned()))
    }
}

impl std::fmt::Display for Listen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for Listen {
    /// [`DEFAULT_LISTEN`].
    fn default() -> Self {
        Listen(DEFAULT_LISTEN.to_owned())
    }
}

impl From<SocketAddr> for Listen {
    fn from(addr: SocketAddr) -> Self {
        Listen(addr.to_string())
    }
}

impl Listen {
    /// The addresses the host resolves to, in the resolver's order; an error names the value.
    pub async fn resolve(&self) -> anyhow::Result<Vec<SocketAddr>> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host(self.0.as_str())
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {}: its host does not resolve; give an IP address \
                     (127.0.0.1:8080) or a name this machine resolves (BUILDHOOKS_LISTEN, \
                     --listen)",
                    self.0
                )
            })?
            .collect();
        match found.is_empty() {
            true => anyhow::bail!("cannot listen on {}: its host has no address", self.0),
            false => Ok(found),
        }
    }

    /// Binds the first of the host's addresses that can be bound; an error names the value and
    /// the last address tried.
    pub async fn bind(&self) -> anyhow::Result<TcpListener> {
        let mut last = None;
        for addr in self.resolve().await? {
            match TcpListener::bind(addr).await {
                Ok(listener) => return Ok(listener),
                Err(error) => last = Some((addr, error)),
            }
        }
        match last {
            // The address in brackets only when it says more than the value.
            Some((addr, error)) if addr.to_string() == self.0 => {
                anyhow::bail!("cannot listen on {addr}: {error}")
            }
            Some((addr, error)) => {
                anyhow::bail!("cannot listen on {} ({addr}): {error}", self.0)
            }
            None => anyhow::bail!("cannot listen on {}: its host has no address", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Listen;

    #[test]
    fn host_names_and_addresses_parse_and_other_shapes_do_not() {
        for good in [
            "127.0.0.1:8080",
            "localhost:0",
            "[::1]:8080",
            "example.com:443",
        ] {
            assert_eq!(
                good.parse::<Listen>().map(|l| l.to_string()),
                Ok(good.into())
            );
        }
        for bad in [
            "localhost",
            ":8080",
            "localhost:http",
            "::1:8080",
            "host:70000",
        ] {
            assert!(bad.parse::<Listen>().is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn localhost_binds_and_a_name_that_does_not_resolve_is_named() {
        let listen: Listen = "localhost:0".parse().expect("parse");
        let listener = listen.bind().await.expect("bind localhost");
        assert!(listener.local_addr().expect("addr").ip().is_loopback());
        let nowhere: Listen = "nowhere.invalid:8080".parse().expect("parse");
        let error = nowhere.bind().await.expect_err("does not resolve");
        assert!(
            error.to_string().contains("nowhere.invalid:8080"),
            "{error}"
        );
    }
}

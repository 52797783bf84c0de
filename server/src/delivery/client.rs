//! The outbound HTTP client, with every unsafe reqwest default overridden: no redirects, no proxy
//! from the environment, connect and total timeouts, TLS verified, and a DNS resolver that drops
//! addresses a webhook must never reach, so a name that resolves or rebinds to one is never
//! connected to (IP literals are checked before sending, in `attempt`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use buildhooks_schema::webhook::target::is_blocked_ip;
use buildhooks_schema::webhook::USER_AGENT;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The error a resolution fails with when every address of a name is blocked.
#[derive(Debug, thiserror::Error)]
#[error("the target resolves only to blocked addresses")]
pub struct BlockedTarget;

/// Resolves with the system resolver, then drops blocked addresses (unless allowed).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allow_private || !is_blocked_ip(a.ip()))
                .collect();
            if allowed.is_empty() && !found.is_empty() {
                return Err(Box::new(BlockedTarget) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// Builds the delivery client.
pub fn build(total_timeout: Duration, allow_private: bool) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5).min(total_timeout))
        .timeout(total_timeout)
        .user_agent(USER_AGENT)
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .https_only(false)
        .build()
}

//! The outbound HTTP client, with every unsafe reqwest default overridden: no redirects, no proxy
//! from the environment, connect and total timeouts, TLS verified, and a DNS resolver that drops
//! addresses a webhook must never reach, so a name that resolves or rebinds to one is never
//! connected to. The resolver is the save-time check's own (`target::resolve_allowed`), so save
//! and send agree; IP literals never reach a resolver and are checked before sending, in `attempt`.

use std::sync::Arc;
use std::time::Duration;

use buildhooks_schema::webhook::target::{resolve_allowed, Mixed, Refused};
use buildhooks_schema::webhook::USER_AGENT;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The error a resolution fails with when a name is refused (every address of it blocked).
#[derive(Debug, thiserror::Error)]
#[error("the target resolves only to blocked addresses")]
pub struct BlockedTarget;

/// Resolves through [`resolve_allowed`], the function the save-time check uses too, dropping
/// blocked addresses (unless allowed).
struct GuardedResolver {
    allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            match resolve_allowed(name.as_str(), 0, allow_private, Mixed::Drop).await {
                Ok(allowed) => Ok(Box::new(allowed.into_iter()) as Addrs),
                // No verdict: a name that does not resolve is a connection error, retried as one.
                Err(Refused::Unresolved { source, .. }) => Err(source.into()),
                Err(_) => Err(Box::new(BlockedTarget) as Box<dyn std::error::Error + Send + Sync>),
            }
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

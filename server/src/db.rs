//! Opening the database as the server and the tools use it: the store's connection (pools,
//! migrations) wrapped in the domain's `Store`.

use buildhooks_schema::Store;

pub use buildhooks_store::connect::{
    file_url, open, without_loopback_tls, DEFAULT_ACQUIRE_TIMEOUT_MS, DEFAULT_POOL, DEFAULT_URL,
};
pub use buildhooks_store::{ConnectOptions, Synchronous};

/// Opens the database at `url` with the default options and applies every pending migration.
pub async fn connect(url: &str) -> anyhow::Result<Store> {
    connect_with(url, &ConnectOptions::default()).await
}

/// As `connect`, with `options`.
pub async fn connect_with(url: &str, options: &ConnectOptions) -> anyhow::Result<Store> {
    Ok(Store::new(buildhooks_store::connect(url, options).await?))
}

//! Opening the database as the server and the tools use it: the store's connection (pools,
//! migrations) wrapped in the domain's `Store`, and the vault that seals its secrets (the
//! operator's key, `BUILDHOOKS_SECRET_KEY`), with the values an older version left in clear
//! sealed on the way.

use buildhooks_schema::Store;
use buildhooks_store::secrets::{self, Vault};
use buildhooks_store::Db;

use crate::Config;

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

/// Opens the database of `config` with its vault (see `open_vault`).
pub async fn connect_config(config: &Config) -> anyhow::Result<Store> {
    let db = buildhooks_store::connect(&config.database_url, &config.connect_options()).await?;
    let vault = open_vault(&db, config).await?;
    Ok(Store::new(db).with_vault(vault))
}

/// The vault of `db` under the configured key (on the embedded database without one, the key
/// file beside it, made on first start), after sealing every secret an older version left in
/// clear.
pub async fn open_vault(db: &Db, config: &Config) -> anyhow::Result<Vault> {
    let key = config.secret_key.as_ref().map(|k| k.0.as_str());
    let vault = secrets::vault_for(db, &config.database_url, key)?;
    let sealed = secrets::reseal(db, &vault, &url_secret_kinds(), false)
        .await
        .map_err(|e| anyhow::anyhow!("cannot seal the secrets left in clear: {e}"))?;
    if sealed.total() > 0 || sealed.failed > 0 {
        tracing::info!(?sealed, "sealed the secrets an older version left in clear");
    }
    tracing::info!(
        key = vault.sealing_key_id().unwrap_or("none"),
        "secrets sealed at rest"
    );
    Ok(vault)
}

/// The endpoint kinds whose URL is a secret (chat robots): their URLs are sealed.
pub fn url_secret_kinds() -> Vec<&'static str> {
    buildhooks_chat::Kind::ALL
        .iter()
        .map(|k| k.name())
        .collect()
}

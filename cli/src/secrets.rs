//! `buildhooks secrets`: `new-key` prints a fresh operator key; `rotate-key` seals every secret
//! of the database under the newest key and prints how many values moved.
//!
//! How the new key is given: with `BUILDHOOKS_SECRET_KEY` (a database server, or an embedded
//! database run with the variable), put the new key first and keep the old one after it
//! (`BUILDHOOKS_SECRET_KEY=<new>,<old>`), give that list to every running instance, run
//! `buildhooks secrets rotate-key` with it, then drop `<old>` from the list. The embedded
//! database without the variable keeps its key in `<database file>.key`: `rotate-key`
//! generates the new key itself, writes it first in that file, re-seals, and leaves only the
//! new key there (restart the server after, so it seals with the new key too).

use anyhow::Context;
use buildhooks_server::config::Config;
use buildhooks_server::db;
use buildhooks_store::secrets::{self, keys, vault};
use serde_json::json;

/// Prints a fresh key (base64 of 32 random bytes) and its id.
pub fn new_key() {
    let key = vault::generate_key();
    println!(
        "{}",
        json!({ "key": vault::encode_key(&key), "key_id": vault::key_id(&key) })
    );
}

/// Re-seals every secret under the newest key (see the module's text); prints the counts.
pub async fn rotate_key(config: &Config) -> anyhow::Result<()> {
    let given = config
        .secret_key
        .as_ref()
        .is_some_and(|k| !k.0.trim().is_empty());
    let key_file = keys::key_file(&config.database_url).filter(|_| !given);
    let old_keys = match &key_file {
        Some(path) => {
            let old = keys::file_keys(&config.database_url)?;
            anyhow::ensure!(
                !old.is_empty(),
                "no key file at {} and no {}: nothing was sealed yet",
                path.display(),
                secrets::KEY_ENV
            );
            let mut all = vec![vault::generate_key()];
            all.extend(old.iter().copied());
            keys::write_key_file(path, &all)?;
            Some(old)
        }
        None => None,
    };
    let store = db::connect_config(config).await?;
    let vault = store.vault().clone();
    let moved = secrets::reseal(store.db(), &vault, &db::url_secret_kinds(), true)
        .await
        .context("cannot re-seal the secrets")?;
    if let (Some(path), Some(old)) = (&key_file, &old_keys) {
        if moved.failed == 0 {
            let newest = vault::parse_keys(&std::fs::read_to_string(path)?)?;
            let kept: Vec<_> = newest.into_iter().filter(|k| !old.contains(k)).collect();
            keys::write_key_file(path, &kept)?;
        }
    }
    println!(
        "{}",
        json!({
            "key_id": vault.sealing_key_id(),
            "key_file": key_file.map(|p| p.display().to_string()),
            "resealed": moved,
            "total": moved.total(),
            "failed": moved.failed,
        })
    );
    anyhow::ensure!(
        moved.failed == 0,
        "{} values did not open under the given keys and were left as they were (see the log)",
        moved.failed
    );
    Ok(())
}

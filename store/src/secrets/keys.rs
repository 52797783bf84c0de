//! Where the operator's key comes from. `BUILDHOOKS_SECRET_KEY` (base64 of 32 bytes; a
//! comma-separated list `new,old` while values sealed under the old key are re-sealed) wins.
//! Without it, the embedded database keeps a key in a file beside its own file
//! (`<database file>.key`, mode 0600), generated on first start; a database server refuses to
//! start, since instances sharing it must share one key the operator holds.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::vault::{encode_key, generate_key, parse_keys, Vault, KEY_BYTES};
use crate::dialect::Dialect;
use crate::Db;

/// The environment variable that holds the operator's keys.
pub const KEY_ENV: &str = "BUILDHOOKS_SECRET_KEY";

/// The key file of the embedded database at `url`, when it is a file (not in memory).
pub fn key_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return None;
    }
    let mut file = PathBuf::from(path).into_os_string();
    file.push(".key");
    Some(PathBuf::from(file))
}

/// The vault of `db`: the keys of `key_text` (`BUILDHOOKS_SECRET_KEY`) when given, else (the
/// embedded database) the key file beside the database, made on first start. On the embedded
/// database an existing key file's keys are added after the given ones, so values sealed under
/// the generated key keep opening after the operator switches to their own.
pub fn vault_for(db: &Db, url: &str, key_text: Option<&str>) -> anyhow::Result<Vault> {
    let given = match key_text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(text) => parse_keys(text).with_context(|| format!("{KEY_ENV} is not usable"))?,
        None => Vec::new(),
    };
    if db.dialect() == Dialect::Postgres {
        anyhow::ensure!(
            !given.is_empty(),
            "{KEY_ENV} is not set: with a database server every instance must be given the same \
             key to seal secrets at rest. Make one with `buildhooks secrets new-key` (or \
             `openssl rand -base64 32`), keep it safe, and set {KEY_ENV} on every instance"
        );
        return Ok(Vault::new(given));
    }
    let Some(path) = key_file(url) else {
        if given.is_empty() {
            tracing::warn!("an in-memory database: its secrets are sealed under a key that lives as long as the process");
            return Ok(Vault::new(vec![generate_key()]));
        }
        return Ok(Vault::new(given));
    };
    let mut keys = given;
    let generated = keys.is_empty();
    keys.extend(read_or_make(&path, generated)?);
    Ok(Vault::new(keys))
}

/// The keys in the file at `path`; when it does not exist and `make` is set, a new key written
/// to it (0600).
fn read_or_make(path: &Path, make: bool) -> anyhow::Result<Vec<[u8; KEY_BYTES]>> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            warn_if_readable(path);
            parse_keys(&text).with_context(|| format!("the key file {} is damaged", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && make => {
            let key = generate_key();
            write_key_file(path, &[key])?;
            tracing::warn!(
                path = %path.display(),
                "generated the key that seals secrets in the database; it is in this file, beside the database: back it up with the database, or set {KEY_ENV} instead"
            );
            Ok(vec![key])
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("cannot read the key file {}", path.display())),
    }
}

/// Writes `keys` (the sealing one first) to the key file at `path`, readable by its owner only,
/// replacing it atomically.
pub fn write_key_file(path: &Path, keys: &[[u8; KEY_BYTES]]) -> anyhow::Result<()> {
    let mut text = String::new();
    for key in keys {
        text.push_str(&encode_key(key));
        text.push('\n');
    }
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(&temporary)
        .with_context(|| format!("cannot create the key file {}", temporary.display()))?;
    file.write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .with_context(|| format!("cannot write the key file {}", temporary.display()))?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot write the key file {}", path.display()))
}

/// The keys of the embedded database's key file at `url` (none for a database server or when
/// there is no file).
pub fn file_keys(url: &str) -> anyhow::Result<Vec<[u8; KEY_BYTES]>> {
    match key_file(url) {
        Some(path) => read_or_make(&path, false),
        None => Ok(Vec::new()),
    }
}

fn warn_if_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the key file can be read by others than its owner: chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::key_file;
    use std::path::PathBuf;

    #[test]
    fn the_key_file_sits_beside_the_database_file() {
        assert_eq!(
            key_file("sqlite:///var/lib/bh/x.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/bh/x.db.key"))
        );
        assert_eq!(
            key_file("sqlite://buildhooks.db?mode=rwc"),
            Some(PathBuf::from("buildhooks.db.key"))
        );
        assert_eq!(key_file("sqlite::memory:"), None);
        assert_eq!(key_file("sqlite://x.db?mode=memory"), None);
        assert_eq!(key_file("postgres://u@h/d"), None);
    }
}

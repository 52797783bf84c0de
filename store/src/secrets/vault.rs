//! The vault: seals a secret for the database and opens what the database holds, under the
//! operator's keys. A sealed value is `sealed:<key id>:<base64url of nonce | ciphertext | tag>`,
//! XChaCha20-Poly1305 (RustCrypto's `chacha20poly1305`) with a random 24-byte nonce and the
//! value's purpose (which column kind it belongs to) as associated data, so a ciphertext copied
//! into another kind of column does not open. The first key seals; every key opens what names
//! its id, so values sealed under an older key keep opening until `buildhooks secrets
//! rotate-key` re-seals them. A value without the prefix is one an older version left in clear:
//! it opens as itself (and is sealed at the next start).
//!
//! Opening sits on the delivery path (each attempt opens its endpoint's secret), so opened
//! values are kept in a small `quick_cache` by (purpose, sealed text): a hit is one hash and one
//! shard's read lock.
//! Errors name a key id at most, never a secret or a ciphertext.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use quick_cache::sync::Cache;
use sha2::{Digest, Sha256};

/// What every sealed value starts with.
pub const SEALED_PREFIX: &str = "sealed:";

/// The length of an operator key, in bytes.
pub const KEY_BYTES: usize = 32;

/// Opened values kept per purpose (a full cache evicts those least likely to be opened again).
const CACHE_ENTRIES: usize = 4096;

const NONCE_BYTES: usize = 24;

/// Which kind of value is sealed: the associated data that binds a ciphertext to its kind of
/// column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// `webhook_endpoint.secret` and `previous_secret` (a rotation moves one to the other).
    EndpointSecret,
    /// `webhook_endpoint.url` of a chat robot, whose URL carries its token.
    EndpointUrl,
    /// `inbound_source.secret`.
    InboundSecret,
    /// `inbound_source.signing_secret`.
    InboundSigningSecret,
}

impl Purpose {
    /// Every purpose, in the order of the cache's maps.
    const ALL: [Purpose; 4] = [
        Purpose::EndpointSecret,
        Purpose::EndpointUrl,
        Purpose::InboundSecret,
        Purpose::InboundSigningSecret,
    ];

    fn index(self) -> usize {
        self as usize
    }

    fn label(self) -> &'static [u8] {
        match self {
            Purpose::EndpointSecret => b"buildhooks webhook_endpoint.secret",
            Purpose::EndpointUrl => b"buildhooks webhook_endpoint.url",
            Purpose::InboundSecret => b"buildhooks inbound_source.secret",
            Purpose::InboundSigningSecret => b"buildhooks inbound_source.signing_secret",
        }
    }
}

/// Why a value could not be sealed or opened. The texts never hold a secret or a ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No key was given (a store opened without the operator's key).
    #[error("no secret key is loaded (BUILDHOOKS_SECRET_KEY)")]
    NoKey,
    /// The value names a key this process does not have.
    #[error("a secret is sealed under key {0}, which is not among the loaded keys (BUILDHOOKS_SECRET_KEY)")]
    UnknownKey(String),
    /// The value is damaged, or was sealed for another purpose.
    #[error("a sealed secret does not open (damaged, or under another key with the same id)")]
    Damaged,
    /// A key given by the operator is not base64 of 32 bytes.
    #[error("secret key {0} of the list is not base64 of 32 bytes")]
    BadKey(usize),
}

struct Key {
    id: String,
    cipher: XChaCha20Poly1305,
}

struct Inner {
    /// The sealing key first, then the older ones.
    keys: Vec<Key>,
    /// Opened values by sealed text, one cache per purpose (looked up by `&str`, no allocation).
    cache: [Cache<String, Arc<str>>; Purpose::ALL.len()],
}

/// The operator's keys and the cache of opened values; cheap to clone.
#[derive(Clone)]
pub struct Vault {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl Default for Vault {
    /// A vault without keys: it opens values in clear and refuses everything else.
    fn default() -> Self {
        Vault::new(Vec::new())
    }
}

/// The id a sealed value names its key by: 8 hex digits of a hash of the key (it tells keys
/// apart and reveals nothing of them).
pub fn key_id(key: &[u8; KEY_BYTES]) -> String {
    let digest = Sha256::new()
        .chain_update(b"buildhooks secret key id\n")
        .chain_update(key)
        .finalize();
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A fresh random key.
pub fn generate_key() -> [u8; KEY_BYTES] {
    XChaCha20Poly1305::generate_key(&mut OsRng).into()
}

/// A key as the operator writes it: standard base64 (URL-safe is accepted too).
pub fn encode_key(key: &[u8; KEY_BYTES]) -> String {
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// The keys of a comma-separated list of base64 keys (`new,old,...`), the sealing one first.
/// Spaces and empty entries are ignored.
pub fn parse_keys(text: &str) -> Result<Vec<[u8; KEY_BYTES]>, SecretError> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .enumerate()
        .map(|(i, entry)| {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(entry)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(entry))
                .or_else(|_| URL_SAFE_NO_PAD.decode(entry))
                .map_err(|_| SecretError::BadKey(i + 1))?;
            <[u8; KEY_BYTES]>::try_from(decoded.as_slice()).map_err(|_| SecretError::BadKey(i + 1))
        })
        .collect()
}

/// Is this stored value sealed (else it is in clear, left by an older version)?
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(SEALED_PREFIX)
}

impl Vault {
    /// A vault over `keys`, the sealing key first. Keys given twice count once.
    pub fn new(keys: Vec<[u8; KEY_BYTES]>) -> Self {
        let mut unique: Vec<Key> = Vec::with_capacity(keys.len());
        for key in keys {
            let id = key_id(&key);
            if unique.iter().all(|k| k.id != id) {
                unique.push(Key {
                    id,
                    cipher: XChaCha20Poly1305::new(&key.into()),
                });
            }
        }
        Vault {
            inner: Arc::new(Inner {
                keys: unique,
                cache: std::array::from_fn(|_| Cache::new(CACHE_ENTRIES)),
            }),
        }
    }

    /// The ids of the loaded keys, the sealing one first.
    pub fn key_ids(&self) -> Vec<&str> {
        self.inner.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The id of the sealing key.
    pub fn sealing_key_id(&self) -> Option<&str> {
        self.inner.keys.first().map(|k| k.id.as_str())
    }

    /// The prefix of every value sealed under the sealing key (`sealed:<id>:`).
    pub fn sealing_prefix(&self) -> Option<String> {
        self.sealing_key_id()
            .map(|id| format!("{SEALED_PREFIX}{id}:"))
    }

    /// `clear` sealed under the sealing key for `purpose`.
    pub fn seal(&self, purpose: Purpose, clear: &str) -> Result<String, SecretError> {
        let key = self.inner.keys.first().ok_or(SecretError::NoKey)?;
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let sealed = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: clear.as_bytes(),
                    aad: purpose.label(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        let mut bytes = Vec::with_capacity(NONCE_BYTES + sealed.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&sealed);
        Ok(format!(
            "{SEALED_PREFIX}{}:{}",
            key.id,
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// As `seal`, for an optional value.
    pub fn seal_opt(
        &self,
        purpose: Purpose,
        clear: Option<&str>,
    ) -> Result<Option<String>, SecretError> {
        clear.map(|c| self.seal(purpose, c)).transpose()
    }

    /// The clear text of a stored value: a sealed one opened (from the cache when it was opened
    /// before), one in clear as it is.
    pub fn open(&self, purpose: Purpose, stored: &str) -> Result<Arc<str>, SecretError> {
        if !is_sealed(stored) {
            return Ok(Arc::from(stored));
        }
        if let Some(hit) = self.cached(purpose, stored) {
            return Ok(hit);
        }
        let opened: Arc<str> = Arc::from(self.open_uncached(purpose, stored)?);
        self.inner.cache[purpose.index()].insert(stored.to_owned(), opened.clone());
        Ok(opened)
    }

    /// As `open`, for an optional value.
    pub fn open_opt(
        &self,
        purpose: Purpose,
        stored: Option<&str>,
    ) -> Result<Option<Arc<str>>, SecretError> {
        stored.map(|s| self.open(purpose, s)).transpose()
    }

    /// Whether `stored` must be sealed again to be under the sealing key: in clear, or sealed
    /// under an older key.
    pub fn needs_reseal(&self, stored: &str) -> bool {
        match self.sealing_prefix() {
            Some(prefix) => !stored.starts_with(&prefix),
            None => false,
        }
    }

    /// `stored` under the sealing key: opened and sealed again, or `None` when it already is.
    pub fn reseal(&self, purpose: Purpose, stored: &str) -> Result<Option<String>, SecretError> {
        if !self.needs_reseal(stored) {
            return Ok(None);
        }
        let clear = self.open(purpose, stored)?;
        self.seal(purpose, &clear).map(Some)
    }

    fn cached(&self, purpose: Purpose, stored: &str) -> Option<Arc<str>> {
        self.inner.cache[purpose.index()].get(stored)
    }

    fn open_uncached(&self, purpose: Purpose, stored: &str) -> Result<String, SecretError> {
        let rest = &stored[SEALED_PREFIX.len()..];
        let (id, data) = rest.split_once(':').ok_or(SecretError::Damaged)?;
        let key = self.inner.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            match self.inner.keys.is_empty() {
                true => SecretError::NoKey,
                // A key id is 8 hex digits; anything else is not repeated back.
                false if id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    SecretError::UnknownKey(id.to_owned())
                }
                false => SecretError::Damaged,
            }
        })?;
        let bytes = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|_| SecretError::Damaged)?;
        if bytes.len() < NONCE_BYTES {
            return Err(SecretError::Damaged);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_BYTES);
        let clear = key
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: purpose.label(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(clear).map_err(|_| SecretError::Damaged)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

    #[test]
    fn a_sealed_value_opens_and_shows_nothing_of_the_secret() {
        let vault = Vault::new(vec![generate_key()]);
        let sealed = vault.seal(Purpose::EndpointSecret, SECRET).unwrap();
        assert!(sealed.starts_with(&vault.sealing_prefix().unwrap()));
        assert!(!sealed.contains("C2FVsBQ"));
        assert_ne!(sealed, vault.seal(Purpose::EndpointSecret, SECRET).unwrap());
        assert_eq!(
            &*vault.open(Purpose::EndpointSecret, &sealed).unwrap(),
            SECRET
        );
        // Twice: the second comes from the cache.
        assert_eq!(
            &*vault.open(Purpose::EndpointSecret, &sealed).unwrap(),
            SECRET
        );
    }

    #[test]
    fn another_purpose_a_damaged_value_or_a_missing_key_does_not_open() {
        let vault = Vault::new(vec![generate_key()]);
        let sealed = vault.seal(Purpose::EndpointSecret, SECRET).unwrap();
        assert_eq!(
            vault.open(Purpose::InboundSecret, &sealed),
            Err(SecretError::Damaged)
        );
        let mut damaged = sealed.clone();
        damaged.pop();
        damaged.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            vault.open(Purpose::EndpointSecret, &damaged),
            Err(SecretError::Damaged)
        );
        let other = Vault::new(vec![generate_key()]);
        let error = other.open(Purpose::EndpointSecret, &sealed).unwrap_err();
        assert!(matches!(error, SecretError::UnknownKey(_)));
        assert!(!error.to_string().contains(&sealed[16..]));
        assert_eq!(
            Vault::default().open(Purpose::EndpointSecret, &sealed),
            Err(SecretError::NoKey)
        );
        assert_eq!(
            Vault::default().seal(Purpose::EndpointSecret, SECRET),
            Err(SecretError::NoKey)
        );
    }

    #[test]
    fn an_older_key_still_opens_and_reseal_moves_values_to_the_new_one() {
        let (old, new) = (generate_key(), generate_key());
        let before = Vault::new(vec![old]);
        let sealed = before
            .seal(Purpose::EndpointUrl, "https://hooks.slack.com/x")
            .unwrap();
        let after = Vault::new(vec![new, old]);
        assert_eq!(
            &*after.open(Purpose::EndpointUrl, &sealed).unwrap(),
            "https://hooks.slack.com/x"
        );
        let moved = after
            .reseal(Purpose::EndpointUrl, &sealed)
            .unwrap()
            .unwrap();
        assert!(moved.starts_with(&format!("sealed:{}:", key_id(&new))));
        assert_eq!(after.reseal(Purpose::EndpointUrl, &moved).unwrap(), None);
        // A value in clear opens as itself and is sealed by a reseal.
        assert_eq!(
            &*after.open(Purpose::EndpointUrl, "plain").unwrap(),
            "plain"
        );
        assert!(after
            .reseal(Purpose::EndpointUrl, "plain")
            .unwrap()
            .is_some());
    }

    #[test]
    fn key_lists_are_base64_of_32_bytes() {
        let (a, b) = (generate_key(), generate_key());
        let text = format!("{} , {},", encode_key(&a), URL_SAFE_NO_PAD.encode(b));
        assert_eq!(parse_keys(&text).unwrap(), vec![a, b]);
        assert_eq!(
            parse_keys(&format!("{},c2hvcnQ=", encode_key(&a))),
            Err(SecretError::BadKey(2))
        );
        assert!(!SecretError::BadKey(2).to_string().contains("c2hvcnQ"));
    }
}

//! Organizations and their API tokens: creation, hashing (only a SHA-256 hash is stored, with
//! the token's last four characters as a hint) and turning a bearer token into the organization
//! it belongs to, with a short-lived cache of tokens found valid that revocations empty at once
//! (`TokenCache::forget`).

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use buildhooks_entity::organization;
use buildhooks_store::{orgs, tokens};
use quick_cache::sync::{Cache, EntryAction, EntryResult};
use rand::RngCore;
use sea_orm::ConnectionTrait;
use sha2::{Digest, Sha256};

use crate::clock::now_ms;
use crate::error::{Error, Result};

/// The organization a request acts as: the only tenant it can see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Viewer {
    pub org_id: i32,
    /// The API token the request came with (the actor of its audit events); `None` inside
    /// (payload renders, checks).
    pub token_id: Option<i32>,
}

impl Viewer {
    /// The organization `org_id` seen from inside, by no token.
    pub fn org(org_id: i32) -> Viewer {
        Viewer {
            org_id,
            token_id: None,
        }
    }
}

/// A fresh API token: `bh_` and 32 random bytes, base64url.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "bh_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a token: lower-case hex SHA-256.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The part of a token kept to tell it apart: its last four characters.
pub fn token_hint(token: &str) -> &str {
    let start = token
        .char_indices()
        .rev()
        .nth(3)
        .map_or(0, |(index, _)| index);
    &token[start..]
}

/// How a token is shown once issued: `bh_…abcd` from its hint, `••••` without one (tokens
/// issued before hints were kept).
pub fn masked_token(hint: Option<&str>) -> String {
    match hint {
        Some(hint) if !hint.is_empty() => format!("bh_…{hint}"),
        _ => "••••".to_owned(),
    }
}

/// Stores a new token for `org_id` and returns it; it is never readable again.
pub async fn issue_token(db: &impl ConnectionTrait, org_id: i32) -> Result<String> {
    let token = generate_token();
    let hint = token_hint(&token);
    tokens::insert(db, org_id, &hash_token(&token), Some(hint), now_ms()).await?;
    Ok(token)
}

/// Creates an organization and its first token.
pub async fn create_organization(
    db: &impl ConnectionTrait,
    name: &str,
    platform: &str,
) -> Result<(organization::Model, String)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::Validation(
            "organization name must be 1 to 100 characters".into(),
        ));
    }
    let exists = orgs::org_named(db, name).await?;
    if exists.is_some() {
        return Err(Error::Validation(format!(
            "an organization named {name:?} already exists"
        )));
    }
    let org = orgs::insert_org(db, name, platform, now_ms()).await?;
    let token = issue_token(db, org.id).await?;
    Ok((org, token))
}

/// The organization of the token whose hash is `token_hash`.
async fn lookup(db: &impl ConnectionTrait, token_hash: &str) -> Result<Viewer> {
    tokens::find_valid(db, token_hash)
        .await?
        .map(|(org_id, token_id)| Viewer {
            org_id,
            token_id: Some(token_id),
        })
        .ok_or(Error::Unauthenticated)
}

/// How long a token found valid is trusted without asking the database again. A revoked token
/// is forgotten at once by the instance that revoked it and by every other instance sharing the
/// database when the store tells it of the revocation (well within a second); a token removed from
/// the database by hand stops working within this time. Unknown tokens are never cached: each
/// one is looked up.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Most tokens remembered (a full cache evicts those least likely to be used again).
const TOKEN_CACHE_LIMIT: usize = 10_000;
/// A token's last use is noted at most this often by one instance (the database refuses it more
/// often across instances: `tokens::note_use`).
const USE_NOTED_EVERY: Duration = Duration::from_millis(tokens::USE_NOTED_EVERY_MS as u64);

/// Tokens found valid in the last `TOKEN_TTL`, by hash: one lookup fewer per API request.
pub struct TokenCache {
    valid: Cache<String, (Viewer, Instant)>,
    /// Counts forgets: a lookup that began before one does not cache what it read (it may
    /// have read a token just revoked). Held while a forget removes and while a lookup inserts,
    /// so the two never interleave.
    forgets: Mutex<u64>,
    /// When this instance last noted each token's use, by token id.
    noted: Cache<i32, Instant>,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            valid: Cache::new(TOKEN_CACHE_LIMIT),
            forgets: Mutex::new(0),
            noted: Cache::new(TOKEN_CACHE_LIMIT),
        }
    }
}

impl TokenCache {
    /// The forget counter; it holds no invariant a panic could break, so a poisoned lock is
    /// still good.
    fn forgets(&self) -> std::sync::MutexGuard<'_, u64> {
        self.forgets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// As `authenticate`, answering from the cache while the entry is fresh.
    pub async fn authenticate(&self, db: &impl ConnectionTrait, token: &str) -> Result<Viewer> {
        let hash = hash_token(token.trim());
        let now = Instant::now();
        let forgets = *self.forgets();
        if let Some((viewer, at)) = self.valid.get(&hash) {
            if now.duration_since(at) < TOKEN_TTL {
                return Ok(viewer);
            }
        }
        let viewer = lookup(db, &hash).await?;
        let current = self.forgets();
        if *current == forgets {
            self.valid.insert(hash, (viewer, now));
        }
        Ok(viewer)
    }

    /// Stops trusting the token whose hash is `token_hash` (it was revoked).
    pub fn forget(&self, token_hash: &str) {
        let mut forgets = self.forgets();
        *forgets += 1;
        self.valid.remove(token_hash);
    }

    /// Stops trusting every cached token (revocations may have been missed).
    pub fn forget_all(&self) {
        let mut forgets = self.forgets();
        *forgets += 1;
        self.valid.clear();
    }

    /// Whether token `id`'s use at `now` should be noted: true at most once per
    /// `USE_NOTED_EVERY` per token. Checked and updated under the entry's lock, so of
    /// concurrent requests with one token, one notes its use.
    pub fn use_to_note(&self, id: i32, now: Instant) -> bool {
        let result = self.noted.entry(&id, Some(Duration::ZERO), |_, at| {
            if now.duration_since(*at) < USE_NOTED_EVERY {
                return EntryAction::Retain(false);
            }
            *at = now;
            EntryAction::Retain(true)
        });
        match result {
            EntryResult::Retained(note) => note,
            EntryResult::Vacant(guard) => {
                // Err only when the entry was dropped meanwhile: this request still notes.
                let _ = guard.insert(now);
                true
            }
            // Another request is noting this token's use right now.
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_are_the_last_four_characters_and_mask_the_rest() {
        let token = generate_token();
        assert_eq!(token_hint(&token), &token[token.len() - 4..]);
        assert_eq!(token_hint("abc"), "abc");
        assert_eq!(masked_token(Some("wxyz")), "bh_…wxyz");
        assert_eq!(masked_token(None), "••••");
    }

    #[test]
    fn a_use_is_noted_once_a_minute_per_token() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        assert!(cache.use_to_note(1, t0));
        assert!(!cache.use_to_note(1, t0 + Duration::from_secs(59)));
        assert!(cache.use_to_note(2, t0 + Duration::from_secs(59)));
        assert!(cache.use_to_note(1, t0 + Duration::from_secs(61)));
    }

    #[test]
    fn a_forget_empties_what_a_lookup_begun_before_it_would_keep() {
        let cache = TokenCache::default();
        let viewer = Viewer::org(7);
        let now = Instant::now();
        cache.valid.insert("h".to_owned(), (viewer, now));
        cache.forget("h");
        assert_eq!(cache.valid.get("h"), None);
        assert_eq!(*cache.forgets(), 1);
        cache.valid.insert("a".to_owned(), (viewer, now));
        cache.valid.insert("b".to_owned(), (viewer, now));
        cache.forget_all();
        assert!(cache.valid.is_empty());
        assert_eq!(*cache.forgets(), 2);
    }
}

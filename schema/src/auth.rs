//! Organizations and their API tokens: creation, hashing (only a SHA-256 hash is stored, with
//! the token's last four characters as a hint) and turning a bearer token into the organization
//! it belongs to, with a short-lived cache of tokens found valid that revocations empty at once
//! (`TokenCache::forget`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use buildhooks_entity::organization;
use buildhooks_store::{orgs, tokens};
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
/// Most tokens remembered; the cache is emptied when full.
const TOKEN_CACHE_LIMIT: usize = 10_000;
/// A token's last use is noted at most this often by one instance (the database refuses it more
/// often across instances: `tokens::note_use`).
const USE_NOTED_EVERY: Duration = Duration::from_millis(tokens::USE_NOTED_EVERY_MS as u64);

/// Tokens found valid in the last `TOKEN_TTL`, by hash: one lookup fewer per API request.
#[derive(Default)]
pub struct TokenCache {
    valid: Mutex<Valid>,
    /// When this instance last noted each token's use, by token id.
    noted: Mutex<HashMap<i32, Instant>>,
}

#[derive(Default)]
struct Valid {
    by_hash: HashMap<String, (Viewer, Instant)>,
    /// Counts forgets: a lookup that began before one does not cache what it read (it may
    /// have read a token just revoked).
    forgets: u64,
}

impl TokenCache {
    /// As `authenticate`, answering from the cache while the entry is fresh.
    pub async fn authenticate(&self, db: &impl ConnectionTrait, token: &str) -> Result<Viewer> {
        let hash = hash_token(token.trim());
        let now = Instant::now();
        let forgets = match self.valid.lock() {
            Ok(valid) => {
                if let Some((viewer, at)) = valid.by_hash.get(&hash) {
                    if now.duration_since(*at) < TOKEN_TTL {
                        return Ok(*viewer);
                    }
                }
                valid.forgets
            }
            Err(_) => u64::MAX,
        };
        let viewer = lookup(db, &hash).await?;
        if let Ok(mut valid) = self.valid.lock() {
            if valid.forgets == forgets {
                if valid.by_hash.len() >= TOKEN_CACHE_LIMIT {
                    valid.by_hash.clear();
                }
                valid.by_hash.insert(hash, (viewer, now));
            }
        }
        Ok(viewer)
    }

    /// Stops trusting the token whose hash is `token_hash` (it was revoked).
    pub fn forget(&self, token_hash: &str) {
        if let Ok(mut valid) = self.valid.lock() {
            valid.by_hash.remove(token_hash);
            valid.forgets += 1;
        }
    }

    /// Stops trusting every cached token (revocations may have been missed).
    pub fn forget_all(&self) {
        if let Ok(mut valid) = self.valid.lock() {
            valid.by_hash.clear();
            valid.forgets += 1;
        }
    }

    /// Whether token `id`'s use at `now` should be noted: true at most once per
    /// `USE_NOTED_EVERY` per token.
    pub fn use_to_note(&self, id: i32, now: Instant) -> bool {
        let Ok(mut noted) = self.noted.lock() else {
            return false;
        };
        if noted
            .get(&id)
            .is_some_and(|at| now.duration_since(*at) < USE_NOTED_EVERY)
        {
            return false;
        }
        if noted.len() >= TOKEN_CACHE_LIMIT {
            noted.clear();
        }
        noted.insert(id, now);
        true
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
}

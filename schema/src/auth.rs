//! Organizations and their API tokens: creation, hashing (only a SHA-256 hash is stored) and
//! turning a bearer token into the organization it belongs to, with a short-lived cache of tokens
//! found valid.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use buildhooks_entity::organization;
use buildhooks_store::orgs;
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

/// Stores a new token for `org_id` and returns it; it is never readable again.
pub async fn issue_token(db: &impl ConnectionTrait, org_id: i32) -> Result<String> {
    let token = generate_token();
    orgs::insert_token(db, org_id, &hash_token(&token), now_ms()).await?;
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
    orgs::token_org(db, token_hash)
        .await?
        .map(|(org_id, token_id)| Viewer {
            org_id,
            token_id: Some(token_id),
        })
        .ok_or(Error::Unauthenticated)
}

/// How long a token found valid is trusted without asking the database again. Tokens are never
/// deleted by the API today; a token removed from the database directly stops working within
/// this time. Unknown tokens are never cached: each one is looked up.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Most tokens remembered; the cache is emptied when full.
const TOKEN_CACHE_LIMIT: usize = 10_000;

/// Tokens found valid in the last `TOKEN_TTL`, by hash: one lookup fewer per API request.
#[derive(Default)]
pub struct TokenCache {
    valid: Mutex<HashMap<String, (Viewer, Instant)>>,
}

impl TokenCache {
    /// As `authenticate`, answering from the cache while the entry is fresh.
    pub async fn authenticate(&self, db: &impl ConnectionTrait, token: &str) -> Result<Viewer> {
        let hash = hash_token(token.trim());
        let now = Instant::now();
        if let Some((viewer, at)) = self.valid.lock().ok().and_then(|m| m.get(&hash).copied()) {
            if now.duration_since(at) < TOKEN_TTL {
                return Ok(viewer);
            }
        }
        let viewer = lookup(db, &hash).await?;
        if let Ok(mut valid) = self.valid.lock() {
            if valid.len() >= TOKEN_CACHE_LIMIT {
                valid.clear();
            }
            valid.insert(hash, (viewer, now));
        }
        Ok(viewer)
    }
}

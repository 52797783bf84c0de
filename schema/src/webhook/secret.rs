//! Endpoint secrets: generation (`whsec_` + base64 of 32 random bytes, Standard Webhooks form),
//! checking a chosen one, and the mask shown instead of a saved secret.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The prefix of every mask; a secret sent back with it means "unchanged".
pub const MASK_PREFIX: &str = "********";

/// A new secret: `whsec_` and base64 of 32 random bytes.
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// What clients see of a saved secret: a fixed prefix and a short fingerprint of its hash, which
/// tells two secrets apart without revealing a character of either.
pub fn mask(secret: &str) -> String {
    let digest = hex::encode(Sha256::digest(secret.as_bytes()));
    format!("{MASK_PREFIX}{}", &digest[..6])
}

/// Is this input a mask rather than a secret?
pub fn is_mask(input: &str) -> bool {
    input.starts_with(MASK_PREFIX)
}

/// Checks a secret chosen by the user.
pub fn validate(secret: &str) -> Result<(), String> {
    if secret.len() > 256 {
        return Err("a secret has at most 256 characters".into());
    }
    if secret.chars().any(|c| c.is_control()) {
        return Err("a secret cannot contain control characters".into());
    }
    if buildhooks_store::secrets::vault::is_sealed(secret) {
        // What the database stores sealed values as: it would not be taken for a secret.
        return Err(format!(
            "a secret cannot start with {:?}",
            buildhooks_store::secrets::vault::SEALED_PREFIX
        ));
    }
    if let Some(b64) = secret.strip_prefix("whsec_") {
        let decoded = base64::engine::general_purpose::STANDARD.decode(b64);
        if !decoded.is_ok_and(|k| k.len() >= 16) {
            return Err("a whsec_ secret is base64 of at least 16 bytes".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_are_valid_and_masked_without_leaking() {
        let s = generate();
        assert!(s.starts_with("whsec_"));
        assert_eq!(validate(&s), Ok(()));
        let m = mask(&s);
        assert!(is_mask(&m));
        assert!(!m.contains(&s[6..12]));
        assert_ne!(mask(&generate()), m);
    }
}

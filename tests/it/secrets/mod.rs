//! Secrets at rest and secret rotation (issue 19, items 5 and 6): a database dump taken with the
//! database's own tool (`sqlite3 .dump`, `pg_dump`) after saving endpoints with secrets and
//! delivering to them shows none of them, and the deliveries still verify (`at_rest`); values
//! an older version left in clear are sealed at start, the key comes from where the contract
//! says, and `buildhooks secrets rotate-key` moves every value to a new key (`keys`); a rotated
//! endpoint signs with both secrets during the overlap and with the new one after it, checked
//! with the Standard Webhooks recipe computed here (`rotation`).

mod at_rest;
mod keys;
mod rotation;

use std::process::Command;

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::utils::database::TestDatabase;
use crate::utils::receiver::Received;

/// The whole database as its own dump tool prints it: `sqlite3 <file> .dump`, or `pg_dump`.
pub fn dump(db: &TestDatabase) -> String {
    let out = match db.url.strip_prefix("sqlite://") {
        Some(rest) => {
            let path = rest.split_once('?').map_or(rest, |(p, _)| p);
            Command::new("sqlite3")
                .args([path, ".dump"])
                .output()
                .expect("run sqlite3 (.ci/run installs it)")
        }
        None => Command::new("pg_dump")
            .args(["--no-owner", "--dbname", &db.url])
            .output()
            .expect("run pg_dump (postgresql-client)"),
    };
    assert!(
        out.status.success(),
        "dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("a dump is text");
    assert!(text.contains("webhook_endpoint"), "not a dump: {text:.200}");
    text
}

/// Asserts that `dump` holds none of `secrets` (named in the failure, never printed whole).
pub fn holds_none(dump: &str, secrets: &[(&str, &str)]) {
    for (what, secret) in secrets {
        assert!(secret.len() >= 8, "{what}: too short to search for");
        assert!(!dump.contains(secret), "the dump shows {what} in clear");
    }
}

// Standard Webhooks, "Verifying webhook authenticity",
// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md:
// the signed content is "{webhook-id}.{webhook-timestamp}.{body}", the key is the base64-decoded
// part of the secret after `whsec_`, and `webhook-signature` is a space-separated list of
// `v1,<base64 HMAC-SHA256>`, one per key during a rotation: the message verifies when any
// entry equals the signature computed with the receiver's key.
pub fn standard_verifies(whsec: &str, hit: &Received) -> bool {
    let (Some(id), Some(timestamp), Some(header)) = (
        hit.header("webhook-id"),
        hit.header("webhook-timestamp"),
        hit.header("webhook-signature"),
    ) else {
        return false;
    };
    let key = base64::engine::general_purpose::STANDARD
        .decode(whsec.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 after whsec_");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(&hit.body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    header.split(' ').any(|entry| entry == expected)
}

// Cirrus CI, "Securing WebHooks" (cirruslabs/cirrus-ci-docs, docs/api.md): the lower-case hex
// HMAC-SHA256 of the raw body, keyed with the secret's bytes.
pub fn cirrus_verifies(secret: &str, hit: &Received) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(&hit.body);
    hit.header("x-cirrus-signature").as_deref() == Some(&hex::encode(mac.finalize().into_bytes()))
}

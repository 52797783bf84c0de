//! The crate used as a receiver author uses it: a project outside this workspace (its own
//! `[workspace]`, the crate as a path dependency with default features) is built with cargo and
//! its binary verifies deliveries whose signatures this test computes from the documented
//! recipes alone (hmac + sha2, not the crate's signer), and refuses tampered ones.
//!
//! The project and its target directory live in `CARGO_TARGET_TMPDIR` (under the workspace's
//! target directory), so only the first run compiles the dependencies; the workspace's
//! `Cargo.lock` is copied in, so the versions are the ones already downloaded and the build
//! runs `--offline`.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const MANIFEST: &str = r#"[package]
name = "outside-receiver"
version = "0.0.0"
edition = "2021"
publish = false

# Its own workspace: nothing is inherited from the repository around the crate.
[workspace]

[dependencies]
buildhooks-receiver = { path = "RECEIVER" }
axum = "0.8"
"#;

/// A receiver author's program: the README's calls, and the extractor type in a router.
const MAIN: &str = r#"use buildhooks_receiver::{parse_payload, verify_message, VerifiedWebhook};

async fn hook(webhook: VerifiedWebhook) -> String {
    webhook.event
}

fn main() {
    // Builds the README's router: the extractor works with the state type given here.
    let _app: axum::Router = axum::Router::new()
        .route("/webhook", axum::routing::post(hook))
        .with_state("my secret".to_owned());

    let mut args = std::env::args().skip(1);
    let (secret, body) = (args.next().unwrap_or_default(), args.next().unwrap_or_default());
    let pairs: Vec<(String, String)> = args
        .filter_map(|pair| pair.split_once('=').map(|(n, v)| (n.to_owned(), v.to_owned())))
        .collect();
    let header = |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    match verify_message(&secret, header, body.as_bytes(), now) {
        Ok(()) => match parse_payload(body.as_bytes()) {
            Ok(payload) => println!("verified {:?} was {:?}", payload.action, payload.old_status),
            Err(error) => println!("verified, unparsed: {error}"),
        },
        Err(error) => {
            println!("refused: {error}");
            std::process::exit(1);
        }
    }
}
"#;

const BODY: &str = r#"{"action":"updated","old_status":"EXECUTING","data":{}}"#;
const PLAIN_SECRET: &str = "s3cret";
const WHSEC: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Writes the project and builds it; returns the binary.
fn build_outside_project() -> PathBuf {
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("outside-workspace");
    let project = root.join("project");
    std::fs::create_dir_all(project.join("src")).unwrap();
    let receiver = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .unwrap();
    let manifest = MANIFEST.replace("RECEIVER", &receiver.display().to_string());
    std::fs::write(project.join("Cargo.toml"), manifest).unwrap();
    std::fs::write(project.join("src/main.rs"), MAIN).unwrap();
    let lock = receiver.join("../Cargo.lock");
    std::fs::copy(&lock, project.join("Cargo.lock")).expect("the workspace's Cargo.lock");

    let target = root.join("target");
    let started = Instant::now();
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--offline", "--quiet"])
        .current_dir(&project)
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .expect("run cargo");
    eprintln!("outside project built in {:?}", started.elapsed());
    assert!(
        output.status.success(),
        "cargo build outside the workspace failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    target.join("debug/outside-receiver")
}

fn run(binary: &Path, secret: &str, body: &str, headers: &[(&str, String)]) -> (bool, String) {
    let output = Command::new(binary)
        .arg(secret)
        .arg(body)
        .args(
            headers
                .iter()
                .map(|(name, value)| format!("{name}={value}")),
        )
        .output()
        .expect("run the outside binary");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
    )
}

#[test]
fn a_project_outside_the_workspace_builds_against_the_crate_and_verifies_deliveries() {
    let binary = build_outside_project();

    // X-Cirrus-Signature: hex HMAC-SHA256 of the body, keyed with the secret's bytes.
    let cirrus = hex::encode(hmac_sha256(PLAIN_SECRET.as_bytes(), &[BODY.as_bytes()]));
    let signed = [("x-cirrus-signature", cirrus.clone())];
    assert_eq!(
        run(&binary, PLAIN_SECRET, BODY, &signed),
        (true, r#"verified Updated was Some("EXECUTING")"#.to_owned())
    );
    let tampered = BODY.replace("EXECUTING", "COMPLETED");
    assert_eq!(
        run(&binary, PLAIN_SECRET, &tampered, &signed),
        (false, "refused: invalid signature".to_owned())
    );
    assert_eq!(
        run(&binary, PLAIN_SECRET, BODY, &[]),
        (
            false,
            "refused: missing x-cirrus-signature header".to_owned()
        )
    );

    // Standard Webhooks: base64 HMAC-SHA256 over `id.timestamp.body`, keyed with the decoded
    // whsec_ secret, the timestamp within five minutes of now.
    let key = BASE64.decode(&WHSEC["whsec_".len()..]).unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let standard = |timestamp: u64| {
        let ts = timestamp.to_string();
        let mac = hmac_sha256(&key, &[b"msg-1.", ts.as_bytes(), b".", BODY.as_bytes()]);
        [
            ("webhook-id", "msg-1".to_owned()),
            ("webhook-timestamp", ts),
            ("webhook-signature", format!("v1,{}", BASE64.encode(mac))),
        ]
    };
    assert!(run(&binary, WHSEC, BODY, &standard(now)).0);
    assert_eq!(
        run(&binary, WHSEC, BODY, &standard(now - 3600)),
        (false, "refused: timestamp out of tolerance".to_owned())
    );
}

//! The SSRF guard end to end (issue 13), on a server with private targets NOT allowed: every
//! address class that is, embeds or translates to a blocked address (and names, with or without
//! a trailing dot, that resolve to loopback) is refused when saved, and refused again at connect
//! time for rows that got past the save check, while trap listeners on loopback see no connection.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::{
    error_code, insert_unchecked_endpoints, save_endpoints, settled_deliveries, TestApp,
};

/// A listener that records every connection it accepts.
struct Trap {
    port: u16,
    accepted: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Trap {
    async fn bind(addr: &str) -> Option<Trap> {
        let listener = tokio::net::TcpListener::bind(addr).await.ok()?;
        let port = listener.local_addr().ok()?.port();
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let seen = accepted.clone();
        tokio::spawn(async move {
            while let Ok((_, peer)) = listener.accept().await {
                seen.lock().expect("lock").push(peer);
            }
        });
        Some(Trap { port, accepted })
    }

    fn connections(&self) -> Vec<SocketAddr> {
        self.accepted.lock().expect("lock").clone()
    }
}

/// The trap on 127.0.0.1, and the one on [::1] when the machine has IPv6 loopback.
async fn traps() -> (Trap, Option<Trap>) {
    let v4 = Trap::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
    (v4, Trap::bind("[::1]:0").await)
}

/// One URL per class. The first ones would reach a trap if they were not refused.
fn targets(port: u16, port6: u16) -> Vec<String> {
    let mut urls: Vec<String> = [
        "127.0.0.1",
        "0.0.0.0",
        "0x7f.1",
        "[::ffff:127.0.0.1]",
        "localhost",
        "localhost.",
        "LocalHost.",
    ]
    .iter()
    .map(|host| format!("http://{host}:{port}/"))
    .collect();
    urls.push(format!("http://[::1]:{port6}/"));
    urls.push(format!("http://[::]:{port6}/"));
    // IPv4-translated, IPv4-compatible, NAT64 (both prefixes), 6to4 and Teredo (client
    // 127.0.0.1) carrying loopback or the metadata address; then the special-purpose registries.
    let others = "[::ffff:0:7f00:1] [::7f00:1] [64:ff9b::7f00:1] [64:ff9b::a9fe:a9fe]
        [64:ff9b:1::7f00:1] [2002:7f00:1::] [2002:a9fe:a9fe::] [2001:0:4136:e378:8000:63bf:80ff:fffe]
        10.0.0.1 100.64.0.1 169.254.169.254 172.16.0.1 192.0.0.8 192.0.2.1 192.88.99.1 192.168.1.1
        198.18.0.1 198.51.100.1 203.0.113.1 224.0.0.1 240.0.0.1 255.255.255.255 [100::1]
        [2001:db8::1] [2001:10::1] [2001:20::1] [3fff::1] [5f00::1] [fc00::1] [fe80::1] [fec0::1]
        [ff02::1]";
    urls.extend(
        others
            .split_whitespace()
            .map(|host| format!("http://{host}:{port}/")),
    );
    urls
}

/// What each attempt of a delivery came to: its status, or its error kind.
fn outcomes(delivery: &Value) -> Vec<Value> {
    let attempts = delivery["attempts"].as_array().expect("attempts");
    attempts
        .iter()
        .map(|a| match a["status"].is_null() {
            true => a["error"].clone(),
            false => a["status"].clone(),
        })
        .collect()
}

fn assert_untouched(trap: &Trap, trap6: &Option<Trap>) {
    assert_eq!(trap.connections(), [], "a connection reached 127.0.0.1");
    if let Some(trap6) = trap6 {
        assert_eq!(trap6.connections(), [], "a connection reached [::1]");
    }
}

#[tokio::test]
async fn every_blocked_class_is_refused_when_saved() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let (trap, trap6) = traps().await;
    let port6 = trap6.as_ref().map_or(trap.port, |t| t.port);
    for url in targets(trap.port, port6) {
        let resp = save_endpoints(&app, &app.org, json!([{ "webhookURL": url }])).await;
        assert_eq!(error_code(&resp), Some("VALIDATION"), "{url}: {resp}");
        let field = &resp["errors"][0]["extensions"]["field"];
        assert_eq!(field, "deliveryEndpoints[0].webhookURL", "{url}: {resp}");
    }
    // The guard refuses classes, not everything.
    let public = json!([{ "webhookURL": "https://8.8.8.8/hook" },
        { "webhookURL": "https://[2606:4700::1111]/hook" }]);
    let saved = save_endpoints(&app, &app.org, public).await;
    assert!(saved.get("errors").is_none(), "{saved}");
    assert_untouched(&trap, &trap6);
}

#[tokio::test]
async fn every_blocked_class_is_refused_at_connect_time_and_nothing_connects() {
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let (trap, trap6) = traps().await;
    let port6 = trap6.as_ref().map_or(trap.port, |t| t.port);
    let urls = targets(trap.port, port6);
    let ids = insert_unchecked_endpoints(&app, &urls).await;
    let dotted = urls
        .iter()
        .position(|u| u.starts_with("http://localhost.:"))
        .map(|i| ids[i]);
    let repo = app.create_repository("ssrf").await;
    app.create_build(&repo, &[("a", false)], false).await;
    let all = settled_deliveries(&app, urls.len()).await;
    assert_eq!(all.len(), urls.len());
    for d in &all {
        assert_eq!(d["state"], "FAILED", "{d}");
        let url = &d["webhookURL"];
        assert_eq!(
            outcomes(d),
            [json!("blocked_target")],
            "{url}: not sent, not retried"
        );
    }
    // A ping is sent at once, by another path: the trailing-dot name is refused there too.
    let endpoint = dotted.expect("the localhost. row").to_string();
    let ping = app
        .ok(
            "mutation($i: WebhookPingInput!) { webhookPing(input: $i) { delivery { state attempts { status error } } } }",
            json!({ "i": { "ownerUid": app.org.uid, "endpointId": endpoint } }),
        )
        .await;
    let d = &ping["webhookPing"]["delivery"];
    assert_eq!(d["state"], "FAILED", "{ping}");
    assert_eq!(outcomes(d), [json!("blocked_target")], "{ping}");
    // Nothing reached a trap, not even late.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_untouched(&trap, &trap6);
}

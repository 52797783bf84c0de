//! The settings page in a real headless Chromium (Debian's `chromium` and `chromium-driver`,
//! driven over WebDriver): sign in, add an endpoint, generate a secret, ping, watch a build's
//! deliveries arrive, open one, redeliver; a wrong token and a blocked URL are refused. Saves
//! screenshots under `target/screenshots/`. Without Chromium and outside CI it is skipped with a
//! message; under `CI=true` it always runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::utils::{Receiver, TestApp};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find(names: &[&str]) -> Option<PathBuf> {
    names
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| {
            names.iter().find_map(|n| {
                let out = Command::new("which")
                    .arg(Path::new(n).file_name()?)
                    .output()
                    .ok()?;
                out.status
                    .success()
                    .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            })
        })
}

/// Chromium and its driver, or a reason to skip (outside CI only).
fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let chromium = find(&["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
    let driver = find(&["/usr/bin/chromedriver"]);
    match (chromium, driver) {
        (Some(c), Some(d)) => Some((c, d)),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but Chromium or chromedriver is missing: .ci/run installs them (apt-get install chromium chromium-driver)")
        }
        _ => {
            println!("skipped: the browser test needs Chromium; run `apt-get install -y chromium chromium-driver`, then `cargo test -p buildhooks-tests browser`");
            None
        }
    }
}

async fn start_browser(chromium: &Path, driver: &Path, profile: &Path) -> (Driver, Client) {
    // Two rustls crypto providers are linked (ring for reqwest, aws-lc-rs for the WebDriver
    // client): pick one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let driver_guard = Driver(child);
    let caps = json!({ "goog:chromeOptions": {
        "binary": chromium.display().to_string(),
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--window-size=1280,900", format!("--user-data-dir={}", profile.display())],
    }});
    let caps = caps.as_object().expect("object").clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match ClientBuilder::rustls()
            .expect("tls")
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => return (driver_guard, client),
            Err(e) if Instant::now() > deadline => panic!("cannot start Chromium: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Waits until the element matching `css` is displayed and its text contains `needle`.
async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(elements) = c.find_all(Locator::Css(css)).await {
            for e in elements {
                if e.is_displayed().await.unwrap_or(false) {
                    last = e.text().await.unwrap_or_default();
                    if last.contains(needle) {
                        return last;
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{css} never showed {needle:?} (last text: {last:?})");
}

/// Waits until the value of input `css` starts with `prefix`; returns the value.
async fn wait_value(c: &Client, css: &str, prefix: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            last = e.prop("value").await.ok().flatten().unwrap_or_default();
            if last.starts_with(prefix) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

async fn click(c: &Client, css: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if e.is_displayed().await.unwrap_or(false) && e.click().await.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "cannot click {css}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.expect("screenshot")).expect("write screenshot");
    println!("screenshot: {}", path.display());
    path
}

async fn sign_in(c: &Client, app: &TestApp, token: &str) {
    c.goto(&app.url(&format!("/settings/{}", app.org.uid)))
        .await
        .expect("open page");
    fill(c, "#token", token).await;
    click(c, "#signin-submit").await;
}

#[tokio::test]
async fn settings_page_end_to_end_in_chromium() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    let repo = app.create_repository("web").await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;

    // A wrong token is refused.
    sign_in(&c, &app, "bh_not-a-real-token").await;
    wait_text(&c, "#signin-error", "not valid").await;

    // Sign in, add an endpoint with a generated secret.
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    click(&c, "#add-endpoint").await;
    fill(&c, "#ep-url", &receiver.url()).await;
    click(&c, "#ep-generate").await;
    click(&c, "#ep-save").await;
    // The dialog is in the page from the start: wait until the save has filled it.
    let secret = wait_value(&c, "#secret-value", "whsec_").await;
    assert!(
        secret.starts_with("whsec_"),
        "generated secret shown once: {secret:?}"
    );
    click(&c, "#secret-done").await;
    wait_text(&c, "#endpoint-list", &receiver.url()).await;
    let page = c.source().await.expect("source");
    assert!(
        !page.contains(&secret),
        "the secret is gone from the page after Done"
    );

    // Ping succeeds.
    click(&c, "#endpoint-0 .ep-ping").await;
    wait_text(&c, "#endpoint-0 .ping-result", "200").await;
    screenshot(&c, "settings-endpoints-desktop").await;
    assert_eq!(
        receiver.received()[0].header("x-cirrus-event").as_deref(),
        Some("ping")
    );
    assert_eq!(
        buildhooks_receiver::verify_cirrus(
            secret.as_bytes(),
            &receiver.received()[0].body,
            &receiver.received()[0]
                .header("x-cirrus-signature")
                .expect("signed")
        ),
        Ok(())
    );

    // Drive a build through the API; its deliveries appear.
    let (_, tasks) = app.create_build(&repo, &[("test", false)], false).await;
    app.move_task(&tasks[0], &["TRIGGERED", "EXECUTING", "COMPLETED"])
        .await;
    receiver.wait_for(1 + 8, Duration::from_secs(10)).await;
    // Refresh until the table shows them (the first look may still be the earlier page).
    let deadline = Instant::now() + Duration::from_secs(15);
    let rows = loop {
        click(&c, "#deliveries-refresh").await;
        wait_text(&c, "#deliveries-body", "DELIVERED").await;
        let rows = c
            .find_all(Locator::Css("#deliveries-body tr[data-id]"))
            .await
            .expect("rows");
        if rows.len() >= 9 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(rows.len() >= 9, "ping + 8 events, got {}", rows.len());

    // Open one, redeliver, see a second attempt.
    click(&c, "#deliveries-body tr[data-id] .delivery-details").await;
    wait_text(&c, "#delivery-headers", "x-cirrus-signature").await;
    let attempts = c
        .find_all(Locator::Css("#delivery-attempts .attempt-row"))
        .await
        .expect("attempts");
    assert_eq!(attempts.len(), 1);
    screenshot(&c, "settings-delivery-detail-desktop").await;
    click(&c, "#delivery-redeliver").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = c
            .find_all(Locator::Css("#delivery-attempts .attempt-row"))
            .await
            .map(|v| v.len())
            .unwrap_or(0);
        if n == 2 {
            break;
        }
        assert!(Instant::now() < deadline, "no second attempt shown ({n})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Phone width.
    c.set_window_size(375, 812).await.expect("resize");
    screenshot(&c, "settings-delivery-detail-375").await;
    c.execute("document.getElementById('delivery-close').click()", vec![])
        .await
        .expect("close");
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(overflow, json!(true), "no horizontal scrolling at 375 px");
    screenshot(&c, "settings-endpoints-375").await;
    c.close().await.expect("close browser");
}

#[tokio::test]
async fn a_blocked_url_shows_its_error_beside_the_field_and_keeps_the_input() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn_with(|c| c.allow_private_targets = false).await;
    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    click(&c, "#add-endpoint").await;
    let url = "http://169.254.169.254/latest/meta-data/";
    fill(&c, "#ep-url", url).await;
    fill(&c, "#ep-events", "task.failed").await;
    click(&c, "#ep-save").await;
    let message = wait_text(&c, "#ep-url-error", "metadata").await;
    assert!(!message.contains("deliveryEndpoints"), "{message}");
    let kept = c
        .find(Locator::Css("#ep-url"))
        .await
        .expect("url")
        .prop("value")
        .await
        .expect("value");
    assert_eq!(kept.as_deref(), Some(url), "what the user typed is kept");
    let invalid = c
        .find(Locator::Css("#ep-url"))
        .await
        .expect("url")
        .attr("aria-invalid")
        .await
        .expect("attr");
    assert_eq!(invalid.as_deref(), Some("true"));
    let saved = app
        .ok(
            "{ ownerInfo { webhookSettings { endpoints { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        saved["ownerInfo"]["webhookSettings"]["endpoints"],
        json!([])
    );
    c.close().await.expect("close browser");
}

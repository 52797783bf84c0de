//! Driving the settings page in a real headless Chromium (Debian's `chromium` and
//! `chromium-driver`, over WebDriver): finding and starting the browser (or skipping outside CI),
//! waiting for text, clicking, filling, signing in, screenshots under `target/screenshots/`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::TestApp;

/// The chromedriver process, killed when dropped.
pub struct Driver(Child);

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
pub fn browser_paths() -> Option<(PathBuf, PathBuf)> {
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

pub async fn start_browser(chromium: &Path, driver: &Path, profile: &Path) -> (Driver, Client) {
    start_browser_with(chromium, driver, profile, &[]).await
}

/// As `start_browser`, with Chromium's `extra` arguments after the usual ones.
pub async fn start_browser_with(
    chromium: &Path,
    driver: &Path,
    profile: &Path,
    extra: &[&str],
) -> (Driver, Client) {
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
    let mut caps = caps;
    if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
        args.extend(extra.iter().map(|a| json!(a)));
    }
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

/// Waits until the element matching `css` is displayed and its text contains `needle` (30 s:
/// a test message to a robot may wait for the robot's pace).
pub async fn wait_text(c: &Client, css: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
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
pub async fn wait_value(c: &Client, css: &str, prefix: &str) -> String {
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

/// The `value` property of the element `css` names ("" when it has none).
pub async fn value(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .prop("value")
        .await
        .expect("value")
        .unwrap_or_default()
}

/// Whether the element `css` names is shown.
pub async fn displayed(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .is_displayed()
        .await
        .expect("displayed")
}

pub async fn click(c: &Client, css: &str) {
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

pub async fn fill(c: &Client, css: &str, text: &str) {
    let e = c.wait().for_element(Locator::Css(css)).await.expect(css);
    e.clear().await.expect("clear");
    e.send_keys(text).await.expect("type");
}

pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, c.screenshot().await.expect("screenshot")).expect("write screenshot");
    println!("screenshot: {}", path.display());
    path
}

pub async fn sign_in(c: &Client, app: &TestApp, token: &str) {
    c.goto(&app.url(&format!("/settings/{}", app.org.uid)))
        .await
        .expect("open page");
    fill(c, "#token", token).await;
    click(c, "#signin-submit").await;
}

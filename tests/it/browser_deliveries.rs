//! The settings page's deliveries view in a real headless Chromium, at 1280x900 and 375x812:
//! a build's deliveries to two endpoints of a real receiver (one answers 200, one 400, both with
//! their own response header), paged Older and Newer, filtered by endpoint, by state and by
//! event; a delivery's detail shows the request and each attempt's response headers. On a
//! phone the state and the details button of every row stay inside the viewport. Screenshots:
//! `target/screenshots/deliveries-1280.png` and `deliveries-375.png` (kept).

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};
use serde_json::{json, Value};

use crate::deliveries_view::header_receiver;
use crate::utils::browser::{
    browser_paths, click, fill, screenshot, sign_in, start_browser, wait_text,
};
use crate::utils::{save_endpoints, settled_deliveries, TestApp};

/// What each shown row says: id, endpoint, state, event, status change.
async fn rows(c: &Client) -> Vec<Value> {
    let v = c
        .execute(
            "return [...document.querySelectorAll('#deliveries-body tr')].map((r) => ({
               id: r.dataset.id, url: r.querySelector('.endpoint-cell').textContent,
               state: r.querySelector('.state-cell').textContent,
               event: r.querySelector('.event-cell').textContent,
               change: r.querySelector('.change-cell').textContent }))",
            vec![],
        )
        .await
        .expect("rows");
    v.as_array().expect("array").clone()
}

/// Waits until the shown rows satisfy `ok` (and there is at least one); returns them.
async fn wait_rows(c: &Client, what: &str, ok: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let shown = rows(c).await;
        if !shown.is_empty() && ok(&shown) {
            return shown;
        }
        assert!(Instant::now() < deadline, "{what}: {shown:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Scrolls the element `css` names into view.
async fn show(c: &Client, css: &str) {
    c.execute(
        "document.querySelector(arguments[0]).scrollIntoView()",
        vec![json!(css)],
    )
    .await
    .expect("scroll");
}

async fn select(c: &Client, css: &str, value: &str) {
    c.find(Locator::Css(css))
        .await
        .expect(css)
        .select_by_value(value)
        .await
        .expect("select");
}

#[tokio::test]
async fn deliveries_view_filters_pages_and_fits_a_phone() {
    let Some((chromium, driver)) = browser_paths() else {
        return;
    };
    let app = TestApp::spawn().await;
    let base = header_receiver().await;
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([{ "webhookURL": format!("{base}/ok"), "events": ["*"] },
               { "webhookURL": format!("{base}/fail"), "events": ["task.*"] }]),
    )
    .await;
    let eps = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"];
    let ok_ep = eps[0]["id"].as_str().expect("id").to_owned();
    let fail_ep = eps[1]["id"].as_str().expect("id").to_owned();
    let repo = app.create_repository("phone").await;
    let (_, tasks) = app
        .create_build(
            &repo,
            &[("lint", false), ("test", false), ("docs", false)],
            false,
        )
        .await;
    for task in &tasks {
        app.move_task(task, &["TRIGGERED", "EXECUTING", "COMPLETED"])
            .await;
    }
    // 3 tasks x 4 events to both endpoints, and the build's own events to the first.
    let all = settled_deliveries(&app, 27).await;
    assert!(all.len() > 20, "more than a page: {}", all.len());

    let profile = tempfile::tempdir().expect("profile");
    let (_driver, c) = start_browser(&chromium, &driver, profile.path()).await;
    sign_in(&c, &app, &app.org.token).await;
    wait_text(&c, "#org-name", &app.org.name).await;
    let newest = wait_rows(&c, "the newest page", |r| r.len() == 20).await;

    // Older, then Newer: back to the same page.
    click(&c, "#deliveries-older").await;
    let older = wait_rows(&c, "the older page", |r| r[0]["id"] != newest[0]["id"]).await;
    assert_eq!(older.len(), all.len() - 20);
    assert!(
        !newest.iter().any(|n| older.contains(n)),
        "pages do not overlap"
    );
    click(&c, "#deliveries-newer").await;
    let again = wait_rows(&c, "newer again", |r| r[0]["id"] == newest[0]["id"]).await;
    assert_eq!(
        again.iter().map(|r| &r["id"]).collect::<Vec<_>>(),
        newest.iter().map(|r| &r["id"]).collect::<Vec<_>>()
    );

    // By endpoint, then by state, then by event.
    select(&c, "#df-endpoint", &fail_ep).await;
    let failing = wait_rows(&c, "the failing endpoint's", |r| {
        r.iter()
            .all(|x| x["url"].as_str().is_some_and(|u| u.ends_with("/fail")))
    })
    .await;
    assert_eq!(failing.len(), 12, "{failing:?}");
    select(&c, "#df-endpoint", &ok_ep).await;
    wait_rows(&c, "the healthy endpoint's", |r| {
        r.iter()
            .all(|x| x["url"].as_str().is_some_and(|u| u.ends_with("/ok")))
    })
    .await;
    select(&c, "#df-endpoint", "").await;
    select(&c, "#df-state", "FAILED").await;
    let failed = wait_rows(&c, "failed ones", |r| {
        r.len() == 12 && r.iter().all(|x| x["state"] == "FAILED")
    })
    .await;
    assert!(failed
        .iter()
        .all(|x| x["url"].as_str().is_some_and(|u| u.ends_with("/fail"))));
    select(&c, "#df-state", "DELIVERED").await;
    fill(&c, "#df-event", "task.completed").await;
    click(&c, "#df-apply").await;
    let done = wait_rows(&c, "task.completed, delivered", |r| {
        r.len() == 3 && r.iter().all(|x| x["state"] == "DELIVERED")
    })
    .await;
    for row in &done {
        assert_eq!(row["event"], "task.updated");
        assert_eq!(row["change"], "EXECUTING → COMPLETED");
    }

    // A delivery's detail: the request, and the receiver's header in the attempt's response.
    click(&c, "#deliveries-body tr[data-id] .delivery-details").await;
    wait_text(&c, "#delivery-attempts", "x-receiver-id").await;
    let attempts = wait_text(&c, "#delivery-attempts", "r-42").await;
    assert!(attempts.contains("HTTP 200"), "{attempts}");
    assert!(
        !attempts.contains("s3cret"),
        "the cookie is never stored: {attempts}"
    );
    wait_text(&c, "#delivery-headers", "content-type").await;
    wait_text(&c, "#delivery-body", "COMPLETED").await;
    show(&c, "#delivery-attempts").await;
    screenshot(&c, "deliveries-detail-1280").await;
    c.execute("document.getElementById('delivery-close').click()", vec![])
        .await
        .expect("close");
    click(&c, "#df-clear").await;
    wait_rows(&c, "cleared", |r| r.len() == 20).await;
    c.execute(
        "document.getElementById('deliveries').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    screenshot(&c, "deliveries-1280").await;

    // A phone: every row's state and details button inside the viewport, no sideways scroll.
    c.set_window_size(375, 812).await.expect("resize");
    c.execute(
        "document.getElementById('deliveries').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scroll");
    let fits = c
        .execute(
            "const w = window.innerWidth;
             const inside = (e) => { const b = e.getBoundingClientRect(); return b.width > 0 && b.left >= 0 && b.right <= w; };
             const rows = [...document.querySelectorAll('#deliveries-body tr')];
             return { w, rows: rows.length,
               states: rows.every((r) => inside(r.querySelector('.state-cell .badge'))),
               details: rows.every((r) => inside(r.querySelector('.delivery-details'))),
               scroll: document.documentElement.scrollWidth <= w + 1 };",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(fits["w"], 375, "{fits}");
    assert_eq!(fits["rows"], 20, "{fits}");
    assert_eq!(fits["states"], true, "{fits}");
    assert_eq!(fits["details"], true, "{fits}");
    assert_eq!(fits["scroll"], true, "{fits}");
    screenshot(&c, "deliveries-375").await;
    click(&c, "#deliveries-body tr[data-id] .delivery-details").await;
    wait_text(&c, "#delivery-attempts", "r-42").await;
    show(&c, "#delivery-attempts").await;
    screenshot(&c, "deliveries-detail-375").await;
    c.close().await.expect("close browser");
    app.stop().await;
}

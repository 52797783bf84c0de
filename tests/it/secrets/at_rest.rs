//! Secrets never reach the database in clear: endpoints with a generated `whsec_` secret, a
//! plain secret, a Slack robot (its URL is its secret) and a DingTalk robot (URL and signing
//! secret), and inbound sources (GitHub's secret, GitLab's token and signing secret) are saved
//! and delivered to; the deliveries verify with the secrets (recipes computed in the test), the
//! GitHub source still verifies a signed request, and the database's own dump shows none of the
//! secrets, only sealed values.

use std::time::Duration;

use serde_json::json;

use super::{cirrus_verifies, dump, holds_none, standard_verifies};
use crate::inbound::{
    fixture_json, github, github_source, gitlab_source, now_seconds, post, standard_signature,
    unique, JSON,
};
use crate::utils::robots::{Robot, Vendor};
use crate::utils::{save_endpoints, Receiver, TestApp};

#[tokio::test]
async fn a_dump_after_saving_and_delivering_shows_no_secret() {
    let app = TestApp::spawn_with(|c| c.throttle_scale = 0.01).await;
    let (signed, plain) = (Receiver::start(vec![]).await, Receiver::start(vec![]).await);
    let slack = Robot::start(Vendor::Slack, None).await;
    let ding_secret = format!("SEC{}", uuid::Uuid::new_v4().simple());
    let ding = Robot::start(Vendor::DingTalk, Some(&ding_secret)).await;
    let plain_secret = format!("plain-{}", uuid::Uuid::new_v4().simple());
    let saved = save_endpoints(
        &app,
        &app.org,
        json!([
            { "webhookURL": signed.url(), "generateSecret": true, "events": ["build.*"] },
            { "webhookURL": plain.url(), "secretToken": plain_secret, "events": ["build.*"] },
            slack.endpoint(&["build.*"]),
            ding.endpoint(&["build.*"]),
        ]),
    )
    .await;
    let endpoints = &saved["data"]["saveWebHookSettings"]["settings"]["endpoints"];
    let whsec = endpoints[0]["generatedSecretToken"]
        .as_str()
        .unwrap_or_else(|| panic!("a generated secret: {saved}"))
        .to_owned();
    // The settings show masks, never the secrets or a robot's token.
    let shown = endpoints.to_string();
    assert!(
        !shown.contains(&plain_secret) && !shown.contains(&slack.token),
        "{shown}"
    );
    let github_src = github_source(&app, &app.org).await;
    let gitlab_src = gitlab_source(&app, &app.org, true).await;

    let repo = app.create_repository("sealed").await;
    app.create_build(&repo, &[("test", false)], false).await;
    let got = signed.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        standard_verifies(&whsec, &got[0]),
        "Standard Webhooks signature"
    );
    assert!(cirrus_verifies(&whsec, &got[0]), "X-Cirrus-Signature");
    let got = plain.wait_for(1, Duration::from_secs(10)).await;
    assert!(
        cirrus_verifies(&plain_secret, &got[0]),
        "plain secret's signature"
    );
    assert!(got[0].header("webhook-signature").is_none());
    // The robots got their message at their own URLs, DingTalk's signed with its secret.
    assert_eq!(slack.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(ding.wait_for(1, Duration::from_secs(10)).await.len(), 1);
    assert_eq!(slack.problems(), Vec::<String>::new());
    assert_eq!(ding.problems(), Vec::<String>::new());
    // The GitHub source verifies a request signed with its (sealed) secret.
    let ping = json!({ "zen": "Sealed.", "hook_id": 1 }).to_string();
    let answer = github(&app, &github_src, "ping", ping.as_bytes()).await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    // The GitLab source checks its (sealed) token and signing secret: GitLab's documented
    // pipeline, signed as Standard Webhooks says, is taken; the same with another key is not.
    let body = serde_json::to_vec(&fixture_json("gitlab/pipeline.json")).expect("JSON");
    let signing = gitlab_src.signing_secret.clone().expect("signing secret");
    let (id, now) = (unique(), now_seconds());
    let send = |signature: String| {
        let (app, path, token, body, id) = (
            &app,
            gitlab_src.path(),
            gitlab_src.secret.clone(),
            body.clone(),
            id.clone(),
        );
        async move {
            let now = now.to_string();
            let headers = [
                JSON,
                ("x-gitlab-event", "Pipeline Hook"),
                ("x-gitlab-token", token.as_str()),
                ("webhook-id", id.as_str()),
                ("webhook-timestamp", now.as_str()),
                ("webhook-signature", signature.as_str()),
            ];
            post(app, &path, &headers, &body).await
        }
    };
    let forged = send(standard_signature(
        "whsec_AAAAAAAAAAAAAAAAAAAAAA==",
        &id,
        now,
        &body,
    ))
    .await;
    assert_eq!(forged.0, 401, "{}", forged.1);
    let answer = send(standard_signature(&signing, &id, now, &body)).await;
    assert_eq!(answer.0, 200, "{}", answer.1);

    let text = dump(&app.db);
    let whsec_key = whsec.trim_start_matches("whsec_");
    let gitlab_signing = gitlab_src.signing_secret.clone().expect("signing secret");
    holds_none(
        &text,
        &[
            ("the generated secret", &whsec),
            ("the generated secret's key", whsec_key),
            ("the plain secret", &plain_secret),
            ("Slack's URL", &slack.url()),
            ("Slack's token", &slack.token),
            ("DingTalk's token", &ding.token),
            ("DingTalk's signing secret", &ding_secret),
            ("the GitHub source's secret", &github_src.secret),
            ("the GitLab source's token", &gitlab_src.secret),
            ("the GitLab source's signing secret", &gitlab_signing),
        ],
    );
    // The secrets are there, sealed: 2 endpoint secrets, 2 robot URLs, DingTalk's secret and
    // the sources' three.
    assert!(
        text.matches("sealed:").count() >= 8,
        "sealed values in the dump"
    );
    app.stop().await;
}

//! Inbound CI sources (issue 16), end to end: GitHub Actions and GitLab CI hooks, signed in the
//! test with each vendor's documented recipe (never with buildhooks code), and generic JSON
//! senders with a mapping, become builds, tasks, events and signed outbound deliveries.
//! `sources` (the GraphQL API), `github`, `gitlab`, `generic`, `redelivery` (duplicates and
//! out-of-order reports), `refusals` (each refusal with its status, nothing written) and
//! `tenancy` (two organizations). The shapes follow the lead's contract
//! (`/work/notes/inbound-contract.md`). Shared here: sources through GraphQL, rows counted in the
//! database, outbound deliveries checked against their signature, the inbound log and metrics;
//! the sender's side (signing, posting, fixtures) is `utils::inbound`, re-exported.

mod generic;
mod github;
mod gitlab;
mod redelivery;
mod refusals;
mod rerun;
mod sources;
mod tenancy;

use std::time::Duration;

use buildhooks_entity::{build, event, repository, task, webhook_delivery};
use hmac::{Hmac, Mac};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::utils::receiver::Received;
use crate::utils::{save_endpoints, Org, Receiver, TestApp};

pub use crate::utils::inbound::*;

/// Every field of a source as the contract returns it.
pub const SOURCE_FIELDS: &str = "id kind name url repositoryId secretHint hasSigningSecret
    createdTimestamp mapping { externalId status repository branch commit title eventTime
    statuses { word status } }";

/// Every field of an inbound log entry.
pub const REQUEST_FIELDS: &str =
    "id sourceId receivedTimestamp event deliveryId result reason httpStatus buildId taskId";

/// `createInboundSource` as `org`; returns the whole response (errors included).
pub async fn create_source_as(app: &TestApp, org: &Org, input: Value) -> Value {
    app.gql_as(
        &org.token,
        &format!(
            "mutation($i: CreateInboundSourceInput!) {{ createInboundSource(input: $i) {{
                source {{ {SOURCE_FIELDS} }} secret signingSecret clientMutationId }} }}"
        ),
        json!({ "i": input }),
    )
    .await
}

/// `createInboundSource` as `org`, which must succeed.
pub async fn create_source(app: &TestApp, org: &Org, input: Value) -> Source {
    let resp = create_source_as(app, org, input).await;
    assert!(resp.get("errors").is_none(), "create refused: {resp}");
    let payload = &resp["data"]["createInboundSource"];
    Source {
        id: payload["source"]["id"].as_str().expect("id").to_owned(),
        secret: payload["secret"].as_str().expect("secret").to_owned(),
        signing_secret: payload["signingSecret"].as_str().map(str::to_owned),
        fields: payload["source"].clone(),
    }
}

/// A GitHub source of `org`.
pub async fn github_source(app: &TestApp, org: &Org) -> Source {
    create_source(app, org, json!({ "kind": "GITHUB", "name": "actions" })).await
}

/// A GitLab source of `org`, with a Standard Webhooks signing secret when `signing`.
pub async fn gitlab_source(app: &TestApp, org: &Org, signing: bool) -> Source {
    create_source(
        app,
        org,
        json!({ "kind": "GITLAB", "name": "gitlab", "signingSecret": signing }),
    )
    .await
}

/// The organization's sources, as `ownerInfo.inboundSources` lists them.
pub async fn sources(app: &TestApp, org: &Org) -> Vec<Value> {
    let resp = app
        .gql_as(
            &org.token,
            &format!("{{ ownerInfo {{ inboundSources {{ {SOURCE_FIELDS} }} }} }}"),
            json!({}),
        )
        .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["ownerInfo"]["inboundSources"]
        .as_array()
        .expect("sources")
        .clone()
}

/// The inbound log of `org` (of one source when given), newest first.
pub async fn inbound_requests(app: &TestApp, org: &Org, source: Option<&str>) -> Vec<Value> {
    let resp = app
        .gql_as(
            &org.token,
            &format!(
                "query($s: ID) {{ ownerInfo {{ inboundRequests(sourceId: $s, last: 200) {{
                    {REQUEST_FIELDS} }} }} }}"
            ),
            json!({ "s": source }),
        )
        .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["ownerInfo"]["inboundRequests"]
        .as_array()
        .expect("requests")
        .clone()
}

/// The `result` of each log entry, newest first.
pub fn results(log: &[Value]) -> Vec<String> {
    log.iter()
        .map(|r| r["result"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// Rows of the tables an inbound request may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rows {
    pub repositories: u64,
    pub builds: u64,
    pub tasks: u64,
    pub events: u64,
    pub deliveries: u64,
}

/// Counts rows, of one organization or (`None`) of the whole database, read directly.
pub async fn rows(app: &TestApp, org: Option<&Org>) -> Rows {
    let conn = app.state.store.conn();
    let org_id: Option<i32> = org.map(|o| o.uid.parse().expect("numeric uid"));
    macro_rules! count {
        ($entity:ident) => {{
            let mut find = $entity::Entity::find();
            if let Some(id) = org_id {
                find = find.filter($entity::Column::OrgId.eq(id));
            }
            find.count(conn).await.expect("count")
        }};
    }
    Rows {
        repositories: count!(repository),
        builds: count!(build),
        tasks: count!(task),
        events: count!(event),
        deliveries: count!(webhook_delivery),
    }
}

/// One endpoint of `org` for `build.*` and `task.*` at `receiver`, signed with `secret`.
pub async fn endpoint(app: &TestApp, org: &Org, receiver: &Receiver, secret: &str) {
    let saved = save_endpoints(
        app,
        org,
        json!([{ "webhookURL": receiver.url(), "events": ["build.*", "task.*"], "secretToken": secret }]),
    )
    .await;
    assert!(saved.get("errors").is_none(), "{saved}");
}

/// The outbound `X-Cirrus-Signature`: hex HMAC-SHA256 of the body with the endpoint's secret.
pub fn cirrus_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// What an outbound delivery says: (X-Cirrus-Event, action, old status, status of its kind).
pub type Said = (String, String, Option<String>, String);

/// What each received delivery says, after checking its signature; sorted.
pub fn said(received: &[Received], secret: &str) -> Vec<Said> {
    let mut out: Vec<Said> = received
        .iter()
        .map(|r| {
            assert_eq!(
                r.header("x-cirrus-signature"),
                Some(cirrus_signature(secret, &r.body)),
                "every delivery is signed with the endpoint's secret"
            );
            let kind = r.header("x-cirrus-event").expect("X-Cirrus-Event");
            let body = r.json();
            let status = body["data"][kind.as_str()]["status"]
                .as_str()
                .unwrap_or("?")
                .to_owned();
            (
                kind,
                body["action"].as_str().unwrap_or("?").to_owned(),
                body["old_status"].as_str().map(str::to_owned),
                status,
            )
        })
        .collect();
    out.sort();
    out
}

/// `(kind, action, old, new)` as a [`Said`].
pub fn says(kind: &str, action: &str, old: Option<&str>, new: &str) -> Said {
    (
        kind.to_owned(),
        action.to_owned(),
        old.map(str::to_owned),
        new.to_owned(),
    )
}

/// Waits for `n` deliveries at `receiver` (10 s at most); returns what arrived.
pub async fn received(receiver: &Receiver, n: usize) -> Vec<Received> {
    receiver.wait_for(n, Duration::from_secs(10)).await
}

/// A build as `org` sees it, with its repository and tasks.
pub async fn build_of(app: &TestApp, org: &Org, id: &str) -> Value {
    let resp = app
        .gql_as(
            &org.token,
            "query($id: ID!) { build(id: $id) { id status branch changeIdInRepo changeMessageTitle
                repository { id name } tasks { id name status } } }",
            json!({ "id": id }),
        )
        .await;
    assert!(resp.get("errors").is_none(), "{resp}");
    resp["data"]["build"].clone()
}

/// A task's status as `org` sees it.
pub async fn task_status(app: &TestApp, org: &Org, id: &str) -> String {
    let resp = app
        .gql_as(
            &org.token,
            "query($id: ID) { task(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    resp["data"]["task"]["status"]
        .as_str()
        .unwrap_or_else(|| panic!("task {id}: {resp}"))
        .to_owned()
}

/// The names of `org`'s repositories, sorted.
pub async fn repository_names(app: &TestApp, org: &Org) -> Vec<String> {
    let resp = app
        .gql_as(
            &org.token,
            "{ ownerInfo { repositories(first: 100) { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    let mut names: Vec<String> = resp["data"]["ownerInfo"]["repositories"]["edges"]
        .as_array()
        .expect("repositories")
        .iter()
        .map(|r| r["node"]["name"].as_str().expect("name").to_owned())
        .collect();
    names.sort();
    names
}

/// The value of one series in a Prometheus text (`name{labels}`), 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
        .unwrap_or(0.0)
}

/// The server's metrics.
pub async fn metrics(app: &TestApp) -> String {
    crate::utils::metrics_at(&app.client, app.addr).await
}

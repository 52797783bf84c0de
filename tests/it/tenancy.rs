//! Tenancy: organization A's token gets NOT_FOUND for every id of organization B, on every query
//! and mutation that takes one, exactly as for ids that do not exist; B's data is unchanged. The
//! list of root fields is read from the schema, so a new resolver cannot be forgotten.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{json, Value};

use crate::utils::{error_code, Receiver, TestApp};

/// B's ids, and ids that exist nowhere.
struct Ids {
    org: String,
    org_name: String,
    repo: String,
    repo_name: String,
    build: String,
    task: String,
    delivery: String,
    endpoint: String,
    /// An inbound source (issue 16).
    source: String,
    /// An event and a replay (issue 19).
    event: String,
    replay: String,
    /// An API token (issue 19).
    token: String,
}

/// (root field, operation, variables for the given ids). Every root field that takes an id.
fn operations(ids: &Ids) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("repository", "query($id: ID!) { repository(id: $id) { id name } }", json!({ "id": ids.repo })),
        ("ownerRepository", "query($o: String!, $n: String!) { ownerRepository(platform: \"github\", owner: $o, name: $n) { id } }", json!({ "o": ids.org_name, "n": ids.repo_name })),
        ("githubRepository", "query($o: String!, $n: String!) { githubRepository(owner: $o, name: $n) { id } }", json!({ "o": ids.org_name, "n": ids.repo_name })),
        ("searchBuilds", "query($o: String!, $n: String!) { searchBuilds(repositoryOwner: $o, repositoryName: $n) { id } }", json!({ "o": ids.org_name, "n": ids.repo_name })),
        ("build", "query($id: ID!) { build(id: $id) { id status } }", json!({ "id": ids.build })),
        ("task", "query($id: ID) { task(id: $id) { id status } }", json!({ "id": ids.task })),
        ("ownerInfo", "query($uid: ID) { ownerInfo(platform: \"github\", uid: $uid) { uid name } }", json!({ "uid": ids.org })),
        ("ownerInfoByName", "query($n: String) { ownerInfoByName(platform: \"github\", name: $n) { uid } }", json!({ "n": ids.org_name })),
        ("webhookDelivery", "query($id: String!) { webhookDelivery(id: $id) { id } }", json!({ "id": ids.delivery })),
        ("webhookPreview", "query($id: ID!) { webhookPreview(repositoryId: $id) { body } }", json!({ "id": ids.repo })),
        ("webhookMessagePreview", "query($id: ID!) { webhookMessagePreview(input: {ownerUid: $id, kind: SLACK}) { text } }", json!({ "id": ids.org })),
        ("createBuild", "mutation($id: ID!) { createBuild(input: {repositoryId: $id, branch: \"main\", tasks: [{name: \"x\"}]}) { build { id } } }", json!({ "id": ids.repo })),
        ("approve", "mutation($id: ID!) { approve(input: {buildId: $id}) { build { id } } }", json!({ "id": ids.build })),
        ("retrigger", "mutation($id: ID!) { retrigger(input: {buildId: $id}) { build { id } } }", json!({ "id": ids.build })),
        ("updateTaskStatus", "mutation($id: ID!) { updateTaskStatus(input: {taskId: $id, status: ABORTED}) { task { id } } }", json!({ "id": ids.task })),
        ("abortTask", "mutation($id: ID!) { abortTask(input: {taskId: $id}) { abortedTask { id } } }", json!({ "id": ids.task })),
        ("rerun", "mutation($id: ID!) { rerun(input: {taskId: $id}) { newTask { id } } }", json!({ "id": ids.task })),
        ("trigger", "mutation($id: ID!) { trigger(input: {taskId: $id}) { task { id } } }", json!({ "id": ids.task })),
        ("batchAbort", "mutation($id: ID!) { batchAbort(input: {taskIds: [$id]}) { tasks { id } } }", json!({ "id": ids.task })),
        ("generateNewOwnerAccessToken", "mutation($id: ID!) { generateNewOwnerAccessToken(input: {ownerUid: $id}) { token } }", json!({ "id": ids.org })),
        ("saveWebHookSettings", "mutation($id: ID!) { saveWebHookSettings(input: {ownerUid: $id, deliveryEndpoints: []}) { settings { ownerUid } } }", json!({ "id": ids.org })),
        ("webhookRedeliver", "mutation($id: String!) { webhookRedeliver(input: {deliveryId: $id}) { delivery { id } } }", json!({ "id": ids.delivery })),
        ("webhookPing", "mutation($uid: ID!, $e: ID!) { webhookPing(input: {ownerUid: $uid, endpointId: $e}) { delivery { id } } }", json!({ "uid": ids.org, "e": ids.endpoint })),
        ("rotateWebhookSecret", "mutation($e: ID!) { rotateWebhookSecret(input: {endpointId: $e}) { secret } }", json!({ "e": ids.endpoint })),
        ("createInboundSource", "mutation($id: ID!) { createInboundSource(input: {kind: GITHUB, name: \"x\", repositoryId: $id}) { source { id } } }", json!({ "id": ids.repo })),
        ("regenerateInboundSecret", "mutation($id: ID!) { regenerateInboundSecret(input: {sourceId: $id}) { secret } }", json!({ "id": ids.source })),
        ("deleteInboundSource", "mutation($id: ID!) { deleteInboundSource(input: {sourceId: $id}) { deletedSourceId } }", json!({ "id": ids.source })),
        ("event", "query($id: ID!) { event(id: $id) { id routing { matched } } }", json!({ "id": ids.event })),
        ("webhookReplay", "query($id: ID!) { webhookReplay(id: $id) { id matched } }", json!({ "id": ids.replay })),
        ("webhookReplay", "mutation($e: ID!) { webhookReplay(input: {endpointId: $e, since: 0, until: 1000, states: [FAILED], dryRun: true}) { matched } }", json!({ "e": ids.endpoint })),
        ("cancelWebhookReplay", "mutation($id: ID!) { cancelWebhookReplay(input: {id: $id}) { replay { id } } }", json!({ "id": ids.replay })),
        ("enableWebhookEndpoint", "mutation($e: ID!) { enableWebhookEndpoint(input: {endpointId: $e}) { endpoint { id } } }", json!({ "e": ids.endpoint })),
        ("eraseDeliveryPayloads", "mutation($id: ID!) { eraseDeliveryPayloads(input: {before: \"1000\", repositoryId: $id}) { erased } }", json!({ "id": ids.repo })),
        ("deleteOwnerAccessToken", "mutation($id: ID!) { deleteOwnerAccessToken(input: {id: $id}) { token { id } } }", json!({ "id": ids.token })),
    ]
}

/// Root fields that take no id of another organization: `createRepository` makes one in the
/// caller's own organization; `brokers` lists the operator's broker names, the same for all;
/// `viewer` is always null (tokens are organizations', not users'); `ownerAccessTokens` lists
/// the caller's own organization's tokens.
const EXEMPT: &[&str] = &["createRepository", "brokers", "viewer", "ownerAccessTokens"];

async fn root_fields(app: &TestApp) -> BTreeSet<String> {
    let data = app
        .ok(
            "{ __schema { queryType { fields { name } } mutationType { fields { name } } } }",
            json!({}),
        )
        .await;
    let mut names = BTreeSet::new();
    for root in ["queryType", "mutationType"] {
        for f in data["__schema"][root]["fields"].as_array().expect("fields") {
            names.insert(f["name"].as_str().expect("name").to_owned());
        }
    }
    names
}

fn strip_locations(mut resp: Value) -> Value {
    if let Some(errors) = resp["errors"].as_array_mut() {
        for e in errors {
            e.as_object_mut().map(|o| o.remove("locations"));
        }
    }
    resp
}

#[tokio::test]
async fn another_organizations_ids_are_not_found_on_every_field() {
    let app = TestApp::spawn().await;
    let receiver = Receiver::start(vec![]).await;
    // Organization B, with a repository, a build, a task, an endpoint and a delivery.
    let b = app.new_org("other").await;
    let b_repo = app
        .gql_as(
            &b.token,
            "mutation { createRepository(input: {name: \"secret-repo\"}) { repository { id } } }",
            json!({}),
        )
        .await["data"]["createRepository"]["repository"]["id"]
        .as_str()
        .expect("repo")
        .to_owned();
    let saved = app
        .gql_as(
            &b.token,
            "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { endpoints { id } } } }",
            json!({ "i": { "ownerUid": b.uid, "deliveryEndpoints": [{ "webhookURL": receiver.url(), "secretToken": "b-secret" }] } }),
        )
        .await;
    let b_endpoint = saved["data"]["saveWebHookSettings"]["settings"]["endpoints"][0]["id"]
        .as_str()
        .expect("endpoint")
        .to_owned();
    let created = app
        .gql_as(
            &b.token,
            "mutation($r: ID!) { createBuild(input: {repositoryId: $r, branch: \"main\", tasks: [{name: \"t\"}]}) { build { id tasks { id } } } }",
            json!({ "r": b_repo }),
        )
        .await;
    let b_build = created["data"]["createBuild"]["build"]["id"]
        .as_str()
        .expect("build")
        .to_owned();
    let b_task = created["data"]["createBuild"]["build"]["tasks"][0]["id"]
        .as_str()
        .expect("task")
        .to_owned();
    let deliveries = app
        .gql_as(
            &b.token,
            "{ ownerInfo { webhookDeliveries(first: 1) { edges { node { id eventId } } } } }",
            json!({}),
        )
        .await;
    let b_delivery = deliveries["data"]["ownerInfo"]["webhookDeliveries"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("delivery")
        .to_owned();
    let b_event = deliveries["data"]["ownerInfo"]["webhookDeliveries"]["edges"][0]["node"]
        ["eventId"]
        .as_str()
        .expect("event")
        .to_owned();
    let b_replay = app
        .gql_as(
            &b.token,
            "mutation { webhookReplay(input: {since: 0, until: 1000, states: [FAILED]}) { replay { id } } }",
            json!({}),
        )
        .await["data"]["webhookReplay"]["replay"]["id"]
        .as_str()
        .expect("replay")
        .to_owned();
    let b_source = app
        .gql_as(
            &b.token,
            "mutation { createInboundSource(input: {kind: GITHUB, name: \"b-source\"}) { source { id } } }",
            json!({}),
        )
        .await["data"]["createInboundSource"]["source"]["id"]
        .as_str()
        .expect("source")
        .to_owned();
    let b_token = app
        .gql_as(&b.token, "{ ownerAccessTokens { id } }", json!({}))
        .await["data"]["ownerAccessTokens"][0]["id"]
        .as_str()
        .expect("token")
        .to_owned();
    receiver.wait_for(2, Duration::from_secs(5)).await;
    let b_before = app
        .gql_as(&b.token, "query($id: ID!) { build(id: $id) { status tasks { status } } ownerInfo { webhookSettings { endpoints { id webhookURL } } } }", json!({ "id": b_build }))
        .await;

    let theirs = Ids {
        org: b.uid.clone(),
        org_name: b.name.clone(),
        repo: b_repo,
        repo_name: "secret-repo".into(),
        build: b_build,
        task: b_task,
        delivery: b_delivery,
        endpoint: b_endpoint,
        source: b_source,
        event: b_event,
        replay: b_replay,
        token: b_token,
    };
    let nowhere = Ids {
        org: "999999".into(),
        org_name: "no-such-org".into(),
        repo: "999999".into(),
        repo_name: "no-such-repo".into(),
        build: "999999".into(),
        task: "999999".into(),
        delivery: uuid::Uuid::new_v4().to_string(),
        endpoint: "999999".into(),
        source: uuid::Uuid::new_v4().simple().to_string(),
        event: "999999".into(),
        replay: "999999".into(),
        token: "999999".into(),
    };

    let ops = operations(&theirs);
    let covered: BTreeSet<String> = ops
        .iter()
        .map(|(f, _, _)| f.to_string())
        .chain(EXEMPT.iter().map(|s| s.to_string()))
        .collect();
    assert_eq!(
        root_fields(&app).await,
        covered,
        "every root field must be in the tenancy table"
    );

    for ((field, query, vars), (_, _, missing_vars)) in ops.iter().zip(operations(&nowhere)) {
        let resp = app.gql(query, vars.clone()).await;
        assert_eq!(error_code(&resp), Some("NOT_FOUND"), "{field}: {resp}");
        assert!(
            !resp["data"].to_string().contains("secret-repo"),
            "{field} leaked: {resp}"
        );
        let missing = app.gql(query, missing_vars).await;
        assert_eq!(
            strip_locations(resp.clone())["errors"][0]["extensions"],
            strip_locations(missing.clone())["errors"][0]["extensions"],
            "{field}: another organization's id must look like a missing one: {resp} vs {missing}"
        );
        let data_empty = resp["data"].is_null() || resp["data"][*field].is_null();
        assert!(data_empty, "{field} returned data: {resp}");
    }
    let b_after = app
        .gql_as(&b.token, "query($id: ID!) { build(id: $id) { status tasks { status } } ownerInfo { webhookSettings { endpoints { id webhookURL } } } }", json!({ "id": theirs.build }))
        .await;
    assert_eq!(b_before, b_after, "organization B's data changed");
    assert_eq!(
        receiver.received().len(),
        2,
        "no ping or redelivery reached B's endpoint"
    );
}

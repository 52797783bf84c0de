//! `--hanging-endpoints N` for `--mode e2e`: N other organizations, each with one endpoint at a
//! receiver that accepts connections and never answers, whose transitions run interleaved with
//! the measured organization's. The report then shows what a hanging tenant does to the healthy
//! endpoint's latency.

use anyhow::Context;
use buildhooks_server::api_client::Api;
use buildhooks_server::AppState;
use serde_json::json;
use tokio::io::AsyncReadExt;

/// A receiver on 127.0.0.1 that accepts every connection, reads what is sent and never answers;
/// returns its URL. Connections stay open until the peer gives up.
pub async fn start_receiver() -> anyhow::Result<String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hang", listener.local_addr()?);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while matches!(socket.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    Ok(url)
}

/// A hanging organization: its API client and the tasks its transitions move.
pub struct Tenant {
    pub api: Api,
    pub tasks: Vec<String>,
}

/// Creates `n` organizations on the in-process server at `api_url`, each with a repository, one
/// endpoint for `task.*` at `hanging_url`, and one build of `tasks` tasks.
pub async fn tenants(
    state: &AppState,
    api_url: &str,
    hanging_url: &str,
    n: usize,
    tasks: usize,
) -> anyhow::Result<Vec<Tenant>> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (org, token) = buildhooks_schema::auth::create_organization(
            state.store.conn(),
            &format!("hanging-{i}"),
            "github",
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let api = Api {
            client: reqwest::Client::builder().no_proxy().build()?,
            url: api_url.to_owned(),
            token,
        };
        let repo = api
            .call(
                "mutation { createRepository(input: {name: \"hanging\"}) { repository { id } } }",
                json!({}),
            )
            .await?["createRepository"]["repository"]["id"]
            .as_str()
            .context("repository")?
            .to_owned();
        api.call(
            "mutation($i: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $i) { settings { ownerUid } } }",
            json!({ "i": { "ownerUid": org.id.to_string(), "deliveryEndpoints": [{ "webhookURL": hanging_url, "events": ["task.*"], "secretToken": "bench-secret" }] } }),
        )
        .await?;
        let names: Vec<_> = (0..tasks)
            .map(|t| json!({ "name": format!("task-{t}") }))
            .collect();
        let data = api
            .call(
                "mutation($i: RepositoryCreateBuildInput!) { createBuild(input: $i) { build { tasks { id } } } }",
                json!({ "i": { "repositoryId": repo, "branch": "main", "tasks": names } }),
            )
            .await?;
        let tasks = data["createBuild"]["build"]["tasks"]
            .as_array()
            .context("tasks")?
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect();
        out.push(Tenant { api, tasks });
    }
    Ok(out)
}

//! The server a run measures: started in-process on the run's fresh database (with private
//! targets allowed, so it may deliver to the benchmark's receivers on 127.0.0.1) and an
//! organization made for the run, or the running server that `--target` and `--token` name.
//! The modes that go through HTTP (`e2e`, `dispatch`, `inbound`) share it.

use std::sync::Arc;

use anyhow::Context;
use buildhooks_schema::CommitHooks;
use buildhooks_server::api_client::Api;
use buildhooks_server::config::{Config, Role};
use buildhooks_server::AppState;
use serde_json::json;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::{BenchArgs, BenchDb};

/// A running server: its state when in-process, and how to stop it.
pub(crate) struct Server {
    /// The in-process server's state; `None` for `--target`.
    pub state: Option<AppState>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

/// The organization a run acts as.
pub(crate) struct Org {
    /// Its API client (`.../graphql` with its token).
    pub api: Api,
    /// Its uid, as `ownerInfo { uid }` answers.
    pub uid: String,
}

impl Server {
    /// Starts the server in-process with `role` and `hooks` on `db` and makes an organization,
    /// or, with `--target`, asks the running server who `--token` is.
    pub async fn start(
        config: &Config,
        args: &BenchArgs,
        db: &BenchDb,
        role: Role,
        hooks: Arc<dyn CommitHooks>,
    ) -> anyhow::Result<(Org, Server)> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(256)
            .build()?;
        if let Some(target) = &args.target {
            let token = args.token.clone().context("--target needs --token")?;
            let api = Api {
                client,
                url: format!("{}/graphql", target.trim_end_matches('/')),
                token,
            };
            let uid = api.call("{ ownerInfo { uid } }", json!({})).await?["ownerInfo"]["uid"]
                .as_str()
                .context("uid")?
                .to_owned();
            let server = Server {
                state: None,
                stop: None,
                task: None,
            };
            return Ok((Org { api, uid }, server));
        }
        let mut config = config.clone();
        config.database_url = db.url.clone();
        config.allow_private_targets = true;
        if config.secret_key.is_none() {
            // Each run's database is new and dropped after it: it gets a key of its own (a
            // database server has no key file to make one in).
            config.secret_key = Some(buildhooks_server::config::SecretKey::generate());
        }
        let state = AppState::connect_with(config, hooks).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/graphql", listener.local_addr()?);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(buildhooks_server::run(
            listener,
            state.clone(),
            role,
            async {
                let _ = rx.await;
            },
        ));
        let (org, token) =
            buildhooks_schema::auth::create_organization(state.store.conn(), "bench", "github")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        let org = Org {
            api: Api { client, url, token },
            uid: org.id.to_string(),
        };
        let server = Server {
            state: Some(state),
            stop: Some(tx),
            task: Some(task),
        };
        Ok((org, server))
    }

    /// Stops the in-process server (its in-flight requests finish first); nothing for
    /// `--target`.
    pub async fn stop(mut self) {
        drop(self.state.take());
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

//! The buildhooks server as a library: `AppState::connect` opens the database and builds the
//! schema, `run` serves HTTP (and, by role, runs the dispatcher) until shutdown. The `buildhooks`
//! binary (the `cli/` crate) and the end-to-end tests start exactly the same thing.

pub mod api_client;
pub mod brokers;
pub mod config;
pub mod db;
pub mod delivery;
pub mod demo;
mod demo_chat;
pub mod http;
pub mod listen;
pub mod metrics;
pub mod retention;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use buildhooks_schema::{
    build_schema, AppSchema, CommitHooks, DeliverNow, NoHooks, Store, WebhookConfig,
};
use buildhooks_store::secrets::Vault;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};

use delivery::dispatcher::{self, DispatchConfig};
use delivery::sink::{AmqpSink, ChatSink, NatsSink, Sinks, WebhookSink};
use delivery::Sender;
use metrics::Metrics;

pub use config::{Config, Role};

/// Everything a running server shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// The schema stored payload queries run against (inbound hooks' transitions render with it).
    pub payload: buildhooks_schema::PayloadSchema,
    pub store: Store,
    pub config: Arc<Config>,
    /// Sends and records delivery attempts.
    pub sender: Sender,
    /// What this process's pruner did and last counted.
    pub retention: Arc<retention::Stats>,
    /// The families `/metrics` shows (the sender counts attempts in the same).
    pub metrics: Arc<Metrics>,
    /// Whether this process's dispatcher runs (`/readyz`).
    pub dispatcher: Arc<http::health::Dispatcher>,
}

/// A sink for every endpoint kind, the HTTP ones sharing one guarded client, the broker ones
/// the operator's `brokers`.
fn sinks(config: &Config, brokers: &[brokers::BrokerSpec], vault: &Vault) -> anyhow::Result<Sinks> {
    let client = delivery::client::build(config.delivery_timeout(), config.allow_private_targets)
        .context("cannot build the HTTP client")?;
    let mut kinds: Vec<Arc<dyn delivery::sink::Sink>> = vec![Arc::new(WebhookSink {
        client: client.clone(),
        allow_private: config.allow_private_targets,
        vault: vault.clone(),
    })];
    for chat in ChatSink::all(
        &client,
        config.allow_private_targets,
        config.throttle_scale,
        vault,
    ) {
        kinds.push(Arc::new(chat));
    }
    kinds.push(Arc::new(NatsSink::new(
        brokers,
        config.delivery_timeout(),
        vault.clone(),
    )));
    kinds.push(Arc::new(AmqpSink::new(
        brokers,
        config.delivery_timeout(),
        vault.clone(),
    )));
    Ok(Sinks::new(kinds))
}

impl AppState {
    /// Connects to the configured database, migrates it, and builds the schema.
    pub async fn connect(config: Config) -> anyhow::Result<Self> {
        Self::connect_with(config, Arc::new(NoHooks)).await
    }

    /// As `connect`, with `hooks` observing every commit of a transition (tests and the
    /// benchmark; production passes `NoHooks`).
    pub async fn connect_with(config: Config, hooks: Arc<dyn CommitHooks>) -> anyhow::Result<Self> {
        let brokers = brokers::load(&config)?;
        let options = config.connect_options();
        let db = buildhooks_store::connect(&config.database_url, &options).await?;
        let vault = db::open_vault(&db, &config).await?;
        // The dispatcher's own pool where the database has one per process (8 connections), so
        // it never queues behind API transactions for one; else it shares the API's.
        let dispatch_db =
            buildhooks_store::connect::dispatcher_db(&db, &config.database_url, 8, &options)
                .await?;
        let store = Store::new(db).with_hooks(hooks).with_vault(vault.clone());
        let metrics = Arc::new(Metrics::default());
        let sender = Sender {
            db: dispatch_db,
            wake: Arc::new(Notify::new()),
            sinks: sinks(&config, &brokers, &vault)?,
            metrics: metrics.clone(),
            retry_delay: config.retry_delay(),
            disable: delivery::control::DisablePolicy {
                after: config.disable_after,
                min_failures: config.disable_min_failures,
            },
            failing: Default::default(),
        };
        let schema = build_schema(
            store.clone(),
            WebhookConfig {
                allow_private_targets: config.allow_private_targets,
                public_url: config.public_url.clone(),
                brokers: brokers::public(&brokers),
                erase_batch: config.retention_batch,
            },
            Arc::new(sender.clone()) as Arc<dyn DeliverNow>,
        );
        Ok(AppState {
            payload: buildhooks_schema::build_payload_schema(&store),
            schema,
            store,
            config: Arc::new(config),
            sender,
            retention: Arc::default(),
            metrics,
            dispatcher: Arc::default(),
        })
    }
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    role: Role,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Opened first: a database that refuses it fails the start before anything runs.
    let pruner = match role {
        Role::Api => None,
        _ => Some(pruner(&state).await?),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let dispatcher = (role != Role::Api).then(|| {
        let config = DispatchConfig::from_config(&state.config);
        // Running for `/readyz` until the task ends, however it ends.
        let running = state.dispatcher.start();
        let work = dispatcher::run(
            state.sender.clone(),
            state.store.clone(),
            config,
            stop_rx.clone(),
        );
        tokio::spawn(async move {
            let _running = running;
            work.await
        })
    });
    // Replays are worked through beside the dispatcher, which sends what they queue.
    let replays = (role != Role::Api).then(|| {
        tokio::spawn(delivery::replay::run(
            state.store.db().clone(),
            state.sender.wake.clone(),
            delivery::replay::ReplayConfig::from_config(&state.config),
            stop_rx.clone(),
        ))
    });
    // Tokens revoked by other instances stop working here at once (where the API is served).
    let revocations = (role != Role::Dispatcher).then(|| {
        let (store, url) = (state.store.clone(), state.config.database_url.clone());
        tokio::spawn(store.watch_revocations(url, stop_rx.clone()))
    });
    let pruner = pruner.map(|p| tokio::spawn(p.run(stop_rx.clone())));
    let app = http::router(state, role);
    // Each request knows the address it came from (the actor's address in audit events).
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed");
    let _ = stop_tx.send(true);
    if let Some(dispatcher) = dispatcher {
        let _ = dispatcher.await;
    }
    if let Some(replays) = replays {
        let _ = replays.await;
    }
    if let Some(revocations) = revocations {
        let _ = revocations.await;
    }
    if let Some(pruner) = pruner {
        let _ = pruner.await;
    }
    served
}

/// The pruner `state`'s configuration asks for, on a connection of its own.
async fn pruner(state: &AppState) -> anyhow::Result<retention::Pruner> {
    let config = &state.config;
    let db = buildhooks_store::connect::background_db(
        state.store.db(),
        &config.database_url,
        &config.connect_options(),
    )
    .await?;
    Ok(retention::Pruner {
        db,
        count_db: state.store.db().clone(),
        keep: config.retention(),
        interval: config.retention_interval(),
        batch: config.retention_batch.max(1),
        pause: std::time::Duration::from_millis(config.retention_pause_ms),
        stats: state.retention.clone(),
    })
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}

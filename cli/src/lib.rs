//! The command line: `serve` (default), `migrate`, `bench`, `demo`, `org create`, `token create`,
//! `schema`, `secrets new-key|rotate-key`. Output meant for programs (`org create`, `token create`, `bench`) is one JSON object
//! on stdout; `schema` prints the API's SDL.
//! Its own crate because `bench` (the `buildhooks-bench` crate) is built on the server library:
//! the binary sits above both. Every error names what failed and keeps its cause, down to the
//! database driver's words, for the operator at the terminal.

pub mod database;
pub mod secrets;

use anyhow::Context;
use buildhooks_server::config::{Config, Role};
use buildhooks_server::{db, run as serve, shutdown_signal, AppState};
use clap::{Parser, Subcommand};
use serde_json::json;

use database::with_cause;

/// buildhooks: signed, at-least-once webhooks for CI build and task events.
#[derive(Parser, Debug)]
#[command(name = "buildhooks", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the API, the settings page and the dispatcher (the default).
    Serve {
        /// Which parts to run in this process.
        #[arg(long, value_enum, default_value_t = Role::All)]
        role: Role,
    },
    /// Apply database migrations and exit.
    Migrate,
    /// Measure the delivery path; prints one JSON object.
    Bench(buildhooks_bench::BenchArgs),
    /// Run everything on a temporary database and print each verified delivery of one build.
    Demo {
        /// Keep the server running after the demo, until Ctrl-C.
        #[arg(long)]
        keep: bool,
    },
    /// Manage organizations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Manage API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// Print the GraphQL API's schema (SDL), as served at `/graphql/schema.graphql`.
    Schema,
    /// Manage the key that seals secrets in the database.
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum SecretsCommand {
    /// Print a new key for `BUILDHOOKS_SECRET_KEY`: `{"key", "key_id"}`.
    NewKey,
    /// Seal every secret under the newest key and print how many moved. Give the new key first:
    /// `BUILDHOOKS_SECRET_KEY=<new>,<old>`; the embedded database without that variable gets a
    /// generated new key in its key file.
    RotateKey,
}

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization; prints `{"uid", "name", "token"}` once.
    Create {
        name: String,
        #[arg(long, default_value = "github")]
        platform: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Issue a new API token for an organization; prints `{"uid", "token"}` once.
    Create {
        #[arg(long)]
        org: i32,
    },
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve { role: Role::All }) {
        Command::Serve { role } => {
            // The address first: a wrong one fails at once, before the database's wait.
            let listener = config.listen.bind().await?;
            let state = AppState::connect(config.clone()).await?;
            tracing::info!(addr = %listener.local_addr()?, ?role, "buildhooks serving");
            serve(listener, state, role, shutdown_signal()).await
        }
        Command::Demo { keep } => buildhooks_server::demo::demo(keep).await,
        Command::Bench(args) => buildhooks_bench::run(config, args).await,
        Command::Schema => {
            print!("{}", buildhooks_schema::sdl());
            Ok(())
        }
        Command::Secrets {
            command: SecretsCommand::NewKey,
        } => {
            secrets::new_key();
            Ok(())
        }
        Command::Secrets {
            command: SecretsCommand::RotateKey,
        } => secrets::rotate_key(&config).await,
        Command::Migrate => {
            open(&config).await?;
            eprintln!("migrations applied");
            Ok(())
        }
        Command::Org {
            command: OrgCommand::Create { name, platform },
        } => {
            let store = open(&config).await?;
            let (org, token) =
                buildhooks_schema::auth::create_organization(store.conn(), &name, &platform)
                    .await
                    .map_err(with_cause)
                    .with_context(|| format!("cannot create the organization {name:?}"))?;
            println!(
                "{}",
                json!({ "uid": org.id.to_string(), "name": org.name, "token": token })
            );
            Ok(())
        }
        Command::Token {
            command: TokenCommand::Create { org },
        } => {
            let store = open(&config).await?;
            buildhooks_store::orgs::org(store.conn(), org)
                .await
                .with_context(|| format!("cannot look up the organization with uid {org}"))?
                .with_context(|| format!("no organization with uid {org}"))?;
            let token = buildhooks_schema::auth::issue_token(store.conn(), org)
                .await
                .map_err(with_cause)
                .with_context(|| format!("cannot issue a token for organization {org}"))?;
            println!("{}", json!({ "uid": org.to_string(), "token": token }));
            Ok(())
        }
    }
}

/// Opens and migrates the database (a failure names it, without a password), with the vault of
/// its secrets.
async fn open(config: &Config) -> anyhow::Result<buildhooks_schema::Store> {
    db::connect_config(config).await
}

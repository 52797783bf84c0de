//! A minimal webhook receiver: verifies every delivery with [`VerifiedWebhook`] and prints it.
//!
//! ```text
//! BUILDHOOKS_SECRET=change-me PORT=9000 cargo run -p buildhooks-receiver --example receiver
//! ```
//!
//! Point a buildhooks webhook at `http://127.0.0.1:9000/` (any path works) with the same secret.

use std::error::Error;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use buildhooks_receiver::{Payload, VerifiedWebhook, WebhookSecret};

struct Config {
    secret: String,
}

impl WebhookSecret for Config {
    fn webhook_secret(&self) -> &str {
        &self.secret
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let secret = std::env::var("BUILDHOOKS_SECRET").unwrap_or_else(|_| "change-me".to_owned());
    let port: u16 = match std::env::var("PORT") {
        Ok(port) => port
            .parse()
            .map_err(|_| format!("PORT is not a port: {port}"))?,
        Err(_) => 9000,
    };
    let app = Router::new()
        .fallback(post(receive))
        .with_state(Arc::new(Config { secret }));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            // If the signal handler cannot be installed, run until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await?;
    Ok(())
}

/// Runs only for deliveries whose signature checked out; the extractor answers the rest.
async fn receive(webhook: VerifiedWebhook) -> (StatusCode, &'static str) {
    let delivery = webhook.delivery_id.as_deref().unwrap_or("-");
    match webhook.payload() {
        Ok(payload) => {
            println!("{}", describe(&webhook.event, delivery, &payload));
            (StatusCode::OK, "ok")
        }
        Err(_) if webhook.event == "ping" => {
            println!("ping delivery={delivery}");
            (StatusCode::OK, "pong")
        }
        Err(err) => {
            println!(
                "{} delivery={delivery}: unexpected body: {err}",
                webhook.event
            );
            (StatusCode::UNPROCESSABLE_ENTITY, "unexpected body")
        }
    }
}

fn describe(event: &str, delivery: &str, payload: &Payload) -> String {
    let data = &payload.data;
    let mut line = format!(
        "{event} {:?} old_status={} delivery={delivery}",
        payload.action,
        payload.old_status.as_deref().unwrap_or("-"),
    );
    if let Some(repository) = &data.repository {
        line += &format!(
            " repository={}/{} ({})",
            repository.owner, repository.name, repository.id
        );
    }
    if let Some(build) = &data.build {
        line += &format!(
            " build={} status={} branch={}",
            build.id, build.status, build.branch
        );
    }
    if let Some(task) = &data.task {
        line += &format!(" task={} ({}) status={}", task.id, task.name, task.status);
    }
    line
}

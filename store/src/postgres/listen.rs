//! `LISTEN` for outbox rows other instances commit, reconnecting when the connection is lost.

use std::time::Duration;

use tokio::sync::watch;

/// The channel notified (on commit) when outbox rows were written for any instance to claim,
/// so every instance's dispatcher wakes.
pub(crate) const NOTIFY_CHANNEL: &str = "buildhooks_outbox";

/// Calls `wake` for every notification until `stop` turns true.
pub(crate) async fn run(url: &str, wake: impl Fn(), mut stop: watch::Receiver<bool>) {
    let url = crate::connect::without_loopback_tls(url);
    loop {
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(NOTIFY_CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    got = listener.recv() => match got {
                        Ok(_) => wake(),
                        Err(error) => {
                            tracing::warn!(%error, "LISTEN connection lost");
                            break;
                        }
                    }
                }
            },
            Err(error) => tracing::warn!(%error, "cannot LISTEN for outbox notifications"),
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

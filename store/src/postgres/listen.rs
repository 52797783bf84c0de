//! `LISTEN` on one channel (outbox rows other instances commit, tokens they revoke),
//! reconnecting when the connection is lost.

use std::time::{Duration, Instant};

use tokio::sync::watch;

/// The channel notified (on commit) when outbox rows were written for any instance to claim,
/// so every instance's dispatcher wakes.
pub(crate) const NOTIFY_CHANNEL: &str = "buildhooks_outbox";

/// What a listener hears.
pub(crate) enum Heard<'a> {
    /// The connection is (again) listening: notifications sent while it was down were missed.
    Connected,
    /// A notification, with its payload.
    Payload(&'a str),
}

/// Calls `on` for every notification on `channel` (and each time the listener connects) until
/// `stop` turns true. A lost connection is opened again at once (after a second if it had
/// lasted less), then every second while that fails.
pub(crate) async fn run(
    url: &str,
    channel: &str,
    on: impl Fn(Heard<'_>),
    mut stop: watch::Receiver<bool>,
) {
    let url = crate::connect::without_loopback_tls(url);
    let mut failed = false;
    loop {
        if failed {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        let connected = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        }
        .await;
        match connected {
            Ok(mut listener) => {
                let since = Instant::now();
                on(Heard::Connected);
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        got = listener.try_recv() => match got {
                            Ok(Some(notification)) => on(Heard::Payload(notification.payload())),
                            // The connection was lost (`try_recv` does not reconnect by itself,
                            // so the notifications missed meanwhile are told as `Connected`).
                            Ok(None) => {
                                tracing::warn!(channel, "LISTEN connection lost");
                                break;
                            }
                            Err(error) => {
                                tracing::warn!(%error, channel, "LISTEN connection lost");
                                break;
                            }
                        }
                    }
                }
                // A connection that is lost as soon as it is made waits like a refused one.
                failed = since.elapsed() < Duration::from_secs(1);
            }
            Err(error) => {
                failed = true;
                tracing::warn!(%error, channel, "cannot LISTEN");
            }
        }
    }
}

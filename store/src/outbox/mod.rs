//! The outbox end to end: rows written with their transition (`insert`), claimed with a fenced
//! lease (`claim`), given back or recorded with their attempts (`record`), the next due time, and
//! the gauges. Each step is one statement or one short write transaction.

pub mod claim;
pub(crate) mod columns;
pub mod gauges;
pub mod insert;
pub mod log;
pub mod pace;
pub mod record;
pub mod turns;

pub use claim::{claim, claim_fair, next_due, release, UNLIMITED};
pub use columns::state;
pub use insert::{insert_one, write, NewDelivery};
pub use record::{record, AttemptRow, Claimed, Next, OutcomeRow};

/// Forwards other instances' commits of outbox rows (PostgreSQL `LISTEN`) to `wake` until `stop`
/// turns true, reconnecting on failure; returns at once on SQLite, where every writer is in this
/// process.
pub async fn listen(
    db: &crate::Db,
    url: &str,
    wake: impl Fn() + Send + 'static,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    if db.dialect() == crate::dialect::Dialect::Postgres {
        let channel = crate::postgres::listen::NOTIFY_CHANNEL;
        crate::postgres::listen::run(url, channel, move |_| wake(), stop).await;
    }
}

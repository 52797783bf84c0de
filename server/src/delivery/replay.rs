//! The replay runner: started with the dispatcher, it works through every RUNNING replay
//! (`webhookReplay`) a bounded page at a time. Live deliveries go first: a replay's next page is
//! queued only once its previous page has left the outbox (no row of it PENDING or IN_FLIGHT)
//! and while no fresh live backlog waits to be claimed, and a page's rows come due in slices
//! spread over time, so rows committed meanwhile (handed to the dispatcher at once, or due at
//! their commit) go between them. The spread adapts page by page (`Pace`): when the dispatcher
//! took longer over a page than its plan (due rows piled up ahead of live ones), the next page
//! comes due at four fifths of the rate it achieved; when it kept up, faster again. Pages are claimed by a conditional update of the replay's
//! cursor, so several instances share the work without queuing a page twice, and a restarted
//! instance resumes where the cursor stands.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use buildhooks_entity::webhook_replay;
use buildhooks_schema::clock::now_ms;
use buildhooks_store::replay::{self, Paged, Spread};
use buildhooks_store::Db;
use tokio::sync::{watch, Notify};

/// Rows of a page that come due together: well under an endpoint's default share of the
/// dispatcher, so live rows committed meanwhile still find room to be handed straight over
/// (measured: slices of ten or five let live rows wait behind them, up to 200 ms at p99).
const SLICE: usize = 2;
/// Look again this soon while a replay runs.
const BUSY_TICK: Duration = Duration::from_millis(100);
/// The widest gap between two slices the pace grows to, in ms: the dispatcher sleeps until the
/// next slice is due, and a live row that found its endpoint's share full waits as long.
const MAX_GAP_MS: i64 = 60;
/// Look again this soon when no replay runs.
const IDLE_TICK: Duration = Duration::from_millis(1000);
/// A live row come due within this long and not yet claimed is live backlog.
const RECENT_MS: i64 = 5_000;

/// Runner settings.
#[derive(Clone, Copy, Debug)]
pub struct ReplayConfig {
    /// Deliveries queued per page.
    pub page: u64,
    /// Between two slices of a page's due times, in ms.
    pub gap_ms: i64,
}

impl ReplayConfig {
    /// The settings `config` gives (`BUILDHOOKS_REPLAY_PAGE`, `BUILDHOOKS_REPLAY_GAP_MS`).
    pub fn from_config(config: &crate::config::Config) -> Self {
        ReplayConfig {
            page: config.replay_page.max(1),
            gap_ms: config.replay_gap_ms as i64,
        }
    }

    fn spread(&self, gap_ms: i64) -> Spread {
        Spread {
            page: self.page,
            slice: SLICE,
            gap_ms,
        }
    }
}

/// Each running replay's gap between slices, adapted page by page to what the dispatcher
/// achieved (this instance's view; another instance starts from the configured gap).
#[derive(Default)]
struct Pace {
    gaps: HashMap<i64, i64>,
}

impl Pace {
    /// The gap for the next page of `row`, whose previous page (queued at `row.updated_at`) has
    /// left the outbox by `now`.
    fn next(&mut self, config: &ReplayConfig, row: &webhook_replay::Model, now: i64) -> i64 {
        let slices = config.page.div_ceil(SLICE as u64).max(1) as i64;
        let gap = self.gaps.get(&row.id).copied().unwrap_or(config.gap_ms);
        let next = match row.queued {
            0 => config.gap_ms,
            _ => {
                let planned = (slices - 1) * gap;
                let took = now - row.updated_at;
                if took > planned + 2 * BUSY_TICK.as_millis() as i64 {
                    (took * 5 / 4 / slices).min(MAX_GAP_MS)
                } else {
                    (gap * 3 / 4).max(config.gap_ms)
                }
            }
        };
        self.gaps.insert(row.id, next);
        next
    }

    /// Forgets replays that no longer run.
    fn keep(&mut self, running: &[webhook_replay::Model]) {
        self.gaps
            .retain(|id, _| running.iter().any(|r| r.id == *id));
    }
}

/// Runs until `stop` turns true; `wake` tells the local dispatcher that rows were queued.
pub async fn run(db: Db, wake: Arc<Notify>, config: ReplayConfig, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    let mut tick = IDLE_TICK;
    let mut pace = Pace::default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.changed() => {}
        }
        if *stop.borrow() {
            break;
        }
        match step(&db, &config, &mut pace).await {
            Ok(Step { running, queued }) => {
                if failing {
                    tracing::info!("replay runner reads the database again");
                    failing = false;
                }
                if queued {
                    wake.notify_one();
                }
                tick = if running { BUSY_TICK } else { IDLE_TICK };
            }
            Err(error) => {
                if !failing {
                    tracing::warn!(%error, "replay runner cannot read the database; trying again");
                    failing = true;
                }
                tick = IDLE_TICK;
            }
        }
    }
}

/// What one look did.
struct Step {
    /// Some replay is running.
    running: bool,
    /// Rows were queued.
    queued: bool,
}

/// Queues the next page of each running replay that may have one now.
async fn step(db: &Db, config: &ReplayConfig, pace: &mut Pace) -> buildhooks_store::Result<Step> {
    let running = replay::running(db.conn()).await?;
    pace.keep(&running);
    let mut step = Step {
        running: !running.is_empty(),
        queued: false,
    };
    if running.is_empty() {
        return Ok(step);
    }
    // Live rows first: while fresh ones wait to be claimed, no page is added to theirs.
    if replay::live_backlog(db.conn(), now_ms(), RECENT_MS, config.page).await? >= config.page {
        return Ok(step);
    }
    for row in running {
        if replay::page_in_outbox(db.conn(), row.id).await? {
            continue;
        }
        let gap = pace.next(config, &row, now_ms());
        match replay::queue_page(db, &row, config.spread(gap), now_ms()).await? {
            Paged::Queued(n) => {
                tracing::debug!(replay = row.id, queued = n, gap, "replay page queued");
                step.queued |= n > 0;
            }
            Paged::Done => tracing::info!(replay = row.id, queued = row.queued, "replay done"),
            // Another instance took this page, or the replay was cancelled.
            Paged::Lost => {}
        }
    }
    Ok(step)
}

//! Persistence for buildhooks: every SQL statement outside `migration/`, the write transaction
//! with SQLite's group commit, and the outbox end to end (written with the transition, handed
//! off, claimed, recorded, the next due time, the gauges). It takes and returns plain values and
//! the `entity` crate's rows; it never imports the schema.
//!
//! The two databases are two modules, `sqlite` and `postgres`, holding their statement texts
//! and what only one of them does (SQLite's write gate; PostgreSQL's one-statement transitions
//! and `LISTEN`). Which one runs is fixed when the pool is opened (`connect`); the rest of the
//! code never asks. Errors are sea-orm's `DbErr` (`DbErr::Custom` for this crate's own).

mod built;
pub mod clock;
pub mod connect;
pub mod control;
mod db;
mod dialect;
pub mod endpoints;
mod errors;
pub mod events;
mod handle;
pub mod inbound;
mod moves;
pub mod new_build;
pub mod orgs;
pub mod outbox;
mod postgres;
mod queue;
pub mod readiness;
pub mod replay;
pub mod retention;
pub mod routing;
pub mod runs;
pub mod secrets;
mod sqlite;
pub mod tasks;
mod text;
pub mod tokens;
pub mod window;

pub use connect::{connect, ConnectOptions, Synchronous};
pub use db::{AfterCommit, Db, WriteTxn};
pub use errors::{is_unavailable, is_unique_violation};
pub use handle::DbHandle;
pub use postgres::batch::NewBuildsNow;
pub use sea_orm::DbErr;
pub use sqlite::checkpoint::CheckpointsNow;
pub use sqlite::gate_times::GateTimesNow;
pub use window::Window;

/// The result of a store operation.
pub type Result<T, E = DbErr> = std::result::Result<T, E>;

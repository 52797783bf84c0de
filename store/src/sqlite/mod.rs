//! SQLite: the single-writer gate with group commit, the writer thread of our own that runs
//! batches of writes (new builds, id draws, the dispatcher's claims and records) as one call
//! each, the reader thread of our own for new builds' endpoints, ids drawn before a write, WAL
//! checkpoints off the writer, and the statement texts only SQLite runs.

pub(crate) mod batch;
pub(crate) mod checkpoint;
pub(crate) mod gate;
pub(crate) mod gate_times;
pub(crate) mod ids;
pub(crate) mod new_build;
pub(crate) mod outbox;
pub(crate) mod own_reader;
pub(crate) mod own_writer;
pub(crate) mod retention;
pub(crate) mod typed;

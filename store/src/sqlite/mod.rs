//! SQLite: the single-writer gate with group commit, and the statement texts only SQLite runs.

pub(crate) mod gate;
pub(crate) mod outbox;
pub(crate) mod retention;

//! Tasks: the GraphQL type, `task(id)`, and `updateTaskStatus`, `abortTask`, `rerun`.

pub mod mutation;
pub mod query;
pub mod types;

//! Tasks (the type is in `graph`): `task(id)`, and `updateTaskStatus`, `abortTask`, `rerun`.

pub mod mutation;
pub mod query;

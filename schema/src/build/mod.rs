//! Builds (the type is in `graph`): `build(id)`, and `createBuild`, `approve`, `retrigger`.

pub mod mutation;
pub mod query;

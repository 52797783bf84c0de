//! Builds: the GraphQL type, `build(id)`, and `createBuild`, `approve`, `retrigger`.

pub mod mutation;
pub mod query;
pub mod types;

//! Repositories (the type is in `graph`): queries and `createRepository`.

pub mod mutation;
pub mod query;

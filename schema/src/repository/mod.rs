//! Repositories: the GraphQL type, its queries and `createRepository`.

pub mod mutation;
pub mod query;
pub mod types;

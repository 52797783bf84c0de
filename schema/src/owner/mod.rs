//! Organizations (Cirrus's `OwnerInfo`): the type, `ownerInfo`, `ownerInfoByName`,
//! `generateNewOwnerAccessToken`, and listing and revoking API tokens (`tokens`).

pub mod mutation;
pub mod query;
pub mod tokens;
pub mod types;

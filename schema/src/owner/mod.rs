//! Organizations (Cirrus's `OwnerInfo`): the type, `ownerInfo`, `ownerInfoByName` and
//! `generateNewOwnerAccessToken`.

pub mod mutation;
pub mod query;
pub mod types;

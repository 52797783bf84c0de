//! sea-orm entities of buildhooks, one module per table, and the organization-scoped finders
//! (`Entity::find_in_org(org_id)`) that every tenant read starts from.

pub mod api_token;
pub mod build;
pub mod event;
pub mod inbound_link;
pub mod inbound_request;
pub mod inbound_source;
pub mod organization;
pub mod repository;
pub mod task;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
pub mod webhook_replay;

/// Adds `find_in_org` to an entity that carries an `org_id` column, so forgetting the tenant filter
/// is hard.
macro_rules! org_scoped {
    ($entity:ty, $column:expr) => {
        impl $entity {
            /// Every row that belongs to organization `org_id`, and no other.
            pub fn find_in_org(org_id: i32) -> sea_orm::Select<Self> {
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
                <Self as EntityTrait>::find().filter($column.eq(org_id))
            }
        }
    };
}
pub(crate) use org_scoped;

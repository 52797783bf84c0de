//! Statements of the create path (a new build and its tasks, the organization's endpoints, a
//! repository by id) with their texts built by sea-query once per process, backend and shape
//! and kept, where sea-query would format the same text again on every call: callgrind counted
//! 150,000 instructions per `createBuild` formatting the endpoints' select and 90,000 for each
//! insert, more than SQLite takes to run them. The values are taken in the order sea-query puts
//! them (every column the row sets, in the entity's column order), and the tests hold each
//! statement to the one sea-query builds.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use buildhooks_entity::{repository, webhook_endpoint};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ActiveValue, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    FromQueryResult, Iterable, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Statement, Value,
};

use crate::text::Text;
use crate::Result;

/// Texts of inserts by (entity, backend, columns the row sets).
type Texts = Mutex<HashMap<(&'static str, bool, u64), &'static str>>;

fn texts() -> &'static Texts {
    static TEXTS: OnceLock<Texts> = OnceLock::new();
    TEXTS.get_or_init(Texts::default)
}

/// The columns `row` sets (a bit per column, in column order) and their values in that order;
/// `None` when a column holds an unchanged value (a row made from a read model), which is left to
/// sea-orm's own `insert`.
fn set_values<A: ActiveModelTrait>(row: &A) -> Option<(u64, Vec<Value>)> {
    let mut mask = 0u64;
    let mut values = Vec::new();
    for (i, column) in <A::Entity as EntityTrait>::Column::iter().enumerate() {
        match row.get(column) {
            ActiveValue::Set(value) if i < 64 => {
                mask |= 1 << i;
                values.push(value);
            }
            ActiveValue::NotSet => {}
            _ => return None,
        }
    }
    Some((mask, values))
}

/// What sea-orm's `insert` runs for `row`: the insert with every column returned.
fn build_insert<A: ActiveModelTrait>(row: A, backend: DbBackend) -> Statement {
    let mut query = sea_orm::Insert::one(row).into_query();
    query.returning(Query::returning().columns(<A::Entity as EntityTrait>::Column::iter()));
    backend.build(&query)
}

/// `row`'s insert statement, its text built once for its table, backend and set columns.
fn insert_statement<A: ActiveModelTrait>(row: A, backend: DbBackend) -> Statement {
    let Some((mask, values)) = set_values(&row) else {
        return build_insert(row, backend);
    };
    let key = (
        std::any::type_name::<A::Entity>(),
        backend == DbBackend::Sqlite,
        mask,
    );
    let known = texts().lock().ok().and_then(|t| t.get(&key).copied());
    let sql = match known {
        Some(sql) => sql,
        None => {
            let built = build_insert(row, backend);
            // Kept for the life of the process: one text per shape, a handful in all.
            let sql: &'static str = Box::leak(built.sql.into_boxed_str());
            if let Ok(mut texts) = texts().lock() {
                texts.insert(key, sql);
            }
            sql
        }
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Inserts `row` and returns the row written, as `ActiveModelTrait::insert` does (the entities
/// written here have no `before_save` of their own).
pub async fn insert<A>(
    db: &impl ConnectionTrait,
    row: A,
) -> Result<<A::Entity as EntityTrait>::Model>
where
    A: ActiveModelTrait + Send,
    <A::Entity as EntityTrait>::Model: FromQueryResult,
{
    let statement = insert_statement(row, db.get_database_backend());
    <A::Entity as EntityTrait>::Model::find_by_statement(statement)
        .one(db)
        .await?
        .ok_or_else(|| sea_orm::DbErr::RecordNotInserted)
}

/// sea-query's select of the endpoints of `org_id` (enabled ones only, or all undeleted).
fn build_endpoints(backend: DbBackend, org_id: i32, enabled_only: bool) -> Statement {
    let mut q = webhook_endpoint::Entity::find_in_org(org_id)
        .filter(webhook_endpoint::Column::Deleted.eq(false));
    if enabled_only {
        q = q.filter(webhook_endpoint::Column::Enabled.eq(true));
    }
    q.order_by_asc(webhook_endpoint::Column::Position)
        .build(backend)
}

/// The statement of [`crate::endpoints::of_org`].
pub(crate) fn endpoints(backend: DbBackend, org_id: i32, enabled_only: bool) -> Statement {
    // The values do not change the text: it is built with placeholders for them.
    static ALL: Text = Text::per_backend(|backend| build_endpoints(backend, 0, false).sql);
    static ENABLED: Text = Text::per_backend(|backend| build_endpoints(backend, 0, true).sql);
    let text = if enabled_only { &ENABLED } else { &ALL };
    let mut values = vec![Value::from(org_id), Value::from(false)];
    if enabled_only {
        values.push(Value::from(true));
    }
    text.with(backend, values)
}

/// sea-query's select of repository `id` of `org_id`.
fn build_repo(backend: DbBackend, org_id: i32, id: i32) -> Statement {
    repository::Entity::find_in_org(org_id)
        .filter(repository::Column::Id.eq(id))
        .limit(1)
        .build(backend)
}

/// The statement of [`crate::orgs::repo`].
pub(crate) fn repo(backend: DbBackend, org_id: i32, id: i32) -> Statement {
    static REPO: Text = Text::per_backend(|backend| build_repo(backend, 0, 0).sql);
    REPO.with(
        backend,
        [Value::from(org_id), Value::from(id), Value::from(1u64)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use buildhooks_entity::{build, task};
    use sea_orm::Set;

    const BACKENDS: [DbBackend; 2] = [DbBackend::Sqlite, DbBackend::Postgres];

    #[test]
    fn kept_selects_are_what_sea_query_builds() {
        for backend in BACKENDS {
            for enabled in [false, true] {
                // The text was kept from other values: it must still match.
                let _ = endpoints(backend, 1, enabled);
                assert_eq!(
                    endpoints(backend, 42, enabled),
                    build_endpoints(backend, 42, enabled)
                );
            }
            let _ = repo(backend, 1, 2);
            assert_eq!(repo(backend, 7, 9), build_repo(backend, 7, 9));
        }
    }

    #[test]
    fn kept_inserts_are_what_sea_query_builds() {
        let a_build = |name: &str| build::ActiveModel {
            org_id: Set(3),
            repository_id: Set(4),
            name: Set(Some(name.to_owned())),
            branch: Set("main".to_owned()),
            status: Set("CREATED".to_owned()),
            ..Default::default()
        };
        let a_task = |name: &str| task::ActiveModel {
            org_id: Set(3),
            build_id: Set(5),
            repository_id: Set(4),
            name: Set(name.to_owned()),
            status: Set("CREATED".to_owned()),
            ..Default::default()
        };
        for backend in BACKENDS {
            let _ = insert_statement(a_build("first"), backend);
            assert_eq!(
                insert_statement(a_build("second"), backend),
                build_insert(a_build("second"), backend)
            );
            let _ = insert_statement(a_task("first"), backend);
            assert_eq!(
                insert_statement(a_task("second"), backend),
                build_insert(a_task("second"), backend)
            );
        }
    }
}

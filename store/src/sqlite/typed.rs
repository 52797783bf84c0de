//! SQLite: rows from the writer thread (`own_writer`) as sea-orm's `QueryResult`s, each value
//! typed as its entity's column is, so that the models decode them as they decode sqlx's rows:
//! the outbox's rows (`webhook_delivery`, as the claim returns them), their endpoints' (`e_`
//! columns, as the record cycle returns them) and the ids of applied outcomes (`applied_id`).

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use buildhooks_entity::{webhook_delivery, webhook_endpoint};
use rusqlite::types::Value as Cell;
use sea_orm::{ColumnTrait, ColumnType, DbErr, IdenStatic, Iterable, ProxyRow, QueryResult, Value};

use crate::sqlite::own_writer::Row;
use crate::Result;

/// How a column's values are typed.
#[derive(Clone, Copy)]
enum Kind {
    Int,
    BigInt,
    Bool,
    Text,
}

fn kind_of(column: &ColumnType) -> Kind {
    match column {
        ColumnType::TinyInteger | ColumnType::SmallInteger | ColumnType::Integer => Kind::Int,
        ColumnType::BigInteger => Kind::BigInt,
        ColumnType::Boolean => Kind::Bool,
        _ => Kind::Text,
    }
}

/// Every column name the writer thread's rows may carry, with its kind.
static KINDS: LazyLock<HashMap<String, Kind>> = LazyLock::new(|| {
    let mut kinds = HashMap::new();
    for c in webhook_delivery::Column::iter() {
        kinds.insert(c.as_str().to_owned(), kind_of(c.def().get_column_type()));
    }
    for c in webhook_endpoint::Column::iter() {
        let kind = kind_of(c.def().get_column_type());
        kinds.insert(format!("e_{}", c.as_str()), kind);
    }
    kinds.insert("applied_id".to_owned(), Kind::BigInt);
    kinds
});

/// `row` as sea-orm's, its values typed by their columns' names.
pub(crate) fn query_result(row: Row) -> Result<QueryResult> {
    let mut values = BTreeMap::new();
    for (name, cell) in row.names.iter().zip(row.cells) {
        let kind = KINDS
            .get(name)
            .ok_or_else(|| DbErr::Custom(format!("no type is known for the column {name}")))?;
        values.insert(name.clone(), typed(*kind, cell, name)?);
    }
    Ok(ProxyRow::new(values).into())
}

fn typed(kind: Kind, cell: Cell, name: &str) -> Result<Value> {
    let wrong = || DbErr::Custom(format!("the column {name} holds a value of another type"));
    Ok(match (kind, cell) {
        (Kind::Int, Cell::Integer(n)) => Value::Int(Some(i32::try_from(n).map_err(|_| wrong())?)),
        (Kind::Int, Cell::Null) => Value::Int(None),
        (Kind::BigInt, Cell::Integer(n)) => Value::BigInt(Some(n)),
        (Kind::BigInt, Cell::Null) => Value::BigInt(None),
        (Kind::Bool, Cell::Integer(n)) => Value::Bool(Some(n != 0)),
        (Kind::Bool, Cell::Null) => Value::Bool(None),
        (Kind::Text, Cell::Text(s)) => Value::String(Some(Box::new(s))),
        (Kind::Text, Cell::Null) => Value::String(None),
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A claimed row decodes into the model as sqlx's would; a missing column reads as NULL.
    #[test]
    fn a_claimed_row_decodes_into_its_model() {
        let names: Vec<String> = webhook_delivery::Column::iter()
            .map(|c| c.as_str().to_owned())
            .collect();
        let cells = names
            .iter()
            .map(|n| match KINDS[n.as_str()] {
                Kind::Text => Cell::Text(format!("{n}!")),
                _ if n == "lease_until" => Cell::Null,
                _ => Cell::Integer(7),
            })
            .collect();
        let row = Row {
            names: names.into(),
            cells,
        };
        let result = query_result(row).expect("typed");
        let model =
            <webhook_delivery::Model as sea_orm::FromQueryResult>::from_query_result(&result, "")
                .expect("model");
        assert_eq!(model.id, 7);
        assert_eq!(model.org_id, 7);
        assert_eq!(model.uuid, "uuid!");
        assert_eq!(model.lease_until, None);
        assert_eq!(
            result
                .try_get::<Option<i64>>("", "applied_id")
                .expect("absent"),
            None
        );
        let wrong = Row {
            names: Arc::from(vec!["id".to_owned()]),
            cells: vec![Cell::Text("x".into())],
        };
        assert!(query_result(wrong).is_err());
    }
}

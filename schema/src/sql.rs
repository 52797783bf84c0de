//! Statement texts of the hot write path, built once per process and backend. Building a
//! statement with sea-query costs more than SQLite takes to run it (callgrind: a third of the
//! instructions of a task transition on SQLite went to formatting column names), so the
//! statements every transition runs are written here with `$n` placeholders (SQLite gets `?n`)
//! and their values passed in that order. Texts never hold a `$` of their own.

use std::fmt::Write as _;
use std::sync::OnceLock;

use sea_orm::{DbBackend, IdenStatic, Iterable, Statement, Value};

/// A statement text, made once and kept for each backend.
pub struct Text {
    make: fn() -> String,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

impl Text {
    /// `make` returns the text with `$1`, `$2`, ... placeholders.
    pub const fn new(make: fn() -> String) -> Self {
        Text {
            make,
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    /// The text for `backend`.
    pub fn get(&self, backend: DbBackend) -> &str {
        match backend {
            DbBackend::Sqlite => self.sqlite.get_or_init(|| (self.make)().replace('$', "?")),
            _ => self.postgres.get_or_init(self.make),
        }
    }

    /// The statement for `backend` with `values` for `$1`, `$2`, ...
    pub fn with(&self, backend: DbBackend, values: impl IntoIterator<Item = Value>) -> Statement {
        Statement::from_sql_and_values(backend, self.get(backend), values)
    }
}

/// Every column of an entity's table, comma-separated, in the entity's order.
pub fn columns<C: IdenStatic + Iterable>() -> String {
    C::iter()
        .map(|c| c.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `INSERT INTO table (columns) VALUES (...), ... RETURNING returning` for `rows` rows of
/// `width` values each, numbered in row order.
pub fn insert_rows(
    backend: DbBackend,
    head: &str,
    width: usize,
    rows: usize,
    returning: &str,
) -> String {
    let mut sql = String::with_capacity(head.len() + rows * width * 5 + 32);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    let mark = if backend == DbBackend::Sqlite {
        "?"
    } else {
        "$"
    };
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{mark}{n}");
        }
        sql.push(')');
    }
    sql.push_str(" RETURNING ");
    sql.push_str(returning);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_per_backend_and_numbered_rows() {
        static T: Text = Text::new(|| "SELECT a FROM t WHERE id = $1 AND org_id = $2".into());
        assert_eq!(
            T.get(DbBackend::Sqlite),
            "SELECT a FROM t WHERE id = ?1 AND org_id = ?2"
        );
        assert_eq!(
            T.get(DbBackend::Postgres),
            "SELECT a FROM t WHERE id = $1 AND org_id = $2"
        );
        assert_eq!(
            insert_rows(DbBackend::Postgres, "INSERT INTO t (a, b)", 2, 2, "id"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING id"
        );
        assert_eq!(
            insert_rows(DbBackend::Sqlite, "INSERT INTO t (a)", 1, 3, "id, uuid"),
            "INSERT INTO t (a) VALUES (?1), (?2), (?3) RETURNING id, uuid"
        );
    }
}

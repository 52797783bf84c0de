//! Statement texts of the hot write path, built once per process and backend. Building a
//! statement with sea-query costs more than SQLite takes to run it (callgrind: a third of the
//! instructions of a task transition on SQLite went to formatting column names), so the
//! statements every transition runs are written here with `$n` placeholders (SQLite gets `?n`)
//! and their values passed in that order. Texts never hold a `$` of their own.

use std::fmt::Write as _;
use std::sync::OnceLock;

use sea_orm::{ConnectionTrait, DbBackend, IdenStatic, Iterable, Statement, Value};

/// A statement text, made once and kept for each backend.
pub struct Text {
    make: Make,
    postgres: OnceLock<String>,
    sqlite: OnceLock<String>,
}

/// How a [`Text`] is made.
enum Make {
    /// Once with `$n` placeholders; SQLite's by replacing `$` with `?`.
    Numbered(fn() -> String),
    /// For each backend on its own (a text sea-query builds, kept as built).
    PerBackend(fn(DbBackend) -> String),
}

impl Text {
    /// `make` returns the text with `$1`, `$2`, ... placeholders.
    pub const fn new(make: fn() -> String) -> Self {
        Text {
            make: Make::Numbered(make),
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    /// `make` returns the text for the backend it is given, placeholders as that backend takes
    /// them.
    pub const fn per_backend(make: fn(DbBackend) -> String) -> Self {
        Text {
            make: Make::PerBackend(make),
            postgres: OnceLock::new(),
            sqlite: OnceLock::new(),
        }
    }

    /// The text for `backend`.
    pub fn get(&self, backend: DbBackend) -> &str {
        let made = |backend| match self.make {
            Make::Numbered(make) if backend == DbBackend::Sqlite => make().replace('$', "?"),
            Make::Numbered(make) => make(),
            Make::PerBackend(make) => make(backend),
        };
        match backend {
            DbBackend::Sqlite => self.sqlite.get_or_init(|| made(DbBackend::Sqlite)),
            _ => self.postgres.get_or_init(|| made(DbBackend::Postgres)),
        }
    }

    /// The statement for `backend` with `values` for `$1`, `$2`, ...
    pub fn with(&self, backend: DbBackend, values: impl IntoIterator<Item = Value>) -> Statement {
        Statement::from_sql_and_values(backend, self.get(backend), values)
    }

    /// The statement for the database `db` talks to, with `values` for `$1`, `$2`, ...
    pub fn on(
        &self,
        db: &impl ConnectionTrait,
        values: impl IntoIterator<Item = Value>,
    ) -> Statement {
        self.with(db.get_database_backend(), values)
    }
}

/// `t.c AS p_c` for every column `c` of an entity's table: a joined row's columns under a prefix,
/// for `FromQueryResult::from_query_result(row, p)`.
pub fn aliased<C: IdenStatic + Iterable>(table: &str, prefix: &str) -> Vec<String> {
    C::iter()
        .map(|c| format!("{table}.{c} AS {prefix}{c}", c = c.as_str()))
        .collect()
}

/// Every column of an entity's table, comma-separated, in the entity's order.
pub fn columns<C: IdenStatic + Iterable>() -> String {
    C::iter()
        .map(|c| c.as_str().to_owned())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `rows` parenthesised, comma-separated lists of `width` placeholders (`mark` and a number),
/// numbered on from `n`.
pub(crate) fn placeholders(sql: &mut String, mark: &str, n: &mut usize, rows: usize, width: usize) {
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..width {
            *n += 1;
            if column > 0 {
                sql.push_str(", ");
            }
            let _ = write!(sql, "{mark}{n}");
        }
        sql.push(')');
    }
}

/// `INSERT INTO table (columns) VALUES (...), ... RETURNING returning` for `rows` rows of
/// `width` values each, numbered in row order.
pub(crate) fn insert_rows(
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
    placeholders(&mut sql, mark, &mut n, rows, width);
    sql.push_str(" RETURNING ");
    sql.push_str(returning);
    sql
}

/// `sql` with its numbered parameters (`{mark}N`) renumbered to start at `first`, so that a
/// statement can be appended to another's parameters. Each number is read whole and moved
/// once (replacing `{mark}1` to `{mark}5` in turn, as before, made `?4613` of `?5` moved by
/// 4,608 and then `?4612613` of its `?4`).
pub(crate) fn renumber(sql: &str, mark: char, first: usize) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c != mark {
            continue;
        }
        let mut digits = String::new();
        while let Some(d) = chars.next_if(char::is_ascii_digit) {
            digits.push(d);
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&(n + first - 1).to_string()),
            Err(_) => out.push_str(&digits),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumbered_parameters_move_once_whatever_their_digits() {
        assert_eq!(
            renumber("a = ?1 AND b IN (?2, ?5)", '?', 3),
            "a = ?3 AND b IN (?4, ?7)"
        );
        assert_eq!(renumber("?5, ?4, ?12", '?', 4609), "?4613, ?4612, ?4620");
        assert_eq!(renumber("$1 || '?'", '$', 1), "$1 || '?'");
    }

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

//! SQLite: the prepared statements of our own threads' connections (`own_writer`,
//! `own_reader`), kept per write text, and a write's statements run with its values bound.
//!
//! A write's text is shared (`Arc<str>`, one per statement shape, made once): the statements
//! are kept by that text's address, with the text itself held so the address is never reused
//! while kept, and with what each use needs found once: the text split into its statements,
//! each statement's parameters mapped to the write's values, its columns' names. rusqlite's
//! own cache, keyed by the text's content, hashed each text twice and copied it once per use
//! (7% of the writer thread's time, `perf`), and each use asked SQLite for every parameter's
//! name and every column's name again.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rusqlite::types::{ToSqlOutput, Value as Cell, ValueRef};
use rusqlite::{Connection, PrepFlags, Statement};
use sea_orm::{DbErr, Value};

use super::{failed, Row, Write};

/// Texts kept (a new build's per shape, the draw's, the outbox's few): past it, one is dropped.
const KEPT_TEXTS: usize = 128;

/// A connection and the statements prepared on it, by the text they came from.
pub(crate) struct Prepared<'c> {
    conn: &'c Connection,
    kept: HashMap<Text, Vec<One<'c>>>,
}

/// A write's text, known by its address (held, so the address stays its own).
struct Text(Arc<str>);

impl PartialEq for Text {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Text {}

impl Hash for Text {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (Arc::as_ptr(&self.0) as *const u8 as usize).hash(state);
    }
}

/// One statement of a text, with its parameters' values and its columns' names.
struct One<'c> {
    statement: Statement<'c>,
    binds: Vec<Bind>,
    names: Arc<[String]>,
}

/// Where a parameter's value comes from.
#[derive(Clone, Copy)]
enum Bind {
    /// The write's next plain value.
    Plain,
    /// The write's value at this index (`?N` is index `N - 1`).
    Numbered(usize),
    /// A gap in the numbers of a numbered statement: never bound, so NULL (a statement starts
    /// with every parameter NULL, and nothing binds this one). A statement appended to a
    /// record's values (`sqlite::outbox::record`) has thousands.
    Gap,
}

impl<'c> Prepared<'c> {
    pub(crate) fn new(conn: &'c Connection) -> Self {
        Prepared {
            conn,
            kept: HashMap::new(),
        }
    }

    /// The connection the statements are prepared on.
    pub(crate) fn conn(&self) -> &'c Connection {
        self.conn
    }

    /// Runs one write's statements; returns the rows they return. A statement's plain `?`
    /// parameters take the write's values in order, its numbered ones (`?N`) the `N`th value
    /// (numbered across the write's statements, as sqlx binds a multi-statement text).
    pub(crate) fn run(&mut self, write: &Write) -> std::result::Result<Vec<Row>, DbErr> {
        let key = Text(write.sql.clone());
        if !self.kept.contains_key(&key) {
            let statements = prepare(self.conn, &write.sql)?;
            if self.kept.len() >= KEPT_TEXTS {
                let any = self.kept.keys().next().map(|t| Text(t.0.clone()));
                if let Some(any) = any {
                    self.kept.remove(&any);
                }
            }
            self.kept.insert(Text(write.sql.clone()), statements);
        }
        let statements = self.kept.get_mut(&key).expect("kept just now");
        let mut plain = write.values.iter();
        let mut numbered = false;
        let mut rows = Vec::with_capacity(write.returns.unwrap_or(0));
        for one in statements.iter_mut() {
            for (i, bind) in one.binds.iter().enumerate() {
                let value = match *bind {
                    Bind::Plain => plain.next(),
                    Bind::Numbered(n) => {
                        numbered = true;
                        write.values.get(n)
                    }
                    Bind::Gap => continue,
                };
                let value = value.ok_or_else(|| {
                    DbErr::Custom("a write has fewer values than its parameters".into())
                })?;
                one.statement
                    .raw_bind_parameter(i + 1, bound(value)?)
                    .map_err(failed)?;
            }
            let width = one.names.len();
            let mut returned = one.statement.raw_query();
            while let Some(row) = returned.next().map_err(failed)? {
                let cells = (0..width).map(|i| row.get_ref(i).map(Cell::from));
                rows.push(Row {
                    names: one.names.clone(),
                    cells: cells.collect::<rusqlite::Result<_>>().map_err(failed)?,
                });
            }
        }
        match numbered || plain.next().is_none() {
            true => Ok(rows),
            false => Err(DbErr::Custom(
                "a write has more values than parameters".into(),
            )),
        }
    }
}

/// Prepares each statement of `sql` (`;`-separated; no `;` inside a literal), with where its
/// parameters' values come from and its columns' names.
fn prepare<'c>(conn: &'c Connection, sql: &str) -> std::result::Result<Vec<One<'c>>, DbErr> {
    sql.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|sql| {
            let statement = conn
                .prepare_with_flags(sql, PrepFlags::SQLITE_PREPARE_PERSISTENT)
                .map_err(failed)?;
            let count = statement.parameter_count();
            let named = (1..=count).any(|i| statement.parameter_name(i).is_some());
            let binds = (1..=count)
                .map(|i| match statement.parameter_name(i) {
                    Some(name) => name
                        .strip_prefix('?')
                        .and_then(|n| n.parse::<usize>().ok())
                        .and_then(|n| n.checked_sub(1))
                        .map(Bind::Numbered)
                        .ok_or_else(|| {
                            DbErr::Custom(format!(
                                "a parameter SQLite's writer cannot bind: {name}"
                            ))
                        }),
                    None if named => Ok(Bind::Gap),
                    None => Ok(Bind::Plain),
                })
                .collect::<std::result::Result<_, DbErr>>()?;
            let names = statement
                .column_names()
                .into_iter()
                .map(String::from)
                .collect();
            Ok(One {
                statement,
                binds,
                names,
            })
        })
        .collect()
}

/// A value as SQLite stores it, as sqlx binds it: booleans and integers as integers, text as
/// text, JSON as its text.
fn bound(value: &Value) -> std::result::Result<ToSqlOutput<'_>, DbErr> {
    use ValueRef::{Integer, Null, Real};
    let int = |n: Option<i64>| ToSqlOutput::Borrowed(n.map_or(Null, Integer));
    Ok(match value {
        Value::Bool(b) => int(b.map(i64::from)),
        Value::TinyInt(n) => int(n.map(i64::from)),
        Value::SmallInt(n) => int(n.map(i64::from)),
        Value::Int(n) => int(n.map(i64::from)),
        Value::BigInt(n) => int(*n),
        Value::TinyUnsigned(n) => int(n.map(i64::from)),
        Value::SmallUnsigned(n) => int(n.map(i64::from)),
        Value::Unsigned(n) => int(n.map(i64::from)),
        Value::BigUnsigned(n) => match n {
            Some(n) => int(Some(i64::try_from(*n).map_err(|_| {
                DbErr::Custom("an unsigned value does not fit SQLite's integers".into())
            })?)),
            None => int(None),
        },
        Value::Float(x) => ToSqlOutput::Borrowed(x.map_or(Null, |x| Real(f64::from(x)))),
        Value::Double(x) => ToSqlOutput::Borrowed(x.map_or(Null, Real)),
        Value::String(s) => {
            ToSqlOutput::Borrowed(s.as_deref().map_or(Null, |s| ValueRef::Text(s.as_bytes())))
        }
        Value::Bytes(b) => ToSqlOutput::Borrowed(b.as_deref().map_or(Null, |b| ValueRef::Blob(b))),
        Value::Json(j) => match j {
            Some(j) => ToSqlOutput::Owned(Cell::Text(j.to_string())),
            None => ToSqlOutput::Borrowed(Null),
        },
        _ => {
            return Err(DbErr::Custom(
                "a value of this type is not written by SQLite's writer thread".into(),
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One text is prepared once and bound anew at each use; another text of the same content
    /// is kept apart; a text SQLite cannot prepare fails and is not kept.
    #[test]
    fn a_text_is_prepared_once_and_bound_anew() {
        let conn = Connection::open_in_memory().expect("conn");
        let mut prepared = Prepared::new(&conn);
        let sql: Arc<str> = "SELECT ?2 AS b, ?1 AS a; SELECT ? + 1 AS c".into();
        let write = |sql: &Arc<str>, values: Vec<Value>| Write::new(sql.clone(), values, None);
        let cells =
            |rows: Vec<Row>| -> Vec<Vec<Cell>> { rows.into_iter().map(|r| r.cells).collect() };
        // A plain `?` of a later statement takes the values from the first.
        let rows = prepared
            .run(&write(&sql, vec![1.into(), "x".into()]))
            .expect("rows");
        assert_eq!(
            cells(rows),
            [
                vec![Cell::Text("x".into()), Cell::Integer(1)],
                vec![Cell::Integer(2)]
            ]
        );
        let numbered: Arc<str> = "SELECT ?2 AS b, ?1 AS a".into();
        let rows = prepared
            .run(&write(&numbered, vec![1.into(), "x".into()]))
            .expect("rows");
        assert_eq!(&*rows[0].names, ["b", "a"]);
        assert_eq!(
            cells(rows),
            [vec![Cell::Text("x".into()), Cell::Integer(1)]]
        );
        let rows = prepared
            .run(&write(&numbered, vec![2.into(), Value::String(None)]))
            .expect("rows");
        assert_eq!(cells(rows), [vec![Cell::Null, Cell::Integer(2)]]);
        let again: Arc<str> = (*numbered).into();
        let rows = prepared
            .run(&write(&again, vec![3.into(), "y".into()]))
            .expect("rows");
        assert_eq!(
            cells(rows),
            [vec![Cell::Text("y".into()), Cell::Integer(3)]]
        );
        assert_eq!(prepared.kept.len(), 3, "each text kept once");
        let wrong: Arc<str> = "SELEC 1".into();
        assert!(prepared.run(&write(&wrong, Vec::new())).is_err());
        assert_eq!(
            prepared.kept.len(),
            3,
            "a text that fails to prepare is not kept"
        );
    }
}

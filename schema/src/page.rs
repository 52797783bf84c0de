//! Relay connections (https://relay.dev/graphql/connections.htm) over rows ordered by ascending
//! id, oldest first, as Cirrus CI orders its connections: `first`/`after` page forwards from the
//! oldest, `last`/`before` backwards from the newest (`webhookDeliveries(last: 50)` is the newest
//! 50, oldest of them first). A cursor is the row's id as a string.
//!
//! Each page is one query for `limit + 1` rows read from the end the page starts at; the extra
//! row says whether more lie beyond it (`hasNextPage` forwards, `hasPreviousPage` backwards). The
//! other flag says whether the page was cut by a cursor on the other side (`after` forwards,
//! `before` backwards), which Relay allows instead of a second query. `first` and `last` together
//! are refused (Relay discourages them; no client we know sends both). With neither, the page is
//! the newest `default` rows, unless `after` alone is given, which pages forwards.

use async_graphql::connection::{Connection, Edge};
use async_graphql::OutputType;
use buildhooks_store::Window;

use crate::error::{Error, Result};

/// The four Relay arguments of a connection field.
#[derive(Default, Debug, Clone)]
pub(crate) struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub(crate) fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        PageArgs {
            first,
            after,
            last,
            before,
        }
    }

    /// Checks the arguments: the window to read (one row more than the page) and the page.
    pub(crate) fn page(&self, default: u64) -> Result<Page> {
        let after = parse_cursor("after", self.after.as_deref())?;
        let before = parse_cursor("before", self.before.as_deref())?;
        let (from_end, size) = match (self.first, self.last) {
            (Some(_), Some(_)) => {
                return Err(Error::field(
                    "last",
                    "first and last cannot be used together: page forwards with first/after or backwards with last/before",
                ))
            }
            (Some(n), None) => (false, page_size("first", n)?),
            (None, Some(n)) => (true, page_size("last", n)?),
            (None, None) => (after.is_none() || before.is_some(), default),
        };
        Ok(Page {
            window: Window {
                after,
                before,
                from_end,
                limit: size + 1,
            },
            size,
        })
    }
}

/// A checked page: the window to read and the page's size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Page {
    pub window: Window,
    size: u64,
}

impl Page {
    /// The connection of `rows` (as the window read them), each with its id and node.
    pub(crate) fn connection<T, N: OutputType, I: Into<i64>>(
        &self,
        mut rows: Vec<T>,
        id: impl Fn(&T) -> I,
        node: impl FnMut(T) -> N,
    ) -> Connection<String, N> {
        let more = rows.len() as u64 > self.size;
        rows.truncate(self.size as usize);
        let w = &self.window;
        let (has_previous, has_next) = match w.from_end {
            true => {
                rows.reverse();
                (more, w.before.is_some())
            }
            false => (w.after.is_some(), more),
        };
        let mut node = node;
        let mut conn = Connection::new(has_previous, has_next);
        conn.edges.extend(rows.into_iter().map(|row| {
            let cursor = id(&row).into().to_string();
            Edge::new(cursor, node(row))
        }));
        conn
    }
}

/// A page size: 1 to 100.
fn page_size(field: &str, n: i32) -> Result<u64> {
    match n {
        1..=100 => Ok(n as u64),
        _ => Err(Error::field(field, "must be between 1 and 100")),
    }
}

/// The id a cursor stands for.
fn parse_cursor(field: &str, cursor: Option<&str>) -> Result<Option<i64>> {
    cursor
        .map(|c| {
            c.trim()
                .parse()
                .map_err(|_| Error::field(field, "invalid cursor"))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        first: Option<i32>,
        after: Option<&str>,
        last: Option<i32>,
        before: Option<&str>,
    ) -> PageArgs {
        PageArgs::new(first, after.map(Into::into), last, before.map(Into::into))
    }

    fn ids(conn: &Connection<String, i32>) -> Vec<i32> {
        conn.edges.iter().map(|e| e.node).collect()
    }

    /// What the store would read from rows 1..=10 for `page`.
    fn read(page: &Page) -> Vec<i32> {
        let w = page.window;
        let mut rows: Vec<i32> = (1..=10)
            .filter(|i| {
                w.after.is_none_or(|a| i64::from(*i) > a)
                    && w.before.is_none_or(|b| i64::from(*i) < b)
            })
            .collect();
        if w.from_end {
            rows.reverse();
        }
        rows.truncate(w.limit as usize);
        rows
    }

    fn run(a: PageArgs) -> Connection<String, i32> {
        let page = a.page(3).expect("valid");
        page.connection(read(&page), |r| *r, |r| r)
    }

    #[test]
    fn last_is_the_newest_in_ascending_order() {
        let c = run(args(None, None, Some(4), None));
        assert_eq!(ids(&c), [7, 8, 9, 10]);
        assert!(c.has_previous_page && !c.has_next_page);
        let c = run(args(None, None, Some(4), Some("7")));
        assert_eq!(ids(&c), [3, 4, 5, 6]);
        assert!(c.has_previous_page && c.has_next_page);
        let c = run(args(None, None, Some(4), Some("3")));
        assert_eq!(ids(&c), [1, 2]);
        assert!(!c.has_previous_page && c.has_next_page);
    }

    #[test]
    fn first_is_the_oldest() {
        let c = run(args(Some(4), None, None, None));
        assert_eq!(ids(&c), [1, 2, 3, 4]);
        assert!(!c.has_previous_page && c.has_next_page);
        let c = run(args(Some(4), Some("8"), None, None));
        assert_eq!(ids(&c), [9, 10]);
        assert!(c.has_previous_page && !c.has_next_page);
        let c = run(args(Some(2), Some("2"), None, Some("5")));
        assert_eq!(ids(&c), [3, 4]);
    }

    #[test]
    fn defaults_to_the_newest_page_unless_after_alone() {
        assert_eq!(ids(&run(args(None, None, None, None))), [8, 9, 10]);
        assert_eq!(ids(&run(args(None, Some("2"), None, None))), [3, 4, 5]);
    }

    #[test]
    fn refuses_bad_sizes_cursors_and_both_directions() {
        for (a, field) in [
            (args(Some(0), None, None, None), "first"),
            (args(Some(101), None, None, None), "first"),
            (args(None, None, Some(-1), None), "last"),
            (args(Some(1), None, Some(1), None), "last"),
            (args(None, Some("x"), None, None), "after"),
            (args(None, None, None, Some("1.5")), "before"),
        ] {
            match a.page(3) {
                Err(Error::InvalidField { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{a:?}: {other:?}"),
            }
        }
    }
}

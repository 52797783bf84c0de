//! A page of rows by id (a Relay connection's window): the ids it lies between and how many
//! rows to read from which end. Rows come back in the order they were read: ascending ids from
//! the front, descending from the back; the caller puts them in the connection's order.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

/// Which rows of a connection ordered by ascending id to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Only ids greater than this (Relay's `after`).
    pub after: Option<i64>,
    /// Only ids smaller than this (Relay's `before`).
    pub before: Option<i64>,
    /// Read from the newest end (Relay's `last`) rather than the oldest (`first`).
    pub from_end: bool,
    /// At most this many rows.
    pub limit: u64,
}

impl Window {
    /// `q` narrowed to this window on the id column `id`, ordered and limited.
    pub fn apply<E: EntityTrait>(&self, mut q: Select<E>, id: impl ColumnTrait) -> Select<E> {
        if let Some(after) = self.after {
            q = q.filter(id.gt(after));
        }
        if let Some(before) = self.before {
            q = q.filter(id.lt(before));
        }
        match self.from_end {
            true => q.order_by_desc(id),
            false => q.order_by_asc(id),
        }
        .limit(self.limit)
    }
}

//! Which database a connection talks to, read from the connection itself: the one place that
//! turns sea-orm's backend into this crate's two modules.

use sea_orm::{ConnectionTrait, DbBackend};

/// The database a statement runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The dialect of `db`.
    pub(crate) fn of(db: &impl ConnectionTrait) -> Dialect {
        Dialect::from(db.get_database_backend())
    }

    /// sea-orm's name for it, for statements.
    pub(crate) fn backend(self) -> DbBackend {
        match self {
            Dialect::Sqlite => DbBackend::Sqlite,
            Dialect::Postgres => DbBackend::Postgres,
        }
    }
}

impl From<DbBackend> for Dialect {
    fn from(backend: DbBackend) -> Self {
        match backend {
            DbBackend::Sqlite => Dialect::Sqlite,
            // MySQL is not built in (sea-orm's features).
            _ => Dialect::Postgres,
        }
    }
}

//! The database handle resolvers and renders use: a connection or an open transaction behind one
//! `ConnectionTrait`, so a payload query run inside a transition sees its uncommitted writes.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, ExecResult,
    QueryResult, Statement,
};

/// A connection, or a transaction shared with the payload renderer.
#[derive(Clone)]
pub enum DbHandle {
    /// The pool: every statement on its own.
    Conn(DatabaseConnection),
    /// An open transaction; statements see its uncommitted writes.
    Txn(Arc<DatabaseTransaction>),
}

#[async_trait::async_trait]
impl ConnectionTrait for DbHandle {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            DbHandle::Conn(c) => c.get_database_backend(),
            DbHandle::Txn(t) => t.get_database_backend(),
        }
    }

    async fn execute(&self, stmt: Statement) -> Result<ExecResult, DbErr> {
        match self {
            DbHandle::Conn(c) => c.execute(stmt).await,
            DbHandle::Txn(t) => t.execute(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<ExecResult, DbErr> {
        match self {
            DbHandle::Conn(c) => c.execute_unprepared(sql).await,
            DbHandle::Txn(t) => t.execute_unprepared(sql).await,
        }
    }

    async fn query_one(&self, stmt: Statement) -> Result<Option<QueryResult>, DbErr> {
        match self {
            DbHandle::Conn(c) => c.query_one(stmt).await,
            DbHandle::Txn(t) => t.query_one(stmt).await,
        }
    }

    async fn query_all(&self, stmt: Statement) -> Result<Vec<QueryResult>, DbErr> {
        match self {
            DbHandle::Conn(c) => c.query_all(stmt).await,
            DbHandle::Txn(t) => t.query_all(stmt).await,
        }
    }

    fn support_returning(&self) -> bool {
        match self {
            DbHandle::Conn(c) => c.support_returning(),
            DbHandle::Txn(t) => t.support_returning(),
        }
    }
}

//! Telling a database that is out of reach (down, refusing or cutting connections, every
//! connection busy) from a statement that failed: the first is worth a retry later (`503`).

use sea_orm::{DbErr, RuntimeErr, SqlxError};

/// Is this the database being out of reach (down, refusing or cutting connections, or every
/// connection busy past the acquire timeout), rather than a failure of the statement itself?
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        // No connection within the pool's acquire timeout, or the pool closed.
        DbErr::ConnectionAcquire(_) => true,
        // Opening a connection failed (refused, reset, authentication, too many clients).
        DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            sqlx_unavailable(e)
        }
        _ => false,
    }
}

fn sqlx_unavailable(error: &SqlxError) -> bool {
    match error {
        SqlxError::Io(_)
        | SqlxError::Tls(_)
        | SqlxError::PoolTimedOut
        | SqlxError::PoolClosed
        | SqlxError::WorkerCrashed => true,
        // PostgreSQL: connection exceptions (class 08), the server shutting down or starting
        // (57P01-57P03), too many connections (53300).
        SqlxError::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(code.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// Is this a unique constraint's refusal (a concurrent writer got there first)?
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(
        error.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

//! The schema crate's error type and its GraphQL face: every variant maps to a stable
//! `extensions.code`, and internal causes are logged here and never shown to clients. A database
//! that cannot be reached (no connection within the pool's acquire timeout, a connection refused
//! or cut) is `UNAVAILABLE`, which the HTTP layer answers with 503, rather than `INTERNAL`.

use async_graphql::ErrorExtensions;
use sea_orm::DbErr;

/// The `extensions.code` of [`Error::Unavailable`]: the client may retry later.
pub const UNAVAILABLE: &str = "UNAVAILABLE";

/// Result of domain and resolver code.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in a request, by what the client should do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input as a whole (`VALIDATION`).
    #[error("{0}")]
    Validation(String),
    /// Bad input in one named field, e.g. `deliveryEndpoints[1].webhookURL` (`VALIDATION`).
    #[error("{field}: {message}")]
    InvalidField { field: String, message: String },
    /// The id does not exist or belongs to another organization (`NOT_FOUND`).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// No or a wrong token (`UNAUTHENTICATED`).
    #[error("a valid organization token is required (Authorization: Bearer <token>)")]
    Unauthenticated,
    /// The status machine forbids the change (`INVALID_TRANSITION`).
    #[error("{0}")]
    InvalidTransition(String),
    /// The transition table forbids this move; the statuses it allows from where the row is
    /// are in the message and in `extensions.allowedNext` (`INVALID_TRANSITION`).
    #[error("{message}; allowed next: {}", allowed_list(.allowed_next))]
    NotAllowed {
        message: String,
        allowed_next: Vec<&'static str>,
    },
    /// The delivery's payload was erased: it cannot be sent again (`ERASED`).
    #[error("{0}")]
    Erased(String),
    /// Re-enabling an endpoint asks for a test message that succeeds; this one did not
    /// (`TEST_MESSAGE_FAILED`, with the answer's `status` or the `error` code in the extensions).
    #[error("the test message failed ({}); the endpoint stays disabled", answer_of(.status, .error))]
    TestMessageFailed {
        status: Option<i32>,
        error: Option<String>,
    },
    /// The database cannot be reached right now (`UNAVAILABLE`); its text stays in the logs.
    #[error("the database is unavailable; try again")]
    Unavailable(DbErr),
    /// Any other database failure; its text stays in the logs.
    #[error("internal error")]
    Db(DbErr),
    /// Any other internal failure; its text stays in the logs.
    #[error("internal error")]
    Internal(String),
}

/// `TRIGGERED, ABORTED`, or `none` from a final status.
fn allowed_list(allowed: &[&str]) -> String {
    match allowed.is_empty() {
        true => "none (the status is final)".to_owned(),
        false => allowed.join(", "),
    }
}

/// What a failed test message came to: `HTTP <status>`, else its error code.
fn answer_of(status: &Option<i32>, error: &Option<String>) -> String {
    match (status, error) {
        (Some(status), _) => format!("HTTP {status}"),
        (None, Some(error)) => error.clone(),
        (None, None) => "no answer".into(),
    }
}

impl Error {
    /// The stable `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Validation(_) | Error::InvalidField { .. } => "VALIDATION",
            Error::NotFound(_) => "NOT_FOUND",
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::InvalidTransition(_) | Error::NotAllowed { .. } => "INVALID_TRANSITION",
            Error::Erased(_) => "ERASED",
            Error::TestMessageFailed { .. } => "TEST_MESSAGE_FAILED",
            Error::Unavailable(_) => UNAVAILABLE,
            Error::Db(_) | Error::Internal(_) => "INTERNAL",
        }
    }

    /// Shorthand for a field-level validation error.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<DbErr> for Error {
    fn from(error: DbErr) -> Self {
        match is_unavailable(&error) {
            true => Error::Unavailable(error),
            false => Error::Db(error),
        }
    }
}

pub use buildhooks_store::is_unavailable;

impl ErrorExtensions for Error {
    fn extend(&self) -> async_graphql::Error {
        match self {
            Error::Unavailable(cause) => tracing::warn!(error = %cause, "database unavailable"),
            Error::Db(cause) => tracing::error!(error = %cause, "database error"),
            Error::Internal(cause) => tracing::error!(error = %cause, "internal error"),
            _ => {}
        }
        let code = self.code();
        let field = match self {
            Error::InvalidField { field, .. } => Some(field.clone()),
            _ => None,
        };
        let (status, error) = match self {
            Error::TestMessageFailed { status, error } => (*status, error.clone()),
            _ => (None, None),
        };
        let allowed_next = match self {
            Error::NotAllowed { allowed_next, .. } => Some(allowed_next.clone()),
            _ => None,
        };
        async_graphql::Error::new(self.to_string()).extend_with(|_, ext| {
            ext.set("code", code);
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
            if let Some(status) = status {
                ext.set("status", status);
            }
            if let Some(error) = &error {
                ext.set("error", error.as_str());
            }
            if let Some(allowed) = &allowed_next {
                ext.set("allowedNext", allowed.clone());
            }
        })
    }
}

/// Gives every error of a response a `code`: errors raised by async-graphql itself (syntax,
/// validation, input coercion, limits) have none and are the client's fault, so `VALIDATION`.
pub fn normalize_response(mut response: async_graphql::Response) -> async_graphql::Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|ext| ext.get("code").is_some());
        if !has_code {
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", "VALIDATION");
        }
    }
    response
}

/// Does any error of this response say the database is unavailable? (The HTTP layer then
/// answers 503.)
pub fn is_unavailable_response(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|ext| ext.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from(UNAVAILABLE))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnAcquireErr, RuntimeErr, SqlxError};

    fn io(kind: std::io::ErrorKind) -> SqlxError {
        SqlxError::Io(std::io::Error::new(
            kind,
            "connection to 10.0.0.5:5432 refused",
        ))
    }

    #[test]
    fn unreachable_databases_are_unavailable_and_keep_their_text_out_of_the_message() {
        let cases = [
            DbErr::ConnectionAcquire(ConnAcquireErr::Timeout),
            DbErr::Conn(RuntimeErr::SqlxError(io(
                std::io::ErrorKind::ConnectionRefused,
            ))),
            DbErr::Query(RuntimeErr::SqlxError(io(std::io::ErrorKind::UnexpectedEof))),
            DbErr::Exec(RuntimeErr::SqlxError(SqlxError::PoolTimedOut)),
        ];
        for cause in cases {
            let error = Error::from(cause);
            assert_eq!(error.code(), UNAVAILABLE, "{error:?}");
            assert_eq!(error.to_string(), "the database is unavailable; try again");
        }
    }

    #[test]
    fn a_forbidden_move_names_the_allowed_ones() {
        let error = Error::NotAllowed {
            message: "task 1 cannot go from CREATED to EXECUTING".into(),
            allowed_next: vec!["TRIGGERED", "ABORTED"],
        };
        assert_eq!(error.code(), "INVALID_TRANSITION");
        assert_eq!(
            error.to_string(),
            "task 1 cannot go from CREATED to EXECUTING; allowed next: TRIGGERED, ABORTED"
        );
        let extended = error.extend();
        let ext = extended.extensions.expect("extensions");
        assert_eq!(
            ext.get("allowedNext"),
            Some(&async_graphql::Value::from(vec!["TRIGGERED", "ABORTED"]))
        );
    }

    #[test]
    fn other_database_errors_stay_internal() {
        let error = Error::from(DbErr::Query(RuntimeErr::SqlxError(SqlxError::RowNotFound)));
        assert_eq!(error.code(), "INTERNAL");
        assert_eq!(Error::from(DbErr::RecordNotInserted).code(), "INTERNAL");
    }
}

//! What an inbound request is answered: the status, the JSON body and what came of it, for the
//! log and the counters; and how the server hands the request's headers in.

use serde_json::{json, Value};

pub use super::counters::Outcome;
use super::counters::Refused;
use crate::error::Error;
use crate::store::Store;
/// A request's headers, by lower-case name (the server's header map implements it).
pub trait Headers: Sync {
    /// The first value of header `name` (lower case), if it is present and text.
    fn get(&self, name: &str) -> Option<&str>;
}

/// The answer to send: status, JSON body, and what came of it.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub outcome: Outcome,
}

impl Answer {
    pub(crate) fn error(status: u16, reason: Refused, message: &str) -> Self {
        Answer {
            status,
            body: json!({ "error": { "code": reason.code(), "message": message } }),
            outcome: Outcome::Refused(reason),
        }
    }

    /// 404: no live source has this id.
    pub fn not_found(store: &Store) -> Self {
        store.inbound_counters().refused(None, Refused::NotFound);
        Self::error(404, Refused::NotFound, "no inbound source has this id")
    }

    /// The answer to a request that failed inside: 503 when the database is out of reach,
    /// else 500. The cause is logged, never sent.
    pub(crate) fn failed(error: &Error) -> Self {
        let (status, code, message) = match error {
            Error::Unavailable(_) => (
                503,
                crate::error::UNAVAILABLE,
                "the database is unavailable; try again",
            ),
            _ => (500, "INTERNAL", "internal error"),
        };
        tracing::error!(%error, cause = ?error, "inbound request failed");
        Answer {
            status,
            body: json!({ "error": { "code": code, "message": message } }),
            outcome: Outcome::Refused(Refused::Internal),
        }
    }

    /// 200: this delivery id was received before; nothing changes.
    pub(crate) fn duplicate() -> Self {
        Answer {
            status: 200,
            body: json!({ "result": "duplicate" }),
            outcome: Outcome::Duplicate,
        }
    }
}

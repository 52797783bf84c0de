//! Counts of inbound requests by source kind and result, and of refusals by reason, for
//! `/metrics`; and the per-source budget for logging refusals (so a flood of bad requests to one
//! source cannot fill the log or hold the write lock).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// At most this many refusals of one source are logged per window; the rest are only counted.
pub const REFUSALS_LOGGED: u32 = 10;
/// The window of [`REFUSALS_LOGGED`], in ms.
pub const REFUSAL_WINDOW_MS: i64 = 10_000;

/// What came of a request, for the log and the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Ignored,
    Refused(Refused),
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    NotFound,
    TooLarge,
    Unauthenticated,
    UnsupportedMediaType,
    Malformed,
    Internal,
}

impl Refused {
    /// Every reason, for the counters.
    pub const ALL: [Refused; 6] = [
        Refused::NotFound,
        Refused::TooLarge,
        Refused::Unauthenticated,
        Refused::UnsupportedMediaType,
        Refused::Malformed,
        Refused::Internal,
    ];

    /// The answer's stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Refused::NotFound => "NOT_FOUND",
            Refused::TooLarge => "PAYLOAD_TOO_LARGE",
            Refused::Unauthenticated => "UNAUTHENTICATED",
            Refused::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Refused::Malformed => "MALFORMED",
            Refused::Internal => "INTERNAL",
        }
    }

    /// The metric's `reason` label.
    pub fn label(self) -> &'static str {
        match self {
            Refused::NotFound => "not_found",
            Refused::TooLarge => "too_large",
            Refused::Unauthenticated => "unauthenticated",
            Refused::UnsupportedMediaType => "unsupported_media_type",
            Refused::Malformed => "malformed",
            Refused::Internal => "internal",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The source kinds, as stored (`inbound::kind`).
/// The source kinds, as stored (`inbound::kind`).
const KINDS: [&str; 3] = ["github", "gitlab", "generic"];
const RESULTS: [&str; 4] = ["applied", "duplicate", "ignored", "refused"];

fn kind_index(kind: &str) -> usize {
    KINDS.iter().position(|k| *k == kind).unwrap_or(2)
}

/// One server's inbound counters and refusal budgets (held by its `Store`).
#[derive(Default)]
pub struct Counters {
    answered: [[AtomicU64; 4]; 3],
    refused: [AtomicU64; 6],
    /// Per source uid: the current window's start and how many refusals it logged.
    budget: Mutex<HashMap<String, (i64, u32)>>,
}

impl Counters {
    /// Counts a refusal (`kind` is `None` when no source was found).
    pub fn refused(&self, kind: Option<&str>, reason: Refused) {
        self.refused[reason.index()].fetch_add(1, Ordering::Relaxed);
        if let Some(kind) = kind {
            self.answered[kind_index(kind)][3].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an answer that was not a refusal (refusals count in [`Counters::refused`]).
    pub fn answered(&self, kind: &str, outcome: Outcome) {
        let result = match outcome {
            Outcome::Applied => 0,
            Outcome::Duplicate => 1,
            Outcome::Ignored => 2,
            Outcome::Refused(_) => return,
        };
        self.answered[kind_index(kind)][result].fetch_add(1, Ordering::Relaxed);
    }

    /// `(kind, result, count)` of every answered request since the process started.
    pub fn requests(&self) -> Vec<(&'static str, &'static str, u64)> {
        let mut out = Vec::new();
        for (k, kind) in KINDS.iter().enumerate() {
            for (r, result) in RESULTS.iter().enumerate() {
                out.push((*kind, *result, self.answered[k][r].load(Ordering::Relaxed)));
            }
        }
        out
    }

    /// `(reason, count)` of every refusal since the process started.
    pub fn refusals(&self) -> Vec<(&'static str, u64)> {
        Refused::ALL
            .iter()
            .map(|r| (r.label(), self.refused[r.index()].load(Ordering::Relaxed)))
            .collect()
    }

    /// Whether a refusal of source `uid` at `now` may still be logged in this window.
    pub fn may_log_refusal(&self, uid: &str, now: i64) -> bool {
        let mut budget = self.budget.lock().unwrap_or_else(|e| e.into_inner());
        if budget.len() > 10_000 {
            budget.retain(|_, (start, _)| now - *start < REFUSAL_WINDOW_MS);
        }
        let entry = budget.entry(uid.to_owned()).or_insert((now, 0));
        if now - entry.0 >= REFUSAL_WINDOW_MS {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= REFUSALS_LOGGED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_budget_per_source_and_window() {
        let c = Counters::default();
        let logged = (0..15).filter(|_| c.may_log_refusal("a", 1_000)).count();
        assert_eq!(logged, REFUSALS_LOGGED as usize);
        assert!(
            c.may_log_refusal("b", 1_000),
            "another source has its own budget"
        );
        assert!(
            c.may_log_refusal("a", 1_000 + REFUSAL_WINDOW_MS),
            "a new window"
        );
    }
}

//! The deliveries log's filters (`webhookDeliveries(endpointId, state, event)`), checked and
//! turned into the store's [`Filter`]: an endpoint of the viewer's organization (deleted ones
//! too; any other id is `NOT_FOUND`, exactly as one that does not exist), states among the
//! four a delivery has (`VALIDATION` on `state` otherwise), and an event as the endpoints'
//! patterns name it: a kind (`build`, `task`, `ping`, `audit_event`, `endpoint`, or `build.*`)
//! or `kind.word`, where the word is the delivery's action (`created`, `updated`, `fixed`,
//! `still_failing`, ...) or its event's new status in lower case (`task.failed`).

use async_graphql::ID;
use buildhooks_store::outbox::log::Filter;
use buildhooks_store::outbox::state;
use sea_orm::ConnectionTrait;

use crate::ctx::parse_id;
use crate::error::{Error, Result};

/// The states a delivery can be in.
pub const STATES: [&str; 4] = [
    state::PENDING,
    state::IN_FLIGHT,
    state::DELIVERED,
    state::FAILED,
];

/// The filter arguments as the client gave them.
#[derive(Clone, Debug, Default)]
pub struct FilterArgs {
    pub endpoint_id: Option<ID>,
    pub state: Option<Vec<String>>,
    pub event: Option<String>,
}

impl FilterArgs {
    /// The store's filter for the deliveries of `org_id`, or why the arguments are refused.
    pub(crate) async fn check(&self, db: &impl ConnectionTrait, org_id: i32) -> Result<Filter> {
        let states = states(self.state.as_deref().unwrap_or_default())?;
        let (kind, word) = event(self.event.as_deref().unwrap_or_default())?;
        let endpoint_id = match &self.endpoint_id {
            Some(id) => {
                let id = parse_id(id, "endpoint")?;
                match buildhooks_store::endpoints::by_id(db, id).await? {
                    Some(e) if e.org_id == org_id => Some(id),
                    _ => return Err(Error::NotFound("endpoint")),
                }
            }
            None => None,
        };
        Ok(Filter {
            endpoint_id,
            states,
            kind,
            word,
        })
    }
}

/// The states named, upper-cased and deduplicated; an unknown one is refused.
fn states(given: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for s in given {
        let s = s.trim().to_ascii_uppercase();
        if !STATES.contains(&s.as_str()) {
            let shown: String = s.chars().take(40).collect();
            return Err(Error::field(
                "state",
                format!("unknown state {shown:?}: use PENDING, IN_FLIGHT, DELIVERED or FAILED"),
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out)
}

/// A word of an event name: lower-case letters and `_`, 1 to 40 of them.
fn is_word(w: &str) -> bool {
    (1..=40).contains(&w.len()) && w.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
}

/// The kind and the word an event filter names (`*` and empty: none).
fn event(given: &str) -> Result<(Option<String>, Option<String>)> {
    let e = given.trim().to_ascii_lowercase();
    if e.is_empty() || e == "*" {
        return Ok((None, None));
    }
    let (kind, word) = match e.split_once('.') {
        Some((kind, "*")) => (kind, None),
        Some((kind, word)) => (kind, Some(word)),
        None => (e.as_str(), None),
    };
    if !is_word(kind) || !word.is_none_or(is_word) {
        return Err(Error::field(
            "event",
            "not an event: give a kind (build, task, ping, audit_event, endpoint) or \
             kind.action / kind.status in lower case, e.g. task.failed or build.fixed",
        ));
    }
    Ok((Some(kind.to_owned()), word.map(str::to_owned)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_the_four_in_any_case() {
        let given = vec![
            "failed".to_owned(),
            " DELIVERED".to_owned(),
            "FAILED".to_owned(),
        ];
        assert_eq!(
            states(&given).ok(),
            Some(vec!["FAILED".into(), "DELIVERED".into()])
        );
        match states(&["DONE".to_owned()]) {
            Err(Error::InvalidField { field, .. }) => assert_eq!(field, "state"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn events_are_a_kind_or_kind_dot_word() {
        assert_eq!(event("").ok(), Some((None, None)));
        assert_eq!(event("*").ok(), Some((None, None)));
        assert_eq!(event("Task").ok(), Some((Some("task".into()), None)));
        assert_eq!(event("build.*").ok(), Some((Some("build".into()), None)));
        assert_eq!(
            event("task.failed").ok(),
            Some((Some("task".into()), Some("failed".into())))
        );
        for bad in ["task.", ".x", "a.b.c", "task failed", "t%"] {
            assert!(event(bad).is_err(), "{bad}");
        }
    }
}

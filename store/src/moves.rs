//! A task's move as plain values: the statuses it may come from and the timestamps it sets (the
//! domain's rules, given to the store), and what a move in one statement returns.

use std::sync::OnceLock;

use buildhooks_entity::task as task_row;
use sea_orm::DbErr;

use crate::Result;

/// Which timestamps a move to a status sets, besides `status_timestamp`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stamps {
    pub scheduled: bool,
    /// Set on the first move to it only.
    pub executing: bool,
    pub final_status: bool,
}

/// A task's move to `to` as the domain's tables state it: the statuses it may come from and the
/// timestamps it sets. Made once per status; the statement text is kept in it.
#[derive(Debug)]
pub struct TaskMove {
    pub to: &'static str,
    pub from: Vec<&'static str>,
    pub stamps: Stamps,
    text: OnceLock<String>,
}

impl TaskMove {
    pub fn new(to: &'static str, from: Vec<&'static str>, stamps: Stamps) -> Self {
        TaskMove {
            to,
            from,
            stamps,
            text: OnceLock::new(),
        }
    }

    pub(crate) fn text(&self, make: impl FnOnce(&TaskMove) -> String) -> &str {
        self.text.get_or_init(|| make(self))
    }
}

/// A task moved in one statement: the row as written, the status it left, and the (status,
/// optional) pairs of its build's other latest runs.
pub struct Moved {
    pub task: task_row::Model,
    pub old_status: String,
    pub others: Vec<(String, bool)>,
}

/// `status:optional` pairs, comma-separated, as the one-statement move aggregates them.
pub(crate) fn parse_states(others: Option<String>) -> Result<Vec<(String, bool)>> {
    let Some(others) = others else {
        return Ok(Vec::new());
    };
    others
        .split(',')
        .map(|pair| {
            let (status, optional) = pair
                .split_once(':')
                .ok_or_else(|| DbErr::Custom(format!("task state {pair:?}")))?;
            Ok((status.to_owned(), optional == "true"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::parse_states;

    #[test]
    fn states_parse() {
        let states = parse_states(Some("EXECUTING:false,FAILED:true".into())).expect("parse");
        assert_eq!(
            states,
            vec![("EXECUTING".into(), false), ("FAILED".into(), true)]
        );
        assert!(parse_states(None).expect("none").is_empty());
        assert!(parse_states(Some("EXECUTING".into())).is_err());
    }
}

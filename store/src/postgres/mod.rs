//! PostgreSQL: the statement texts only PostgreSQL runs (a transition's events and outbox rows in
//! one statement, a task move in one statement, the claim and record cycles), and `LISTEN` for
//! other instances' commits.

pub(crate) mod batch;
pub(crate) mod draws;
pub(crate) mod listen;
pub(crate) mod outbox;
pub(crate) mod outbox_insert;
pub(crate) mod retention;
pub(crate) mod rows_values;
pub(crate) mod task_move;

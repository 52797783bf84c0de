//! Faults a test switches on to prove atomicity, installed as the server's commit hooks (the
//! production value, `NoHooks`, does nothing).

use std::sync::atomic::{AtomicBool, Ordering};

use buildhooks_schema::{CommitHooks, Error, Result};

/// Switches read on every transition's commit.
#[derive(Default, Debug)]
pub struct Faults {
    /// Fail the transaction after the outbox rows were inserted, before the commit.
    pub fail_after_outbox: AtomicBool,
}

impl CommitHooks for Faults {
    fn before_commit(&self) -> Result<()> {
        match self.fail_after_outbox.load(Ordering::SeqCst) {
            true => Err(Error::Internal("injected fault after outbox insert".into())),
            false => Ok(()),
        }
    }
}

//! The queue that calls' statements sent together share (PostgreSQL's `batch`: new builds,
//! `draws`: their ids and endpoints; SQLite's `ids`: new ids, with one runner). Calls push their
//! job; at most [`RUNNERS`] runners (by default), each a task of its own, take what is queued and
//! send it as one statement. Below saturation a call finds a runner free and is sent at once,
//! alone; under load the calls that arrive while the runners are busy go together in the next
//! statement. (Sending a call alone from its own task when nothing is queued, to save the hop to
//! a runner and back, was measured on PostgreSQL and not kept: the p50 at an offered 500/s did
//! not move, and at saturation fewer calls went together: 2,189-2,352 against 2,332-2,447
//! deliveries/s, 0.71-0.77 against 0.69-0.70 CPU s per 1,000.)

use std::sync::Mutex;

use sea_orm::DbErr;
use tokio::sync::oneshot;

use crate::Result;

/// Statements of one queue running at once. Measured for new builds at 64 calls in flight
/// (`bench --mode api`, one sitting): 1 runner 2,236 and 2,251 deliveries/s at 0.75 CPU s per
/// 1,000, 2 runners 2,153 and 2,217 at 0.78, 4 runners 2,081 and 2,034 at 0.85, 8 runners 1,867
/// and 2,045 at 0.90; at an offered 500/s 2 and 4 kept the p99 near 4.5 ms where 1 (calls
/// waiting behind a running statement) reached 5.8.
pub(crate) const RUNNERS: usize = 2;

/// Queued jobs and how many runners are sending.
pub(crate) struct Queue<J> {
    state: Mutex<State<J>>,
    /// Most runners at once.
    runners: usize,
}

struct State<J> {
    jobs: Vec<J>,
    running: usize,
}

impl<J> Default for Queue<J> {
    fn default() -> Self {
        Queue::with_runners(RUNNERS)
    }
}

impl<J> Queue<J> {
    /// A queue sent by at most `runners` runners at once.
    pub(crate) fn with_runners(runners: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                jobs: Vec::new(),
                running: 0,
            }),
            runners,
        }
    }

    /// Queues `job` (which answers on `answer`'s sender), calls `start` when a runner is to be
    /// started (it spawns one), and waits for the answer.
    pub(crate) async fn call<T>(
        &self,
        job: J,
        answer: oneshot::Receiver<Result<T>>,
        start: impl FnOnce(),
    ) -> Result<T> {
        let poisoned = || DbErr::Custom("a statement queue is poisoned".into());
        if self.push(job).ok_or_else(poisoned)? {
            start();
        }
        answer
            .await
            .map_err(|_| DbErr::Custom("a queued statement stopped".into()))?
    }

    /// Queues `job`; true when the caller is to start a runner (fewer than its most run).
    /// `None` when the queue is poisoned (a runner panicked holding it).
    pub(crate) fn push(&self, job: J) -> Option<bool> {
        let mut state = self.state.lock().ok()?;
        state.jobs.push(job);
        let start = state.running < self.runners;
        state.running += usize::from(start);
        Some(start)
    }

    /// A runner started after [`Queue::push`] said so.
    pub(crate) fn runner(&self) -> Runner<'_, J> {
        Runner {
            queue: self,
            stopped: false,
        }
    }

    fn leave(&self) {
        if let Ok(mut state) = self.state.lock() {
            state.running = state.running.saturating_sub(1);
        }
    }
}

/// One runner's place: given back when the queue is empty, or when the runner is dropped
/// before that (it panicked), so the queue never runs out of runners.
pub(crate) struct Runner<'a, J> {
    queue: &'a Queue<J>,
    stopped: bool,
}

impl<J> Runner<'_, J> {
    /// The next jobs to send together, chosen by `take` from the queue (never empty); `None`
    /// when nothing is queued: the runner stops.
    pub(crate) fn next(&mut self, take: impl FnOnce(&mut Vec<J>) -> Vec<J>) -> Option<Vec<J>> {
        if self.stopped {
            return None;
        }
        let Ok(mut state) = self.queue.state.lock() else {
            // Poisoned: every waiting caller is told by its dropped sender.
            self.stopped = true;
            return None;
        };
        if state.jobs.is_empty() {
            state.running = state.running.saturating_sub(1);
            self.stopped = true;
            return None;
        }
        Some(take(&mut state.jobs))
    }

    /// The oldest `most` jobs at most (see [`Runner::next`]).
    pub(crate) fn next_up_to(&mut self, most: usize) -> Option<Vec<J>> {
        self.next(|jobs| {
            let n = jobs.len().min(most);
            jobs.drain(..n).collect()
        })
    }
}

/// Tells each of `jobs` (through the sender `told` takes from it) its answer, in order, or a
/// copy of the error they all failed with.
pub(crate) fn tell_each<J, T>(
    jobs: Vec<J>,
    answers: Result<Vec<T>>,
    told: impl Fn(J) -> oneshot::Sender<Result<T>>,
) {
    match answers {
        Ok(answers) => {
            for (job, answer) in jobs.into_iter().zip(answers) {
                let _ = told(job).send(Ok(answer));
            }
        }
        Err(error) => {
            for job in jobs {
                let _ = told(job).send(Err(copy_of(&error)));
            }
        }
    }
}

/// An error for each call of a failed statement, of the same kind where callers tell kinds
/// apart: the database out of reach stays that (a `503`, worth a retry), any other is internal.
pub(crate) fn copy_of(error: &DbErr) -> DbErr {
    match crate::is_unavailable(error) {
        true => DbErr::Conn(sea_orm::RuntimeErr::Internal(error.to_string())),
        false => DbErr::Custom(error.to_string()),
    }
}

impl<J> Drop for Runner<'_, J> {
    fn drop(&mut self) {
        if !self.stopped {
            self.queue.leave();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_of_a_failed_statement_gets_an_error_of_the_same_kind() {
        let away = DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert!(crate::is_unavailable(&copy_of(&away)));
        let failed = DbErr::Custom("bad".into());
        assert!(!crate::is_unavailable(&copy_of(&failed)));
    }

    #[test]
    fn runners_start_up_to_the_limit_and_stop_when_the_queue_is_empty() {
        let queue = Queue::default();
        let started: Vec<bool> = (0..4).map(|i| queue.push(i).expect("pushed")).collect();
        assert_eq!(started, [true, true, false, false]);
        let (mut first, mut second) = (queue.runner(), queue.runner());
        assert_eq!(first.next(std::mem::take), Some(vec![0, 1, 2, 3]));
        assert_eq!(first.next(std::mem::take), None, "the first runner stops");
        assert_eq!(queue.push(4), Some(true), "a runner's place is free again");
        let mut third = queue.runner();
        assert_eq!(second.next(std::mem::take), Some(vec![4]));
        assert_eq!(queue.push(5), Some(false), "two still run");
        drop(second);
        assert_eq!(
            queue.push(6),
            Some(true),
            "a runner dropped early gave its place back"
        );
        assert_eq!(third.next(std::mem::take), Some(vec![5, 6]));
        drop(first);
        assert_eq!(
            queue.push(7),
            Some(false),
            "a stopped runner gives its place back once"
        );
    }
}

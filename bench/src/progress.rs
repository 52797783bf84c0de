//! The progress bar a run shows on stderr while deliveries arrive: an `indicatif` bar with the
//! count, the rate and the time left. Hidden when stderr is not a terminal, so CI logs and
//! redirected output hold only the JSON report and the run's own lines.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::receiver::Arrivals;

/// How often the bar reads the arrivals.
const REFRESH: Duration = Duration::from_millis(200);

const TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} {per_sec} eta {eta}";

/// Shows progress on a terminal until dropped.
pub(crate) struct Progress {
    bar: ProgressBar,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// A bar labelled `label` that follows the distinct deliveries in `arrivals` up to
    /// `expected`.
    pub fn start(label: &'static str, arrivals: Arrivals, expected: usize) -> Self {
        let bar = bar(label, expected, std::io::stderr().is_terminal());
        if bar.is_hidden() {
            return Progress { bar, task: None };
        }
        let task = tokio::spawn({
            let bar = bar.clone();
            async move {
                loop {
                    bar.set_position(arrivals.counts().0 as u64);
                    tokio::time::sleep(REFRESH).await;
                }
            }
        });
        Progress {
            bar,
            task: Some(task),
        }
    }
}

/// The bar, drawn on stderr when it is a `terminal`, else hidden.
fn bar(label: &'static str, expected: usize, terminal: bool) -> ProgressBar {
    let target = match terminal {
        true => ProgressDrawTarget::stderr(),
        false => ProgressDrawTarget::hidden(),
    };
    let bar = ProgressBar::with_draw_target(Some(expected as u64), target);
    // The template is a constant that the test below parses.
    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
        bar.set_style(style.progress_chars("#>-"));
    }
    bar.set_prefix(label);
    bar
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        // Leaves the last line on a terminal (nothing when hidden).
        self.bar.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_parses() {
        assert!(ProgressStyle::with_template(TEMPLATE).is_ok());
    }

    #[test]
    fn off_a_terminal_the_bar_is_hidden() {
        let bar = bar("e2e", 300, false);
        assert!(bar.is_hidden());
        assert_eq!(bar.length(), Some(300));
        assert_eq!(bar.prefix(), "e2e");
    }

    #[tokio::test]
    async fn a_run_without_a_terminal_starts_no_drawing_task() {
        // Test output is captured: stderr is not a terminal here.
        if std::io::stderr().is_terminal() {
            return;
        }
        let progress = Progress::start("raw", Arrivals::default(), 10);
        assert!(progress.task.is_none());
        assert!(progress.bar.is_hidden());
    }
}

//! Reading an [`Event`] the way a message shows it: its tone (colour and emoji), headline,
//! labelled facts (repository, branch, build, task, status change, duration, author) and the
//! one-line transition a digest lists. Every field is optional: a custom payload query may leave
//! any of them out, and nothing here fails on that.

use serde_json::Value;

use crate::event::Event;

/// How a message looks: one per outcome a CI event can have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    Failed,
    StillFailing,
    Completed,
    Fixed,
    Executing,
    Aborted,
    Errored,
    NeedsApproval,
    Waiting,
    Ping,
}

impl Tone {
    /// The tone of `event`: its derived key first (`build.fixed`), then its new status.
    pub(crate) fn of(event: &Event) -> Tone {
        if event.is_ping() {
            return Tone::Ping;
        }
        match event.key.as_str() {
            "build.fixed" => return Tone::Fixed,
            "build.still_failing" => return Tone::StillFailing,
            _ => {}
        }
        match event.new_status.as_deref().unwrap_or_default() {
            "FAILED" => Tone::Failed,
            "COMPLETED" => Tone::Completed,
            "EXECUTING" => Tone::Executing,
            "ABORTED" | "SKIPPED" => Tone::Aborted,
            "ERRORED" => Tone::Errored,
            "NEEDS_APPROVAL" | "PAUSED" => Tone::NeedsApproval,
            _ => Tone::Waiting,
        }
    }

    /// The emoji a message starts with.
    pub(crate) fn emoji(self) -> &'static str {
        match self {
            Tone::Failed | Tone::StillFailing => "❌",
            Tone::Completed => "✅",
            Tone::Fixed => "🎉",
            Tone::Executing => "▶️",
            Tone::Aborted => "⏹️",
            Tone::Errored => "⚠️",
            Tone::NeedsApproval => "⏸️",
            Tone::Waiting => "🕒",
            Tone::Ping => "🔔",
        }
    }

    /// An RGB colour (Discord's embed `color`).
    pub(crate) fn rgb(self) -> u32 {
        match self {
            Tone::Failed | Tone::StillFailing => 0xE0_1E_5A,
            Tone::Completed | Tone::Fixed => 0x2E_B6_7D,
            Tone::Executing | Tone::Ping => 0x1F_6F_EB,
            Tone::Aborted | Tone::Waiting => 0x8B_94_9E,
            Tone::Errored => 0xF0_88_3E,
            Tone::NeedsApproval => 0xD2_99_22,
        }
    }

    /// What happened, after the subject: "task test *failed*".
    fn verb(self, status: Option<&str>) -> String {
        match self {
            Tone::Failed => "failed".into(),
            Tone::StillFailing => "is still failing".into(),
            Tone::Completed => "completed".into(),
            Tone::Fixed => "is fixed".into(),
            Tone::Executing => "is executing".into(),
            Tone::Aborted => format!(
                "was {}",
                status
                    .unwrap_or("ABORTED")
                    .to_ascii_lowercase()
                    .replace('_', " ")
            ),
            Tone::Errored => "errored".into(),
            Tone::NeedsApproval if status == Some("PAUSED") => "is paused".into(),
            Tone::NeedsApproval => "needs approval".into(),
            Tone::Waiting => match status {
                Some(s) => format!("is {}", s.to_ascii_lowercase().replace('_', " ")),
                None => "changed".into(),
            },
            Tone::Ping => "".into(),
        }
    }
}

/// A JSON scalar as text: strings as they are, numbers and booleans printed, anything else none.
pub(crate) fn scalar(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `data.<a>.<b>...` as text.
fn path(data: &Value, keys: &[&str]) -> Option<String> {
    let mut at = data;
    for key in keys {
        at = at.get(key)?;
    }
    scalar(Some(at))
}

/// A duration in seconds as a person reads it: "45s", "2m 05s", "1h 02m 05s".
pub(crate) fn human_duration(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || seconds < 0.0 {
        return None;
    }
    let total = seconds.round() as u64;
    let (h, m, s) = (total / 3600, total / 60 % 60, total % 60);
    Some(match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s:02}s"),
        _ => format!("{h}h {m:02}m {s:02}s"),
    })
}

/// An instant in ms since the epoch as RFC 3339 UTC (`2023-11-14T22:13:20.000Z`).
pub(crate) fn rfc3339(at_ms: i64) -> String {
    let secs = at_ms.div_euclid(1000);
    let ms = at_ms.rem_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// What one event says, read from its data.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Facts {
    pub repository: Option<String>,
    pub branch: Option<String>,
    pub build: Option<String>,
    pub change: Option<String>,
    pub task: Option<String>,
    pub status: Option<String>,
    pub duration: Option<String>,
    pub author: Option<String>,
}

impl Facts {
    pub(crate) fn of(event: &Event) -> Facts {
        let d = &event.data;
        let repository = match (
            path(d, &["repository", "owner"]),
            path(d, &["repository", "name"]),
        ) {
            (Some(owner), Some(name)) => Some(format!("{owner}/{name}")),
            (None, Some(name)) => Some(name),
            (Some(owner), None) => Some(owner),
            (None, None) => None,
        };
        let build = match (path(d, &["build", "id"]), path(d, &["build", "name"])) {
            (Some(id), Some(name)) => Some(format!("#{id} {name}")),
            (Some(id), None) => Some(format!("#{id}")),
            (None, name) => name,
        };
        let is_task = event.event == "task";
        let seconds = if is_task {
            d.pointer("/task/durationInSeconds")
        } else {
            d.pointer("/build/durationInSeconds")
        };
        Facts {
            repository,
            branch: path(d, &["build", "branch"]),
            build,
            change: path(d, &["build", "changeMessageTitle"]),
            task: if is_task {
                path(d, &["task", "name"])
            } else {
                None
            },
            status: status_change(event),
            duration: seconds.and_then(Value::as_f64).and_then(human_duration),
            author: path(d, &["build", "user", "username"])
                .or_else(|| path(d, &["build", "senderUsername"])),
        }
    }

    /// The labelled facts a default message shows, in order.
    pub(crate) fn labelled(&self) -> Vec<(&'static str, String)> {
        let build = match (&self.build, &self.change) {
            (Some(build), Some(change)) => Some(format!("{build} · {change}")),
            (Some(build), None) => Some(build.clone()),
            (None, change) => change.clone(),
        };
        [
            ("Repository", self.repository.clone()),
            ("Branch", self.branch.clone()),
            ("Build", build),
            ("Task", self.task.clone()),
            ("Status", self.status.clone()),
            ("Duration", self.duration.clone()),
            ("Author", self.author.clone()),
        ]
        .into_iter()
        .filter_map(|(label, value)| Some((label, value?)))
        .collect()
    }
}

/// "EXECUTING -> FAILED", or the new status alone for a creation.
fn status_change(event: &Event) -> Option<String> {
    match (event.old_status.as_deref(), event.new_status.as_deref()) {
        (Some(old), Some(new)) => Some(format!("{old} -> {new}")),
        (None, Some(new)) => Some(new.to_owned()),
        (Some(old), None) => Some(format!("{old} -> ?")),
        (None, None) => None,
    }
}

/// What the event is about: "task test", "build #42", "build".
fn subject(event: &Event, facts: &Facts) -> String {
    match (event.event.as_str(), &facts.task, &facts.build) {
        ("task", Some(task), _) => format!("task {task}"),
        ("build", _, Some(build)) => format!("build {build}"),
        (other, _, _) if !other.is_empty() => other.to_owned(),
        _ => "event".to_owned(),
    }
}

/// The headline of a message about `event`: "❌ acme/api: task test failed".
pub(crate) fn headline(event: &Event) -> String {
    let tone = Tone::of(event);
    if tone == Tone::Ping {
        return format!("{} Test message from buildhooks", tone.emoji());
    }
    let facts = Facts::of(event);
    let what = format!(
        "{} {}",
        subject(event, &facts),
        tone.verb(event.new_status.as_deref())
    );
    match facts.repository {
        Some(repo) => format!("{} {repo}: {what}", tone.emoji()),
        None => format!("{} {}", tone.emoji(), capitalise(&what)),
    }
}

/// One line of a digest: "task test: EXECUTING -> FAILED".
pub(crate) fn transition(event: &Event) -> String {
    if event.is_ping() {
        return "ping".to_owned();
    }
    let facts = Facts::of(event);
    let mut line = subject(event, &facts);
    if let Some(status) = &facts.status {
        line.push_str(": ");
        line.push_str(status);
    }
    match event.key.as_str() {
        "build.fixed" => line.push_str(" (fixed)"),
        "build.still_failing" => line.push_str(" (still failing)"),
        _ => {}
    }
    line
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::sample_events;
    use serde_json::json;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human_duration(45.0).as_deref(), Some("45s"));
        assert_eq!(human_duration(125.0).as_deref(), Some("2m 05s"));
        assert_eq!(human_duration(3725.0).as_deref(), Some("1h 02m 05s"));
        assert_eq!(human_duration(-1.0), None);
        assert_eq!(human_duration(f64::NAN), None);
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_sample_failure_reads_fully() {
        let failed = &sample_events()[0];
        assert_eq!(headline(failed), "❌ acme/api: task test failed");
        assert_eq!(transition(failed), "task test: EXECUTING -> FAILED");
        let facts = Facts::of(failed);
        assert_eq!(facts.duration.as_deref(), Some("2m 05s"));
        assert_eq!(facts.author.as_deref(), Some("alice"));
        let labels: Vec<_> = facts.labelled().into_iter().map(|(l, _)| l).collect();
        assert_eq!(
            labels,
            [
                "Repository",
                "Branch",
                "Build",
                "Task",
                "Status",
                "Duration",
                "Author"
            ]
        );
    }

    #[test]
    fn missing_and_null_fields_are_left_out() {
        let mut event = sample_events()[1].clone();
        event.data = json!({"build": null, "repository": {"name": 5}, "task": []});
        event.new_status = None;
        let facts = Facts::of(&event);
        assert_eq!(facts.repository.as_deref(), Some("5"));
        assert_eq!(facts.build, None);
        assert_eq!(facts.status.as_deref(), Some("EXECUTING -> ?"));
        event.data = Value::Null;
        assert_eq!(headline(&event), "🕒 Build changed");
        assert_eq!(Facts::of(&event).labelled().len(), 1);
    }

    #[test]
    fn derived_keys_set_the_tone() {
        let mut event = sample_events()[1].clone();
        event.key = "build.fixed".into();
        assert_eq!(Tone::of(&event), Tone::Fixed);
        assert!(headline(&event).starts_with("🎉 acme/api: build #43 is fixed"));
        assert!(transition(&event).ends_with("(fixed)"));
        event.key = "build.still_failing".into();
        event.new_status = Some("FAILED".into());
        assert_eq!(Tone::of(&event).emoji(), "❌");
        assert_eq!(Tone::of(&Event::ping(0)), Tone::Ping);
        assert_eq!(headline(&Event::ping(0)), "🔔 Test message from buildhooks");
    }
}

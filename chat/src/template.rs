//! User templates (an endpoint's message template, an organization's build URL template), run
//! in a sandbox: a fresh minijinja environment per render with no loader (nothing is read from
//! disk), no auto-escaping (the output is JSON-escaped when placed in the body), a fuel budget as
//! the time limit, chainable undefined values (a missing field renders empty) and output cut to
//! 16 KiB. Nothing is cached between renders, so nothing leaks between tenants.
//!
//! Fuel counts instructions, not bytes: in a plain environment `{{ 'x' * 100000000 }}`, twenty
//! `{% set a = a ~ a %}` or three nested `replace`s allocate gigabytes in a handful of
//! instructions. So the sandbox bounds memory itself, on three sides:
//!
//! - **What is compiled** (`program.rs`): at most 16 KiB of source; no `*` or `**` (the
//!   compiler folds constants, so `'x' * 100000000` would be allocated while compiling); at most
//!   500 tokens per `{{ }}` or `{% %}` (compiling a chain of operators recurses once per link and
//!   a few thousand links overflow a thread's stack); no macros, `{% call %}`, recursive loops,
//!   `{% include %}`, `{% import %}`, `{% extends %}`, `{% block %}`, `{% autoescape %}` or
//!   chained comparisons (`a < b < c`). The engine's bytecode is then rewritten so that raw
//!   text, `~`, `+`, `in`, slices, comparisons and list and map literals go through the sandbox
//!   instead of the engine's unbounded implementations.
//! - **What a template makes** (`sandbox.rs`): only allowlisted filters, tests and functions
//!   exist (no `namespace`, `debug`, `format`, `batch`, …; `range()` gives at most 1,000
//!   numbers), each wrapped. A string made by a filter, `~` or `+` is at most 16 KiB, checked
//!   before it is made where the size is predictable (`replace` counts its matches, `join` and
//!   `~` write into a buffer that refuses to grow past the limit, `indent` multiplies lines by
//!   width); a list or map a template builds holds at most 16 KiB of text, 32 levels deep, so
//!   lists that share their items cannot nest into something exponential to print, compare or
//!   hash; and everything made or read (comparisons, `in`, sorting included) is charged to a
//!   work budget of 8 MiB per render.
//! - **What is written**: every byte, raw text included, goes through the formatter, which stops
//!   the render once 64 KiB were written (to the output or into a `{% set %}` capture); the
//!   output is then cut to 16 KiB on a character boundary, ending in "…", as before.
//!
//! Worst case per render, beyond the engine's copy of the context it is given (the event data):
//! template-made values at most the 8 MiB work budget (every string, list or map a template
//! makes is charged at about its size as it is made, freed or not; a check made after the fact
//! overshoots by at most one result a few times 16 KiB long, an escaped or case-mapped string);
//! output and captures 64 KiB; the bytecode, stack and frames about 1 MiB (16 KiB of source
//! compiles to a few thousand instructions; the stack holds one expression of at most 500
//! tokens; loops and `{% if %}` nest only as deep as the parser allows). So about 10 MiB,
//! whatever the template; the attacks in `tests/memory.rs` grow the heap by under 0.5 MiB.
//! Time: 50,000 instructions of fuel plus the 8 MiB of work, under 50 ms optimised (the slowest
//! attack measured, 8 MiB of `replace`, takes about 10 ms).

use std::fmt;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::cut;
use crate::event::{sample_events, Event};
use crate::facts::transition;

#[cfg(test)]
mod hardening;
mod program;
mod sandbox;

use sandbox::Budget;

/// Instructions one render may run: a realistic template uses a few hundred; a runaway loop
/// stops within milliseconds.
const FUEL: u64 = 50_000;

/// The most a template may write; the rest is dropped and the text ends in "…".
pub(crate) const OUTPUT_LIMIT: usize = 16 * 1024;

/// A template that does not parse or does not render, with the line it failed on.
#[derive(Debug, Clone, PartialEq)]
pub struct TemplateError {
    /// The 1-based line of the template, when known.
    pub line: Option<usize>,
    /// What went wrong, e.g. "syntax error: unexpected `}`".
    pub message: String,
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for TemplateError {}

impl From<minijinja::Error> for TemplateError {
    fn from(err: minijinja::Error) -> Self {
        let kind = err.kind();
        let message = match (kind, err.detail()) {
            (minijinja::ErrorKind::OutOfFuel, _) => {
                "the template ran too long and was stopped (out of fuel)".to_owned()
            }
            (_, Some(detail)) => format!("{kind}: {detail}"),
            (_, None) => kind.to_string(),
        };
        TemplateError {
            line: err.line(),
            message,
        }
    }
}

/// Renders `source` over `ctx` in a fresh sandbox: the text, cut to [`OUTPUT_LIMIT`] bytes on a
/// character boundary (ending in "…") when the template wrote more.
pub(crate) fn render(source: &str, ctx: &Value) -> Result<String, TemplateError> {
    let program = program::compile(source)?;
    let budget = Arc::new(Budget::default());
    let env = sandbox::environment(&budget);
    let mut text = String::new();
    match program::run(&program, &env, ctx, &mut text) {
        Ok(()) => {}
        // The output was full: what was written stands, cut below.
        Err(_) if budget.is_full() => {}
        Err(err) => return Err(err.into()),
    }
    if budget.is_full() || text.len() > OUTPUT_LIMIT {
        text = cut::bytes(&text, OUTPUT_LIMIT - cut::MORE.len_utf8());
        if !text.ends_with(cut::MORE) {
            text.push(cut::MORE);
        }
    }
    Ok(text)
}

/// `value` without the object fields that are null: a template sees them as missing, which
/// renders empty, where a null would render "none".
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// What a link template sees: the event's data, its top-level fields (`build`, `repository`,
/// `task`) also at the top.
fn link_context(event: &Event) -> Value {
    let data = without_nulls(&event.data);
    let mut ctx = match &data {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    ctx.insert("data".into(), data);
    Value::Object(ctx)
}

/// The build link for `event`, when the organization set a link template and it renders to an
/// http(s) URL. Any failure gives no link: a link is never worth failing a message for.
pub(crate) fn link(source: Option<&str>, event: &Event) -> Option<String> {
    let source = source.filter(|s| !s.trim().is_empty())?;
    let rendered = render(source, &link_context(event)).ok()?;
    let url = rendered.trim();
    let lower = url.to_ascii_lowercase();
    let http = lower.starts_with("https://") || lower.starts_with("http://");
    // Browsers and chat clients stop well before 2,048 characters; a longer "URL" is a mistake.
    let sane = url.len() > "https://".len() && url.len() <= 2048;
    if !http || !sane || url.chars().any(char::is_whitespace) {
        return None;
    }
    // The characters chat markups use around links, so a URL cannot break out of them.
    Some(
        url.replace('<', "%3C")
            .replace('>', "%3E")
            .replace('|', "%7C")
            .replace(')', "%29")
            .replace('"', "%22"),
    )
}

/// One event as a template sees it.
fn event_value(event: &Event) -> Value {
    without_nulls(&json!({
        "event": event.event,
        "key": event.key,
        "action": event.action,
        "old_status": event.old_status,
        "new_status": event.new_status,
        "data": event.data,
        "at_ms": event.at_ms,
        "transition": transition(event),
    }))
}

/// What a message template sees: the latest event's fields (`event`, `key`, `action`,
/// `old_status`, `new_status`, `data`, and `data`'s `repository`, `build`, `task` at the top),
/// the build `link` (undefined when there is none) and `events`, every event of a digest, oldest first.
pub(crate) fn message_context(events: &[Event], link: Option<&str>) -> Value {
    let mut ctx = match events.last() {
        Some(last) => match event_value(last) {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        },
        None => serde_json::Map::new(),
    };
    if let Some(Value::Object(data)) = ctx.get("data").cloned() {
        for key in ["repository", "build", "task"] {
            if let Some(value) = data.get(key) {
                ctx.insert(key.into(), value.clone());
            }
        }
    }
    // No link stays undefined, so `{{ link }}` renders empty rather than "none".
    if let Some(link) = link {
        ctx.insert("link".into(), link.into());
    }
    ctx.insert(
        "events".into(),
        Value::Array(events.iter().map(event_value).collect()),
    );
    Value::Object(ctx)
}

/// Checks a message template when it is saved: it must parse, then render over each sample
/// event and over both as a digest. The error names the line.
pub fn validate_template(source: &str) -> Result<(), TemplateError> {
    program::compile(source)?;
    let samples = sample_events();
    let link = Some("https://ci.example.com/build/42");
    for one in samples.chunks(1) {
        render(source, &message_context(one, link))?;
    }
    render(source, &message_context(&samples, link))?;
    Ok(())
}

/// Checks an organization's build URL template the same way, over each sample event's data.
pub fn validate_link_template(source: &str) -> Result<(), TemplateError> {
    program::compile(source)?;
    for event in sample_events() {
        render(source, &link_context(&event))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn a_syntax_error_names_its_line() {
        let err = validate_template("line1\n{{ foo( }}").expect_err("bad syntax");
        assert_eq!(err.line, Some(2));
        assert!(err.to_string().starts_with("line 2: syntax error"), "{err}");
        let err = validate_link_template("https://x/{% if %}").expect_err("bad syntax");
        assert_eq!(err.line, Some(1));
    }

    #[test]
    fn an_unknown_filter_is_caught_when_saved() {
        let err = validate_template("ok\nok\n{{ key | shout }}").expect_err("unknown filter");
        assert_eq!(err.line, Some(3));
        assert_eq!(
            err.to_string(),
            "line 3: unknown filter: filter shout is unknown"
        );
    }

    #[test]
    fn a_runaway_loop_runs_out_of_fuel_quickly() {
        let source =
            "{% for i in range(1000) %}{% for j in range(1000) %}{{ j }}{% endfor %}{% endfor %}";
        let started = Instant::now();
        let err = validate_template(source).expect_err("out of fuel");
        assert!(err.message.contains("out of fuel"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn null_fields_render_empty_too() {
        let mut event = sample_events()[0].clone();
        event.data["build"]["id"] = Value::Null;
        let ctx = message_context(std::slice::from_ref(&event), None);
        let text = render(
            "[{{ build.id }}][{{ old_status }}][{{ data.build.durationInSeconds }}]",
            &ctx,
        );
        assert_eq!(text.expect("renders"), "[][EXECUTING][]");
        let url = link(Some("https://ci/{{ build.id }}x"), &event);
        assert_eq!(url.as_deref(), Some("https://ci/x"));
    }

    #[test]
    fn missing_fields_render_empty() {
        let ctx = message_context(&sample_events()[1..], None);
        let text = render(
            "[{{ task.name }}][{{ data.nope.deeper.still }}][{{ link }}][{{ build.id }}]",
            &ctx,
        )
        .expect("renders");
        assert_eq!(text, "[][][][43]");
        let text = render("{{ link or 'no link' }}", &ctx).expect("renders");
        assert_eq!(text, "no link");
    }

    #[test]
    fn output_is_held_to_sixteen_kib_on_a_character_boundary() {
        let source = "{% for i in range(1000) %}é🎉é🎉é🎉é🎉é🎉{% endfor %}";
        let text = render(source, &json!({})).expect("renders");
        assert!(text.len() <= OUTPUT_LIMIT, "{}", text.len());
        assert!(text.len() > OUTPUT_LIMIT - 8);
        assert!(text.ends_with('…'));
        assert!(text.starts_with("é🎉é🎉"));
    }

    #[test]
    fn templates_see_the_digest_and_no_html_escaping() {
        let samples = sample_events();
        let ctx = message_context(&samples, Some("https://ci/b/43"));
        let text = render(
            "{{ events | length }} events <{{ key }}>: {% for e in events %}{{ e.transition }}; {% endfor %}{{ link }}",
            &ctx,
        )
        .expect("renders");
        assert_eq!(
            text,
            "2 events <build.completed>: task test: EXECUTING -> FAILED; build #43: EXECUTING -> COMPLETED; https://ci/b/43"
        );
    }

    #[test]
    fn links_render_over_data_and_only_http_urls_count() {
        let event = &sample_events()[0];
        let url = link(Some("https://ci.example.com/build/{{ build.id }}"), event);
        assert_eq!(url.as_deref(), Some("https://ci.example.com/build/42"));
        assert_eq!(
            link(
                Some("https://ci.example.com/{{ repository.owner }}/{{ data.task.id }}"),
                event
            )
            .as_deref(),
            Some("https://ci.example.com/acme/7")
        );
        assert_eq!(link(Some("javascript:alert(1)"), event), None);
        assert_eq!(link(Some("https://x/{{ build.id | nope }}"), event), None);
        assert_eq!(link(Some("   "), event), None);
        assert_eq!(link(None, event), None);
        assert_eq!(
            link(Some("https://x/a>b|c"), event).as_deref(),
            Some("https://x/a%3Eb%7Cc")
        );
        assert!(validate_link_template("https://ci.example.com/build/{{ build.id }}").is_ok());
    }
}

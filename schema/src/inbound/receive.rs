//! One inbound request, from its source to its answer: who sent it (401), whether it is JSON
//! (415, 400), what it reports (`github`, `gitlab`, `generic`), and the transaction that
//! deduplicates it, applies it, writes its events and outbox rows and its log row, and commits
//! before the sender hears 2xx. Refusals write nothing but their log row (at most
//! `REFUSALS_LOGGED` per source per `REFUSAL_WINDOW_MS`) and are counted.

use buildhooks_entity::inbound_source;
use buildhooks_store::inbound::{self, NewRequest};
use buildhooks_store::is_unique_violation;
use serde_json::{json, Value};

pub use super::answer::{Answer, Headers, Outcome};
use super::apply::{self, Effect};
use super::counters::Refused;
use super::record::{begin_unseen, cut, ignored, log, refuse};
use super::report::{Malformed, Report};
use super::{github, gitlab, kind, mapping::Mapping, verify};
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::store::Store;
use crate::transition::Changes;
use crate::webhook::outbox::commit_changes;
use crate::PayloadSchema;

/// The live source whose URL id is `uid`, its secrets opened; ids that cannot be one are not
/// looked up.
pub async fn find(store: &Store, uid: &str) -> Result<Option<inbound_source::Model>> {
    if uid.len() != 32 || !uid.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    match inbound::source_by_uid(store.conn(), uid).await? {
        Some(row) => Ok(Some(super::sealed::opened(store.vault(), row)?)),
        None => Ok(None),
    }
}

/// 413 for `source`: the body is over `limit` bytes.
pub async fn too_large(store: &Store, source: &inbound_source::Model, limit: usize) -> Answer {
    refuse(
        store,
        source,
        "",
        None,
        413,
        Refused::TooLarge,
        &format!("the body is over {limit} bytes (BUILDHOOKS_INBOUND_MAX_BYTES)"),
    )
    .await
}

/// Handles a request to `source` whose whole body is `body`.
pub async fn receive(
    store: &Store,
    schema: &PayloadSchema,
    source: &inbound_source::Model,
    headers: &dyn Headers,
    query_token: Option<&str>,
    body: &[u8],
) -> Answer {
    let event = match source.kind.as_str() {
        kind::GITHUB => headers.get("x-github-event").unwrap_or_default(),
        kind::GITLAB => headers.get("x-gitlab-event").unwrap_or_default(),
        _ => "generic",
    }
    .to_owned();
    let event = cut(&event, 100);
    let key = delivery_key(&source.kind, headers);
    let report = match read(source, &event, headers, query_token, body) {
        Ok(report) => report,
        Err((status, reason, message)) => {
            let key = key.as_deref();
            return refuse(store, source, &event, key, status, reason, &message).await;
        }
    };
    let answer = match report {
        Report::Ping => {
            log(
                store,
                source,
                &event,
                None,
                "ignored",
                Some("ping"),
                200,
                None,
                None,
            )
            .await;
            Ok(Answer {
                status: 200,
                body: json!({ "result": "pong" }),
                outcome: Outcome::Ignored,
            })
        }
        Report::Ignored(why) => ignored(store, source, &event, key.as_deref(), &why).await,
        Report::Task(ref task) if task.status.is_none() => {
            let why = format!(
                "job status {:?} means no task change",
                cut(&task.vendor_status, 50)
            );
            ignored(store, source, &event, key.as_deref(), &why).await
        }
        report => apply_in_txn(store, schema, source, &event, key.as_deref(), &report).await,
    };
    let answer = answer.unwrap_or_else(|e| Answer::failed(&e));
    store
        .inbound_counters()
        .answered(&source.kind, answer.outcome);
    answer
}

/// Who sent the request and what it reports, in the order refusals are checked: signature or
/// token (401), content type (415), JSON and the vendor's fields (400). Reads nothing stored.
fn read(
    source: &inbound_source::Model,
    event: &str,
    headers: &dyn Headers,
    query_token: Option<&str>,
    body: &[u8],
) -> std::result::Result<Report, (u16, Refused, String)> {
    let checked = match source.kind.as_str() {
        kind::GITHUB => verify::github(&source.secret, headers, body),
        kind::GITLAB => verify::gitlab(
            &source.secret,
            source.signing_secret.as_deref(),
            headers,
            body,
            now_ms() / 1000,
        ),
        _ => verify::generic(&source.secret, query_token, headers),
    };
    checked.map_err(|why| (401, Refused::Unauthenticated, why.0.to_owned()))?;
    if !is_json(headers.get("content-type")) {
        let message = "Content-Type must be application/json".to_owned();
        return Err((415, Refused::UnsupportedMediaType, message));
    }
    let malformed = |message: String| (400, Refused::Malformed, message);
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| malformed(format!("the body is not JSON: {e}")))?;
    if event.is_empty() {
        let header = match source.kind.as_str() {
            kind::GITHUB => "X-GitHub-Event",
            _ => "X-Gitlab-Event",
        };
        return Err(malformed(format!("{header} is missing")));
    }
    let read = match source.kind.as_str() {
        kind::GITHUB => github::read(event, &value),
        kind::GITLAB => gitlab::read(event, &value),
        _ => match source
            .mapping
            .as_deref()
            .map(serde_json::from_str::<Mapping>)
        {
            Some(Ok(mapping)) => mapping.read(&value),
            _ => Err(Malformed("the source has no usable mapping".into())),
        },
    };
    read.map_err(|Malformed(why)| malformed(why))
}

/// Deduplicates, applies and logs `report` in one write transaction, and commits; a concurrent
/// writer of the same link or delivery key makes it start over (then it finds theirs).
async fn apply_in_txn(
    store: &Store,
    schema: &PayloadSchema,
    source: &inbound_source::Model,
    event: &str,
    key: Option<&str>,
    report: &Report,
) -> Result<Answer> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // The first attempt does not look for the delivery id: the log row's unique key refuses
        // a duplicate at the end (rare), and the look would cost every request a statement
        // while it holds the write lock; the attempts after a refusal look first.
        let look = attempt > 1;
        match try_apply(store, schema, source, event, key, report, look).await {
            Err(Error::Db(e)) if is_unique_violation(&e) && attempt < 3 => continue,
            other => return other,
        }
    }
}

async fn try_apply(
    store: &Store,
    schema: &PayloadSchema,
    source: &inbound_source::Model,
    event: &str,
    key: Option<&str>,
    report: &Report,
    look: bool,
) -> Result<Answer> {
    let w = match look {
        true => match begin_unseen(store, source, event, key).await? {
            Ok(w) => w,
            Err(duplicate) => return Ok(duplicate),
        },
        false => store.begin_write().await?,
    };
    let now = now_ms();
    let mut changes = Changes::default();
    let effect = match report {
        Report::Build(build) => apply::build(w.txn(), source, build, now, &mut changes).await?,
        Report::Task(task) => {
            let to = task
                .status
                .ok_or_else(|| Error::Internal("no task status".into()))?;
            apply::task(w.txn(), source, task, to, now, &mut changes).await?
        }
        Report::Ping | Report::Ignored(_) => {
            return Err(Error::Internal("nothing to apply".into()))
        }
    };
    let effect = match effect {
        Ok(effect) => effect,
        Err(Malformed(why)) => {
            drop(w);
            return Ok(refuse(store, source, event, key, 400, Refused::Malformed, &why).await);
        }
    };
    let events = changes.events.len();
    let (result, reason, status, build_id, task_id) = match &effect {
        Effect::Applied { build_id, task_id } => ("applied", None, 200, *build_id, *task_id),
        Effect::Late {
            build_id,
            task_id,
            why,
        } => ("ignored", Some(why.clone()), 202, *build_id, *task_id),
    };
    let row = NewRequest {
        org_id: source.org_id,
        source_id: source.id,
        received_at: now,
        event,
        delivery_id: key,
        delivery_key: key,
        result,
        reason: reason.as_deref(),
        http_status: status,
        build_id: Some(build_id),
        task_id,
    };
    inbound::insert_request(w.txn(), row).await?;
    commit_changes(store, schema, w, source.org_id, changes).await?;
    let ids = json!({
        "buildId": build_id.to_string(),
        "taskId": task_id.map(|t| t.to_string()),
    });
    Ok(match reason {
        None => Answer {
            status: 200,
            body: json!({ "result": "applied", "buildId": ids["buildId"], "taskId": ids["taskId"], "events": events }),
            outcome: Outcome::Applied,
        },
        Some(why) => Answer {
            status: 202,
            body: json!({ "result": "ignored", "ignored": why, "buildId": ids["buildId"], "taskId": ids["taskId"] }),
            outcome: Outcome::Ignored,
        },
    })
}

/// The vendor's delivery id: what makes a redelivery a duplicate.
fn delivery_key(kind: &str, headers: &dyn Headers) -> Option<String> {
    let names: &[&str] = match kind {
        kind::GITHUB => &["x-github-delivery"],
        kind::GITLAB => &["idempotency-key", "x-gitlab-event-uuid", "webhook-id"],
        _ => &["idempotency-key"],
    };
    names
        .iter()
        .find_map(|name| headers.get(name))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| cut(k, 200))
}

/// `application/json` or any `+json` type, parameters aside.
fn is_json(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_content_types() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON; charset=utf-8")));
        assert!(is_json(Some("application/vnd.api+json")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/x-www-form-urlencoded")));
        assert!(!is_json(None));
    }
}

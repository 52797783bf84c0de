//! The inbound log's rows written outside an applied transition: an event we do not handle (with
//! its delivery key, so a redelivery is a duplicate), a duplicate, a refusal (within the source's
//! refusal budget, and counted). Each in a write transaction of its own.

use buildhooks_entity::inbound_source;
use buildhooks_store::inbound::{self, NewRequest};
use buildhooks_store::{is_unique_violation, WriteTxn};
use serde_json::json;

use super::answer::{Answer, Outcome};
use super::counters::Refused;
use crate::clock::now_ms;
use crate::error::{Error, Result};
use crate::store::Store;

/// A write transaction for a request, unless its delivery key was applied or ignored before:
/// then the duplicate is logged and this is its answer.
pub(crate) async fn begin_unseen<'a>(
    store: &'a Store,
    source: &inbound_source::Model,
    event: &str,
    key: Option<&str>,
) -> Result<std::result::Result<WriteTxn<'a>, Answer>> {
    let w = store.begin_write().await?;
    let Some(key) = key else {
        return Ok(Ok(w));
    };
    if !inbound::seen(w.txn(), source.id, key).await? {
        return Ok(Ok(w));
    }
    drop(w);
    let why = "this delivery id was already received";
    log(
        store,
        source,
        event,
        Some(key),
        "duplicate",
        Some(why),
        200,
        None,
        None,
    )
    .await;
    Ok(Err(Answer::duplicate()))
}

/// 202 for an event we do not handle; logged with its delivery key, so a redelivery of it is a
/// duplicate.
pub(crate) async fn ignored(
    store: &Store,
    source: &inbound_source::Model,
    event: &str,
    key: Option<&str>,
    why: &str,
) -> Result<Answer> {
    let w = match begin_unseen(store, source, event, key).await? {
        Ok(w) => w,
        Err(duplicate) => return Ok(duplicate),
    };
    let row = NewRequest {
        org_id: source.org_id,
        source_id: source.id,
        received_at: now_ms(),
        event,
        delivery_id: key,
        delivery_key: key,
        result: "ignored",
        reason: Some(why),
        http_status: 202,
        ..NewRequest::default()
    };
    match inbound::insert_request(w.txn(), row).await {
        Err(e) if is_unique_violation(&e) => {}
        other => {
            other?;
            w.commit().await?;
        }
    }
    Ok(Answer {
        status: 202,
        body: json!({ "result": "ignored", "ignored": why }),
        outcome: Outcome::Ignored,
    })
}

/// A refusal: counted, logged (within the source's refusal budget), nothing else written.
pub(crate) async fn refuse(
    store: &Store,
    source: &inbound_source::Model,
    event: &str,
    delivery_id: Option<&str>,
    status: u16,
    reason: Refused,
    message: &str,
) -> Answer {
    let counters = store.inbound_counters();
    counters.refused(Some(&source.kind), reason);
    if counters.may_log_refusal(&source.uid, now_ms()) {
        let why = format!("{}: {message}", reason.code());
        log(
            store,
            source,
            event,
            delivery_id,
            "refused",
            Some(&why),
            status as i32,
            None,
            None,
        )
        .await;
    }
    Answer::error(status, reason, message)
}

/// Writes one row of the inbound log in a transaction of its own; a failure is logged only (the
/// answer does not depend on it).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn log(
    store: &Store,
    source: &inbound_source::Model,
    event: &str,
    delivery_id: Option<&str>,
    result: &str,
    reason: Option<&str>,
    status: i32,
    build_id: Option<i32>,
    task_id: Option<i32>,
) {
    let written = async {
        let w = store.begin_write().await?;
        let reason = reason.map(|r| cut(r, 1000));
        // The id is shown; it is never the deduplication key (that is an applied row's).
        let row = NewRequest {
            org_id: source.org_id,
            source_id: source.id,
            received_at: now_ms(),
            event,
            delivery_id,
            delivery_key: None,
            result,
            reason: reason.as_deref(),
            http_status: status,
            build_id,
            task_id,
        };
        inbound::insert_request(w.txn(), row).await?;
        w.commit().await?;
        Ok::<_, Error>(())
    }
    .await;
    if let Err(error) = written {
        tracing::warn!(%error, source = source.id, "cannot write the inbound log");
    }
}

pub(crate) fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_owned()
}

//! The receiver process of `--mode api` (`buildhooks bench --mode api-receiver`): an HTTP server on
//! 127.0.0.1 that answers 200 at once and notes, for every delivery, its id
//! (`X-Cirrus-Delivery`), what it is about (the payload's `task.id`, else `build.id`) and when it
//! arrived (nanoseconds since the Unix epoch: one clock for every process of the machine). It
//! prints its URL on stdout, serves `GET /_counts` and `GET /_arrivals` to the benchmark, and exits
//! when its stdin closes (the benchmark ended, however it ended).
//! Also the benchmark's side of it: reading those counts and arrivals.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;

/// One arrival: (what it is about, delivery id, nanoseconds since the epoch).
pub(crate) type Arrival = (String, String, u64);

#[derive(Default)]
struct Log {
    arrivals: Vec<Arrival>,
    distinct: HashSet<String>,
}

/// Nanoseconds since the Unix epoch (every process of the machine reads the same clock).
pub(crate) fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The payload's `task.id`, else its `build.id` (under `data` in the documented format), as
/// text ("" when it has neither).
fn subject(body: &[u8]) -> String {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return String::new();
    };
    let id = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    // The documented format nests the entities under `data`; Cirrus's flat body does not.
    let root = value.get("data").unwrap_or(&value);
    id(&root["task"]["id"])
        .or_else(|| id(&root["build"]["id"]))
        .unwrap_or_default()
}

/// Runs the receiver process until stdin closes.
pub async fn serve() -> anyhow::Result<()> {
    let log: Arc<Mutex<Log>> = Arc::default();
    let hook = {
        let log = log.clone();
        move |headers: HeaderMap, body: Bytes| {
            let log = log.clone();
            async move {
                let at = now_ns();
                let id = headers
                    .get("x-cirrus-delivery")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let about = subject(&body);
                if let Ok(mut log) = log.lock() {
                    log.distinct.insert(id.clone());
                    log.arrivals.push((about, id, at));
                }
                StatusCode::OK
            }
        }
    };
    let counts = {
        let log = log.clone();
        move || {
            let log = log.clone();
            async move {
                let (distinct, total) = log
                    .lock()
                    .map(|l| (l.distinct.len(), l.arrivals.len()))
                    .unwrap_or((0, 0));
                Json(json!({ "distinct": distinct, "total": total }))
            }
        }
    };
    let arrivals = {
        let log = log.clone();
        move || {
            let log = log.clone();
            async move {
                let all = log.lock().map(|l| l.arrivals.clone()).unwrap_or_default();
                Json(all)
            }
        }
    };
    let app = Router::new()
        .route("/_counts", get(counts))
        .route("/_arrivals", get(arrivals))
        .fallback(hook);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("http://{}", listener.local_addr()?);
    let stdin_closed = async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(stdin_closed)
        .await?;
    Ok(())
}

/// The benchmark's view of a receiver process at `url`.
pub(crate) struct Remote {
    pub url: String,
    client: reqwest::Client,
}

impl Remote {
    pub fn new(url: String, client: reqwest::Client) -> Self {
        Remote { url, client }
    }

    /// (distinct delivery ids, requests) so far.
    pub async fn counts(&self) -> anyhow::Result<(usize, usize)> {
        let v: Value = self
            .client
            .get(format!("{}/_counts", self.url))
            .send()
            .await?
            .json()
            .await?;
        let n = |k: &str| v[k].as_u64().unwrap_or(0) as usize;
        Ok((n("distinct"), n("total")))
    }

    /// Every arrival so far.
    pub async fn arrivals(&self) -> anyhow::Result<Vec<Arrival>> {
        Ok(self
            .client
            .get(format!("{}/_arrivals", self.url))
            .send()
            .await?
            .json()
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::subject;

    #[test]
    fn a_delivery_is_about_its_task_else_its_build() {
        assert_eq!(subject(br#"{"build":{"id":12},"task":{"id":"34"}}"#), "34");
        assert_eq!(subject(br#"{"action":"created","build":{"id":12}}"#), "12");
        assert_eq!(
            subject(br#"{"action":"created","data":{"build":{"id":"7"},"task":null}}"#),
            "7"
        );
        assert_eq!(subject(b"not json"), "");
    }
}

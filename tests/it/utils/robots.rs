//! Fake chat robots on 127.0.0.1:0 (issue 15): one `Robot` per vendor (Slack, Discord, Teams,
//! DingTalk, Feishu, WeCom) that records every request and checks it as the vendor documents it
//! (content type, URL token, body shape, size limits, and for DingTalk and Feishu the signature,
//! computed here from the vendor's recipe with `hmac`/`sha2`/`base64`, never with buildhooks
//! code), then answers the vendor's own success, error or rate-limit body. What a real robot
//! would refuse is kept in `Hit::problems`, so a test asserts there are none.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

mod answers;
mod vendor;

pub use vendor::{dingtalk_sign, feishu_sign, Vendor};
use vendor::{shape, signature, url_path, Refusal};

/// How the robot answers one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// The vendor's success.
    Success,
    /// The vendor's refusal of a well-formed message (DingTalk's keyword check, Slack's
    /// `channel_not_found`, ...).
    VendorError,
    /// The vendor's rate-limit answer.
    RateLimited,
    /// A bare HTTP status with an empty body (e.g. 503).
    Status(u16),
}

/// One request the robot received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub at: Instant,
    /// Path and query as sent.
    pub target: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The body, when it is a JSON value.
    pub json: Option<Value>,
    /// What the vendor would have refused, empty when it accepts the message.
    pub problems: Vec<String>,
    /// The HTTP status answered.
    pub status: u16,
}

impl Hit {
    /// Every string of the body, one per line (signature fields left out): what a reader sees,
    /// whatever the vendor's layout.
    pub fn strings(&self) -> String {
        fn walk(v: &Value, key: &str, out: &mut Vec<String>) {
            match v {
                Value::String(s) if key != "sign" && key != "timestamp" => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|x| walk(x, key, out)),
                Value::Object(o) => o.iter().for_each(|(k, x)| walk(x, k, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(v) = &self.json {
            walk(v, "", &mut out);
        }
        out.join("\n")
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Answer>,
    /// At most `.0` accepted messages in any `.1`; more are answered as rate limited.
    limit: Option<(usize, Duration)>,
    accepted: Vec<Instant>,
    hits: Vec<Hit>,
}

struct Shared {
    vendor: Vendor,
    token: String,
    secret: Option<String>,
    inner: Mutex<Inner>,
}

/// A recording robot of one vendor.
#[derive(Clone)]
pub struct Robot {
    pub vendor: Vendor,
    pub addr: SocketAddr,
    /// The secret part of the robot's URL.
    pub token: String,
    /// DingTalk's or Feishu's signing secret, when set.
    pub secret: Option<String>,
    shared: Arc<Shared>,
}

impl Robot {
    /// Starts a robot of `vendor`; `secret` turns on DingTalk's or Feishu's signature check.
    pub async fn start(vendor: Vendor, secret: Option<&str>) -> Self {
        let token = uuid::Uuid::new_v4().simple().to_string();
        let shared = Arc::new(Shared {
            vendor,
            token: token.clone(),
            secret: secret.map(str::to_owned),
            inner: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind robot");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Robot {
            vendor,
            addr,
            token,
            secret: secret.map(str::to_owned),
            shared,
        }
    }

    /// The robot's URL as the vendor hands it out (the token is its secret).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, url_path(self.vendor, &self.token))
    }

    /// An endpoint input for this robot with `events` (kind, URL, and the signing secret).
    pub fn endpoint(&self, events: &[&str]) -> Value {
        let mut e =
            json!({ "kind": self.vendor.kind(), "webhookURL": self.url(), "events": events });
        if let Some(secret) = &self.secret {
            e["secretToken"] = json!(secret);
        }
        e
    }

    /// Answers the next requests with `answers`, in order (then success again).
    pub fn script(&self, answers: Vec<Answer>) {
        self.lock().script.extend(answers);
    }

    /// Drops what is left of the script.
    pub fn clear_script(&self) {
        self.lock().script.clear();
    }

    /// Enforces at most `limit` accepted messages in any `window` (DingTalk's 20 a minute,
    /// shortened): one more is answered as rate limited and noted as a problem.
    pub fn limit(&self, limit: usize, window: Duration) {
        self.lock().limit = Some((limit, window));
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Hit> {
        self.lock().hits.clone()
    }

    /// Every problem found so far, with the index of its request.
    pub fn problems(&self) -> Vec<String> {
        self.lock()
            .hits
            .iter()
            .enumerate()
            .flat_map(|(i, h)| h.problems.iter().map(move |p| format!("request {i}: {p}")))
            .collect()
    }

    /// Waits until at least `n` requests arrived (or `timeout`), and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Hit> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.shared.inner.lock().expect("robot lock")
    }
}

fn check(
    s: &Shared,
    method: &Method,
    uri: &Uri,
    query: &[(String, String)],
    headers: &HeaderMap,
    json: Option<&Value>,
    body: &[u8],
) -> Vec<Refusal> {
    let mut out = Vec::new();
    let bad = |m: String| Refusal::BadRequest(m);
    if method != Method::POST {
        out.push(bad(format!("method {method}, not POST")));
    }
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    // Every vendor documents `Content-Type: application/json` (DingTalk and WeCom add
    // `;charset=utf-8`).
    if !ct.to_ascii_lowercase().starts_with("application/json") {
        out.push(bad(format!("content-type {ct:?}, not application/json")));
    }
    let expected = url_path(s.vendor, &s.token);
    let expected_path = expected.split('?').next().unwrap_or_default();
    if uri.path() != expected_path {
        out.push(bad(format!("path {} is not the robot's", uri.path())));
    }
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let token_param = match s.vendor {
        Vendor::DingTalk => Some("access_token"),
        Vendor::WeCom => Some("key"),
        Vendor::Teams => Some("sig"),
        _ => None,
    };
    if let Some(name) = token_param {
        if param(name) != Some(s.token.as_str()) {
            out.push(bad(format!("query {name} is not the robot's token")));
        }
    }
    let Some(v) = json.filter(|v| v.is_object()) else {
        out.push(bad("the body is not a JSON object".into()));
        return out;
    };
    shape(s.vendor, v, body.len(), &mut out);
    if let Some(secret) = &s.secret {
        signature(
            s.vendor,
            secret,
            v,
            param("timestamp"),
            param("sign"),
            &mut out,
        );
    }
    out
}

async fn handle(
    State(s): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let refusals = check(&s, &method, &uri, &query, &headers, json.as_ref(), &body);
    let now = Instant::now();
    let mut inner = s.inner.lock().expect("robot lock");
    let mut problems: Vec<String> = refusals.iter().map(Refusal::text).collect();
    let reply = if let Some(first) = refusals.first() {
        answers::refusal_reply(s.vendor, first)
    } else {
        let over = inner.limit.is_some_and(|(limit, window)| {
            inner
                .accepted
                .iter()
                .filter(|t| now.duration_since(**t) < window)
                .count()
                >= limit
        });
        if over {
            let (limit, window) = inner.limit.unwrap_or_default();
            problems.push(format!("over {limit} messages in {window:?}"));
            answers::answer_reply(s.vendor, Answer::RateLimited)
        } else {
            let answer = inner.script.pop_front().unwrap_or(Answer::Success);
            if answer == Answer::Success {
                inner.accepted.push(now);
            }
            answers::answer_reply(s.vendor, answer)
        }
    };
    inner.hits.push(Hit {
        at: now,
        target: uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_default(),
        query,
        headers,
        body,
        json,
        problems,
        status: reply.status().as_u16(),
    });
    reply
}

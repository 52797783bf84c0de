//! The demo's chat robots: a Slack-format and a DingTalk-format robot on 127.0.0.1, each
//! answering as its vendor does (Slack `ok`; DingTalk `{"errcode":0}`, after checking the
//! `timestamp` and `sign` query parameters by DingTalk's documented recipe:
//! https://open.dingtalk.com/document/robots/customize-robot-security-settings), and handing
//! the text a person would read to the demo, which prints it.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::mpsc;

/// The DingTalk robot's signing secret in the demo.
pub const DINGTALK_SECRET: &str = "SECdemo0123456789";

/// A message a robot received: which robot, the text shown, whether its signature verified.
pub struct Said {
    pub robot: &'static str,
    pub text: String,
    pub signed: bool,
}

#[derive(Clone)]
struct Robots {
    tx: mpsc::UnboundedSender<Said>,
}

async fn slack(State(r): State<Robots>, Json(body): Json<Value>) -> impl IntoResponse {
    let text = body["text"].as_str().unwrap_or_default().to_owned();
    let _ = r.tx.send(Said {
        robot: "slack",
        text,
        signed: false,
    });
    (StatusCode::OK, "ok")
}

/// DingTalk's recipe: base64(HMAC-SHA256(key = secret, timestamp + "\n" + secret)).
fn dingtalk_sign(timestamp: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(DINGTALK_SECRET.as_bytes()).expect("any key length");
    mac.update(format!("{timestamp}\n{DINGTALK_SECRET}").as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

async fn dingtalk(
    State(r): State<Robots>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let signed = match (query.get("timestamp"), query.get("sign")) {
        (Some(ts), Some(sign)) => *sign == dingtalk_sign(ts),
        _ => false,
    };
    if !signed {
        return Json(json!({ "errcode": 310000, "errmsg": "sign not match" }));
    }
    let text = body["markdown"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let _ = r.tx.send(Said {
        robot: "dingtalk",
        text,
        signed,
    });
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

/// Starts both robots; returns the Slack URL, the DingTalk URL and what they receive.
pub async fn start() -> anyhow::Result<(String, String, mpsc::UnboundedReceiver<Said>)> {
    let (tx, rx) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = Router::new()
        .route("/services/T000/B000/demo", post(slack))
        .route("/robot/send", post(dingtalk))
        .with_state(Robots { tx });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((
        format!("http://{addr}/services/T000/B000/demo"),
        format!("http://{addr}/robot/send?access_token=demo"),
        rx,
    ))
}

//! The extractor behind a real axum server on 127.0.0.1:0, driven by raw HTTP/1.1 requests:
//! what the buildhooks dispatcher sends is accepted, anything else is refused before the handler.
#![cfg(feature = "axum")]
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use axum::routing::post;
use axum::Router;
use buildhooks_receiver::{headers, sign, VerifiedWebhook};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &str = r#"{"action":"updated","old_status":"EXECUTING","data":{"repository":{"id":"1","owner":"acme","name":"web","isPrivate":false},"build":{"id":"2","name":null,"branch":"main","changeIdInRepo":"abc","status":"EXECUTING","changeTimestamp":1700000000000},"task":{"id":"3","name":"test","status":"FAILED","creationTimestamp":1700000000000,"finalStatusTimestamp":1700000001000}}}"#;

async fn handler(webhook: VerifiedWebhook) -> String {
    let payload = webhook.payload().unwrap();
    format!(
        "{} {} {:?}",
        webhook.event,
        webhook.delivery_id.unwrap_or_default(),
        payload.old_status
    )
}

async fn spawn_receiver(secret: &str) -> SocketAddr {
    let app = Router::new()
        .route("/hook", post(handler))
        .with_state(secret.to_owned());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends one POST and returns the status code and the response body.
async fn post_raw(addr: SocketAddr, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut request = format!(
        "POST /hook HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request += &format!("{name}: {value}\r\n");
    }
    request += "\r\n";
    request += body;

    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();

    let status = response.split(' ').nth(1).unwrap().parse().unwrap();
    let (_, body) = response.split_once("\r\n\r\n").unwrap();
    (status, body.to_owned())
}

fn now_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[tokio::test]
async fn a_correctly_signed_delivery_reaches_the_handler() {
    let addr = spawn_receiver(SECRET).await;
    let signed = sign(Some(SECRET), "task", "d-42", now_ms(), BODY.as_bytes());
    let (status, body) = post_raw(addr, &signed.pairs(), BODY).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, r#"task d-42 Some("EXECUTING")"#);
}

#[tokio::test]
async fn a_cirrus_only_signature_is_accepted() {
    let addr = spawn_receiver("plain secret").await;
    let signed = sign(
        Some("plain secret"),
        "build",
        "d-43",
        now_ms(),
        BODY.as_bytes(),
    );
    assert!(signed.standard.is_none());
    let (status, _) = post_raw(addr, &signed.pairs(), BODY).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_wrongly_signed_delivery_is_401() {
    let addr = spawn_receiver(SECRET).await;
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let signed = sign(Some(other), "task", "d-44", now_ms(), BODY.as_bytes());
    let (status, body) = post_raw(addr, &signed.pairs(), BODY).await;
    assert_eq!(status, 401);
    assert_eq!(body, "invalid signature");
}

#[tokio::test]
async fn a_tampered_body_is_401() {
    let addr = spawn_receiver(SECRET).await;
    let signed = sign(Some(SECRET), "task", "d-45", now_ms(), BODY.as_bytes());
    let tampered = BODY.replace("FAILED", "PASSED");
    let (status, _) = post_raw(addr, &signed.pairs(), &tampered).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_unsigned_delivery_is_401_and_one_without_an_event_is_400() {
    let addr = spawn_receiver(SECRET).await;
    let (status, body) = post_raw(addr, &[(headers::EVENT, "task".to_owned())], BODY).await;
    assert_eq!(status, 401);
    assert_eq!(body, "missing x-cirrus-signature header");

    let mut pairs = sign(Some(SECRET), "task", "d-46", now_ms(), BODY.as_bytes()).pairs();
    pairs.retain(|(name, _)| *name != headers::EVENT);
    let (status, _) = post_raw(addr, &pairs, BODY).await;
    assert_eq!(status, 400);
}

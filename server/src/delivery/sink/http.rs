//! One guarded HTTP POST, shared by the kinds that send over HTTP (webhooks, chat robots): the
//! URL parsed once per process, IP literals judged by the SSRF guard (names are judged by the
//! client's resolver), at most `MAX_RESPONSE_READ` bytes of the answer read, and the answer's
//! status, the headers a sink may need (rate limits) and its first bytes returned.

use std::time::Instant;

use buildhooks_schema::clock::now_ms;
use buildhooks_schema::memo::Memo;
use buildhooks_schema::webhook::target::{resolve_allowed, Mixed};

use super::outcome::AttemptError;

/// Target URLs, parsed: a delivery's URL is one of its organization's few endpoint URLs, and
/// parsing it each time cost 3.5% of a signed POST's instructions (callgrind, `--mode raw`).
static URLS: Memo<reqwest::Url> = Memo::new(1_024, 2_048);

/// Most response bytes read.
pub const MAX_RESPONSE_READ: usize = 64 * 1024;
/// Most response bytes stored with the attempt.
pub const MAX_RESPONSE_STORED: usize = 4 * 1024;

/// Answer headers a sink may read (rate limits), lower case.
const KEPT_HEADERS: [&str; 3] = [
    "retry-after",
    "x-ratelimit-remaining",
    "x-ratelimit-reset-after",
];

/// What came back, or why nothing did.
pub struct Posted {
    pub started_at: i64,
    pub duration_ms: i64,
    pub answer: Result<Answered, AttemptError>,
}

/// An answer: its status, the kept headers and up to `MAX_RESPONSE_READ` bytes of its body.
pub struct Answered {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Answered {
    /// A kept header's value (`name` in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body's first `MAX_RESPONSE_STORED` bytes as text, for the attempt log.
    pub fn excerpt(&self) -> String {
        let end = self.body.len().min(MAX_RESPONSE_STORED);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// reqwest connects to an IP-literal host without asking the resolver, so the literal is judged
/// here, by the function that judges names (and the save-time check).
async fn blocked_literal(url: &reqwest::Url) -> bool {
    match (url.host(), url.host_str()) {
        (Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)), Some(host)) => {
            resolve_allowed(host, 0, false, Mixed::Drop).await.is_err()
        }
        _ => false,
    }
}

/// POSTs `body` as JSON to `url` with `headers`, once.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: impl IntoIterator<Item = (&'static str, String)>,
    body: impl Into<reqwest::Body>,
    allow_private: bool,
) -> Posted {
    let started_at = now_ms();
    let clock = Instant::now();
    let answer = exchange(client, url, headers, body, allow_private).await;
    Posted {
        started_at,
        duration_ms: clock.elapsed().as_millis() as i64,
        answer,
    }
}

async fn exchange(
    client: &reqwest::Client,
    url: &str,
    headers: impl IntoIterator<Item = (&'static str, String)>,
    body: impl Into<reqwest::Body>,
    allow_private: bool,
) -> Result<Answered, AttemptError> {
    let Some(url) = URLS.get(url, |u| reqwest::Url::parse(u).ok()) else {
        return Err(AttemptError::InvalidUrl);
    };
    if !allow_private && blocked_literal(&url).await {
        return Err(AttemptError::BlockedTarget);
    }
    let mut request = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    let mut response = request.send().await.map_err(|e| AttemptError::of(&e))?;
    let status = response.status().as_u16();
    let headers = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = response.headers().get(*name)?.to_str().ok()?;
            Some((*name, value.to_owned()))
        })
        .collect();
    let mut read = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_RESPONSE_READ - read.len();
                read.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if read.len() >= MAX_RESPONSE_READ {
                    break;
                }
            }
            Ok(None) => break,
            // The status arrived; a broken or slow body does not change the verdict.
            Err(_) => break,
        }
    }
    Ok(Answered {
        status,
        headers,
        body: read,
    })
}

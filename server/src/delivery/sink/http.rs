//! One guarded HTTP POST, shared by the kinds that send over HTTP (webhooks, chat robots): the
//! URL parsed once per process, IP literals judged by the SSRF guard (names are judged by the
//! client's resolver), at most `MAX_RESPONSE_READ` bytes of the answer read, and the answer's
//! status, its headers (a sink reads rate limits from them; the attempt log stores them, cut
//! short and without credentials) and its first bytes returned.

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

/// Most bytes of one stored header value.
const MAX_HEADER_VALUE: usize = 256;
/// Most bytes of an attempt's stored headers (the JSON object).
pub const MAX_HEADERS_STORED: usize = 8 * 1024;

/// Whether the answer header `name` (lower case) may be stored: cookies and anything that
/// looks like a credential are not (the attempt log is shown to every token of the
/// organization and kept until retention prunes it).
fn storable(name: &str) -> bool {
    const SECRET_LIKE: [&str; 6] = ["auth", "cookie", "token", "secret", "api-key", "apikey"];
    !SECRET_LIKE.iter().any(|s| name.contains(s))
}

/// What came back, or why nothing did.
pub struct Posted {
    pub started_at: i64,
    pub duration_ms: i64,
    pub answer: Result<Answered, AttemptError>,
}

/// An answer: its status, its headers and up to `MAX_RESPONSE_READ` bytes of its body.
pub struct Answered {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Answered {
    /// A header's value (`name` in lower case), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// The headers to store with the attempt: a JSON object, names in lower case (as
    /// `HeaderMap` keeps them), repeated headers joined with `, `, each value cut at
    /// `MAX_HEADER_VALUE` bytes, the whole at most `MAX_HEADERS_STORED` bytes (headers past it
    /// are left out), cookies and credential-like headers never; `None` when none is left.
    pub fn stored_headers(&self) -> Option<String> {
        let mut kept = serde_json::Map::new();
        let mut size = 2;
        for name in self.headers.keys() {
            let name = name.as_str();
            if !storable(name) {
                continue;
            }
            let joined = self
                .headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            let value = cut(&joined, MAX_HEADER_VALUE).to_owned();
            // "name":"value", with room for escapes counted by the JSON text itself.
            let entry = serde_json::to_string(&value).map_or(0, |v| v.len()) + name.len() + 4;
            if size + entry > MAX_HEADERS_STORED {
                break;
            }
            size += entry;
            kept.insert(name.to_owned(), serde_json::Value::String(value));
        }
        (!kept.is_empty()).then(|| serde_json::Value::Object(kept).to_string())
    }

    /// The body's first `MAX_RESPONSE_STORED` bytes as text, for the attempt log.
    pub fn excerpt(&self) -> String {
        let end = self.body.len().min(MAX_RESPONSE_STORED);
        String::from_utf8_lossy(&self.body[..end]).into_owned()
    }
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
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
    // Taken, not copied: reading the body needs no headers.
    let headers = std::mem::take(response.headers_mut());
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

#[cfg(test)]
mod tests {
    use reqwest::header::{HeaderMap, HeaderValue};

    use super::*;

    fn answered(pairs: &[(&'static str, &str)]) -> Answered {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_str(value).expect("value"));
        }
        Answered {
            status: 200,
            headers,
            body: Vec::new(),
        }
    }

    #[test]
    fn stored_headers_drop_credentials_join_repeats_and_cut_long_values() {
        let long = "x".repeat(1_000);
        let a = answered(&[
            ("X-Receiver", "r1"),
            ("set-cookie", "session=1"),
            ("authorization", "Bearer t"),
            ("x-auth-token", "t"),
            ("vary", "a"),
            ("vary", "b"),
            ("x-long", &long),
        ]);
        let stored: serde_json::Value =
            serde_json::from_str(&a.stored_headers().expect("some")).expect("json");
        assert_eq!(stored["x-receiver"], "r1");
        assert_eq!(stored["vary"], "a, b");
        assert_eq!(
            stored["x-long"].as_str().map(str::len),
            Some(MAX_HEADER_VALUE)
        );
        for gone in ["set-cookie", "authorization", "x-auth-token"] {
            assert!(stored.get(gone).is_none(), "{gone}: {stored}");
        }
        assert_eq!(answered(&[("set-cookie", "a=b")]).stored_headers(), None);
    }

    #[test]
    fn stored_headers_stay_under_the_cap() {
        let value = "v".repeat(200);
        let names: Vec<String> = (0..100).map(|i| format!("x-h{i}")).collect();
        let mut headers = HeaderMap::new();
        for name in &names {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(&value).expect("value"),
            );
        }
        let a = Answered {
            status: 200,
            headers,
            body: Vec::new(),
        };
        let stored = a.stored_headers().expect("some");
        assert!(stored.len() <= MAX_HEADERS_STORED, "{}", stored.len());
        assert!(stored.len() > MAX_HEADERS_STORED - 300, "{}", stored.len());
        assert!(serde_json::from_str::<serde_json::Value>(&stored).is_ok());
    }
}

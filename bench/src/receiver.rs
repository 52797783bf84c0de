//! The benchmark's receivers: HTTP servers on 127.0.0.1 that answer 200 at once and note when
//! each delivery id arrived, so lost and duplicated deliveries and latencies can be counted; one
//! that also keeps every body ([`Bodies`]) for modes that match deliveries by what they say.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;

/// Arrival times by delivery id (`X-Cirrus-Delivery`), and the number of requests.
#[derive(Default)]
struct Log(HashMap<String, Vec<Instant>>, usize);

/// The arrivals at the benchmark's receivers.
#[derive(Clone, Default)]
pub struct Arrivals(Arc<Mutex<Log>>);

impl Arrivals {
    /// Notes that the delivery `id` arrived now (the broker consumers note theirs here too).
    pub(crate) fn note(&self, id: String) {
        let now = Instant::now();
        if let Ok(mut arrivals) = self.0.lock() {
            arrivals.0.entry(id).or_default().push(now);
            arrivals.1 += 1;
        }
    }

    /// (distinct ids, total requests), without a walk of the map: the benchmark polls it every
    /// few milliseconds while it measures.
    pub fn counts(&self) -> (usize, usize) {
        self.0
            .lock()
            .map(|arrivals| (arrivals.0.len(), arrivals.1))
            .unwrap_or((0, 0))
    }

    /// The first arrival of every id.
    pub fn first_arrivals(&self) -> HashMap<String, Instant> {
        self.0
            .lock()
            .map(|arrivals| {
                arrivals
                    .0
                    .iter()
                    .filter_map(|(k, v)| v.first().map(|t| (k.clone(), *t)))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A received body: when it arrived, its delivery id (`X-Cirrus-Delivery`) and its bytes.
pub type Body = (Instant, String, Bytes);

/// Every body received, in arrival order; read once the run is over.
#[derive(Clone, Default)]
pub struct Bodies(Arc<Mutex<Vec<Body>>>);

impl Bodies {
    fn keep(&self, id: String, body: Bytes) {
        let now = Instant::now();
        if let Ok(mut bodies) = self.0.lock() {
            bodies.push((now, id, body));
        }
    }

    /// Takes the bodies received so far.
    pub fn take(&self) -> Vec<Body> {
        self.0
            .lock()
            .map(|mut bodies| std::mem::take(&mut *bodies))
            .unwrap_or_default()
    }
}

/// Starts a receiver; returns its URL.
pub async fn start(arrivals: Arrivals) -> anyhow::Result<String> {
    serve(arrivals, None).await
}

/// Starts a receiver that also keeps every body in `bodies`; returns its URL.
pub async fn start_keeping_bodies(arrivals: Arrivals, bodies: Bodies) -> anyhow::Result<String> {
    serve(arrivals, Some(bodies)).await
}

async fn serve(arrivals: Arrivals, bodies: Option<Bodies>) -> anyhow::Result<String> {
    let app = Router::new().fallback(move |headers: HeaderMap, body: Bytes| {
        let (arrivals, bodies) = (arrivals.clone(), bodies.clone());
        async move {
            let id = headers
                .get("x-cirrus-delivery")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if let Some(bodies) = bodies {
                bodies.keep(id.clone(), body);
            }
            arrivals.note(id);
            StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/bench", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(url)
}

//! A TCP proxy on 127.0.0.1:0 in front of the test's PostgreSQL server, to make a database
//! outage without stopping the shared server: `stop` cuts every open connection and closes the
//! port (new connections are refused), `start` listens on the same port and forwards again.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A proxy that forwards `127.0.0.1:<port>` to `upstream` while started.
pub struct Proxy {
    pub addr: SocketAddr,
    upstream: String,
    accepting: Option<JoinHandle<()>>,
    /// The forwarding task of every connection opened since the last `stop`.
    open: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    /// Starts forwarding a fresh port to `upstream` (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let mut proxy = Proxy {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            upstream: upstream.to_owned(),
            accepting: None,
            open: Arc::default(),
        };
        proxy.resume();
        proxy
    }

    /// Listens on the proxy's port again (a fresh one the first time) and forwards.
    pub fn resume(&mut self) {
        assert!(self.accepting.is_none(), "the proxy is already started");
        let socket = TcpSocket::new_v4().expect("socket");
        // The port was just closed: its earlier connections may be in TIME_WAIT.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket.bind(self.addr).expect("bind the proxy's port");
        let listener = socket.listen(128).expect("listen");
        self.addr = listener.local_addr().expect("addr");
        let (upstream, open) = (self.upstream.clone(), self.open.clone());
        self.accepting = Some(tokio::spawn(accept(listener, upstream, open)));
    }

    /// The outage: closes the port, so new connections are refused, and cuts every open one.
    pub async fn stop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.abort();
            let _ = accepting.await;
        }
        let open: Vec<_> = self.open.lock().expect("lock").drain(..).collect();
        for task in &open {
            task.abort();
        }
        for task in open {
            let _ = task.await;
        }
    }

    /// `url` (a PostgreSQL URL) with its host and port replaced by the proxy's.
    pub fn url_for(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("a URL");
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let user = authority.rfind('@').map_or("", |at| &authority[..=at]);
        format!("{scheme}://{user}{}{}", self.addr, &rest[end..])
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accepting) = self.accepting.take() {
            accepting.abort();
        }
        if let Ok(open) = self.open.lock() {
            open.iter().for_each(JoinHandle::abort);
        }
    }
}

/// The `host:port` of a PostgreSQL URL (port 5432 unless given).
pub fn upstream_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let has_port = host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !host.ends_with(']');
    match (host, has_port) {
        ("", _) => "127.0.0.1:5432".to_owned(),
        (host, true) => host.to_owned(),
        (host, false) => format!("{host}:5432"),
    }
}

async fn accept(listener: TcpListener, upstream: String, open: Arc<Mutex<Vec<JoinHandle<()>>>>) {
    while let Ok((inbound, _)) = listener.accept().await {
        let upstream = upstream.clone();
        let task = tokio::spawn(async move {
            if let Ok(outbound) = TcpStream::connect(&upstream).await {
                forward(inbound, outbound).await;
            }
        });
        let mut open = open.lock().expect("lock");
        open.retain(|t| !t.is_finished());
        open.push(task);
    }
}

async fn forward(mut inbound: TcpStream, mut outbound: TcpStream) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
}

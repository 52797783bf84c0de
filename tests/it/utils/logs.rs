//! Captures every log line of the in-process servers of this test binary, so a test can assert
//! that a secret never appears in one.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Installs the capturing subscriber (debug level for our crates) once per test binary.
pub fn capture() {
    SINK.get_or_init(|| {
        let sink = Sink::default();
        let writer = sink.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                "debug,sqlx=warn,sea_orm=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn",
            )
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        sink
    });
}

/// Everything logged so far.
pub fn captured() -> String {
    SINK.get()
        .and_then(|s| {
            s.0.lock()
                .ok()
                .map(|v| String::from_utf8_lossy(&v).into_owned())
        })
        .unwrap_or_default()
}

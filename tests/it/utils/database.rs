//! Which database a test runs on: a fresh temporary SQLite file by default, or, when
//! `BUILDHOOKS_TEST_DATABASE_URL` names a PostgreSQL server, a fresh database created on it for
//! each test (a per-binary database is not enough: every server's dispatcher serves all the
//! organizations of its database, so tests with different settings would deliver each other's
//! rows). A PostgreSQL test database is dropped when its `TestDatabase` is, also when the test
//! fails or panics (`PgDatabase`'s `Drop`, on a thread with its own runtime, `WITH (FORCE)`);
//! a run killed before its drops ran leaves databases whose name carries their creation time,
//! and the next run's first test drops those over an hour old (`sweep`). Younger ones are left
//! alone: other suites may be running on the same server.

/// The environment variable that selects PostgreSQL.
pub const PG_ENV: &str = "BUILDHOOKS_TEST_DATABASE_URL";

/// The operator key (`BUILDHOOKS_SECRET_KEY`) every server of the suite gets on a database
/// server, which will not start without one; the embedded database makes its own key file.
pub const TEST_SECRET_KEY: &str = "dGVzdCBrZXkgb2YgdGhlIGJ1aWxkaG9va3Mgc3VpdGU=";

/// The configuration of a server over the test database at `url`: the documented defaults,
/// and on a database server the suite's key.
pub fn config(url: &str) -> buildhooks_server::Config {
    let mut config = buildhooks_server::Config::for_database(url.to_owned());
    if url.starts_with("postgres") {
        config.secret_key = Some(buildhooks_server::config::SecretKey(TEST_SECRET_KEY.into()));
    }
    config
}

/// The environment a `buildhooks` child process needs besides the database URL: the key, on a
/// database server.
pub fn key_env(url: &str) -> Vec<(&'static str, &'static str)> {
    match url.starts_with("postgres") {
        true => vec![("BUILDHOOKS_SECRET_KEY", TEST_SECRET_KEY)],
        false => Vec::new(),
    }
}

/// A database for one test.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<PgDatabase>,
}

/// The first part of every test database's name.
const PREFIX: &str = "bh_test_";

/// Age past which a test database is taken to be left by a run that was killed.
const ORPHAN_AFTER_SECS: u64 = 3600;

/// A database made on a PostgreSQL server for one test; dropped with this value.
struct PgDatabase {
    server: String,
    name: String,
}

impl Drop for PgDatabase {
    /// Drops the database before the test's `drop` returns, also while a failed test unwinds:
    /// the test's runtime may be the one this runs on (or be gone), so the statement runs on a
    /// thread with its own. Never panics (a panic while unwinding aborts the whole suite).
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime
                .block_on(drop_named(&server, &name))
                .map_err(|e| e.to_string())
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("test database {} not dropped: {error}", self.name),
            Err(_) => eprintln!(
                "test database {} not dropped: the thread panicked",
                self.name
            ),
        }
    }
}

/// `DROP DATABASE ... WITH (FORCE)` (PostgreSQL 13+): closes the connections still open to it
/// (a server the test left running, a child process).
async fn drop_named(server: &str, name: &str) -> Result<(), sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    assert!(name.starts_with(PREFIX), "not a test database: {name}");
    let admin = sea_orm::Database::connect(server).await?;
    let dropped = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await;
    let _ = admin.close().await;
    dropped.map(|_| ())
}

/// Seconds since the epoch.
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A fresh test database's name: `bh_test_<creation secs>_<uuid>`.
fn fresh_name() -> String {
    format!("{PREFIX}{}_{}", now_secs(), uuid::Uuid::new_v4().simple())
}

/// When the database `name` was made, if its name says (names of older versions do not).
fn created_secs(name: &str) -> Option<u64> {
    name.strip_prefix(PREFIX)?.split_once('_')?.0.parse().ok()
}

/// Drops the test databases on `admin`'s server made over `ORPHAN_AFTER_SECS` ago, once per
/// run. A failure is reported and the tests go on: another run may be sweeping too.
async fn sweep(admin: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    SWEPT
        .get_or_init(|| async {
            let statement = sea_orm::Statement::from_string(
                admin.get_database_backend(),
                format!("SELECT datname FROM pg_database WHERE datname LIKE '{PREFIX}%'"),
            );
            let rows = match admin.query_all(statement).await {
                Ok(rows) => rows,
                Err(error) => return eprintln!("test databases not swept: {error}"),
            };
            let cutoff = now_secs().saturating_sub(ORPHAN_AFTER_SECS);
            for row in rows {
                let Ok(name) = row.try_get_by_index::<String>(0) else {
                    continue;
                };
                if created_secs(&name).is_some_and(|at| at < cutoff) {
                    let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    if let Err(error) = admin.execute_unprepared(&drop).await {
                        eprintln!("left-over test database {name} not dropped: {error}");
                    }
                }
            }
        })
        .await;
}

/// The PostgreSQL server URL, when the suite runs on PostgreSQL.
pub fn postgres_server() -> Option<String> {
    std::env::var(PG_ENV)
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let prefix = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    format!("{prefix}/{name}{query}")
}

/// Creates a fresh PostgreSQL database on `server`, dropped when the result is (sweeping the
/// left-overs of killed runs first, once per run).
async fn create_postgres_database(server: &str) -> PgDatabase {
    use sea_orm::ConnectionTrait;
    let name = fresh_name();
    let admin = sea_orm::Database::connect(server)
        .await
        .expect("connect to the PostgreSQL server named by BUILDHOOKS_TEST_DATABASE_URL");
    sweep(&admin).await;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = admin.close().await;
    PgDatabase {
        server: server.to_owned(),
        name,
    }
}

/// Drops the PostgreSQL database at `url` now (a `TestDatabase` drops its own when dropped;
/// this is for a test that must see it gone earlier), closing the connections still open to it.
pub async fn drop_postgres_database(url: &str) {
    let Some(server) = postgres_server() else {
        return;
    };
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let name = base.rsplit('/').next().unwrap_or_default();
    drop_named(&server, name).await.expect("drop test database");
}

impl TestDatabase {
    /// A fresh SQLite file, or a fresh PostgreSQL database.
    pub async fn new() -> Self {
        match postgres_server() {
            Some(server) => {
                let pg = create_postgres_database(&server).await;
                TestDatabase {
                    url: with_database(&server, &pg.name),
                    _dir: None,
                    _pg: Some(pg),
                }
            }
            None => Self::sqlite(),
        }
    }

    /// A fresh temporary SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        TestDatabase {
            url,
            _dir: Some(dir),
            _pg: None,
        }
    }

    /// Is this PostgreSQL?
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_database_name_carries_its_creation_time() {
        let name = fresh_name();
        assert!(
            name.len() <= 63,
            "PostgreSQL truncates longer names: {name}"
        );
        let at = created_secs(&name).expect("a dated name");
        assert!(now_secs().abs_diff(at) < 5);
        assert_eq!(
            created_secs("bh_test_0123456789abcdef0123456789abcdef"),
            None
        );
        assert_eq!(created_secs("other_1700000000_x"), None);
    }

    /// Whether the server holds a database named `name`.
    async fn exists(server: &str, name: &str) -> bool {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(server).await.expect("connect");
        let statement = sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        );
        let found = admin.query_one(statement).await.expect("query");
        let _ = admin.close().await;
        found.is_some()
    }

    /// What a test's database leaves behind to look for: its server database's name, or its
    /// SQLite file's directory.
    fn trace(db: &TestDatabase) -> String {
        match (&db._pg, &db._dir) {
            (Some(pg), _) => pg.name.clone(),
            (None, Some(dir)) => dir.path().display().to_string(),
            (None, None) => unreachable!("a test database is a server database or a file"),
        }
    }

    async fn gone(trace: &str) -> bool {
        match postgres_server() {
            Some(server) => !exists(&server, trace).await,
            None => !std::path::Path::new(trace).exists(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_test_database_is_dropped_when_its_test_ends_also_by_a_panic() {
        let db = TestDatabase::new().await;
        let first = trace(&db);
        assert!(!gone(&first).await, "made");
        drop(db);
        assert!(gone(&first).await, "dropped with its TestDatabase");

        let (tx, rx) = std::sync::mpsc::channel();
        let failed = tokio::spawn(async move {
            let db = TestDatabase::new().await;
            let _ = tx.send(trace(&db));
            panic!("deliberate: a test that fails while it holds its database");
        })
        .await;
        assert!(failed.is_err_and(|e| e.is_panic()));
        let second = rx.recv().expect("the failing test's database");
        assert!(gone(&second).await, "dropped while the failed test unwound");
    }
}

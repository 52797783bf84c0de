//! Which database a test runs on: a fresh temporary SQLite file by default, or, when
//! `BUILDHOOKS_TEST_DATABASE_URL` names a PostgreSQL server, a fresh database created on it for
//! each test (a per-binary database is not enough: every server's dispatcher serves all the
//! organizations of its database, so tests with different settings would deliver each other's
//! rows). `.ci/run` drops the `bh_test_*` databases of earlier runs.

/// The environment variable that selects PostgreSQL.
pub const PG_ENV: &str = "BUILDHOOKS_TEST_DATABASE_URL";

/// A database for one test.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
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

/// Creates a fresh PostgreSQL database on `server` and returns its URL.
pub async fn create_postgres_database(server: &str) -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("bh_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(server)
        .await
        .expect("connect to the PostgreSQL server named by BUILDHOOKS_TEST_DATABASE_URL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let _ = admin.close().await;
    with_database(server, &name)
}

/// Drops the PostgreSQL database at `url` (made by `create_postgres_database`), closing the
/// connections still open to it.
pub async fn drop_postgres_database(url: &str) {
    use sea_orm::ConnectionTrait;
    let Some(server) = postgres_server() else {
        return;
    };
    let base = url.split_once('?').map_or(url, |(base, _)| base);
    let name = base.rsplit('/').next().unwrap_or_default();
    assert!(name.starts_with("bh_test_"), "not a test database: {url}");
    let admin = sea_orm::Database::connect(server.as_str())
        .await
        .expect("connect to the PostgreSQL server");
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop test database");
    let _ = admin.close().await;
}

impl TestDatabase {
    /// A fresh SQLite file, or a fresh PostgreSQL database.
    pub async fn new() -> Self {
        match postgres_server() {
            Some(server) => TestDatabase {
                url: create_postgres_database(&server).await,
                _dir: None,
            },
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
        }
    }

    /// Is this PostgreSQL?
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

//! What an operator can do about a database that cannot be opened. Each failure becomes one
//! line that names the database (without its password), quotes the driver's cause once and
//! names the fix where there is one: `createdb ...` for a PostgreSQL database that does not
//! exist, the user and password for a refused login, a server that does not answer at its
//! address, the directory of an SQLite file that does not exist or cannot be written.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{DbErr, RuntimeErr};

use super::{describe, timed_out};

/// PostgreSQL's SQLSTATE for a database that does not exist (`invalid_catalog_name`).
const MISSING_DATABASE: &str = "3D000";
/// PostgreSQL's SQLSTATEs for a refused login (`invalid_password`,
/// `invalid_authorization_specification`).
const REFUSED_LOGIN: [&str; 2] = ["28P01", "28000"];
/// SQLite's result code for a file it cannot open (`SQLITE_CANTOPEN`).
const CANTOPEN: &str = "14";
/// PostgreSQL's port when the URL names none.
const DEFAULT_PORT: u16 = 5432;

/// The sqlx error under a sea-orm one, if any.
fn sqlx_cause(error: &DbErr) -> Option<&sqlx::Error> {
    match error {
        DbErr::Conn(RuntimeErr::SqlxError(e))
        | DbErr::Exec(RuntimeErr::SqlxError(e))
        | DbErr::Query(RuntimeErr::SqlxError(e)) => Some(e),
        _ => None,
    }
}

/// The driver's own words, without the layers of sea-orm and sqlx that each repeat them
/// (`Connection Error: error returned from database: ...`).
fn driver_words(error: &DbErr) -> String {
    match sqlx_cause(error) {
        Some(sqlx::Error::Database(db)) => db.message().to_owned(),
        Some(sqlx::Error::Io(io)) => io.to_string(),
        Some(other) => other.to_string(),
        None => error.to_string(),
    }
}

/// A failure to connect to the database server at `url`, after `waited`.
pub(super) async fn server_error(url: &str, error: &DbErr, waited: Duration) -> anyhow::Error {
    let what = format!("cannot connect to {}", describe(url));
    if let Some(sqlx::Error::Database(db)) = sqlx_cause(error) {
        let code = db.code();
        if code.as_deref() == Some(MISSING_DATABASE) {
            let fix = match createdb(url) {
                Some(command) => format!("; create it with: {command}"),
                None => "; create it (createdb NAME) or name another one".to_owned(),
            };
            return anyhow::anyhow!("{what}: {}{fix}", db.message());
        }
        if code.is_some_and(|c| REFUSED_LOGIN.contains(&c.as_ref())) {
            return anyhow::anyhow!(
                "{what}: {}; check the user and password in BUILDHOOKS_DATABASE_URL",
                db.message()
            );
        }
    }
    if timed_out(error) {
        // sqlx retries a refused connection until its timeout and then reports only the
        // timeout: ask the address itself why.
        let why = match Address::of(url) {
            Some(address) => format!(" ({})", address.probe().await),
            None => String::new(),
        };
        return anyhow::anyhow!(
            "{what}: no connection within {} s{why}; is the database server running and \
             listening there?",
            waited.as_secs().max(1)
        );
    }
    anyhow::anyhow!("{what}: {}", driver_words(error))
}

/// `createdb` with the host, port and user of a PostgreSQL `url` (never its password), and the
/// database's name; `None` when the URL names no database.
pub(super) fn createdb(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let name = decode(parsed.path().trim_start_matches('/'));
    if name.is_empty() {
        return None;
    }
    let query = |key: &str| {
        parsed
            .query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let mut words = vec!["createdb".to_owned()];
    let host = query("host").or_else(|| parsed.host_str().map(unbracket));
    if let Some(host) = host.filter(|h| !h.is_empty()) {
        words.extend(["-h".to_owned(), quoted(&host)]);
    }
    let port = parsed
        .port()
        .or_else(|| query("port").and_then(|p| p.parse().ok()));
    if let Some(port) = port.filter(|p| *p != DEFAULT_PORT) {
        words.extend(["-p".to_owned(), port.to_string()]);
    }
    let user = Some(decode(parsed.username()))
        .filter(|u| !u.is_empty())
        .or_else(|| query("user"));
    if let Some(user) = user {
        words.extend(["-U".to_owned(), quoted(&user)]);
    }
    words.push(quoted(&name));
    Some(words.join(" "))
}

fn decode(text: &str) -> String {
    percent_decode(text).unwrap_or_else(|| text.to_owned())
}

fn percent_decode(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' && tail.len() >= 2 {
            let hex = std::str::from_utf8(&tail[..2]).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

fn unbracket(host: &str) -> String {
    host.trim_matches(|c| c == '[' || c == ']').to_owned()
}

/// `word` as one shell word: as it is when it holds only safe characters, else single-quoted.
fn quoted(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-./:@%+=,".contains(c);
    match word.chars().all(safe) {
        true => word.to_owned(),
        false => format!("'{}'", word.replace('\'', r"'\''")),
    }
}

/// Where a PostgreSQL URL's server listens over TCP.
struct Address {
    host: String,
    port: u16,
}

impl Address {
    /// The TCP address of `url`; `None` for a Unix socket or an unreadable URL.
    fn of(url: &str) -> Option<Address> {
        let parsed = url::Url::parse(url).ok()?;
        if parsed.query_pairs().any(|(k, _)| k == "host") {
            return None;
        }
        let host = parsed.host_str().map(unbracket).filter(|h| !h.is_empty())?;
        Some(Address {
            host,
            port: parsed.port().unwrap_or(DEFAULT_PORT),
        })
    }

    /// Why the server at this address gives no connection, in a few words.
    async fn probe(&self) -> String {
        let Address { host, port } = self;
        let attempt = tokio::net::TcpStream::connect((host.as_str(), *port));
        match tokio::time::timeout(Duration::from_secs(2), attempt).await {
            Ok(Err(error)) => format!("{host}:{port}: {error}"),
            Ok(Ok(_)) => format!("{host}:{port} accepts connections but its server did not answer"),
            Err(_) => format!("{host}:{port} does not answer"),
        }
    }
}

/// A failure to open the SQLite file of `url`: its path, the driver's cause and, when the file
/// cannot be opened at all, what to check about its directory.
pub(super) fn file_error(url: &str, error: &sqlx::Error) -> anyhow::Error {
    let cannot_open = match error {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some(CANTOPEN) || db.message().contains("unable to open")
        }
        _ => false,
    };
    let fix = match (cannot_open, file_path(url)) {
        (true, Some(path)) => file_fix(&path),
        _ => String::new(),
    };
    anyhow::anyhow!("{} cannot be opened: {error}{fix}", describe(url))
}

/// The path of an SQLite URL's file, absolute where it can be made so.
pub(super) fn file_path(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite:")?;
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split_once('?').map_or(path, |(path, _)| path);
    Some(std::path::absolute(path).unwrap_or_else(|_| PathBuf::from(path)))
}

/// What to check about the file at `path` that SQLite could not open.
fn file_fix(path: &Path) -> String {
    if path.is_dir() {
        return format!(
            "; {} is a directory: name a file in it in BUILDHOOKS_DATABASE_URL",
            path.display()
        );
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return format!(
            "; the directory {dir} does not exist: create it (mkdir -p {dir}) or name a file in \
             an existing directory in BUILDHOOKS_DATABASE_URL",
            dir = dir.display()
        );
    }
    format!(
        "; this user must be able to write to the file and to its directory {} (the database \
         keeps two files beside it, -wal and -shm)",
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn createdb_names_host_port_and_user_and_never_the_password() {
        assert_eq!(
            createdb("postgres://postgres@127.0.0.1:5432/bh_missing_xyz").as_deref(),
            Some("createdb -h 127.0.0.1 -U postgres bh_missing_xyz")
        );
        assert_eq!(
            createdb("postgres://bh:s3cret@db.example.com:6432/builds?sslmode=require").as_deref(),
            Some("createdb -h db.example.com -p 6432 -U bh builds")
        );
        assert_eq!(
            createdb("postgres://postgres@localhost/buildhooks?host=/var/run/postgresql")
                .as_deref(),
            Some("createdb -h /var/run/postgresql -U postgres buildhooks")
        );
        assert_eq!(
            createdb("postgres://[::1]/my%20db").as_deref(),
            Some("createdb -h ::1 'my db'")
        );
        assert_eq!(createdb("postgres://postgres@127.0.0.1:5432"), None);
    }

    #[test]
    fn a_missing_directory_is_named_with_the_command_that_makes_it() {
        let dir = std::env::temp_dir().join(format!("bh-hint-{}", std::process::id()));
        let fix = file_fix(&dir.join("missing").join("x.db"));
        let missing = dir.join("missing");
        assert!(
            fix.contains(&format!("mkdir -p {}", missing.display())),
            "{fix}"
        );
        let fix = file_fix(&std::env::temp_dir().join("x.db"));
        assert!(fix.contains("must be able to write"), "{fix}");
        assert!(file_fix(&std::env::temp_dir()).contains("is a directory"));
    }

    #[test]
    fn sqlite_paths_are_made_absolute() {
        assert_eq!(
            file_path("sqlite:///var/lib/bh/x.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/bh/x.db"))
        );
        assert!(file_path("sqlite:x.db").is_some_and(|p| p.is_absolute()));
        assert_eq!(file_path("postgres://h/d"), None);
    }
}

//! How the command line reports database failures: it names the database, keeps a schema
//! error's database cause, and prints the whole cause chain on one line. A PostgreSQL URL may carry a password (in its user info or a `password=`
//! parameter) that must not reach the terminal or a CI log; a SQLite URL is named by its file.

/// `the database file <path>` for a SQLite URL, `the database <url>` for any other, without
/// its password.
pub fn describe(url: &str) -> String {
    match url.strip_prefix("sqlite:") {
        Some(rest) => {
            let path = rest.strip_prefix("//").unwrap_or(rest);
            let path = path.split_once('?').map_or(path, |(path, _)| path);
            format!("the database file {path}")
        }
        None => format!("the database {}", without_password(url)),
    }
}

/// `url` without the password of its user info and without a `password=` query parameter
/// (both are accepted by the PostgreSQL driver). Everything else stays, to help find a typo.
pub fn without_password(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let base = match base.split_once("://") {
        // The user info ends at the last `@` of the authority; a password may contain `/`, so
        // the authority is not cut at the first `/` (a database name with `@` is not expected).
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => {
                let user = rest[..at].split_once(':').map_or(&rest[..at], |(u, _)| u);
                format!("{scheme}://{user}@{}", &rest[at + 1..])
            }
            None => base.to_owned(),
        },
        None => base.to_owned(),
    };
    let Some(query) = query else {
        return base;
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(key, _)| key);
            !key.eq_ignore_ascii_case("password")
        })
        .collect();
    match kept.is_empty() {
        true => base,
        false => format!("{base}?{}", kept.join("&")),
    }
}

/// A schema error as an error chain that keeps its database cause. The schema's text for a
/// database failure is `internal error` (it reaches API clients); at the command line the
/// operator needs the driver's words.
pub fn with_cause(error: buildhooks_schema::Error) -> anyhow::Error {
    use buildhooks_schema::Error;
    match error {
        Error::Db(cause) => anyhow::Error::new(cause),
        Error::Unavailable(cause) => {
            anyhow::Error::new(cause).context("the database is unavailable; try again")
        }
        Error::Internal(text) => anyhow::anyhow!(text),
        other => anyhow::Error::new(other),
    }
}

/// The error and all its causes on one line, as anyhow's `{:#}` prints them, less the causes
/// whose text the cause before already quotes: sea-orm and sqlx errors repeat their source in
/// their own text, which would print `... unable to open database file: unable to open database
/// file`.
pub fn chain(error: &anyhow::Error) -> String {
    let mut shown: Vec<String> = Vec::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if shown.last().is_some_and(|last| last.contains(&text)) {
            continue;
        }
        shown.push(text);
    }
    shown.join(": ")
}

#[cfg(test)]
mod tests {
    use super::{chain, describe, with_cause, without_password};

    #[test]
    fn postgres_urls_lose_their_password_and_keep_the_rest() {
        assert_eq!(
            without_password("postgres://bh:s3cret@db.example.com:5432/buildhooks"),
            "postgres://bh@db.example.com:5432/buildhooks"
        );
        assert_eq!(
            without_password("postgres://bh:p@ss/w@rd@127.0.0.1/bh?sslmode=disable"),
            "postgres://bh@127.0.0.1/bh?sslmode=disable"
        );
        assert_eq!(
            without_password("postgres://bh@/bh?host=/var/run/postgresql&password=x"),
            "postgres://bh@/bh?host=/var/run/postgresql"
        );
        assert_eq!(
            without_password("postgres://db/bh?PASSWORD=x"),
            "postgres://db/bh"
        );
        assert_eq!(
            without_password("postgres://postgres@127.0.0.1:5432/postgres"),
            "postgres://postgres@127.0.0.1:5432/postgres"
        );
    }

    #[test]
    fn sqlite_urls_are_named_by_their_file() {
        assert_eq!(
            describe("sqlite:///var/lib/bh/x.db?mode=rwc"),
            "the database file /var/lib/bh/x.db"
        );
        assert_eq!(
            describe("sqlite://buildhooks.db?mode=rwc"),
            "the database file buildhooks.db"
        );
        assert_eq!(describe("sqlite:x.db"), "the database file x.db");
        assert_eq!(
            describe("postgres://u:pw@h/d"),
            "the database postgres://u@h/d"
        );
    }

    #[test]
    fn a_database_failure_keeps_the_drivers_words() {
        let error = buildhooks_schema::Error::Db(sea_orm::DbErr::Custom("disk I/O error".into()));
        let error = with_cause(error).context("cannot create the organization");
        assert_eq!(
            chain(&error),
            "cannot create the organization: Custom Error: disk I/O error"
        );
    }

    #[test]
    fn a_cause_that_its_parent_already_quotes_is_printed_once() {
        let io = std::io::Error::other("unable to open database file");
        let error = anyhow::Error::new(io)
            .context("error returned from database: unable to open database file")
            .context("the database file /x.db cannot be opened");
        assert_eq!(
            chain(&error),
            "the database file /x.db cannot be opened: error returned from database: unable to \
             open database file"
        );
    }
}

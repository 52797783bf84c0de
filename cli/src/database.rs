//! How the command line reports failures: it keeps a schema error's database cause and prints
//! the whole cause chain on one line (the store names the database, without its password).

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
    use super::{chain, with_cause};

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

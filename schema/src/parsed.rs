//! Parsed GraphQL documents by query text. Parsing is pure and costs more than executing a small
//! operation, so a text seen before is not parsed again: stored payload queries, rendered for
//! every event, and the API's repeated operations (a CI client sends the same mutation text with
//! new variables each time). Validation still runs on every request, with the schema's limits.
//! Every text passes `bounded::check` first: nothing over its size or nesting limits reaches the
//! recursive parser, neither here nor in the schema's own parse of a text that did not parse.

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::Request;

use crate::bounded::{self, Limits, Refused};
use crate::memo::Memo;

/// Parsed documents by query text.
pub type ParseCache = Memo<ExecutableDocument>;

/// The API's operations: small texts, a few hundred distinct ones.
pub static API: ParseCache = Memo::new(256, 4096);

/// The parsed document of `query` from `cache`; `Ok(None)` when it does not parse (the caller
/// lets the schema parse it and report the error); `Err` when it is over `limits`, and must not
/// be parsed at all.
pub fn document(
    cache: &ParseCache,
    limits: Limits,
    query: &str,
) -> Result<Option<ExecutableDocument>, Refused> {
    bounded::check(query, limits)?;
    Ok(cache.get(query, |q| async_graphql::parser::parse_query(q).ok()))
}

/// `request` ready for `Schema::execute`: its text checked against `limits` and its parsed
/// document attached from `cache`. A refused request must not be executed.
pub fn prepare(
    cache: &ParseCache,
    limits: Limits,
    mut request: Request,
) -> Result<Request, Refused> {
    if let Some(doc) = document(cache, limits, &request.query)? {
        request.set_parsed_query(doc);
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_what_the_parser_gives() {
        let cache = ParseCache::new(2, 40);
        let parsed = document(&cache, bounded::API, "{ a }")
            .expect("within limits")
            .expect("parses");
        let again = document(&cache, bounded::API, "{ a }")
            .expect("within limits")
            .expect("cached");
        assert_eq!(format!("{parsed:?}"), format!("{again:?}"));
        assert!(
            matches!(document(&cache, bounded::API, "{ b("), Ok(None)),
            "a syntax error is not a document"
        );
    }

    #[test]
    fn a_text_over_the_limits_is_refused_before_parsing() {
        let cache = ParseCache::new(2, 40);
        let deep = format!("{{ a(b: {}1{}) }}", "[".repeat(5_000), "]".repeat(5_000));
        assert!(matches!(
            document(&cache, bounded::API, &deep),
            Err(Refused::TooDeep { .. })
        ));
        let request = Request::new(deep);
        assert!(prepare(&cache, bounded::API, request).is_err());
    }
}

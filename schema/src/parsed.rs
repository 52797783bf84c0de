//! Parsed GraphQL documents by query text. Parsing is pure and costs more than executing a small
//! operation, so a text seen before is not parsed again: stored payload queries, rendered for
//! every event, and the API's repeated operations (a CI client sends the same mutation text with
//! new variables each time). Validation still runs on every request, with the schema's limits.

use async_graphql::parser::types::ExecutableDocument;

use crate::memo::Memo;

/// Parsed documents by query text.
pub type ParseCache = Memo<ExecutableDocument>;

/// The API's operations: small texts, a few hundred distinct ones.
pub static API: ParseCache = Memo::new(256, 4096);

/// The parsed document of `query` from `cache`, or `None` when it does not parse (the caller
/// lets the schema parse it and report the error).
pub fn document(cache: &ParseCache, query: &str) -> Option<ExecutableDocument> {
    cache.get(query, |q| async_graphql::parser::parse_query(q).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_is_what_the_parser_gives() {
        let cache = ParseCache::new(2, 40);
        let parsed = document(&cache, "{ a }").expect("parses");
        let again = document(&cache, "{ a }").expect("cached");
        assert_eq!(format!("{parsed:?}"), format!("{again:?}"));
        assert!(
            document(&cache, "{ b(").is_none(),
            "a syntax error is not a document"
        );
    }
}

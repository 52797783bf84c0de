//! Parsed GraphQL documents by query text. Parsing is pure and costs more than executing a small
//! operation, so a text seen before is not parsed again: stored payload queries, rendered for
//! every event, and the API's repeated operations (a CI client sends the same mutation text with
//! new variables each time). Validation still runs on every request, with the schema's limits.
//! Each cache is bounded: a full one starts over, and texts longer than its limit are not kept,
//! so a stream of distinct queries cannot grow memory.

use std::collections::HashMap;
use std::sync::{OnceLock, RwLock};

use async_graphql::parser::types::ExecutableDocument;

/// A bounded map from query text to its parsed document.
pub struct ParseCache {
    map: OnceLock<RwLock<HashMap<String, ExecutableDocument>>>,
    entries: usize,
    max_text: usize,
}

impl ParseCache {
    /// At most `entries` documents, of texts of at most `max_text` bytes.
    pub const fn new(entries: usize, max_text: usize) -> Self {
        ParseCache {
            map: OnceLock::new(),
            entries,
            max_text,
        }
    }

    /// The parsed document of `query`, or `None` when it does not parse (the caller lets the
    /// schema parse it and report the error).
    pub fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let map = self.map.get_or_init(Default::default);
        if let Some(doc) = map.read().ok()?.get(query) {
            return Some(doc.clone());
        }
        let doc = async_graphql::parser::parse_query(query).ok()?;
        if query.len() <= self.max_text {
            if let Ok(mut map) = map.write() {
                if map.len() >= self.entries {
                    map.clear();
                }
                map.insert(query.to_owned(), doc.clone());
            }
        }
        Some(doc)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map
            .get()
            .and_then(|m| m.read().ok().map(|m| m.len()))
            .unwrap_or(0)
    }
}

/// The API's operations: small texts, a few hundred distinct ones.
pub static API: ParseCache = ParseCache::new(256, 4096);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_once_keeps_short_texts_and_starts_over_when_full() {
        let cache = ParseCache::new(2, 40);
        let a = "{ a }";
        let first = cache.get(a).expect("parses");
        assert_eq!(cache.len(), 1);
        assert_eq!(
            format!("{first:?}"),
            format!("{:?}", cache.get(a).expect("cached"))
        );
        assert_eq!(cache.len(), 1, "the same text is not stored twice");
        assert!(
            cache.get("{ b(").is_none(),
            "a syntax error is not a document"
        );
        assert_eq!(cache.len(), 1);
        let long = format!("{{ {} }}", "x".repeat(60));
        assert!(cache.get(&long).is_some());
        assert_eq!(cache.len(), 1, "a text over the limit is parsed, not kept");
        cache.get("{ b }");
        assert_eq!(cache.len(), 2);
        cache.get("{ c }");
        assert_eq!(cache.len(), 1, "a full cache starts over");
    }
}

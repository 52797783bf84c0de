//! Parsed GraphQL documents by query text. Parsing is pure and costs more than executing a small
//! operation, so a text seen before is not parsed again: stored payload queries, rendered for
//! every event, and the API's repeated operations (a CI client sends the same mutation text with
//! new variables each time). Validation still runs on every request, with the schema's limits.
//! Every text passes `bounded::check` first: nothing over its size or nesting limits reaches the
//! recursive parser, neither here nor in the schema's own parse of a text that did not parse.
//! A variable's default value is kept only when the schema knows the variable's type
//! (`known_defaults`): async-graphql 7.2 panics checking a default of an unknown type ("Type `X`
//! not defined"); without the default, its validation reports the unknown type as it should.

use std::collections::HashSet;
use std::sync::OnceLock;

use async_graphql::parser::types::{BaseType, DocumentOperations, ExecutableDocument, Type};
use async_graphql::{ObjectType, Request, Schema, SubscriptionType};

use crate::bounded::{self, Limits, Refused};
use crate::memo::Memo;

/// Parsed documents by query text.
pub type ParseCache = Memo<ExecutableDocument>;

/// The API's operations: small texts, a few hundred distinct ones.
pub static API: ParseCache = Memo::new(256, 4096);

/// A schema's type names, taken once per process (a schema's types are fixed when it is
/// compiled).
pub struct TypeNames(OnceLock<HashSet<String>>);

impl TypeNames {
    pub const fn new() -> Self {
        TypeNames(OnceLock::new())
    }

    /// The names of `schema`'s types.
    pub fn of<Q, M, S>(&self, schema: &Schema<Q, M, S>) -> &HashSet<String>
    where
        Q: ObjectType + 'static,
        M: ObjectType + 'static,
        S: SubscriptionType + 'static,
    {
        self.0.get_or_init(|| schema.names().into_iter().collect())
    }
}

impl Default for TypeNames {
    fn default() -> Self {
        Self::new()
    }
}

/// The API schema's type names.
pub static API_TYPES: TypeNames = TypeNames::new();

/// The named type at the bottom of `ty` (`[[ID!]]` -> `ID`).
fn base_name(ty: &Type) -> &str {
    match &ty.base {
        BaseType::Named(name) => name.as_str(),
        BaseType::List(inner) => base_name(inner),
    }
}

/// `doc` with the default values of variables whose type `known` does not hold dropped.
pub fn known_defaults(mut doc: ExecutableDocument, known: &HashSet<String>) -> ExecutableDocument {
    let operations: Vec<_> = match &mut doc.operations {
        DocumentOperations::Single(op) => vec![op],
        DocumentOperations::Multiple(ops) => ops.values_mut().collect(),
    };
    for op in operations {
        for var in &mut op.node.variable_definitions {
            if !known.contains(base_name(&var.node.var_type.node)) {
                var.node.default_value = None;
            }
        }
    }
    doc
}

/// The parsed document of `query` from `cache`; `Ok(None)` when it does not parse (the caller
/// lets the schema parse it and report the error); `Err` when it is over `limits`, and must not
/// be parsed at all.
pub fn document(
    cache: &ParseCache,
    limits: Limits,
    query: &str,
    known: &HashSet<String>,
) -> Result<Option<ExecutableDocument>, Refused> {
    bounded::check(query, limits)?;
    Ok(cache.get(query, |q| {
        async_graphql::parser::parse_query(q)
            .ok()
            .map(|doc| known_defaults(doc, known))
    }))
}

/// `request` ready for `Schema::execute` of the schema whose type names are `known`: its text
/// checked against `limits` and its parsed document attached from `cache`. A refused request
/// must not be executed.
pub fn prepare(
    cache: &ParseCache,
    limits: Limits,
    mut request: Request,
    known: &HashSet<String>,
) -> Result<Request, Refused> {
    if let Some(doc) = document(cache, limits, &request.query, known)? {
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
        let known = HashSet::new();
        let parsed = document(&cache, bounded::API, "{ a }", &known)
            .expect("within limits")
            .expect("parses");
        let again = document(&cache, bounded::API, "{ a }", &known)
            .expect("within limits")
            .expect("cached");
        assert_eq!(format!("{parsed:?}"), format!("{again:?}"));
        assert!(
            matches!(document(&cache, bounded::API, "{ b(", &known), Ok(None)),
            "a syntax error is not a document"
        );
    }

    #[test]
    fn a_text_over_the_limits_is_refused_before_parsing() {
        let cache = ParseCache::new(2, 40);
        let known = HashSet::new();
        let deep = format!("{{ a(b: {}1{}) }}", "[".repeat(5_000), "]".repeat(5_000));
        assert!(matches!(
            document(&cache, bounded::API, &deep, &known),
            Err(Refused::TooDeep { .. })
        ));
        let request = Request::new(deep);
        assert!(prepare(&cache, bounded::API, request, &known).is_err());
    }

    #[test]
    fn only_defaults_of_known_types_are_kept() {
        let known: HashSet<String> = ["ID".to_owned()].into();
        let doc = async_graphql::parser::parse_query(
            "query($a: ID = \"1\", $b: [_ID!] = [\"1\"], $c: [[ID]] = [[\"2\"]]) { x }",
        )
        .expect("parses");
        let doc = known_defaults(doc, &known);
        let DocumentOperations::Single(op) = &doc.operations else {
            panic!("one operation");
        };
        let defaults: Vec<bool> = op
            .node
            .variable_definitions
            .iter()
            .map(|v| v.node.default_value.is_some())
            .collect();
        assert_eq!(defaults, [true, false, true]);
    }
}

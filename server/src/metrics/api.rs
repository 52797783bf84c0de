//! Request families: GraphQL operations by root field and outcome with their durations, and
//! HTTP requests by route template and status class. Labels are bounded: an operation is named
//! by a root field the schema has (read from its SDL once per process, on the first request),
//! else a fixed word; a route is the
//! router's template (`/hooks/in/{id}`), never the path.

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use async_graphql::parser::types::{DocumentOperations, OperationDefinition, Selection};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Upper bounds of the request duration histograms, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];
/// The operation label of a request that selects several root fields.
pub const MULTIPLE: &str = "multiple";
/// The operation label of a request whose root field the schema does not have (or a fragment
/// at the root).
pub const OTHER: &str = "other";
/// The operation label of an introspection-only request (`__schema`, `__type`, `__typename`).
pub const INTROSPECTION: &str = "introspection";
/// The operation label of a request whose text does not parse or names no operation it has.
pub const INVALID: &str = "invalid";

type Labels = Vec<(&'static str, String)>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The request families of this process.
pub struct Requests {
    api: Family<Labels, Counter>,
    api_duration: Family<Labels, Histogram, fn() -> Histogram>,
    http: Family<Labels, Counter>,
    http_duration: Family<Labels, Histogram, fn() -> Histogram>,
}

impl Requests {
    /// The families, registered in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let this = Requests {
            api: Family::default(),
            api_duration: Family::new_with_constructor(histogram),
            http: Family::default(),
            http_duration: Family::new_with_constructor(histogram),
        };
        registry.register(
            "buildhooks_api_requests",
            "GraphQL requests executed, by operation (the root field) and outcome (ok or error)",
            this.api.clone(),
        );
        registry.register(
            "buildhooks_api_request_duration_seconds",
            "Time to execute GraphQL requests, by operation (the root field)",
            this.api_duration.clone(),
        );
        registry.register(
            "buildhooks_http_requests",
            "HTTP requests answered, by route template, method and status class",
            this.http.clone(),
        );
        registry.register(
            "buildhooks_http_request_duration_seconds",
            "Time to answer HTTP requests, by route template",
            this.http_duration.clone(),
        );
        this
    }

    /// The bounded operation label of `request` (parsed here if it was not yet).
    pub fn operation(&self, request: &mut async_graphql::Request) -> String {
        let wanted = request.operation_name.clone();
        let Ok(doc) = request.parsed_query() else {
            return INVALID.into();
        };
        let operation: Option<&OperationDefinition> = match (&doc.operations, wanted) {
            (DocumentOperations::Single(op), _) => Some(&op.node),
            (DocumentOperations::Multiple(ops), Some(name)) => ops
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, op)| &op.node),
            (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
                ops.values().next().map(|op| &op.node)
            }
            _ => None,
        };
        let Some(operation) = operation else {
            return INVALID.into();
        };
        let names: Vec<Option<&str>> = operation
            .selection_set
            .node
            .items
            .iter()
            .map(|s| match &s.node {
                Selection::Field(f) => Some(f.node.name.node.as_str()),
                _ => None,
            })
            .collect();
        let real: Vec<&str> = names
            .iter()
            .flatten()
            .copied()
            .filter(|n| !n.starts_with("__"))
            .collect();
        if names.iter().any(Option::is_none) {
            return OTHER.into();
        }
        match real.as_slice() {
            [] => INTROSPECTION.into(),
            [one] => self.known(one),
            [first, rest @ ..] if rest.iter().all(|n| n == first) => self.known(first),
            _ => MULTIPLE.into(),
        }
    }

    fn known(&self, name: &str) -> String {
        match roots().contains(name) {
            true => name.to_owned(),
            false => OTHER.into(),
        }
    }

    /// Counts one executed GraphQL request.
    pub fn observe_api(&self, operation: String, ok: bool, took: Duration) {
        let outcome = if ok { "ok" } else { "error" };
        self.api_duration
            .get_or_create(&vec![("operation", operation.clone())])
            .observe(took.as_secs_f64());
        self.api
            .get_or_create(&vec![("operation", operation), ("outcome", outcome.into())])
            .inc();
    }

    /// Counts one answered HTTP request (`route`: the router's template, or `unmatched`).
    pub fn observe_http(&self, route: &str, method: &str, status: u16, took: Duration) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        // Any token is a method on the wire: only the usual ones become labels.
        let method = match method {
            "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => method,
            _ => "other",
        };
        self.http_duration
            .get_or_create(&vec![("route", route.to_owned())])
            .observe(took.as_secs_f64());
        self.http
            .get_or_create(&vec![
                ("route", route.to_owned()),
                ("method", method.to_owned()),
                ("status", class.to_owned()),
            ])
            .inc();
    }
}

/// The schema's root field names (query and mutation). They are fixed when the binary is
/// built, so they are read once per process, from the public schema's SDL.
fn roots() -> &'static HashSet<String> {
    static ROOTS: OnceLock<HashSet<String>> = OnceLock::new();
    ROOTS.get_or_init(|| root_fields(&buildhooks_schema::sdl()))
}

/// The fields of the query and mutation types of `sdl` as async-graphql writes it (one field a
/// line, one tab in, descriptions in `"""` blocks), read line by line: the GraphQL parser takes
/// about 30 times as long over the whole schema (the tests check both agree).
pub fn root_fields(sdl: &str) -> HashSet<String> {
    // The root types' names: the `schema { query: ..., mutation: ... }` block, else the defaults.
    let mut root_types = vec!["Query", "Mutation"];
    let mut in_schema = false;
    for line in sdl.lines() {
        match line {
            "schema {" => in_schema = true,
            "}" => in_schema = false,
            _ if in_schema => {
                if let Some((_, name)) = line.trim().split_once(": ") {
                    root_types.push(name.trim());
                }
            }
            _ => {}
        }
    }
    let mut roots = HashSet::new();
    let (mut in_root, mut in_description) = (false, false);
    for line in sdl.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            let name = rest.split([' ', '{']).next().unwrap_or_default();
            in_root = root_types.contains(&name);
            continue;
        }
        if line == "}" {
            in_root = false;
            continue;
        }
        let Some(body) = line.strip_prefix('\t').filter(|_| in_root) else {
            continue;
        };
        if let Some(rest) = body.strip_prefix("\"\"\"") {
            if !rest.contains("\"\"\"") {
                in_description = !in_description;
            }
            continue;
        }
        if in_description || !body.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            continue;
        }
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        roots.insert(name);
    }
    roots
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::types::{TypeKind, TypeSystemDefinition};

    fn label(query: &str) -> String {
        let mut registry = Registry::default();
        let requests = Requests::register(&mut registry);
        requests.operation(&mut async_graphql::Request::new(query))
    }

    /// The same by the GraphQL parser.
    fn parsed_root_fields(sdl: &str) -> HashSet<String> {
        let mut roots = HashSet::new();
        if let Ok(doc) = async_graphql::parser::parse_schema(sdl) {
            // The root types' names: the `schema { query: ..., mutation: ... }` block, or the
            // default names when it is left out.
            let mut root_types: Vec<String> = vec!["Query".into(), "Mutation".into()];
            for def in &doc.definitions {
                if let TypeSystemDefinition::Schema(schema) = def {
                    root_types.extend(schema.node.query.iter().map(|n| n.node.to_string()));
                    root_types.extend(schema.node.mutation.iter().map(|n| n.node.to_string()));
                }
            }
            for def in &doc.definitions {
                if let TypeSystemDefinition::Type(ty) = def {
                    if !root_types.iter().any(|r| *r == ty.node.name.node.as_str()) {
                        continue;
                    }
                    if let TypeKind::Object(object) = &ty.node.kind {
                        roots.extend(object.fields.iter().map(|f| f.node.name.node.to_string()));
                    }
                }
            }
        }
        roots
    }

    #[test]
    fn the_root_fields_read_line_by_line_are_those_the_parser_finds() {
        let sdl = buildhooks_schema::sdl();
        let fields = root_fields(&sdl);
        assert!(
            fields.contains("createBuild") && fields.contains("viewer"),
            "{fields:?}"
        );
        assert_eq!(fields, parsed_root_fields(&sdl));
    }

    #[test]
    fn an_operation_is_named_by_a_root_field_the_schema_has_and_nothing_else() {
        assert_eq!(
            label("mutation { createBuild(input: {}) { build { id } } }"),
            "createBuild"
        );
        assert_eq!(label("{ aFieldNobodyHas }"), OTHER);
        assert_eq!(label("{ __schema { types { name } } }"), INTROSPECTION);
        assert_eq!(label("{ ...F } fragment F on Query { __typename }"), OTHER);
        assert_eq!(label("not graphql"), INVALID);
        assert_eq!(
            label("mutation { createBuild(input: {}) { build { id } } createRepository(input: {}) { repository { id } } }"),
            MULTIPLE
        );
        assert!(roots().len() > 10, "{:?}", roots());
    }
}

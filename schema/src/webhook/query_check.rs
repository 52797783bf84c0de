//! Validation of a custom stored query when it is saved: it parses, has exactly one query
//! operation, declares only `$repositoryId`, `$buildId` and `$taskId`, uses no introspection, and
//! passes the payload schema's own validation (fields, types, depth and complexity limits).
//! Size and nesting are checked before parsing (`bounded`). Messages carry line and column and
//! never quote the text.

use async_graphql::parser::types::{DocumentOperations, OperationType, Selection, SelectionSet};
use async_graphql::{Positioned, Request, Variables};
use serde_json::json;

use crate::auth::Viewer;
use crate::bounded;
use crate::PayloadSchema;
use buildhooks_store::DbHandle;

/// The variables a stored query may declare.
pub const ALLOWED_VARIABLES: [&str; 3] = ["repositoryId", "buildId", "taskId"];

pub use crate::bounded::MAX_QUERY_BYTES;

fn at(pos: async_graphql::Pos) -> String {
    format!("line {}, column {}", pos.line, pos.column)
}

fn find_introspection(set: &Positioned<SelectionSet>) -> Option<String> {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(f) => {
                let name = f.node.name.node.as_str();
                if name.starts_with("__") && name != "__typename" {
                    return Some(format!(
                        "introspection ({name}) is not allowed in a stored query, at {}",
                        at(f.pos)
                    ));
                }
                if let Some(found) = find_introspection(&f.node.selection_set) {
                    return Some(found);
                }
            }
            Selection::InlineFragment(frag) => {
                if let Some(found) = find_introspection(&frag.node.selection_set) {
                    return Some(found);
                }
            }
            Selection::FragmentSpread(_) => {}
        }
    }
    None
}

/// A parser error as a message: its position and what was expected, without the quoted line
/// of the text that the parser's own message carries.
fn syntax(e: &async_graphql::parser::Error) -> String {
    let pos = e
        .positions()
        .next()
        .map(|p| format!(" at {}", at(p)))
        .unwrap_or_default();
    let text = e.to_string();
    let what = text
        .lines()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .unwrap_or(&text);
    format!("syntax error{pos}: {what}")
}

/// Checks a stored query; `Err` holds a message for the user.
pub async fn check(schema: &PayloadSchema, db: DbHandle, query: &str) -> Result<(), String> {
    // Size and nesting first: the parser is recursive, a deep text would overflow its stack.
    bounded::check(query, bounded::STORED).map_err(|refused| refused.to_string())?;
    let doc = async_graphql::parser::parse_query(query).map_err(|e| syntax(&e))?;
    let doc = crate::parsed::known_defaults(doc, super::render::STORED_TYPES.of(schema));
    let operation = match &doc.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) if ops.len() == 1 => {
            ops.values().next().ok_or("no operation")?
        }
        DocumentOperations::Multiple(_) => {
            return Err("a stored query has exactly one operation".into())
        }
    };
    if operation.node.ty != OperationType::Query {
        return Err(format!(
            "a stored query must be a query, not a {}, at {}",
            operation.node.ty,
            at(operation.pos)
        ));
    }
    for var in &operation.node.variable_definitions {
        let name = var.node.name.node.as_str();
        if !ALLOWED_VARIABLES.contains(&name) {
            return Err(format!(
                "variable ${name} is not available (only $repositoryId, $buildId and $taskId), at {}",
                at(var.pos)
            ));
        }
    }
    let sets = std::iter::once(&operation.node.selection_set)
        .chain(doc.fragments.values().map(|f| &f.node.selection_set));
    for set in sets {
        if let Some(found) = find_introspection(set) {
            return Err(found);
        }
    }
    // The schema's own validation: run as an organization that does not exist, so nothing is
    // read; errors without a path are validation errors, the others come from resolvers.
    let mut request = Request::new(query)
        .variables(Variables::from_json(json!({
            "repositoryId": "0", "buildId": "0", "taskId": null
        })))
        .data(db)
        .data(Viewer::org(-1));
    request.set_parsed_query(doc);
    let response = schema.execute(request).await;
    let problems: Vec<String> = response
        .errors
        .iter()
        .filter(|e| e.path.is_empty())
        .map(|e| match e.locations.first() {
            Some(pos) => format!("{} (at {})", e.message, at(*pos)),
            None => e.message.clone(),
        })
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

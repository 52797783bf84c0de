//! Puts a rendered payload's fields in the order its query asks for them, as GraphQL's
//! specification wants and Cirrus's bodies show: async-graphql answers a merged root's fields
//! and a type's computed fields after its plain ones, whatever the query's order. The order of
//! each distinct query text is worked out once (from its fields, inline fragments and fragment
//! spreads, in place) and kept.

use std::sync::Arc;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Selection, SelectionSet,
};
use serde_json::{Map, Value};

use crate::memo::Memo;

/// The response keys of a selection set, in order, each with its own keys.
#[derive(Debug, Default, PartialEq)]
pub struct Keys(Vec<(String, Keys)>);

/// Orders of a thousand distinct query texts (stored queries are at most `bounded::STORED`).
static ORDERS: Memo<Arc<Keys>> = Memo::new(1_000, 64 * 1024);

/// `data` with every object's fields in the order `query` selects them; fields the query does
/// not name (none, normally) keep their place after those it does. A query that does not parse
/// leaves `data` as it is.
pub fn in_query_order(query: &str, data: Value) -> Value {
    match ORDERS.get(query, keys_of_text) {
        Some(keys) => arrange(data, &keys),
        None => data,
    }
}

fn keys_of_text(query: &str) -> Option<Arc<Keys>> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    let operation = match &doc.operations {
        DocumentOperations::Single(op) => op,
        DocumentOperations::Multiple(ops) => ops.values().next()?,
    };
    let mut keys = Keys::default();
    collect(&doc, &operation.node.selection_set.node, &mut keys, 0);
    Some(Arc::new(keys))
}

/// Adds the keys of `set` to `keys`; fragments nest at most as deep as the query's text allows,
/// and a fragment that spreads itself stops at `depth` 64.
fn collect(doc: &ExecutableDocument, set: &SelectionSet, keys: &mut Keys, depth: usize) {
    if depth > 64 {
        return;
    }
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let field = &field.node;
                let key = field.alias.as_ref().unwrap_or(&field.name).node.to_string();
                let position = match keys.0.iter().position(|(k, _)| *k == key) {
                    Some(position) => position,
                    None => {
                        keys.0.push((key, Keys::default()));
                        keys.0.len() - 1
                    }
                };
                collect(
                    doc,
                    &field.selection_set.node,
                    &mut keys.0[position].1,
                    depth + 1,
                );
            }
            Selection::InlineFragment(fragment) => {
                collect(doc, &fragment.node.selection_set.node, keys, depth + 1);
            }
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = doc.fragments.get(&spread.node.fragment_name.node) {
                    collect(doc, &fragment.node.selection_set.node, keys, depth + 1);
                }
            }
        }
    }
}

fn arrange(value: Value, keys: &Keys) -> Value {
    match value {
        Value::Object(mut fields) if !keys.0.is_empty() => {
            let mut ordered = Map::with_capacity(fields.len());
            for (key, inner) in &keys.0 {
                if let Some(v) = fields.shift_remove(key) {
                    ordered.insert(key.clone(), arrange(v, inner));
                }
            }
            ordered.extend(fields);
            Value::Object(ordered)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| arrange(v, keys)).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_follow_the_query_through_aliases_and_fragments() {
        let query = "query { b: build { z a ...F } task { ... on Task { y x } } }
                     fragment F on Build { m }";
        let data = json!({"task": {"x": 1, "y": 2}, "b": {"m": 0, "a": 1, "z": 2}});
        assert_eq!(
            in_query_order(query, data).to_string(),
            r#"{"b":{"z":2,"a":1,"m":0},"task":{"y":2,"x":1}}"#
        );
    }

    #[test]
    fn lists_are_ordered_item_by_item_and_bad_text_leaves_data_alone() {
        let data = json!({"tasks": [{"b": 1, "a": 2}, {"b": 3, "a": 4}]});
        assert_eq!(
            in_query_order("{ tasks { a b } }", data.clone()).to_string(),
            r#"{"tasks":[{"a":2,"b":1},{"a":4,"b":3}]}"#
        );
        assert_eq!(in_query_order("{ tasks {", data.clone()), data);
    }
}

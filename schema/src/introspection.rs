//! Depth and complexity limits that do not count introspection, which keeps its own bounds.
//!
//! The standard introspection query (graphql-js's `getIntrospectionQuery()`, which GraphiQL,
//! graphql-core and most schema tools send) nests `ofType` nine deep under
//! `__schema { types { fields { args { type ...` : 15 levels, past the API's depth limit of
//! [`MAX_DEPTH`](crate::MAX_DEPTH). So the API schema's own (async-graphql) limits are set high
//! enough for introspection, as a backstop, and `POST /graphql` checks every parsed operation
//! with [`check`] before it executes it, counting the two parts of a document apart:
//! - the selections under `__schema` and `__type` (at any level, fragments included) against
//!   [`Limits::introspection_depth`] and [`Limits::introspection_complexity`], so a hostile
//!   `__type { ofType { ofType { ... } } }` stays refused;
//! - everything else against [`Limits::depth`] and [`Limits::complexity`], exactly as before.
//!
//! Counted as async-graphql counts: depth is the longest chain of fields, complexity is one per
//! field, fragments are counted where they are spread (each spread again), across every operation
//! of the document (no field of this schema declares a custom complexity). A fragment's cost is
//! computed once, so spreading one fragment many times costs no time here. The refusals are
//! async-graphql's own texts (`Query is nested too deep.`, `Query is too complex.`), `VALIDATION`
//! once the response is normalized.
//!
//! Not an async-graphql `Extension`: a schema with any extension sends every resolved field and
//! list item through the extension chain, which made a 1,000-value list answer 1.5 to 1.8 times
//! slower (7.2.1, release build, in a scratch benchmark); this check is one walk of the document.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Request, ServerError};

use crate::{MAX_COMPLEXITY, MAX_DEPTH, MAX_INTROSPECTION_COMPLEXITY, MAX_INTROSPECTION_DEPTH};

/// The fields whose subtrees are introspection.
const INTROSPECTION_FIELDS: [&str; 2] = ["__schema", "__type"];

/// Deepest chain of fragment spreads inside fragment spreads: no real document comes near it,
/// and it bounds the recursion of the walk below.
pub const MAX_FRAGMENT_NESTING: usize = 64;

/// What a document may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest chain of fields outside introspection.
    pub depth: usize,
    /// Fields outside introspection.
    pub complexity: usize,
    /// Longest chain of fields that ends inside introspection, counted from the operation.
    pub introspection_depth: usize,
    /// Fields inside introspection.
    pub introspection_complexity: usize,
}

/// The public API's limits.
pub const API: Limits = Limits {
    depth: MAX_DEPTH,
    complexity: MAX_COMPLEXITY,
    introspection_depth: MAX_INTROSPECTION_DEPTH,
    introspection_complexity: MAX_INTROSPECTION_COMPLEXITY,
};

/// What a document (or a part of one) costs, its two parts apart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cost {
    pub depth: usize,
    pub complexity: usize,
    pub introspection_depth: usize,
    pub introspection_complexity: usize,
}

impl Cost {
    /// Two selections side by side: the deeper of each depth, the sum of each complexity.
    fn beside(self, other: Cost) -> Cost {
        Cost {
            depth: self.depth.max(other.depth),
            complexity: self.complexity.saturating_add(other.complexity),
            introspection_depth: self.introspection_depth.max(other.introspection_depth),
            introspection_complexity: self
                .introspection_complexity
                .saturating_add(other.introspection_complexity),
        }
    }

    /// A selection set under an ordinary field.
    fn under_field(self) -> Cost {
        Cost {
            depth: self.depth + 1,
            complexity: self.complexity.saturating_add(1),
            introspection_depth: match self.introspection_depth {
                0 => 0,
                depth => depth + 1,
            },
            introspection_complexity: self.introspection_complexity,
        }
    }

    /// A selection set under `__schema` or `__type`: all of it is introspection.
    fn under_introspection(self) -> Cost {
        Cost {
            depth: 0,
            complexity: 0,
            introspection_depth: self.depth.max(self.introspection_depth) + 1,
            introspection_complexity: self
                .complexity
                .saturating_add(self.introspection_complexity)
                .saturating_add(1),
        }
    }
}

/// Why a document was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    TooComplex,
    TooDeep,
}

impl Refused {
    /// async-graphql's own words for the same refusals.
    pub fn message(self) -> &'static str {
        match self {
            Refused::TooComplex => "Query is too complex.",
            Refused::TooDeep => "Query is nested too deep.",
        }
    }
}

impl Limits {
    /// Refuses `doc` when either part of it is over its limits (complexity first, as
    /// async-graphql checks).
    pub fn check(&self, doc: &ExecutableDocument) -> Result<Cost, Refused> {
        let cost = cost(doc)?;
        if cost.complexity > self.complexity
            || cost.introspection_complexity > self.introspection_complexity
        {
            return Err(Refused::TooComplex);
        }
        if cost.depth > self.depth || cost.introspection_depth > self.introspection_depth {
            return Err(Refused::TooDeep);
        }
        Ok(cost)
    }
}

/// The cost of every operation of `doc`; refused when fragment spreads nest deeper than
/// [`MAX_FRAGMENT_NESTING`].
pub fn cost(doc: &ExecutableDocument) -> Result<Cost, Refused> {
    let mut walk = Walk {
        doc,
        known: HashMap::new(),
        open: HashSet::new(),
    };
    let mut total = Cost::default();
    for (_, operation) in doc.operations.iter() {
        total = total.beside(walk.selection_set(&operation.node.selection_set.node)?);
    }
    Ok(total)
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    /// Fragments already costed.
    known: HashMap<&'a str, Cost>,
    /// Fragments being costed (the spreads above this point).
    open: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    fn selection_set(&mut self, set: &'a SelectionSet) -> Result<Cost, Refused> {
        let mut total = Cost::default();
        for item in &set.items {
            let cost = match &item.node {
                Selection::Field(field) => {
                    let inner = self.selection_set(&field.node.selection_set.node)?;
                    if INTROSPECTION_FIELDS.contains(&field.node.name.node.as_str()) {
                        inner.under_introspection()
                    } else {
                        inner.under_field()
                    }
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set.node)?
                }
                Selection::FragmentSpread(spread) => {
                    self.spread(spread.node.fragment_name.node.as_str())?
                }
            };
            total = total.beside(cost);
        }
        Ok(total)
    }

    fn spread(&mut self, name: &'a str) -> Result<Cost, Refused> {
        if let Some(cost) = self.known.get(name) {
            return Ok(*cost);
        }
        // An unknown fragment or a cycle costs nothing here: validation refuses both.
        let Some((name, fragment)) = self.doc.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        let name = name.as_str();
        if self.open.contains(name) {
            return Ok(Cost::default());
        }
        if self.open.len() >= MAX_FRAGMENT_NESTING {
            return Err(Refused::TooDeep);
        }
        self.open.insert(name);
        let cost = self.selection_set(&fragment.node.selection_set.node);
        self.open.remove(name);
        let cost = cost?;
        self.known.insert(name, cost);
        Ok(cost)
    }
}

/// Refuses `request` when its document is over `limits`, as async-graphql refuses one over its
/// own limits: a response whose one error has no location. A text that does not parse passes:
/// the schema reports its syntax error.
pub fn check(request: &mut Request, limits: Limits) -> Result<(), ServerError> {
    let Ok(doc) = request.parsed_query() else {
        return Ok(());
    };
    match limits.check(doc) {
        Ok(_) => Ok(()),
        Err(refused) => Err(ServerError::new(refused.message(), None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost_of(text: &str) -> Cost {
        let doc = async_graphql::parser::parse_query(text).expect("parses");
        cost(&doc).expect("within the fragment nesting")
    }

    fn nested(field: &str, levels: usize, leaf: &str) -> String {
        format!(
            "{}{leaf}{}",
            format!("{field} {{ ").repeat(levels),
            " }".repeat(levels)
        )
    }

    #[test]
    fn ordinary_fields_count_as_async_graphql_counts_them() {
        assert_eq!(
            cost_of("{ a { b c { d } } e }"),
            Cost {
                depth: 3,
                complexity: 5,
                ..Cost::default()
            }
        );
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        let text = "{ a { ...F } b { ...F ... on X { g } } } fragment F on X { c { d } }";
        assert_eq!(
            cost_of(text),
            Cost {
                depth: 3,
                complexity: 7,
                ..Cost::default()
            }
        );
    }

    #[test]
    fn introspection_is_counted_apart() {
        let text = format!(
            "{{ __typename a {{ b }} __type(name: \"A\") {{ {} }} }}",
            nested("ofType", 20, "name")
        );
        assert_eq!(
            cost_of(&text),
            Cost {
                depth: 2,
                complexity: 3,
                introspection_depth: 22,
                introspection_complexity: 22,
            }
        );
        let in_fragment = "{ ...Q } fragment Q on Query { __schema { types { ...T } } } \
                           fragment T on __Type { name fields { name } }";
        assert_eq!(
            cost_of(in_fragment),
            Cost {
                introspection_depth: 4,
                introspection_complexity: 5,
                ..Cost::default()
            }
        );
    }

    #[test]
    fn a_fragment_spread_many_times_is_costed_once_and_saturates() {
        let mut text = String::from("{ ...F0 }");
        for i in 0..60 {
            let next = i + 1;
            text.push_str(&format!(
                " fragment F{i} on Query {{ a {{ ...F{next} }} b {{ ...F{next} }} }}"
            ));
        }
        text.push_str(" fragment F60 on Query { c }");
        let cost = cost_of(&text);
        assert_eq!(cost.depth, 61);
        assert!(cost.complexity > 1 << 60, "{}", cost.complexity);
    }

    #[test]
    fn cycles_and_unknown_fragments_cost_nothing_and_long_chains_are_refused() {
        let text = "{ a { ...F ...Missing } } fragment F on A { b ...G } fragment G on A { ...F }";
        assert_eq!(cost_of(text).complexity, 2);
        let mut chain = String::from("{ ...F0 }");
        for i in 0..=MAX_FRAGMENT_NESTING {
            chain.push_str(&format!(" fragment F{i} on Query {{ ...F{} }}", i + 1));
        }
        let doc = async_graphql::parser::parse_query(&chain).expect("parses");
        assert_eq!(cost(&doc), Err(Refused::TooDeep));
    }

    #[test]
    fn limits_refuse_either_part() {
        let limits = Limits {
            depth: 2,
            complexity: 3,
            introspection_depth: 3,
            introspection_complexity: 4,
        };
        let check = |text: &str| {
            let doc = async_graphql::parser::parse_query(text).expect("parses");
            limits.check(&doc).map(|_| ())
        };
        assert_eq!(check("{ a { b } __schema { types { name } } }"), Ok(()));
        assert_eq!(check("{ a { b { c } } }"), Err(Refused::TooDeep));
        assert_eq!(check("{ a b c d }"), Err(Refused::TooComplex));
        assert_eq!(
            check("{ __type(name: \"A\") { ofType { ofType { name } } } }"),
            Err(Refused::TooDeep)
        );
        assert_eq!(
            check("{ __schema { types { a b c d } } }"),
            Err(Refused::TooComplex)
        );
    }
}

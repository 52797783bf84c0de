//! Fuzz harness of every way a GraphQL text reaches async-graphql's recursive parser: the bounded
//! scan (`bounded::check`), the API's pipeline (`parsed::prepare`, then `AppSchema::execute`, as
//! `POST /graphql` runs it after decoding the body), a stored query's check at save
//! (`query_check::check`) and its render (`render::render_data`), and JSON request bodies whose
//! variables nest deep (decoded as the server decodes them: bytes -> `Value` -> `Request`).
//!
//! proptest generates the inputs: random tokens (names, keywords, punctuators, numbers, strings,
//! block strings, comments, bracket runs, any characters), the nested shapes of issue 13 (list and
//! object values, variable defaults, directive arguments, list types, selection sets, inline
//! fragments, and the same inside strings and comments) at depths around the limit and far past
//! it, and random edits of valid operations. Each case asserts that nothing panics, that a text is
//! refused exactly when its known nesting or size is over the limits, that a refusal is the same
//! everywhere, has code `VALIDATION` and never quotes the text, and that every error the schema
//! gives without a path (syntax, validation) has code `VALIDATION`.
//!
//! Everything runs on a thread with a 2 MiB stack, a tokio worker's: a stack overflow in the
//! code under test aborts this test. The fuzz test runs for a fixed time, `BUILDHOOKS_FUZZ_SECONDS`
//! (default 3), driving proptest's `TestRunner` in batches until the deadline, and prints
//! `fuzz: N executions in S s, 0 failures` (about 400 a second in a debug build on one core).
//! In CI, for five minutes (add `--release` for more executions a second):
//!
//! ```text
//! BUILDHOOKS_FUZZ_SECONDS=300 cargo test -p buildhooks-schema --test fuzz_parse -- --nocapture
//! ```

use std::cell::Cell;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_graphql::Request;
use buildhooks_schema::bounded::{self, Limits, Refused};
use buildhooks_schema::error::normalize_response;
use buildhooks_schema::event::{EventDraft, EventKind};
use buildhooks_schema::webhook::{query_check, render};
use buildhooks_schema::{auth, parsed, Error, Viewer};
use buildhooks_schema::{build_payload_schema, build_schema, AppSchema, DbHandle, PayloadSchema};
use buildhooks_schema::{DeliverNow, Store, WebhookConfig, MAX_NESTING};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

/// A tokio worker's stack.
const WORKER_STACK: usize = 2 * 1024 * 1024;
/// Cases per `TestRunner::run`: the deadline is checked between batches.
const BATCH: u32 = 64;
/// The deepest JSON serde_json decodes from bytes: its recursion limit (128) refuses the 128th
/// level of arrays and objects.
const JSON_DEPTH: usize = 127;

/// Deliveries are not this harness's business.
struct NoDelivery;

#[async_trait::async_trait]
impl DeliverNow for NoDelivery {
    async fn deliver_now(&self, _: i64, _: &str) {}
}

/// The schemas over a fresh embedded database file with one organization, and a runtime on this thread.
struct Harness {
    rt: tokio::runtime::Runtime,
    api: AppSchema,
    payload: PayloadSchema,
    db: DbHandle,
    viewer: Viewer,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("tempdir");
        let url = buildhooks_store::connect::file_url(&dir.path().join("fuzz.db"));
        let (store, viewer) = rt.block_on(async {
            let options = buildhooks_store::connect::ConnectOptions::default();
            let db = buildhooks_store::connect::connect(&url, &options)
                .await
                .expect("connect");
            let (org, _) = auth::create_organization(db.conn(), "fuzz", "github")
                .await
                .expect("organization");
            (Store::new(db), Viewer::org(org.id))
        });
        let payload = build_payload_schema(&store);
        let db = DbHandle::Conn(store.conn().clone());
        let api = build_schema(store, WebhookConfig::default(), Arc::new(NoDelivery));
        Harness {
            rt,
            api,
            payload,
            db,
            viewer,
            _dir: dir,
        }
    }

    /// The API's pipeline for an already decoded request.
    fn api_request(&self, request: Request) -> Result<(), TestCaseError> {
        let expected = bounded::check(&request.query, bounded::API).err();
        let known = parsed::API_TYPES.of(&self.api);
        match parsed::prepare(&parsed::API, bounded::API, request.data(self.viewer), known) {
            Err(refused) => prop_assert_eq!(Some(refused), expected),
            Ok(request) => {
                prop_assert_eq!(expected, None);
                let response = normalize_response(self.rt.block_on(self.api.execute(request)));
                for error in response.errors.iter().filter(|e| e.path.is_empty()) {
                    let code = error.extensions.as_ref().and_then(|x| x.get("code"));
                    prop_assert_eq!(
                        code,
                        Some(&async_graphql::Value::from("VALIDATION")),
                        "{}",
                        error.message
                    );
                }
            }
        }
        Ok(())
    }

    /// One GraphQL text through every entry point; `nesting` is its depth when known.
    fn text(&self, text: &str, nesting: Option<usize>) -> Result<(), TestCaseError> {
        let api = bounded::check(text, bounded::API);
        let stored = bounded::check(text, bounded::STORED);
        if let Some(nesting) = nesting {
            prop_assert_eq!(verdict(&api), expected(text.len(), nesting, bounded::API));
            prop_assert_eq!(
                verdict(&stored),
                expected(text.len(), nesting, bounded::STORED)
            );
        }
        for refused in [&api, &stored].into_iter().filter_map(|r| r.as_ref().err()) {
            prop_assert_eq!(Error::from(refused.clone()).code(), "VALIDATION");
            prop_assert!(refused.to_string().len() < 120, "{}", refused);
        }
        self.api_request(Request::new(text))?;
        let checked = self
            .rt
            .block_on(query_check::check(&self.payload, self.db.clone(), text));
        match (&stored, &checked) {
            (Err(refused), _) => prop_assert_eq!(checked, Err(refused.to_string())),
            (Ok(()), Err(message)) if text.len() > 64 => {
                prop_assert!(!message.contains(text), "the message quotes the text")
            }
            _ => {}
        }
        let event = EventDraft::updated(EventKind::Task, "SCHEDULED", "EXECUTING", (1, 1, Some(1)));
        let data = self.rt.block_on(render::render_data(
            &self.payload,
            self.db.clone(),
            Arc::default(),
            self.viewer.org_id,
            text,
            &event,
        ));
        if stored.is_err() {
            prop_assert_eq!(data, serde_json::Value::Null);
        }
        Ok(())
    }

    /// A JSON request body, decoded as the server decodes it; `depth` is its nesting.
    fn body(&self, body: &str, depth: usize) -> Result<(), TestCaseError> {
        let value = serde_json::from_slice::<serde_json::Value>(body.as_bytes());
        prop_assert_eq!(value.is_ok(), depth <= JSON_DEPTH, "depth {}", depth);
        if let Ok(request) = value.and_then(serde_json::from_value::<Request>) {
            self.api_request(request)?;
        }
        Ok(())
    }

    fn case(&self, case: &Case) -> Result<(), TestCaseError> {
        match case {
            Case::Text { text, nesting } => self.text(text, *nesting),
            Case::Body { body, depth } => self.body(body, *depth),
        }
    }
}

fn verdict(result: &Result<(), Refused>) -> &'static str {
    match result {
        Ok(()) => "accepted",
        Err(Refused::TooLong { .. }) => "too long",
        Err(Refused::TooDeep { .. }) => "too deep",
    }
}

fn expected(len: usize, nesting: usize, limits: Limits) -> &'static str {
    if len > limits.max_bytes {
        "too long"
    } else if nesting > limits.max_nesting {
        "too deep"
    } else {
        "accepted"
    }
}

/// One input.
#[derive(Clone)]
enum Case {
    /// A GraphQL text, with its bracket nesting when the generator knows it.
    Text {
        text: String,
        nesting: Option<usize>,
    },
    /// A JSON request body that nests `depth` deep.
    Body { body: String, depth: usize },
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, text, extra) = match self {
            Case::Text { text, nesting } => ("text", text, format!("nesting {nesting:?}")),
            Case::Body { body, depth } => ("body", body, format!("depth {depth}")),
        };
        let head: String = text.chars().take(400).collect();
        write!(f, "{what} of {} bytes, {extra}: {head:?}", text.len())
    }
}

/// The nested shapes: `prefix¦open¦leaf¦close¦suffix`, nested by repeating `open` and `close`;
/// the nesting around them; whether their brackets count (not inside a string or comment).
const SHAPES: &[(&str, usize, bool)] = &[
    ("query { build(id: ¦[¦1¦]¦) { id } }", 2, true),
    ("query { build(id: ¦{a:¦1¦}¦) { id } }", 2, true),
    ("query($a: ID = ¦[¦1¦]¦) { build(id: $a) { id } }", 1, true),
    (
        "query { build(id: \"1\") @include(if: ¦[¦true¦]¦) { id } }",
        2,
        true,
    ),
    (
        "query($repositoryId: ID!) { build(id: ¦{a: [¦$repositoryId¦]}¦) { id } }",
        2,
        true,
    ),
    ("query($a: ¦[¦ID¦]¦) { build(id: $a) { id } }", 1, true),
    ("¦{ build ¦id¦ }¦", 0, true),
    ("{ ¦... on Query { ¦__typename¦ }¦ }", 1, true),
    ("{ build(id: \"¦[¦¦]¦\") { id } }", 2, false),
    ("{ build(id: \"\"\"¦{¦¦}¦\"\"\") { id } }", 2, false),
    ("{ build # ¦[¦¦]¦\n(id: 1) { id } }", 2, false),
];

/// Shape `index` nested `depth` deep, with its nesting.
fn nest(index: usize, depth: usize) -> Case {
    let (template, base, counts) = SHAPES[index];
    let parts: Vec<&str> = template.split('¦').collect();
    let [prefix, open, leaf, close, suffix] = parts[..] else {
        panic!("a shape has five parts: {template}")
    };
    let text = [
        prefix,
        &open.repeat(depth),
        leaf,
        &close.repeat(depth),
        suffix,
    ]
    .concat();
    let per_level = open.bytes().filter(|b| b"{[(".contains(b)).count();
    let nesting = if counts {
        base + depth * per_level
    } else {
        base
    };
    Case::Text {
        text,
        nesting: Some(nesting),
    }
}

/// Keywords, names and punctuators, separated by spaces; and the white space between them.
const WORDS: &str =
    "query mutation subscription fragment on ... $a $repositoryId $buildId $taskId \
    : = ! @include @include(if:true) @skip @deprecated true false null ID ID! [ID!]! String build task tasks \
    repository ownerInfo uid id name status __typename __schema webhookDeliveries first input \
    saveWebHookSettings createRepository { } ( ) [ ] \" \"\"\" \\ \\\"\"\" # | & é";
const SPACES: &[&str] = &["\n", "\r", "\r\n", ",", "\t", "\u{feff}"];

/// A string strategy from a regular expression, compiled once (a `&str` strategy compiles its
/// expression again for every value).
fn regex(pattern: &str) -> proptest::string::RegexGeneratorStrategy<String> {
    proptest::string::string_regex(pattern).expect("a valid expression")
}

/// One token, often valid, sometimes not.
fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(WORDS.split_whitespace().collect::<Vec<_>>()).prop_map(str::to_owned),
        1 => prop::sample::select(SPACES).prop_map(str::to_owned),
        2 => regex("[_A-Za-z][_0-9A-Za-z]{0,8}"),
        1 => regex("-?[0-9]{1,4}(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?"),
        2 => regex("\"([^\"\\\\\n]|\\\\[\"\\\\/bfnrtuq\n])*\"?"),
        1 => regex("\"\"\"([^\"]|\"[^\"]|\\\\\"\"\")*(\"\"\"|\"\")?"),
        1 => regex("#[^\n]{0,20}\n?"),
        2 => regex("[\\[\\]{}()]{1,12}"),
        1 => prop::collection::vec(any::<char>(), 1..4).prop_map(String::from_iter),
        1 => prop::collection::vec(0u8..128, 1..4).prop_map(|b| b.into_iter().map(char::from).collect()),
    ]
}

/// Token soup.
fn tokens() -> impl Strategy<Value = Case> {
    (prop::collection::vec(token(), 0..80), any::<bool>()).prop_map(|(tokens, tight)| Case::Text {
        text: tokens.join(if tight { "" } else { " " }),
        nesting: None,
    })
}

/// The nested shapes, mostly around the limit, sometimes far past it.
fn nested() -> impl Strategy<Value = Case> {
    let depth = prop_oneof![
        8 => 0usize..=2 * MAX_NESTING,
        6 => MAX_NESTING - 4..=MAX_NESTING + 4,
        2 => 2 * MAX_NESTING..=20_000,
        1 => Just(100_000usize),
    ];
    (0..SHAPES.len(), depth).prop_map(|(i, depth)| nest(i, depth))
}

const VALID: &[&str] = &[
    render::DEFAULT_QUERY,
    "{ ownerInfo { uid name platform webhookSettings { ownerUid endpoints { id webhookURL events query enabled } } } }",
    "query($id: ID!) { build(id: $id) { id status tasks { id name status labels build { id } } repository { id name } } }",
    "mutation($n: String!) { createRepository(input: {name: $n}) { repository { id } } }",
    "query q($a: ID = \"1\", $b: [ID!] = [\"1\", \"2\"]) { build(id: $a) @include(if: true) { id ...F } task(id: \"2\") @skip(if: false) { id } } fragment F on Build { name branch }",
    "{ ownerInfo { webhookDeliveries(first: 10, after: \"5\") { edges { cursor node { id state payload { event action } } } pageInfo { hasNextPage endCursor } } } }",
    "mutation { updateTaskStatus(input: {taskId: \"1\", status: EXECUTING}) { task { id status } } }",
    "query($repositoryId: ID!, $query: String){ webhookPreview(repositoryId: $repositoryId, query: $query) { body errors } }",
    "\"\"\"doc \\\"\"\" [[[\"\"\" query { __typename } # trailing [[[ comment",
    "{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }",
    "mutation { saveWebHookSettings(input: {ownerUid: \"1\", deliveryEndpoints: [{webhookURL: \"https://203.0.113.7/h\", events: [\"build.*\"], query: \"query($buildId: ID!) { build(id: $buildId) { id } }\"}]}) { settings { endpoints { id } } } }",
];

/// The char boundary of `text` at or before byte `at`.
fn floor(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// A valid operation after a few random edits.
fn edited() -> impl Strategy<Value = Case> {
    let edit = (0u8..6, any::<Index>(), any::<Index>(), token(), 1usize..200);
    (
        prop::sample::select(VALID),
        prop::collection::vec(edit, 1..8),
    )
        .prop_map(|(valid, edits)| {
            let mut text = valid.to_owned();
            for (kind, a, b, token, n) in edits {
                let (a, b) = (a.index(text.len() + 1), b.index(text.len() + 1));
                let (a, b) = (floor(&text, a), floor(&text, b));
                let (from, to) = (a.min(b), a.max(b));
                match kind {
                    0 => text.insert_str(a, &token),
                    1 => text.replace_range(from..floor(&text, to.min(from + 16)), ""),
                    2 => {
                        let slice = text[from..to].to_owned();
                        text.insert_str(to, &slice);
                    }
                    3 => {
                        text.insert_str(to, &"]".repeat(n));
                        text.insert_str(from, &"[".repeat(n));
                    }
                    4 => text.insert_str(a, &"{a:".repeat(n)),
                    _ => text.truncate(a),
                }
            }
            Case::Text {
                text,
                nesting: None,
            }
        })
}

/// A request body whose variables nest `depth` levels inside the body's own two.
fn body() -> impl Strategy<Value = Case> {
    const QUERIES: &[&str] = &[
        "query($a: ID) { build(id: $a) { id } }",
        "query($a: [[ID]]) { build(id: \"1\") { id } }",
        "mutation($a: SaveWebHookSettingsInput!) { saveWebHookSettings(input: $a) { settings { endpoints { id } } } }",
        "query($a: String = \"x\") { __typename }",
    ];
    let depth = prop_oneof![3 => 0usize..=JSON_DEPTH + 4, 1 => JSON_DEPTH..=5_000];
    (prop::sample::select(QUERIES), depth, any::<bool>()).prop_map(|(query, depth, objects)| {
        let (open, close) = if objects {
            ("{\"a\":", "}")
        } else {
            ("[", "]")
        };
        let value = [open.repeat(depth), "1".into(), close.repeat(depth)].concat();
        let query = serde_json::to_string(query).unwrap_or_default();
        Case::Body {
            body: format!("{{\"query\": {query}, \"variables\": {{\"a\": {value}}}}}"),
            depth: depth + 2,
        }
    })
}

fn cases() -> impl Strategy<Value = Case> {
    prop_oneof![3 => tokens(), 3 => nested(), 3 => edited(), 1 => body()]
}

/// Runs `f` on a fresh thread with a tokio worker's stack.
fn on_worker_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name("worker-stack".into())
        .stack_size(WORKER_STACK)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
}

#[test]
fn shapes_at_and_past_the_limit_are_safe_on_a_worker_stack() {
    on_worker_stack(|| {
        let harness = Harness::new();
        for (index, (template, base, _)) in SHAPES.iter().enumerate() {
            let open = template.split('¦').nth(1).unwrap_or_default();
            let per_level = open.bytes().filter(|b| b"{[(".contains(b)).count();
            let at_limit = (MAX_NESTING - base) / per_level;
            for depth in [at_limit, at_limit + 1, 1_000, 10_000, 100_000] {
                let case = nest(index, depth);
                harness
                    .case(&case)
                    .unwrap_or_else(|e| panic!("{case:?}: {e}"));
            }
        }
    });
}

#[test]
fn json_bodies_nest_at_most_127_deep_and_the_deepest_variables_are_safe_on_a_worker_stack() {
    on_worker_stack(|| {
        let harness = Harness::new();
        for depth in [
            JSON_DEPTH - 3,
            JSON_DEPTH - 2,
            JSON_DEPTH - 1,
            1_000,
            100_000,
        ] {
            for objects in [false, true] {
                let (open, close) = if objects {
                    ("{\"a\":", "}")
                } else {
                    ("[", "]")
                };
                let value = [open.repeat(depth), "1".into(), close.repeat(depth)].concat();
                for query in [
                    "query($a: ID) { build(id: $a) { id } }",
                    "query($a: [[ID]]) { __typename }",
                ] {
                    let body =
                        format!("{{\"query\": \"{query}\", \"variables\": {{\"a\": {value}}}}}");
                    harness
                        .body(&body, depth + 2)
                        .unwrap_or_else(|e| panic!("depth {depth}: {e}"));
                }
            }
        }
    });
}

/// Inputs the fuzzer found that failed once, kept as fixed cases.
#[test]
fn inputs_the_fuzzer_found() {
    on_worker_stack(|| {
        let harness = Harness::new();
        // A default value for a variable of an unknown type: async-graphql 7.2's validation
        // panicked ("Type `_ID` not defined").
        let text = "query q($a: ID = \"1\", $b: [_ID!] = [\"1\", \"2\"]) { build(id: $a) { id } }";
        harness.text(text, None).unwrap_or_else(|e| panic!("{e}"));
    });
}

#[test]
fn fuzz_parse_entry_points_for_a_fixed_time() {
    let seconds: u64 = std::env::var("BUILDHOOKS_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    on_worker_stack(move || {
        let harness = Harness::new();
        let config = Config {
            cases: BATCH,
            failure_persistence: None,
            max_shrink_time: 60_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new(config.clone());
        let strategy = cases();
        let executions = Cell::new(0u64);
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut outcome = Ok(());
        while outcome.is_ok() && Instant::now() < deadline {
            // A runner counts the cases it ran: each batch gets a fresh one, on a new random
            // stream forked from the last.
            let mut batch = TestRunner::new_with_rng(config.clone(), runner.new_rng());
            outcome = batch.run(&strategy, |case| {
                executions.set(executions.get() + 1);
                harness.case(&case)
            });
        }
        let failures = usize::from(outcome.is_err());
        println!(
            "fuzz: {} executions in {} s, {failures} failures",
            executions.get(),
            started.elapsed().as_secs()
        );
        if let Err(failure) = outcome {
            panic!("fuzz failure: {failure}");
        }
    });
}

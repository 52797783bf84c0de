//! The sandbox's limits: what ordinary templates still do, and what a template that tries to
//! make a huge value, write a huge output or nest shared lists gets instead (an error naming the
//! line, or output cut to 16 KiB). Peak memory per attack is measured in `tests/memory.rs`.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::program::SOURCE_LIMIT;
use super::sandbox::{VALUE_LIMIT, WORK_LIMIT};
use super::{message_context, render, validate_link_template, validate_template, OUTPUT_LIMIT};
use crate::event::sample_events;

fn samples() -> Value {
    message_context(&sample_events(), Some("https://ci/b/43"))
}

/// Renders `source` over the sample digest.
fn ok(source: &str) -> String {
    render(source, &samples()).unwrap_or_else(|err| panic!("{source}: {err}"))
}

/// Renders `source` over `ctx`, expecting an error that contains `wanted`, within a second.
fn refused_over(source: &str, ctx: &Value, wanted: &str) -> super::TemplateError {
    let started = Instant::now();
    let err = render(source, ctx).expect_err(source);
    assert!(
        err.message.contains(wanted),
        "{source}: {err} (wanted {wanted:?})"
    );
    assert!(started.elapsed() < Duration::from_secs(1), "{source}: slow");
    err
}

fn refused(source: &str, wanted: &str) -> super::TemplateError {
    refused_over(source, &samples(), wanted)
}

/// A context with a 10,000-byte string `big`.
fn with_big() -> Value {
    json!({ "big": "x".repeat(10_000), "names": ["a", "b", "c"] })
}

#[test]
fn ordinary_templates_still_render() {
    assert_eq!(
        ok("{{ data.repository.name }}: {{ old_status }} -> {{ new_status }}"),
        "api: EXECUTING -> COMPLETED"
    );
    assert_eq!(
        ok("{% for e in events %}{{ loop.index }}. {{ e.key }}{% if not loop.last %}, {% endif %}{% endfor %}"),
        "1. task.failed, 2. build.completed"
    );
    assert_eq!(
        ok("{% if new_status == 'FAILED' %}bad{% elif new_status in ['COMPLETED', 'OK'] %}good{% else %}?{% endif %}"),
        "good"
    );
    assert_eq!(
        ok("{% for e in events if e.new_status == 'FAILED' %}{{ e.key }}{% else %}none{% endfor %}"),
        "task.failed"
    );
    assert_eq!(
        ok("{{ key | upper }} {{ nope | default('n/a') }} {{ nope | d('-') }} {{ repository.name | title }} {{ 'ABC' | lower | capitalize }}"),
        "BUILD.COMPLETED n/a - Api Abc"
    );
    assert_eq!(
        ok("{{ events | map(attribute='key') | join(', ') }} / {{ key | replace('.', ' ') }}"),
        "task.failed, build.completed / build completed"
    );
    assert_eq!(
        ok("{{ [3, 1, 2] | sort | join }} {{ [1, 1, 2] | unique | list | length }} {{ 'abc' | reverse }} {{ [4, 5] | first }}{{ [4, 5] | last }} {{ [4, 2] | min }}{{ [4, 2] | max }} {{ [1, 2] | sum }} {{ 2.567 | round(1) }} {{ '7' | int + 1 }} {{ '1.5' | float }} {{ -3 | abs }}"),
        "123 2 cba 45 24 3 2.6 8 1.5 3"
    );
    assert_eq!(
        ok("{{ {'b': 2, 'a': 1} | dictsort | map('join', '=') | join('&') }} {{ dict(x=1) | items | list | length }} {{ repository | attr('owner') }} {{ [1, 2, 3, 4] | select('even') | list }} {{ [1, 2, 3] | reject('odd') | list }} {{ events | selectattr('key', 'eq', 'task.failed') | list | count }}"),
        "a=1&b=2 1 acme [2, 4] [2] 1"
    );
    assert_eq!(
        ok("{{ ' x ' | trim }}|{{ 'a b' | split | length }}|{{ 'a\nb' | lines | last }}|{{ 'a\nb' | indent(2) }}|{{ 1 | string }}|{{ '<b>' | escape }}|{{ 'x' | safe }}|{{ 1 | bool }}"),
        "x|2|b|a\n  b|1|&lt;b&gt;|x|True"
    );
    assert_eq!(
        ok("{{ repository.name ~ '/' ~ build.id }} {{ 1 + 2 }} {{ 1.5 + 1 }} {{ 'a' + 'b' }} {{ ([1] + [2]) | length }} {{ 7 - 2 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ 7 % 2 }} {% set n = 3 %}{{ -n }} {{ n + 1 }} {{ n + 0.5 }} {{ true + 1 }}"),
        "api/43 3 2.5 ab 2 5 3.5 3 1 -3 4 3.5 2"
    );
    assert_eq!(
        ok("{{ 'p' in 'api' }} {{ 'x' not in 'api' }} {{ 2 in [1, 2] }} {{ 'owner' in repository }} {{ 'nope' in repository }} {{ 1 in nope }} {% set n = 3 %}{{ 0 < n and n < 5 }} {{ n >= 3 }} {{ n != 3 }} {{ [1, 2] == [1, 2] }} {{ 'a' <= 'b' }}"),
        "True True True True False False True True False True True"
    );
    assert_eq!(
        ok("{% set t %}{{ key }}!{% endset %}{{ t }} {% filter upper %}{{ action }}{% endfilter %} {% with x = 2 %}{{ x }}{% endwith %} {{ range(3) | join(',') }} {{ range(1, 7, 2) | list }} {{ range(3, 0, -1) | list }} {% for a, b in [[1, 2]] %}{{ a }}{{ b }}{% endfor %}"),
        "build.completed! UPDATED 2 0,1,2 [1, 3, 5] [3, 2, 1] 12"
    );
    // Slices as the engine takes them (`'abc'[2:0:-1]` no longer overflows).
    assert_eq!(
        ok("{% set s = 'abcdef' %}{{ s[1:3] }} {{ s[::-1] }} {{ s[::2] }} {{ s[-2:] }} {{ s[:-2] }} {{ s[0:2:-1] }}|{{ s[4:1:-2] }} {{ s[10:] }}|{{ [1, 2, 3][1:] }} {{ range(5)[::-2] }} {{ nope[1:] }} {{ events[-1:] | length }}"),
        "bc fedcba ace ef abcd |ec |[2, 3] [4, 2, 0] [] 1"
    );
    // Markdown outside blocks, raw blocks and strings may hold what the operators look like.
    assert_eq!(
        ok("**{{ key }}** _x_ *y* {% raw %}{{ 2 * 3 }}{% endraw %} {{ '**' ~ '*' }} {# ** #}"),
        "**build.completed** _x_ *y* {{ 2 * 3 }} *** "
    );
    // Whitespace control as before.
    assert_eq!(ok("a\n{%- if true -%}\n b {%- endif %}"), "ab");
}

#[test]
fn the_templates_of_the_end_to_end_tests_still_work() {
    let one = message_context(&sample_events()[..1], None);
    let render_one = |source: &str| render(source, &one).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(render_one("{{ event }}"), "task");
    assert_eq!(render_one("{{ new_status }} again"), "FAILED again");
    assert_eq!(
        render_one("event {{ data.task.name }} {{ new_status }} end"),
        "event test FAILED end"
    );
    assert_eq!(
        render_one("{% for i in range(400) %}{{ data.task.name }}{% endfor %}"),
        "test".repeat(400)
    );
    let err = validate_template("Build {{ data.build.id }}\n{{ new_status ) }}\nend")
        .expect_err("syntax error");
    assert_eq!(err.line, Some(2));
}

#[test]
fn the_allowlist_is_what_it_says() {
    let filters = [
        "abs",
        "attr",
        "bool",
        "capitalize",
        "count",
        "d",
        "default",
        "dictsort",
        "e",
        "escape",
        "first",
        "float",
        "indent",
        "int",
        "items",
        "join",
        "last",
        "length",
        "lines",
        "list",
        "lower",
        "map",
        "max",
        "min",
        "reject",
        "rejectattr",
        "replace",
        "reverse",
        "round",
        "safe",
        "select",
        "selectattr",
        "sort",
        "split",
        "string",
        "sum",
        "title",
        "trim",
        "unique",
        "upper",
    ];
    for name in filters {
        let out = render(&format!("{{{{ 1 | {name} }}}}"), &samples());
        if let Err(err) = out {
            assert!(!err.message.contains("unknown filter"), "{name}: {err}");
        }
    }
    for name in [
        "batch",
        "center",
        "chain",
        "format",
        "groupby",
        "pprint",
        "slice",
        "tojson",
        "truncate",
        "urlencode",
        "wordwrap",
        "zip",
        "(concat)",
    ] {
        let err = render(&format!("{{{{ 1 | {name} }}}}"), &samples());
        let err = err.expect_err(name);
        assert!(
            err.message.contains("unknown filter") || err.message.starts_with("syntax error"),
            "{name}: {err}"
        );
    }
    for name in ["namespace", "debug", "lipsum", "cycler", "joiner"] {
        let err = render(&format!("{{{{ {name}() }}}}"), &samples()).expect_err(name);
        assert!(err.message.contains("unknown function"), "{name}: {err}");
    }
    for test in [
        "defined",
        "undefined",
        "none",
        "number",
        "string",
        "sequence",
        "mapping",
        "iterable",
        "boolean",
        "true",
        "false",
        "odd",
        "even",
        "integer",
        "float",
        "lower",
        "upper",
    ] {
        assert!(
            render(&format!("{{{{ 'a' is {test} }}}}"), &samples()).is_ok(),
            "{test}"
        );
    }
    assert_eq!(
        ok("{{ 4 is divisibleby 2 }} {{ 1 is eq 1 }} {{ 1 is ne 1 }} {{ 1 is lt 2 }} {{ 'abc' is startingwith 'a' }} {{ 'abc' is endingwith 'c' }} {{ 2 is in [2] }} {{ 'b' is in 'abc' }} {{ [1, 2, 3] | select('>', 1) | list }}"),
        "True True False True True True True True [2, 3]"
    );
    let err = render("{{ 1 is filter }}", &samples()).expect_err("no such test");
    assert!(err.message.contains("unknown test"), "{err}");
}

#[test]
fn star_operators_are_refused_with_their_line() {
    for (source, line) in [
        ("ok\n{{ 'x' * 100000000 }}", 2),
        ("{{ 2 ** 8 }}", 1),
        ("a\nb\n{% set n = 3 * 3 %}", 3),
        ("{{ [1] * 1000 }}", 1),
        ("{{ key | replace('a', 'b' * 9) }}", 1),
        ("{{ range(*[1, 2]) }}", 1),
        ("{{ dict(**{'a': 1}) }}", 1),
    ] {
        let started = Instant::now();
        for err in [
            validate_template(source).expect_err(source),
            validate_link_template(source).expect_err(source),
            render(source, &samples()).expect_err(source),
        ] {
            assert_eq!(err.line, Some(line), "{source}: {err}");
            assert!(err.message.contains("operator is not allowed"), "{err}");
        }
        assert!(started.elapsed() < Duration::from_millis(100), "{source}");
    }
}

#[test]
fn statements_that_multiply_a_render_are_refused() {
    for (source, wanted) in [
        ("{% macro f(x) %}{{ x }}{% endmacro %}{{ f(1) }}", "macro"),
        (
            "{% macro f() %}{{ caller() }}{% endmacro %}{% call f() %}x{% endcall %}",
            "macro",
        ),
        (
            "{% for x in events recursive %}{{ loop(x.children) }}{% endfor %}",
            "recursive loop",
        ),
        (
            "{% for x in events recursive %}{{ x }}{% endfor %}",
            "recursive loop",
        ),
        ("{% include 'x' %}", "include"),
        ("{% import 'x' as y %}", "import"),
        ("{% from 'x' import y %}", "import"),
        ("{% extends 'x' %}", "extends"),
        ("{% block b %}x{% endblock %}", "block"),
        ("{% autoescape true %}<{% endautoescape %}", "autoescape"),
        (
            "{% set n = 'a' %}{{ n in 'abc' in 'x' }}",
            "chained comparison",
        ),
        ("{% set n = 3 %}{{ 0 < n < 5 }}", "chained comparison"),
    ] {
        let err = validate_template(source).expect_err(source);
        assert!(err.message.contains(wanted), "{source}: {err}");
        assert!(err.message.contains("not allowed"), "{source}: {err}");
        assert_eq!(err.line, Some(1), "{source}");
    }
    let long = "x".repeat(SOURCE_LIMIT + 1);
    let err = validate_template(&long).expect_err("too long");
    assert!(err.message.contains("longer than 16 KiB"), "{err}");
}

#[test]
fn growing_text_stops_at_the_value_limit() {
    let too_long = "longer than 16 KiB";
    // Doubling through `set`: without the hidden `~` this is 2^40 bytes.
    let doubling = format!(
        "{{% set a = 'xx' %}}{}{{{{ a }}}}",
        "{% set a = a ~ a %}\n".repeat(40)
    );
    let err = refused(&doubling, too_long);
    assert_eq!(
        err.line,
        Some(14),
        "the 14th doubling is the first past 16 KiB"
    );
    // A `set` in a loop does not outlive its iteration: nothing accumulates.
    assert_eq!(
        ok("{% set a = 'xx' %}{% for i in range(60) %}{% set a = a ~ a %}{% endfor %}{{ a }}"),
        "xx"
    );
    refused(
        "{% set ns = namespace(a='xx') %}{% for i in range(60) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}{{ ns.a }}",
        "unknown function",
    );
    // Squaring through `replace`.
    refused(
        "{% set a = 'xxxxxxxxxx' %}{% set b = a|replace('x', a) %}{% set c = b|replace('x', b) %}{% set d = c|replace('x', c) %}{{ d }}",
        too_long,
    );
    refused_over("{{ big | replace('x', 'yy') }}", &with_big(), too_long);
    refused("{{ 'x' | center(1000000000) }}", "unknown filter");
    refused("{{ 'x' | indent(1000000000) }}", too_long);
    refused("{{ 'a\nb' | indent(width=1000000000) }}", too_long);
    refused_over("{{ names | join(big) }}", &with_big(), too_long);
    refused_over("{{ range(1000) | join(big) }}", &with_big(), too_long);
    refused_over("{{ big ~ big }}", &with_big(), too_long);
    refused_over(
        &format!("{{{{ {} }}}}", vec!["big"; 200].join(" ~ ")),
        &with_big(),
        too_long,
    );
    refused_over("{{ big + big }}", &with_big(), too_long);
    refused_over(
        "{% set a = big %}{% for i in range(10) %}{% set a = a + a %}{% endfor %}",
        &with_big(),
        too_long,
    );
    refused_over("{{ big | upper | upper ~ big }}", &with_big(), too_long);
    // Slicing a long value is charged for its copy: a few hundred copies of 1 MB stop.
    let huge = json!({ "big": "x".repeat(1 << 20) });
    refused_over(
        "{% for i in range(1000) %}{% set s = big[1:] %}{% endfor %}",
        &huge,
        "too much work",
    );
    refused("{{ range(100000) | join }}", "at most 1000 numbers");
    refused(
        "{{ range(0, 10000000, 2) | length }}",
        "at most 1000 numbers",
    );
    refused("{{ range(1, 0, 0) }}", "step of 0");
    // Within the limits all of these work.
    assert_eq!(
        ok("{{ 'ab' | replace('', '-') }} {{ 'a' ~ 'b' ~ 1 }} {{ range(1000) | length }}"),
        "-a-b- ab1 1000"
    );
}

#[test]
fn shared_lists_cannot_nest_past_the_value_limit() {
    let too_big = "holds at most 16 KiB";
    let nested = format!(
        "{{% set a = [key, key] %}}{}{{{{ a == a }}}}",
        "{% set a = [a, a] %}".repeat(40)
    );
    refused(&nested, too_big);
    let pairs = format!(
        "{{% set a = {{'k': key}} %}}{}",
        "{% set a = {'l': a, 'r': a} %}".repeat(40)
    );
    refused(&pairs, too_big);
    refused(
        &format!(
            "{{% set a = dict(k=key) %}}{}",
            "{% set a = dict(l=a, r=a) %}".repeat(40)
        ),
        too_big,
    );
    refused(
        &format!("{{% set a = [key] %}}{}", "{% set a = a + a %}".repeat(40)),
        too_big,
    );
    refused(
        "{% set a = [1, 2] %}{% set b = range(1000) | map(attribute='x', default=a) | list %}",
        "no list or map argument",
    );
    refused_over("{% set a = [big, big] %}", &with_big(), too_big);
    // A literal, `dict()` and `list + list` of ordinary size are fine.
    assert_eq!(
        ok("{{ [key, [1, 2], {'a': action}] | length }} {{ dict(a=1, b=[2]) | length }} {{ ([1] + [2, 3]) | last }}"),
        "3 2 3"
    );
}

#[test]
fn reading_a_large_value_as_text_is_bounded() {
    // Three 10,000-byte strings: each reads fine, the list shows as 30 KB.
    let big = "x".repeat(10_000);
    let ctx = json!({ "big": big, "bigs": [big, big, big] });
    for source in [
        "{{ bigs | string }}",
        "{{ bigs ~ '' }}",
        "{{ bigs | join }}",
        "{{ bigs | upper }}",
        "{{ bigs in 'abc' }}",
        "{{ bigs is in 'abc' }}",
        "{{ 'x' in big ~ big }}",
        "{{ 'abc' | replace('a', bigs) }}",
        "{{ bigs | trim }}",
        "{{ bigs is startingwith 'x' }}",
    ] {
        refused_over(source, &ctx, "longer than 16 KiB");
    }
    let ctx = json!({ "big": "x".repeat(20_000) });
    refused_over("{{ big | upper }}", &ctx, "longer than 16 KiB");
    refused_over("{{ big | title }}", &ctx, "longer than 16 KiB");
    refused_over("{{ big ~ '' }}", &ctx, "longer than 16 KiB");
    // Read without making text: fine at any size.
    assert_eq!(
        render(
            "{{ big | length }} {{ 'x' in big }} {{ big | first }}",
            &ctx
        )
        .ok(),
        Some("20000 True x".into())
    );
}

#[test]
fn output_stops_growing_at_the_write_limit_and_is_cut() {
    let ctx = with_big();
    let started = Instant::now();
    let text = render("{% for i in range(1000) %}{{ big }}{% endfor %}", &ctx)
        .expect("a long output is cut, not refused");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(text.len() <= OUTPUT_LIMIT && text.len() > OUTPUT_LIMIT - 8);
    assert!(text.ends_with('…'));
    // Raw text counts the same way.
    let raw = format!(
        "{{% for i in range(1000) %}}{}{{% endfor %}}",
        "y".repeat(8000)
    );
    let text = render(&raw, &ctx).expect("cut");
    assert!(text.len() <= OUTPUT_LIMIT && text.ends_with('…'));
    // And so does text written into a capture.
    let text = render(
        "{% set t %}{% for i in range(1000) %}{{ big }}{% endfor %}{% endset %}[{{ t }}]",
        &ctx,
    )
    .expect("cut");
    assert_eq!(text, "…");
    let range_refused = render("{% for i in range(100000) %}{{ big }}{% endfor %}", &ctx);
    assert!(range_refused.is_err());
}

#[test]
fn too_much_work_is_stopped() {
    let ctx = json!({ "big": "x".repeat(VALUE_LIMIT) });
    let started = Instant::now();
    refused_over(
        "{% for i in range(1000) %}{% for j in range(5) %}{% set y = big | replace('x', 'y') %}{% endfor %}{% endfor %}",
        &ctx,
        "too much work",
    );
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(err_mentions_limit(), "the message names the limit");
}

fn err_mentions_limit() -> bool {
    let ctx = json!({ "big": "x".repeat(VALUE_LIMIT) });
    let source = "{% for i in range(1000) %}{% for j in range(5) %}{{ big | replace('x', 'y') | length }}{% endfor %}{% endfor %}";
    render(source, &ctx)
        .is_err_and(|err| err.message.contains(&format!("{} MiB", WORK_LIMIT >> 20)))
}

#[test]
fn comparing_searching_and_sorting_large_values_is_charged() {
    // 200 items that share one 16 KiB string (charged 3.2 MB when made), and a list of 200
    // equal strings that are not the same string: comparing them reads every byte.
    let ctx = json!({ "big": "x".repeat(VALUE_LIMIT) });
    let lists = "{% set l = range(200) | map(attribute='x', default=big) | list %}\
                 {% set m = range(200) | map(attribute='x', default=big[1:] ~ 'x') | list %}\
                 {% set needle = big[1:] ~ 'y' %}";
    for each in [
        "{{ l == m }}",
        "{{ l != m }}",
        "{{ l < m }}",
        "{{ l is eq m }}",
        "{{ needle in l }}",
        "{{ l | select('eq', needle) | list | length }}",
        "{{ l | sort | length }}",
        "{{ l | unique | length }}",
        "{{ l | max | length }}",
    ] {
        let source = format!("{lists}{{% for i in range(1000) %}}{each}{{% endfor %}}");
        refused_over(&source, &ctx, "too much work");
    }
    // The same once, over short strings, is cheap.
    assert_eq!(
        ok("{% set l = range(200) | map(attribute='x', default='ab') | list %}{{ l == l | list }} {{ 'ab' in l }} {{ l | unique | length }}"),
        "True True 1"
    );
}

#[test]
fn a_template_saved_before_the_rules_fails_cleanly_when_rendered() {
    // `validate_template` runs the same checks as a render; a stored template with `*` fails
    // when composed, with the line, and nothing is allocated for it.
    let stored = "Build {{ build.id }}\n{{ '=' * 100000000 }}";
    let err = render(stored, &samples()).expect_err("refused");
    assert_eq!(err.line, Some(2));
    assert_eq!(
        err.to_string(),
        "line 2: the `*` operator is not allowed in chat templates"
    );
}

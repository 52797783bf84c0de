//! Peak heap while a template attacks the sandbox: each template below would allocate from
//! hundreds of megabytes to exabytes in a plain minijinja environment with fuel; here each is
//! refused or cut within milliseconds, and the heap never grows by more than a few megabytes.
//! A counting global allocator measures it (tests here run one at a time, under a lock).
//!
//! `cargo test -p buildhooks-chat --test memory -- --nocapture` prints the peaks.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use buildhooks_chat::{compose, sample_events, validate_template, Event, Kind, Settings};

/// Counts the bytes allocated now and the most at any time.
struct Counting;

static NOW: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    let now = NOW.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    NOW.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are updated.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            match new_size >= layout.size() {
                true => grew(new_size - layout.size()),
                false => shrank(layout.size() - new_size),
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// One measurement at a time: the counters are process-wide.
static LOCK: Mutex<()> = Mutex::new(());

/// Runs `f`, returning its result, the most the heap grew meanwhile, and how long it took.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, Duration) {
    let base = NOW.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let started = Instant::now();
    let out = f();
    let took = started.elapsed();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(base), took)
}

const MIB: usize = 1 << 20;

/// How long an attack may take before it is stopped: 100 ms optimised, more unoptimised (the
/// slowest, 8 MiB of `replace`, takes about 50 ms in a debug build and 10 ms optimised).
fn quick() -> Duration {
    match cfg!(debug_assertions) {
        true => Duration::from_millis(500),
        false => Duration::from_millis(100),
    }
}

/// The sample events, the failed task's name 10,000 bytes long (the template's `big`).
fn events_with_big_name() -> Vec<Event> {
    let mut events = sample_events();
    events[0].data["task"]["name"] = "x".repeat(10_000).into();
    events
}

fn settings(template: &str) -> Settings {
    Settings {
        template: Some(template.to_owned()),
        ..Settings::default()
    }
}

#[test]
fn the_counter_sees_a_large_allocation() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let (len, peak, _) = measure(|| {
        vec![1u8; 10 * MIB]
            .iter()
            .map(|b| *b as usize)
            .sum::<usize>()
    });
    assert_eq!(len, 10 * MIB);
    // Within what other threads (the test harness) free meanwhile.
    assert!(peak >= 10 * MIB - 64 * 1024, "{peak}");
}

#[test]
fn each_attack_fails_fast_within_a_few_megabytes() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let doubling = format!(
        "{{% set a = 'xx' %}}{}{{{{ a }}}}",
        "{% set a = a ~ a %}\n".repeat(60)
    );
    let nesting = format!(
        "{{% set a = [key, key] %}}{}{{{{ a == a }}}}",
        "{% set a = [a, a] %}".repeat(60)
    );
    let plus = format!(
        "{{% set a = key %}}{}{{{{ a }}}}",
        "{% set a = a + a %}".repeat(60)
    );
    let chain = format!(
        "{{% set n = task.name %}}{{{{ {} }}}}",
        vec!["n"; 240].join(" ~ ")
    );
    let raw = format!(
        "{{% for i in range(1000) %}}{}{{% endfor %}}",
        "y".repeat(8000)
    );
    // (name, template, what the error says; None: the output is cut, not refused)
    let attacks: Vec<(&str, String, Option<&str>)> = vec![
        ("'x' * 1e8", "{{ 'x' * 100000000 }}".into(), Some("`*` operator")),
        ("2 ** 1000", "{{ 2 ** 1000 }}".into(), Some("`**` operator")),
        (
            "namespace doubling",
            "{% set ns = namespace(a='xx') %}{% for i in range(60) %}{% set ns.a = ns.a ~ ns.a %}{% endfor %}{{ ns.a }}".into(),
            Some("unknown function"),
        ),
        ("set ~ doubling x60", doubling, Some("longer than 16 KiB")),
        (
            "replace squaring",
            "{% set a = 'xxxxxxxxxx' %}{% set b = a|replace('x', a) %}{% set c = b|replace('x', b) %}{% set d = c|replace('x', c) %}{% set e = d|replace('x', d) %}{{ e }}".into(),
            Some("longer than 16 KiB"),
        ),
        ("center(1e9)", "{{ 'x'|center(1000000000) }}".into(), Some("unknown filter")),
        ("indent(1e9)", "{{ 'x'|indent(1000000000) }}".into(), Some("longer than 16 KiB")),
        (
            "join(huge)",
            "{{ range(1000)|join(task.name) }}".into(),
            Some("longer than 16 KiB"),
        ),
        ("~ chain x240", chain, Some("longer than 16 KiB")),
        ("+ doubling x60", plus, Some("longer than 16 KiB")),
        ("[a, a] nesting x60", nesting, Some("holds at most 16 KiB")),
        (
            "range(100000) loop",
            "{% for i in range(100000) %}{{ task.name }}{% endfor %}".into(),
            Some("at most 1000 numbers"),
        ),
        (
            "map default nesting",
            "{% set a = [1] %}{% for i in range(30) %}{% set a = range(1000)|map(attribute='x', default=a)|list %}{% endfor %}".into(),
            Some("no list or map argument"),
        ),
        (
            "replace 16K x5000",
            "{% set s = task.name ~ task.name[:6384] %}{% for i in range(1000) %}{% for j in range(5) %}{% set y = s|replace('x', 'y') %}{% endfor %}{% endfor %}".into(),
            Some("too much work"),
        ),
        (
            "compare 3 MB lists",
            "{% set l = range(300)|map(attribute='x', default=task.name)|list %}{% set m = range(300)|map(attribute='x', default=task.name ~ '')|list %}{% for i in range(1000) %}{{ l == m }}{{ l|sort|length }}{% endfor %}".into(),
            Some("too much work"),
        ),
        (
            "nested loops",
            "{% for i in range(1000) %}{% for j in range(1000) %}{{ j }}{% endfor %}{% endfor %}".into(),
            Some("out of fuel"),
        ),
        (
            "10 KB x1000 output",
            "{% for i in range(1000) %}{{ task.name }}{% endfor %}".into(),
            None,
        ),
        ("8 KB raw x1000", raw, None),
        (
            "capture x1000",
            "{% set t %}{% for i in range(1000) %}{{ task.name }}{% endfor %}{% endset %}{{ t }}{{ t }}".into(),
            None,
        ),
    ];
    let events = events_with_big_name();
    let mut worst = 0;
    println!("{:<22} {:>10} {:>9}  outcome", "attack", "peak", "time");
    for (name, template, wanted) in &attacks {
        let (out, peak, took) = measure(|| compose(Kind::Slack, &settings(template), &events[..1]));
        let outcome = match (&out, wanted) {
            (Err(err), Some(wanted)) => {
                assert!(err.message.contains(wanted), "{name}: {err}");
                err.to_string()
            }
            (Ok(message), None) => {
                assert!(message.text.contains('…'), "{name}: the output was cut");
                format!("cut to {} bytes", message.text.len())
            }
            (out, _) => panic!("{name}: {out:?}"),
        };
        println!("{name:<22} {peak:>10} {:>7}ms  {outcome}", took.as_millis());
        assert!(peak < 4 * MIB, "{name}: the heap grew by {peak} bytes");
        assert!(took < quick(), "{name}: {took:?}");
        worst = worst.max(peak);
        // Saving the template runs the same checks, over the short sample names.
        let (_, peak, _) = measure(|| validate_template(template));
        assert!(
            peak < 4 * MIB,
            "{name}: validating grew the heap by {peak} bytes"
        );
    }
    println!("worst peak: {worst} bytes");
}

#[test]
fn a_long_concat_chain_in_one_expression_stays_small() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let events = sample_events();
    // As long a chain as one block may hold (500 tokens): each link is checked against 16 KiB
    // before it is made, so the chain stops at the first link past it.
    let names = events_with_big_name();
    let chain = format!(
        "{{% set n = task.name %}}{{{{ {} }}}}",
        vec!["n"; 240].join(" ~ ")
    );
    let (out, peak, _) = measure(|| compose(Kind::Slack, &settings(&chain), &names[..1]));
    let err = out.expect_err("longer than 16 KiB");
    assert!(err.message.contains("longer than 16 KiB"), "{err}");
    assert!(peak < 64 * MIB, "{peak}");
    assert!(peak < MIB, "{peak}");
    // A longer chain is refused before compiling: compiling it would recurse once per link.
    let chain = format!("{{{{ {} }}}}", vec!["key"; 1_300].join(" ~ "));
    let (out, peak, _) = measure(|| compose(Kind::Slack, &settings(&chain), &events));
    let err = out.expect_err("too long an expression");
    assert!(err.message.contains("more than 500 tokens"), "{err}");
    assert!(peak < MIB, "{peak}");
}

#[test]
fn ordinary_templates_render_within_a_small_heap() {
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let events = sample_events();
    for template in [
        "{{ data.repository.name }}: {{ old_status }} -> {{ new_status }}",
        "**{{ key }}** {% for e in events %}\n- {{ e.transition | upper }}{% endfor %}",
        "{% if new_status == 'COMPLETED' %}✅{% else %}❌{% endif %} {{ events | map(attribute='key') | join(', ') | replace('.', ' ') }} {{ link | default('no link') }}",
    ] {
        let (out, peak, took) = measure(|| compose(Kind::DingTalk, &settings(template), &events));
        let message = out.unwrap_or_else(|err| panic!("{template}: {err}"));
        assert!(!message.text.is_empty());
        assert!(peak < MIB, "{template}: {peak}");
        assert!(took < quick(), "{template}: {took:?}");
    }
}

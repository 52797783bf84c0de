//! The environment a user template runs in, built from an allowlist. Every filter, test and
//! function that reads a value as text or makes text or a list is wrapped so that what it makes
//! stays within [`VALUE_LIMIT`] (checked before allocating where the size is predictable), and
//! the hidden filters the compiled program calls in place of the engine's own `~`, `+`, `in`,
//! slices, comparisons and list and map literals (see `program.rs`) do the same. One [`Budget`]
//! per render holds the output written and the work done: every wrapped call is charged for
//! what it reads and makes, so the work of a render, and what it can have made, is bounded by
//! [`WORK_LIMIT`] whatever fuel is left.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use minijinja::value::{from_args, Kwargs, ObjectRepr, Rest, Value, ValueKind};
use minijinja::UndefinedBehavior;
use minijinja::{filters, tests, AutoEscape, Environment, Error, ErrorKind, Output, State};

use super::{FUEL, OUTPUT_LIMIT};

/// The longest text a filter, a `~` or a `+` may make, and the most text a list or map a
/// template builds (a literal, `dict()`, `list + list`) may hold.
pub(crate) const VALUE_LIMIT: usize = OUTPUT_LIMIT;

/// The most one render may write, nested captures (`{% set x %}…{% endset %}`, `{% filter %}`)
/// included; the output itself is then cut to [`OUTPUT_LIMIT`].
pub(crate) const WRITE_LIMIT: usize = 4 * OUTPUT_LIMIT;

/// The work one render may do in filters and hidden operations, in bytes read or made (a list
/// item counts [`ITEM_COST`]).
pub(crate) const WORK_LIMIT: usize = 8 << 20;

/// What one list item counts against [`WORK_LIMIT`]: about what it takes in memory.
const ITEM_COST: usize = 64;

/// The most items `range()` gives.
pub(crate) const RANGE_LIMIT: usize = 1_000;

/// The hidden filters that replace the engine's `~`, `+`, `in`, slices, comparisons and list
/// and map literals. The names cannot be written after a `|` (they are not identifiers).
pub(crate) const CONCAT: &str = "(concat)";
pub(crate) const ADD: &str = "(add)";
pub(crate) const IN: &str = "(in)";
pub(crate) const LIST: &str = "(list)";
pub(crate) const MAP: &str = "(map)";
pub(crate) const SLICE: &str = "(slice)";
pub(crate) const EQ: &str = "(==)";
pub(crate) const NE: &str = "(!=)";
pub(crate) const LT: &str = "(<)";
pub(crate) const LTE: &str = "(<=)";
pub(crate) const GT: &str = "(>)";
pub(crate) const GTE: &str = "(>=)";

/// What one render has spent.
#[derive(Default)]
pub(crate) struct Budget {
    /// Bytes written through the formatter.
    written: AtomicUsize,
    /// Work done, see [`WORK_LIMIT`].
    work: AtomicUsize,
    /// Set when the output reached [`WRITE_LIMIT`] and the render was stopped.
    full: AtomicBool,
}

impl Budget {
    /// Whether the render stopped because its output was full.
    pub(crate) fn is_full(&self) -> bool {
        self.full.load(Ordering::Relaxed)
    }

    fn left(&self) -> usize {
        WORK_LIMIT.saturating_sub(self.work.load(Ordering::Relaxed))
    }

    /// What reading `value` whole (comparing, hashing) takes: a string's bytes, a container's
    /// text, walked no further than the budget left (past it: more than is left).
    fn size_of(&self, value: &Value) -> usize {
        match value.as_str() {
            Some(s) => s.len(),
            None if is_container(value) => {
                measure(value, self.left(), CONTEXT_DEPTH).unwrap_or(usize::MAX)
            }
            None => 8,
        }
    }

    /// Charges reading `value` whole.
    fn charge_value(&self, value: &Value) -> Result<(), Error> {
        self.charge(self.size_of(value))
    }

    fn charge(&self, units: usize) -> Result<(), Error> {
        let add = |work: usize| Some(work.saturating_add(units));
        let before = match self
            .work
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add)
        {
            Ok(before) | Err(before) => before,
        };
        if before.saturating_add(units) > WORK_LIMIT {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!(
                    "the template does too much work (more than {} MiB of text)",
                    WORK_LIMIT >> 20
                ),
            ));
        }
        Ok(())
    }
}

fn too_long() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("the result would be longer than {} KiB", VALUE_LIMIT / 1024),
    )
}

fn too_big() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "a list or map a template builds holds at most {} KiB of text, {DEPTH_LIMIT} levels deep",
            VALUE_LIMIT / 1024
        ),
    )
}

/// A writer that keeps at most `room` bytes, whole characters only, and fails past them.
struct Held {
    text: String,
    room: usize,
}

impl Held {
    fn new(room: usize) -> Held {
        Held {
            text: String::new(),
            room,
        }
    }
}

impl fmt::Write for Held {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let left = self.room - self.text.len();
        if s.len() <= left {
            self.text.push_str(s);
            return Ok(());
        }
        let mut end = left;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.text.push_str(&s[..end]);
        Err(fmt::Error)
    }
}

/// What `{{ value }}` shows, at most `room` bytes of it, and whether that is all of it. A
/// value that shows longer is never written out whole: a list that shares its items is not
/// expanded past `room`.
fn shown(value: &Value, room: usize) -> (Cow<'_, str>, bool) {
    if let Some(s) = value.as_str() {
        if s.len() <= room {
            return (Cow::Borrowed(s), true);
        }
        let mut end = room;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        return (Cow::Borrowed(&s[..end]), false);
    }
    let mut held = Held::new(room);
    let whole = write!(held, "{value}").is_ok();
    (Cow::Owned(held.text), whole)
}

/// `value` as text, refused when longer than [`VALUE_LIMIT`].
fn text(value: &Value) -> Result<Cow<'_, str>, Error> {
    match shown(value, VALUE_LIMIT) {
        (text, true) => Ok(text),
        (_, false) => Err(too_long()),
    }
}

/// A container value (a list, map or iterable: what `*`-free duplication could nest).
fn is_container(value: &Value) -> bool {
    matches!(
        value.kind(),
        ValueKind::Seq | ValueKind::Map | ValueKind::Iterable
    )
}

/// How deep a context value may be walked when charging for it (JSON nests at most 128 deep).
const CONTEXT_DEPTH: usize = 256;

/// How deep lists and maps a template builds may nest (printing, comparing and dropping a
/// value recurse once per level).
const DEPTH_LIMIT: usize = 32;

/// The text `value` holds, walked item by item (a string its bytes, any other item a few), up
/// to `limit`: `None` past it, or past [`DEPTH_LIMIT`] levels. The walk stops there, however
/// much the items share.
fn weight(value: &Value, limit: usize) -> Option<usize> {
    measure(value, limit, DEPTH_LIMIT)
}

/// [`weight`] with any depth up to `deepest`.
fn measure(value: &Value, limit: usize, deepest: usize) -> Option<usize> {
    let mut left = limit;
    walk(value, &mut left, 0, deepest).then(|| limit - left)
}

/// Takes `value`'s text off `left`, item by item: false when `left` runs out or the items
/// nest deeper than `deepest`.
fn walk(value: &Value, left: &mut usize, depth: usize, deepest: usize) -> bool {
    let own = value.as_str().map_or(8, |s| s.len() + 2);
    if own > *left || depth > deepest {
        return false;
    }
    *left -= own;
    let Some(object) = value.as_object() else {
        return true;
    };
    let Ok(items) = value.try_iter() else {
        return true;
    };
    let deeper = |item: &Value, left: &mut usize| walk(item, left, depth + 1, deepest);
    match object.repr() {
        ObjectRepr::Seq | ObjectRepr::Iterable => items.into_iter().all(|v| deeper(&v, left)),
        ObjectRepr::Map => items.into_iter().all(|key| {
            let item = value.get_item(&key).unwrap_or_default();
            deeper(&key, left) && deeper(&item, left)
        }),
        _ => true,
    }
}

/// The work reading `args` takes: a string's bytes, a container's items.
fn cost(args: &[Value]) -> usize {
    args.iter()
        .map(|v| match v.as_str() {
            Some(s) => s.len(),
            None => v.len().unwrap_or(1).saturating_mul(ITEM_COST),
        })
        .fold(0, usize::saturating_add)
}

/// How a builtin filter or test is held.
#[derive(Clone, Copy)]
enum Guard {
    /// It reads no value as text and makes no text longer than its input (or none).
    Plain,
    /// It compares its arguments whole (`eq`, `lt`, …): each is charged for its text.
    Compare,
    /// It compares the items of its first argument with each other (`sort`, `unique`, `min`,
    /// `max`, `dictsort`): each item is charged once per halving of the list.
    Ordered,
    /// It makes a list of up to one item per byte of its first argument (`list`, `split`).
    Items,
    /// It reads its first `n` arguments as text (each must show within [`VALUE_LIMIT`]) and
    /// makes text at most a few times as long (case mapping, escaping), held to the limit.
    Text(usize),
}

/// `builtin` behind `guard`, charging `budget`.
fn guarded(
    budget: &Arc<Budget>,
    guard: Guard,
    builtin: Value,
) -> impl Fn(&State, Rest<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |state: &State, args: Rest<Value>| {
        match guard {
            Guard::Plain => budget.charge(cost(&args))?,
            Guard::Compare => {
                for arg in args.iter() {
                    budget.charge_value(arg)?;
                }
            }
            Guard::Ordered => {
                budget.charge(cost(&args))?;
                if let Some(list) = args.first() {
                    let rounds = list.len().unwrap_or(1).max(1).ilog2() as usize + 1;
                    budget.charge(budget.size_of(list).saturating_mul(rounds))?;
                }
            }
            Guard::Items => {
                let first = args.first().map_or(0, |v| v.as_str().map_or(0, str::len));
                budget.charge(cost(&args).saturating_add(first.saturating_mul(ITEM_COST)))?;
            }
            Guard::Text(n) => {
                for arg in args.iter().take(n) {
                    budget.charge(text(arg)?.len())?;
                }
            }
        }
        let made = builtin.call(state, &args)?;
        if let Some(s) = made.as_str() {
            if s.len() > VALUE_LIMIT {
                return Err(too_long());
            }
            budget.charge(s.len())?;
        }
        Ok(made)
    }
}

/// `replace(from, to)`, refused before replacing when the result would be too long.
fn replace(
    budget: &Arc<Budget>,
) -> impl Fn(&Value, &Value, &Value) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |value: &Value, from: &Value, to: &Value| {
        let (s, from, to) = (text(value)?, text(from)?, text(to)?);
        budget.charge(s.len())?;
        // An empty pattern matches before every character and at the end.
        let hits = match from.is_empty() {
            true => s.chars().count() + 1,
            false => s.matches(from.as_ref()).count(),
        };
        let size = hits
            .checked_mul(to.len())
            .and_then(|added| (s.len() - hits * from.len()).checked_add(added));
        match size {
            Some(size) if size <= VALUE_LIMIT => {
                // Each match costs about as much as a few bytes copied.
                budget.charge(size + hits * 4)?;
                Ok(Value::from(s.replace(from.as_ref(), &to)))
            }
            _ => Err(too_long()),
        }
    }
}

/// `join(sep)`, written into a buffer that refuses to grow past the limit.
fn join(
    budget: &Arc<Budget>,
) -> impl Fn(&Value, Option<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |value: &Value, sep: Option<Value>| {
        let sep = match &sep {
            Some(sep) if !sep.is_none() && !sep.is_undefined() => text(sep)?,
            _ => Cow::Borrowed(""),
        };
        let items = value.try_iter().map_err(|err| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot join value of type {}", value.kind()),
            )
            .with_source(err)
        })?;
        let mut held = Held::new(VALUE_LIMIT);
        let mut count = 0usize;
        for item in items {
            if count > 0 {
                held.write_str(&sep).map_err(|_| too_long())?;
            }
            count += 1;
            match item.as_str() {
                Some(s) => held.write_str(s),
                None => write!(held, "{item}"),
            }
            .map_err(|_| too_long())?;
        }
        budget.charge(held.text.len() + count * ITEM_COST)?;
        Ok(Value::from(held.text))
    }
}

/// `indent(width, …)`, refused before indenting when the result would be too long.
fn indent(
    budget: &Arc<Budget>,
    builtin: Value,
) -> impl Fn(&State, Rest<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |state: &State, args: Rest<Value>| {
        let (positional, kwargs): (&[Value], Kwargs) = from_args(&args)?;
        let s = text(positional.first().unwrap_or(&Value::UNDEFINED))?;
        let width = match positional.get(1) {
            Some(width) => usize::try_from(width.clone())?,
            None => kwargs.peek::<Option<usize>>("width")?.unwrap_or(4),
        };
        let lines = s.split('\n').count();
        match lines
            .checked_mul(width)
            .and_then(|n| n.checked_add(s.len()))
        {
            Some(size) if size <= VALUE_LIMIT => budget.charge(s.len() + size)?,
            _ => return Err(too_long()),
        }
        builtin.call(state, &args)
    }
}

/// `map(…)`, refused when an argument is a container: `map(attribute='x', default=list)` would
/// make a list holding the same list once per item, and a few of those nested share enough to
/// make comparing or hashing them take forever.
fn map(
    budget: &Arc<Budget>,
    builtin: Value,
) -> impl Fn(&State, Rest<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |state: &State, args: Rest<Value>| {
        for arg in args.iter().skip(1) {
            let nested = match arg.is_kwargs() {
                true => arg
                    .try_iter()?
                    .any(|key| is_container(&arg.get_item(&key).unwrap_or_default())),
                false => is_container(arg),
            };
            if nested {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "map() takes no list or map argument in chat templates",
                ));
            }
        }
        budget.charge(cost(&args))?;
        // `default=` is put in place of every item that lacks the attribute.
        let (positional, kwargs): (&[Value], Kwargs) = from_args(&args)?;
        if let Some(default) = kwargs.peek::<Option<Value>>("default")? {
            let items = positional.first().and_then(Value::len).unwrap_or(1);
            budget.charge(budget.size_of(&default).saturating_mul(items))?;
        }
        builtin.call(state, &args)
    }
}

/// `range()` over at most [`RANGE_LIMIT`] numbers, made as a list.
fn range(
    budget: &Arc<Budget>,
) -> impl Fn(i64, Option<i64>, Option<i64>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |lower: i64, upper: Option<i64>, step: Option<i64>| {
        let (start, stop) = match upper {
            Some(upper) => (i128::from(lower), i128::from(upper)),
            None => (0, i128::from(lower)),
        };
        let step = i128::from(step.unwrap_or(1));
        let count = match step {
            0 => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    "cannot create range with step of 0",
                ))
            }
            1.. if stop > start => (stop - start + step - 1) / step,
            ..0 if start > stop => (start - stop - step - 1) / -step,
            _ => 0,
        };
        if count > RANGE_LIMIT as i128 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("range() gives at most {RANGE_LIMIT} numbers"),
            ));
        }
        budget.charge(count as usize * ITEM_COST)?;
        // Between `lower` and `upper`, so within i64.
        let numbers = (0..count).map(|i| Value::from((start + i * step) as i64));
        Ok(Value::from(numbers.collect::<Vec<_>>()))
    }
}

/// `dict(…)`, held to [`VALUE_LIMIT`] like a map literal.
fn dict(
    budget: &Arc<Budget>,
    builtin: Value,
) -> impl Fn(&State, Rest<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |state: &State, args: Rest<Value>| {
        budget.charge(cost(&args))?;
        let made = builtin.call(state, &args)?;
        let size = weight(&made, VALUE_LIMIT).ok_or_else(too_big)?;
        budget.charge(size)?;
        Ok(made)
    }
}

/// `a ~ b`: both as text, refused past [`VALUE_LIMIT`] before more is written.
fn concat(
    budget: &Arc<Budget>,
) -> impl Fn(&Value, &Value) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |a: &Value, b: &Value| {
        let mut held = Held::new(VALUE_LIMIT);
        write!(held, "{a}{b}").map_err(|_| too_long())?;
        budget.charge(held.text.len())?;
        Ok(Value::from(held.text))
    }
}

/// `a + b`: numbers as the engine adds them, strings joined and lists concatenated within the
/// limits.
fn add(budget: &Arc<Budget>) -> impl Fn(&Value, &Value) -> Result<Value, Error> + Send + Sync {
    let budget = Arc::clone(budget);
    move |a: &Value, b: &Value| {
        let seq = |v: &Value| matches!(v.kind(), ValueKind::Seq | ValueKind::Iterable);
        if seq(a) && seq(b) {
            let size = weight(a, VALUE_LIMIT)
                .zip(weight(b, VALUE_LIMIT))
                .map(|(x, y)| x + y)
                .filter(|n| *n <= VALUE_LIMIT)
                .ok_or_else(too_big)?;
            budget.charge(size)?;
            return Ok(Value::from_iter(a.try_iter()?.chain(b.try_iter()?)));
        }
        if let (Some(x), Some(y)) = (a.as_str(), b.as_str()) {
            if x.len() + y.len() > VALUE_LIMIT {
                return Err(too_long());
            }
            budget.charge(x.len() + y.len())?;
            return Ok(Value::from([x, y].concat()));
        }
        let number = |v: &Value| v.is_number() || v.kind() == ValueKind::Bool;
        if number(a) && number(b) {
            let float = |v: &Value| v.is_number() && !v.is_integer();
            if float(a) || float(b) {
                let (x, y) = (f64::try_from(a.clone())?, f64::try_from(b.clone())?);
                return Ok(Value::from(x + y));
            }
            let (x, y) = (i128::try_from(a.clone())?, i128::try_from(b.clone())?);
            return match x.checked_add(y) {
                Some(sum) => Ok(i64::try_from(sum).map_or(Value::from(sum), Value::from)),
                None => Err(Error::new(ErrorKind::InvalidOperation, "+ overflowed")),
            };
        }
        Err(Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "tried to use + operator on unsupported types {} and {}",
                a.kind(),
                b.kind()
            ),
        ))
    }
}

/// A comparison (`==`, `!=`, `<`, `<=`, `>`, `>=`) as the engine makes it, charged for reading
/// both sides whole.
pub(crate) fn compare(
    budget: &Arc<Budget>,
    op: fn(&Value, &Value) -> bool,
) -> impl Fn(&Value, &Value) -> Result<bool, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |a: &Value, b: &Value| {
        budget.charge_value(a)?;
        budget.charge_value(b)?;
        Ok(op(a, b))
    }
}

/// `value in container`, reading a non-string `value` as text only within the limit.
fn contains(budget: &Budget, value: &Value, container: &Value) -> Result<bool, Error> {
    if container.is_undefined() {
        return Ok(false);
    }
    if let Some(s) = container.as_str() {
        let value = text(value)?;
        budget.charge(s.len() + value.len())?;
        return Ok(s.contains(value.as_ref()));
    }
    let Some(object) = container.as_object() else {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "cannot perform a containment check on this value",
        ));
    };
    budget.charge_value(value)?;
    Ok(match object.repr() {
        ObjectRepr::Map => !container.get_item(value)?.is_undefined(),
        ObjectRepr::Seq | ObjectRepr::Iterable => {
            for item in container.try_iter()? {
                budget.charge_value(&item)?;
                if &item == value {
                    return Ok(true);
                }
            }
            false
        }
        _ => false,
    })
}

/// The engine's slice bounds for a forward step: the offset and the count before stepping
/// (minijinja 2.24's `get_offset_and_len`).
fn forward(start: Option<i64>, stop: Option<i64>, end: usize) -> (usize, usize) {
    let end = i64::try_from(end).unwrap_or(i64::MAX);
    let at = |i: i64| if i < 0 { (end + i).max(0) } else { i };
    let start = at(start.unwrap_or(0));
    let stop = stop.map_or(end, at);
    (start as usize, stop.saturating_sub(start).max(0) as usize)
}

/// The engine's indices for a backward step (minijinja 2.24's `range_step_backwards`, without
/// its overflow when `stop` is past `start`).
fn backward(start: Option<i64>, stop: Option<i64>, step: usize, end: usize) -> Vec<usize> {
    let last = end.saturating_sub(1) as i64;
    let start = match start {
        None => last,
        Some(start) if start >= end as i64 => last,
        Some(start) if start >= 0 => start,
        Some(start) => (end as i64 + start).max(0),
    };
    let stop = match stop {
        None => 0,
        Some(stop) if stop < 0 => (end as i64 + stop).max(0),
        Some(stop) => stop,
    };
    if end == 0 || stop > start {
        return Vec::new();
    }
    let (start, stop) = (start as usize, stop as usize);
    let count = match stop {
        0 => (start + step) / step,
        _ => (start - stop).div_ceil(step),
    };
    (stop..=start).rev().step_by(step).take(count).collect()
}

/// `value[start:stop:step]` as the engine slices (a string by characters, a list by items),
/// with the copy it makes charged first.
fn slice(
    budget: &Arc<Budget>,
) -> impl Fn(&Value, &Value, &Value, &Value) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |value: &Value, start: &Value, stop: &Value, step: &Value| {
        let int = |v: &Value| match v.is_none() {
            true => Ok(None),
            false => i64::try_from(v.clone()).map(Some),
        };
        let (start, stop, step) = (int(start)?, int(stop)?, int(step)?.unwrap_or(1));
        if step == 0 {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                "cannot slice by step size of 0",
            ));
        }
        let by = step.unsigned_abs() as usize;
        if let Some(s) = value.as_str() {
            budget.charge(s.len())?;
            if step > 0 {
                let (skip, take) = forward(start, stop, s.chars().count());
                return Ok(Value::from(
                    s.chars()
                        .skip(skip)
                        .take(take)
                        .step_by(by)
                        .collect::<String>(),
                ));
            }
            budget.charge(s.len().saturating_mul(4))?;
            let chars: Vec<char> = s.chars().collect();
            let picked = backward(start, stop, by, chars.len());
            return Ok(Value::from(
                picked.into_iter().map(|i| chars[i]).collect::<String>(),
            ));
        }
        if value.is_undefined() || value.is_none() {
            return Ok(Value::from(Vec::<Value>::new()));
        }
        if !matches!(value.kind(), ValueKind::Seq | ValueKind::Iterable) {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("value of type {} cannot be sliced", value.kind()),
            ));
        }
        budget.charge(cost(std::slice::from_ref(value)))?;
        let items: Vec<Value> = value.try_iter()?.collect();
        budget.charge(items.len() * ITEM_COST)?;
        let picked: Vec<Value> = if step > 0 {
            let (skip, take) = forward(start, stop, items.len());
            items
                .into_iter()
                .skip(skip)
                .take(take)
                .step_by(by)
                .collect()
        } else {
            let at = backward(start, stop, by, items.len());
            at.into_iter().map(|i| items[i].clone()).collect()
        };
        Ok(Value::from(picked))
    }
}

/// A list or map literal's items, held to [`VALUE_LIMIT`].
fn literal(
    budget: &Arc<Budget>,
    pairs: bool,
) -> impl Fn(Rest<Value>) -> Result<Value, Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |items: Rest<Value>| {
        let mut size = 0;
        for item in items.iter() {
            size += weight(item, VALUE_LIMIT - size).ok_or_else(too_big)?;
        }
        budget.charge(size + items.len() * ITEM_COST)?;
        Ok(match pairs {
            false => Value::from(items.0),
            true => {
                let mut items = items.0.into_iter();
                let mut map = std::collections::BTreeMap::new();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    map.insert(key, value);
                }
                Value::from(map)
            }
        })
    }
}

/// Writes a value as `{{ }}` shows it (no escaping), until [`WRITE_LIMIT`] bytes were written
/// in all; then writes what fits, marks the budget full and stops the render.
fn formatter(
    budget: &Arc<Budget>,
) -> impl Fn(&mut Output, &State, &Value) -> Result<(), Error> + Send + Sync + 'static {
    let budget = Arc::clone(budget);
    move |out: &mut Output, _: &State, value: &Value| {
        let room = WRITE_LIMIT.saturating_sub(budget.written.load(Ordering::Relaxed));
        let (piece, whole) = shown(value, room);
        out.write_str(&piece).map_err(Error::from)?;
        budget.written.fetch_add(piece.len(), Ordering::Relaxed);
        if whole {
            return Ok(());
        }
        budget.full.store(true, Ordering::Relaxed);
        Err(Error::new(
            ErrorKind::InvalidOperation,
            "the output limit was reached",
        ))
    }
}

/// A fresh sandboxed environment over `budget`: no loader, no auto-escaping, fuel, chainable
/// undefined values, and only the allowlisted filters, tests and functions.
pub(crate) fn environment<'s>(budget: &Arc<Budget>) -> Environment<'s> {
    let mut env = Environment::empty();
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.set_debug(false);
    env.set_formatter(formatter(budget));

    let plain: &[(&str, Value)] = &[
        ("length", Value::from_function(filters::length)),
        ("count", Value::from_function(filters::length)),
        ("first", Value::from_function(filters::first)),
        ("last", Value::from_function(filters::last)),
        ("default", Value::from_function(filters::default)),
        ("d", Value::from_function(filters::default)),
        ("abs", Value::from_function(filters::abs)),
        ("int", Value::from_function(filters::int)),
        ("float", Value::from_function(filters::float)),
        ("round", Value::from_function(filters::round)),
        ("bool", Value::from_function(filters::bool)),
        ("sum", Value::from_function(filters::sum)),
        ("attr", Value::from_function(filters::attr)),
        ("items", Value::from_function(filters::items)),
        ("reverse", Value::from_function(filters::reverse)),
        ("select", Value::from_function(filters::select)),
        ("reject", Value::from_function(filters::reject)),
        ("selectattr", Value::from_function(filters::selectattr)),
        ("rejectattr", Value::from_function(filters::rejectattr)),
    ];
    let ordered: &[(&str, Value)] = &[
        ("dictsort", Value::from_function(filters::dictsort)),
        ("min", Value::from_function(filters::min)),
        ("max", Value::from_function(filters::max)),
        ("sort", Value::from_function(filters::sort)),
        ("unique", Value::from_function(filters::unique)),
    ];
    let items: &[(&str, Value)] = &[
        ("list", Value::from_function(filters::list)),
        ("split", Value::from_function(filters::split)),
        ("lines", Value::from_function(filters::lines)),
    ];
    let text1: &[(&str, Value)] = &[
        ("upper", Value::from_function(filters::upper)),
        ("lower", Value::from_function(filters::lower)),
        ("title", Value::from_function(filters::title)),
        ("capitalize", Value::from_function(filters::capitalize)),
        ("string", Value::from_function(filters::string)),
        ("safe", Value::from_function(filters::safe)),
        ("escape", Value::from_function(filters::escape)),
        ("e", Value::from_function(filters::escape)),
    ];
    for (name, builtin) in plain {
        env.add_filter(*name, guarded(budget, Guard::Plain, builtin.clone()));
    }
    for (name, builtin) in ordered {
        env.add_filter(*name, guarded(budget, Guard::Ordered, builtin.clone()));
    }
    for (name, builtin) in items {
        env.add_filter(*name, guarded(budget, Guard::Items, builtin.clone()));
    }
    for (name, builtin) in text1 {
        env.add_filter(*name, guarded(budget, Guard::Text(1), builtin.clone()));
    }
    let trim = Value::from_function(filters::trim);
    env.add_filter("trim", guarded(budget, Guard::Text(2), trim));
    env.add_filter("replace", replace(budget));
    env.add_filter("join", join(budget));
    env.add_filter(
        "indent",
        indent(budget, Value::from_function(filters::indent)),
    );
    env.add_filter("map", map(budget, Value::from_function(filters::map)));

    env.add_filter(CONCAT, concat(budget));
    env.add_filter(ADD, add(budget));
    let held = Arc::clone(budget);
    env.add_filter(IN, move |value: &Value, container: &Value| {
        contains(&held, value, container)
    });
    env.add_filter(SLICE, slice(budget));
    env.add_filter(EQ, compare(budget, |a, b| a == b));
    env.add_filter(NE, compare(budget, |a, b| a != b));
    env.add_filter(LT, compare(budget, |a, b| a < b));
    env.add_filter(LTE, compare(budget, |a, b| a <= b));
    env.add_filter(GT, compare(budget, |a, b| a > b));
    env.add_filter(GTE, compare(budget, |a, b| a >= b));
    env.add_filter(LIST, literal(budget, false));
    env.add_filter(MAP, literal(budget, true));

    let plain_tests: &[(&str, Value)] = &[
        ("defined", Value::from_function(tests::is_defined)),
        ("undefined", Value::from_function(tests::is_undefined)),
        ("none", Value::from_function(tests::is_none)),
        ("safe", Value::from_function(tests::is_safe)),
        ("escaped", Value::from_function(tests::is_safe)),
        ("boolean", Value::from_function(tests::is_boolean)),
        ("true", Value::from_function(tests::is_true)),
        ("false", Value::from_function(tests::is_false)),
        ("number", Value::from_function(tests::is_number)),
        ("integer", Value::from_function(tests::is_integer)),
        ("int", Value::from_function(tests::is_integer)),
        ("float", Value::from_function(tests::is_float)),
        ("string", Value::from_function(tests::is_string)),
        ("sequence", Value::from_function(tests::is_sequence)),
        ("iterable", Value::from_function(tests::is_iterable)),
        ("mapping", Value::from_function(tests::is_mapping)),
        ("odd", Value::from_function(tests::is_odd)),
        ("even", Value::from_function(tests::is_even)),
        ("divisibleby", Value::from_function(tests::is_divisibleby)),
        ("lower", Value::from_function(tests::is_lower)),
        ("upper", Value::from_function(tests::is_upper)),
        ("sameas", Value::from_function(tests::is_sameas)),
    ];
    let compare_tests: &[(&str, Value)] = &[
        ("eq", Value::from_function(tests::is_eq)),
        ("equalto", Value::from_function(tests::is_eq)),
        ("==", Value::from_function(tests::is_eq)),
        ("ne", Value::from_function(tests::is_ne)),
        ("!=", Value::from_function(tests::is_ne)),
        ("lt", Value::from_function(tests::is_lt)),
        ("lessthan", Value::from_function(tests::is_lt)),
        ("<", Value::from_function(tests::is_lt)),
        ("le", Value::from_function(tests::is_le)),
        ("<=", Value::from_function(tests::is_le)),
        ("gt", Value::from_function(tests::is_gt)),
        ("greaterthan", Value::from_function(tests::is_gt)),
        (">", Value::from_function(tests::is_gt)),
        ("ge", Value::from_function(tests::is_ge)),
        (">=", Value::from_function(tests::is_ge)),
    ];
    let text_tests: &[(&str, Value)] = &[
        ("startingwith", Value::from_function(tests::is_startingwith)),
        ("endingwith", Value::from_function(tests::is_endingwith)),
    ];
    for (name, builtin) in plain_tests {
        env.add_test(*name, guarded(budget, Guard::Plain, builtin.clone()));
    }
    for (name, builtin) in compare_tests {
        env.add_test(*name, guarded(budget, Guard::Compare, builtin.clone()));
    }
    for (name, builtin) in text_tests {
        env.add_test(*name, guarded(budget, Guard::Text(2), builtin.clone()));
    }
    let held = Arc::clone(budget);
    env.add_test("in", move |value: &Value, container: &Value| {
        contains(&held, value, container)
    });

    env.add_function("range", range(budget));
    env.add_function(
        "dict",
        dict(budget, Value::from_function(minijinja::functions::dict)),
    );
    env
}

//! A user template compiled into a program the sandbox can bound. The engine's own compiler
//! makes the bytecode; this module then rewrites it, one instruction for another, so that every
//! operation that could make a large value or write output calls back into the sandbox:
//!
//! - raw template text is emitted through the formatter (`LoadConst` + `Emit`), so every byte
//!   written is counted, whether to the output or to a capture;
//! - `~` (`StringConcat`), `+` (`Add`), `in` (`In`) and `[a:b]` (`Slice`) call hidden filters
//!   that check sizes before making anything, and comparisons (`==`, `<`, …) hidden filters that
//!   charge reading both sides;
//! - list and map literals (`BuildList`, `BuildMap`) call hidden filters that hold what they
//!   hold to the value limit, so sharing cannot nest lists into a structure that is small in
//!   memory but exponential to compare, hash or print.
//!
//! Before compiling, templates using `*` or `**` are refused: the compiler folds constants, so
//! `'x' * 100000000` would be allocated while compiling. So are blocks of more than
//! [`BLOCK_TOKENS`] tokens: compiling a long chain of operators overflows the stack. Statements
//! the sandbox does not need and that would multiply what a render holds (macros and
//! `{% call %}`, recursive loops, `{% include %}`, `{% import %}`, `{% extends %}`,
//! `{% block %}`, `{% autoescape %}`, chained comparisons) are refused by the instructions they
//! compile to.

use std::collections::BTreeMap;
use std::sync::Arc;

use minijinja::machinery::{
    make_string_output, tokenize, CompiledTemplate, Instruction, Instructions, TemplateConfig,
    Token, Vm, WhitespaceConfig,
};
use minijinja::syntax::SyntaxConfig;
use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error};

use super::sandbox::{ADD, CONCAT, EQ, GT, GTE, IN, LIST, LT, LTE, MAP, NE, SLICE};
use super::TemplateError;

/// The longest template source compiled (the settings accept 8 KiB).
pub(crate) const SOURCE_LIMIT: usize = 16 * 1024;

/// The most tokens one `{{ }}` or `{% %}` block may hold. The parser builds a chain of
/// operators (`a ~ b ~ …`, `x.a.a…`, `not not …`, `x|f|f…`) without limit, but compiling it
/// recurses once per link: a few thousand links overflow a 2 MiB thread stack and abort the
/// whole process. In a debug build the first overflow is near 1,300 links; in release later.
pub(crate) const BLOCK_TOKENS: usize = 500;

/// minijinja 2.24's `LOOP_FLAG_RECURSIVE` (the crate does not export it).
const LOOP_FLAG_RECURSIVE: u8 = 2;

/// A filter call that caches nothing (no local slot).
const NO_SLOT: u8 = !0;

/// A compiled, rewritten template.
pub(crate) struct Program<'s> {
    main: Instructions<'s>,
    blocks: BTreeMap<&'s str, Instructions<'s>>,
}

/// The default syntax (`{{ }}`, `{% %}`, `{# #}`). Without the `custom_syntax` feature the
/// config is a unit struct; `default()` keeps compiling if another crate turns the feature on.
#[allow(clippy::default_constructed_unit_structs)]
fn syntax() -> SyntaxConfig {
    SyntaxConfig::default()
}

fn refused(line: Option<usize>, what: &str) -> TemplateError {
    TemplateError {
        line,
        message: format!("{what} is not allowed in chat templates"),
    }
}

/// Refuses `*` and `**` inside `{{ }}` and `{% %}` (text outside, `**bold**`, is fine), and
/// blocks of more than [`BLOCK_TOKENS`] tokens.
fn check_tokens(source: &str) -> Result<(), TemplateError> {
    let tokens = tokenize(source, false, syntax(), WhitespaceConfig::default());
    let mut in_block = 0usize;
    for token in tokens {
        // A syntax error: compiling reports it, with its line.
        let Ok((token, span)) = token else {
            break;
        };
        let line = Some(usize::from(span.start_line));
        match token {
            Token::Mul => return Err(refused(line, "the `*` operator")),
            Token::Pow => return Err(refused(line, "the `**` operator")),
            Token::VariableStart | Token::BlockStart | Token::TemplateData(_) => in_block = 0,
            _ => in_block += 1,
        }
        if in_block > BLOCK_TOKENS {
            return Err(refused(
                line,
                &format!("an expression of more than {BLOCK_TOKENS} tokens"),
            ));
        }
    }
    Ok(())
}

/// Compiles `source`: refuses what the sandbox cannot bound, then rewrites the bytecode.
pub(crate) fn compile(source: &str) -> Result<Program<'_>, TemplateError> {
    if source.len() > SOURCE_LIMIT {
        return Err(TemplateError {
            line: None,
            message: format!("the template is longer than {} KiB", SOURCE_LIMIT / 1024),
        });
    }
    check_tokens(source)?;
    let config = TemplateConfig {
        syntax_config: syntax(),
        ws_config: WhitespaceConfig::default(),
        default_auto_escape: Arc::new(|_: &str| AutoEscape::None),
    };
    let compiled = CompiledTemplate::new("<string>", source, &config)?;
    let main = rewrite(&compiled.instructions)?;
    // A block is called from the main instructions (refused there, with its line).
    if !compiled.blocks.is_empty() {
        return Err(refused(None, "`{% block %}`"));
    }
    Ok(Program {
        main,
        blocks: BTreeMap::new(),
    })
}

/// `old` with each unbounded instruction replaced (see the module header); jump targets follow.
fn rewrite<'s>(old: &Instructions<'s>) -> Result<Instructions<'s>, TemplateError> {
    let count = u32::try_from(old.len()).map_err(|_| refused(None, "so long a template"))?;
    // Where each old instruction lands: raw text becomes two instructions.
    let mut at = Vec::with_capacity(old.len() + 1);
    let mut next = 0u32;
    for pc in 0..count {
        at.push(next);
        next += match old.get(pc) {
            Some(Instruction::EmitRaw(_)) => 2,
            _ => 1,
        };
    }
    at.push(next);
    let target = |t: &u32| at.get(*t as usize).copied().unwrap_or(next);

    let mut new = Instructions::new(old.name(), old.source());
    for pc in 0..count {
        let Some(instr) = old.get(pc) else { break };
        let line = old.get_line(pc);
        let refuse = |what: &str| Err(refused(line, what));
        let args = |n: usize| {
            u16::try_from(n)
                .map(Some)
                .map_err(|_| refused(line, "so long a literal"))
        };
        let mut put = |instr: Instruction<'s>| {
            match line.and_then(|l| u16::try_from(l).ok()) {
                Some(line) => new.add_with_line(instr, line),
                None => new.add(instr),
            };
        };
        use Instruction as I;
        match instr {
            I::EmitRaw(raw) => {
                put(I::LoadConst(Value::from(*raw)));
                put(I::Emit);
            }
            I::StringConcat => put(I::ApplyFilter(CONCAT, Some(2), NO_SLOT)),
            I::Add => put(I::ApplyFilter(ADD, Some(2), NO_SLOT)),
            I::In => put(I::ApplyFilter(IN, Some(2), NO_SLOT)),
            I::Slice => put(I::ApplyFilter(SLICE, Some(4), NO_SLOT)),
            I::Eq => put(I::ApplyFilter(EQ, Some(2), NO_SLOT)),
            I::Ne => put(I::ApplyFilter(NE, Some(2), NO_SLOT)),
            I::Lt => put(I::ApplyFilter(LT, Some(2), NO_SLOT)),
            I::Lte => put(I::ApplyFilter(LTE, Some(2), NO_SLOT)),
            I::Gt => put(I::ApplyFilter(GT, Some(2), NO_SLOT)),
            I::Gte => put(I::ApplyFilter(GTE, Some(2), NO_SLOT)),
            I::BuildList(Some(n)) => put(I::ApplyFilter(LIST, args(*n)?, NO_SLOT)),
            I::BuildMap(n) => put(I::ApplyFilter(MAP, args(n * 2)?, NO_SLOT)),
            I::Jump(t) => put(I::Jump(target(t))),
            I::JumpIfFalse(t) => put(I::JumpIfFalse(target(t))),
            I::JumpIfFalseOrPop(t) => put(I::JumpIfFalseOrPop(target(t))),
            I::JumpIfTrueOrPop(t) => put(I::JumpIfTrueOrPop(target(t))),
            I::Iterate(t) => put(I::Iterate(target(t))),
            I::Mul => return refuse("the `*` operator"),
            I::Pow => return refuse("the `**` operator"),
            I::PushLoop(flags) if flags & LOOP_FLAG_RECURSIVE != 0 => {
                return refuse("a recursive loop")
            }
            I::FastRecurse => return refuse("a recursive loop"),
            // The engine's own comparison, uncharged (and for `in`, reading a value as text
            // unbounded): write `a < b and b < c`.
            I::CompareAndPreserve(_) => return refuse("a chained comparison (`a < b < c`)"),
            I::PushAutoEscape | I::PopAutoEscape => return refuse("`{% autoescape %}`"),
            I::UnpackLists(_) | I::MergeKwargs(_) => return refuse("argument unpacking"),
            I::CallBlock(_) | I::LoadBlocks | I::FastSuper => {
                return refuse("`{% block %}` or `{% extends %}`")
            }
            I::Include(_) | I::ExportLocals => return refuse("`{% include %}` or `{% import %}`"),
            I::BuildMacro(..) | I::Return | I::IsUndefined | I::Enclose(_) | I::GetClosure => {
                return refuse("`{% macro %}` or `{% call %}`")
            }
            // Bounded as they are: they read values, make numbers or booleans, move values
            // between the stack and names, or call allowlisted (wrapped) filters, tests and
            // functions. `BuildList(None)` collects the items a loop's `if` keeps.
            I::StoreLocal(_)
            | I::Lookup(_)
            | I::GetAttr(_)
            | I::SetAttr(_)
            | I::GetItem
            | I::LoadConst(_)
            | I::BuildKwargs(_)
            | I::BuildList(None)
            | I::UnpackList(_)
            | I::Sub
            | I::Div
            | I::IntDiv
            | I::Rem
            | I::Neg
            | I::Not
            | I::ApplyFilter(..)
            | I::PerformTest(..)
            | I::Emit
            | I::PushLoop(_)
            | I::PushWith
            | I::PushDidNotIterate
            | I::PopFrame
            | I::PopLoopFrame
            | I::BeginCapture(_)
            | I::EndCapture
            | I::CallFunction(..)
            | I::CallMethod(..)
            | I::CallObject(_)
            | I::DupTop
            | I::DiscardTop
            | I::Swap => put(instr.clone()),
        }
    }
    Ok(new)
}

/// Runs `program` over `ctx` in `env`, writing into `out`.
pub(crate) fn run(
    program: &Program<'_>,
    env: &Environment<'_>,
    ctx: &serde_json::Value,
    out: &mut String,
) -> Result<(), Error> {
    let mut output = make_string_output(out);
    Vm::new(env)
        .eval(
            &program.main,
            Value::from_serialize(ctx),
            &program.blocks,
            &mut output,
            AutoEscape::None,
        )
        .map(|_| ())
}

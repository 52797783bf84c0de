#!/usr/bin/env python3
"""Layout checks for CI (the "one room per concern" rules in the README's Layout section):

1. SQL text only in store/ and migration/ (string literals holding SQL keywords), and no
   statement built with sea-orm outside store/ (the benchmark, which writes rows to measure, the
   tests, and `entity/`'s tenancy-scoped finder that the store uses, excepted);
2. no branch on the database backend outside store/ (and migration/, where a statement has no
   common form);
3. schema/ and server/ do not mention SQLite or PostgreSQL at all (code or comments);
4. no import circle between the files of a crate (`use crate::...`, `super::...`, paths; a
   path through the crate root's re-exports is not followed).

tests/ is the harness that picks the databases under test, so rules 1 and 2 skip it.
Exits 1 and names every offence."""

import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRATES = ["store", "schema", "server", "bench", "cli", "receiver", "entity", "migration"]

SQL = re.compile(
    r"\b(SELECT\s|INSERT\s+INTO|UPDATE\s+\w+\s+(AS\s+\w+\s+)?SET|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)"
    r"|ALTER\s+TABLE|DROP\s+TABLE|SAVEPOINT|NOTIFY\s|LISTEN\s|PRAGMA|RETURNING\s)"
)
BACKEND = re.compile(
    r"DbBackend|is_postgres|is_sqlite|get_database_backend|sqlx::(sqlite|postgres)|PgListener"
    r"|Sqlite(ConnectOptions|PoolOptions|Synchronous|JournalMode)|Sqlx(Sqlite|Postgres)Connector"
)
MENTION = re.compile(r"sqlite|postgres", re.I)
# sea-orm statements built outside store/: finders, locks, batch inserts, raw statements.
BUILDER = re.compile(
    r"Entity::(find|insert|update|delete)|find_in_org|find_by_id|lock_exclusive|from_raw_sql"
    r"|Statement::from_|execute_unprepared|query_(one|all)\("
)
STRING = re.compile(r'r#"(?:.|\n)*?"#|"(?:[^"\\]|\\.)*"')


def rust_files(crate):
    for base, _, files in os.walk(os.path.join(ROOT, crate)):
        if "/target" in base:
            continue
        for name in files:
            if name.endswith(".rs"):
                yield os.path.join(base, name)


def rel(path):
    return os.path.relpath(path, ROOT)


def line_of(text, index):
    return text.count("\n", 0, index) + 1


def check_text(offences):
    for crate in CRATES:
        for path in rust_files(crate):
            text = open(path, encoding="utf-8").read()
            if crate not in ("store", "migration"):
                for m in STRING.finditer(text):
                    if SQL.search(m.group(0)):
                        offences.append(f"{rel(path)}:{line_of(text, m.start())}: SQL text outside store/")
            if crate not in ("store", "migration", "bench", "entity"):
                for m in BUILDER.finditer(text):
                    offences.append(f"{rel(path)}:{line_of(text, m.start())}: a database statement outside store/ ({m.group(0)})")
            # A migration may differ per database where sea-query has no common form (widening
            # a column: `m20261204_000010_wide_ids`).
            if crate not in ("store", "migration"):
                for m in BACKEND.finditer(text):
                    offences.append(f"{rel(path)}:{line_of(text, m.start())}: backend branch outside store/ ({m.group(0)})")
            if crate in ("schema", "server"):
                # The one setting the issue names after the embedded database.
                text = text.replace("BUILDHOOKS_SQLITE_SYNCHRONOUS", "")
                for m in MENTION.finditer(text):
                    offences.append(f"{rel(path)}:{line_of(text, m.start())}: {crate}/ mentions {m.group(0)}")


def modules(crate):
    """Module path (tuple) -> file, for one crate's src/."""
    src = os.path.join(ROOT, crate, "src")
    found = {}
    for path in rust_files(os.path.join(crate, "src")):
        parts = os.path.relpath(path, src)[:-3].split(os.sep)
        if parts[-1] in ("mod", "lib", "main"):
            parts = parts[:-1]
        found[tuple(parts)] = path
    return found


USE = re.compile(r"\b(crate|super)((?:::\w+)+)")


def edges(crate):
    mods = modules(crate)
    by_file = {v: k for k, v in mods.items()}
    graph = {}
    for path, me in by_file.items():
        text = open(path, encoding="utf-8").read()
        # Tests inside a file are not part of the production graph.
        text = text.split("#[cfg(test)]")[0]
        text = "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))
        targets = set()
        for m in USE.finditer(text):
            segments = m.group(2).split("::")[1:]
            if m.group(1) == "crate":
                start = ()
            else:
                # `super` of a file module is its parent; of a mod.rs, the parent of its dir.
                start = me[:-1]
                while segments and segments[0] == "super":
                    start = start[:-1]
                    segments = segments[1:]
            path_ = start + tuple(segments)
            while path_ and path_ not in mods:
                path_ = path_[:-1]
            target = mods.get(path_)
            # The crate root only declares modules and re-exports their items: a path through
            # it names the module that defines the item, which this check cannot see, so
            # edges into the root are left out.
            if target and target != path and path_ != ():
                targets.add(target)
        # `use name::...` / `pub use name::...` of a child module declared here.
        for m in re.finditer(r"\buse\s+(\w+)::", text):
            child = me + (m.group(1),)
            if child in mods and mods[child] != path:
                targets.add(mods[child])
        graph[path] = targets
    return graph


def cycles(graph):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    offences = []
    check_text(offences)
    for crate in CRATES:
        for comp in cycles(edges(crate)):
            offences.append("import circle: " + " <-> ".join(rel(p) for p in comp))
    for o in offences:
        print(o)
    if offences:
        print(f"{len(offences)} layout offence(s)")
        return 1
    print("layout: SQL only in store/ and migration/, backend branches only in store/, no import circles")
    return 0


if __name__ == "__main__":
    sys.exit(main())

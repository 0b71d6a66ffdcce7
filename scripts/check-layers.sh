#!/usr/bin/env bash
# Layering check for the workspace's Rust sources (issue #14, "Layers without
# cycles"); bash + python3 (3.8 or later), nothing else.
#
#   scripts/check-layers.sh [--root DIR] [--config FILE] [--verbose]
#   scripts/check-layers.sh --self-test
#
# --verbose lists every import inside each cycle's strongly connected set,
# not only one loop through it.
#
# Reads every crate's src/ (crates/*/src and the root package's src/) and
# fails, exit code 1, naming the file, the import and the rule, on:
#
#   1. an import cycle between sibling modules: two (or more) modules with
#      the same parent that import each other, directly or round a loop.
#      Imports are `use crate::...`, `use super::...`, `use self::...`,
#      paths to a child declared with `mod` (`use child::X`, `child::f()`),
#      and the same paths written in code (`crate::x::f()`). An import of an
#      item a module only re-exports (`pub use`, `pub(crate) use`, globs) or a
#      `#[macro_export]` macro counts as an import of the module that defines
#      it. A module importing its own descendants or ancestors is not a
#      cycle: a parent (lib.rs, a mod.rs) declares and re-exports children.
#   2. an import from a higher layer, in a crate that declares its layers in
#      scripts/layers.toml and enforces them (the format is described at the
#      top of that file). Layers are folders of the crate's src/
#      (src/<layer>/, or src/<layer>.rs beside it), lowest first; a file may
#      import its own layer and the ones below. lib.rs and main.rs are the
#      top: they may import anything, and nothing in a layer may import
#      what they define. Once a crate enforces its layers, every other file
#      in its src/ is an error too. A crate without layers (or with
#      `enforce = false`) gets checks 1 and 3 only.
#   3. a source file over 600 lines: one file, one job.
#
# Tests are left out of all three: `#[cfg(test)]` items (a `mod tests { }`
# block, a `mod tests;` and the file it names), files named tests.rs, and
# src/bin/. Comments and string literals are ignored. Paths are found with a
# tolerant lexer and regular expressions, not a Rust parser: what it cannot
# resolve (an extern crate, a name brought in by a private `use`) is not an
# import of the crate's own modules.
#
# Exit codes: 0 clean, 1 violations (listed on stderr), 2 usage or config
# errors. Approach (module files, path resolution, Tarjan's SCCs) from
# shared/tools/layers.py, extended to sibling-module cycles, re-exports and
# layers.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

analyze() {
    python3 - "$@" <<'PY'
import os
import re
import sys

MAX_LINES = 600
TOP = "<top>"
VERBOSE = False


def fail_usage(msg):
    print("check-layers: " + msg, file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------- config

def parse_toml_subset(text, path):
    """The TOML this script's config uses: tables named by a quoted or bare
    key, string / boolean / string-array values. tomllib where there is one
    (Python 3.11+), this otherwise."""
    try:
        import tomllib
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            fail_usage("%s: %s" % (path, e))
    except ImportError:
        pass
    data = {}
    table = data
    pending = None
    for n, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r'#(?=(?:[^"]*"[^"]*")*[^"]*$).*', "", raw).strip()
        if pending is not None:
            pending[1] += " " + line
            if "]" in line:
                key, value = pending
                table[key] = parse_value(value, path, n)
                pending = None
            continue
        if not line:
            continue
        m = re.fullmatch(r'\[\s*(?:"([^"]+)"|([\w.-]+))\s*\]', line)
        if m:
            table = data.setdefault(m.group(1) or m.group(2), {})
            continue
        m = re.fullmatch(r"([\w-]+)\s*=\s*(.+)", line)
        if not m:
            fail_usage("%s:%d: cannot read %r" % (path, n, raw))
        if m.group(2).startswith("[") and "]" not in m.group(2):
            pending = [m.group(1), m.group(2)]
            continue
        table[m.group(1)] = parse_value(m.group(2), path, n)
    return data


def parse_value(v, path, n):
    v = v.strip()
    if v in ("true", "false"):
        return v == "true"
    if v.startswith('"') and v.endswith('"'):
        return v[1:-1]
    if v.startswith("[") and v.endswith("]"):
        return re.findall(r'"([^"]*)"', v)
    fail_usage("%s:%d: cannot read value %r" % (path, n, v))


def load_config(path, crates):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as f:
        data = parse_toml_subset(f.read(), path)
    out = {}
    for key, table in data.items():
        crate = os.path.normpath(key)
        if not isinstance(table, dict):
            fail_usage("%s: %s: expected a table [\"crates/name\"]" % (path, key))
        if crate not in crates:
            fail_usage("%s: [\"%s\"]: no crate with a src/ there (crates: %s)"
                       % (path, key, ", ".join(sorted(crates))))
        unknown = set(table) - {"layers", "enforce"}
        if unknown:
            fail_usage("%s: [\"%s\"]: unknown keys %s (known: layers, enforce)"
                       % (path, key, ", ".join(sorted(unknown))))
        layers = table.get("layers")
        if not isinstance(layers, list) or not layers or not all(
                isinstance(x, str) and re.fullmatch(r"\w+", x) for x in layers):
            fail_usage("%s: [\"%s\"]: layers must be a list of folder names, lowest first"
                       % (path, key))
        if len(set(layers)) != len(layers):
            fail_usage("%s: [\"%s\"]: a layer is named twice" % (path, key))
        enforce = table.get("enforce", True)
        if not isinstance(enforce, bool):
            fail_usage("%s: [\"%s\"]: enforce must be true or false" % (path, key))
        out[crate] = (layers, enforce)
    return out


# ---------------------------------------------------------------- lexing

STRING_START = re.compile(r'(?<![\w])(?:[bc]?r(#*)"|[bc]?")')
CHAR_LIT = re.compile(r"'(?:[^'\\\n]|\\(?:[nrt0\\'\"]|x[0-9a-fA-F]{2}|u\{[0-9a-fA-F_]{1,6}\}))'")


def blank(text):
    """`text` with comments and the insides of string and char literals
    turned to spaces (newlines kept, so offsets and line numbers hold)."""
    out = list(text)
    n = len(text)

    def wipe(a, b):
        for k in range(a, min(b, n)):
            if out[k] != "\n":
                out[k] = " "

    i = 0
    while i < n:
        c = text[i]
        if c == "/" and text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            wipe(i, j)
            i = j
        elif c == "/" and text.startswith("/*", i):
            depth, j = 0, i
            while j < n:
                if text.startswith("/*", j):
                    depth += 1
                    j += 2
                elif text.startswith("*/", j):
                    depth -= 1
                    j += 2
                    if depth == 0:
                        break
                else:
                    j += 1
            wipe(i, j)
            i = j
        elif c in '"rbc':
            m = STRING_START.match(text, i)
            if not m:
                i += 1
                continue
            start = m.end()
            if m.group(1) is not None:  # raw: no escapes
                close = '"' + m.group(1)
                j = text.find(close, start)
                j = n if j < 0 else j
                wipe(start, j)
                i = j + len(close)
            else:
                j = start
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                wipe(start, j)
                i = j + 1
        elif c == "'":
            m = CHAR_LIT.match(text, i)
            if m:
                wipe(i + 1, m.end() - 1)
                i = m.end()
            else:
                i += 1  # a lifetime
        else:
            i += 1
    return "".join(out)


def block_end(text, i):
    """Index after the `{...}` block opening at `text[i]`."""
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


CFG_TEST = re.compile(r"#\s*\[\s*cfg\s*\(\s*(?:all\s*\(\s*)?test\b")
ATTR = re.compile(r"\s*#\s*!?\s*\[")


def strip_tests(text):
    """`text` (already blanked) without its `#[cfg(test)]` items; and the
    names of test-only child modules declared there (`mod x;`)."""
    test_mods = []
    while True:
        m = CFG_TEST.search(text)
        if not m:
            return text, test_mods
        start = text.rfind("#", 0, m.end())
        j = text.find("]", m.end()) + 1
        while True:  # further attributes on the same item
            a = ATTR.match(text, j)
            if not a:
                break
            depth, k = 0, a.end() - 1
            while k < len(text):
                if text[k] == "[":
                    depth += 1
                elif text[k] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                k += 1
            j = k + 1
        depth, k = 0, j
        while k < len(text):
            ch = text[k]
            if ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
            elif depth == 0 and ch == ";":
                k += 1
                break
            elif depth == 0 and ch == "{":
                k = block_end(text, k)
                break
            k += 1
        item = text[j:k]
        mm = re.match(r"\s*(?:pub\s*(?:\([^)]*\))?\s*)?mod\s+(\w+)\s*;", item)
        if mm:
            test_mods.append(mm.group(1))
        text = text[:start] + re.sub(r"[^\n]", " ", text[start:k]) + text[k:]


# ---------------------------------------------------------------- crate model

class Crate:
    def __init__(self, root, rel):
        self.root = root
        self.rel = rel  # the crate's folder, relative to the root
        self.src = os.path.join(root, rel, "src")
        self.texts = {}  # file -> blanked, test-free text
        self.children = {}  # file -> child module names declared there
        self.reexports = {}  # file -> {name: absolute path}
        self.globs = {}  # file -> [absolute module path]
        self.macros = {}  # #[macro_export] name -> file
        self.files = self._files()

    def _files(self):
        found = []
        for d, dirs, fs in os.walk(self.src):
            dirs.sort()
            if os.path.relpath(d, self.src).split(os.sep)[0] == "bin":
                continue
            for f in sorted(fs):
                if f.endswith(".rs") and f != "tests.rs":
                    found.append(os.path.join(d, f))
        test_only = set()
        for f in found:
            with open(f, encoding="utf-8", errors="replace") as fh:
                text, test_mods = strip_tests(blank(fh.read()))
            self.texts[f] = text
            for name in test_mods:
                for c in self.child_files(f, name):
                    test_only.add(c)
        # A test-only file's own children are test-only too.
        below = [os.path.dirname(t) if os.path.basename(t) == "mod.rs" else t[:-3]
                 for t in test_only]
        return [f for f in found
                if f not in test_only and not any(f.startswith(b + os.sep) for b in below)]

    def child_files(self, f, name):
        d = os.path.dirname(f)
        base = os.path.basename(f)
        if base not in ("mod.rs", "lib.rs", "main.rs"):
            d = os.path.join(d, base[:-3])
        return [os.path.join(d, name + ".rs"), os.path.join(d, name, "mod.rs")]

    def rel_file(self, f):
        return os.path.relpath(f, self.root)

    def modpath(self, f):
        rel = os.path.relpath(f, self.src)[:-3].split(os.sep)
        if rel[-1] in ("mod", "lib", "main"):
            rel = rel[:-1]
        return rel

    def root_file(self, f):
        main = os.path.join(self.src, "main.rs")
        lib = os.path.join(self.src, "lib.rs")
        if f == main or not os.path.isfile(lib):
            return main
        return lib

    def modfile(self, parts, f):
        """(n, file): the file of the longest prefix `parts[:n]` that is a
        module with a file of its own."""
        for n in range(len(parts), 0, -1):
            base = os.path.join(self.src, *parts[:n])
            for c in (base + ".rs", os.path.join(base, "mod.rs")):
                if c in self.texts and c in self.file_set:
                    return n, c
        return 0, self.root_file(f)

    def defines(self, f, name):
        return re.search(
            r"\b(?:fn|struct|enum|trait|type|const|static|union|mod)\s+%s\b|macro_rules!\s*%s\b"
            % (re.escape(name), re.escape(name)), self.texts.get(f, "")) is not None

    def resolve(self, parts, f, depth=0):
        """The file that defines what absolute path `parts` names."""
        parts = [p for p in parts if p != "*"]
        n, file = self.modfile(parts, f)
        rest = parts[n:]
        if not rest or depth > 16:
            return file
        name = rest[0]
        target = self.reexports.get(file, {}).get(name)
        if target is not None:
            return self.resolve(target + rest[1:], f, depth + 1)
        if n == 0 and name in self.macros:
            return self.macros[name]
        if not self.defines(file, name):
            globs = self.globs.get(file, [])
            if len(globs) == 1:
                return self.resolve(globs[0] + rest, f, depth + 1)
        return file


USE = re.compile(r"(\bpub\s*(?:\([^)]*\))?\s*)?\buse\s+([^;]*);")
PUB_IN = re.compile(r"\bpub\s*\(\s*in\s+[^)]*\)")
INLINE_MOD = re.compile(r"\bmod\s+(\w+)\s*\{")
DECLARED_MOD = re.compile(r"\bmod\s+(\w+)\s*[;{]")
EXPR_PATH = re.compile(r"(?<![\w:])(crate|super|self)((?:\s*::\s*\w+)+)")


def use_tree(text):
    """[(segments, alias)] of one use tree, e.g. `crate::{a, b::{c as d}}`."""
    toks = re.findall(r"::|[{},*]|\w+", text)
    out = []

    def tree(i, prefix):
        path = list(prefix)
        while i < len(toks):
            t = toks[i]
            if t == "::":
                i += 1
            elif t == "{":
                i += 1
                while i < len(toks) and toks[i] != "}":
                    i = tree(i, path)
                    if i < len(toks) and toks[i] == ",":
                        i += 1
                return i + 1
            elif t == "*":
                out.append((path + ["*"], None))
                return i + 1
            elif t in (",", "}"):
                break
            elif t == "as" and i + 1 < len(toks):
                out.append((path, toks[i + 1]))
                return i + 2
            else:
                path.append(t)
                i += 1
        if path:
            out.append((path, None))
        return i

    i = 0
    while i < len(toks):
        i = tree(i, [])
        if i < len(toks) and toks[i] == ",":
            i += 1
        elif i < len(toks):
            i += 1
    result = []
    for path, alias in out:
        if path and path[-1] == "self":
            path = path[:-1]
        if path:
            result.append((path, alias))
    return result


def absolute(parts, cur, children):
    """`parts` as written in module `cur` of file `f`, as a path from the
    crate root; None for a path outside the crate."""
    if not parts or parts[0] == "":
        return None
    head = parts[0]
    if head == "crate":
        return parts[1:]
    if head == "self":
        return cur + parts[1:]
    if head == "super":
        k = 0
        while k < len(parts) and parts[k] == "super":
            k += 1
        if k > len(cur):
            return None
        return cur[:len(cur) - k] + parts[k:]
    if head in children:
        return cur + parts
    return None


def scan(crate):
    """Every import of the crate's own modules: (file, line, as written,
    target file)."""
    crate.file_set = set(crate.files)
    prepared = {}
    for f in crate.files:
        text = PUB_IN.sub(lambda m: "pub" + " " * (len(m.group(0)) - 3), crate.texts[f])
        crate.texts[f] = text
        inline = []
        for m in INLINE_MOD.finditer(text):
            inline.append((m.start(), block_end(text, m.end() - 1), m.group(1)))
        children = set(DECLARED_MOD.findall(text))
        crate.children[f] = children
        for m in re.finditer(r"#\s*\[\s*macro_export\s*\]\s*macro_rules!\s*(\w+)", text):
            crate.macros[m.group(1)] = f
        prepared[f] = (text, inline, children)

    def cur_of(f, inline, pos):
        return crate.modpath(f) + [name for (a, b, name) in inline if a < pos < b]

    uses = {}
    for f in crate.files:
        text, inline, children = prepared[f]
        crate.reexports[f], crate.globs[f] = {}, []
        uses[f] = []
        for m in USE.finditer(text):
            cur = cur_of(f, inline, m.start())
            for parts, alias in use_tree(m.group(2)):
                abs_ = absolute(parts, cur, children)
                if abs_ is None:
                    continue
                uses[f].append((m.start(), "::".join(parts), abs_))
                if m.group(1) and not [n for (a, b, n) in inline if a < m.start() < b]:
                    if parts[-1] == "*":
                        crate.globs[f].append(abs_[:-1])
                    else:
                        crate.reexports[f][alias or parts[-1]] = abs_
    edges = []
    for f in crate.files:
        text, inline, children = prepared[f]
        found = list(uses[f])
        no_uses = USE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
        for m in EXPR_PATH.finditer(no_uses):
            parts = [m.group(1)] + re.findall(r"\w+", m.group(2))
            abs_ = absolute(parts, cur_of(f, inline, m.start()), children)
            if abs_ is not None:
                found.append((m.start(), "::".join(parts), abs_))
        if children:
            rel = re.compile(r"(?<![\w:.])(%s)((?:\s*::\s*\w+)+)"
                             % "|".join(sorted(map(re.escape, children))))
            for m in rel.finditer(no_uses):
                parts = [m.group(1)] + re.findall(r"\w+", m.group(2))
                abs_ = absolute(parts, cur_of(f, inline, m.start()), children)
                if abs_ is not None:
                    found.append((m.start(), "::".join(parts), abs_))
        for pos, written, abs_ in sorted(found):
            t = crate.resolve(abs_, f)
            if t != f:
                line = text.count("\n", 0, pos) + 1
                edges.append((f, line, written, t))
    return edges


# ---------------------------------------------------------------- checks

def sccs(nodes, edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        work = [(v, iter(sorted(edges.get(v, ()))))]
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        while work:
            node, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[node] = min(low[node], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                out.append(comp)

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def a_cycle(comp, edges):
    """A shortest loop through the strongly connected `comp`, from its
    first node (by name) back to it."""
    members = set(comp)
    start = min(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges.get(v, ())):
            if w not in members:
                continue
            if w == start:
                loop = [v]
                while prev[loop[-1]] is not None:
                    loop.append(prev[loop[-1]])
                return list(reversed(loop)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start, start]


def check_cycles(crate, edges):
    problems = []
    graphs = {}  # parent module path -> {child: {child: [witness]}}
    for f, line, written, t in edges:
        mf, mt = crate.modpath(f), crate.modpath(t)
        n = 0
        while n < min(len(mf), len(mt)) and mf[n] == mt[n]:
            n += 1
        if n == len(mf) or n == len(mt):
            continue  # an ancestor or a descendant, not a sibling
        g = graphs.setdefault(tuple(mf[:n]), {})
        g.setdefault(mf[n], {}).setdefault(mt[n], []).append((f, line, written))
    for parent in sorted(graphs):
        g = graphs[parent]
        nodes = set(g) | {w for v in g.values() for w in v}
        for comp in sccs(nodes, g):
            if len(comp) < 2:
                continue
            loop = a_cycle(comp, g)
            where = os.path.join(crate.rel, "src", *parent)
            lines = ["%s: import cycle between sibling modules %s [rule: no import cycles "
                     "between sibling modules; the strongly connected set is {%s}]"
                     % (os.path.normpath(where), " -> ".join(loop), ", ".join(sorted(comp)))]
            for a, b in zip(loop, loop[1:]):
                f, line, written = g[a][b][0]
                more = len(g[a][b]) - 1
                lines.append("  %s:%d: imports `%s` (%s -> %s)%s"
                             % (crate.rel_file(f), line, written, a, b,
                                " and %d more import%s" % (more, "s" * (more > 1)) if more else ""))
            if VERBOSE:
                lines.append("  every import inside the set:")
                for a in sorted(comp):
                    for b in sorted(w for w in g.get(a, {}) if w in comp):
                        for f, line, written in g[a][b]:
                            lines.append("    %s:%d: `%s` (%s -> %s)"
                                         % (crate.rel_file(f), line, written, a, b))
            problems.append("\n".join(lines))
    return problems


def layer_of(crate, f, layers):
    rel = os.path.relpath(f, crate.src).split(os.sep)
    if rel == ["lib.rs"] or rel == ["main.rs"]:
        return TOP
    first = rel[0][:-3] if len(rel) == 1 else rel[0]
    return first if first in layers else None


def check_layers(crate, edges, layers):
    problems = []
    order = " < ".join(layers)
    rule = "layers of %s, lowest first: %s; imports point down or sideways" % (crate.rel, order)
    for layer in layers:
        if not (os.path.isdir(os.path.join(crate.src, layer))
                or os.path.isfile(os.path.join(crate.src, layer + ".rs"))):
            problems.append("%s: declared layer `%s` has no folder src/%s/ [rule: %s]"
                            % (crate.rel, layer, layer, rule))
    for f in crate.files:
        if layer_of(crate, f, layers) is None:
            problems.append("%s: not in a declared layer (%s) nor lib.rs/main.rs [rule: %s]"
                            % (crate.rel_file(f), ", ".join(layers), rule))
    for f, line, written, t in edges:
        lf, lt = layer_of(crate, f, layers), layer_of(crate, t, layers)
        if lf in (None, TOP) or lt is None:
            continue
        if lt == TOP:
            problems.append("%s:%d: imports `%s` from the crate root %s, above every layer "
                            "(file in layer `%s`) [rule: %s]"
                            % (crate.rel_file(f), line, written, crate.rel_file(t), lf, rule))
        elif layers.index(lt) > layers.index(lf):
            problems.append("%s:%d: imports `%s` (%s) from layer `%s`, above its own layer "
                            "`%s` [rule: %s]"
                            % (crate.rel_file(f), line, written, crate.rel_file(t), lt, lf, rule))
    return problems


def check_sizes(crate):
    problems = []
    for f in crate.files:
        with open(f, encoding="utf-8", errors="replace") as fh:
            n = sum(1 for _ in fh)
        if n > MAX_LINES:
            problems.append("%s: %d lines [rule: no source file over %d lines, tests.rs files "
                            "aside: one file, one job]" % (crate.rel_file(f), n, MAX_LINES))
    return problems


def main(argv):
    root, config = None, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--root" and args:
            root = args.pop(0)
        elif a == "--config" and args:
            config = args.pop(0)
        elif a == "--verbose":
            global VERBOSE
            VERBOSE = True
        else:
            fail_usage("usage: check-layers.sh [--root DIR] [--config FILE] [--verbose] | --self-test")
    root = os.path.abspath(root or os.path.join(os.environ["CHECK_LAYERS_HOME"], ".."))
    config = config or os.path.join(root, "scripts", "layers.toml")
    crates = []
    cdir = os.path.join(root, "crates")
    if os.path.isdir(cdir):
        crates += [os.path.join("crates", c) for c in sorted(os.listdir(cdir))
                   if os.path.isdir(os.path.join(cdir, c, "src"))]
    if os.path.isdir(os.path.join(root, "src")):
        crates.append(".")
    if not crates:
        fail_usage("%s: no crates/*/src and no src/" % root)
    conf = load_config(config, set(crates))
    problems, notes, summary = [], [], []
    for rel in crates:
        crate = Crate(root, rel)
        edges = scan(crate)
        found = check_cycles(crate, edges)
        layers, enforce = conf.get(rel, (None, False))
        if layers and enforce:
            found += check_layers(crate, edges, layers)
            state = "%d layers" % len(layers)
        elif layers:
            missing = [l for l in layers if not os.path.isdir(os.path.join(crate.src, l))]
            notes.append("%s: layers declared in %s but not enforced (enforce = false)%s"
                         % (rel, os.path.relpath(config, root),
                            "; every layer folder exists now: set enforce = true"
                            if not missing else ""))
            state = "layers not enforced"
        else:
            state = "no layers"
        found += check_sizes(crate)
        problems += found
        summary.append("%s: %d files, %d imports, %s%s"
                       % ("src" if rel == "." else rel, len(crate.files), len(edges), state,
                          ", %d problem%s" % (len(found), "s" * (len(found) > 1)) if found else ""))
    for n in notes:
        print("check-layers: note: " + n, file=sys.stderr)
    for p in problems:
        print(p, file=sys.stderr)
    print("check-layers: " + "; ".join(summary))
    if problems:
        print("check-layers: FAILED, %d problem%s (see above)"
              % (len(problems), "s" * (len(problems) > 1)), file=sys.stderr)
        return 1
    print("check-layers: ok")
    return 0


sys.exit(main(sys.argv[1:]))
PY
}

self_test() {
    local rc out failed=0
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    mk() { mkdir -p "$(dirname "$tmp/$1")"; cat >"$tmp/$1"; }
    expect() { # expect WHAT PATTERN: the output must match the regex
        if ! grep -Eq -- "$2" <<<"$out"; then
            echo "self-test: FAILED: $1 (no line matches: $2)" >&2
            failed=1
        fi
    }
    refuse() { # refuse WHAT PATTERN: the output must not match the regex
        if grep -Eq -- "$2" <<<"$out"; then
            echo "self-test: FAILED: $1 (a line matches: $2)" >&2
            failed=1
        fi
    }
    run_it() { rc=0; out=$(analyze --root "$tmp" 2>&1) || rc=$?; }

    # A crate with layers low < high: low imports high (upward), low's two
    # children import each other (a cycle), a file outside the layers, a
    # file over 600 lines; and imports that must NOT count: in comments,
    # strings, test modules and tests.rs.
    mk scripts/layers.toml <<'EOF'
# the fake crate's layers
["crates/fake"]
layers = ["low", "high"]
enforce = true
EOF
    mk crates/fake/src/lib.rs <<'EOF'
pub mod high;
pub mod low;
mod stray;
pub use low::Thing;
EOF
    mk crates/fake/src/low/mod.rs <<'EOF'
pub mod a;
pub mod b;
pub struct Thing;
pub fn up() -> crate::high::Top {
    todo!()
}
#[cfg(test)]
mod tests {
    use crate::high::Top;
}
#[cfg(test)]
mod support;
EOF
    mk crates/fake/src/low/a.rs <<'EOF'
use super::b::B;
// use crate::high::Top;
pub const NOTE: &str = "crate::high::Top";
pub struct A(pub u8);
pub fn b() -> B {
    B(A(0))
}
EOF
    mk crates/fake/src/low/b.rs <<'EOF'
pub const QUOTE: (char, &str) = ('"', r#"crate::high::Top "quoted""#);
pub(crate) use crate::low::a::A;
pub struct B(pub A);
EOF
    mk crates/fake/src/low/support.rs <<'EOF'
pub use crate::high::Top;
EOF
    mk crates/fake/src/low/tests.rs <<'EOF'
use crate::high::Top;
EOF
    mk crates/fake/src/high/mod.rs <<'EOF'
use crate::Thing;
mod big;
pub struct Top;
pub fn thing() -> Thing {
    crate::low::Thing
}
EOF
    for _ in $(seq 601); do echo "// filler"; done | mk crates/fake/src/high/big.rs
    mk crates/fake/src/stray.rs <<'EOF'
pub fn stray() {}
EOF
    # A crate without layers: its children import each other through a
    # re-export in lib.rs.
    mk crates/plain/src/lib.rs <<'EOF'
mod one;
mod two;
pub use two::Two;
EOF
    mk crates/plain/src/one.rs <<'EOF'
pub struct One(pub crate::Two);
EOF
    mk crates/plain/src/two.rs <<'EOF'
use crate::one::One;
pub struct Two;
pub fn one() -> Option<Box<One>> { None }
EOF

    run_it
    [[ $rc == 1 ]] || { echo "self-test: FAILED: exit code $rc, expected 1" >&2; failed=1; }
    expect "the upward import" 'crates/fake/src/low/mod\.rs:4: imports `crate::high::Top` .*from layer `high`, above its own layer `low`'
    expect "the cycle inside a layer" 'crates/fake/src/low: import cycle between sibling modules a -> b -> a'
    expect "the cycle's first import" 'crates/fake/src/low/a\.rs:1: imports `super::b::B` \(a -> b\)'
    expect "the cycle's import through pub(crate) use" 'crates/fake/src/low/b\.rs:2: imports `crate::low::a::A` \(b -> a\)'
    expect "the cycle through a re-export" 'crates/plain/src: import cycle between sibling modules one -> two -> one'
    expect "the file outside the layers" 'crates/fake/src/stray\.rs: not in a declared layer'
    expect "the big file" 'crates/fake/src/high/big\.rs: 601 lines'
    refuse "an import in a test module or file, a comment, a string or tests.rs" 'low/mod\.rs:(9|10|12)|low/a\.rs:[23]|low/b\.rs:1|low/(tests|support)\.rs'
    refuse "an import downwards or to the top" 'high/mod\.rs:[0-9]+: imports .*above'
    expect "the cycle the upward import closes" 'crates/fake/src: import cycle between sibling modules high -> low -> high'
    [[ $(grep -c 'above its own layer' <<<"$out") == 1 ]] ||
        { echo "self-test: FAILED: expected exactly one upward import" >&2; failed=1; }
    [[ $failed == 0 ]] || echo "$out" >&2

    # Layers declared, not enforced: cycles and sizes only.
    sed -i 's/enforce = true/enforce = false/' "$tmp/scripts/layers.toml"
    run_it
    expect "cycles still checked" 'import cycle between sibling modules a -> b -> a'
    expect "sizes still checked" 'big\.rs: 601 lines'
    expect "the note" 'note: crates/fake: layers declared .* not enforced'
    refuse "no layer rule" 'above its own layer|not in a declared layer'

    # Fixed: nothing to report.
    sed -i 's/enforce = false/enforce = true/' "$tmp/scripts/layers.toml"
    sed -i '4,6d' "$tmp/crates/fake/src/low/mod.rs"
    printf 'pub struct B(pub u8);\n' >"$tmp/crates/fake/src/low/b.rs"
    rm "$tmp/crates/fake/src/high/big.rs" "$tmp/crates/fake/src/stray.rs"
    sed -i '/mod big;/d' "$tmp/crates/fake/src/high/mod.rs"
    sed -i '/mod stray;/d' "$tmp/crates/fake/src/lib.rs"
    printf 'pub struct One;\n' >"$tmp/crates/plain/src/one.rs"
    run_it
    [[ $rc == 0 ]] || { echo "self-test: FAILED: the fixed tree: exit code $rc, expected 0" >&2; echo "$out" >&2; failed=1; }

    if [[ $failed == 0 ]]; then
        echo "check-layers self-test: ok"
    else
        return 1
    fi
}

export CHECK_LAYERS_HOME="$here"
if [[ ${1:-} == --self-test ]]; then
    self_test
else
    analyze "$@"
fi

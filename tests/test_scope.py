"""Names and scopes of a statement: what it always binds, may bind and reads."""

from __future__ import annotations

import ast

from nbtrack.exporting.scope import Context, _external_reads, _function_scope, _kills_and_conditional


def stmt(code: str) -> ast.stmt:
    return ast.parse(code).body[0]


def test_bindings_are_sure_or_conditional():
    assert _kills_and_conditional(stmt("a, (b, *c) = f()")) == ({"a", "b", "c"}, set())
    assert _kills_and_conditional(stmt("import numpy.random as npr, os.path")) == ({"npr", "os"}, set())
    assert _kills_and_conditional(stmt("x += 1")) == (set(), {"x"})
    assert _kills_and_conditional(stmt("if c:\n    y = 1\n    def g(): pass")) == (set(), {"y", "g"})
    assert _kills_and_conditional(stmt("for i in range(3):\n    z = i")) == ({"i", "z"}, set())
    assert _kills_and_conditional(stmt("for i in range(0):\n    z = i")) == (set(), {"i", "z"})
    assert _kills_and_conditional(stmt("ys = [v for v in xs]")) == ({"ys"}, set())


def test_reads_skip_what_the_block_bound_first():
    assert _external_reads(stmt("for x in xs:\n    t = x\n    u = t + k"), set(), None) == {"xs", "k"}
    assert _external_reads(stmt("with open(p) as f:\n    data = f.read()"), set(), None) == {"open", "p"}
    assert _external_reads(stmt("y = a + b"), {"a"}, None) == {"b"}


def test_function_scope_and_module_context():
    fn = stmt("def f(a, *rest, k=1):\n    global g\n    g = a\n    import json\n    return json.dumps(h)")
    assert isinstance(fn, ast.FunctionDef)
    loaded, local, declared = _function_scope(fn)
    assert {"h", "a", "json"} <= loaded and {"a", "rest", "k", "json"} <= local and declared == {"g"}
    assert "g" not in local
    ctx = Context()
    ctx.modules["np"] = "numpy"
    assert ctx.dotted("np", ["random", "seed"]) == "numpy.random.seed" and ctx.dotted("x", []) is None

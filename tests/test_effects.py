"""What calls and assignments change: mutations, global state, files."""

from __future__ import annotations

import ast

from nbtrack.exporting.effects import _changes, _files, file_key, looks_like_path, norm_path
from nbtrack.exporting.scope import Context


def nodes(code: str) -> list[ast.AST]:
    return list(ast.walk(ast.parse(code)))


def test_paths_are_told_from_other_strings():
    assert looks_like_path("data/train.csv") and looks_like_path("model.pkl")
    assert not looks_like_path("hello world") and not looks_like_path("https://x.org/a.csv")
    assert not looks_like_path("%d items") and not looks_like_path(".")
    assert norm_path(" ./data//a.csv") == "data/a.csv" and file_key("./a.csv") == "file:a.csv"


def test_mutations_and_global_state():
    ctx = Context()
    ctx.modules.update({"np": "numpy", "random": "random"})
    code = "np.random.seed(0)\nitems.append(1)\nd['k'] = 1\nos.environ['A'] = '1'\ntotal = sum(x)"
    changes = _changes(nodes(code), ctx)
    assert {"items", "d", "np"} <= changes.mutated and "x" not in changes.mutated
    assert "sets a random seed (numpy.random.seed)" in changes.effects
    assert "sets environment variables" in changes.effects
    assert changes.rng_kills == {"rng:numpy"}
    draws = _changes(nodes("v = random.random()\nw = df.head()"), ctx)
    assert draws.rng_uses == {"rng:random"} and "df" not in draws.mutated


def test_files_read_and_written():
    ctx = Context()
    ctx.modules["pd"] = "pandas"
    tree = ast.parse("df = pd.read_csv('in.csv')\ndf.to_csv('out.csv')\nopen('log.txt', 'a')")
    all_nodes = list(ast.walk(tree))
    parents = {child: node for node in all_nodes for child in ast.iter_child_nodes(node)}
    reads, writes = _files(all_nodes, parents, ctx)
    assert reads == {"in.csv"} and writes == {"out.csv", "log.txt"}

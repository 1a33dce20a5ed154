"""The alias analysis (exporting/aliases.py): which named objects a value may be, and mutations through
aliases and loop targets counted for the originals, in the slice of a history."""

from __future__ import annotations

import ast

from nbtrack.exporting.aliases import bindings, expand, rebind, value_roots
from nbtrack.exporting.defuse import analyze_history, build_context
from nbtrack.exporting.slicing import slice_history


def roots(expr: str, *defs: str) -> set[str]:
    ctx = build_context([ast.parse(d) for d in ("import numpy as np", *defs)])
    return value_roots(ast.parse(expr, mode="eval").body, ctx)


def cut(*cells: str) -> list[int]:
    return slice_history(analyze_history(list(cells)), len(cells) - 1).kept


def test_value_roots_follow_names_parts_and_containers():
    assert roots("df") == {"df"}
    assert roots("d['k'].attr[0]") == {"d"}
    assert roots("(a, [b, c])") == {"a", "b", "c"}
    assert roots("a if flag else b") == {"a", "b"}
    assert roots("a or b") == {"a", "b"}
    assert roots("{'x': a}") == {"a"}
    assert roots("a + b") == set() and roots("[v for v in a]") == set() and roots("3") == set()


def test_call_results_are_fresh_unless_they_may_be_the_receiver_or_a_returned_object():
    assert roots("model.fit(X)") == {"model"}  # fit returns self
    assert roots("df.copy()") == set() and roots("df.dropna()") == set()
    assert roots("df.dropna(inplace=True)") == {"df"}
    assert roots("scaler.fit_transform(X)") == set() and roots("items.append(1)") == set()  # new data, None
    assert roots("a.reshape(2, 3)") == {"a"}  # a view reaches into a
    assert roots("np.asarray(x)") == set() and roots("np.random.default_rng(0)") == set()
    assert roots("np") == set()  # modules are not data
    assert roots("make_model(3)", "def make_model(k):\n    return Ridge(k)") == set()
    assert roots("ident(df)", "def ident(v):\n    return v") == {"df"}
    assert roots("get()", "def get():\n    return MODEL") == {"MODEL"}
    assert roots("via(df)", "def via(v):\n    w = v\n    return w") == {"df"}


def test_bindings_of_assignments_loops_and_unpacking():
    assert bindings(ast.parse("x = df")) == {"x": {"df"}}
    assert bindings(ast.parse("for s in (train, test):\n    pass")) == {"s": {"train", "test"}}
    assert bindings(ast.parse("for k, v in models.items():\n    pass")) == {"k": {"models"}, "v": {"models"}}
    assert bindings(ast.parse("for a, b in zip(xs, ys):\n    pass")) == {"a": {"xs", "ys"}, "b": {"xs", "ys"}}
    assert bindings(ast.parse("p, q = a, b")) == {"p": {"a"}, "q": {"b"}}
    assert bindings(ast.parse("x = df.copy()")) == {}
    assert bindings(ast.parse("for i in range(10):\n    pass")) == {}


def test_expand_goes_forward_then_backward_but_not_forward_again():
    aliases = {"s": {"train", "test"}, "x": {"df"}}
    assert expand({"s"}, aliases) == {"s", "train", "test"}
    assert expand({"df"}, aliases) == {"df", "x"}
    assert expand({"train"}, aliases) == {"train", "s"}  # test is another object


def test_rebinding_a_name_ends_its_aliases():
    aliases = {"x": {"df"}, "y": {"x"}}
    rebind(aliases, {"x"}, {})
    assert aliases == {}
    aliases = {"x": {"df"}}
    rebind(aliases, {"x"}, {"x": {"other"}})
    assert aliases == {"x": {"other"}}


# in the slice of a history -----------------------------------------------------------------------------


FRAMES = "import pandas as pd\ntrain = pd.DataFrame({'x': [1], 'y': [2]})\ntest = pd.DataFrame({'x': [3], 'y': [4]})"


def test_mutation_through_a_loop_target_mutates_every_object_iterated():
    loop = "for s in (train, test):\n    s.drop('x', axis=1, inplace=True)"
    assert cut(FRAMES, loop, "n = 1", "r = test.shape") == [0, 1, 3]
    assert cut(FRAMES, "for s in [train, test]:\n    s['z'] = 0", "r = train.shape") == [0, 1, 2]
    assert cut(FRAMES, "[s.fillna(0, inplace=True) for s in (train, test)]", "r = train") == [0, 1, 2]


def test_mutation_through_an_alias_in_the_same_or_a_later_cell():
    assert cut("d = {}", "x = d\nx['k'] = 1", "r = d") == [0, 1, 2]
    assert cut("d = {}", "x = d", "other = 2", "x['k'] = 1", "r = d") == [0, 1, 3, 4]
    assert cut("lst = []", "y = lst", "y.append(1)", "r = len(lst)") == [0, 1, 2, 3]
    assert cut("class C: pass\nobj = C()", "a = obj", "setattr(a, 'w', 1)", "r = obj.w") == [0, 1, 2, 3]
    assert cut("class C: pass\nobj = C()", "a = obj", "a.w = 1", "r = obj.w") == [0, 1, 2, 3]
    assert cut("d = {'a': []}", "x = d['a']", "x.append(1)", "r = d") == [0, 1, 2, 3]
    assert cut("lst = [1]", "y = lst", "y += [2]", "r = lst") == [0, 1, 2, 3]
    # mutating the original changes what the alias reads
    assert cut("d = {}", "x = d", "d['k'] = 1", "r = x") == [0, 1, 2, 3]


def test_a_rebound_alias_no_longer_reaches_the_original():
    assert cut("d = {}", "x = d", "x = {}", "x['k'] = 1", "r = d") == [0, 4]
    assert cut("d = {}", "x = d.copy()", "x['k'] = 1", "r = d") == [0, 3]


def test_functions_mutating_through_a_local_alias_or_an_argument_part():
    helper = "def scrub(frame):\n    f = frame\n    f.drop('x', axis=1, inplace=True)"
    assert cut(FRAMES, helper, "scrub(train)", "r = train") == [0, 1, 2, 3]
    assert cut("d = {'a': []}", "def push(v):\n    v.append(1)", "push(d['a'])", "r = d") == [0, 1, 2, 3]
    assert cut("M = {}", "def get():\n    return M", "get().update(a=1)", "r = M") == [0, 1, 2, 3]


def test_a_call_chain_rooted_at_a_helper_mutates_nothing_named():
    cells = (
        "import numpy as np",
        "def make_model(k):\n    return np.poly1d([k])",
        "X = 1",
        "make_model(3).fit(X).predict(X)",
        "import matplotlib.pyplot as plt\nplt.plot(make_model(2)(X))",
        "r = make_model(1)(X)",
    )
    assert cut(*cells) == [0, 1, 2, 5]

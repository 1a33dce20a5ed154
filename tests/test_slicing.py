"""Unit tests of the def-use slicing of an execution history (cells translated to Python first)."""

from __future__ import annotations

from nbtrack.exporting.defuse import analyze_history
from nbtrack.exporting.magics_to_python import translate
from nbtrack.exporting.slicing import origin_files, slice_history


def cut(*cells: str, external: tuple[str, ...] = ()) -> tuple[list[int], dict[int, str]]:
    """Slice a history whose last cell is the tracked one; returns (kept, omitted reasons)."""
    codes = [translate(c).code for c in cells]
    facts = analyze_history(codes)
    result = slice_history(facts, len(cells) - 1, external_files=external)
    return result.kept, result.omitted


# def-use ------------------------------------------------------------------------------------------------


def test_later_definition_shadows_earlier_one():
    kept, omitted = cut("x = 1", "x = 2", "y = 3", "print(x)")
    assert kept == [1, 3]
    assert "x redefined by #2" in omitted[0]
    assert "does not use" in omitted[2]


def test_unused_import_is_dropped_and_used_import_kept():
    kept, _ = cut("import json", "import math as m", "r = m.sqrt(2)")
    assert kept == [1, 2]


def test_conditional_definition_keeps_the_earlier_one_too():
    kept, _ = cut("x = 1", "flag = True", "if flag:\n    x = 2", "y = x + 1")
    assert kept == [0, 1, 2, 3]


def test_subscript_and_attribute_assignment_are_mutations():
    kept, _ = cut("d = {}", "d['a'] = 1", "other = 5", "class C: pass\nobj = C()", "obj.w = 3", "r = d, obj")
    assert kept == [0, 1, 3, 4, 5]


def test_method_calls_mutate_unless_known_pure():
    kept, _ = cut("items = [3, 1]", "items.append(2)", "items.copy()", "n = len(items)")
    assert kept == [0, 1, 3]
    kept, _ = cut(
        "import pandas as pd\ndf = pd.DataFrame({'a': [1]})", "df.head()", "df.fillna(0, inplace=True)", "s = df.sum()"
    )
    assert kept == [0, 2, 3]


def test_function_mutating_its_parameter_mutates_the_argument():
    kept, _ = cut("def add(seq):\n    seq.append(1)", "items = []", "add(items)", "n = len(items)")
    assert kept == [0, 1, 2, 3]
    kept, _ = cut("def total(seq):\n    return sum(seq)", "items = [1]", "t = total(items)", "n = len(items)")
    assert kept == [1, 3]


def test_global_statement_in_a_called_function_defines_the_global():
    kept, _ = cut("counter = 0", "def bump():\n    global counter\n    counter += 1", "bump()", "r = counter")
    assert kept == [0, 1, 2, 3]


def test_function_globals_resolve_where_it_is_called():
    # f reads `a` when called: the tracked cell's call sees a = 10, the earlier call saw a = 1
    cells = ("def f():\n    return a * 2", "a = 1", "y = f()", "a = 10", "unused = 0", "r = (y, f())")
    kept, _ = cut(*cells)
    assert kept == [0, 1, 2, 3, 5]
    kept, _ = cut("def f():\n    return a * 2", "a = 1", "a = 10", "r = f()")
    assert kept == [0, 2, 3]


def test_helper_redefined_later_keeps_both_versions_when_both_matter():
    cells = (
        "def helper(v):\n    return v + 1",
        "x = helper(1)",
        "def helper(v):\n    return v * 100",
        "r = x + helper(2)",
    )
    kept, _ = cut(*cells)
    assert kept == [0, 1, 2, 3]
    kept, omitted = cut("def helper(v):\n    return v + 1", "def helper(v):\n    return v * 100", "r = helper(2)")
    assert kept == [1, 2]
    assert "helper redefined" in omitted[0]


def test_class_methods_read_globals_when_called():
    kept, _ = cut("SCALE = 3", "class M:\n    def go(self):\n        return SCALE", "r = M().go()")
    assert kept == [0, 1, 2]


def test_functions_defined_and_called_in_one_cell_need_their_globals():
    kept, _ = cut("import math", "def f(v):\n    return math.sqrt(v)\ny = f(4)", "r = y")
    assert kept == [0, 1, 2]


def test_star_import_exec_and_globals_are_kept_when_unsure():
    assert cut("from math import *", "r = sqrt(2)")[0] == [0, 1]
    assert cut("x = 1", "exec('x = 2')", "r = x")[0] == [0, 1, 2]
    assert cut("x = 1", "globals()['x'] = 2", "r = x")[0] == [0, 1, 2]


def test_invalid_cells_are_dropped_with_their_reason():
    kept, omitted = cut("x = = 1", "x = 1", "r = x")
    assert kept == [1, 2]
    assert "SyntaxError" in omitted[0]


# files and global state --------------------------------------------------------------------------------


def test_files_written_then_read_are_dependencies_unless_inputs_of_the_export():
    write = "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('tmp.csv')"
    read = "df = pd.read_csv('tmp.csv')"
    kept, _ = cut(write, read, "r = df")
    assert kept == [0, 1, 2]
    kept, omitted = cut(
        "import pandas as pd", "pd.DataFrame({'a': [1]}).to_csv('tmp.csv')", read, "r = df", external=("tmp.csv",)
    )
    assert kept == [0, 2, 3]
    assert omitted[1] == "writes tmp.csv, an input of this export: produce it upstream"


def test_file_paths_held_in_variables_and_writefile_and_shell():
    kept, _ = cut("PATH = 'out/data.txt'", "open(PATH, 'w').write('1')", "n = 5", "v = open(PATH).read()")
    assert kept == [0, 1, 3]
    kept, _ = cut("%%writefile cfg.json\n{}", "import json\ncfg = json.load(open('cfg.json'))", "r = cfg")
    assert kept == [0, 1, 2]
    kept, _ = cut("!mkdir -p outdir && echo 1 > outdir/v.txt", "!echo unrelated", "v = open('outdir/v.txt').read()")
    assert kept == [0, 2]


def test_seeds_and_draws_from_the_seeded_global_generator_are_kept():
    cells = (
        "import numpy as np",
        "np.random.seed(0)",
        "peek = np.random.rand(3)",
        "other = 1",
        "r = np.random.rand(2)",
    )
    kept, _ = cut(*cells)
    assert kept == [0, 1, 2, 4]
    # without a seed, the order of draws never made the run reproducible: nothing is kept for it
    kept, _ = cut("import numpy as np", "peek = np.random.rand(3)", "r = np.random.rand(2)")
    assert kept == [0, 2]
    # a private generator is not the global one
    kept, _ = cut("import numpy as np", "np.random.seed(1)", "g = np.random.default_rng(0)", "r = 1")
    assert kept == [0, 1, 3]


def test_seeding_through_a_helper_function_is_kept():
    cells = ("import random", "def seed_all(s):\n    random.seed(s)", "seed_all(3)", "r = 1")
    assert cut(*cells)[0] == [0, 1, 2, 3]


def test_working_directory_environment_and_import_path_changes_are_kept():
    kept, _ = cut(
        "import os", "os.chdir('/')", "os.environ['A'] = '1'", "import sys\nsys.path.append('lib')", "n = 3", "r = 1"
    )
    assert kept == [0, 1, 2, 3, 5]


def test_origin_files_follow_the_value_back_to_the_file_it_was_read_from():
    codes = [
        "import pandas as pd",
        "raw = pd.read_csv('a.csv')",
        "df = raw.dropna()",
        "DATA = 'b.csv'",
        "other = pd.read_csv(DATA)",
        "r = (df, other)",
    ]
    facts = analyze_history(codes)
    assert origin_files(facts, "df", 5) == {"a.csv"}
    assert origin_files(facts, "other", 5) == {"b.csv"}
    assert origin_files(facts, "pd", 5) == set()


def test_a_500_cell_history_keeps_only_the_chain_the_run_reads():  # its time: bench/bench_export.py
    cells = ["import numpy as np"]
    for i in range(498):
        cells.append(f"v{i} = v{i - 1} + 1" if i % 7 else f"v{i} = np.arange({i}).sum()")
    cells.append("r = v497 + v3")
    kept, _ = cut(*cells)
    assert kept == [0, 1, 2, 3, 4, 498, 499]  # the import, v0..v3, v497 (a multiple of 7), the tracked cell


def test_a_loop_over_a_nonempty_range_always_binds_its_body_names():
    train = "steps = 50\nfor _ in range(steps):\n    p = 1\nacc = p"
    kept, omitted = cut("p = 0", train.replace("50", "5"), train)
    assert kept == [2]
    assert omitted[0] == "the run does not use what it defines (p)"
    # an empty or unknown range may not run: the earlier binding stays a dependency
    assert cut("p = 0", "n = int('3')\nfor _ in range(n):\n    p = 1\nacc = p")[0] == [0, 1]
    assert cut("p = 0", "for _ in range(0):\n    p = 1\nacc = p")[0] == [0, 1]


def test_names_bound_then_read_inside_a_block_are_not_inputs():
    assert cut("p = 0", "for i in range(3):\n    p = i\n    q = p")[0] == [1]
    assert cut("p = 0", "if True:\n    p = 1\n    q = p")[0] == [1]
    assert cut("p = 0", "for i in range(3):\n    q = p\n    p = i")[0] == [0, 1]  # read before the body binds it
    assert cut("e = 0", "try:\n    pass\nexcept Exception as e:\n    print(e)")[0] == [1]


def test_plotting_a_frame_does_not_change_it():
    assert cut("import pandas as pd\ndf = pd.DataFrame({'x': [1]})", "ax = df.plot.scatter(x='x', y='x')", "r = df")[
        0
    ] == [0, 2]


def test_origin_files_follow_names_bound_earlier_in_the_same_cell():
    facts = analyze_history(
        ["import pandas as pd", "df = pd.read_csv('m.csv')\ntrain, valid = df.iloc[:3], df.iloc[3:]", "r = train"]
    )
    assert origin_files(facts, "train", 2) == {"m.csv"}


# reasons that are true of the execution order ---------------------------------------------------------------


def test_a_redefinition_after_the_only_use_is_not_called_shadowed():
    # In[3] rebinds pca after In[2], the only cell that read it: "redefined before the run uses it" would be false
    kept, omitted = cut("pca = 2", "Xp = pca * 3", "pca = 10", "r = Xp")
    assert kept == [0, 1, 3]
    assert omitted[2] == "ran after the last use of pca (by #2): nothing later reads it"
    kept, omitted = cut("pca = 2", "pca = 10", "Xp = pca * 3", "r = Xp")
    assert omitted[0] == "pca redefined by #2 before the run uses it"


def test_every_redefined_reason_names_a_later_cell_that_rebinds_before_a_later_use():
    import random
    import re

    rnd = random.Random(7)
    for _ in range(200):
        cells = [f"{rnd.choice('abc')} = {rnd.choice('abc')} if False else {n}" for n in range(8)]
        cells.append("r = (a, b, c)")
        facts = analyze_history(cells)
        result = slice_history(facts, len(cells) - 1, label={i: f"#{i + 1}" for i in range(len(cells))})
        for i, reason in result.omitted.items():
            match = re.fullmatch(r"(\w) redefined by #(\d+) before the run uses it", reason)
            if match:
                name, j = match.group(1), int(match.group(2)) - 1
                assert i < j and name in facts[j].kills
                assert any(name in facts[k].uses for k in [*result.kept] if k > j)

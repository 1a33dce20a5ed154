"""nbtrack.analysis.celldiff: two lists of cell sources aligned cell by cell, and how each change reads."""

from __future__ import annotations

from nbtrack.analysis.celldiff import _cell_html, _cell_text, cell_diff


def test_cell_diff_aligns_cells():
    a = ["import numpy as np", "x = 1\ny = 2", "print(x)", "old = True"]
    b = ["import numpy as np   ", "x = 1\ny = 3", "brand new", "print(x)"]
    changes = cell_diff(a, b)
    kinds = [(c.kind, c.a_index, c.b_index) for c in changes]
    # trailing whitespace is not a change; the edited cell is one change, not a shifted wall of lines
    assert kinds == [("same", 0, 0), ("changed", 1, 1), ("added", None, 2), ("same", 2, 3), ("removed", 3, None)]
    assert changes[1].lines == ["@@ -1,2 +1,2 @@", " x = 1", "-y = 2", "+y = 3"]
    assert cell_diff(["a = 1"], ["a = 1"])[0].kind == "same"
    # a cell replaced by a completely different one is still shown as an edit of that cell
    assert [c.kind for c in cell_diff(["p = 1"], ["zzz"])] == ["changed"]


def test_changes_read_as_text_and_escaped_html():
    same, changed, added = cell_diff(["a = 1", "b = 1"], ["a = 1", "b = 2", "<script>x</script>"])
    assert _cell_text(same) == ["= 1 unchanged cell"]
    assert _cell_text(changed)[0] == "~ cell A[1] -> B[1]:" and "    +b = 2" in _cell_text(changed)
    assert _cell_text(added) == ["+ cell B[2]:", "    + <script>x</script>"]
    page = _cell_html(added)
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page


def test_line_marks_say_which_lines_each_side_changed():
    from nbtrack.analysis.celldiff import line_marks

    a = "import x\nlr = 0.1\nfit(lr)\n"
    b = "import x\nlr = 0.3\nfit(lr)\nprint(lr)\n"
    assert line_marks(a, b) == ([1], [1, 3])
    assert line_marks(None, "a\nb") == ([], [0, 1])  # an added cell: every line added
    (change,) = cell_diff([a], [b])
    assert change.to_dict()["a_removed"] == [1] and change.to_dict()["b_added"] == [1, 3]

"""exporting/readable.py: display-only expressions left out of a script, kept cells as ranges, one line per
omitted cell."""

from __future__ import annotations

from nbtrack.exporting.plan import Omitted
from nbtrack.exporting.readable import label_ranges, omission_lines, without_displays


def test_display_only_expressions_are_left_out():
    assert without_displays("df = load()\ndf.head()\n") == "df = load()\n"
    assert without_displays("model\n") == "pass\n"
    assert without_displays("x = 1\nX.shape\nlen(X), X[0] + 1\ny = 2\n") == "x = 1\ny = 2\n"
    assert without_displays("df.describe(\n    include='all'\n)\nz = 3\n") == "z = 3\n"


def test_expressions_that_may_have_effects_stay():
    for code in (
        "plt.show()\n",
        "print(x)\n",
        "df.sample(3)\n",  # draws from a generator
        "train(model)\n",
        "df.dropna(inplace=True)\n",
        "sum(gen)\n",  # consumes an iterator
        "requests.get(url)\n",
        "(y := 3)\n",
        "x = 1; x\n",  # shares its line with a statement
        "'''A docstring-like first line.'''\nx = 1\n",
    ):
        assert without_displays(code) == code, code


def test_kept_labels_as_ranges_and_one_line_per_omitted_cell():
    assert label_ranges(["In[1]", "In[2]", "In[3]", "In[5]", "In[7]", "In[8]"]) == "In[1]-In[3], In[5], In[7]-In[8]"
    assert label_ranges(["In[4]"]) == "In[4]" and label_ranges([]) == ""
    omitted = [Omitted(index=1, label="In[2]", first_line="unused = 42", reason="not needed", suspicion=1)]
    assert omission_lines(omitted) == ["  In[2]  unused = 42  -> not needed"]
    label, first, reason = omitted[0]  # unpacks as the tuple earlier releases had
    assert (label, first, reason) == ("In[2]", "unused = 42", "not needed")

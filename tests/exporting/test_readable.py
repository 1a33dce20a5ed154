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


def test_a_warning_at_run_time_points_at_the_scripts_own_line(store_dir, tmp_path):
    import os
    import re
    import subprocess
    import sys

    import nbtrack
    from nbtrack.capture.lifecycle import ActiveRun
    from nbtrack.data.fingerprint import ALGORITHM
    from nbtrack.exporting.plan import plan_export
    from nbtrack.exporting.render import render_script
    from nbtrack.store.local import get_store

    history = ["import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})", "%%track -n warns -m n\nn = float(len(df))"]
    store = get_store(store_dir)
    run = ActiveRun(store, name="warns", experiment="unit", source="magic")
    run.data["df"] = {"kind": "dataframe", "hash": "0" * 32, "algorithm": ALGORITHM}  # not what the script sees
    run.attach_cell(history[-1].split("\n", 1)[1], history=history, execution_count=2)
    run.start()
    run.finish()
    script = tmp_path / "warns.py"
    script.write_text(render_script(plan_export(nbtrack.get_run(run.id, store=store))))
    env = {**os.environ, "NBTRACK_DIR": str(tmp_path / "store2")}
    proc = subprocess.run(
        [sys.executable, str(script), "--allow-data-change"], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    where = re.search(rf"{re.escape(str(script))}:(\d+): NbtrackWarning: nbtrack: df \(computed", proc.stderr)
    assert where is not None, proc.stderr
    assert "start_run(" in script.read_text().splitlines()[int(where.group(1)) - 1]

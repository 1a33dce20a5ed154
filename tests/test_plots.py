"""nbtrack.analysis.plots: every plot kind returns a Figure, and pyplot's global state is never touched."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from compare_helpers import record_runs

from nbtrack.analysis.comparison import compare

# runs from the store -------------------------------------------------------------------------------------------


# plots ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["box", "diff", "curves", "parallel", "matrix"])
def test_plots_return_figures(store_dir, kind, tmp_path):
    record_runs()
    cmp = compare("exp", metric="acc")
    fig = cmp.plot(kind)
    from matplotlib.figure import Figure

    assert isinstance(fig, Figure) and fig.axes
    fig.savefig(tmp_path / f"{kind}.png")
    assert (tmp_path / f"{kind}.png").read_bytes()[:4] == b"\x89PNG"
    if kind == "curves":
        lines = [line for line in fig.axes[0].get_lines() if line.get_label().startswith("lr=")]
        assert len(lines) == 2 and list(lines[0].get_xdata()) == [0, 1, 2]
    with pytest.raises(ValueError, match="several data sets"):
        cmp.plot("cd")


def test_plots_do_not_touch_pyplot():
    code = (
        "import sys, numpy as np, pandas as pd; from nbtrack.analysis.comparison import compare; "
        "f = pd.DataFrame({'run_id': list('abcdef'), 'params.m': [1, 1, 1, 2, 2, 2], "
        "'metrics.acc': [0.1, 0.2, 0.3, 0.3, 0.4, 0.5]}); c = compare(f, metric='acc'); "
        "[c.plot(k) for k in ('box', 'diff', 'parallel', 'matrix')]; "
        "print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_matrix_plot_reads_as_the_pairs_table():
    import pandas as pd

    rng = np.random.default_rng(3)
    rows = [
        {"run_id": f"{c}{i}", "params.cfg": c, "metrics.loss": v}
        for c, mu in (("a", 0.3), ("b", 0.2), ("c", 0.25))
        for i, v in enumerate([*rng.normal(mu, 0.02, 5), np.inf if c == "c" else mu])
    ]
    cmp = compare(pd.DataFrame(rows), metric="loss")
    fig = cmp.plot("matrix")
    image = fig.axes[0].images[0].get_array()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ref = labels.index(cmp.pairs.reference.iloc[0])
    for row in cmp.pairs.itertuples():
        assert image[labels.index(row.group), ref] == pytest.approx(row.p_better)
    assert "better" in fig.axes[0].get_title()

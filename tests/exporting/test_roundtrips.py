"""Real-kernel round trips of the slicing failure classes of issue 13: a notebook executed with nbclient, its
tracked run exported, the script executed in a fresh interpreter, the metrics compared.

One notebook holds them all (one kernel on a shared machine): a column dropped through a loop target,
a column zeroed and a feature removed through aliases, a helper whose call chain feeds an unrelated plot,
a cell that raised before changing anything and one that raised after binding a name, and a PCA rebound
after its only use. Each, sliced wrong, changes the metric, crashes the script or states a false reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from kernel_helpers import KERNEL_TIMEOUT, code, new_session

import nbtrack
from nbtrack.exporting.plan import plan_export

CELLS = [
    "%load_ext nbtrack\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
    "from sklearn.datasets import load_diabetes\nfrom sklearn.decomposition import PCA\n"
    "from sklearn.linear_model import Ridge",
    "data = load_diabetes(as_frame=True).frame\ntrain, test = data.iloc[:300].copy(), data.iloc[300:].copy()\n"
    "train.head()",
    "for s in (train, test):\n    s.drop('bmi', axis=1, inplace=True)",  # In[3]: the loop target mutates both
    "frame = test\nframe['s1'] = frame['s1'] * 0\nfeatures = [c for c in train.columns if c != 'target']\n"
    "cols = features\ncols.remove('s2')",  # In[4]: through aliases
    "def make_model(alpha):\n    return Ridge(alpha=alpha)",
    "pred = make_model(3).fit(train[features], train['target']).predict(test[features])\n"
    "plt.plot(pred)\nplt.savefig('pred.png')",  # In[6]: a plot: the chain's root is a fresh model
    "train.drop(columns=['nope'], inplace=True)",  # In[7]: raises KeyError, changes nothing
    "alpha_scale = 0.5\nundefined_helper()",  # In[8]: binds alpha_scale, then raises NameError
    "pca = PCA(3)",
    "Z = pca.fit_transform(train[features])",  # In[10]: the only use of pca
    "pca = PCA(5)",  # In[11]: after it; "pca redefined before the run uses it" would be false
    "%%track -n chain -m r2\nalpha = 1.0\n"
    "model = make_model(alpha * alpha_scale).fit(train[features], train['target'])\n"
    "r2 = float(model.score(test[features], test['target'])) + Z.shape[1]",
]
RAISES = {6, 7}


def run_script(script: Path, cwd: Path, store: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NBTRACK_DIR": str(store)}
    for var in ("NBTRACK_EXPERIMENT", "JPY_SESSION_NAME"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, str(script)], cwd=cwd, env=env, capture_output=True, text=True, timeout=KERNEL_TIMEOUT
    )


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slicing")
    cells = [code(c, tags=["raises-exception"] if i in RAISES else ()) for i, c in enumerate(CELLS)]
    session = new_session(folder, cells, name="slicing.ipynb")
    session.execute_all()
    (run,) = session.run_named("chain")
    yield folder, session.store_dir, run
    session.close()


@pytest.mark.kernel
def test_the_kernel_recorded_which_cells_raised(chain):
    _, _, run = chain
    assert [(f["index"], f["error"], f.get("line")) for f in run.history_failed] == [
        (6, "KeyError", 1),
        (7, "NameError", 2),
    ]


@pytest.mark.kernel
def test_every_failure_class_round_trips_to_the_same_metric(chain, tmp_path):
    folder, store, run = chain
    script = nbtrack.export(run, path=tmp_path / "chain.py")
    proc = run_script(script, folder, store)
    assert proc.returncode == 0, proc.stderr[-3000:] + script.read_text()
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == run.metrics, script.read_text()
    assert "differs from the input" not in proc.stderr  # train and test are the frames the run saw
    text = script.read_text().split("# Omitted cells")[0]  # the code, without the list of omitted cells
    assert "for s in (train, test):" in text and "frame['s1'] = frame['s1'] * 0" in text
    assert "cols.remove('s2')" in text
    assert "alpha_scale = 0.5" in text and "undefined_helper()" not in text
    assert "columns=['nope']" not in text
    assert "train.head()" not in text  # a display-only expression


@pytest.mark.kernel
def test_the_plan_omits_the_plot_and_the_failed_cell_and_gives_true_reasons(chain):
    _, _, run = chain
    plan = plan_export(run)
    assert [c.label for c in plan.cells] == [f"In[{n}]" for n in (1, 2, 3, 4, 5, 8, 9, 10, 12)]
    reasons = {o.label: o.reason for o in plan.omitted}
    assert reasons["In[6]"].startswith("the run does not use what it defines")  # not "defines make_model"
    assert reasons["In[7]"] == "raised KeyError in the kernel before it defined anything"
    assert reasons["In[11]"] == "ran after the last use of pca (by In[10]): nothing later reads it"
    # the plot and the rebinding are suspects a verifier may add back; the failed cell is not
    assert [o.label for o in plan.suspects][:1] == ["In[6]"]
    widened = plan_export(run, include={5})
    assert "In[6]" in [c.label for c in widened.cells] and widened.included == [5]

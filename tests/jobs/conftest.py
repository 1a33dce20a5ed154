"""A real notebook, run once per test session in a real kernel: small scikit-learn fits tracked with %%track.

Experiment ``clear``: ``shuffle=False`` against ``shuffle=True`` (the labels of the training half permuted, so
accuracy falls to chance): a difference any test decides quickly. Experiment ``equal``: ``variant='a'`` against
``'b'``, where the variant only moves the train/test split: equal in distribution, never decided quickly.
Three seeds of each, as a data scientist would start. Experiment ``crash``: one group whose script is
killed (a marker file ``kill-<seed>`` in the folder, removed on use) or fails (``fail-<seed>``). Experiment
``noisy``: unseeded randomness, so its export is unverified. Each test gets its own copy of the store (the runs'
working directory, where the scripts run, is the notebook's folder, shared read-only).
"""

from __future__ import annotations

import shutil

import pytest
from kernel_helpers import code, new_session

from nbtrack.store import local as store_mod

SETUP = (
    "%load_ext nbtrack\nimport numpy as np\nfrom sklearn.datasets import make_classification\n"
    "from sklearn.linear_model import LogisticRegression\nfrom sklearn.model_selection import train_test_split"
)
DATA = "X, y = make_classification(n_samples=300, n_features=8, n_informative=4, random_state=0)"
CLEAR = """%%track -n fit -e clear -m acc
C = 1.0
shuffle = {shuffle}
seed = {seed}
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=seed)
if shuffle:
    ytr = np.random.default_rng(seed).permutation(ytr)
acc = float(LogisticRegression(C=C).fit(Xtr, ytr).score(Xte, yte))"""
EQUAL = """%%track -n fit -e equal -m acc
variant = {variant!r}
seed = {seed}
split = 2 * seed + (variant == 'b')
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.5, random_state=split)
acc = float(LogisticRegression().fit(Xtr, ytr).score(Xte, yte))"""
CRASH = """%%track -n crashy -e crash -m acc
seed = {seed}
import os, signal
if os.path.exists(f'kill-{{seed}}'):
    os.remove(f'kill-{{seed}}')
    os.kill(os.getpid(), signal.SIGKILL)
if os.path.exists(f'fail-{{seed}}'):
    raise RuntimeError(f'boom: seed {{seed}}')
acc = 0.5 + seed / 1000"""
NOISY = """%%track -n noisy -e noisy -m acc
seed = {seed}
acc = float(np.random.rand())"""


def cells() -> list:
    out = [code(SETUP), code(DATA)]
    out += [code(CLEAR.format(shuffle=s, seed=i)) for s in (False, True) for i in range(3)]
    out += [code(EQUAL.format(variant=v, seed=i)) for v in ("a", "b") for i in range(3)]
    out += [code(CRASH.format(seed=i)) for i in range(3)]
    out += [code(NOISY.format(seed=i)) for i in range(2)]
    return out


@pytest.fixture(scope="session")
def book(tmp_path_factory):
    """(notebook folder, its store) after one real kernel ran the notebook."""
    folder = tmp_path_factory.mktemp("book")
    session = new_session(folder, cells(), name="seeds.ipynb")
    session.execute_all()
    session.close()
    return folder, session.store_dir


@pytest.fixture
def store(book, tmp_path, store_dir):
    """A private copy of the notebook's store, as this process's default store."""
    import nbtrack

    path = tmp_path / "copy" / ".nbtrack"
    shutil.copytree(book[1], path)
    store_mod._stores.pop(path.absolute(), None)
    nbtrack.set_store(path)
    yield store_mod.get_store(path)
    store_mod._stores.pop(path.absolute(), None)

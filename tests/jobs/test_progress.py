"""jobs/progress.py: a callable is called after every result; without tqdm, ``progress=True`` prints lines."""

from __future__ import annotations

import builtins

import pytest

from nbtrack.jobs.job import Job
from nbtrack.jobs.progress import Progress
from nbtrack.store.local import get_store


@pytest.fixture
def job(store_dir):
    return Job.new(get_store(), "run_more")


def test_a_callable_gets_the_job_after_every_result(job):
    seen = []
    progress = Progress(job, seen.append, total=3)
    progress.update(job, "2 runs")
    progress.update(job, "1 runs", step=0)
    progress.close(job, "0 runs")
    assert seen == [job, job] and progress.bar is None


def test_without_tqdm_true_prints_a_line_per_result(job, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    job.decided = (1, 2)
    progress = Progress(job, True, total=3)
    progress.update(job, "5 runs")
    progress.close(job, "5 runs")
    err = capsys.readouterr().err
    assert "1/2 pairs decided, budget left: 5 runs" in err and repr(job) in err
    assert Progress(job, None, total=3).text is False  # None: a bar if tqdm is there, else silence


def test_with_tqdm_a_bar_counts_runs(job, capsys):
    pytest.importorskip("tqdm")
    progress = Progress(job, True, total=4)
    progress.update(job, "3 runs")
    assert progress.bar.n == 1
    progress.close(job, "3 runs")
    assert "pairs decided" in capsys.readouterr().err

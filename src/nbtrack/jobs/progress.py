"""The job's progress: a tqdm bar (``tqdm.auto``: a widget in the notebook, text in a terminal) showing runs
done, decided pairs and the budget left; or a callable called with the job after every result."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """``progress``: None (a bar when tqdm is installed), True (a bar, or one text line per result without
    tqdm), False (nothing), or a callable ``f(job)``."""

    def __init__(self, job: Any, progress: Any, total: int) -> None:
        self.callback = progress if callable(progress) and not isinstance(progress, bool) else None
        self.bar: Any = None
        self.text = False
        if progress is None or progress is True:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                self.text = progress is True
            else:
                self.bar = tqdm(total=total, desc=f"{job.kind} {job.id[:10]}", unit="run", initial=len(job.run_ids))

    def postfix(self, job: Any, budget: str) -> str:
        decided, pairs = job.decided
        return f"{decided}/{pairs} pairs decided, budget left: {budget}"

    def update(self, job: Any, budget: str, step: int = 1) -> None:
        if self.bar is not None:
            if step:
                self.bar.update(step)
            self.bar.set_postfix_str(self.postfix(job, budget), refresh=True)
        elif self.text and step:
            print(f"{job.kind} {job.id[:10]}: {len(job.run_ids)} runs, {self.postfix(job, budget)}", file=sys.stderr)
        if self.callback is not None:
            self.callback(job)

    def close(self, job: Any, budget: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.postfix(job, budget)}; {job.stop_reason or job.state}", refresh=True)
            self.bar.close()
        elif self.text:
            print(f"{job!r}", file=sys.stderr)

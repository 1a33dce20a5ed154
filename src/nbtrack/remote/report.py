"""What a push or pull did, run by run: the :class:`Report` that :func:`nbtrack.push` and :func:`nbtrack.pull`
return, and the warnings they give on the way."""

from __future__ import annotations

from dataclasses import dataclass, field

from nbtrack import errors
from nbtrack import format as fmt


@dataclass
class RunAction:
    """What a push or pull did (or, for a dry run, would do) with one run."""

    run_id: str
    experiment: str
    action: str  # create, resume, update, up to date, skip, import, failed
    detail: str = ""
    mlflow_run_id: str | None = None
    bytes: int = 0
    error: str | None = None

    def line(self, dry_run: bool) -> str:
        verb = (
            f"would {self.action}"
            if dry_run and self.action in ("create", "resume", "update", "import")
            else self.action
        )
        text = f"{verb:<16} {self.run_id}  {self.experiment}"
        if self.detail:
            text += f"  {self.detail}"
        if self.error:
            text += f"  ({self.error})"
        return text


@dataclass
class Report:
    """The outcome of :func:`push` or :func:`pull`; ``str()`` is a one-line summary."""

    kind: str  # push or pull
    server: str
    dry_run: bool = False
    actions: list[RunAction] = field(default_factory=list)
    seconds: float = 0.0
    bytes: int = 0

    def by(self, *names: str) -> list[RunAction]:
        return [a for a in self.actions if a.action in names]

    @property
    def sent(self) -> list[RunAction]:
        return self.by("create", "resume", "update", "import")

    @property
    def failed(self) -> list[RunAction]:
        return self.by("failed")

    @property
    def skipped(self) -> list[RunAction]:
        return self.by("up to date", "skip")

    def __str__(self) -> str:
        counts = ", ".join(
            f"{len(self.by(n))} {n}"
            for n in ("create", "resume", "update", "import", "up to date", "skip", "failed")
            if self.by(n)
        )
        where = "to" if self.kind == "push" else "from"
        if self.dry_run:
            return f"dry run: {self.kind} {where} {self.server}: {counts or 'nothing to do'}"
        rate = f", {len(self.sent) / self.seconds:.1f} runs/s" if self.sent and self.seconds > 0 else ""
        size = f", {human_bytes(self.bytes)}" if self.bytes else ""
        return f"{self.kind} {where} {self.server}: {counts or 'nothing to do'} in {self.seconds:.1f} s{rate}{size}"


def human_bytes(nbytes: float) -> str:
    return fmt.size(nbytes)


def warn(message: str) -> None:
    errors.warn(f"nbtrack: {message}")

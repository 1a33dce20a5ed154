"""What a data check found: :class:`Finding` (one problem, with its statistic and threshold) and
:class:`DataCheckReport` (all of them, readable as text, HTML or a DataFrame)."""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field
from typing import Any

SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    """One problem found by :func:`check_data`."""

    severity: str  # "error" or "warning"
    column: str | None  # None for the whole dataset
    statistic: str
    value: Any
    threshold: Any
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "column": self.column,
            "statistic": self.statistic,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
        }


def format_number(value: Any) -> str:
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.3g}"
    return "" if value is None else str(value)


@dataclass
class DataCheckReport:
    """What :func:`check_data` found: ``errors``, ``warnings``, ``frame``, and text/HTML renderings."""

    current: str
    reference: str
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # columns whose distributions were compared
    drifted: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors and no warnings."""
        return not self.findings

    @property
    def dataset_drift(self) -> bool:
        return any(f.statistic == "dataset_drift" for f in self.findings)

    @property
    def frame(self) -> Any:
        """The findings as a DataFrame with the columns severity, column, statistic, value, threshold."""
        import pandas as pd

        columns = ["severity", "column", "statistic", "value", "threshold"]
        rows = [[f.severity, f.column, f.statistic, f.value, f.threshold] for f in self.findings]
        return pd.DataFrame(rows, columns=columns)

    def to_text(self) -> str:
        head = (
            f"nbtrack data check: {self.current} vs {self.reference}: "
            f"{len(self.errors)} error{'s' * (len(self.errors) != 1)}, "
            f"{len(self.warnings)} warning{'s' * (len(self.warnings) != 1)}"
        )
        lines = [head]
        for f in self.findings:
            lines.append(f"  {f.severity.upper():<7} {f.message}")
        lines.extend(f"  note: {note}" for note in self.notes)
        if not self.findings:
            lines.append("  no differences beyond the thresholds")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        esc = html.escape
        colors = {"error": "#cf222e", "warning": "#9a6700"}
        head = (
            f"<b>nbtrack data check</b>: <code>{esc(self.current)}</code> vs <code>{esc(self.reference)}</code>"
            f" &middot; {len(self.errors)} error(s), {len(self.warnings)} warning(s)"
        )
        rows = []
        for f in self.findings:
            color = colors.get(f.severity, "#57606a")
            cells = [f'<td style="color:{color};font-weight:600">{esc(f.severity)}</td>']
            cells += [
                f"<td>{esc(format_number(v) if not isinstance(v, str) else v)}</td>"
                for v in (f.column or "", f.statistic, f.value, f.threshold)
            ]
            cells.append(f"<td>{esc(f.message)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        table = ""
        if rows:
            header = "".join(
                f"<th>{h}</th>" for h in ("severity", "column", "statistic", "value", "threshold", "message")
            )
            table = f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        else:
            table = "<div>no differences beyond the thresholds</div>"
        notes = "".join(f"<div><i>note:</i> {esc(n)}</div>" for n in self.notes)
        return f'<div class="nbtrack-datacheck" style="font-size:12px"><div>{head}</div>{table}{notes}</div>'


# distances --------------------------------------------------------------------------------------

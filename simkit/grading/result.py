"""What a grade holds: points per criterion with feedback, and the smallest failing run with its trace."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..results import Report, RunResult
from ..trace import Trace

__all__ = ["CriterionResult", "FailingRun", "Grade"]


@dataclass(frozen=True)
class CriterionResult:
    """One criterion's points (all or nothing) and the feedback that says why."""

    name: str
    points: int
    max_points: int
    feedback: str


@dataclass(frozen=True)
class FailingRun:
    """The smallest failing run: its seed, crash schedule, named anomalies (with example ids) and trace."""

    seed: int
    kind: str
    schedule: tuple[tuple[str, int], ...]
    anomalies: dict[str, dict[str, Any]]
    error: str | None
    rows: tuple[tuple, ...] = field(repr=False, compare=False, default=())

    @property
    def trace(self) -> pd.DataFrame:
        """The run's trace as a DataFrame (the same columns as every simkit trace)."""
        return self.result.trace

    @property
    def result(self) -> RunResult:
        """The run as a :class:`~simkit.RunResult`, for simkit's plots."""
        trace = Trace()
        for row in self.rows:
            trace.record(*row)
        return RunResult("grading", self.seed, dict(schedule=self.schedule), Report(crashes=len(self.schedule)),
                         _trace=trace)

    @property
    def label(self) -> str:
        """The run in words: seed and where the crash struck."""
        if self.kind == "baseline":
            return f"seed {self.seed}, no crash"
        crashes = "; ".join(f"{p} (pass {i + 1})" for p, i in self.schedule) or "no crash struck"
        return f"seed {self.seed}, {self.kind} crash: {crashes}"

    @property
    def highlight(self) -> tuple:
        """Example message ids of every anomaly, to circle on a timeline."""
        return tuple(dict.fromkeys(e for a in self.anomalies.values() for e in a.get("examples", ())))


@dataclass(frozen=True)
class Grade:
    """Points out of a fixed maximum, one :class:`CriterionResult` per criterion, and the smallest failing run."""

    exercise: str
    points: int
    max_points: int
    criteria: tuple[CriterionResult, ...]
    failing_run: FailingRun | None = None
    seconds: float = 0.0
    runs: int = 0
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True with full marks."""
        return self.points == self.max_points

    @property
    def feedback(self) -> list[str]:
        """Every criterion's feedback, then the notes."""
        return [f"{c.name}: {c.feedback}" for c in self.criteria] + list(self.notes)

    def __str__(self) -> str:
        width = max((len(c.name) for c in self.criteria), default=10)
        lines = [f"Exercise {self.exercise}: {self.points}/{self.max_points} points "
                 f"({'PASSED' if self.passed else 'not passed yet'}; {self.runs} runs in {self.seconds:.1f} s)"]
        for c in self.criteria:
            lines.append(f"  {c.name:<{width}}  {c.points:>2}/{c.max_points:<2}  {c.feedback}")
        lines += [f"  note: {n}" for n in self.notes]
        if self.failing_run is not None:
            lines.append(f"Smallest failing run: {self.failing_run.label}")
            for name, a in self.failing_run.anomalies.items():
                lines.append(f"  * {name}: {a.get('count')} ({a.get('detail', '')}), e.g. {list(a.get('examples', ()))[:3]}")
            if self.failing_run.error:
                lines.append(f"  * error: {self.failing_run.error}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """The grade as plain JSON data (what the grading process sends back)."""
        fr = self.failing_run
        return dict(exercise=self.exercise, points=self.points, max_points=self.max_points,
                    criteria=[c.__dict__ for c in self.criteria], seconds=self.seconds, runs=self.runs,
                    notes=list(self.notes),
                    failing_run=None if fr is None else dict(
                        seed=fr.seed, kind=fr.kind, schedule=[list(s) for s in fr.schedule],
                        anomalies=fr.anomalies, error=fr.error, rows=[list(r) for r in fr.rows]))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Grade:
        """Rebuild a grade from :meth:`to_json`."""
        fr = data.get("failing_run")
        failing = None if fr is None else FailingRun(
            fr["seed"], fr["kind"], tuple((p, i) for p, i in fr["schedule"]), fr["anomalies"], fr["error"],
            tuple(tuple(r) for r in fr["rows"]))
        return cls(data["exercise"], data["points"], data["max_points"],
                   tuple(CriterionResult(**c) for c in data["criteria"]), failing, data["seconds"],
                   data["runs"], tuple(data["notes"]))


"""Grading from a notebook or a script: the learner's source goes to a fresh grading process.

The grading process is started anew for every grade and never runs the learner's
cell itself (its forked runs do), so patching simkit from the cell, or keeping state in
the kernel, cannot change a grade: ``check()`` in the notebook and the instructor's
batch get the same numbers from the same code.
"""

from __future__ import annotations

import inspect
import json
import linecache
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .result import CriterionResult, Grade
from .sandbox import WALL_FACTOR
from .spec import exercise

__all__ = ["check", "grade_source", "source_of"]

ROOT = Path(__file__).resolve().parent.parent.parent


def source_of(fn: Callable[..., Any]) -> str:
    """The whole cell (or module) that defined ``fn``: helpers and decorators come with it."""
    if not callable(fn):
        raise ConfigError("handle", fn, "the function your cell defines")
    inner = inspect.unwrap(fn)
    code = getattr(inner, "__code__", None)
    if code is not None:
        lines = linecache.getlines(code.co_filename)
        if lines:
            return "".join(lines)
    try:
        return inspect.getsource(inspect.getmodule(inner))  # type: ignore[arg-type]
    except (TypeError, OSError):
        raise ConfigError("handle", fn, "a function defined in a notebook cell or a file") from None


def _zero(ex_name: str, reason: str) -> Grade:
    ex = exercise(ex_name)
    return Grade(ex.name, 0, ex.max_points,
                 tuple(CriterionResult(c.name, 0, c.points, reason) for c in ex.criteria), None, 0.0, 0, ())


def grade_source(name: str, source: str, hidden: Sequence[Mapping[str, Any]] = (),
                 timeout: float | None = None) -> Grade:
    """Grade ``source`` (the learner's cell) on exercise ``name`` in a new process with a wall-clock limit.

    ``hidden`` adds the instructor's cases (dicts with ``seed``, ``workload``,
    ``exhaustive``, ``random_runs``). Whatever the source does, the result is a Grade.
    """
    ex = exercise(name)
    if not isinstance(source, str):
        raise ConfigError("source", source, "the source code of your cell, as a string")
    cases = len(ex.cases) + len(hidden)
    # the grade's own budget is CPU time; this wall-clock limit is the backstop past it (see sandbox)
    limit = timeout if timeout is not None else (
        WALL_FACTOR * ex.grade_seconds * max(1.0, cases / max(1, len(ex.cases))) + 30)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    env.pop("SIMKIT_GRADING_CHILD", None)
    # one submission, one grade: str hashes (hash(), set order) must not change from one grading process to the next
    env["PYTHONHASHSEED"] = "0"
    request = json.dumps(dict(exercise=ex.name, source=source, hidden=list(hidden)))
    with tempfile.TemporaryDirectory() as cwd:
        try:
            done = subprocess.run([sys.executable, "-m", "simkit.grading", "_child"], input=request,
                                  capture_output=True, text=True, timeout=limit, cwd=cwd, env=env)
        except subprocess.TimeoutExpired:
            return _zero(ex.name, f"grading took more than {limit:g} s of real time and was stopped")
    if done.returncode != 0 or not done.stdout.strip():
        return _zero(ex.name, f"the grading process failed: {done.stderr.strip().splitlines()[-1:]}")
    return Grade.from_json(json.loads(done.stdout.strip().splitlines()[-1]))


def check(name: str, handle: Callable[..., Any] | None = None, *, source: str | None = None,
          plots: bool = True) -> Grade | None:
    """Grade your answer to exercise ``name``, then :func:`~simkit.grading.show` it.

    Pass the function your cell defines (``check("01", handle)``) or its ``source``. It
    prints the points table and the feedback and draws the points and the smallest failing
    run (``plots=False``: print only). Returns the :class:`Grade` (``None`` inside a
    grading run, where it does nothing).
    """
    from .show import show

    if os.environ.get("SIMKIT_GRADING_CHILD"):
        return None
    if source is None:
        if handle is None:
            raise ConfigError("handle", handle, "the function your cell defines, or source=...")
        source = source_of(handle)
    grade = grade_source(name, source)
    show(grade, plots=plots)
    return grade

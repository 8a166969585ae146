"""Every number the facilitator's guide states is checked against the simulator.

``notebooks/FACILITATOR.md`` carries its claims as ``<!-- check: EXPR -->`` comments, each a Python
expression that must be true: ``S`` is ``sk.scenarios`` (runs are cached, so a run named twice costs once),
``C`` is ``sk.compare``. A drifting number fails here with the line it sits on.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

import simkit as sk

GUIDE = Path(__file__).resolve().parents[1] / "notebooks" / "FACILITATOR.md"
CHECK = re.compile(r"<!-- check: (.*?) -->", re.DOTALL)


class CachedScenarios:
    """``sk.scenarios`` whose calls are remembered by their arguments (runs are deterministic)."""

    def __getattr__(self, name):
        fn = getattr(sk.scenarios, name)

        @functools.wraps(fn)
        def call(*args, **kwargs):
            return _run(name, repr((args, sorted(kwargs.items()))), args, kwargs)

        return call


_cache: dict = {}


def _run(name, key, args, kwargs):
    if (name, key) not in _cache:
        _cache[(name, key)] = getattr(sk.scenarios, name)(*args, **kwargs)
    return _cache[(name, key)]


def checks():
    text = GUIDE.read_text()
    for match in CHECK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        yield pytest.param(match.group(1), id=f"line{line}")


def test_the_guide_has_a_section_for_every_lesson():
    text = GUIDE.read_text()
    lessons = sorted(p.stem[:2] for p in GUIDE.parent.glob("[0-9][0-9]-*.ipynb"))
    for number in lessons:
        assert re.search(rf"^## {number} ·", text, re.MULTILINE), f"FACILITATOR.md has no section for lesson {number}"


@pytest.mark.parametrize("expression", list(checks()))
def test_each_stated_number_holds(expression):
    namespace = {"sk": sk, "S": CachedScenarios(), "C": sk.compare}
    assert eval(expression, namespace), f"the guide's claim no longer holds: {expression}"

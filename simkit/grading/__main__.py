"""``python -m simkit.grading grade SUBMISSIONS/ --out grades.csv`` and ``... release OUT/``."""

from __future__ import annotations

import json
import sys

from .batch import main


def _child() -> None:
    """The grading process: read a request on stdin, write the grade as one JSON line on stdout."""
    from .runner import grade_exercise
    from .spec import Case, exercise

    request = json.loads(sys.stdin.read())
    ex = exercise(request["exercise"])
    hidden = [Case(int(h["seed"]), dict(h.get("workload", {})), bool(h.get("exhaustive", True)),
                   int(h.get("random_runs", 0))) for h in request.get("hidden", ())]
    grade = grade_exercise(ex, request["source"], hidden)
    sys.stdout.write(json.dumps(grade.to_json(), default=repr) + "\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["_child"]:
        _child()
    else:
        sys.exit(main(sys.argv[1:]))

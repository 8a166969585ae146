"""For instructors: grade a folder of submitted notebooks, and build the learners' copy of the notebooks.

``python -m simkit.grading grade SUBMISSIONS/ --out grades.csv [--jobs N] [--hidden FILE] [--results-json]``
grades every ``*.ipynb`` under SUBMISSIONS: the learner's answer is the cell tagged
``solution``; the exercise is the ``NN-`` prefix of the file name (else the name given to
``check(...)`` in the notebook). Each submission is graded in its own process with
wall-clock and memory limits, ``--jobs`` at a time. The CSV has one row per submission,
one column per criterion, the total, the smallest failing run's seed and schedule, and
the reason. ``--hidden`` is a JSON file ``{"01-idempotent-handler": [{"seed": 7,
"workload": {"users": 8}}]}`` of cases the learners never see; ``--results-json`` also
writes one Gradescope-style ``results.json`` per submission beside the CSV.

``python -m simkit.grading release OUT/`` copies ``notebooks/`` to OUT without
``solutions/``, without any hidden-case file and without outputs.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .learner import ROOT, _zero, grade_source
from .result import Grade
from .spec import exercise

__all__ = ["TAG", "answer_of", "grade_folder", "main", "release"]

TAG = "solution"


def answer_of(path: Path) -> tuple[str, str]:
    """The exercise name and the learner's source (the cell tagged ``solution``) of a submitted notebook."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if c.cell_type == "code" and TAG in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"no code cell tagged {TAG!r}")
    m = re.match(r"(\d\d)-", path.name)
    name = m.group(1) if m else None
    if name is None:
        found = [re.search(r"check\(\s*['\"](\d\d)", c.source) for c in nb.cells]
        name = next((f.group(1) for f in found if f), None)
    if name is None:
        raise ValueError("cannot tell which exercise this is: name the file NN-... or call check('NN', ...)")
    return exercise(name).name, "\n\n".join(c.source for c in cells)


def _grade_one(path: Path, hidden: dict[str, Any]) -> tuple[Path, str, Grade]:
    try:
        name, source = answer_of(path)
    except Exception as exc:
        return path, "", _unreadable(path, str(exc))
    return path, name, grade_source(name, source, hidden.get(name, ()))


def _unreadable(path: Path, reason: str) -> Grade:
    m = re.match(r"(\d\d)-", path.name)
    try:
        return _zero(m.group(1) if m else "", f"submission unreadable: {reason}")
    except Exception:
        return Grade("?", 0, 0, (), None, 0.0, 0, (f"submission unreadable: {reason}",))


def grade_folder(folder: Path, out: Path, jobs: int = 2, hidden: dict[str, Any] | None = None,
                 results_json: bool = False) -> list[dict[str, Any]]:
    """Grade every notebook under ``folder`` into the CSV ``out``; returns the rows written."""
    paths = sorted(p for p in Path(folder).rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        graded = list(pool.map(lambda p: _grade_one(p, hidden or {}), paths))
    rows, columns = [], ["submission", "exercise", "points", "max_points"]
    for path, _name, grade in graded:
        row: dict[str, Any] = dict(submission=str(path.relative_to(folder)), exercise=grade.exercise,
                                   points=grade.points, max_points=grade.max_points)
        for c in grade.criteria:
            col = f"{c.name} ({c.max_points})"
            row[col] = c.points
            if col not in columns:
                columns.append(col)
        fr = grade.failing_run
        failing = [c for c in grade.criteria if c.points < c.max_points]
        row.update(failing_seed="" if fr is None else fr.seed,
                   failing_schedule="" if fr is None else "; ".join(f"{p} #{i + 1}" for p, i in fr.schedule),
                   reason=" | ".join(f"{c.name}: {c.feedback}" for c in failing) or "; ".join(grade.notes),
                   seconds=grade.seconds)
        rows.append(row)
        if results_json:
            folder_out = out.parent / f"{out.stem}_results"
            folder_out.mkdir(parents=True, exist_ok=True)
            (folder_out / f"{path.stem}.json").write_text(json.dumps(dict(
                score=grade.points, execution_time=grade.seconds,
                tests=[dict(name=c.name, score=c.points, max_score=c.max_points, output=c.feedback)
                       for c in grade.criteria]), indent=1))
    columns += ["failing_seed", "failing_schedule", "reason", "seconds"]
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def release(out: Path, notebooks: Path | None = None) -> list[Path]:
    """Copy the notebooks for learners into ``out``: no ``solutions/``, no hidden cases, no outputs."""
    import nbformat

    src = Path(notebooks) if notebooks is not None else ROOT / "notebooks"
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} is not empty: release into a new folder")
    written = []
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if path.is_dir() or "solutions" in rel.parts or ".ipynb_checkpoints" in rel.parts \
                or "hidden" in path.name.lower():
            continue
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".ipynb":
            nb = nbformat.read(path, as_version=4)
            for cell in nb.cells:
                if cell.cell_type == "code":
                    cell.outputs, cell.execution_count = [], None
            nbformat.write(nb, target)
        else:
            shutil.copy2(path, target)
        written.append(target)
    return written


def main(argv: list[str]) -> int:
    """The command line (see the module docs)."""
    parser = argparse.ArgumentParser(prog="python -m simkit.grading")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade a folder of submitted notebooks into a CSV")
    g.add_argument("submissions", type=Path)
    g.add_argument("--out", type=Path, default=Path("grades.csv"))
    g.add_argument("--jobs", type=int, default=2)
    g.add_argument("--hidden", type=Path)
    g.add_argument("--results-json", action="store_true")
    r = sub.add_parser("release", help="build the learners' copy of notebooks/ without solutions")
    r.add_argument("out", type=Path)
    r.add_argument("--notebooks", type=Path)
    args = parser.parse_args(argv)
    if args.command == "grade":
        hidden = json.loads(args.hidden.read_text()) if args.hidden else {}
        hidden = {exercise(k).name: v for k, v in hidden.items()}
        rows = grade_folder(args.submissions, args.out, args.jobs, hidden, args.results_json)
        print(f"graded {len(rows)} submission(s) into {args.out}")
        return 0
    files = release(args.out, args.notebooks)
    print(f"released {len(files)} file(s) into {args.out} (no solutions, no hidden cases, no outputs)")
    return 0



"""How long grading takes: one submission of each exercise, and a batch of 30 submitted notebooks.

Run from the top of the repository:
    PYTHONPATH=$PWD python benchmarks/grading.py [--batch 30] [--jobs 2]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simkit.grading import grade_source  # noqa: E402
from simkit.grading.batch import TAG, answer_of  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    starters = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))
    for path in starters:
        for folder in ("exercises", "solutions"):
            name, source = answer_of(ROOT / "notebooks" / folder / path.name)
            start = time.perf_counter()
            grade = grade_source(name, source)
            print(f"{name:<24} {folder:<9} {grade.points:>2}/{grade.max_points} {grade.runs:>3} runs "
                  f"{time.perf_counter() - start:5.1f} s wall")
    with tempfile.TemporaryDirectory() as tmp:
        subs = Path(tmp) / "subs"
        subs.mkdir()
        for i in range(args.batch):
            path = starters[i % len(starters)]
            folder = "solutions" if i % 2 else "exercises"
            nb = nbformat.read(ROOT / "notebooks" / folder / path.name, as_version=4)
            assert any(TAG in c.metadata.get("tags", []) for c in nb.cells)
            (subs / f"learner{i:02d}").mkdir()
            nbformat.write(nb, subs / f"learner{i:02d}" / path.name)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "simkit.grading", "grade", str(subs), "--out",
                        str(Path(tmp) / "grades.csv"), "--jobs", str(args.jobs)], check=True, cwd=ROOT)
        print(f"batch of {args.batch} submissions, --jobs {args.jobs}: {time.perf_counter() - start:.1f} s wall")


if __name__ == "__main__":
    main()

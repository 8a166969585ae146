"""How long grading takes: one submission of each exercise, and a batch of 30 submitted notebooks.

Run from the top of the repository:
    PYTHONPATH=$PWD python benchmarks/grading.py [--batch 30] [--jobs 2] [--only 01,05] [--no-single] [--no-batch]

Every line gives wall time and the CPU time of the grading processes (the grader and its forked runs), so a
number taken on a busy machine can be told from one taken on a quiet machine; the load average is printed first.
The batch grades the notebooks' starters and references in turn (``--batch`` of them), through the command an
instructor runs, and sums up the CSV: points, the slowest submission, and any grade cut by a time limit.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", default="", help="exercise numbers, comma-separated (default: all ten)")
    parser.add_argument("--no-single", action="store_true", help="skip grading one submission of each exercise")
    parser.add_argument("--no-batch", action="store_true", help="skip the batch")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    starters = [p for p in sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb")) if not only or p.name[:2] in only]
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    for path in starters if not args.no_single else ():
        for folder in ("exercises", "solutions"):
            name, source = answer_of(ROOT / "notebooks" / folder / path.name)
            start, cpu = time.perf_counter(), _children_cpu()
            grade = grade_source(name, source)
            print(f"{name:<24} {folder:<9} {grade.points:>2}/{grade.max_points} {grade.runs:>3} runs "
                  f"{time.perf_counter() - start:5.1f} s wall {_children_cpu() - cpu:5.1f} s CPU", flush=True)
    if args.no_batch:
        return
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
        out = Path(tmp) / "grades.csv"
        command = [sys.executable, "-m", "simkit.grading", "grade", str(subs), "--out", str(out), "--jobs",
                   str(args.jobs)]
        start, cpu = time.perf_counter(), _children_cpu()
        subprocess.run(command, check=True, cwd=ROOT)
        wall = time.perf_counter() - start
        rows = list(csv.DictReader(out.open()))
        slowest = max(rows, key=lambda r: float(r["seconds"] or 0))
        cut = [r["submission"] for r in rows if "time limit" in r["reason"] or "real time" in r["reason"]]
        print(f"batch of {len(rows)} submissions, --jobs {args.jobs}: {wall:.1f} s wall, "
              f"{_children_cpu() - cpu:.1f} s CPU; {sum(int(r['points']) for r in rows)}/"
              f"{sum(int(r['max_points']) for r in rows)} points; slowest {slowest['submission']} "
              f"{float(slowest['seconds']):.1f} s; cut by a time limit: {cut or 'none'}")


if __name__ == "__main__":
    main()

"""How long each lesson takes headless, and how long one move of each of its controls takes to redraw.

Each notebook runs top to bottom in a fresh kernel, as the test suite runs it (inline matplotlib, so every
figure is rendered to PNG). One extra cell is then run in the same kernel: for every control set built by
``sk.interact`` (``sk.controls.REGISTRY``) it moves each control by one step (a slider by its step, a menu to
its next option, a checkbox over) and times the redraw that the change triggers: simulation, plot and PNG,
exactly what a learner's click costs. The control is put back afterwards (untimed). Beside the seconds it
reports the slowest redraw in units of one plain matplotlib figure drawn and shown in the same kernel
(``redraw_max_x_baseline``), a ratio that travels between machines better than seconds do.

Notebooks run one after another, so that they do not compete for the two cores of a workshop laptop.

    python benchmarks/notebooks.py                       # every lesson, exercise and solution
    python benchmarks/notebooks.py notebooks/00-*.ipynb  # some of them
    python benchmarks/notebooks.py --json out.json       # also write the numbers as JSON
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
MARK = "SIMKIT-REDRAW-TIMES "
INLINE = "module://matplotlib_inline.backend_inline"

# Runs in the lesson's kernel after its last cell.
TIMING_CELL = f'''
import json as _json, time as _time
import simkit as _sk

def _moved(control):
    """The control's value after one step, or None if it cannot be moved."""
    options = getattr(control, "options", None)
    if options:
        return ("index", (control.index + 1) % len(options))
    if isinstance(control.value, bool):
        return ("value", not control.value)
    step = getattr(control, "step", None)
    if step is not None and hasattr(control, "max"):
        up = control.value + step
        return ("value", up if up <= control.max else control.value - step)
    return None

def _baseline():
    """One plain matplotlib figure drawn and shown the same way: the yardstick for this machine."""
    import matplotlib.pyplot as _plt
    _t = _time.perf_counter()
    _fig, _ax = _plt.subplots(figsize=(7, 4))
    _ax.plot(range(1000))
    _ax.set_title("baseline")
    _plt.show()
    return _time.perf_counter() - _t

_base = min(_baseline() for _ in range(3))
_times = []
for _n, _ui in enumerate(_sk.controls.REGISTRY):
    for _control in _ui.widget.kwargs_widgets:
        _move = _moved(_control)
        if _move is None:
            continue
        _attr, _new = _move
        _old = getattr(_control, _attr)
        _t = _time.perf_counter()
        setattr(_control, _attr, _new)  # the change runs the redraw synchronously
        _times.append({{"control": _control._kwarg, "set": _n, "seconds": _time.perf_counter() - _t}})
        setattr(_control, _attr, _old)
print("{MARK}" + _json.dumps({{"baseline": _base, "redraws": _times}}))
'''


def run(path: Path) -> dict:
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(TIMING_CELL))
    with tempfile.TemporaryDirectory() as tmp:
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(tmp) / "kernel"))
        client = NotebookClient(nb, km=km, timeout=600, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        start = time.perf_counter()
        try:
            client.execute(env={**os.environ, "MPLBACKEND": INLINE})
            total = time.perf_counter() - start
        finally:
            if km.has_kernel:  # nbclient leaves a kernel it did not create running
                km.shutdown_kernel(now=True)
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.get("name") == "stdout")
    measured = json.loads(printed.split(MARK, 1)[1]) if MARK in printed else {"baseline": None, "redraws": []}
    redraws, baseline = measured["redraws"], measured["baseline"]
    redraw_total = sum(r["seconds"] for r in redraws) * 2  # each move is undone, untimed but run
    seconds = [r["seconds"] for r in redraws]
    return {
        "notebook": str(path.relative_to(ROOT)) if ROOT in path.parents else path.name,
        "run_seconds": round(total - redraw_total, 2),  # the notebook itself, kernel start included
        "controls": len(redraws),
        "redraw_median_s": round(statistics.median(seconds), 3) if seconds else None,
        "redraw_max_s": round(max(seconds), 3) if seconds else None,
        "slowest_control": max(redraws, key=lambda r: r["seconds"])["control"] if redraws else None,
        # the same redraw in units of one plain figure drawn in the same kernel: comparable across machines
        "baseline_figure_s": round(baseline, 3) if baseline else None,
        "redraw_max_x_baseline": round(max(seconds) / baseline, 1) if seconds and baseline else None,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook under notebooks/")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(
        p for p in ROOT.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    rows = []
    print(f"{'notebook':58} {'run s':>7} {'controls':>8} {'redraw p50 s':>12} {'redraw max s':>12} "
          f"{'max/baseline':>12}  slowest")
    for path in paths:
        row = run(path)
        rows.append(row)
        print(f"{row['notebook']:58} {row['run_seconds']:7.1f} {row['controls']:8d} "
              f"{row['redraw_median_s'] or 0:12.3f} {row['redraw_max_s'] or 0:12.3f} "
              f"{row['redraw_max_x_baseline'] or 0:12.1f}  {row['slowest_control'] or ''}",
              flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

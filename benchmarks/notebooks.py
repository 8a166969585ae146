"""How long each lesson takes headless, and how long one move of each of its controls takes to redraw.

Each notebook runs top to bottom in a fresh kernel, as the test suite runs it (inline matplotlib, so every
figure is rendered to PNG). One extra cell is then run in the same kernel: for every control set built by
``sk.interact`` (``sk.controls.REGISTRY``) it moves each control five times, each time to a position other than
the one it was just at (a slider step by step up from its value and, at its maximum, down; a menu through its
next options; a checkbox over and back), and times each redraw that a change triggers: simulation, plot and
PNG, exactly what a learner's click costs. A control's redraw time is the median of its five moves. The
control is put back afterwards (untimed). Beside the seconds it reports each control's redraw in units of one
plain matplotlib figure drawn and shown in the same kernel, right after each of its moves (the median of the
control's five moves over the median of those five figures), and the largest of these
(``redraw_max_x_baseline``): a ratio that travels between machines, and between moments of a busy one, better
than seconds do.

Notebooks run one after another, so that they do not compete for the two cores of a workshop laptop.

    python benchmarks/notebooks.py                       # every lesson, exercise and solution
    python benchmarks/notebooks.py notebooks/00-*.ipynb  # some of them
    python benchmarks/notebooks.py --json out.json       # also write the numbers as JSON
    python benchmarks/notebooks.py --controls ...        # also print every control's median and its moves
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

MOVES = 5

def _positions(control, n=MOVES):
    """``n`` moves of the control, each to a position it was not at just before: [(attribute, value), ...].

    A slider walks up from its value one step at a time and, at its maximum, down from where it started; a menu
    goes through its next options; a checkbox goes over and back. Nothing is cached between draws, so a position
    met again (a two-option menu) is drawn again. Empty if the control cannot be moved.
    """
    options = getattr(control, "options", None)
    if options is not None and len(options) < 2:
        return []
    if options:
        return [("index", (control.index + k) % len(options)) for k in range(1, n + 1)]
    if isinstance(control.value, bool):
        return [("value", (not control.value) if k % 2 else control.value) for k in range(1, n + 1)]
    step = getattr(control, "step", None)
    if step is None or not hasattr(control, "max"):
        return []
    value, low, high = control.value, control.min, control.max
    slack = step * 1e-9  # 0.5 + 4 * 0.1 is a hair above 0.9
    up = [value + k * step for k in range(1, n + 1) if value + k * step <= high + slack]
    down = [value - k * step for k in range(1, n + 1) if value - k * step >= low - slack]
    walk = (up + down)[:n]
    if not walk:
        return []
    while len(walk) < n:  # a slider with fewer than n other positions: go back and forth over them
        walk.append(walk[-2] if len(walk) > 1 else value)
    return [("value", v) for v in walk]

def _baseline():
    """One plain matplotlib figure drawn and shown the same way: the yardstick for this machine."""
    import matplotlib.pyplot as _plt
    _t = _time.perf_counter()
    _fig, _ax = _plt.subplots(figsize=(7, 4))
    _ax.plot(range(1000))
    _ax.set_title("baseline")
    _plt.show()
    return _time.perf_counter() - _t

_base = [_baseline() for _ in range(3)]
_times = []
for _n, _ui in enumerate(_sk.controls.REGISTRY):
    for _control in _ui.widget.kwargs_widgets:
        _moves = _positions(_control)
        if not _moves:
            continue
        _old = (_control.index if _moves[0][0] == "index" else _control.value)
        _seconds, _yardstick, _at = [], [], []
        for _attr, _new in _moves:
            _t = _time.perf_counter()
            setattr(_control, _attr, _new)  # the change runs the redraw synchronously
            _seconds.append(_time.perf_counter() - _t)
            _at.append(repr(_control.value))
            _yardstick.append(_baseline())  # beside each move, so that both see the same load on the machine
        _base += _yardstick
        _times.append({{"control": _control._kwarg, "set": _n, "seconds": sorted(_seconds)[len(_seconds) // 2],
                        "moves": _seconds, "positions": _at, "baseline": sorted(_yardstick)[len(_yardstick) // 2]}})
        setattr(_control, _moves[0][0], _old)
print("{MARK}" + _json.dumps({{"baseline": sorted(_base)[len(_base) // 2], "redraws": _times}}))
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
    # every move is timed; putting the control back is one more redraw, untimed but run (about a median's worth);
    # and a baseline figure is drawn beside every move
    redraw_total = sum(sum(r["moves"]) + r["seconds"] + len(r["moves"]) * r["baseline"] for r in redraws)
    seconds = [r["seconds"] for r in redraws]
    ratios = [r["seconds"] / r["baseline"] for r in redraws]
    return {
        "notebook": str(path.relative_to(ROOT)) if ROOT in path.parents else path.name,
        "run_seconds": round(total - redraw_total, 2),  # the notebook itself, kernel start included
        "controls": len(redraws),
        "redraw_median_s": round(statistics.median(seconds), 3) if seconds else None,
        "redraw_max_s": round(max(seconds), 3) if seconds else None,
        "slowest_control": max(redraws, key=lambda r: r["seconds"])["control"] if redraws else None,
        # the same redraw in units of one plain figure drawn in the same kernel: comparable across machines
        "baseline_figure_s": round(baseline, 3) if baseline else None,
        "redraw_max_x_baseline": round(max(ratios), 1) if ratios else None,
        # per control: the median of its moves, and every move
        "redraws": [{"control": r["control"], "set": r["set"], "median_s": round(r["seconds"], 3),
                     "x_baseline": round(r["seconds"] / r["baseline"], 1),
                     "moves_s": [round(t, 3) for t in r["moves"]], "positions": r["positions"]} for r in redraws],
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebook under notebooks/")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    parser.add_argument("--controls", action="store_true", help="also print each control's median redraw")
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
        if args.controls:
            for r in row["redraws"]:
                print(f"    set {r['set']} {r['control']:30} median {r['median_s']:6.3f} s "
                      f"({r['x_baseline'] or 0:5.1f} x baseline)  moves {r['moves_s']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return rows


if __name__ == "__main__":
    main(sys.argv[1:])

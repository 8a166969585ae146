"""Every notebook runs top to bottom in a fresh kernel, draws real figures, and is committed clean."""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path

import matplotlib.image as mpimg
import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
TEXT = "text"  # each notebook's py:percent twin lives in a text/ folder beside it (notebooks/jupytext.toml)
NOTEBOOKS = sorted(p for p in ROOT.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and TEXT not in p.parts)
LESSONS = [p for p in NOTEBOOKS if p.parent == ROOT]
NAME = re.compile(r"^\d\d-[a-z0-9]+(-[a-z0-9]+)*\.ipynb$")
MIRRORED = ("exercises", "solutions")  # notebooks/exercises/X.ipynb <-> notebooks/solutions/X.ipynb
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"

# The kernel must draw with the inline backend: that is what turns plt.show() into an image/png
# output. (MPLBACKEND=Agg in the kernel's environment would suppress every figure.)
INLINE = "module://matplotlib_inline.backend_inline"


def _notebook_params():
    if not NOTEBOOKS:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no notebooks under notebooks/ yet"))]
    return [pytest.param(p, id=str(p.relative_to(ROOT))) for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert NOTEBOOKS, "the curriculum lives in notebooks/"


def _images(nb):
    """Every image/png the run produced, as (where, base64 text).

    Figures drawn by a function under ipywidgets.interact do not land in the cell's outputs: nbclient
    routes them into the Output widget's state (the cell itself shows only text/plain and a
    widget-view). They are checked too, so a blank figure cannot hide inside a widget.
    """
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if "image/png" in out.get("data", {}):
                found.append((f"cell {i}", out["data"]["image/png"]))
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id, model in state.items():
        if model.get("model_name") != "OutputModel":
            continue
        for out in model.get("state", {}).get("outputs", []):
            if "image/png" in out.get("data", {}):
                found.append((f"widget output {model_id[:8]}", out["data"]["image/png"]))
    return found


RERUN = "simkit_rerun_of"


def _run_drawing_cells_twice(nb):
    """Follow each cell that draws with a copy of itself: run again, it must draw the same pixels."""
    cells = []
    for i, cell in enumerate(nb.cells):
        cells.append(cell)
        if cell.cell_type == "code" and "plt.show()" in cell.source and "sk.interact(" not in cell.source:
            cells.append(nbformat.v4.new_code_cell(cell.source, metadata={RERUN: i}))
    nb.cells = cells


def _pngs(cell):
    return [out["data"]["image/png"] for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]


def _widget_errors(nb):
    """Errors raised inside an interactive control: ipywidgets prints them into its Output widget."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    for model_id, model in state.items():
        if model.get("model_name") != "OutputModel":
            continue
        for out in model.get("state", {}).get("outputs", []):
            if out.get("output_type") == "error":
                yield f"widget output {model_id[:8]}", f"{out.get('ename')}: {out.get('evalue')}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", _notebook_params())
def test_notebook_runs_and_draws(path, tmp_path):
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    _run_drawing_cells_twice(nb)
    # IPC sockets in a folder of this test's own: kernels started in parallel (pytest -n)
    # cannot race for the same TCP ports and swallow each other's replies
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = NotebookClient(nb, km=km, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # cwd = the notebook's folder
    # a failing cell raises CellExecutionError, whose message shows the cell's source and traceback
    try:
        client.execute(env={**os.environ, "MPLBACKEND": INLINE})
    finally:
        if km.has_kernel:  # nbclient leaves a kernel it did not create running
            km.shutdown_kernel(now=True)

    for where, error in _widget_errors(nb):
        raise AssertionError(f"{path.name}: a control's redraw failed in {where}: {error}")
    for i, cell in enumerate(nb.cells):
        if RERUN in cell.metadata:
            original = cell.metadata[RERUN]
            assert _pngs(cell) == _pngs(nb.cells[i - 1]), (
                f"{path.name}: cell {original} drew a different figure when run again; seed what it draws")
    images = _images(nb)
    if not nb.metadata.get("simkit", {}).get("no_figures", False):
        assert images, f"{path.name} drew no figure"
    for where, png in images:
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(png)), format="png")
        blank = pixels.size == 0 or np.ptp(pixels) == 0  # one colour everywhere: nothing was drawn
        assert not blank, f"{path.name}: the figure in {where} is blank"


@pytest.mark.parametrize("path", _notebook_params())
def test_notebooks_are_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"cell {i} of {path.name} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"cell {i} of {path.name} has an execution count"
    assert "widgets" not in nb.metadata, f"{path.name} carries saved widget state: clear it before committing"


def test_notebook_names_are_numbered_lessons():
    if not NOTEBOOKS:
        pytest.skip("no notebooks under notebooks/ yet")
    for path in NOTEBOOKS:
        assert NAME.match(path.name), f"{path.relative_to(ROOT)}: expected NN-topic.ipynb"
    # lessons (and any other folder) have numbers of their own; exercises and solutions share names
    by_folder: dict[Path, list[str]] = {}
    for p in NOTEBOOKS:
        by_folder.setdefault(p.parent, []).append(p.name[:2])
    for folder, numbers in by_folder.items():
        assert len(numbers) == len(set(numbers)), f"two notebooks in {folder.relative_to(ROOT.parent)} share a number"


def test_exercises_and_solutions_mirror_each_other():
    exercises, solutions = ({p.relative_to(ROOT / d) for p in NOTEBOOKS if (ROOT / d) in p.parents}
                            for d in MIRRORED)
    assert not exercises - solutions, f"exercises without a solution: {sorted(map(str, exercises - solutions))}"
    assert not solutions - exercises, f"solutions without an exercise: {sorted(map(str, solutions - exercises))}"


def _cells(nb):
    return [(c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells]


@pytest.mark.parametrize("path", _notebook_params())
def test_notebook_and_its_text_twin_agree(path):
    """A notebook and its py:percent twin hold the same cells; fix drift with `jupytext --sync`."""
    import jupytext

    twin = path.parent / TEXT / f"{path.stem}.py"
    sync = f"run: jupytext --sync {path.relative_to(ROOT.parent)}"
    assert twin.exists(), f"{path.name} has no text twin at {twin.relative_to(ROOT.parent)}; {sync}"
    ours, theirs = _cells(jupytext.read(path)), _cells(jupytext.read(twin))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a == b, f"cell {i} of {path.name} differs from {twin.name}; {sync}"
    assert len(ours) == len(theirs), f"{path.name} has {len(ours)} cells, {twin.name} {len(theirs)}; {sync}"


def test_every_text_twin_has_a_notebook():
    twins = [t for t in ROOT.rglob("*.py") if t.parent.name == TEXT]
    assert len(twins) >= len(NOTEBOOKS)
    orphans = [t for t in twins if not (t.parent.parent / f"{t.stem}.ipynb").exists()]
    assert not orphans, f"text files without a notebook (renamed or deleted?): {[str(o) for o in orphans]}"


# What every lesson has (issue 5): the learner knows where they are going, predicts before each contrast,
# compares designs over many seeds, moves a control, sees one run's anomaly on a timeline, and ends with a
# summary and questions for the room.
LESSON_PARTS = {
    "objectives": (re.compile(r"\*\*After this lesson you can\*\*"), "markdown", "first cell"),
    "a prediction": (re.compile(r"\*\*Predict[^*]*\*\*"), "markdown", "anywhere"),
    "a comparison over seeds": (re.compile(r"sk\.(compare|sweep)\("), "code", "anywhere"),
    "an interactive control": (re.compile(r"sk\.interact\("), "code", "anywhere"),
    "a timeline of one run": (re.compile(r"timeline\("), "code", "anywhere"),
    "a summary": (re.compile(r"^## Summary", re.MULTILINE), "markdown", "anywhere"),
    "questions to discuss": (re.compile(r"^## Questions to discuss", re.MULTILINE), "markdown", "anywhere"),
}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.name) for p in LESSONS])
def test_lesson_has_every_part(path):
    nb = nbformat.read(path, as_version=4)
    for part, (pattern, kind, where) in LESSON_PARTS.items():
        cells = [c for c in nb.cells if c.cell_type == kind]
        if where == "first cell":
            cells = cells[:1]
        assert any(pattern.search(c.source) for c in cells), f"{path.name} lacks {part} ({pattern.pattern})"


def test_lessons_use_only_simkit_controls():
    """One way to add a control: sk.interact (redraws on release, fails loudly, is benchmarked)."""
    for path in LESSONS:
        source = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
        assert "widgets.interact(" not in source, f"{path.name}: use sk.interact, not widgets.interact"


def test_the_lesson_map_lists_every_notebook_and_only_those():
    """notebooks/README.md is the instructors' map: a renamed or added lesson must show up there."""
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`((?:exercises/|solutions/)?\d\d-[a-z0-9-]+)`", text))
    have = {str(p.relative_to(ROOT).with_suffix("")) for p in NOTEBOOKS}
    assert not have - named, f"notebooks missing from notebooks/README.md: {sorted(have - named)}"
    assert not named - have, f"notebooks/README.md names notebooks that do not exist: {sorted(named - have)}"

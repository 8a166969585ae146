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
NOTEBOOKS = sorted(p for p in ROOT.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
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


@pytest.mark.notebook
@pytest.mark.parametrize("path", _notebook_params())
def test_notebook_runs_and_draws(path, tmp_path):
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # IPC sockets in a folder of this test's own: kernels started in parallel (pytest -n)
    # cannot race for the same TCP ports and swallow each other's replies
    km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
    client = NotebookClient(nb, km=km, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})  # cwd = the notebook's folder
    # a failing cell raises CellExecutionError, whose message shows the cell's source and traceback
    client.execute(env={**os.environ, "MPLBACKEND": INLINE})

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

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


def _ids(paths):
    return [str(p.relative_to(ROOT)) for p in paths]


def test_there_are_notebooks():
    assert NOTEBOOKS, "the curriculum lives in notebooks/"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_and_draws(path, tmp_path):
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    try:
        # IPC sockets in a folder of this test's own: kernels started in parallel (pytest -n)
        # cannot race for the same TCP ports and swallow each other's replies
        km = KernelManager(kernel_name="python3", transport="ipc", ip=str(tmp_path / "kernel"))
        NotebookClient(nb, km=km, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        if env_backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = env_backend
    images = [
        out["data"]["image/png"]
        for cell in nb.cells if cell.cell_type == "code"
        for out in cell.get("outputs", []) if "image/png" in out.get("data", {})
    ]
    if not nb.metadata.get("simkit", {}).get("no_figures", False):
        assert images, f"{path.name} drew no figure"
    for i, png in enumerate(images):
        pixels = mpimg.imread(io.BytesIO(base64.b64decode(png)), format="png")
        assert np.ptp(pixels) > 0, f"figure {i} of {path.name} is blank"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"cell {i} of {path.name} has outputs: clear them before committing"
            assert cell.get("execution_count") is None, f"cell {i} of {path.name} has an execution count"


def test_notebook_names_are_numbered_lessons():
    for path in NOTEBOOKS:
        assert NAME.match(path.name), f"{path.name}: expected NN-topic.ipynb"
    numbers = [p.name[:2] for p in NOTEBOOKS if p.parent == ROOT]
    assert len(numbers) == len(set(numbers)), "two lessons share a number"

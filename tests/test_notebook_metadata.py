"""Every committed notebook carries the metadata JupyterLab writes, so opening a lesson changes no file."""

import importlib.util
from pathlib import Path

import nbformat
import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "normalise_notebooks.py"
_spec = importlib.util.spec_from_file_location("normalise_notebooks", SCRIPT)
normalise = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(normalise)


@pytest.mark.parametrize("path", [pytest.param(p, id=str(p.relative_to(normalise.ROOT))) for p in normalise.notebooks()])
def test_notebook_metadata_is_what_jupyterlab_would_write(path):
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata == normalise.METADATA, (
        f"{path.name}: opening it would mark it modified; run python .ci/normalise_notebooks.py")


def test_the_pinned_python_is_the_one_environment_yml_installs():
    environment = (SCRIPT.parent.parent / "environment.yml").read_text()
    assert f"python={normalise.PYTHON}" in environment.split()

"""Give every committed notebook the metadata JupyterLab itself would write, so that opening one changes no file.

When JupyterLab opens a notebook it starts the kernel and copies the kernel's name and language details into the
notebook's metadata. If they differ from the file, the notebook is marked modified and autosave rewrites it (and,
through jupytext, its text twin). Saving through jupytext also records jupytext's metadata filter. This script
writes exactly that metadata, for the Python the kit pins (``environment.yml``), so the first save is a no-op.

    python .ci/normalise_notebooks.py          # rewrite the notebooks that differ
    python .ci/normalise_notebooks.py --check  # only list them, exit 1 if any (what tests/ checks)
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent / "notebooks"
PYTHON = "3.11.7"  # the python= pin in environment.yml: a kernel of another version marks the notebook modified
METADATA = {
    "jupytext": {"notebook_metadata_filter": "-all"},  # what jupytext adds on save (notebooks/jupytext.toml)
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
                      "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
                      "pygments_lexer": "ipython3", "version": PYTHON},
}


def notebooks() -> list[Path]:
    """Every committed notebook: lessons, exercises and solutions (not their text twins or checkpoints)."""
    return sorted(p for p in ROOT.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts and "text" not in p.parts)


def main(argv: list[str]) -> int:
    differ = []
    for path in notebooks():
        nb = nbformat.read(path, as_version=4)
        if nb.metadata != METADATA or nb.nbformat_minor != 5:
            differ.append(path)
            if "--check" not in argv:
                nb.metadata = nbformat.from_dict(METADATA)
                nb.nbformat_minor = 5
                nbformat.write(nb, path)
    for path in differ:
        print(f"{'differs' if '--check' in argv else 'normalised'}: {path.relative_to(ROOT.parent)}")
    return 1 if differ and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

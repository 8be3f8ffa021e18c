"""Every notebook in tutorials/ runs top to bottom in a fresh kernel without an error.

Each notebook asserts its own claims (steprnn against torch where torch is installed, the
equations against the traced numbers), so an assertion failing inside one fails here. The kernel
imports this checkout's steprnn: it starts in the repository root with the root first on
PYTHONPATH.
"""
from __future__ import annotations

import os
import pathlib

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.ipynb"))
TIMEOUT_S = 600  # per cell; each notebook takes well under a minute on an idle two-core machine


def test_the_nine_tutorials_are_there():
    names = [p.stem for p in NOTEBOOKS]
    assert [n[:2] for n in names] == [f"{k:02d}" for k in range(1, 10)], names


def test_notebooks_are_stored_with_their_outputs():
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code and all(c.get("execution_count") for c in code), f"{path.name} is stored unexecuted"
        errors = [o for c in code for o in c.outputs if o.output_type == "error"]
        assert not errors, f"{path.name} is stored with an error output"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as e:  # the cell, the traceback, the error
        pytest.fail(f"{path.name} failed:\n{e}")

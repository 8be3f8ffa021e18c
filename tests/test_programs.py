"""The acceptance corpus: every PyTorch program in tests/programs/ runs under steprnn with only its
import lines rewritten (tests/programs/port.py), and leaves the same ``losses`` and ``outputs`` as
under torch (float32 programs within 1e-5, float64 within 1e-8), from the same initial weights
(``torch.manual_seed`` → steprnn's PyTorch-exact generator)."""
from __future__ import annotations

import importlib.util
import math
import pathlib
import warnings

import numpy as np
import pytest

HERE = pathlib.Path(__file__).parent / "programs"
_spec = importlib.util.spec_from_file_location("port", HERE / "port.py")
port_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(port_mod)

PROGRAMS = sorted(p.name for p in HERE.glob("*.py") if p.name != "port.py")
FLOAT64 = {"lstmcell_timeseries.py"}


@pytest.fixture(autouse=True, scope="module")
def one_thread_each():
    """Tutorial-sized programs run fastest on one thread in both libraries (and a shared CI machine
    makes thread pools spin against each other)."""
    import numba
    import torch
    threads = (numba.get_num_threads(), torch.get_num_threads())
    numba.set_num_threads(1)
    torch.set_num_threads(1)
    yield
    numba.set_num_threads(threads[0])
    torch.set_num_threads(threads[1])


def run_program(source: str, name: str) -> dict:
    namespace = {"__name__": "__program__", "__file__": str(HERE / name)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, str(HERE / name), "exec"), namespace)
    return namespace


def assert_close(ours, theirs, tol: float, path: str) -> None:
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), f"{path}: keys {ours!r} vs {theirs!r}"
        for k in theirs:
            assert_close(ours[k], theirs[k], tol, f"{path}[{k!r}]")
    elif isinstance(theirs, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(theirs), f"{path}: {ours!r} vs {theirs!r}"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert_close(a, b, tol, f"{path}[{i}]")
    elif isinstance(theirs, float):
        assert isinstance(ours, (float, int)), f"{path}: {type(ours).__name__} vs float"
        assert math.isclose(ours, theirs, rel_tol=tol, abs_tol=tol), f"{path}: {ours!r} vs torch's {theirs!r}"
    else:
        assert type(ours) is type(theirs) and ours == theirs, f"{path}: {ours!r} vs torch's {theirs!r}"


def test_port_rewrites_import_lines_only():
    source = ("import math\nimport torch\nimport torch.nn as nn\nimport torch.nn.functional as F\n"
              "from torch import optim\nfrom torch.nn.utils.rnn import pad_sequence\nimport numpy as np, torch\n"
              "import torch.optim\nx = torch.zeros(2)  # import torch\n    import torch\n")
    ported = port_mod.port(source).splitlines()
    assert ported == ["import math", "import steprnn as torch", "import steprnn.nn as nn",
                      "import steprnn.nn.functional as F", "from steprnn import optim",
                      "from steprnn.nn.utils.rnn import pad_sequence", "import numpy as np, steprnn as torch",
                      "import steprnn.optim, steprnn as torch", "x = torch.zeros(2)  # import torch",
                      "    import steprnn as torch"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_runs_unchanged_and_matches_torch(name):
    source = (HERE / name).read_text()
    changed = port_mod.changed_lines(source)
    assert changed and all("import" in a and "torch" in a for a, _ in changed)
    theirs = run_program(source, name)
    ours = run_program(port_mod.port(source), name)
    assert "steprnn" in ours["torch"].__name__ and theirs["torch"].__name__ == "torch"
    tol = 1e-8 if name in FLOAT64 else 1e-5
    assert len(theirs["losses"]) >= 5
    assert_close(ours["losses"], theirs["losses"], tol, "losses")
    assert_close(ours["outputs"], theirs["outputs"], tol, "outputs")
    assert np.all(np.isfinite(ours["losses"]))

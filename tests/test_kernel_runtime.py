"""The kernels under fork(), under several threads with each Numba threading layer, and under
NUMBA_DISABLE_JIT (issue 15, items 9 and 10). Each case runs in its own process, with timeouts:
a hang fails the test instead of stopping the suite."""
from __future__ import annotations

import json

import pytest

from isolation import ROOT, clean_env, run_python

FORK_POOL = """
import json, multiprocessing as mp
import numba, numpy as np
import steprnn as sr
import steprnn.nn as nn
sr.manual_seed(0)
rnn = nn.RNN(3, 4, num_layers=2)
x = np.linspace(-1, 1, 5 * 2 * 3, dtype=np.float32).reshape(5, 2, 3)

def forward(seed):
    with sr.no_grad():
        return rnn(x + np.float32(seed))[0].numpy().copy()

expected = [forward(s) for s in range(3)]  # the parent has run the kernels before the fork
report = {"layer": numba.threading_layer()}
with mp.get_context("fork").Pool(2) as pool:
    try:
        got = pool.map_async(forward, range(3)).get(timeout=240)
        report["equal"] = all(np.array_equal(a, b) for a, b in zip(got, expected))
    except mp.TimeoutError:
        report["error"] = "timeout"
    except Exception as exc:
        report["error"] = f"{type(exc).__name__}: {exc}"
print(json.dumps(report))
"""


def _report(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_fork_after_a_forward_runs_in_the_children():
    """A fork-based Pool after one forward: the children compute the same results (no hang)."""
    report = _report(run_python(FORK_POOL, cwd=ROOT, env=clean_env(keep_cache=True), timeout=600))
    assert "error" not in report, report
    assert report["equal"] is True
    assert report["layer"] in ("tbb", "workqueue", "omp")


def _gnu_openmp_available() -> bool:
    try:
        from numba.np.ufunc import omppool
    except ImportError:
        return False
    return getattr(omppool, "openmp_vendor", "") == "GNU"


@pytest.mark.slow
@pytest.mark.skipif(not _gnu_openmp_available(), reason="needs Numba's GNU OpenMP threading layer")
def test_fork_under_gnu_openmp_refuses_clearly():
    """The user chose GNU OpenMP: a forked child refuses with a RuntimeError that says what to do."""
    env = clean_env(keep_cache=True, NUMBA_THREADING_LAYER="omp")
    report = _report(run_python(FORK_POOL, cwd=ROOT, env=env, timeout=600))
    assert report["layer"] == "omp", "the user's choice of layer is kept"
    error = report.get("error", "")
    assert error.startswith("RuntimeError:"), report
    assert "fork" in error and "spawn" in error and "NUMBA_THREADING_LAYER" in error


THREADS = """
import json, threading
import numba, numpy as np
import steprnn as sr
import steprnn.nn as nn
sr.manual_seed(0)
gru = nn.GRU(3, 6, num_layers=2)
x = np.linspace(-1, 1, 7 * 4 * 3, dtype=np.float32).reshape(7, 4, 3)

def step():
    gru.zero_grad()
    out, _ = gru(x)
    out.sum().backward()
    return out.detach().numpy().copy()

gru.zero_grad()
expected = step()
results, errors = [], []

def worker():
    try:
        for _ in range(5):
            results.append(step())
    except Exception as exc:
        errors.append(repr(exc))

threads = [threading.Thread(target=worker) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({"layer": numba.threading_layer(), "n": len(results), "errors": errors,
                  "equal": all(np.array_equal(r, expected) for r in results)}))
"""


@pytest.mark.slow
@pytest.mark.parametrize("layer", [None, "workqueue"])
def test_forwards_from_several_threads(layer):
    """workqueue aborts when two threads launch at once: steprnn serialises its launches."""
    env = clean_env(keep_cache=True, NUMBA_THREADING_LAYER=layer)
    report = _report(run_python(THREADS, cwd=ROOT, env=env, timeout=600))
    assert report["errors"] == [] and report["n"] == 20 and report["equal"] is True, report
    if layer:
        assert report["layer"] == layer


DISABLED_JIT = """
import json
import numpy as np, torch
import steprnn.nn as nn
errors = {}
for kind in ("RNN", "LSTM", "GRU"):
    ours = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=np.float64)
    theirs = getattr(torch.nn, kind)(3, 4, num_layers=2, bidirectional=True, dtype=torch.float64)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    out = ours(x)[0]
    out.sum().backward()
    ref = theirs(torch.from_numpy(x))[0]
    ref.sum().backward()
    errors[kind] = [float(np.abs(out.detach().numpy() - ref.detach().numpy()).max()),
                    float(np.abs(ours.weight_hh_l1_reverse.grad.numpy() - theirs.weight_hh_l1_reverse.grad.numpy()).max())]
print(json.dumps(errors))
"""


@pytest.mark.slow
def test_kernels_run_interpreted_under_numba_disable_jit():
    env = clean_env(keep_cache=True, NUMBA_DISABLE_JIT="1")
    report = _report(run_python(DISABLED_JIT, cwd=ROOT, env=env, timeout=600))
    for kind, (out_err, grad_err) in report.items():
        assert out_err < 1e-10 and grad_err < 1e-8, (kind, out_err, grad_err)

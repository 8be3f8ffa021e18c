"""What keeps a call cheap must not change what it does (issue 14, fixed costs).

* ``import steprnn`` leaves Numba, SciPy, matplotlib and torch unimported, and every public name
  that now loads on first use is still where SPEC.md puts it;
* the layers' fast input path hands the caller's own array to the kernels (no copy, never written)
  and refuses what the general path refuses, with the same words;
* the cached per-row bounds that let small calls skip the memory sums really are upper bounds, so
  nothing that would have been refused slips through.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr
from steprnn import nn
from steprnn._checks import as_float_array
from steprnn.memory import run_nbytes, trace_nbytes
from steprnn.trace import TraceMemoryError, set_memory_limit

ROOT = Path(__file__).resolve().parents[1]


def _run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_leaves_heavy_dependencies_unimported():
    out = _run("import sys, steprnn\n"
               "print(sorted(m for m in ('numba', 'scipy', 'matplotlib', 'torch', 'tqdm', 'steprnn.optim',"
               " 'steprnn.serialization', 'steprnn.plot', 'steprnn.tasks') if m in sys.modules))")
    assert out.strip() == "[]", f"import steprnn loaded {out.strip()}"


def test_names_loaded_on_first_use_are_where_spec_puts_them():
    out = _run(
        "import steprnn as sr, steprnn.nn as nn\n"
        "from steprnn import Step, optim, save, load, utils, onnx\n"
        "from steprnn.trace import Step as S2\n"
        "import steprnn.nn.modules, steprnn.optim, steprnn.utils.data\n"
        "assert Step is S2 is sr.Step and optim is sr.optim and save is sr.save and load is sr.load\n"
        "assert sr.optim.SGD and sr.optim.Adam and sr.utils.data.DataLoader and nn.modules.rnn.LSTM is nn.LSTM\n"
        "assert callable(sr.trace) and isinstance(sr.Trace, type)\n"
        "names = dir(sr)\n"
        "assert all(n in names for n in ('optim', 'save', 'load', 'Step', 'utils', 'onnx'))\n"
        "for n in sr.__all__: getattr(sr, n)\n"
        "print('ok')\n"
    )
    assert out.strip() == "ok"


def test_unknown_names_still_get_the_clear_message():
    with pytest.raises(AttributeError, match="not part of it"):
        sr.not_a_torch_name  # noqa: B018
    with pytest.raises(AttributeError):
        sr.trace_module_attribute_that_does_not_exist  # noqa: B018
    with pytest.raises(AttributeError):
        nn.not_a_module  # noqa: B018


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_input_path_hands_over_the_callers_array(dtype):
    a = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(dtype)
    assert as_float_array(a, np.dtype(dtype), "input") is a
    t = sr.from_numpy(a)
    assert as_float_array(t, np.dtype(dtype), "input") is a
    other = np.float64 if dtype == np.float32 else np.float32
    for value in (a, t):
        with pytest.raises(ValueError, match="dtype .* does not match weight dtype"):
            as_float_array(value, np.dtype(other), "input")


@settings(max_examples=15, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), form=st.sampled_from(["ndarray", "tensor", "strided", "list"]),
       T=st.integers(1, 4), N=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_every_input_form_gives_torchs_result_and_leaves_the_input_alone(kind, form, T, N, seed):
    rng = np.random.default_rng(seed)
    s = getattr(nn, kind)(3, 5)
    t = getattr(torch.nn, kind)(3, 5)
    t.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in s.state_dict().items()})
    base = rng.standard_normal((T, N, 6)).astype(np.float32)
    x_np = base[:, :, ::2]  # (T, N, 3), not contiguous
    x_in = {"ndarray": np.ascontiguousarray(x_np), "tensor": sr.from_numpy(np.ascontiguousarray(x_np)),
            "strided": x_np, "list": x_np.tolist()}[form]
    before = base.copy()
    with sr.no_grad():
        out = s(x_in)
    expected = t(torch.from_numpy(np.ascontiguousarray(x_np)))
    out0 = out[0].numpy()
    np.testing.assert_allclose(out0, expected[0].detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_array_equal(base, before)
    assert not np.shares_memory(out0, base)


@settings(max_examples=25, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU"]), I=st.integers(1, 40), H=st.integers(1, 40),
       L=st.integers(1, 3), bidirectional=st.booleans(), proj=st.booleans(), T=st.integers(1, 300),
       N=st.integers(1, 300), dtype=st.sampled_from([np.float32, np.float64]))
def test_cached_row_bounds_bound_the_sums(kind, I, H, L, bidirectional, proj, T, N, dtype):
    kwargs = {"proj_size": max(1, H // 2)} if kind == "LSTM" and proj and H > 1 else {}
    layer = getattr(nn, kind)(I, H, num_layers=L, bidirectional=bidirectional, dtype=dtype, **kwargs)
    for graph in (False, True):
        assert run_nbytes(layer, T, N, graph) <= T * N * layer._bytes_per_row()
    for batch in (None, [0]):
        assert trace_nbytes(layer, T, N, None, batch)[0] <= T * N * layer._bytes_per_row(trace=True)
        assert trace_nbytes(layer, T, N, [L - 1], batch)[0] <= T * N * layer._bytes_per_row(trace=True)


def test_cached_bounds_follow_a_changed_module():
    layer = nn.LSTM(4, 8)
    small = layer._bytes_per_row()
    layer.to(sr.float64)
    assert layer._bytes_per_row() > small


@pytest.mark.parametrize("cls", [nn.LSTM, nn.LSTMCell])
def test_limits_still_refuse_small_traces(cls):
    layer = cls(4, 8)
    x = np.zeros((2, 1, 4) if cls is nn.LSTM else (1, 4), np.float32)
    with pytest.raises(TraceMemoryError):
        sr.trace(layer, x, max_bytes=16)
    set_memory_limit(16)
    try:
        with pytest.raises(TraceMemoryError):
            sr.trace(layer, x)
    finally:
        set_memory_limit(None)
    sr.trace(layer, x)

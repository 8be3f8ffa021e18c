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
import threading
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


# -- issue 14, overhead2: what the cheaper forward, backward and trace must still do ----------------

from helpers import twin_layers  # noqa: E402

from steprnn import _dispatch  # noqa: E402


@st.composite
def _grad_cases(draw):
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    return dict(kind=kind, I=draw(st.integers(1, 4)), H=draw(st.integers(1, 5)), layers=draw(st.integers(1, 2)),
                bidirectional=draw(st.booleans()), bias=draw(st.booleans()), packed=draw(st.booleans()),
                with_hx=draw(st.booleans()), T=draw(st.integers(1, 5)), N=draw(st.integers(1, 4)),
                joint=draw(st.sampled_from([0, 1 << 30])), fold=draw(st.sampled_from([0, 64])),
                seed=draw(st.integers(0, 2**16)))


@settings(max_examples=40, deadline=None)
@given(_grad_cases())
def test_backward_without_copies_or_zero_fills_matches_torch(cfg):
    """h_{t-1}/c_{t-1} as views beside hs, buffers left unfilled where every row takes every step,
    weight and bias gradients as one product or apart (``JOINT_PRODUCT_MAX`` both ways), bias
    gradients folded into those products or summed apart (``FOLD_WIDTH_MAX``): float64 gradients
    equal torch's, packed (unsorted, uneven lengths) and reverse directions included."""
    old = _dispatch.JOINT_PRODUCT_MAX, _dispatch.FOLD_WIDTH_MAX
    _dispatch.JOINT_PRODUCT_MAX, _dispatch.FOLD_WIDTH_MAX = cfg["joint"], cfg["fold"]
    try:
        t_layer, s_layer = twin_layers(cfg["kind"], cfg["I"], cfg["H"], np.float64, seed=cfg["seed"] % 1000,
                                       num_layers=cfg["layers"], bidirectional=cfg["bidirectional"], bias=cfg["bias"])
        rng = np.random.default_rng(cfg["seed"])
        T, N, D = cfg["T"], cfg["N"], 2 if cfg["bidirectional"] else 1
        x = rng.standard_normal((T, N, cfg["I"]))
        xs, xt = sr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        s_in, t_in = xs, xt
        if cfg["packed"]:
            lengths = rng.integers(1, T + 1, size=N).tolist()
            s_in = sr.nn.utils.rnn.pack_padded_sequence(xs, lengths, enforce_sorted=False)
            t_in = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), enforce_sorted=False)
        hx_np = [rng.standard_normal((cfg["layers"] * D, N, cfg["H"])) for _ in range(2 if cfg["kind"] == "lstm" else 1)]
        s_h = [sr.tensor(a, requires_grad=True) for a in hx_np]
        t_h = [torch.tensor(a, requires_grad=True) for a in hx_np]
        s_hx = t_hx = None
        if cfg["with_hx"]:
            s_hx = tuple(s_h) if cfg["kind"] == "lstm" else s_h[0]
            t_hx = tuple(t_h) if cfg["kind"] == "lstm" else t_h[0]
        s_out, _ = s_layer(s_in, s_hx)
        t_out, _ = t_layer(t_in, t_hx)
        s_o = s_out.data if cfg["packed"] else s_out
        t_o = t_out.data if cfg["packed"] else t_out
        w = rng.standard_normal(tuple(t_o.shape))
        (s_o * sr.tensor(w)).sum().backward()
        (t_o * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(xs.grad.numpy(), xt.grad.numpy(), rtol=0, atol=1e-8, err_msg="input")
        if cfg["with_hx"]:
            for i, (a, b) in enumerate(zip(s_h, t_h)):
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=0, atol=1e-8, err_msg=f"hx[{i}]")
        for (name, p), (_, q) in zip(s_layer.named_parameters(), t_layer.named_parameters()):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=0, atol=1e-8, err_msg=name)
    finally:
        _dispatch.JOINT_PRODUCT_MAX, _dispatch.FOLD_WIDTH_MAX = old


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_a_recorded_run_keeps_the_initial_state_beside_its_states(kind, reverse):
    """h_prev[t] is the state step t read, a view of the buffer that holds hs (no copy in backward)."""
    layer = getattr(nn, kind.upper())(3, 4)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3)).astype(np.float32)
    h0 = rng.standard_normal((2, 4)).astype(np.float32)
    c0 = rng.standard_normal((2, 4)).astype(np.float32) if kind == "lstm" else None
    active = np.full(5, 2, dtype=np.int64)
    run = _dispatch.run_direction(kind, x, layer._weights(0, 0), h0, c0, active, reverse, record=True)
    expected = _dispatch.previous_states(run.hs, h0, active, reverse)
    np.testing.assert_array_equal(run.h_prev, expected)
    assert np.shares_memory(run.h_prev, run.hs)
    if kind == "lstm":
        np.testing.assert_array_equal(run.c_prev, _dispatch.previous_states(run.cells, c0, active, reverse))
        assert np.shares_memory(run.c_prev, run.cells)
    untraced = _dispatch.run_direction(kind, x, layer._weights(0, 0), h0, c0, active, reverse, record=True,
                                       keep_prev=False)
    assert untraced.h_prev is None and untraced.c_prev is None
    np.testing.assert_array_equal(untraced.hs, run.hs)


def test_cached_facts_follow_a_reconfigured_layer():
    """A layer's cached facts are rebuilt when batch_first, dtype... change; copies work them out anew."""
    import copy
    import pickle

    layer = nn.LSTM(3, 4)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    with sr.no_grad():
        out_tm = layer(x)[0].numpy().copy()
        assert sr.trace(layer, x).meta["batch_first"] is False
        layer.batch_first = True
        out_bf = layer(x.transpose(1, 0, 2))[0].numpy()
        np.testing.assert_array_equal(out_bf.transpose(1, 0, 2), out_tm)
        assert sr.trace(layer, x.transpose(1, 0, 2)).meta["batch_first"] is True
        layer.to(sr.float64)
        assert sr.trace(layer, x.transpose(1, 0, 2).astype(np.float64)).meta["dtype"] == "float64"
        for twin in (copy.deepcopy(layer), pickle.loads(pickle.dumps(layer))):
            np.testing.assert_array_equal(twin(x.transpose(1, 0, 2).astype(np.float64))[0].numpy(),
                                          layer(x.transpose(1, 0, 2).astype(np.float64))[0].numpy())
    cell = nn.RNNCell(3, 4)
    sd = cell.state_dict()
    pre = x[0] @ sd["weight_ih"].T + sd["bias_ih"] + sd["bias_hh"]  # h_0 = 0
    with sr.no_grad():
        a = cell(x[0])
        cell.nonlinearity = "relu"
        assert sr.trace(cell, x[0]).meta["nonlinearity"] == "relu"
        b = cell(x[0])
    np.testing.assert_allclose(a.numpy(), np.tanh(pre), rtol=0, atol=1e-6)
    np.testing.assert_allclose(b.numpy(), np.maximum(pre, 0), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("grad", [False, True])
def test_a_trace_owns_the_weights_it_keeps(kind, grad):
    """The weights a trace keeps are the forward's, in arrays no parameter shares: changing the
    parameters afterwards (in place, through .numpy()) leaves the trace as the forward saw it."""
    layer = getattr(nn, kind)(3, 4, num_layers=2)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    if grad:
        tr = sr.trace(layer, x)
    else:
        with sr.no_grad():
            tr = sr.trace(layer, x)
    for p in layer.parameters():
        p.detach().numpy()[...] += 1.0
    for layer_i in range(2):
        for short, full in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
            kept = tr.array(short, layer_i)
            np.testing.assert_array_equal(kept, before[f"{full}_l{layer_i}"])
            assert kept.shape == before[f"{full}_l{layer_i}"].shape
            for p in layer.parameters():
                assert not np.shares_memory(kept, p.detach().numpy())


def test_same_bits_compares_memory_not_values():
    """The weight cache's check: every bit counts (-0.0 against 0.0, NaN payloads), at any length."""
    from steprnn._weights import _bits
    from steprnn.kernels.cpu.jit import same_bits
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for n in (1, 255, 256, 257, 4096, 5000):
            a = rng.standard_normal(n).astype(dtype).reshape(n, 1)
            b = a.copy()
            assert same_bits(_bits(a), _bits(b))
            for pos in sorted({0, n // 2, n - 1}):
                for value in (-0.0 if a[pos, 0] == 0 else 0.0, np.nan, a[pos, 0] + 1):
                    c = a.copy()
                    c[pos, 0] = value
                    assert not same_bits(_bits(a), _bits(c)), (dtype, n, pos, value)
            z = np.zeros((n, 1), dtype)
            assert not same_bits(_bits(z), _bits(-z))  # equal values, different bits
            nan = np.full((n, 1), np.nan, dtype)
            other = nan.copy()
            other.view(np.int32 if dtype == np.float32 else np.int64)[-1, 0] ^= 1  # another NaN payload
            assert np.isnan(other).all() and not same_bits(_bits(nan), _bits(other))
    assert not same_bits(_bits(np.zeros((3, 1), np.float32)), _bits(np.zeros((4, 1), np.float32)))
    assert _bits(np.zeros((4, 3), np.float32)[:, :2]) is None  # strided: not checked, copied every call


def _change(how: str, layer, rng):
    """Change a layer's parameters one way a user or an optimiser can."""
    params = list(layer.parameters())
    p = params[int(rng.integers(len(params)))]
    if how == "numpy":
        a = p.detach().numpy()
        a[tuple(int(rng.integers(s)) for s in a.shape)] += 0.5
    elif how == "data":
        p.data.add_(0.25)
    elif how == "inplace":
        with sr.no_grad():
            p.mul_(0.9)
    elif how == "assign":
        p.data = p.detach().numpy() * 1.5
    elif how == "strided":  # a strided array as .data: copied at every call, never cached
        wide = np.zeros(p.shape[:-1] + (2 * p.shape[-1],), dtype=p.detach().numpy().dtype) if p.ndim == 2 else None
        if wide is None:
            p.data.add_(-0.5)
        else:
            wide[..., ::2] = p.detach().numpy() - 0.1
            p.data = wide[..., ::2]
    elif how == "bias":  # a bias alone, in place: a trace's cached bias copies must notice
        biases = [q for name, q in layer.named_parameters() if "bias" in name]
        if biases:
            a = biases[int(rng.integers(len(biases)))].detach().numpy()
            a[int(rng.integers(a.shape[0]))] -= 0.75
    elif how == "load":
        layer.load_state_dict({k: v * 0.8 for k, v in layer.state_dict().items()})
    elif how == "step":
        for q in params:
            q.grad = sr.tensor(rng.standard_normal(tuple(q.shape)).astype(q.detach().numpy().dtype))
        sr.optim.SGD(params, lr=0.1).step()


def test_weight_cache_entry_dropped_by_two_threads_at_once(monkeypatch):
    """Two threads that both find a layer's cached weights stale drop the entry once between
    them and both run: no KeyError from the second drop, and both forwards are right."""
    from steprnn import _weights
    layer = nn.LSTM(3, 5)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    with sr.no_grad():
        expected = layer(x)[0].numpy()
    looked, dropped = threading.Barrier(2, timeout=30), threading.Barrier(2, timeout=10)
    build = _weights.weight_layout

    def stale_after_both_looked(checks):
        looked.wait()  # both threads hold the same entry before either drops it
        return False

    def build_after_both_dropped(*args):
        dropped.wait()  # neither rebuilds (and caches anew) before both have dropped the entry
        return build(*args)

    monkeypatch.setattr(_weights, "_unchanged", stale_after_both_looked)
    monkeypatch.setattr(_weights, "weight_layout", build_after_both_dropped)
    results, errors = [], []

    def forward():
        try:
            with sr.no_grad():
                results.append(layer(x)[0].numpy())
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=forward) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(results) == 2
    for out in results:
        np.testing.assert_array_equal(out, expected)


@settings(max_examples=30, deadline=None)
@given(kind=st.sampled_from(["RNN", "LSTM", "GRU", "LSTMproj", "LSTMCell", "GRUCell"]),
       H=st.integers(1, 9), I=st.integers(1, 6), view_from=st.sampled_from([1 << 16, 24]),
       bytes_max=st.sampled_from([32 << 10, 0]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 10_000),
       changes=st.lists(st.sampled_from(["numpy", "data", "inplace", "assign", "strided", "load", "step",
                                         "bias", "trace"]), min_size=1, max_size=6))
def test_cached_weight_copies_follow_every_change(kind, H, I, view_from, bytes_max, dtype, seed, changes):
    """Small weights reach the kernels as cached transposed copies, checked against the parameter's
    bits at every call: after any change (a write through .numpy() or .data, an in-place op, a new
    array, load_state_dict, an optimiser step) the next forward is PyTorch's with the new weights,
    and every trace keeps the weights and biases of its own forward, read-only, and returns what the
    untraced forward returns (a traced forward reuses cached bias copies while the biases keep
    their bits). ``view_from`` = 24 makes some weights views and others copies in one layer;
    ``bytes_max`` = 0 checks every snapshot with ``same_bits`` (else small ones compare as bytes)."""
    from steprnn import _weights
    saved = _weights.VIEW_FROM, _weights._BYTES_COMPARE_MAX
    _weights.VIEW_FROM, _weights._BYTES_COMPARE_MAX = view_from, bytes_max
    try:
        _follow_changes(kind, H, I, dtype, seed, changes)
    finally:
        _weights.VIEW_FROM, _weights._BYTES_COMPARE_MAX = saved


def _follow_changes(kind, H, I, dtype, seed, changes):
    rng = np.random.default_rng(seed)
    cell = kind.endswith("Cell")
    extra = {"proj_size": max(1, H - 1)} if kind == "LSTMproj" and H > 1 else {}
    cls = getattr(nn, "LSTM" if kind == "LSTMproj" else kind)
    layer = cls(I, H, dtype=dtype, **extra) if cell else cls(I, H, dtype=dtype, num_layers=2, **extra)
    x = rng.standard_normal((3, I) if cell else (4, 3, I)).astype(dtype)
    traces = []
    for how in changes + ["numpy"]:
        with sr.no_grad():
            ours = layer(x)
        twin = getattr(torch.nn, type(layer).__name__)(I, H, dtype=torch.float64, **({} if cell else
                                                                                     {"num_layers": 2, **extra}))
        twin.load_state_dict({k: torch.tensor(np.array(v, dtype=np.float64)) for k, v in layer.state_dict().items()})
        with torch.no_grad():
            theirs = twin(torch.tensor(x, dtype=torch.float64))
        first_ours = ours[0] if isinstance(ours, tuple) else ours
        first_theirs = theirs[0] if isinstance(theirs, tuple) else theirs
        np.testing.assert_allclose(first_ours.numpy(), first_theirs.numpy(), rtol=0,
                                   atol=1e-5 if dtype == np.float32 else 1e-12, err_msg=f"after {how}")
        if how == "trace":
            tr = sr.trace(layer, x)
            np.testing.assert_array_equal(tr.output.detach().numpy(), first_ours.numpy(), err_msg="traced forward")
            traces.append((tr, {k: np.array(v) for k, v in layer.state_dict().items()}))
        else:
            _change(how, layer, rng)
    for tr, state in traces:
        for short, full in (("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh")):
            kept = tr.array(short, 0)
            np.testing.assert_array_equal(kept, state[full if cell else f"{full}_l0"])
            with pytest.raises(ValueError):
                kept[(0,) * kept.ndim] = 1.0

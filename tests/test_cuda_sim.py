"""The CUDA kernels compute what the CPU kernels and ``tests/reference.py`` compute, under Numba's
CUDA simulator. Run by ``test_cuda_kernels.py`` in a subprocess with ``NUMBA_ENABLE_CUDASIM=1``
(the variable must be set before ``numba`` is first imported); skipped in a normal run.

Every kernel is called with raw arrays, as the layers call it: forward (recording every step, or
into a one-step scratch area), packed batches (rows leaving early), both directions, float32 and
float64, then BPTT from the recorded buffers. The simulator runs each CUDA thread as a Python
thread, so sizes are small and examples few.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest

if os.environ.get("NUMBA_ENABLE_CUDASIM") != "1":
    pytest.skip("runs under the CUDA simulator, in a subprocess started by test_cuda_kernels.py",
                allow_module_level=True)
pytest.importorskip("numba_cuda", reason="the CUDA tests need numba-cuda (the test and gpu extras)")

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import reference  # noqa: E402
from steprnn.kernels.cpu import gru as cpu_gru  # noqa: E402
from steprnn.kernels.cpu import lstm as cpu_lstm  # noqa: E402
from steprnn.kernels.cpu import rnn as cpu_rnn  # noqa: E402
from steprnn.kernels.cuda import gru as cuda_gru  # noqa: E402
from steprnn.kernels.cuda import lstm as cuda_lstm  # noqa: E402
from steprnn.kernels.cuda import rnn as cuda_rnn  # noqa: E402
from steprnn.kernels.cuda.jit import device_full, host_call  # noqa: E402
from steprnn.kernels.cuda.bptt import cell_outputs, column_sums, previous_states  # noqa: E402
from steprnn.kernels.cuda.matmul import matmul, matmul_tn, project  # noqa: E402

TOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-10}
ROWS = {"rnn": 1, "lstm": 4, "gru": 3}
CPU = {"rnn": cpu_rnn, "lstm": cpu_lstm, "gru": cpu_gru}
GPU = {"rnn": cuda_rnn, "lstm": cuda_lstm, "gru": cuda_gru}


@dataclass(frozen=True)
class Case:
    kind: str
    dtype: str
    T: int
    N: int
    I: int
    H: int
    proj: int  # LSTM proj_size, 0 for none
    lengths: tuple  # sorted decreasing, 1..T
    reverse: bool
    record: bool
    relu: bool
    seed: int


def arrays(c: Case) -> dict:
    """Weights in PyTorch's layout, input (T, N, I), initial states, ``active`` (T,): all non-zero."""
    rng = np.random.default_rng(c.seed)
    dt = np.dtype(c.dtype)
    P = c.proj or c.H
    G = ROWS[c.kind] * c.H

    def r(*shape):
        return (rng.standard_normal(shape) * 0.6).astype(dt)

    a = dict(w_ih=r(G, c.I), w_hh=r(G, P), b_ih=r(G), b_hh=r(G), x=r(c.T, c.N, c.I), h0=r(c.N, P))
    a["w_hr"] = r(P, c.H) if c.proj else None
    a["c0"] = r(c.N, c.H) if c.kind == "lstm" else None
    lengths = np.array(c.lengths)
    a["active"] = np.array([(lengths > t).sum() for t in range(c.T)], dtype=np.int64)
    return a


def _t(w):
    return np.ascontiguousarray(w.T)


def forward_call(c: Case, a: dict, record: bool):
    """(the forward kernel's arguments after ``parts``, its outputs by name), fresh buffers;
    records start as NaN so that what a kernel leaves untouched is compared too."""
    dt = np.dtype(c.dtype)
    T, N, H = c.T, c.N, c.H
    P = c.proj or H
    R = T if record else 1
    x2 = a["x"].reshape(T * N, -1).copy()
    hs = np.zeros((T, N, P), dt)
    h = a["h0"].copy()

    def buf(width):
        return np.full((R, N * width), np.nan, dt)

    if c.kind == "lstm":
        c_ = a["c0"].copy()
        w_hr_t = np.zeros((0, 0), dt) if a["w_hr"] is None else _t(a["w_hr"])
        rec = (buf(4 * H), buf(4 * H), buf(H))
        args = (x2, (_t(a["w_ih"]), _t(a["w_hh"]), w_hr_t), (a["b_ih"], a["b_hh"]), a["active"], c.reverse,
                hs, (h, c_), rec)
        return args, dict(hs=hs, h=h, c=c_, gates=rec[0], pre=rec[1], cells=rec[2])
    if c.kind == "gru":
        rec = (buf(3 * H), buf(4 * H))
        args = (x2, (_t(a["w_ih"]), _t(a["w_hh"])), (a["b_ih"], a["b_hh"]), a["active"], c.reverse, hs, (h,), rec)
        return args, dict(hs=hs, h=h, gates=rec[0], pre=rec[1])
    rec = (buf(H),)
    args = (x2, (_t(a["w_ih"]), _t(a["w_hh"])), (a["b_ih"], a["b_hh"]), a["active"], c.reverse, c.relu, hs, (h,),
            rec)
    return args, dict(hs=hs, h=h, pre=rec[0])


def previous(c: Case, steps: np.ndarray, first: np.ndarray) -> np.ndarray:
    """(T, N, W): the state each step of each row read (``first`` before its first step)."""
    prev = np.zeros_like(steps)
    for b, n in enumerate(c.lengths):
        order = range(n - 1, -1, -1) if c.reverse else range(n)
        state = first[b]
        for t in order:
            prev[t, b] = state
            state = steps[t, b]
    return prev


def backward_call(c: Case, a: dict, fwd: dict, seed: int):
    """(the backward kernel's arguments after ``parts``, its outputs by name) from a recorded forward."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(c.dtype)
    T, N, H = c.T, c.N, c.H
    P = c.proj or H
    G = ROWS[c.kind] * H
    dhs = rng.standard_normal((T, N, P)).astype(dt)
    dh_n = rng.standard_normal((N, P)).astype(dt)
    dh0 = np.full((N, P), np.nan, dt)
    dh_all = np.zeros((T, N, P), dt)
    h_prev = previous(c, fwd["hs"], a["h0"])
    if c.kind == "lstm":
        cells = fwd["cells"].reshape(T, N, H)
        c_prev = previous(c, cells, a["c0"])
        dc_n = rng.standard_normal((N, H)).astype(dt)
        da = np.zeros((T, N * G), dt)
        dc0 = np.full((N, H), np.nan, dt)
        dc_all = np.zeros((T, N, H), dt)
        w_hr = np.zeros((0, 0), dt) if a["w_hr"] is None else a["w_hr"].copy()
        args = ((a["w_hh"].copy(), w_hr), a["active"], c.reverse, (fwd["gates"], fwd["cells"]), (h_prev, c_prev),
                (dhs, dh_n, dc_n), (da, dh0, dc0, dh_all, dc_all))
        return args, dict(da=da, dh0=dh0, dc0=dc0, dh_all=dh_all, dc_all=dc_all)
    if c.kind == "gru":
        d_gi = np.zeros((T, N * G), dt)
        d_gh = np.zeros((T, N * G), dt)
        args = (a["w_hh"].copy(), a["active"], c.reverse, (fwd["gates"], fwd["pre"]), h_prev, (dhs, dh_n),
                (d_gi, d_gh, dh0, dh_all))
        return args, dict(d_gi=d_gi, d_gh=d_gh, dh0=dh0, dh_all=dh_all)
    da = np.zeros((T, N * G), dt)
    args = (a["w_hh"].copy(), a["active"], c.reverse, c.relu, (fwd["pre"], fwd["hs"]), (dhs, dh_n), (da, dh0, dh_all))
    return args, dict(da=da, dh0=dh0, dh_all=dh_all)


def same(cuda_out: dict, cpu_out: dict, dtype, what: str) -> None:
    for name, want in cpu_out.items():
        got = cuda_out[name]
        msg = f"{what}: {name}"
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want),
                                      err_msg=msg + " (NaN where the CPU kernel has none, or the reverse)")
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL[np.dtype(dtype)], err_msg=msg)


def check(c: Case) -> None:
    a = arrays(c)
    fwd = {}
    for device, module in (("cpu", CPU[c.kind]), ("cuda", GPU[c.kind])):
        args, fwd[device] = forward_call(c, a, c.record)
        entry = getattr(module, f"{c.kind}_forward")
        if device == "cpu":
            entry(2, *args)
        else:
            host_call(entry, 0, *args)
    same(fwd["cuda"], fwd["cpu"], c.dtype, f"{c} forward")

    # outputs and final states against the float64 NumPy oracle
    params = {k: a[k] for k in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr")}
    out, h_n, c_n = reference.layer_forward(c.kind, a["x"], a["h0"], a["c0"], params, reverse=c.reverse,
                                            lengths=list(c.lengths), nonlinearity="relu" if c.relu else "tanh")
    tol = TOL[np.dtype(c.dtype)]
    np.testing.assert_allclose(fwd["cuda"]["hs"], out, rtol=0, atol=tol, err_msg=f"{c}: output vs reference")
    np.testing.assert_allclose(fwd["cuda"]["h"], h_n, rtol=0, atol=tol, err_msg=f"{c}: h_n vs reference")
    if c_n is not None:
        np.testing.assert_allclose(fwd["cuda"]["c"], c_n, rtol=0, atol=tol, err_msg=f"{c}: c_n vs reference")

    # BPTT from the CPU kernel's records of every step (the records are equal, as checked above)
    recorded = fwd["cpu"]
    if not c.record:
        args, recorded = forward_call(c, a, True)
        getattr(CPU[c.kind], f"{c.kind}_forward")(2, *args)
    bwd = {}
    for device, module in (("cpu", CPU[c.kind]), ("cuda", GPU[c.kind])):
        args, bwd[device] = backward_call(c, a, recorded, c.seed + 1)
        entry = getattr(module, f"{c.kind}_backward")
        if device == "cpu":
            entry(2, *args)
        else:
            host_call(entry, 0, *args)
    same(bwd["cuda"], bwd["cpu"], c.dtype, f"{c} backward")


@st.composite
def cases(draw):
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    T = draw(st.integers(1, 5))
    N = draw(st.integers(1, 4))
    H = draw(st.integers(1, 6))
    proj = draw(st.integers(1, 4)) if kind == "lstm" and draw(st.booleans()) else 0
    lengths = tuple(sorted(draw(st.lists(st.integers(1, T), min_size=N, max_size=N)), reverse=True))
    return Case(kind, draw(st.sampled_from(["float32", "float64"])), T, N, draw(st.integers(1, 5)), H, proj,
                lengths, draw(st.booleans()), draw(st.booleans()), kind == "rnn" and draw(st.booleans()),
                draw(st.integers(0, 2**16)))


def _full(kind, dtype, reverse, proj=0, relu=False):
    """Three rows, one of them shorter (packed), recording every step; odd sizes, I ≠ H."""
    return Case(kind, dtype, 5, 3, 4, 5, proj, (5, 5, 2), reverse, True, relu, 7)


EXAMPLES = [_full(k, d, r) for k in ("rnn", "lstm", "gru") for d in ("float32", "float64") for r in (False, True)]
EXAMPLES += [_full("lstm", "float64", True, proj=3), _full("rnn", "float32", False, relu=True),
             Case("gru", "float32", 4, 2, 3, 4, 0, (4, 4), False, False, False, 3)]  # scratch record (R = 1)


@pytest.mark.parametrize("case", EXAMPLES, ids=lambda c: f"{c.kind}-{c.dtype}-{'rev' if c.reverse else 'fwd'}"
                         f"{'-proj' if c.proj else ''}{'-relu' if c.relu else ''}{'' if c.record else '-scratch'}")
def test_cuda_kernels_equal_cpu_kernels_and_reference(case):
    check(case)


@settings(max_examples=int(os.environ.get("STEPRNN_CUDASIM_EXAMPLES", "6")))
@given(case=cases())
@example(case=Case("lstm", "float32", 3, 2, 1, 1, 0, (3, 1), True, False, False, 0))  # H = I = 1
def test_cuda_kernels_equal_cpu_kernels_on_drawn_cases(case):
    check(case)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_tiled_products_equal_numpy(dtype):
    """Shapes spanning several tiles and ragged edges (TILE = 16)."""
    rng = np.random.default_rng(1)
    dt = np.dtype(dtype)
    x, w, b = (rng.standard_normal(s).astype(dt) for s in ((19, 17), (17, 5), (5,)))
    tol = 1e-5 if dt == np.float32 else 1e-12

    def run(f, *args):
        from numba import cuda

        out = f(0, *(cuda.to_device(v) for v in args))
        return out.copy_to_host()

    np.testing.assert_allclose(run(project, x, w, b), x @ w + b, rtol=0, atol=tol)
    np.testing.assert_allclose(run(matmul, x, w), x @ w, rtol=0, atol=tol)
    a = rng.standard_normal((19, 3)).astype(dt)
    np.testing.assert_allclose(run(matmul_tn, a, x), a.T @ x, rtol=0, atol=tol)


def _on_device(f, *args, **kw):
    from numba import cuda

    return f(*(cuda.to_device(v) if isinstance(v, np.ndarray) else v for v in args), **kw).copy_to_host()


@pytest.mark.parametrize("reverse", [False, True])
def test_backward_helpers_equal_numpy(reverse):
    """previous_states (packed rows starting late in reverse), column sums, o ⊙ tanh(c)."""
    c = Case("lstm", "float64", 5, 4, 2, 3, 0, (5, 4, 2, 1), reverse, True, False, 11)
    a = arrays(c)
    args, fwd = forward_call(c, a, True)
    cpu_lstm.lstm_forward(2, *args)
    taken = np.arange(c.N)[None, :] < a["active"][:, None]  # (T, N): the steps each row takes
    got = _on_device(previous_states, fwd["hs"], a["h0"], a["active"], reverse)
    np.testing.assert_array_equal(got[taken], previous(c, fwd["hs"], a["h0"])[taken])
    da = np.random.default_rng(0).standard_normal((c.T * c.N, 12))
    np.testing.assert_allclose(_on_device(column_sums, da), da.sum(axis=0), rtol=0, atol=1e-12)
    gates = fwd["gates"].reshape(c.T * c.N, 4 * c.H)
    m = gates[:, 3 * c.H:] * np.tanh(fwd["cells"].reshape(c.T * c.N, c.H))
    m[~taken.reshape(-1)] = 0  # the records there are NaN: never read
    got = _on_device(cell_outputs, fwd["gates"], fwd["cells"], c.H, a["active"])
    np.testing.assert_allclose(got, m, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_device_full(dtype):
    got = device_full((3, 2, 5), np.nan, dtype).copy_to_host()
    assert got.dtype == np.dtype(dtype) and got.shape == (3, 2, 5) and np.isnan(got).all()
    np.testing.assert_array_equal(device_full((7,), 0.0, dtype).copy_to_host(), np.zeros(7, dtype))


def torch_direction_grads(c: Case, a: dict, dhs, dh_n, dc_n) -> dict:
    """Gradients of L = Σ dhs·h_t (steps taken) + dh_n·h_n (+ dc_n·c_n) by torch autograd over the
    cell equations, one row and one step at a time: the ground truth for the device pipeline below."""
    import torch

    leaf = {k: torch.tensor(v, requires_grad=True) for k, v in a.items()
            if v is not None and k not in ("active",)}
    H = c.H
    loss = 0
    for b, n in enumerate(c.lengths):
        h = leaf["h0"][b]
        cc = leaf["c0"][b] if c.kind == "lstm" else None
        for t in (range(n - 1, -1, -1) if c.reverse else range(n)):
            gi = leaf["w_ih"] @ leaf["x"][t, b] + leaf["b_ih"]
            gh = leaf["w_hh"] @ h + leaf["b_hh"]
            if c.kind == "rnn":
                h = torch.relu(gi + gh) if c.relu else torch.tanh(gi + gh)
            elif c.kind == "lstm":
                i, f, g, o = (gi + gh).split(H)
                cc = torch.sigmoid(f) * cc + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(cc)
                if "w_hr" in leaf:
                    h = leaf["w_hr"] @ h
            else:
                r = torch.sigmoid(gi[:H] + gh[:H])
                z = torch.sigmoid(gi[H:2 * H] + gh[H:2 * H])
                nn_ = torch.tanh(gi[2 * H:] + r * gh[2 * H:])
                h = (1 - z) * nn_ + z * h
            loss = loss + (torch.tensor(dhs[t, b]) * h).sum()
        loss = loss + (torch.tensor(dh_n[b]) * h).sum()
        if cc is not None:
            loss = loss + (torch.tensor(dc_n[b]) * cc).sum()
    loss.backward()
    return {k: v.grad.numpy() for k, v in leaf.items() if v.grad is not None}


def device_direction_grads(c: Case, a: dict, dhs, dh_n, dc_n) -> dict:
    """One layer/direction forward and backward with every array on the device: the recipe for the
    dispatcher (forward, previous states, BPTT, then weight gradients as products over all steps)."""
    from numba import cuda

    from steprnn.kernels.cuda.jit import device_full

    dev = cuda.to_device
    dt = np.dtype(c.dtype)
    T, N, H = c.T, c.N, c.H
    P = c.proj or H
    G = ROWS[c.kind] * H
    mod = GPU[c.kind]
    x2 = dev(a["x"].reshape(T * N, -1))
    active = dev(a["active"])
    h0 = dev(a["h0"])
    hs = device_full((T, N, P), 0, dt)
    h = dev(a["h0"])
    weights = (dev(_t(a["w_ih"])), dev(_t(a["w_hh"])))
    biases = (dev(a["b_ih"]), dev(a["b_hh"]))
    w_hh = dev(a["w_hh"])
    no_proj = dev(np.zeros((0, 0), dt))
    d_in = (dev(dhs), dev(dh_n))
    dh0 = cuda.device_array((N, P), dt)
    dh_all = device_full((T, N, P), 0, dt)
    h_prev = lambda: previous_states(hs, h0, active, c.reverse)  # noqa: E731  (after the forward)
    if c.kind == "lstm":
        w_hr = dev(a["w_hr"]) if c.proj else no_proj
        rec = (cuda.device_array((T, N * G), dt), cuda.device_array((T, N * G), dt), cuda.device_array((T, N * H), dt))
        cc = dev(a["c0"])
        mod.lstm_forward(0, x2, weights + (dev(_t(a["w_hr"])) if c.proj else no_proj,), biases, active, c.reverse,
                         hs, (h, cc), rec)
        c_prev = previous_states(rec[2].reshape(T, N, H), dev(a["c0"]), active, c.reverse)
        da = device_full((T, N * G), 0, dt)
        dc0 = cuda.device_array((N, H), dt)
        mod.lstm_backward(0, (w_hh, w_hr), active, c.reverse, (rec[0], rec[2]), (h_prev(), c_prev),
                          d_in + (dev(dc_n),), (da, dh0, dc0, dh_all, device_full((T, N, H), 0, dt)))
        d_gi = d_gh = da.reshape(T * N, G)
        out = {"c0": dc0.copy_to_host()}
        if c.proj:
            m = cell_outputs(rec[0], rec[2], H, active)  # (T*N, H)
            out["w_hr"] = matmul_tn(0, dh_all.reshape(T * N, P), m).copy_to_host()
    elif c.kind == "gru":
        rec = (cuda.device_array((T, N * G), dt), cuda.device_array((T, N * 4 * H), dt))
        mod.gru_forward(0, x2, weights, biases, active, c.reverse, hs, (h,), rec)
        d_gi, d_gh = device_full((T, N * G), 0, dt), device_full((T, N * G), 0, dt)
        mod.gru_backward(0, w_hh, active, c.reverse, rec, h_prev(), d_in, (d_gi, d_gh, dh0, dh_all))
        d_gi, d_gh = d_gi.reshape(T * N, G), d_gh.reshape(T * N, G)
        out = {}
    else:
        rec = (cuda.device_array((T, N * H), dt),)
        mod.rnn_forward(0, x2, weights, biases, active, c.reverse, c.relu, hs, (h,), rec)
        da = device_full((T, N * G), 0, dt)
        mod.rnn_backward(0, w_hh, active, c.reverse, c.relu, (rec[0], hs), d_in, (da, dh0, dh_all))
        d_gi = d_gh = da.reshape(T * N, G)
        out = {}
    out["w_ih"] = matmul_tn(0, d_gi, x2).copy_to_host()  # Σ_t dL/da_t x_tᵀ
    out["w_hh"] = matmul_tn(0, d_gh, h_prev().reshape(T * N, P)).copy_to_host()  # Σ_t dL/da_t h_{t-1}ᵀ
    out["b_ih"] = column_sums(d_gi).copy_to_host()
    out["b_hh"] = column_sums(d_gh).copy_to_host()
    out["x"] = matmul(0, d_gi, dev(a["w_ih"])).copy_to_host().reshape(T, N, -1)  # dL/dx_t = dL/da_t W_ih
    out["h0"] = dh0.copy_to_host()
    return out


PIPELINE = [_full("lstm", "float64", True, proj=3), _full("gru", "float64", False),
            _full("rnn", "float32", True, relu=True)]


@pytest.mark.parametrize("case", PIPELINE, ids=lambda c: f"{c.kind}-{c.dtype}")
def test_device_pipeline_gradients_equal_torch(case):
    """Forward, BPTT and every parameter gradient on the device equal torch autograd (packed rows)."""
    a = arrays(case)
    rng = np.random.default_rng(5)
    P = case.proj or case.H
    dhs = rng.standard_normal((case.T, case.N, P)).astype(case.dtype)
    dh_n = rng.standard_normal((case.N, P)).astype(case.dtype)
    dc_n = rng.standard_normal((case.N, case.H)).astype(case.dtype)
    want = torch_direction_grads(case, a, dhs, dh_n, dc_n)
    got = device_direction_grads(case, a, dhs, dh_n, dc_n)
    tol = 1e-10 if case.dtype == "float64" else 1e-4
    assert set(got) == set(want), (sorted(got), sorted(want))
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=tol, err_msg=f"{case}: d{name}")

"""The kernel contract: each backend's kernels, called with raw arrays, against ``tests/reference.py``.

Every backend (``kernels/<device>/``) has the modules ``rnn``, ``lstm`` and ``gru`` with the same
kernel signatures; their docstrings are the contract. Here each kernel is called directly, with
NumPy arrays laid out as those docstrings say (weights as the layers pass them: transposed views
of PyTorch's arrays), and compared with the float64 oracle:

* forward: h_t of every step, h_n/c_n, and the records (gates, pre-activations, c_t) in the
  column layout that ``steprnn.cell_kinds`` describes; a one-step scratch record (R = 1) holds
  each row's last step; rows past a sequence's end stay untouched;
* backward: from records built by the oracle (entries of steps a row does not take are NaN, so a
  kernel that read them would fail), the gradients it returns — dL/dh_0, dL/dc_0, dL/da of every
  step, the total dL/dh_t and dL/dc_t — against central differences of the oracle's loss
  L = Σ_t dL/dh_t·h_t + dL/dh_n·h_n (+ dL/dc_n·c_n), through what they determine: dL/dx, dL/db,
  dL/dW, and dL/dh_t, dL/dc_t by restarting the oracle from a perturbed state.

CUDA joins where it can run: on a GPU, or under Numba's simulator (``NUMBA_ENABLE_CUDASIM=1`` set
before ``numba`` is imported); its entries run on NumPy arrays through ``kernels.cuda.jit.host_call``.
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference import cell_step, layer_forward
from steprnn.cell_kinds import KINDS

def _cuda_runs_here() -> bool:
    try:
        import numba_cuda  # noqa: F401  (the gpu extra)
        from numba import cuda
    except ImportError:
        return False
    return os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" or cuda.is_available()


BACKENDS = ["cpu"] + (["cuda"] if _cuda_runs_here() else [])


def kernel_module(backend: str, kind: str):
    return importlib.import_module(f"steprnn.kernels.{backend}.{kind}")


def call(backend: str, kernel, *args) -> None:
    """Run a kernel entry on NumPy arrays, its outputs written into them (as the CPU kernels do)."""
    if backend == "cpu":
        kernel(*args)
    else:
        from steprnn.kernels.cuda.jit import host_call

        host_call(kernel, *args)


@st.composite
def problems(draw, dtypes=(np.float32, np.float64), kinds=("rnn", "lstm", "gru")):
    """A kernel call's sizes and raw arrays: kind, sizes, weights, states, lengths (sorted decreasing)."""
    kind = draw(st.sampled_from(kinds))
    T, N, I, H = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    P = draw(st.integers(1, H - 1)) if kind == "lstm" and H > 1 and draw(st.booleans()) else None
    lengths = sorted(draw(st.lists(st.integers(1, T), min_size=N, max_size=N)), reverse=True)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    G = KINDS[kind].rows_per_unit
    H_out = H if P is None else P
    bias = draw(st.booleans())
    p = {"w_ih": rng.uniform(-1, 1, (G * H, I)), "w_hh": rng.uniform(-1, 1, (G * H, H_out)),
         "b_ih": rng.uniform(-1, 1, G * H) if bias else None, "b_hh": rng.uniform(-1, 1, G * H) if bias else None,
         "w_hr": None if P is None else rng.uniform(-1, 1, (P, H))}
    return {
        "kind": kind, "T": T, "N": N, "I": I, "H": H, "H_out": H_out, "p": p, "lengths": lengths,
        "x": rng.standard_normal((T, N, I)), "h0": rng.uniform(-1, 1, (N, H_out)),
        "c0": rng.uniform(-1, 1, (N, H)) if kind == "lstm" else None,
        "reverse": draw(st.booleans()), "relu": kind == "rnn" and draw(st.booleans()),
        "parts": draw(st.integers(1, 4)), "dtype": np.dtype(draw(st.sampled_from(dtypes))),
        "dhs": rng.standard_normal((T, N, H_out)), "dh_n": rng.standard_normal((N, H_out)),
        "dc_n": rng.standard_normal((N, H)) if kind == "lstm" else None,
    }


def active_rows(lengths: list[int], T: int) -> np.ndarray:
    """(T,) int64: rows 0..active[t]-1 take part in step t."""
    return np.array([sum(n > t for n in lengths) for t in range(T)], dtype=np.int64)


def oracle_steps(c: dict) -> dict:
    """Per step and row, from the oracle: gates, pre (the blocks the kernels write, ``written_pre``),
    c, h, and the state each step read (h_prev, c_prev); NaN where a row takes no step."""
    kind, T, N = c["kind"], c["T"], c["N"]
    spec = KINDS[kind]
    H, H_out = c["H"], c["H_out"]
    out = {name: np.full((T, N, w), np.nan) for name, w in (
        ("gates", spec.gate_width * H), ("pre", len(spec.written_pre) * H), ("c", H), ("h", H_out),
        ("h_prev", H_out), ("c_prev", H))}
    nl = "relu" if c["relu"] else "tanh"
    for b in range(N):
        n = c["lengths"][b]
        h = c["h0"][b:b + 1]
        cc = None if c["c0"] is None else c["c0"][b:b + 1]
        for t in (range(n - 1, -1, -1) if c["reverse"] else range(n)):
            out["h_prev"][t, b] = h[0]
            if cc is not None:
                out["c_prev"][t, b] = cc[0]
            h, cc, gates, pre = cell_step(kind, c["x"][t, b:b + 1], h, cc, c["p"], nl)
            if spec.gates:
                out["gates"][t, b] = np.concatenate([gates[g][0] for g in spec.gates])
            out["pre"][t, b] = np.concatenate([pre[name][0] for name in spec.written_pre])
            if cc is not None:
                out["c"][t, b] = cc[0]
            out["h"][t, b] = h[0]
    return out


def _strided(a: np.ndarray) -> np.ndarray:
    """``a``'s values in a view whose last axis steps over every other element of a wider buffer."""
    wide = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan, a.dtype)
    view = wide[..., ::2]
    view[...] = a
    return view


def run_forward(backend: str, c: dict, record: bool, record_pre: bool | None = None,
                copies: bool = False, strided: bool = False) -> dict:
    """Call ``<kind>_forward`` with raw arrays; return what it wrote, as (T or 1, N, ·) arrays.
    ``record_pre``: the pre-activations' own R (T or 1) where it differs from the others'.
    Weights go in as transposed views (as the layers pass large ones), or with ``copies`` as
    C-contiguous transposed copies (as they pass small ones: the CPU kernels then multiply
    W_ih x_t in their time loop, where with views they project all steps first). ``strided``:
    the state and hs as views with strided rows (the CPU kernels then leave their SIMD lanes for
    element-by-element loops)."""
    kind, T, N, H, dt = c["kind"], c["T"], c["N"], c["H"], c["dtype"]
    spec = KINDS[kind]
    p = {k: None if v is None else v.astype(dt) for k, v in c["p"].items()}
    G = spec.rows_per_unit * H
    transposed = (lambda w: np.ascontiguousarray(w.T)) if copies else (lambda w: w.T)
    weights = (transposed(p["w_ih"]), transposed(p["w_hh"]))
    if kind == "lstm":
        weights += (np.zeros((0, 0), dt).T if p["w_hr"] is None else transposed(p["w_hr"]),)
    zeros = np.zeros(G, dt)
    biases = (zeros if p["b_ih"] is None else p["b_ih"], zeros if p["b_hh"] is None else p["b_hh"])
    R = T if record else 1
    hs = np.zeros((T, N, c["H_out"]), dt)
    state = (c["h0"].astype(dt),) + (() if c["c0"] is None else (c["c0"].astype(dt),))
    if strided:
        hs, state = _strided(hs), tuple(_strided(a) for a in state)
    widths = {"gates": spec.gate_width * H, "pre": len(spec.written_pre) * H, "c": H}
    rec = {name: np.full((R, N * widths[name]), -7.0, dt) for name in spec.record_names}
    if record_pre is not None:
        rec["pre"] = np.full((T if record_pre else 1, N * widths["pre"]), -7.0, dt)
    x = np.ascontiguousarray(c["x"].astype(dt).reshape(T * N, -1))
    active = active_rows(c["lengths"], T)
    fwd = getattr(kernel_module(backend, kind), f"{kind}_forward")
    flags = (c["relu"],) if kind == "rnn" else ()
    call(backend, fwd, c["parts"], x, weights, biases, active, c["reverse"], *flags, hs, state, tuple(rec.values()))
    got = {name: a.reshape(a.shape[0], N, -1) for name, a in rec.items()}
    got.update(hs=hs, h_n=state[0], c_n=state[1] if len(state) > 1 else None)
    return got


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=60)
@given(c=problems(), record=st.booleans(), copies=st.booleans(), strided=st.booleans())
def test_forward_kernels_equal_the_oracle(backend, c, record, copies, strided):
    got = run_forward(backend, c, record, copies=copies, strided=strided and backend == "cpu")
    want = oracle_steps(c)
    tol = 1e-5 if c["dtype"] == np.float32 else 1e-10
    T, N = c["T"], c["N"]
    valid = np.arange(T)[:, None] < np.asarray(c["lengths"])[None, :]  # (T, N)
    hs = got["hs"].astype(np.float64)
    np.testing.assert_allclose(hs[valid], want["h"][valid], rtol=0, atol=tol, err_msg="hs")
    assert np.all(hs[~valid] == 0), "rows past a sequence's end must stay untouched"
    ref_out, ref_h, ref_c = layer_forward(c["kind"], c["x"], c["h0"], c["c0"], c["p"], c["reverse"], c["lengths"],
                                          "relu" if c["relu"] else "tanh")
    np.testing.assert_allclose(got["h_n"], ref_h, rtol=0, atol=tol, err_msg="h_n")
    if c["kind"] == "lstm":
        np.testing.assert_allclose(got["c_n"], ref_c, rtol=0, atol=tol, err_msg="c_n")
    check_records(got, want, c, KINDS[c["kind"]].record_names, tol)


def check_records(got: dict, want: dict, c: dict, names, tol: float) -> None:
    """Each record in ``names`` against the oracle: every step where it has T rows, else (a one-step
    scratch) each batch row's last step (forward: its length - 1; reverse: t = 0)."""
    T, N = c["T"], c["N"]
    valid = np.arange(T)[:, None] < np.asarray(c["lengths"])[None, :]  # (T, N)
    last = [0 if c["reverse"] else n - 1 for n in c["lengths"]]
    for name in names:
        rec = got[name].astype(np.float64)
        if rec.shape[0] == T:
            np.testing.assert_allclose(rec[valid], want[name][valid], rtol=0, atol=tol, err_msg=name)
        else:
            np.testing.assert_allclose(rec[0], want[name][last, np.arange(N)], rtol=0, atol=tol,
                                       err_msg=f"{name} (scratch)")


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=40)
@given(c=problems(kinds=("lstm",)), record=st.booleans())
def test_lstm_records_pre_activations_on_their_own(backend, c, record):
    """The LSTM kernel takes R for the pre-activations apart from the gates' and c_t's (the
    layers keep one step of them; a trace recomputes the rest): the records are the oracle's."""
    got = run_forward(backend, c, record, record_pre=not record)
    want = oracle_steps(c)
    tol = 1e-5 if c["dtype"] == np.float32 else 1e-10
    valid = np.arange(c["T"])[:, None] < np.asarray(c["lengths"])[None, :]
    np.testing.assert_allclose(got["hs"][valid], want["h"][valid], rtol=0, atol=tol)
    check_records(got, want, c, ("gates", "c", "pre"), tol)


# -- backward -------------------------------------------------------------------------------------

def oracle_loss(c: dict, x, h0, c0, p) -> float:
    """L = Σ dhs·h_t (steps taken) + dh_n·h_n (+ dc_n·c_n), by the oracle."""
    out, h_n, c_n = layer_forward(c["kind"], x, h0, c0, p, c["reverse"], c["lengths"], "relu" if c["relu"] else "tanh")
    loss = np.sum(c["dhs"] * out) + np.sum(c["dh_n"] * h_n)  # out is 0 past each sequence's end
    return loss + (0.0 if c_n is None else np.sum(c["dc_n"] * c_n))


def numeric_grad(f, a: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences of f() with respect to each entry of ``a`` (changed in place, restored)."""
    g = np.zeros_like(a)
    for i in np.ndindex(a.shape):
        keep = a[i]
        a[i] = keep + eps
        up = f()
        a[i] = keep - eps
        down = f()
        a[i] = keep
        g[i] = (up - down) / (2 * eps)
    return g


def future_loss(c: dict, b: int, t: int, h: np.ndarray, cc: np.ndarray | None) -> float:
    """The part of L that row b's steps after step t contribute, run from state (h, c) after t."""
    n = c["lengths"][b]
    steps = list(range(t - 1, -1, -1)) if c["reverse"] else list(range(t + 1, n))
    nl = "relu" if c["relu"] else "tanh"
    loss = 0.0
    for s in steps:
        h, cc, _, _ = cell_step(c["kind"], c["x"][s, b:b + 1], h, cc, c["p"], nl)
        loss += np.sum(c["dhs"][s, b] * h[0])
    loss += np.sum(c["dh_n"][b] * h[0])
    return loss + (0.0 if cc is None else np.sum(c["dc_n"][b] * cc[0]))


def run_backward(backend: str, c: dict, want: dict) -> dict:
    """Call ``<kind>_backward`` with records built by the oracle (NaN where a row takes no step)."""
    kind, T, N, H, H_out = c["kind"], c["T"], c["N"], c["H"], c["H_out"]
    G = KINDS[kind].rows_per_unit * H
    active = active_rows(c["lengths"], T)
    flat = {name: np.ascontiguousarray(want[name].reshape(T, N * want[name].shape[2]))
            for name in KINDS[kind].record_names}
    mod = kernel_module(backend, kind)
    dhs, dh_n = c["dhs"].copy(), c["dh_n"].copy()
    dh0 = np.full((N, H_out), np.nan)
    dh_all = np.zeros((T, N, H_out))
    out = {"dh0": dh0, "dh_all": dh_all}
    w_hh = np.ascontiguousarray(c["p"]["w_hh"])
    if kind == "rnn":
        da = np.zeros((T, N * G))
        call(backend, mod.rnn_backward, c["parts"], w_hh, active, c["reverse"], c["relu"], (flat["pre"], want["h"]),
             (dhs, dh_n), (da, dh0, dh_all))
        out.update(d_gi=da, d_gh=da)
    elif kind == "lstm":
        w_hr = c["p"]["w_hr"]
        da = np.zeros((T, N * G))
        dc0 = np.full((N, H), np.nan)
        dc_all = np.zeros((T, N, H))
        w_hr = np.zeros((0, 0)) if w_hr is None else np.ascontiguousarray(w_hr)
        call(backend, mod.lstm_backward, c["parts"], (w_hh, w_hr), active, c["reverse"], (flat["gates"], flat["c"]),
             (want["h_prev"], want["c_prev"]), (dhs, dh_n, c["dc_n"].copy()), (da, dh0, dc0, dh_all, dc_all))
        out.update(d_gi=da, d_gh=da, dc0=dc0, dc_all=dc_all)
    else:
        d_gi, d_gh = np.zeros((T, N * G)), np.zeros((T, N * G))
        call(backend, mod.gru_backward, c["parts"], w_hh, active, c["reverse"], (flat["gates"], flat["pre"]),
             want["h_prev"], (dhs, dh_n), (d_gi, d_gh, dh0, dh_all))
        out.update(d_gi=d_gi, d_gh=d_gh)
    for name in ("d_gi", "d_gh"):
        out[name] = out[name].reshape(T, N, G)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@settings(max_examples=30)
@given(c=problems(dtypes=(np.float64,)))
def test_backward_kernels_equal_the_oracles_gradients(backend, c):
    want = oracle_steps(c)
    got = run_backward(backend, c, want)
    T, N, H = c["T"], c["N"], c["H"]
    p = {k: None if v is None else v.copy() for k, v in c["p"].items()}
    x, h0, c0 = c["x"].copy(), c["h0"].copy(), None if c["c0"] is None else c["c0"].copy()

    def loss() -> float:
        return oracle_loss(c, x, h0, c0, p)

    valid = np.arange(T)[:, None] < np.asarray(c["lengths"])[None, :]
    atol = 1e-6
    d_gi, d_gh = got["d_gi"], got["d_gh"]
    for name in ("d_gi", "d_gh", "dh_all") + (("dc_all",) if c["kind"] == "lstm" else ()):
        assert np.all(got[name][~valid] == 0), f"{name} must stay zero where a row takes no step"

    def close(ours, theirs, what):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=atol, err_msg=what)

    close(got["dh0"], numeric_grad(loss, h0), "dL/dh_0")
    if c["kind"] == "lstm":
        close(got["dc0"], numeric_grad(loss, c0), "dL/dc_0")
    # dL/dx_t = dL/da_t W_ih; dL/dW_ih = Σ dL/da_t x_tᵀ; dL/dW_hh = Σ dL/da_t h_{t-1}ᵀ; dL/db = Σ dL/da_t
    close(np.einsum("tng,gi->tni", d_gi, p["w_ih"]), numeric_grad(loss, x), "dL/dx")
    close(np.einsum("tng,tni->gi", d_gi, c["x"]), numeric_grad(loss, p["w_ih"]), "dL/dW_ih")
    h_prev = np.where(valid[:, :, None], want["h_prev"], 0.0)
    close(np.einsum("tng,tni->gi", d_gh, h_prev), numeric_grad(loss, p["w_hh"]), "dL/dW_hh")
    if p["b_ih"] is not None:
        close(d_gi.sum(axis=(0, 1)), numeric_grad(loss, p["b_ih"]), "dL/db_ih")
        close(d_gh.sum(axis=(0, 1)), numeric_grad(loss, p["b_hh"]), "dL/db_hh")
    if p["w_hr"] is not None:  # h_t = W_hr m_t, m_t = o_t ⊙ tanh(c_t): dL/dW_hr = Σ dL/dh_t m_tᵀ
        m = np.where(valid[:, :, None], want["gates"][:, :, 3 * H:] * np.tanh(want["c"]), 0.0)
        close(np.einsum("tnp,tnh->ph", got["dh_all"], m), numeric_grad(loss, p["w_hr"]), "dL/dW_hr")
    # the total dL/dh_t (and dL/dc_t): this step's own term plus the oracle restarted from h_t (c_t)
    for t, b in zip(*np.nonzero(valid)):
        h_t = want["h"][t, b][None].copy()
        c_t = None if c["kind"] != "lstm" else want["c"][t, b][None].copy()
        direct = c["dhs"][t, b]
        close(got["dh_all"][t, b], direct + numeric_grad(lambda: future_loss(c, b, t, h_t, c_t), h_t)[0],
              f"dL/dh_t at t={t}, row {b}")
        if c_t is not None:  # c_t reaches L through later steps and through h_t = W_hr(o_t ⊙ tanh(c_t))
            dm = got["dh_all"][t, b] if p["w_hr"] is None else got["dh_all"][t, b] @ p["w_hr"]
            o, th = want["gates"][t, b, 3 * H:], np.tanh(want["c"][t, b])
            close(got["dc_all"][t, b], numeric_grad(lambda: future_loss(c, b, t, h_t, c_t), c_t)[0]
                  + dm * o * (1 - th * th), f"dL/dc_t at t={t}, row {b}")

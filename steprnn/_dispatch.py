"""Between the layers and the kernels: pick the device's backend, allocate outputs and record buffers, run.

One call runs one layer in one direction over a whole (time-major) sequence. The buffers the
kernel fills are returned as they are, in a ``DirectionRun``: the tracer wraps them without
recomputing anything. The backend of a device (``steprnn.kernels.<device>.backend``) is chosen
here and nowhere else; how a device runs its kernels (threads, BLAS) is the backend's business.
What each cell kind records, and how wide, comes from ``cell_kinds.KINDS``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ._runs import DirectionGrads, DirectionRun
from ._weights import WeightLayout
from .cell_kinds import KINDS

_BACKENDS: dict[str, ModuleType] = {}


def backend_for(device: str) -> ModuleType:
    """The kernels of ``device`` (``'cpu'`` or ``'cuda'``): ``steprnn.kernels.<device>.backend``."""
    backend = _BACKENDS.get(device)
    if backend is None:
        if device not in ("cpu", "cuda"):
            raise ValueError(f"Expected a device 'cpu' or 'cuda', got {device!r}")
        try:
            backend = importlib.import_module(f"{__package__}.kernels.{device}.backend")
        except ImportError as err:
            raise RuntimeError(f"steprnn has no kernels for device {device!r} here ({err})") from None
        _BACKENDS[device] = backend
    return backend


def _flat(buf: np.ndarray) -> np.ndarray:
    """(R, N, W) → (R, N*W): the kernels index a step's rows as one contiguous block."""
    return buf.reshape(buf.shape[0], buf.shape[1] * buf.shape[2])  # explicit: N may be 0


# -- forward --------------------------------------------------------------------------------------
# Each cell kind's forward kernel, called with the arguments every kind shares; the RNN's also
# takes its nonlinearity.

def _rnn_forward(backend, x2, w: WeightLayout, active, reverse, use_relu, hs, state, rec) -> None:
    backend.rnn_forward(x2, w.forward, w.biases, active, reverse, use_relu, hs, state, rec)


def _lstm_forward(backend, x2, w: WeightLayout, active, reverse, use_relu, hs, state, rec) -> None:
    backend.lstm_forward(x2, w.forward, w.biases, active, reverse, hs, state, rec)


def _gru_forward(backend, x2, w: WeightLayout, active, reverse, use_relu, hs, state, rec) -> None:
    backend.gru_forward(x2, w.forward, w.biases, active, reverse, hs, state, rec)


_FORWARD = {"rnn": _rnn_forward, "lstm": _lstm_forward, "gru": _gru_forward}


def run_direction(
    kind: str,
    x: np.ndarray,
    weights: WeightLayout,
    h0: np.ndarray,
    c0: np.ndarray | None,
    active: np.ndarray,
    reverse: bool,
    record: bool = False,
    nonlinearity: str = "tanh",
    device: str = "cpu",
) -> DirectionRun:
    """Run one layer in one direction.

    kind     ``'rnn'``, ``'lstm'`` or ``'gru'``
    x        (T, N, I) time-major input, any strides
    weights  the layer and direction's ``WeightLayout``
    h0       (N, H_out); c0 (N, H) for LSTM, else None
    active   (T,) int64: rows 0..active[t]-1 of the batch take part in step t
    record   keep every step's gates, pre-activations and cell states (R = T); else R = 1 scratch
    """
    spec = KINDS[kind]
    T, N, _ = x.shape
    dtype = x.dtype
    H = weights.hidden_size
    R = T if record else 1
    x2 = np.ascontiguousarray(x).reshape(T * N, x.shape[2])
    hs = np.zeros((T, N, h0.shape[1]), dtype=dtype)
    h = np.array(h0, dtype=dtype, order="C")  # working state, ends as h_n
    c = None if c0 is None else np.array(c0, dtype=dtype, order="C")  # likewise c_n
    state = (h,) if c is None else (h, c)
    gates = np.empty((R, N, spec.gate_width * H), dtype=dtype) if spec.gate_width else None
    pre = np.empty((R, N, spec.pre_width * H), dtype=dtype)
    cells = np.empty((R, N, H), dtype=dtype) if spec.has_cell_state else None
    rec = tuple(_flat(a) for a in (gates, pre, cells) if a is not None)  # the order of spec.record_names
    _FORWARD[kind](backend_for(device), x2, weights, active, reverse, nonlinearity == "relu", hs, state, rec)
    return DirectionRun(hs, h, c, gates, pre, cells)


# -- backward -------------------------------------------------------------------------------------

def previous_states(hs: np.ndarray, h0: np.ndarray, active: np.ndarray, reverse: bool) -> np.ndarray:
    """(T, N, W): the state each step read (h_{t-1}, or h_{t+1} in reverse; h_0 where a row starts)."""
    if not reverse:
        # rows active at t were active at t-1 (lengths sorted decreasing)
        return np.concatenate([h0[None], hs[:-1]], axis=0)
    prev = np.concatenate([hs[1:], h0[None]], axis=0)
    starts = np.arange(hs.shape[1])[None, :] >= np.append(active[1:], 0)[:, None]  # row begins at t
    prev[starts] = np.broadcast_to(h0, prev.shape)[starts]
    return prev


# Each cell kind's BPTT kernel. Returns (dL/d(input part of a) (T*N, G), dL/d(hidden part of a)
# (T*N, G), dh0, dc0 or None, dh_all, dc_all or None, {extra parameter gradients}); for RNN and
# LSTM both parts are one array (a = W_ih x + b_ih + W_hh h + b_hh), GRU's n gate splits them.

def _rnn_backward(backend, run, w, h_prev, c0, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    G = w.params["w_hh"].shape[0]
    da = np.zeros((T, N * G), dtype=dhs.dtype)
    dh0 = np.empty_like(h_prev[0])
    dh_all = np.zeros_like(run.hs)
    backend.rnn_backward(w.c_order("w_hh"), active, reverse, use_relu, (_flat(run.pre), run.hs), (dhs, dh_n),
                         (da, dh0, dh_all))
    da = da.reshape(T * N, G)
    return da, da, dh0, None, dh_all, None, {}


def _lstm_backward(backend, run, w, h_prev, c0, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    H = w.hidden_size
    G = w.params["w_hh"].shape[0]
    dtype = dhs.dtype
    w_hr = w.params.get("w_hr")
    c_prev = previous_states(run.cells, c0, active, reverse)
    da = np.zeros((T, N * G), dtype=dtype)
    dh0 = np.empty_like(h_prev[0])
    dc0 = np.empty_like(c0)
    dh_all = np.zeros_like(run.hs)
    dc_all = np.zeros_like(run.cells)
    backend.lstm_backward((w.c_order("w_hh"), np.zeros((0, 0), dtype) if w_hr is None else w.c_order("w_hr")),
                          active, reverse, (_flat(run.gates), _flat(run.cells)), (h_prev, c_prev),
                          (dhs, dh_n, np.ascontiguousarray(dc_n, dtype=dtype)), (da, dh0, dc0, dh_all, dc_all))
    extra = {}
    if w_hr is not None:
        o = KINDS["lstm"].gates.index("o")
        m = run.gates[:, :, o * H:(o + 1) * H] * np.tanh(run.cells)  # o ⊙ tanh(c_t), (T, N, H)
        if active.min() < N:  # steps a row does not take were never written (np.empty): zero, not garbage
            m[np.arange(N)[None, :] >= active[:, None]] = 0
        extra["w_hr"] = backend.matmul_tn(dh_all.reshape(T * N, dh_all.shape[2]), m.reshape(T * N, H))  # (H_out, H)
    da = da.reshape(T * N, G)
    return da, da, dh0, dc0, dh_all, dc_all, extra


def _gru_backward(backend, run, w, h_prev, c0, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    G = w.params["w_hh"].shape[0]
    d_gi = np.zeros((T, N * G), dtype=dhs.dtype)
    d_gh = np.zeros((T, N * G), dtype=dhs.dtype)
    dh0 = np.empty_like(h_prev[0])
    dh_all = np.zeros_like(run.hs)
    backend.gru_backward(w.c_order("w_hh"), active, reverse, (_flat(run.gates), _flat(run.pre)), h_prev,
                         (dhs, dh_n), (d_gi, d_gh, dh0, dh_all))
    return d_gi.reshape(T * N, G), d_gh.reshape(T * N, G), dh0, None, dh_all, None, {}


_BACKWARD = {"rnn": _rnn_backward, "lstm": _lstm_backward, "gru": _gru_backward}


def backward_direction(
    kind: str,
    run: DirectionRun,
    x: np.ndarray,
    weights: WeightLayout,
    h0: np.ndarray,
    c0: np.ndarray | None,
    active: np.ndarray,
    reverse: bool,
    dhs: np.ndarray,
    dh_n: np.ndarray,
    dc_n: np.ndarray | None,
    nonlinearity: str = "tanh",
    device: str = "cpu",
) -> DirectionGrads:
    """BPTT for one layer/direction from a recorded ``run`` (R = T) of ``run_direction``.

    x (T, N, I) the layer's input; weights the ``WeightLayout`` the forward used; dhs (T, N, H_out)
    the gradient arriving at each step's output; dh_n (N, H_out), dc_n (N, H) the gradient of the
    final state. The recurrence runs in the kernel; weight gradients are then one matrix product
    each over all steps.
    """
    backend = backend_for(device)
    T, N, _ = x.shape
    dtype = x.dtype
    h_prev = previous_states(run.hs, h0, active, reverse)
    dhs = np.ascontiguousarray(dhs, dtype=dtype)
    dh_n = np.ascontiguousarray(dh_n, dtype=dtype)
    d_gi, d_gh, dh0, dc0, dh_all, dc_all, grads = _BACKWARD[kind](
        backend, run, weights, h_prev, c0, active, reverse, nonlinearity == "relu", dhs, dh_n, dc_n)
    # weight gradients: one product each over all T*N rows (Σ_t dL/da_t x_tᵀ, Σ_t dL/da_t h_{t-1}ᵀ)
    x2 = np.ascontiguousarray(x).reshape(T * N, x.shape[2])
    grads["w_ih"] = backend.matmul_tn(d_gi, x2)  # (G, I)
    grads["w_hh"] = backend.matmul_tn(d_gh, h_prev.reshape(T * N, h_prev.shape[2]))  # (G, H_out)
    w_ih = weights.c_order("w_ih")
    dx = backend.matmul(d_gi, w_ih).reshape(T, N, w_ih.shape[1])  # dL/dx_t = dL/da_t W_ih
    if weights.params.get("b_ih") is not None:
        grads["b_ih"] = d_gi.sum(axis=0)
        grads["b_hh"] = d_gh.sum(axis=0)
    return DirectionGrads(dx, dh0, dc0, grads, dh_all, dc_all)

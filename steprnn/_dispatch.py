"""Between the layers and the kernels: pick the device's backend, allocate outputs and record buffers, run.

One call runs one layer in one direction over a whole (time-major) sequence. The buffers the
kernel fills are returned as they are, in a ``DirectionRun``: the tracer wraps them without
recomputing anything. The backend of a device (``steprnn.kernels.<device>.backend``) is chosen
here and nowhere else; how a device runs its kernels (threads, BLAS) is the backend's business.
What each cell kind records, and how wide, comes from ``cell_kinds.KINDS``.

Device-generic: the arrays are NumPy arrays for ``device='cpu'`` and ``numba.cuda`` device arrays
for ``'cuda'`` (``active`` included). What happens between two kernels (allocate, copy, previous
states, column sums …) goes through the backend's array operations: the CUDA backend's are small
kernels (``kernels/cuda/glue.py``, ``bptt.py``), the CPU's are the NumPy one-liners in
``CpuArrays`` below, so the CPU path is the NumPy code it always was.
"""
from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from ._runs import DirectionGrads, DirectionRun
from ._weights import WeightLayout
from .cell_kinds import KINDS

_BACKENDS: dict[str, ModuleType] = {}


def previous_states(hs: np.ndarray, h0: np.ndarray, active: np.ndarray, reverse: bool) -> np.ndarray:
    """(T, N, W): the state each step read (h_{t-1}, or h_{t+1} in reverse; h_0 where a row starts)."""
    if not reverse:
        # rows active at t were active at t-1 (lengths sorted decreasing)
        return np.concatenate([h0[None], hs[:-1]], axis=0)
    prev = np.concatenate([hs[1:], h0[None]], axis=0)
    starts = np.arange(hs.shape[1])[None, :] >= np.append(active[1:], 0)[:, None]  # row begins at t
    prev[starts] = np.broadcast_to(h0, prev.shape)[starts]
    return prev


def _cell_outputs(gates: np.ndarray, cells: np.ndarray, H: int, active: np.ndarray) -> np.ndarray:
    """(T*N, H) m = o ⊙ tanh(c) of every step from gates (T, N*4H), cells (T, N*H); 0 where a row takes no step."""
    T = cells.shape[0]
    N = cells.shape[1] // H
    g = gates.reshape(T, N, 4 * H)
    m = g[:, :, 3 * H:] * np.tanh(cells.reshape(T, N, H))  # o ⊙ tanh(c_t), (T, N, H)
    if active.min() < N:  # steps a row does not take were never written (np.empty): zero, not garbage
        m[np.arange(N)[None, :] >= active[:, None]] = 0
    return m.reshape(T * N, H)


class CpuArrays:
    """The CPU twins of the CUDA backend's array operations (``kernels/cuda/backend.py``): NumPy."""

    zeros = staticmethod(np.zeros)
    empty = staticmethod(np.empty)
    contiguous = staticmethod(np.ascontiguousarray)
    previous_states = staticmethod(previous_states)
    cell_outputs = staticmethod(_cell_outputs)

    @staticmethod
    def copy(a: np.ndarray, dtype: np.dtype | None = None) -> np.ndarray:
        return np.array(a, dtype=dtype, order="C")

    @staticmethod
    def column_sums(a: np.ndarray) -> np.ndarray:
        return a.sum(axis=0)


def arrays_for(device: str):
    """The array operations of ``device``: ``CpuArrays`` for the CPU, the CUDA backend for CUDA."""
    return CpuArrays if device == "cpu" else backend_for(device)


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


def _with_initial(T: int, N: int, W: int, first: np.ndarray, reverse: bool, zero: bool,
                  dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """(states (T, N, W), prev (T, N, W)): two views of one (T+1, N, W) buffer that holds ``first``
    (N, W) in the row before step 0 (row T in reverse), so that ``prev[t]`` is the state step t
    read. ``zero``: fill the rest with zeros (rows that take no step are never written)."""
    buf = (np.zeros if zero else np.empty)((T + 1, N, W), dtype=dtype)
    if reverse:
        buf[T] = first
        return buf[:T], buf[1:]
    buf[0] = first
    return buf[1:], buf[:T]


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
    hs: np.ndarray | None = None,
    keep_prev: bool | None = None,
) -> DirectionRun:
    """Run one layer in one direction.

    kind     ``'rnn'``, ``'lstm'`` or ``'gru'``
    x        (T, N, I) time-major input, any strides
    weights  the layer and direction's ``WeightLayout``
    h0       (N, H_out); c0 (N, H) for LSTM, else None
    active   (T,) int64, non-increasing: rows 0..active[t]-1 of the batch take part in step t
    record   keep every step's gates, pre-activations and cell states (R = T); else R = 1 scratch
    keep_prev  (CPU, recorded runs) lay out ``h_prev``/``c_prev`` for a backward (views of the
             buffers beside h_0/c_0); default: ``record``. False where no backward will follow
    hs       where to write h_t (T, N, H_out), possibly a strided view (one direction's half of a
             bidirectional output, on CUDA); None: a new array (zeros where a row takes no step)
    """
    spec = KINDS[kind]
    T, N, I = x.shape
    dtype = x.dtype
    H = weights.hidden_size
    R = T if record else 1
    # the pre-activations the kernels write: those a backward reads (``kept_pre``: GRU's W_hn h + b_hn,
    # RNN's a_t), R steps of them; the LSTM's backward reads none, and its kernels take a one-step
    # scratch of all four. A trace recomputes the rest from the recorded states (``trace.build``):
    # every step of them would be T*N*4H (LSTM) or T*N*3H (GRU) more values written
    R_pre, pre_width = (R if spec.kept_pre else 1), len(spec.written_pre)
    W = h0.shape[1]
    h_prev = c_prev = None
    if device == "cpu":
        xp = CpuArrays
        x2 = (x if x.flags.c_contiguous else np.ascontiguousarray(x)).reshape(T * N, I)
        full = T == 0 or int(active[T - 1]) >= N  # every row takes every step: the kernel writes all of hs
        # a recorded run keeps h_0 beside hs (and c_0 beside the cell states): backward's h_{t-1}
        # are then views, not copies; in reverse only where every row takes every step
        beside = record and keep_prev is not False and (full or not reverse)
        if hs is None:
            if beside:
                hs, h_prev = _with_initial(T, N, W, h0, reverse, not full, dtype)
            else:
                hs = (np.empty if full else np.zeros)((T, N, W), dtype=dtype)
        h = np.array(h0, dtype=dtype, order="C")  # working state, ends as h_n
        c = None if c0 is None else np.array(c0, dtype=dtype, order="C")  # likewise c_n
        if spec.has_cell_state and beside:
            cells, c_prev = _with_initial(T, N, H, c0, reverse, False, dtype)
        else:
            cells = np.empty((R, N, H), dtype=dtype) if spec.has_cell_state else None
        gates = np.empty((R, N, spec.gate_width * H), dtype=dtype) if spec.gate_width else None
        pre = np.empty((R_pre, N, pre_width * H), dtype=dtype)
    else:
        xp = arrays_for(device)
        x2 = xp.contiguous(x).reshape(T * N, I)
        if hs is None:
            hs = xp.zeros((T, N, W), dtype=dtype)
        h = xp.copy(h0, dtype)
        c = None if c0 is None else xp.copy(c0, dtype)
        gates = xp.empty((R, N, spec.gate_width * H), dtype=dtype) if spec.gate_width else None
        pre = xp.empty((R_pre, N, pre_width * H), dtype=dtype)
        cells = xp.empty((R, N, H), dtype=dtype) if spec.has_cell_state else None
    state = (h,) if c is None else (h, c)
    rec = tuple(_flat(a) for a in (gates, pre, cells) if a is not None)  # the order of spec.record_names
    _FORWARD[kind](backend_for(device), x2, weights, active, reverse, nonlinearity == "relu", hs, state, rec)
    return DirectionRun(hs, h, c, gates, pre, cells, h_prev, c_prev)


# -- backward -------------------------------------------------------------------------------------

# Each cell kind's BPTT kernel. Returns (dL/d(input part of a) (T*N, G), dL/d(hidden part of a)
# (T*N, G), dh0, dc0 or None, dh_all, dc_all or None, {extra parameter gradients}); for RNN and
# LSTM both parts are one array (a = W_ih x + b_ih + W_hh h + b_hh), GRU's n gate splits them.
# ``xp`` is the device's array operations (``arrays_for``); ``fill`` allocates the buffers the
# kernels write for every row that takes a step: ``zeros`` where some rows skip steps (packed
# input), else ``empty`` (the kernels overwrite every element, see their docstrings).

def _rnn_backward(backend, xp, fill, run, w, h_prev, c_prev, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    dtype = dhs.dtype
    G = w.params["w_hh"].shape[0]
    da = fill((T, N * G), dtype=dtype)
    dh0 = xp.empty(h_prev.shape[1:], dtype=dtype)
    dh_all = fill(run.hs.shape, dtype=dtype)
    backend.rnn_backward(xp.contiguous(w.params["w_hh"]), active, reverse, use_relu,
                         (_flat(run.pre), xp.contiguous(run.hs)), (dhs, dh_n), (da, dh0, dh_all))
    da = da.reshape(T * N, G)
    return da, da, dh0, None, dh_all, None, {}


def _lstm_backward(backend, xp, fill, run, w, h_prev, c_prev, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    H = w.hidden_size
    G = w.params["w_hh"].shape[0]
    dtype = dhs.dtype
    w_hr = w.params.get("w_hr")
    da = fill((T, N * G), dtype=dtype)
    dh0 = xp.empty(h_prev.shape[1:], dtype=dtype)
    dc0 = xp.empty(c_prev.shape[1:], dtype=dtype)
    dh_all = fill(run.hs.shape, dtype=dtype)
    dc_all = fill(run.cells.shape, dtype=dtype)
    gates, cells = _flat(run.gates), _flat(run.cells)
    backend.lstm_backward((xp.contiguous(w.params["w_hh"]),
                           xp.zeros((0, 0), dtype) if w_hr is None else xp.contiguous(w_hr)),
                          active, reverse, (gates, cells), (h_prev, c_prev),
                          (dhs, dh_n, xp.contiguous(dc_n, dtype=dtype)), (da, dh0, dc0, dh_all, dc_all))
    extra = {}
    if w_hr is not None:
        m = xp.cell_outputs(gates, cells, H, active)  # o ⊙ tanh(c_t), (T*N, H)
        extra["w_hr"] = backend.matmul_tn(dh_all.reshape(T * N, dh_all.shape[2]), m)  # (H_out, H)
    da = da.reshape(T * N, G)
    return da, da, dh0, dc0, dh_all, dc_all, extra


def _gru_backward(backend, xp, fill, run, w, h_prev, c_prev, active, reverse, use_relu, dhs, dh_n, dc_n):
    T, N = run.hs.shape[:2]
    dtype = dhs.dtype
    G = w.params["w_hh"].shape[0]
    d_gi = fill((T, N * G), dtype=dtype)
    d_gh = fill((T, N * G), dtype=dtype)
    dh0 = xp.empty(h_prev.shape[1:], dtype=dtype)
    dh_all = fill(run.hs.shape, dtype=dtype)
    backend.gru_backward(xp.contiguous(w.params["w_hh"]), active, reverse, (_flat(run.gates), _flat(run.pre)),
                         h_prev, (dhs, dh_n), (d_gi, d_gh, dh0, dh_all))
    return d_gi.reshape(T * N, G), d_gh.reshape(T * N, G), dh0, None, dh_all, None, {}


_BACKWARD = {"rnn": _rnn_backward, "lstm": _lstm_backward, "gru": _gru_backward}

#: a factor of a weight gradient's product this narrow (columns) gets a column of ones appended
#: on the CPU, so that the same product gives the bias gradient (no separate pass over dL/da)
FOLD_WIDTH_MAX = 64


def _with_ones(a: np.ndarray) -> np.ndarray:
    """(M, K) → (M, K + 1): ``a`` with a last column of ones."""
    out = np.empty((a.shape[0], a.shape[1] + 1), dtype=a.dtype)
    out[:, :-1] = a
    out[:, -1] = 1
    return out


#: up to this many elements in [x | h_{t-1} | 1] (T*N rows), an RNN's or LSTM's weight and bias
#: gradients are one product dL/daᵀ [x | h_{t-1} | 1] on the CPU: one launch and one pass over
#: dL/da instead of two products and a column sum, for the price of the copy (measured, forward +
#: backward, LSTM (35, 20, 128, 128): 3.33 → 3.15 ms; (100, 32, 64, 128): 9.2 → 8.8 ms; at
#: (100, 32, 128, 256), 1.2 M elements, no gain left: 31.8 against 32.0 ms)
JOINT_PRODUCT_MAX = 1 << 20


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
    each over all steps. The arrays are the device's (dhs, dh_n, dc_n of the forward's dtype).
    ``h0``/``c0`` are the initial states (used where the run does not hold ``h_prev``/``c_prev``).
    """
    backend = backend_for(device)
    T, N, I = x.shape
    dtype = x.dtype
    if device == "cpu":
        xp = CpuArrays
        fill = np.empty if T == 0 or int(active[T - 1]) >= N else np.zeros
    else:
        xp = arrays_for(device)
        fill = xp.zeros
    h_prev = run.h_prev if run.h_prev is not None else xp.previous_states(run.hs, h0, active, reverse)
    c_prev = None
    if run.cells is not None:
        c_prev = run.c_prev if run.c_prev is not None else xp.previous_states(run.cells, c0, active, reverse)
    dhs = xp.contiguous(dhs, dtype=dtype)
    dh_n = xp.contiguous(dh_n, dtype=dtype)
    d_gi, d_gh, dh0, dc0, dh_all, dc_all, grads = _BACKWARD[kind](
        backend, xp, fill, run, weights, h_prev, c_prev, active, reverse, nonlinearity == "relu", dhs, dh_n, dc_n)
    # weight gradients: one product each over all T*N rows (Σ_t dL/da_t x_tᵀ, Σ_t dL/da_t h_{t-1}ᵀ)
    x2 = xp.contiguous(x).reshape(T * N, I)
    P = h_prev.shape[2]
    h2 = h_prev.reshape(T * N, P)
    bias = weights.params.get("b_ih") is not None
    if device == "cpu" and backend.weight_gradients_take(d_gi.shape[1], I, P, dtype.itemsize):
        # all of them, and dL/dx, in one pass over dL/da (register tiles, CPU)
        grads["w_ih"], grads["w_hh"], b_in, b_h, dx = backend.weight_gradients(
            d_gi, d_gh, x2, np.ascontiguousarray(h2), np.ascontiguousarray(weights.params["w_ih"]))
        if bias:
            grads["b_ih"], grads["b_hh"] = b_in, b_h
        return DirectionGrads(dx.reshape(T, N, I), dh0, dc0, grads, dh_all, dc_all)
    if device == "cpu" and d_gi is d_gh and T * N * (I + P + 1) <= JOINT_PRODUCT_MAX:
        parts = [x2, h2, np.ones((T * N, 1), dtype=dtype)] if bias else [x2, h2]
        joint = backend.matmul_tn(d_gi, np.concatenate(parts, axis=1))  # (G, I + P (+ 1))
        grads["w_ih"] = joint[:, :I]
        grads["w_hh"] = joint[:, I:I + P]
        if bias:
            grads["b_ih"] = joint[:, I + P]
            grads["b_hh"] = joint[:, I + P].copy()
    elif device == "cpu":
        # a bias gradient is a column sum of dL/da: folded into the product that reads dL/da anyway,
        # as its column of ones, where the other factor is narrow enough to copy cheaply
        fold_ih = bias and I <= FOLD_WIDTH_MAX
        fold_hh = bias and d_gi is not d_gh and P <= FOLD_WIDTH_MAX
        w_ih_g = backend.matmul_tn(d_gi, _with_ones(x2) if fold_ih else x2)  # (G, I (+ 1))
        w_hh_g = backend.matmul_tn(d_gh, _with_ones(h2) if fold_hh else h2)  # (G, H_out (+ 1))
        grads["w_ih"] = w_ih_g[:, :I] if fold_ih else w_ih_g
        grads["w_hh"] = w_hh_g[:, :P] if fold_hh else w_hh_g
        if bias:
            grads["b_ih"] = w_ih_g[:, I] if fold_ih else d_gi.sum(axis=0)
            if d_gi is d_gh:
                grads["b_hh"] = grads["b_ih"].copy()
            else:
                grads["b_hh"] = w_hh_g[:, P] if fold_hh else d_gh.sum(axis=0)
    else:
        grads["w_ih"] = backend.matmul_tn(d_gi, x2)  # (G, I)
        grads["w_hh"] = backend.matmul_tn(d_gh, h2)  # (G, H_out)
        if bias:
            grads["b_ih"] = xp.column_sums(d_gi)
            grads["b_hh"] = xp.column_sums(d_gh)
    w_ih = xp.contiguous(weights.params["w_ih"])
    dx = backend.matmul(d_gi, w_ih).reshape(T, N, I)  # dL/dx_t = dL/da_t W_ih
    return DirectionGrads(dx, dh0, dc0, grads, dh_all, dc_all)

"""Between the layers and the kernels: pick the kernel, allocate outputs and record buffers, run.

One call runs one layer in one direction over a whole (time-major) sequence. The buffers the
kernel fills are returned as they are: the tracer wraps them without recomputing anything.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from .kernels.cpu.gru import gru_backward, gru_forward
from .kernels.cpu.jit import matmul, matmul_tn
from .kernels.cpu.lstm import lstm_backward, lstm_forward
from .kernels.cpu.rnn import rnn_backward, rnn_forward
from .kernels.cpu.threads import kernel_launch

#: gate names per cell kind, in PyTorch's row order
GATE_NAMES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
#: rows of weight_ih / weight_hh per unit
GATE_ROWS = {"rnn": 1, "lstm": 4, "gru": 3}


@dataclass
class DirectionRun:
    """What one layer/direction produced. Shapes: ``hs`` (T, N, H_out); ``h_n`` (N, H_out);
    ``c_n`` (N, H) for LSTM else None; ``gates`` (R, N, G*H); ``pre`` (R, N, G'*H);
    ``cells`` (R, N, H) for LSTM else None; R = T when recorded, else 1 (scratch)."""

    hs: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    gates: np.ndarray | None
    pre: np.ndarray
    cells: np.ndarray | None

    def select(self, rows: np.ndarray) -> "DirectionRun":
        """The same run with only batch rows ``rows`` of the per-step arrays (copies)."""
        pick = lambda a: None if a is None else a[:, rows]  # noqa: E731
        return DirectionRun(pick(self.hs), self.h_n[rows], None if self.c_n is None else self.c_n[rows],
                            pick(self.gates), pick(self.pre), pick(self.cells))


def _t(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w.T)


def _c(w: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(w)


def _flat(buf: np.ndarray) -> np.ndarray:
    """(R, N, W) → (R, N*W): the kernels index a step's rows as one contiguous block."""
    return buf.reshape(buf.shape[0], buf.shape[1] * buf.shape[2])  # explicit: N may be 0


def run_direction(
    kind: str,
    x: np.ndarray,
    params: dict,
    h0: np.ndarray,
    c0: np.ndarray | None,
    active: np.ndarray,
    reverse: bool,
    record: bool = False,
    nonlinearity: str = "tanh",
) -> DirectionRun:
    """Run one layer in one direction.

    x       (T, N, I) time-major input, any strides
    params  ``w_ih`` (G*H, I), ``w_hh`` (G*H, H_out), ``b_ih``/``b_hh`` (G*H,) or None,
            ``w_hr`` (H_out, H) or None (LSTM projection)
    h0      (N, H_out); c0 (N, H) for LSTM
    active  (T,) int64: rows 0..active[t]-1 of the batch take part in step t
    """
    T, N, _ = x.shape
    dtype = x.dtype
    w_ih, w_hh = params["w_ih"], params["w_hh"]
    gate_rows = w_ih.shape[0]
    H = gate_rows // GATE_ROWS[kind]
    H_out = h0.shape[1]
    R = T if record else 1
    parts = numba.get_num_threads()
    x2 = np.ascontiguousarray(x).reshape(T * N, x.shape[2])
    zeros = np.zeros(gate_rows, dtype=dtype)
    b_ih = zeros if params.get("b_ih") is None else params["b_ih"]
    b_hh = zeros if params.get("b_hh") is None else params["b_hh"]
    hs = np.zeros((T, N, H_out), dtype=dtype)
    h = np.array(h0, dtype=dtype, order="C")  # working state, ends as h_n
    if kind == "lstm":
        w_hr = params.get("w_hr")
        w_hr_t = np.zeros((0, 0), dtype=dtype) if w_hr is None else _t(w_hr)
        c = np.array(c0, dtype=dtype, order="C")
        gates = np.empty((R, N, 4 * H), dtype=dtype)
        pre = np.empty((R, N, 4 * H), dtype=dtype)
        cells = np.empty((R, N, H), dtype=dtype)
        with kernel_launch():
            lstm_forward(parts, x2, (_t(w_ih), _t(w_hh), w_hr_t), (b_ih, b_hh), active, reverse,
                         hs, (h, c), (_flat(gates), _flat(pre), _flat(cells)))
        return DirectionRun(hs, h, c, gates, pre, cells)
    if kind == "gru":
        gates = np.empty((R, N, 3 * H), dtype=dtype)
        pre = np.empty((R, N, 4 * H), dtype=dtype)
        with kernel_launch():
            gru_forward(parts, x2, (_t(w_ih), _t(w_hh)), (b_ih, b_hh), active, reverse, hs, (h,),
                        (_flat(gates), _flat(pre)))
        return DirectionRun(hs, h, None, gates, pre, None)
    pre = np.empty((R, N, H), dtype=dtype)
    with kernel_launch():
        rnn_forward(parts, x2, (_t(w_ih), _t(w_hh)), (b_ih, b_hh), active, reverse,
                    nonlinearity == "relu", hs, (h,), (_flat(pre),))
    return DirectionRun(hs, h, None, None, pre, None)


@dataclass
class DirectionGrads:
    """Gradients of one layer/direction. ``dx`` (T, N, I), ``dh0`` (N, H_out), ``dc0`` (N, H) or None,
    parameter gradients by PyTorch's short names (``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, ``w_hr``),
    ``dh_all`` (T, N, H_out) / ``dc_all`` (T, N, H) the total dL/dh_t, dL/dc_t of every step."""

    dx: np.ndarray
    dh0: np.ndarray
    dc0: np.ndarray | None
    params: dict
    dh_all: np.ndarray
    dc_all: np.ndarray | None


def previous_states(hs: np.ndarray, h0: np.ndarray, active: np.ndarray, reverse: bool) -> np.ndarray:
    """(T, N, W): the state each step read (h_{t-1}, or h_{t+1} in reverse; h_0 where a row starts)."""
    if not reverse:
        # rows active at t were active at t-1 (lengths sorted decreasing)
        return np.concatenate([h0[None], hs[:-1]], axis=0)
    prev = np.concatenate([hs[1:], h0[None]], axis=0)
    starts = np.arange(hs.shape[1])[None, :] >= np.append(active[1:], 0)[:, None]  # row begins at t
    prev[starts] = np.broadcast_to(h0, prev.shape)[starts]
    return prev


def backward_direction(
    kind: str,
    run: DirectionRun,
    x: np.ndarray,
    params: dict,
    h0: np.ndarray,
    c0: np.ndarray | None,
    active: np.ndarray,
    reverse: bool,
    dhs: np.ndarray,
    dh_n: np.ndarray,
    dc_n: np.ndarray | None,
    nonlinearity: str = "tanh",
) -> DirectionGrads:
    """BPTT for one layer/direction from a recorded ``run`` (R = T) of ``run_direction``.

    x (T, N, I) the layer's input; dhs (T, N, H_out) the gradient arriving at each step's output;
    dh_n (N, H_out), dc_n (N, H) the gradient of the final state. The recurrence runs in the
    kernel; weight gradients are then one matrix product each over all steps.
    """
    T, N, _ = x.shape
    dtype = x.dtype
    w_ih, w_hh = params["w_ih"], params["w_hh"]
    G = w_ih.shape[0]
    parts = numba.get_num_threads()
    h_prev = previous_states(run.hs, h0, active, reverse)
    dhs = np.ascontiguousarray(dhs, dtype=dtype)
    dh0 = np.empty_like(h0)
    dh_all = np.zeros_like(run.hs)
    dc0 = dc_all = w_hr = None
    H = G // GATE_ROWS[kind]
    grads = {}
    with kernel_launch():
        if kind == "lstm":
            w_hr = params.get("w_hr")
            c_prev = previous_states(run.cells, c0, active, reverse)
            da = np.zeros((T, N * G), dtype=dtype)
            dc0 = np.empty_like(c0)
            dc_all = np.zeros_like(run.cells)
            lstm_backward(parts, (_c(w_hh), np.zeros((0, 0), dtype) if w_hr is None else _c(w_hr)), active, reverse,
                          (_flat(run.gates), _flat(run.cells)), (h_prev, c_prev),
                          (dhs, np.ascontiguousarray(dh_n, dtype=dtype), np.ascontiguousarray(dc_n, dtype=dtype)),
                          (da, dh0, dc0, dh_all, dc_all))
            d_gi = d_gh = da.reshape(T * N, G)
        elif kind == "gru":
            d_gi = np.zeros((T, N * G), dtype=dtype)
            d_gh = np.zeros((T, N * G), dtype=dtype)
            gru_backward(parts, _c(w_hh), active, reverse, (_flat(run.gates), _flat(run.pre)), h_prev,
                         (dhs, np.ascontiguousarray(dh_n, dtype=dtype)), (d_gi, d_gh, dh0, dh_all))
            d_gi, d_gh = d_gi.reshape(T * N, G), d_gh.reshape(T * N, G)
        else:
            da = np.zeros((T, N * G), dtype=dtype)
            rnn_backward(parts, _c(w_hh), active, reverse, nonlinearity == "relu", (_flat(run.pre), run.hs),
                         (dhs, np.ascontiguousarray(dh_n, dtype=dtype)), (da, dh0, dh_all))
            d_gi = d_gh = da.reshape(T * N, G)
        # weight gradients: one product each over all T*N rows (Σ_t dL/da_t x_tᵀ, Σ_t dL/da_t h_{t-1}ᵀ)
        x2 = np.ascontiguousarray(x).reshape(T * N, x.shape[2])
        grads["w_ih"] = matmul_tn(parts, d_gi, x2)  # (G, I)
        grads["w_hh"] = matmul_tn(parts, d_gh, h_prev.reshape(T * N, h_prev.shape[2]))  # (G, H_out)
        dx = matmul(parts, d_gi, _c(w_ih)).reshape(T, N, w_ih.shape[1])  # dL/dx_t = dL/da_t W_ih
        if kind == "lstm" and w_hr is not None:
            m = run.gates[:, :, 3 * H:] * np.tanh(run.cells)  # o ⊙ tanh(c_t), (T, N, H)
            grads["w_hr"] = matmul_tn(parts, dh_all.reshape(T * N, dh_all.shape[2]), m.reshape(T * N, H))
    if params.get("b_ih") is not None:
        grads["b_ih"] = d_gi.sum(axis=0)
        grads["b_hh"] = d_gh.sum(axis=0)
    return DirectionGrads(dx, dh0, dc0, grads, dh_all, dc_all)

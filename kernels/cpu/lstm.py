"""LSTM forward over a whole sequence, one layer and one direction (PyTorch's gate order i|f|g|o).

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)            (with proj_size: h_t = W_hr (o_t ⊙ tanh(c_t)))
"""
import numpy as np
from numba import njit, prange

from .jit import JIT, chunk_bounds, project, rows_active, typed_one
from .vexp import exp_inplace


@njit(parallel=True, **JIT)
def lstm_forward(parts, x, weights, biases, active, reverse, hs, state, rec):
    """Run one LSTM layer/direction over T steps, recording as it goes.

    parts    how many threads share the work (batch chunks)
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 4H), W_hh^T (P, 4H), W_hr^T (H, P) or (0, 0) without projection)
    biases   (b_ih (4H,), b_hh (4H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, P)  out: h_t of every step (rows past a sequence's end stay untouched)
    state    (h (N, P), c (N, H)): in: h_0, c_0; out: h_n, c_n (each row's last valid step)
    rec      (gates (R, N*4H), pre (R, N*4H), cells (R, N*H)): activated gates i|f|g|o,
             pre-activations and c_t, row b at columns b*4H..; R = T records every step,
             R = 1 is a scratch area that each step overwrites.
    """
    w_ih = weights[0]
    xp = project(parts, x, w_ih, biases[0])  # (T*N, 4H): W_ih x_t + b_ih of every step in one product
    bounds = chunk_bounds(state[1].shape[0], parts)
    for k in prange(bounds.shape[0] - 1):
        _lstm_rows(bounds[k], bounds[k + 1], xp, weights, biases[1], active, reverse, hs, state, rec)


@njit(**JIT)
def _lstm_rows(lo, hi, xp, weights, b_hh, active, reverse, hs, state, rec):
    """The time loop for batch rows lo..hi-1 (one thread's share)."""
    _, w_hh, w_hr = weights
    h, c = state
    gates, pre, cells = rec
    T = active.shape[0]
    N, H = c.shape
    G = 4 * H
    one = typed_one(c)
    two = one + one
    project_h = w_hr.shape[0] > 0
    m = hi - lo
    hh = np.empty((m, G), dtype=c.dtype)  # W_hh h_{t-1}
    hr = np.empty((m, H), dtype=c.dtype)  # o_t ⊙ tanh(c_t), before the projection
    e = np.empty(m * G, dtype=c.dtype)  # exponentials of one step
    scratch = np.empty(m * G, dtype=c.dtype)
    scale = np.ones(G, dtype=c.dtype)  # σ gates use e^{-x}; g uses e^{-2x}: tanh(x) = 2σ(2x) − 1
    scale[2 * H:3 * H] = two
    for s in range(T):
        t = T - 1 - s if reverse else s
        r = t if gates.shape[0] == T else 0
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        np.dot(h[lo:lo + n], w_hh, hh[:n])
        for q in range(n):
            b = lo + q
            for j in range(G):
                # a_t = W_i· x_t + b_i· + W_h· h_{t-1} + b_h·   (all four gates)
                a = xp[t * N + b, j] + hh[q, j] + b_hh[j]
                pre[r, b * G + j] = a
                e[q * G + j] = -scale[j] * a
        exp_inplace(e[:n * G], scratch)
        for q in range(n):
            b = lo + q
            for j in range(G):
                # i, f, o = σ(a) = 1 / (1 + e^{-a});   g = tanh(a) = 2 / (1 + e^{-2a}) − 1
                gates[r, b * G + j] = scale[j] / (one + e[q * G + j]) - (scale[j] - one)
        for q in range(n):
            b = lo + q
            for j in range(H):
                i = gates[r, b * G + j]
                f = gates[r, b * G + H + j]
                g = gates[r, b * G + 2 * H + j]
                # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                c_t = f * c[b, j] + i * g
                c[b, j] = c_t
                cells[r, b * H + j] = c_t
                e[q * H + j] = -two * c_t
        exp_inplace(e[:n * H], scratch)
        for q in range(n):
            b = lo + q
            for j in range(H):
                o = gates[r, b * G + 3 * H + j]
                # h_t = o_t ⊙ tanh(c_t)
                hr[q, j] = o * (two / (one + e[q * H + j]) - one)
        if project_h:
            # h_t = W_hr (o_t ⊙ tanh(c_t))
            np.dot(hr[:n], w_hr, h[lo:lo + n])
        else:
            h[lo:lo + n] = hr[:n]
        hs[t, lo:lo + n] = h[lo:lo + n]

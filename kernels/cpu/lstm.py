"""LSTM forward over a whole sequence, one layer and one direction (PyTorch's gate order i|f|g|o).

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)            (with proj_size: h_t = W_hr (o_t ⊙ tanh(c_t)))
"""
import numpy as np
from numba import njit

from .jit import JIT, sigmoid, typed_one


@njit(**JIT)
def lstm_forward(x, weights, biases, active, reverse, hs, state, rec):
    """Run one LSTM layer/direction over T steps, recording as it goes.

    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 4H), W_hh^T (P, 4H), W_hr^T (H, P) or (0, 0) without projection)
    biases   (b_ih (4H,), b_hh (4H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, P)  out: h_t of every step (rows past a sequence's end stay untouched)
    state    (h (N, P), c (N, H)): in: h_0, c_0; out: h_n, c_n (each row's last valid step)
    rec      (gates (R, N, 4H), pre (R, N, 4H), cells (R, N, H)): activated gates,
             pre-activations and c_t; R = T records every step, R = 1 is a scratch area.
    """
    w_ih, w_hh, w_hr = weights
    b_ih, b_hh = biases
    h, c = state
    gates, pre, cells = rec
    T = active.shape[0]
    N, H = c.shape
    one = typed_one(c)
    project = w_hr.shape[0] > 0
    xp = np.dot(x, w_ih)  # (T*N, 4H)
    hh = np.empty((N, 4 * H), dtype=c.dtype)  # W_hh h_{t-1}, one step
    hr = np.empty((N, H), dtype=c.dtype)  # o_t ⊙ tanh(c_t), before the projection
    for s in range(T):
        t = T - 1 - s if reverse else s
        r = t if gates.shape[0] == T else 0
        n = active[t]
        np.dot(h[:n], w_hh, hh[:n])
        for b in range(n):
            xrow = xp[t * N + b]
            for j in range(H):
                pi = xrow[j] + b_ih[j] + hh[b, j] + b_hh[j]
                pf = xrow[H + j] + b_ih[H + j] + hh[b, H + j] + b_hh[H + j]
                pg = xrow[2 * H + j] + b_ih[2 * H + j] + hh[b, 2 * H + j] + b_hh[2 * H + j]
                po = xrow[3 * H + j] + b_ih[3 * H + j] + hh[b, 3 * H + j] + b_hh[3 * H + j]
                # i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
                i = sigmoid(pi, one)
                # f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
                f = sigmoid(pf, one)
                # g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
                g = np.tanh(pg)
                # o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
                o = sigmoid(po, one)
                # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                c_t = f * c[b, j] + i * g
                c[b, j] = c_t
                # h_t = o_t ⊙ tanh(c_t)
                hr[b, j] = o * np.tanh(c_t)
                pre[r, b, j] = pi
                pre[r, b, H + j] = pf
                pre[r, b, 2 * H + j] = pg
                pre[r, b, 3 * H + j] = po
                gates[r, b, j] = i
                gates[r, b, H + j] = f
                gates[r, b, 2 * H + j] = g
                gates[r, b, 3 * H + j] = o
                cells[r, b, j] = c_t
        if project:
            # h_t = W_hr (o_t ⊙ tanh(c_t))
            np.dot(hr[:n], w_hr, h[:n])
        else:
            h[:n] = hr[:n]
        hs[t, :n] = h[:n]

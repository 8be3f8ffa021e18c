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
        if project_h:
            for q in range(n):
                for j in range(H):
                    # m_t = o_t ⊙ tanh(c_t)
                    hr[q, j] = gates[r, (lo + q) * G + 3 * H + j] * (two / (one + e[q * H + j]) - one)
            # h_t = W_hr m_t
            np.dot(hr[:n], w_hr, h[lo:lo + n])
            hs[t, lo:lo + n] = h[lo:lo + n]
        else:
            for q in range(n):
                b = lo + q
                for j in range(H):
                    # h_t = o_t ⊙ tanh(c_t)
                    v = gates[r, b * G + 3 * H + j] * (two / (one + e[q * H + j]) - one)
                    h[b, j] = v
                    hs[t, b, j] = v


@njit(parallel=True, **JIT)
def lstm_backward(parts, weights, active, reverse, rec, prev, grads_in, grads_out):
    """Backpropagation through time for one LSTM layer/direction, from the forward's records.

    weights   (W_hh (4H, P), W_hr (P, H) or (0, 0)), as PyTorch stores them
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (gates (T, N*4H), cells (T, N*H)) recorded by lstm_forward
    prev      (h_prev (T, N, P), c_prev (T, N, H)): the state each step read
    grads_in  (dL/dh_t from above (T, N, P), dL/dh_n (N, P), dL/dc_n (N, H))
    grads_out (dL/da (T, N*4H) zeroed: gradient of every pre-activation a = W_ih x + b_ih + W_hh h + b_hh,
               dL/dh_0 (N, P), dL/dc_0 (N, H), dL/dh_t total (T, N, P) zeroed, dL/dc_t (T, N, H) zeroed)
    """
    bounds = chunk_bounds(prev[0].shape[1], parts)
    for k in prange(bounds.shape[0] - 1):
        _lstm_rows_backward(bounds[k], bounds[k + 1], weights, active, reverse, rec, prev, grads_in, grads_out)


@njit(**JIT)
def _lstm_rows_backward(lo, hi, weights, active, reverse, rec, prev, grads_in, grads_out):
    """The backward time loop for batch rows lo..hi-1 (one thread's share)."""
    w_hh, w_hr = weights
    gates, cells = rec
    h_prev, c_prev = prev
    dhs, dh_n, dc_n = grads_in
    da, dh0, dc0, dh_all, dc_all = grads_out
    T = active.shape[0]
    H = c_prev.shape[2]
    G = 4 * H
    one = typed_one(dh_n)
    project_h = w_hr.shape[0] > 0
    m = hi - lo
    dh = dh_n[lo:hi].copy()  # dL/dh_t carried back through time
    dc = dc_n[lo:hi].copy()  # dL/dc_t carried back through time
    dm = np.empty((m, H), dtype=dh.dtype)  # dL/d(o ⊙ tanh c_t)
    tc = np.empty(m * H, dtype=dh.dtype)  # tanh(c_t) of one step
    scratch = np.empty(m * H, dtype=dh.dtype)
    two = one + one
    for s in range(T):
        t = s if reverse else T - 1 - s  # the forward's steps, last first
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        for q in range(n):
            for j in range(dh.shape[1]):
                dh[q, j] += dhs[t, lo + q, j]
                dh_all[t, lo + q, j] = dh[q, j]
        if project_h:
            # h_t = W_hr m_t  ⇒  dL/dm_t = dL/dh_t W_hr
            np.dot(dh[:n], w_hr, dm[:n])
        else:
            dm[:n] = dh[:n]
        for q in range(n):
            for j in range(H):
                tc[q * H + j] = -two * cells[t, (lo + q) * H + j]
        exp_inplace(tc[:n * H], scratch)
        for q in range(n):
            b = lo + q
            for j in range(H):
                i = gates[t, b * G + j]
                f = gates[t, b * G + H + j]
                g = gates[t, b * G + 2 * H + j]
                o = gates[t, b * G + 3 * H + j]
                th = two / (one + tc[q * H + j]) - one  # tanh(c_t), as the forward computed it
                # h_t = o ⊙ tanh(c_t):  dL/do = dL/dh ⊙ tanh(c_t);  dL/dc_t += dL/dh ⊙ o ⊙ (1 − tanh²c_t)
                d_o = dm[q, j] * th
                d_c = dc[q, j] + dm[q, j] * o * (one - th * th)
                dc_all[t, b, j] = d_c
                # c_t = f ⊙ c_{t-1} + i ⊙ g
                d_i = d_c * g
                d_g = d_c * i
                d_f = d_c * c_prev[t, b, j]
                dc[q, j] = d_c * f
                # σ' = σ(1 − σ), tanh' = 1 − tanh²
                da[t, b * G + j] = d_i * i * (one - i)
                da[t, b * G + H + j] = d_f * f * (one - f)
                da[t, b * G + 2 * H + j] = d_g * (one - g * g)
                da[t, b * G + 3 * H + j] = d_o * o * (one - o)
        # a_t = … + W_hh h_{t-1}  ⇒  dL/dh_{t-1} = dL/da_t W_hh
        np.dot(da[t, lo * G:(lo + n) * G].reshape(n, G), w_hh, dh[:n])
    dh0[lo:hi] = dh
    dc0[lo:hi] = dc

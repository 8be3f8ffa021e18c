"""LSTM forward and BPTT on the GPU, one layer and one direction (PyTorch's gate order i|f|g|o).

    i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)
    f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
    g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)
    o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
    c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
    h_t = o_t ⊙ tanh(c_t)            (with proj_size: h_t = W_hr (o_t ⊙ tanh(c_t)))

The CUDA twin of ``kernels/cpu/lstm.py``: the same entry points, arguments and buffer layouts
(device arrays instead of NumPy arrays). One block per batch row runs the whole recurrence
(see ``jit.py``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .jit import RECURRENCE_JIT, block_threads, col_dot, for_dtype, launch, sigmoid, to_shared, w_fits
from .matmul import project

__all__ = ["lstm_forward", "lstm_backward", "forward_kernel", "backward_kernel"]


def forward_kernel(dt):
    """The recurrence kernel of ``lstm_forward`` for Numba element type ``dt``."""
    one_ = np.dtype(str(dt)).type(1)

    @cuda.jit(**RECURRENCE_JIT)
    def lstm_steps(xp, w_hh, w_hr, b_hh, active, reverse, w_shared, hs, state, rec):
        """Block b runs batch row b over all T steps (shapes as in ``lstm_forward``;
        xp (T*N, 4H) = W_ih x_t + b_ih; w_hh = W_hh^T (P, 4H); w_hr = W_hr^T (H, P) or (0, 0))."""
        h, c = state
        gates, pre, cells = rec
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        N, H = c.shape
        P = h.shape[1]
        G = 4 * H
        one = one_
        project_h = w_hr.shape[0] > 0
        every_step = gates.shape[0] == T
        pre_every_step = pre.shape[0] == T
        dyn = cuda.shared.array(0, dt)
        h_s = dyn[:P]  # h_{t-1}
        c_s = dyn[P:P + H]  # c_{t-1}
        act = dyn[P + H:P + H + G]  # this step's i|f|g|o
        m_s = dyn[P + H + G:P + 2 * H + G]  # o_t ⊙ tanh(c_t), the projection's input
        w_s = dyn[P + 2 * H + G:]  # W_hh^T (P*4H,) when w_shared
        for k in range(tid, P, nt):
            h_s[k] = h[b, k]
        for j in range(tid, H, nt):
            c_s[j] = c[b, j]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        for s in range(T):
            t = T - 1 - s if reverse else s
            if b >= active[t]:
                continue  # the whole block skips: row b takes no part in step t
            r = t if every_step else 0
            rp = t if pre_every_step else 0
            for j in range(tid, G, nt):
                # a_t = W_i· x_t + b_i· + W_h· h_{t-1} + b_h·   (all four gates)
                a = xp[t * N + b, j] + col_dot(w_s, w_hh, w_shared, h_s, 0, j) + b_hh[j]
                pre[rp, b * G + j] = a
                # i, f, o = σ(a);   g = tanh(a)
                v = math.tanh(a) if 2 * H <= j < 3 * H else sigmoid(a, one)
                gates[r, b * G + j] = v
                act[j] = v
            cuda.syncthreads()
            for j in range(tid, H, nt):
                # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                c_t = act[H + j] * c_s[j] + act[j] * act[2 * H + j]
                c_s[j] = c_t
                cells[r, b * H + j] = c_t
                # h_t = o_t ⊙ tanh(c_t)   (m_t, before a projection)
                v = act[3 * H + j] * math.tanh(c_t)
                if project_h:
                    m_s[j] = v
                else:
                    h_s[j] = v
                    hs[t, b, j] = v
            cuda.syncthreads()
            if project_h:
                for k in range(tid, P, nt):
                    # h_t = W_hr m_t
                    v = col_dot(w_s, w_hr, False, m_s, 0, k)
                    h_s[k] = v
                    hs[t, b, k] = v
                cuda.syncthreads()
        # h_n, c_n: the state after row b's last step (each thread writes what it last wrote)
        for k in range(tid, P, nt):
            h[b, k] = h_s[k]
        for j in range(tid, H, nt):
            c[b, j] = c_s[j]

    return lstm_steps


def lstm_forward(parts, x, weights, biases, active, reverse, hs, state, rec, stream=0):
    """Run one LSTM layer/direction over T steps, recording as it goes (device arrays).

    parts    ignored (the CPU kernels' thread count); the grid is one block per batch row
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 4H), W_hh^T (P, 4H), W_hr^T (H, P) or (0, 0) without projection)
    biases   (b_ih (4H,), b_hh (4H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, P)  out: h_t of every step (rows past a sequence's end stay untouched)
    state    (h (N, P), c (N, H)): in: h_0, c_0; out: h_n, c_n (each row's last valid step)
    rec      (gates (R, N*4H), pre (R', N*4H), cells (R, N*H)): activated gates i|f|g|o,
             pre-activations and c_t, row b at columns b*4H..; R = T records every step,
             R = 1 is a scratch area that each step overwrites; R' likewise, on its own (the
             backward reads no pre-activations: only a trace wants them, and it can recompute them).
    Two launches on ``stream``: the input projection, then the whole recurrence.
    """
    w_ih, w_hh, w_hr = weights
    N, H = state[1].shape
    P = state[0].shape[1]
    G = 4 * H
    xp = project(parts, x, w_ih, biases[0], stream)  # (T*N, 4H): W_ih x_t + b_ih of every step
    other = P + G + 2 * H
    w_shared = w_fits(P * G, other, x.dtype.itemsize)
    launch(for_dtype(forward_kernel, x.dtype), N, block_threads(G), other + (P * G if w_shared else 0),
           x.dtype.itemsize, stream, xp, w_hh, w_hr, biases[1], active, reverse, w_shared, hs, state, rec)


def backward_kernel(dt):
    """The recurrence kernel of ``lstm_backward`` for Numba element type ``dt``."""
    one_ = np.dtype(str(dt)).type(1)

    @cuda.jit(**RECURRENCE_JIT)
    def lstm_steps_back(w_hh, w_hr, w_shared, active, reverse, rec, prev, grads_in, grads_out):
        """Block b runs batch row b backwards over all steps (shapes as in ``lstm_backward``)."""
        gates, cells = rec
        c_prev = prev[1]
        dhs, dh_n, dc_n = grads_in
        da, dh0, dc0, dh_all, dc_all = grads_out
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        H = c_prev.shape[2]
        P = dh_n.shape[1]
        G = 4 * H
        one = one_
        project_h = w_hr.shape[0] > 0
        dyn = cuda.shared.array(0, dt)
        dh_s = dyn[:P]  # dL/dh_t carried back through time
        dt_s = dyn[P:2 * P]  # dL/dh_t in total (carried + from above)
        dm_s = dyn[2 * P:2 * P + H]  # dL/dm_t, m_t = o_t ⊙ tanh(c_t) (with a projection)
        dc_s = dyn[2 * P + H:2 * P + 2 * H]  # dL/dc_t carried back through time
        da_s = dyn[2 * P + 2 * H:2 * P + 2 * H + G]  # dL/da_t of this step
        w_s = dyn[2 * P + 2 * H + G:]  # W_hh (4H*P,) when w_shared
        for k in range(tid, P, nt):
            dh_s[k] = dh_n[b, k]
        for j in range(tid, H, nt):
            dc_s[j] = dc_n[b, j]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        for s in range(T):
            t = s if reverse else T - 1 - s  # the forward's steps, last first
            if b >= active[t]:
                continue
            for k in range(tid, P, nt):
                d = dh_s[k] + dhs[t, b, k]
                dt_s[k] = d
                dh_all[t, b, k] = d
            cuda.syncthreads()
            if project_h:
                for j in range(tid, H, nt):
                    # h_t = W_hr m_t  ⇒  dL/dm_t = dL/dh_t W_hr
                    dm_s[j] = col_dot(w_s, w_hr, False, dt_s, 0, j)
                cuda.syncthreads()
            dm = dm_s if project_h else dt_s
            for j in range(tid, H, nt):
                i = gates[t, b * G + j]
                f = gates[t, b * G + H + j]
                g = gates[t, b * G + 2 * H + j]
                o = gates[t, b * G + 3 * H + j]
                th = math.tanh(cells[t, b * H + j])  # tanh(c_t), as the forward computed it
                # h_t = o ⊙ tanh(c_t):  dL/do = dL/dh ⊙ tanh(c_t);  dL/dc_t += dL/dh ⊙ o ⊙ (1 − tanh²c_t)
                d_o = dm[j] * th
                d_c = dc_s[j] + dm[j] * o * (one - th * th)
                dc_all[t, b, j] = d_c
                # c_t = f ⊙ c_{t-1} + i ⊙ g
                d_i = d_c * g
                d_g = d_c * i
                d_f = d_c * c_prev[t, b, j]
                dc_s[j] = d_c * f
                # σ' = σ(1 − σ), tanh' = 1 − tanh²
                d_ai = d_i * i * (one - i)
                d_af = d_f * f * (one - f)
                d_ag = d_g * (one - g * g)
                d_ao = d_o * o * (one - o)
                da[t, b * G + j] = d_ai
                da[t, b * G + H + j] = d_af
                da[t, b * G + 2 * H + j] = d_ag
                da[t, b * G + 3 * H + j] = d_ao
                da_s[j] = d_ai
                da_s[H + j] = d_af
                da_s[2 * H + j] = d_ag
                da_s[3 * H + j] = d_ao
            cuda.syncthreads()
            for k in range(tid, P, nt):
                # a_t = … + W_hh h_{t-1}  ⇒  dL/dh_{t-1} = dL/da_t W_hh
                dh_s[k] = col_dot(w_s, w_hh, w_shared, da_s, 0, k)
            # no barrier needed here: the next step's first phase touches only this thread's
            # dh_s[k] and dt_s, and its barrier comes before anything overwrites da_s
        for k in range(tid, P, nt):
            dh0[b, k] = dh_s[k]
        for j in range(tid, H, nt):
            dc0[b, j] = dc_s[j]

    return lstm_steps_back


def lstm_backward(parts, weights, active, reverse, rec, prev, grads_in, grads_out, stream=0):
    """Backpropagation through time for one LSTM layer/direction, from the forward's records.

    parts     ignored (the CPU kernels' thread count); the grid is one block per batch row
    weights   (W_hh (4H, P), W_hr (P, H) or (0, 0)), as PyTorch stores them
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (gates (T, N*4H), cells (T, N*H)) recorded by lstm_forward
    prev      (h_prev (T, N, P), c_prev (T, N, H)): the state each step read
    grads_in  (dL/dh_t from above (T, N, P), dL/dh_n (N, P), dL/dc_n (N, H))
    grads_out (dL/da (T, N*4H) zeroed: gradient of every pre-activation a = W_ih x + b_ih + W_hh h + b_hh,
               dL/dh_0 (N, P), dL/dc_0 (N, H), dL/dh_t total (T, N, P) zeroed, dL/dc_t (T, N, H) zeroed)
    One launch on ``stream``.
    """
    w_hh, w_hr = weights
    dh_n, dc_n = grads_in[1], grads_in[2]
    N, P = dh_n.shape
    H = dc_n.shape[1]
    G = 4 * H
    dtype = dh_n.dtype
    other = 2 * P + 2 * H + G
    w_shared = w_fits(G * P, other, dtype.itemsize)
    launch(for_dtype(backward_kernel, dtype), N, block_threads(max(P, H)), other + (G * P if w_shared else 0),
           dtype.itemsize, stream, w_hh, w_hr, w_shared, active, reverse, rec, prev, grads_in, grads_out)

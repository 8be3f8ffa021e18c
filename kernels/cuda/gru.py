"""GRU forward and BPTT on the GPU, one layer and one direction (PyTorch's gate order r|z|n).

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}

The CUDA twin of ``kernels/cpu/gru.py``: the same entry points, arguments and buffer layouts
(device arrays instead of NumPy arrays). One block per batch row runs the whole recurrence
(see ``jit.py``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .jit import RECURRENCE_JIT, block_threads, col_dot, for_dtype, launch, sigmoid, to_shared, w_fits
from .matmul import project

__all__ = ["gru_forward", "gru_backward", "forward_kernel", "backward_kernel"]


def forward_kernel(dt):
    """The recurrence kernel of ``gru_forward`` for Numba element type ``dt``."""
    one_ = np.dtype(str(dt)).type(1)

    @cuda.jit(**RECURRENCE_JIT)
    def gru_steps(xp, w_hh, b_hh, active, reverse, w_shared, hs, h, rec):
        """Block b runs batch row b over all T steps (shapes as in ``gru_forward``;
        xp (T*N, 3H) = W_ih x_t + b_ih; w_hh = W_hh^T (H, 3H); h (N, H))."""
        gates, hn_rec = rec
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        N, H = h.shape
        G = 3 * H  # width of a row of gates (of hn_rec: H)
        one = one_
        every_step = gates.shape[0] == T
        dyn = cuda.shared.array(0, dt)
        h_s = dyn[:H]  # h_{t-1}, then h_t
        act = dyn[H:3 * H]  # this step's r|z
        hn_s = dyn[3 * H:4 * H]  # W_hn h_{t-1} + b_hn
        w_s = dyn[4 * H:]  # W_hh^T (H*3H,) when w_shared
        for k in range(tid, H, nt):
            h_s[k] = h[b, k]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        for s in range(T):
            t = T - 1 - s if reverse else s
            if b >= active[t]:
                continue  # the whole block skips: row b takes no part in step t
            r_ = t if every_step else 0
            for j in range(tid, G, nt):
                hh = col_dot(w_s, w_hh, w_shared, h_s, 0, j) + b_hh[j]  # W_h· h_{t-1} + b_h·
                if j < 2 * H:
                    # a_r, a_z = W_i· x_t + b_i· + W_h· h_{t-1} + b_h·
                    a = xp[t * N + b, j] + hh
                    # r_t, z_t = σ(a)
                    v = sigmoid(a, one)
                    gates[r_, b * G + j] = v
                    act[j] = v
                else:
                    # W_hn h_{t-1} + b_hn, kept for n_t and for the backward pass
                    hn_rec[r_, b * H + j - 2 * H] = hh
                    hn_s[j - 2 * H] = hh
            cuda.syncthreads()
            for j in range(tid, H, nt):
                r = act[j]
                z = act[H + j]
                # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
                a_n = xp[t * N + b, 2 * H + j] + r * hn_s[j]
                n = math.tanh(a_n)
                gates[r_, b * G + 2 * H + j] = n
                # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}   (each thread reads and writes its own units)
                h_t = (one - z) * n + z * h_s[j]
                h_s[j] = h_t
                hs[t, b, j] = h_t
            cuda.syncthreads()
        for k in range(tid, H, nt):
            h[b, k] = h_s[k]  # h_n: the state after row b's last step

    return gru_steps


def gru_forward(parts, x, weights, biases, active, reverse, hs, state, rec, stream=0):
    """Run one GRU layer/direction over T steps, recording as it goes (device arrays).

    parts    ignored (the CPU kernels' thread count); the grid is one block per batch row
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 3H), W_hh^T (H, 3H))
    biases   (b_ih (3H,), b_hh (3H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (gates (R, N*3H), hn (R, N*H)): activated r|z|n, and W_hn h_{t-1} + b_hn (the one
             pre-activation term the backward reads), row b at columns b*3H.. / b*H..;
             R = T records every step, R = 1 is a scratch area. (A trace recomputes a_r, a_z, a_n.)
    Two launches on ``stream``: the input projection, then the whole recurrence.
    """
    w_ih, w_hh = weights
    h = state[0]
    N, H = h.shape
    G = 3 * H
    xp = project(parts, x, w_ih, biases[0], stream)  # (T*N, 3H): W_ih x_t + b_ih of every step
    w_shared = w_fits(H * G, 4 * H, x.dtype.itemsize)
    launch(for_dtype(forward_kernel, x.dtype), N, block_threads(G), 4 * H + (H * G if w_shared else 0),
           x.dtype.itemsize, stream, xp, w_hh, biases[1], active, reverse, w_shared, hs, h, rec)


def backward_kernel(dt):
    """The recurrence kernel of ``gru_backward`` for Numba element type ``dt``."""
    one_ = np.dtype(str(dt)).type(1)

    @cuda.jit(**RECURRENCE_JIT)
    def gru_steps_back(w_hh, w_shared, active, reverse, rec, h_prev, grads_in, grads_out):
        """Block b runs batch row b backwards over all steps (shapes as in ``gru_backward``)."""
        gates, hn_rec = rec
        dhs, dh_n = grads_in
        d_gi, d_gh, dh0, dh_all = grads_out
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        H = dh_n.shape[1]
        G = 3 * H
        one = one_
        dyn = cuda.shared.array(0, dt)
        dh_s = dyn[:H]  # dL/dh_t carried back through time
        direct = dyn[H:2 * H]  # dL/dh_{t-1} through z_t ⊙ h_{t-1}
        dgh_s = dyn[2 * H:8 * H]  # dL/d(W_hh h + b_hh) of this step, alternating halves of 3H
        w_s = dyn[8 * H:]  # W_hh (3H*H,) when w_shared
        for k in range(tid, H, nt):
            dh_s[k] = dh_n[b, k]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        cur = 0  # this step's dL/d(W_hh h + b_hh) is dgh_s[cur*G : cur*G + G]
        for s in range(T):
            t = s if reverse else T - 1 - s  # the forward's steps, last first
            if b >= active[t]:
                continue
            o = cur * G
            for j in range(tid, H, nt):
                d_h = dh_s[j] + dhs[t, b, j]
                dh_all[t, b, j] = d_h
                r = gates[t, b * G + j]
                z = gates[t, b * G + H + j]
                n_ = gates[t, b * G + 2 * H + j]
                hn = hn_rec[t, b * H + j]
                # h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
                d_n = d_h * (one - z)
                d_z = d_h * (h_prev[t, b, j] - n_)
                direct[j] = d_h * z
                # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
                d_an = d_n * (one - n_ * n_)
                d_r = d_an * hn
                # r, z = σ(a): σ' = σ(1 − σ)
                d_ar = d_r * r * (one - r)
                d_az = d_z * z * (one - z)
                d_gi[t, b * G + j] = d_ar
                d_gi[t, b * G + H + j] = d_az
                d_gi[t, b * G + 2 * H + j] = d_an
                d_gh[t, b * G + j] = d_ar
                d_gh[t, b * G + H + j] = d_az
                d_gh[t, b * G + 2 * H + j] = d_an * r
                dgh_s[o + j] = d_ar
                dgh_s[o + H + j] = d_az
                dgh_s[o + 2 * H + j] = d_an * r
            cuda.syncthreads()
            for k in range(tid, H, nt):
                # W_hh h_{t-1} + b_hh  ⇒  dL/dh_{t-1} = dL/d(W_hh h) W_hh + z ⊙ dL/dh_t
                dh_s[k] = col_dot(w_s, w_hh, w_shared, dgh_s, o, k) + direct[k]
            # no barrier: the next step reads only this thread's dh_s[k], writes its own direct[k]
            # and the other half of dgh_s
            cur = 1 - cur
        for k in range(tid, H, nt):
            dh0[b, k] = dh_s[k]

    return gru_steps_back


def gru_backward(parts, w_hh, active, reverse, rec, h_prev, grads_in, grads_out, stream=0):
    """Backpropagation through time for one GRU layer/direction, from the forward's records.

    parts     ignored (the CPU kernels' thread count); the grid is one block per batch row
    w_hh      (3H, H), as PyTorch stores it
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (gates (T, N*3H), hn (T, N*H)) recorded by gru_forward (hn: W_hn h_{t-1} + b_hn)
    h_prev    (T, N, H) the state each step read
    grads_in  (dL/dh_t from above (T, N, H), dL/dh_n (N, H))
    grads_out (dL/d(W_ih x + b_ih) (T, N*3H) zeroed, dL/d(W_hh h + b_hh) (T, N*3H) zeroed,
               dL/dh_0 (N, H), dL/dh_t total (T, N, H) zeroed)
    One launch on ``stream``.
    """
    dh_n = grads_in[1]
    N, H = dh_n.shape
    dtype = dh_n.dtype
    w_shared = w_fits(3 * H * H, 8 * H, dtype.itemsize)
    launch(for_dtype(backward_kernel, dtype), N, block_threads(H), 8 * H + (3 * H * H if w_shared else 0),
           dtype.itemsize, stream, w_hh, w_shared, active, reverse, rec, h_prev, grads_in, grads_out)

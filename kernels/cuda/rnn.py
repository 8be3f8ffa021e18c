"""Elman RNN forward and BPTT on the GPU, one layer and one direction.

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (nonlinearity='relu': max(·, 0))

The CUDA twin of ``kernels/cpu/rnn.py``: the same entry points, arguments and buffer layouts
(device arrays instead of NumPy arrays). One block per batch row runs the whole recurrence
(see ``jit.py``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import cuda

from .jit import RECURRENCE_JIT, block_threads, col_dot, for_dtype, launch, to_shared, w_fits
from .matmul import project

__all__ = ["rnn_forward", "rnn_backward", "forward_kernel", "backward_kernel"]


def forward_kernel(dt):
    """The recurrence kernel of ``rnn_forward`` for Numba element type ``dt``."""
    zero_ = np.dtype(str(dt)).type(0)

    @cuda.jit(**RECURRENCE_JIT)
    def rnn_steps(xp, w_hh, b_hh, active, reverse, use_relu, w_shared, hs, h, pre):
        """Block b runs batch row b over all T steps (shapes as in ``rnn_forward``;
        xp (T*N, H) = W_ih x_t + b_ih; w_hh = W_hh^T (H, H); h (N, H); pre (R, N*H))."""
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        N, H = h.shape
        zero = zero_
        every_step = pre.shape[0] == T
        dyn = cuda.shared.array(0, dt)
        h_s = dyn[:2 * H]  # h_{t-1} and h_t, alternating halves: one barrier per step
        w_s = dyn[2 * H:]  # W_hh^T (H*H,) when w_shared
        for k in range(tid, H, nt):
            h_s[k] = h[b, k]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        cur = 0  # h_{t-1} is h_s[cur*H : cur*H + H]
        for s in range(T):
            t = T - 1 - s if reverse else s
            if b >= active[t]:
                continue  # the whole block skips: row b takes no part in step t
            r = t if every_step else 0
            nxt = 1 - cur
            for j in range(tid, H, nt):
                # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
                a = xp[t * N + b, j] + col_dot(w_s, w_hh, w_shared, h_s, cur * H, j) + b_hh[j]
                pre[r, b * H + j] = a
                if use_relu:
                    # h_t = max(a_t, 0)   (NaN stays NaN)
                    v = zero if a < zero else a
                else:
                    # h_t = tanh(a_t)
                    v = math.tanh(a)
                h_s[nxt * H + j] = v
                hs[t, b, j] = v
            cuda.syncthreads()
            cur = nxt
        for k in range(tid, H, nt):
            h[b, k] = h_s[cur * H + k]  # h_n: the state after row b's last step

    return rnn_steps


def rnn_forward(parts, x, weights, biases, active, reverse, use_relu, hs, state, rec, stream=0):
    """Run one RNN layer/direction over T steps, recording as it goes (device arrays).

    parts    ignored (the CPU kernels' thread count); the grid is one block per batch row
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, H), W_hh^T (H, H))
    biases   (b_ih (H,), b_hh (H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    use_relu ReLU instead of tanh
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (pre (R, N*H),): pre-activations a_t; R = T records every step, R = 1 is scratch.
    Two launches on ``stream``: the input projection, then the whole recurrence.
    """
    w_ih, w_hh = weights
    h = state[0]
    N, H = h.shape
    xp = project(parts, x, w_ih, biases[0], stream)  # (T*N, H): W_ih x_t + b_ih of every step
    w_shared = w_fits(H * H, 2 * H, x.dtype.itemsize)
    launch(for_dtype(forward_kernel, x.dtype), N, block_threads(H), 2 * H + (H * H if w_shared else 0),
           x.dtype.itemsize, stream, xp, w_hh, biases[1], active, reverse, use_relu, w_shared, hs, h, rec[0])


def backward_kernel(dt):
    """The recurrence kernel of ``rnn_backward`` for Numba element type ``dt``."""
    one_ = np.dtype(str(dt)).type(1)

    @cuda.jit(**RECURRENCE_JIT)
    def rnn_steps_back(w_hh, w_shared, active, reverse, use_relu, rec, grads_in, grads_out):
        """Block b runs batch row b backwards over all steps (shapes as in ``rnn_backward``)."""
        pre, hs = rec
        dhs, dh_n = grads_in
        da, dh0, dh_all = grads_out
        b = cuda.blockIdx.x
        tid = cuda.threadIdx.x
        nt = cuda.blockDim.x
        T = active.shape[0]
        H = dh_n.shape[1]
        one = one_
        zero = one - one
        dyn = cuda.shared.array(0, dt)
        dh_s = dyn[:H]  # dL/dh_t carried back through time
        da_s = dyn[H:3 * H]  # dL/da_t of this step, alternating halves: one barrier per step
        w_s = dyn[3 * H:]  # W_hh (H*H,) when w_shared
        for k in range(tid, H, nt):
            dh_s[k] = dh_n[b, k]
        if w_shared:
            to_shared(w_hh, w_s, tid, nt)
        cuda.syncthreads()
        cur = 0  # this step's dL/da_t is da_s[cur*H : cur*H + H]
        for s in range(T):
            t = s if reverse else T - 1 - s  # the forward's steps, last first
            if b >= active[t]:
                continue
            for j in range(tid, H, nt):
                d_h = dh_s[j] + dhs[t, b, j]
                dh_all[t, b, j] = d_h
                if use_relu:
                    # h = max(a, 0): dh/da = 1 where a > 0
                    d_a = d_h if pre[t, b * H + j] > zero else zero
                else:
                    # h = tanh(a): dh/da = 1 − h²
                    h = hs[t, b, j]
                    d_a = d_h * (one - h * h)
                da[t, b * H + j] = d_a
                da_s[cur * H + j] = d_a
            cuda.syncthreads()
            for k in range(tid, H, nt):
                # a_t = … + W_hh h_{t-1}  ⇒  dL/dh_{t-1} = dL/da_t W_hh
                dh_s[k] = col_dot(w_s, w_hh, w_shared, da_s, cur * H, k)
            # no barrier: the next step reads only this thread's dh_s[k] and writes the other half of da_s
            cur = 1 - cur
        for k in range(tid, H, nt):
            dh0[b, k] = dh_s[k]

    return rnn_steps_back


def rnn_backward(parts, w_hh, active, reverse, use_relu, rec, grads_in, grads_out, stream=0):
    """Backpropagation through time for one RNN layer/direction, from the forward's records.

    parts     ignored (the CPU kernels' thread count); the grid is one block per batch row
    w_hh      (H, H), as PyTorch stores it
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (pre (T, N*H), hs (T, N, H)) the pre-activations and outputs of the forward
    grads_in  (dL/dh_t from above (T, N, H), dL/dh_n (N, H))
    grads_out (dL/da (T, N*H) zeroed, dL/dh_0 (N, H), dL/dh_t total (T, N, H) zeroed)
    One launch on ``stream``.
    """
    dh_n = grads_in[1]
    N, H = dh_n.shape
    dtype = dh_n.dtype
    w_shared = w_fits(H * H, 3 * H, dtype.itemsize)
    launch(for_dtype(backward_kernel, dtype), N, block_threads(H), 3 * H + (H * H if w_shared else 0),
           dtype.itemsize, stream, w_hh, w_shared, active, reverse, use_relu, rec, grads_in, grads_out)

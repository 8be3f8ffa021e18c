"""Elman RNN forward over a whole sequence, one layer and one direction.

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (nonlinearity='relu': max(·, 0))
"""
import numpy as np
from numba import njit

from .jit import JIT, relu


@njit(**JIT)
def rnn_forward(x, weights, biases, active, reverse, use_relu, hs, state, rec):
    """Run one RNN layer/direction over T steps, recording as it goes.

    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, H), W_hh^T (H, H))
    biases   (b_ih (H,), b_hh (H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    use_relu ReLU instead of tanh
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (pre (R, N, H),): pre-activations; R = T records every step, R = 1 is a scratch area.
    """
    w_ih, w_hh = weights
    b_ih, b_hh = biases
    h = state[0]
    pre = rec[0]
    T = active.shape[0]
    N, H = h.shape
    zero = np.zeros(1, dtype=h.dtype)[0]
    xp = np.dot(x, w_ih)  # (T*N, H)
    hh = np.empty((N, H), dtype=h.dtype)  # W_hh h_{t-1}, one step
    for s in range(T):
        t = T - 1 - s if reverse else s
        r = t if pre.shape[0] == T else 0
        n = active[t]
        np.dot(h[:n], w_hh, hh[:n])
        for b in range(n):
            xrow = xp[t * N + b]
            for j in range(H):
                a = xrow[j] + b_ih[j] + hh[b, j] + b_hh[j]
                pre[r, b, j] = a
                # h_t = tanh(a_t)   or   h_t = max(a_t, 0)
                h[b, j] = relu(a, zero) if use_relu else np.tanh(a)
        hs[t, :n] = h[:n]

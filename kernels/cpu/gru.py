"""GRU forward over a whole sequence, one layer and one direction (PyTorch's gate order r|z|n).

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
"""
import numpy as np
from numba import njit

from .jit import JIT, sigmoid, typed_one


@njit(**JIT)
def gru_forward(x, weights, biases, active, reverse, hs, state, rec):
    """Run one GRU layer/direction over T steps, recording as it goes.

    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 3H), W_hh^T (H, 3H))
    biases   (b_ih (3H,), b_hh (3H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (gates (R, N, 3H), pre (R, N, 4H)): activated r|z|n, and pre-activations
             r|z|n|(W_hn h_{t-1} + b_hn); R = T records every step, R = 1 is a scratch area.
    """
    w_ih, w_hh = weights
    b_ih, b_hh = biases
    h = state[0]
    gates, pre = rec
    T = active.shape[0]
    N, H = h.shape
    one = typed_one(h)
    xp = np.dot(x, w_ih)  # (T*N, 3H)
    hh = np.empty((N, 3 * H), dtype=h.dtype)  # W_hh h_{t-1}, one step
    for s in range(T):
        t = T - 1 - s if reverse else s
        r_ = t if gates.shape[0] == T else 0
        n_rows = active[t]
        np.dot(h[:n_rows], w_hh, hh[:n_rows])
        for b in range(n_rows):
            xrow = xp[t * N + b]
            for j in range(H):
                pr = xrow[j] + b_ih[j] + hh[b, j] + b_hh[j]
                pz = xrow[H + j] + b_ih[H + j] + hh[b, H + j] + b_hh[H + j]
                hn = hh[b, 2 * H + j] + b_hh[2 * H + j]
                # r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
                r = sigmoid(pr, one)
                # z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
                z = sigmoid(pz, one)
                # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
                pn = xrow[2 * H + j] + b_ih[2 * H + j] + r * hn
                n = np.tanh(pn)
                # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
                h[b, j] = (one - z) * n + z * h[b, j]
                pre[r_, b, j] = pr
                pre[r_, b, H + j] = pz
                pre[r_, b, 2 * H + j] = pn
                pre[r_, b, 3 * H + j] = hn
                gates[r_, b, j] = r
                gates[r_, b, H + j] = z
                gates[r_, b, 2 * H + j] = n
        hs[t, :n_rows] = h[:n_rows]

"""GRU forward over a whole sequence, one layer and one direction (PyTorch's gate order r|z|n).

    r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
    z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
    n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
    h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
"""
import numpy as np
from numba import njit, prange

from .jit import (JIT, add_times, chunk_bounds, copy_rows, folded_bias, input_plan, product_plan,
                  projected_inputs, rows_active, step_inputs, typed_one)
from .vexp import exp_inplace


@njit(parallel=True, **JIT)
def gru_forward(parts, x, weights, biases, active, reverse, hs, state, rec):
    """Run one GRU layer/direction over T steps, recording as it goes.

    parts    how many threads share the work (batch chunks)
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, 3H), W_hh^T (H, 3H))
    biases   (b_ih (3H,), b_hh (3H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (gates (R, N*3H), pre (R, N*4H)): activated r|z|n, and pre-activations
             r|z|n|(W_hn h_{t-1} + b_hn), row b at columns b*3H.. / b*4H..;
             R = T records every step, R = 1 is a scratch area.
    """
    bounds = chunk_bounds(state[0].shape[0], parts)
    # (T*N, 3H): W_ih x_t + b_ih of every step, plus b_hr, b_hz (b_hn stays apart: r_t multiplies
    # it); or (0, 3H): in the time loop
    xp = projected_inputs(parts, x, weights[0], biases[0], biases[1], 2 * (biases[1].shape[0] // 3), bounds,
                          active.shape[0])
    for k in prange(bounds.shape[0] - 1):
        gru_rows(bounds[k], bounds[k + 1], (x, xp), weights, biases, active, reverse, hs, state, rec)


@njit(**JIT)
def gru_rows(lo, hi, inputs, weights, biases, active, reverse, hs, state, rec):
    """The time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one thread).

    ``inputs`` is (x (T*N, I), xp): xp (T*N, 3H) is W_ih x_t + b_ih of every step with b_hr, b_hz
    added (not b_hn), or (0, 3H) where this loop multiplies W_ih x_t itself
    (``jit.projected_inputs``); the other arguments are ``gru_forward``'s. Each step works on the
    chunk's rows as one block, so that every loop below runs over the whole block: h W_hh + b_hh
    (register tiles on W_hh packed into panels once per call, where ``jit.product_in_loop``,
    else one BLAS product), one ``exp`` for r and z, one for n, h_t.
    """
    w_ih, w_hh = weights
    x, xp = inputs
    b_hh = biases[1]
    h = state[0]
    gates, pre = rec
    T = active.shape[0]
    N, H = h.shape
    G, P = 3 * H, 4 * H  # widths of a row of gates and of pre
    one = typed_one(h)
    two = one + one
    m = hi - lo
    hh = product_plan(w_hh, m, T)  # W_hh h_{t-1}: packed panels, or BLAS's scratch
    acc = np.empty(m * G, dtype=h.dtype)  # the block's a_r | a_z | W_hn h_{t-1} + b_hn, row q at q*3H
    acc_rows = acc.reshape(m, G)  # the same buffer by rows, for the product
    e = np.empty(m * 2 * H, dtype=h.dtype)  # exponentials of the block's step
    in_loop = xp.shape[0] == 0
    xi = np.empty((m if in_loop else 0, G), dtype=h.dtype)  # the block's W_ih x_t + bias, made here
    xw = input_plan(w_ih, xp, m, T)  # W_ih x_t, where made here
    bias = folded_bias(biases[0], b_hh, 2 * H)
    for s in range(T):
        t = T - 1 - s if reverse else s
        r_ = t if gates.shape[0] == T else 0
        n_rows = rows_active(active[t], lo, hi)
        if n_rows == 0:
            continue
        pr = pre[r_, lo * P:(lo + n_rows) * P]  # row q at q*4H
        gt = gates[r_, lo * G:(lo + n_rows) * G]  # row q at q*3H
        # W_i· x_t + b_i· (+ b_hr, b_hz), row q of the block at xs[x0 + q]
        if in_loop:
            step_inputs(xi[:n_rows], x, xp, t * N + lo, xw, bias)
        xs, x0 = (xi, 0) if in_loop else (xp, t * N + lo)
        # a_r, a_z = W_i· x_t + b_i· + W_h· h_{t-1} + b_h·;  and W_hn h_{t-1} + b_hn
        for q in range(n_rows):
            xrow = xs[x0 + q]
            for j in range(2 * H):
                acc[q * G + j] = xrow[j]
            for j in range(2 * H, G):
                acc[q * G + j] = b_hh[j]
        add_times(acc_rows[:n_rows], h[lo:lo + n_rows], hh)
        for q in range(n_rows):
            for j in range(2 * H):
                pr[q * P + j] = acc[q * G + j]
                e[q * 2 * H + j] = -acc[q * G + j]
            for j in range(H):
                # W_hn h_{t-1} + b_hn, kept for n_t and for the backward pass
                pr[q * P + 3 * H + j] = acc[q * G + 2 * H + j]
        exp_inplace(e[:n_rows * 2 * H])
        for q in range(n_rows):
            for j in range(2 * H):
                # r_t, z_t = σ(a) = 1 / (1 + e^{-a})
                gt[q * G + j] = one / (one + e[q * 2 * H + j])
            xrow = xs[x0 + q]
            for j in range(H):
                # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
                a_n = xrow[2 * H + j] + gt[q * G + j] * acc[q * G + 2 * H + j]
                pr[q * P + 2 * H + j] = a_n
                e[q * H + j] = -two * a_n
        exp_inplace(e[:n_rows * H])
        for q in range(n_rows):
            for j in range(H):
                n = two / (one + e[q * H + j]) - one
                z = gt[q * G + H + j]
                gt[q * G + 2 * H + j] = n
                # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
                h_t = (one - z) * n + z * h[lo + q, j]
                h[lo + q, j] = h_t
                hs[t, lo + q, j] = h_t


@njit(parallel=True, **JIT)
def gru_backward(parts, w_hh, active, reverse, rec, h_prev, grads_in, grads_out):
    """Backpropagation through time for one GRU layer/direction, from the forward's records.

    w_hh      (3H, H), as PyTorch stores it
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (gates (T, N*3H), pre (T, N*4H)) recorded by gru_forward (pre holds W_hn h + b_hn)
    h_prev    (T, N, H) the state each step read
    grads_in  (dL/dh_t from above (T, N, H), dL/dh_n (N, H))
    grads_out (dL/d(W_ih x + b_ih) (T, N*3H) zeroed, dL/d(W_hh h + b_hh) (T, N*3H) zeroed,
               dL/dh_0 (N, H), dL/dh_t total (T, N, H) zeroed)
    """
    bounds = chunk_bounds(h_prev.shape[1], parts)
    for k in prange(bounds.shape[0] - 1):
        gru_rows_backward(bounds[k], bounds[k + 1], w_hh, active, reverse, rec, h_prev, grads_in, grads_out)


@njit(**JIT)
def gru_rows_backward(lo, hi, w_hh, active, reverse, rec, h_prev, grads_in, grads_out):
    """The backward time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one
    thread); the other arguments are ``gru_backward``'s."""
    gates, pre = rec
    dhs, dh_n = grads_in
    d_gi, d_gh, dh0, dh_all = grads_out
    T = active.shape[0]
    H = h_prev.shape[2]
    G, P = 3 * H, 4 * H
    one = typed_one(dh_n)
    m = hi - lo
    dh = dh_n[lo:hi].copy()  # dL/dh_t carried back through time
    dh_plan = product_plan(w_hh, m, T)  # dL/d(W_hh h) W_hh: packed panels, or BLAS's scratch
    d_gh_rows = d_gh.reshape(T, d_gh.shape[1] // G, G)  # by rows, for the product
    direct = np.empty((m, H), dtype=dh.dtype)  # dL/dh_{t-1} through z_t ⊙ h_{t-1}
    for s in range(T):
        t = s if reverse else T - 1 - s  # the forward's steps, last first
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        for q in range(n):
            b = lo + q
            gq = gates[t, b * G:(b + 1) * G]  # this row's r | z | n
            hn_q = pre[t, b * P + 3 * H:(b + 1) * P]  # W_hn h_{t-1} + b_hn
            gi = d_gi[t, b * G:(b + 1) * G]
            gh = d_gh[t, b * G:(b + 1) * G]
            dhq = dh[q]
            dh_t = dh_all[t, b]
            dh_above = dhs[t, b]
            h_tm1 = h_prev[t, b]
            dq = direct[q]
            for j in range(H):
                d_h = dhq[j] + dh_above[j]
                dh_t[j] = d_h
                r = gq[j]
                z = gq[H + j]
                n_ = gq[2 * H + j]
                # h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
                d_n = d_h * (one - z)
                d_z = d_h * (h_tm1[j] - n_)
                dq[j] = d_h * z
                # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
                d_an = d_n * (one - n_ * n_)
                d_r = d_an * hn_q[j]
                # r, z = σ(a): σ' = σ(1 − σ)
                d_ar = d_r * r * (one - r)
                d_az = d_z * z * (one - z)
                gi[j] = d_ar
                gi[H + j] = d_az
                gi[2 * H + j] = d_an
                gh[j] = d_ar
                gh[H + j] = d_az
                gh[2 * H + j] = d_an * r
        # W_hh h_{t-1} + b_hh  ⇒  dL/dh_{t-1} = dL/d(W_hh h) W_hh + z ⊙ dL/dh_t
        copy_rows(dh[:n], direct[:n])
        add_times(dh[:n], d_gh_rows[t, lo:lo + n], dh_plan)
    copy_rows(dh0[lo:hi], dh)

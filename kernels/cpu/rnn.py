"""Elman RNN forward over a whole sequence, one layer and one direction.

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (nonlinearity='relu': max(·, 0))
"""
import numpy as np
from numba import njit, prange

from .jit import (JIT, add_times, chunk_bounds, copy_rows, folded_bias, input_plan, product_plan,
                  projected_inputs, rows_active, step_inputs, typed_one)
from .tiles import LEAF
from .simd import lanes, vadd, vdiv, vexp, vload1, vsplat, vstore, vsub, vzero
from .vexp import exp_inplace


@njit(parallel=True, **JIT)
def rnn_forward(parts, x, weights, biases, active, reverse, use_relu, hs, state, rec):
    """Run one RNN layer/direction over T steps, recording as it goes.

    parts    how many threads share the work (batch chunks)
    x        (T*N, I)   input, time-major rows (row t*N + b)
    weights  (W_ih^T (I, H), W_hh^T (H, H))
    biases   (b_ih (H,), b_hh (H,))   zeros when the layer has no bias
    active   (T,) int64 rows 0..active[t]-1 take part in step t (lengths sorted decreasing)
    reverse  run t = T-1 .. 0
    use_relu ReLU instead of tanh
    hs       (T, N, H)  out: h_t of every step
    state    (h (N, H),): in: h_0; out: h_n
    rec      (pre (R, N*H),): pre-activations a_t; R = T records every step, R = 1 is scratch.
    """
    bounds = chunk_bounds(state[0].shape[0], parts)
    # (T*N, H): W_ih x_t + b_ih + b_hh of every step, or (0, H): in the time loop
    xp = projected_inputs(parts, x, weights[0], biases[0], biases[1], biases[1].shape[0], bounds, active.shape[0])
    for k in prange(bounds.shape[0] - 1):
        rnn_rows(bounds[k], bounds[k + 1], (x, xp), weights, biases, active, reverse, use_relu, hs, state, rec)


@njit(**LEAF)
def rnn_tanh_lanes(a, q, h, row, hs_t, width):
    """h_t = tanh(a_t) of one row for its columns 0..width-1 (a multiple of the lanes), a register
    of lanes at a time: a the block's pre-activations (1-D, row q at q*H); h_t goes to h[row] and
    hs_t[row]."""
    H = h.shape[1]
    L = lanes(h)
    zero = vzero(h)
    one = vsplat(typed_one(h))
    two = vadd(one, one)
    for j in range(0, width, L):
        a_t = vload1(a, q * H + j)
        # h_t = tanh(a_t) = 2 / (1 + e^{-2 a_t}) − 1
        h_t = vsub(vdiv(two, vadd(one, vexp(vsub(zero, vadd(a_t, a_t))))), one)
        vstore(h, row, j, h_t)
        vstore(hs_t, row, j, h_t)


@njit(**JIT)
def rnn_rows(lo, hi, inputs, weights, biases, active, reverse, use_relu, hs, state, rec):
    """The time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one thread).

    ``inputs`` is (x (T*N, I), xp): xp (T*N, H) is W_ih x_t + b_ih + b_hh of every step, or (0, H)
    where this loop multiplies W_ih x_t itself (``jit.projected_inputs``); the other arguments are
    ``rnn_forward``'s. Each step works on the chunk's rows as one block: a = W_ih x_t + b + h W_hh
    (the products in register tiles on W packed into panels once per
    call, where ``jit.product_in_loop``, else by BLAS), then h_t with one ``exp`` for the block.
    """
    w_ih, w_hh = weights
    x, xp = inputs
    h = state[0]
    pre = rec[0]
    T = active.shape[0]
    N, H = h.shape
    one = typed_one(h)
    two = one + one
    zero = one - one
    m = hi - lo
    hh = product_plan(w_hh, m, T)  # W_hh h_{t-1}: packed panels, or BLAS's scratch
    xw = input_plan(w_ih, xp, m, T)  # W_ih x_t, where made here
    e = np.empty(m * H, dtype=h.dtype)  # e^{-2a} of the columns past lanes_h
    # the columns done a register of lanes at a time: all but H mod lanes, where the state's rows
    # are contiguous (they are, from steprnn; a caller's strided views go element by element)
    lanes_h = H - H % lanes(h) if h.strides[1] == h.itemsize and hs.strides[2] == hs.itemsize else 0
    pre_rows = pre.reshape(pre.shape[0], N, H)  # the same buffer by rows, for the product
    bias = folded_bias(biases[0], biases[1], H)  # b_ih + b_hh, where W_ih x_t is multiplied here
    for s in range(T):
        t = T - 1 - s if reverse else s
        r = t if pre.shape[0] == T else 0
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        a = pre[r, lo * H:(lo + n) * H]  # the block's pre-activations, row q at q*H
        # a_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
        step_inputs(pre_rows[r, lo:lo + n], x, xp, t * N + lo, xw, bias)
        add_times(pre_rows[r, lo:lo + n], h[lo:lo + n], hh)
        if use_relu:
            for q in range(n):
                for j in range(H):
                    # h_t = max(a_t, 0)   (NaN stays NaN)
                    h_t = zero if a[q * H + j] < zero else a[q * H + j]
                    h[lo + q, j] = h_t
                    hs[t, lo + q, j] = h_t
        else:
            for q in range(n):
                # columns 0..lanes_h-1, a register of lanes at a time
                rnn_tanh_lanes(a, q, h, lo + q, hs[t], lanes_h)
            w = H - lanes_h  # the columns left, element by element
            for q in range(n):
                for jj in range(w):
                    e[q * w + jj] = -two * a[q * H + lanes_h + jj]
            exp_inplace(e[:n * w])
            for q in range(n):
                for jj in range(w):
                    # h_t = tanh(a_t) = 2 / (1 + e^{-2 a_t}) − 1
                    h_t = two / (one + e[q * w + jj]) - one
                    h[lo + q, lanes_h + jj] = h_t
                    hs[t, lo + q, lanes_h + jj] = h_t


@njit(parallel=True, **JIT)
def rnn_backward(parts, w_hh, active, reverse, use_relu, rec, grads_in, grads_out):
    """Backpropagation through time for one RNN layer/direction, from the forward's records.

    w_hh      (H, H), as PyTorch stores it
    active    (T,) int64 rows per step, as in the forward; reverse as in the forward
    rec       (pre (T, N*H), hs (T, N, H)) the pre-activations and outputs of the forward
    grads_in  (dL/dh_t from above (T, N, H), dL/dh_n (N, H))
    grads_out (dL/da (T, N*H) zeroed, dL/dh_0 (N, H), dL/dh_t total (T, N, H) zeroed)
    """
    bounds = chunk_bounds(grads_in[1].shape[0], parts)
    for k in prange(bounds.shape[0] - 1):
        rnn_rows_backward(bounds[k], bounds[k + 1], w_hh, active, reverse, use_relu, rec, grads_in, grads_out)


@njit(**JIT)
def rnn_rows_backward(lo, hi, w_hh, active, reverse, use_relu, rec, grads_in, grads_out):
    """The backward time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one
    thread); the other arguments are ``rnn_backward``'s."""
    pre, hs = rec
    dhs, dh_n = grads_in
    da, dh0, dh_all = grads_out
    T = active.shape[0]
    H = dh_n.shape[1]
    one = typed_one(dh_n)
    zero = one - one
    dh = dh_n[lo:hi].copy()  # dL/dh_t carried back through time
    dh_plan = product_plan(w_hh, hi - lo, T)  # dL/da W_hh: packed panels, or BLAS's scratch
    da_rows = da.reshape(T, da.shape[1] // H, H)  # dL/da by rows, for the product
    for s in range(T):
        t = s if reverse else T - 1 - s  # the forward's steps, last first
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        for q in range(n):
            b = lo + q
            for j in range(H):
                d_h = dh[q, j] + dhs[t, b, j]
                dh_all[t, b, j] = d_h
                if use_relu:
                    # h = max(a, 0): dh/da = 1 where a > 0
                    da[t, b * H + j] = d_h if pre[t, b * H + j] > zero else zero
                else:
                    # h = tanh(a): dh/da = 1 − h²
                    h = hs[t, b, j]
                    da[t, b * H + j] = d_h * (one - h * h)
        # a_t = … + W_hh h_{t-1}  ⇒  dL/dh_{t-1} = dL/da_t W_hh
        for q in range(n):
            for j in range(H):
                dh[q, j] = 0
        add_times(dh[:n], da_rows[t, lo:lo + n], dh_plan)
    copy_rows(dh0[lo:hi], dh)

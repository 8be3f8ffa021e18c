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
from .tiles import LEAF
from .simd import lanes, vadd, vdiv, vexp, vload, vload1, vmul, vsplat, vstore, vstore1, vsub, vzero
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
    rec      (gates (R, N*3H), hn (R, N*H)): activated r|z|n, and W_hn h_{t-1} + b_hn (the one
             pre-activation term the backward reads), row b at columns b*3H.. / b*H..;
             R = T records every step, R = 1 is a scratch area. (A trace recomputes a_r, a_z, a_n.)
    """
    bounds = chunk_bounds(state[0].shape[0], parts)
    # (T*N, 3H): W_ih x_t + b_ih of every step, plus b_hr, b_hz (b_hn stays apart: r_t multiplies
    # it); or (0, 3H): in the time loop
    xp = projected_inputs(parts, x, weights[0], biases[0], biases[1], 2 * (biases[1].shape[0] // 3), bounds,
                          active.shape[0])
    for k in prange(bounds.shape[0] - 1):
        gru_rows(bounds[k], bounds[k + 1], (x, xp), weights, biases, active, reverse, hs, state, rec)


@njit(**LEAF)
def gru_cell_lanes(acc, pr, gt, xs, xr, h, row, hs_t, q, width):
    """Gates and h_t of one row for the columns 0..width-1 of every gate (width a multiple of the
    lanes), one register of lanes at a time (``simd``), with W_hn h_{t-1} + b_hn recorded.

    acc     the block's a_r | a_z | W_hn h_{t-1} + b_hn (1-D, this row at q*3H)
    pr, gt  the block's records of W_hn h + b_hn and of r | z | n (1-D, row q at q*H, q*3H)
    xs      (·, 3H) W_i· x_t + b_i· (+ b_hr, b_hz) of this row at xs[xr]
    h       (N, H): h_{t-1} at row ``row``, replaced by h_t, which hs_t[row] gets too
    """
    H = h.shape[1]
    G = 3 * H
    L = lanes(h)
    zero = vzero(h)
    one = vsplat(typed_one(h))
    two = vadd(one, one)
    for j in range(0, width, L):
        a_r = vload1(acc, q * G + j)
        a_z = vload1(acc, q * G + H + j)
        hn = vload1(acc, q * G + 2 * H + j)  # W_hn h_{t-1} + b_hn, kept for n_t and for the backward pass
        vstore1(pr, q * H + j, hn)
        # r_t, z_t = σ(a) = 1 / (1 + e^{-a})
        r = vdiv(one, vadd(one, vexp(vsub(zero, a_r))))
        z = vdiv(one, vadd(one, vexp(vsub(zero, a_z))))
        # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
        a_n = vadd(vload(xs, xr, 2 * H + j), vmul(r, hn))
        n = vsub(vdiv(two, vadd(one, vexp(vsub(zero, vadd(a_n, a_n))))), one)
        vstore1(gt, q * G + j, r)
        vstore1(gt, q * G + H + j, z)
        vstore1(gt, q * G + 2 * H + j, n)
        # h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t-1}
        h_t = vadd(vmul(vsub(one, z), n), vmul(z, vload(h, row, j)))
        vstore(h, row, j, h_t)
        vstore(hs_t, row, j, h_t)


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
    gates, hn_rec = rec
    T = active.shape[0]
    N, H = h.shape
    G = 3 * H  # width of a row of gates (of hn: H)
    one = typed_one(h)
    two = one + one
    m = hi - lo
    hh = product_plan(w_hh, m, T)  # W_hh h_{t-1}: packed panels, or BLAS's scratch
    acc = np.empty(m * G, dtype=h.dtype)  # the block's a_r | a_z | W_hn h_{t-1} + b_hn, row q at q*3H
    acc_rows = acc.reshape(m, G)  # the same buffer by rows, for the product
    e = np.empty(m * 2 * H, dtype=h.dtype)  # exponentials of r and z (columns past lanes_h)
    en = np.empty(m * H, dtype=h.dtype)  # ... and of n
    # the columns done a register of lanes at a time: all but H mod lanes, where the state's rows
    # are contiguous (they are, from steprnn; a caller's strided views go element by element)
    lanes_h = H - H % lanes(h) if h.strides[1] == h.itemsize and hs.strides[2] == hs.itemsize else 0
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
        pr = hn_rec[r_, lo * H:(lo + n_rows) * H]  # W_hn h_{t-1} + b_hn, row q at q*H
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
            # columns 0..lanes_h-1 of every gate, a register of lanes at a time
            gru_cell_lanes(acc, pr, gt, xs, x0 + q, h, lo + q, hs[t], q, lanes_h)
        w = H - lanes_h  # the columns left, element by element
        if w > 0:
            for q in range(n_rows):
                for k in range(2):
                    for jj in range(w):
                        j = k * H + lanes_h + jj
                        e[(q * 2 + k) * w + jj] = -acc[q * G + j]
                for jj in range(w):
                    # W_hn h_{t-1} + b_hn, kept for n_t and for the backward pass
                    pr[q * H + lanes_h + jj] = acc[q * G + 2 * H + lanes_h + jj]
            exp_inplace(e[:n_rows * 2 * w])
            for q in range(n_rows):
                xrow = xs[x0 + q]
                for jj in range(w):
                    j = lanes_h + jj
                    # r_t, z_t = σ(a) = 1 / (1 + e^{-a})
                    r = one / (one + e[(q * 2) * w + jj])
                    gt[q * G + j] = r
                    gt[q * G + H + j] = one / (one + e[(q * 2 + 1) * w + jj])
                    # n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))
                    a_n = xrow[2 * H + j] + r * acc[q * G + 2 * H + j]
                    en[q * w + jj] = -two * a_n
            exp_inplace(en[:n_rows * w])
            for q in range(n_rows):
                for jj in range(w):
                    j = lanes_h + jj
                    n = two / (one + en[q * w + jj]) - one
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
    rec       (gates (T, N*3H), hn (T, N*H)) recorded by gru_forward (hn: W_hn h_{t-1} + b_hn)
    h_prev    (T, N, H) the state each step read
    grads_in  (dL/dh_t from above (T, N, H), dL/dh_n (N, H))
    grads_out (dL/d(W_ih x + b_ih) (T, N*3H) zeroed, dL/d(W_hh h + b_hh) (T, N*3H) zeroed,
               dL/dh_0 (N, H), dL/dh_t total (T, N, H) zeroed)
    """
    bounds = chunk_bounds(h_prev.shape[1], parts)
    for k in prange(bounds.shape[0] - 1):
        gru_rows_backward(bounds[k], bounds[k + 1], w_hh, active, reverse, rec, h_prev, grads_in, grads_out)


@njit(**LEAF)
def gru_grad_lanes(g_t, hn_t, dh, dhs_t, h_prev_t, dh_all_t, gi_t, gh_t, direct, b, q, width):
    """dL/d(W_ih x + b_ih), dL/d(W_hh h + b_hh) and the direct part of dL/dh_{t-1} of one row (q in
    the block, b in the batch) for the columns 0..width-1 of every gate (width a multiple of the
    lanes), a register of lanes at a time.

    g_t, hn_t         the step's records of r | z | n and of W_hn h + b_hn (1-D, row b at b*3H, b*H)
    dh                (m, H) dL/dh_t from step t+1;  dhs_t (N, H) dL/dh_t from above
    h_prev_t          (N, H) h_{t-1};  dh_all_t (N, H) out: dL/dh_t in total
    gi_t, gh_t        out (1-D, row b at b*3H);  direct (m, H) out: z_t ⊙ dL/dh_t
    """
    H = dh.shape[1]
    G = 3 * H
    L = lanes(dh)
    one = vsplat(typed_one(dh))
    for j in range(0, width, L):
        d_h = vadd(vload(dh, q, j), vload(dhs_t, b, j))
        vstore(dh_all_t, b, j, d_h)
        r = vload1(g_t, b * G + j)
        z = vload1(g_t, b * G + H + j)
        n = vload1(g_t, b * G + 2 * H + j)
        # h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
        d_n = vmul(d_h, vsub(one, z))
        d_z = vmul(d_h, vsub(vload(h_prev_t, b, j), n))
        vstore(direct, q, j, vmul(d_h, z))
        # n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        d_an = vmul(d_n, vsub(one, vmul(n, n)))
        d_r = vmul(d_an, vload1(hn_t, b * H + j))
        # r, z = σ(a): σ' = σ(1 − σ)
        d_ar = vmul(vmul(d_r, r), vsub(one, r))
        d_az = vmul(vmul(d_z, z), vsub(one, z))
        vstore1(gi_t, b * G + j, d_ar)
        vstore1(gi_t, b * G + H + j, d_az)
        vstore1(gi_t, b * G + 2 * H + j, d_an)
        vstore1(gh_t, b * G + j, d_ar)
        vstore1(gh_t, b * G + H + j, d_az)
        vstore1(gh_t, b * G + 2 * H + j, vmul(d_an, r))


@njit(**JIT)
def gru_rows_backward(lo, hi, w_hh, active, reverse, rec, h_prev, grads_in, grads_out):
    """The backward time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one
    thread); the other arguments are ``gru_backward``'s."""
    gates, hn = rec
    dhs, dh_n = grads_in
    d_gi, d_gh, dh0, dh_all = grads_out
    T = active.shape[0]
    H = h_prev.shape[2]
    G = 3 * H
    one = typed_one(dh_n)
    m = hi - lo
    dh = dh_n[lo:hi].copy()  # dL/dh_t carried back through time
    dh_plan = product_plan(w_hh, m, T)  # dL/d(W_hh h) W_hh: packed panels, or BLAS's scratch
    d_gh_rows = d_gh.reshape(T, d_gh.shape[1] // G, G)  # by rows, for the product
    direct = np.empty((m, H), dtype=dh.dtype)  # dL/dh_{t-1} through z_t ⊙ h_{t-1}
    # the columns done a register of lanes at a time: all but H mod lanes, where the rows are contiguous
    rows_contiguous = (dhs.strides[2] == dhs.itemsize and h_prev.strides[2] == h_prev.itemsize
                       and dh_all.strides[2] == dh_all.itemsize and gates.strides[1] == gates.itemsize
                       and hn.strides[1] == hn.itemsize and d_gi.strides[1] == d_gi.itemsize
                       and d_gh.strides[1] == d_gh.itemsize)
    lanes_h = H - H % lanes(dh) if rows_contiguous else 0
    for s in range(T):
        t = s if reverse else T - 1 - s  # the forward's steps, last first
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        for q in range(n):
            # columns 0..lanes_h-1 of every gate, a register of lanes at a time
            gru_grad_lanes(gates[t], hn[t], dh, dhs[t], h_prev[t], dh_all[t], d_gi[t], d_gh[t], direct,
                           lo + q, q, lanes_h)
        for q in range(n if lanes_h < H else 0):
            b = lo + q
            gq = gates[t, b * G:(b + 1) * G]  # this row's r | z | n
            hn_q = hn[t, b * H:(b + 1) * H]  # W_hn h_{t-1} + b_hn
            gi = d_gi[t, b * G:(b + 1) * G]
            gh = d_gh[t, b * G:(b + 1) * G]
            dhq = dh[q]
            dh_t = dh_all[t, b]
            dh_above = dhs[t, b]
            h_tm1 = h_prev[t, b]
            dq = direct[q]
            for j in range(lanes_h, H):
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

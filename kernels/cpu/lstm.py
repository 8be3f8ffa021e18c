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

from .jit import (JIT, add_times, chunk_bounds, copy_rows, folded_bias, input_plan, product_plan,
                  projected_inputs, rows_active, step_inputs, typed_one)
from .tiles import LEAF
from .simd import lanes, vadd, vdiv, vexp, vload, vload1, vmul, vsplat, vstore, vstore1, vsub, vzero
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
    rec      (gates (R, N*4H), pre (R', N*4H), cells (R, N*H)): activated gates i|f|g|o,
             pre-activations and c_t, row b at columns b*4H..; R = T records every step,
             R = 1 is a scratch area that each step overwrites; R' likewise, on its own (the
             backward reads no pre-activations: only a trace wants them, and it can recompute them).
    """
    bounds = chunk_bounds(state[1].shape[0], parts)
    # (T*N, 4H): W_ih x_t + b_ih + b_hh of every step in one product, or (0, 4H): in the time loop
    xp = projected_inputs(parts, x, weights[0], biases[0], biases[1], biases[1].shape[0], bounds, active.shape[0])
    for k in prange(bounds.shape[0] - 1):
        lstm_rows(bounds[k], bounds[k + 1], (x, xp), weights, biases, active, reverse, hs, state, rec)


@njit(**LEAF)
def lstm_cell_lanes(a, gt, cr, c, q, row, h1, r1, h2, r2, width):
    """Gates, c_t and h_t of one row for the columns 0..width-1 of every gate (width a multiple of
    the lanes), one register of lanes at a time (``simd``): all in registers, from a_t to h_t.

    a, gt   the block's pre-activations and gates i|f|g|o (1-D, this row at q*4H)
    cr      the block's record of c_t (1-D, this row at q*H)
    c       (N, H): c_{t-1} at row ``row``, replaced by c_t
    h1, h2  o_t ⊙ tanh(c_t) goes to h1[r1] and h2[r2] (h and hs[t]; or m_t, twice, before a projection)
    """
    H = c.shape[1]
    G = 4 * H
    L = lanes(c)
    b = q * G
    zero = vzero(c)
    one = vsplat(typed_one(c))
    two = vadd(one, one)
    for j in range(0, width, L):
        # i, f, o = σ(a) = 1 / (1 + e^{-a})
        i = vdiv(one, vadd(one, vexp(vsub(zero, vload1(a, b + j)))))
        f = vdiv(one, vadd(one, vexp(vsub(zero, vload1(a, b + H + j)))))
        o = vdiv(one, vadd(one, vexp(vsub(zero, vload1(a, b + 3 * H + j)))))
        # g = tanh(a) = 2 / (1 + e^{-2a}) − 1
        a_g = vload1(a, b + 2 * H + j)
        g = vsub(vdiv(two, vadd(one, vexp(vsub(zero, vadd(a_g, a_g))))), one)
        vstore1(gt, b + j, i)
        vstore1(gt, b + H + j, f)
        vstore1(gt, b + 2 * H + j, g)
        vstore1(gt, b + 3 * H + j, o)
        # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
        c_t = vadd(vmul(f, vload(c, row, j)), vmul(i, g))
        vstore(c, row, j, c_t)
        vstore1(cr, q * H + j, c_t)
        # h_t = o_t ⊙ tanh(c_t)
        h_t = vmul(o, vsub(vdiv(two, vadd(one, vexp(vsub(zero, vadd(c_t, c_t))))), one))
        vstore(h1, r1, j, h_t)
        vstore(h2, r2, j, h_t)


@njit(**JIT)
def lstm_rows(lo, hi, inputs, weights, biases, active, reverse, hs, state, rec):
    """The time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one thread).

    ``inputs`` is (x (T*N, I), xp): xp (T*N, 4H) is W_ih x_t + b_ih + b_hh of every step, or
    (0, 4H) where this loop multiplies W_ih x_t itself (``jit.projected_inputs``); the other
    arguments are ``lstm_forward``'s.

    Each step works on the chunk's rows as one block (row q of the block at q*4H), so that every
    loop below runs over the whole block: a = W_ih x_t + b + h W_hh (the products in register
    tiles on W packed into panels once per call, where ``jit.product_in_loop``, else by BLAS), one ``exp``
    for all gates, c_t, h_t.
    """
    w_ih, w_hh, w_hr = weights
    x, xp = inputs
    h, c = state
    gates, pre, cells = rec
    T = active.shape[0]
    N, H = c.shape
    G = 4 * H
    one = typed_one(c)
    two = one + one
    project_h = w_hr.shape[0] > 0
    m = hi - lo
    hh = product_plan(w_hh, m, T)  # W_hh h_{t-1}: packed panels, or BLAS's scratch
    xw = input_plan(w_ih, xp, m, T)  # W_ih x_t, where made here
    hr = np.empty((m if project_h else 0, H), dtype=c.dtype)  # o_t ⊙ tanh(c_t), before the projection
    hp = np.empty((m if project_h else 0, h.shape[1]), dtype=c.dtype)  # h_t = W_hr m_t, contiguous for BLAS
    e = np.empty(m * G, dtype=c.dtype)  # exponentials of the gates of a step (columns past lanes_h)
    ec = np.empty(m * H, dtype=c.dtype)  # ... and of the cells
    # the gate columns done a register of lanes at a time: all but H mod lanes, where the state's
    # rows are contiguous (they are, from steprnn; a caller's strided views go element by element)
    rows_contiguous = c.strides[1] == c.itemsize and h.strides[1] == h.itemsize and hs.strides[2] == hs.itemsize
    lanes_h = H - H % lanes(c) if rows_contiguous else 0
    pre_rows = pre.reshape(pre.shape[0], N, G)  # the same buffer by rows, for the product
    bias = folded_bias(biases[0], biases[1], G)  # b_ih + b_hh, where W_ih x_t is multiplied here
    for s in range(T):
        t = T - 1 - s if reverse else s
        r = t if gates.shape[0] == T else 0
        rp = t if pre.shape[0] == T else 0
        n = rows_active(active[t], lo, hi)
        if n == 0:
            continue
        a = pre[rp, lo * G:(lo + n) * G]  # the block's pre-activations, row q at q*G
        gt = gates[r, lo * G:(lo + n) * G]
        cr = cells[r, lo * H:(lo + n) * H]
        # a_t = W_i· x_t + b_i· + b_h· + W_h· h_{t-1}   (all four gates)
        step_inputs(pre_rows[rp, lo:lo + n], x, xp, t * N + lo, xw, bias)
        add_times(pre_rows[rp, lo:lo + n], h[lo:lo + n], hh)
        for q in range(n):
            # columns 0..lanes_h-1 of every gate, a register of lanes at a time
            if project_h:
                lstm_cell_lanes(a, gt, cr, c, q, lo + q, hr, q, hr, q, lanes_h)
            else:
                lstm_cell_lanes(a, gt, cr, c, q, lo + q, h, lo + q, hs[t], lo + q, lanes_h)
        w = H - lanes_h  # the columns left, element by element
        if w > 0:
            # e^{-a} for i, f, o and e^{-2a} for g
            for q in range(n):
                for k in range(4):
                    for jj in range(w):
                        v = -a[q * G + k * H + lanes_h + jj]
                        e[(q * 4 + k) * w + jj] = v + v if k == 2 else v
            exp_inplace(e[:n * 4 * w])
            for q in range(n):
                for jj in range(w):
                    j = lanes_h + jj
                    z = (q * 4) * w + jj  # this column's e^{-a_i}; f, g, o w, 2w, 3w on
                    # i, f, o = σ(a) = 1 / (1 + e^{-a});  g = tanh(a) = 2 / (1 + e^{-2a}) − 1
                    i = one / (one + e[z])
                    f = one / (one + e[z + w])
                    g = two / (one + e[z + 2 * w]) - one
                    o = one / (one + e[z + 3 * w])
                    gt[q * G + j] = i
                    gt[q * G + H + j] = f
                    gt[q * G + 2 * H + j] = g
                    gt[q * G + 3 * H + j] = o
                    # c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t
                    c_t = f * c[lo + q, j] + i * g
                    c[lo + q, j] = c_t
                    cr[q * H + j] = c_t
                    ec[q * w + jj] = -two * c_t
            exp_inplace(ec[:n * w])
            for q in range(n):
                for jj in range(w):
                    j = lanes_h + jj
                    # h_t = o_t ⊙ tanh(c_t)   (with proj_size: m_t, projected below)
                    v = gt[q * G + 3 * H + j] * (two / (one + ec[q * w + jj]) - one)
                    if project_h:
                        hr[q, j] = v
                    else:
                        h[lo + q, j] = v
                        hs[t, lo + q, j] = v
        if project_h:
            # h_t = W_hr m_t
            np.dot(hr[:n], w_hr, hp[:n])
            copy_rows(h[lo:lo + n], hp[:n])
            copy_rows(hs[t, lo:lo + n], hp[:n])


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
        lstm_rows_backward(bounds[k], bounds[k + 1], weights, active, reverse, rec, prev, grads_in, grads_out)


@njit(**LEAF)
def lstm_grad_lanes(g_t, c_t, c_prev, dm, dc, dc_t, da_t, b, q, width):
    """dL/da of the four gates and dL/dc_{t-1} of one row (q in the block, b in the batch) for the
    columns 0..width-1 of every gate (width a multiple of the lanes), a register of lanes at a time.

    g_t, c_t  the step's records of i|f|g|o and c_t (1-D, row b at b*4H and b*H)
    c_prev    (N, H) c_{t-1};  dc_t (N, H) out: dL/dc_t;  da_t (1-D, row b at b*4H) out: dL/da
    dm        (m, H) dL/d(o ⊙ tanh c_t);  dc (m, H): dL/dc_t from step t+1 in, dL/dc_{t-1} out
    """
    H = c_prev.shape[1]
    G = 4 * H
    L = lanes(c_prev)
    gb = b * G
    zero = vzero(c_prev)
    one = vsplat(typed_one(c_prev))
    two = vadd(one, one)
    for j in range(0, width, L):
        i = vload1(g_t, gb + j)
        f = vload1(g_t, gb + H + j)
        g = vload1(g_t, gb + 2 * H + j)
        o = vload1(g_t, gb + 3 * H + j)
        c = vload1(c_t, b * H + j)
        th = vsub(vdiv(two, vadd(one, vexp(vsub(zero, vadd(c, c))))), one)  # tanh(c_t), as the forward computed it
        d_m = vload(dm, q, j)
        # h_t = o ⊙ tanh(c_t):  dL/do = dL/dh ⊙ tanh(c_t);  dL/dc_t += dL/dh ⊙ o ⊙ (1 − tanh²c_t)
        d_o = vmul(d_m, th)
        d_c = vadd(vload(dc, q, j), vmul(vmul(d_m, o), vsub(one, vmul(th, th))))
        vstore(dc_t, b, j, d_c)
        # c_t = f ⊙ c_{t-1} + i ⊙ g
        d_i = vmul(d_c, g)
        d_g = vmul(d_c, i)
        d_f = vmul(d_c, vload(c_prev, b, j))
        vstore(dc, q, j, vmul(d_c, f))
        # σ' = σ(1 − σ), tanh' = 1 − tanh²
        vstore1(da_t, gb + j, vmul(vmul(d_i, i), vsub(one, i)))
        vstore1(da_t, gb + H + j, vmul(vmul(d_f, f), vsub(one, f)))
        vstore1(da_t, gb + 2 * H + j, vmul(d_g, vsub(one, vmul(g, g))))
        vstore1(da_t, gb + 3 * H + j, vmul(vmul(d_o, o), vsub(one, o)))


@njit(**JIT)
def lstm_rows_backward(lo, hi, weights, active, reverse, rec, prev, grads_in, grads_out):
    """The backward time loop for batch rows lo..hi-1 (one thread's share, or the whole batch on one
    thread); the other arguments are ``lstm_backward``'s."""
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
    tc = np.empty(m * H, dtype=dh.dtype)  # e^{-2 c_t} of one step (columns past lanes_h)
    # the columns done a register of lanes at a time: all but H mod lanes, where the rows are contiguous
    rows_contiguous = (c_prev.strides[2] == c_prev.itemsize and dc_all.strides[2] == dc_all.itemsize
                       and gates.strides[1] == gates.itemsize and cells.strides[1] == cells.itemsize
                       and da.strides[1] == da.itemsize)
    lanes_h = H - H % lanes(dh_n) if rows_contiguous else 0
    dh_plan = product_plan(w_hh, m, T)  # dL/da W_hh: packed panels, or BLAS's scratch
    da_rows = da.reshape(T, da.shape[1] // G, G)  # dL/da by rows, for the product
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
            copy_rows(dm[:n], dh[:n])
        for q in range(n):
            # columns 0..lanes_h-1 of every gate, a register of lanes at a time
            lstm_grad_lanes(gates[t], cells[t], c_prev[t], dm, dc, dc_all[t], da[t], lo + q, q, lanes_h)
        w = H - lanes_h  # the columns left, element by element
        if w > 0:
            for q in range(n):
                for jj in range(w):
                    tc[q * w + jj] = -two * cells[t, (lo + q) * H + lanes_h + jj]
            exp_inplace(tc[:n * w])
            for q in range(n):
                b = lo + q
                gq = gates[t, b * G:(b + 1) * G]  # this row's i | f | g | o
                daq = da[t, b * G:(b + 1) * G]
                dmq = dm[q]
                dcq = dc[q]
                dc_t = dc_all[t, b]
                c_tm1 = c_prev[t, b]
                for jj in range(w):
                    j = lanes_h + jj
                    i = gq[j]
                    f = gq[H + j]
                    g = gq[2 * H + j]
                    o = gq[3 * H + j]
                    th = two / (one + tc[q * w + jj]) - one  # tanh(c_t), as the forward computed it
                    # h_t = o ⊙ tanh(c_t):  dL/do = dL/dh ⊙ tanh(c_t);  dL/dc_t += dL/dh ⊙ o ⊙ (1 − tanh²c_t)
                    d_o = dmq[j] * th
                    d_c = dcq[j] + dmq[j] * o * (one - th * th)
                    dc_t[j] = d_c
                    # c_t = f ⊙ c_{t-1} + i ⊙ g
                    d_i = d_c * g
                    d_g = d_c * i
                    d_f = d_c * c_tm1[j]
                    dcq[j] = d_c * f
                    # σ' = σ(1 − σ), tanh' = 1 − tanh²
                    daq[j] = d_i * i * (one - i)
                    daq[H + j] = d_f * f * (one - f)
                    daq[2 * H + j] = d_g * (one - g * g)
                    daq[3 * H + j] = d_o * o * (one - o)
        # a_t = … + W_hh h_{t-1}  ⇒  dL/dh_{t-1} = dL/da_t W_hh
        for q in range(n):
            for j in range(dh.shape[1]):
                dh[q, j] = 0
        add_times(dh[:n], da_rows[t, lo:lo + n], dh_plan)
    copy_rows(dh0[lo:hi], dh)
    copy_rows(dc0[lo:hi], dc)

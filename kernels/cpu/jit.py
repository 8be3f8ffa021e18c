"""Compilation options and small helpers shared by every CPU kernel.

``error_model='numpy'`` drops Python's division checks so LLVM can vectorise; the fastmath flag
set leaves out ``nnan``/``ninf`` so NaN and inf propagate exactly as in PyTorch.

Activations go through ``exp`` alone, so that one vectorised ``exp`` serves them all:
σ(x) = 1 / (1 + e^{-x}) and tanh(x) = 2σ(2x) − 1 = 2 / (1 + e^{-2x}) − 1.

Threads: a kernel splits the batch into one chunk of rows per Numba thread, and each thread runs
the whole time loop for its rows with a single-threaded BLAS (see ``blas_threads``); callers wrap
each kernel call in ``threads.kernel_launch()`` (one launch at a time, fork-safe threading layer).
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload, register_jitable

from ..cache import ENABLED as CACHE
from . import threads  # noqa: F401  (chooses a fork-safe threading layer before any launch)

FASTMATH = {"contract", "afn", "reassoc", "nsz", "arcp"}
#: ``cache``: compiled code is kept in a folder named by the hash of every kernel source (``kernels/cache.py``)
JIT = dict(cache=CACHE, nogil=True, error_model="numpy", fastmath=FASTMATH)


def typed_one(a):
    """The number 1 in the dtype of array ``a`` (keeps float32 kernels in float32). This body runs
    only under ``NUMBA_DISABLE_JIT=1``; compiled code gets the constant below."""
    return a.dtype.type(1)


@intrinsic
def _one_of(typingctx, a):
    """1 as a constant of ``a``'s dtype: types in microseconds, where ``np.ones(1, a.dtype)[0]``
    took a third of a second of compile."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, signature, args):
        return context.get_constant(a.dtype, 1)

    return a.dtype(a), codegen


@overload(typed_one, inline="always")
def _typed_one_impl(a):
    return lambda a: _one_of(a)


@njit(**JIT)
def chunk_bounds(n, parts):
    """Split rows 0..n-1 into ``min(parts, n)`` nearly equal chunks: (k+1,) boundaries."""
    k = max(1, min(parts, n))
    bounds = np.empty(k + 1, dtype=np.int64)
    for i in range(k + 1):
        bounds[i] = (i * n) // k
    return bounds


@njit(parallel=True, **JIT)
def project(parts, x, w, b):
    """x W + b for all rows at once: (M, I) @ (I, G) + (G,) → (M, G), row blocks in parallel."""
    M = x.shape[0]
    out = np.empty((M, w.shape[1]), dtype=x.dtype)
    bounds = chunk_bounds(M, parts)
    for k in prange(bounds.shape[0] - 1):
        lo, hi = bounds[k], bounds[k + 1]
        np.dot(x[lo:hi], w, out[lo:hi])
        for i in range(lo, hi):
            for j in range(w.shape[1]):
                out[i, j] += b[j]
    return out


@njit(**JIT)
def project_serial(x, w, b_ih, b_hh, fold, rows):
    """``projected_inputs`` for a time loop over ``rows`` batch rows on the calling thread: (0, G)
    where that loop multiplies W_ih x_t itself, else x W + b_ih (+ b_hh in columns 0..fold-1),
    (M, I) @ (I, G) → (M, G), one BLAS call (SciPy's, held to one thread)."""
    if input_in_loop(w, rows):
        return np.empty((0, w.shape[1]), dtype=x.dtype)
    out = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    np.dot(x, w, out)
    bias = folded_bias(b_ih, b_hh, fold)
    for i in range(out.shape[0]):
        row = out[i]
        for j in range(row.shape[0]):
            row[j] += bias[j]
    return out


@njit(**JIT)
def matmul_serial(a, b):
    """a @ b on the calling thread: (M, K) @ (K, N) → (M, N)."""
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    np.dot(a, b, out)
    return out


@njit(**JIT)
def matmul_tn_serial(a, b):
    """aᵀ @ b on the calling thread: (M, G)ᵀ @ (M, K) → (G, K)."""
    out = np.empty((a.shape[1], b.shape[1]), dtype=a.dtype)
    np.dot(a.T, b, out)
    return out


@njit(**JIT)
def folded_bias(b_ih, b_hh, upto):
    """(G,): b_ih + b_hh in columns 0..upto-1, b_ih after (GRU keeps b_hn apart: r multiplies it)."""
    out = b_ih.copy()
    for j in range(upto):
        out[j] += b_hh[j]
    return out


@njit(**JIT)
def copy_rows(dst, src):
    """dst[...] = src for two 2-D arrays of one shape, as a loop (a slice assignment would compile
    NumPy's broadcasting and its error messages: seconds of compile time per kernel)."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            dst[i, j] = src[i, j]


#: a W of at most this many elements is small: multiplied in the kernels' own loop (it stays in
#: L1/L2) where it is wide, whatever the number of rows (``product_in_loop``)
IN_LOOP_MAX = 64 * 256
#: a wide W of up to this many elements is multiplied in the loop too, for blocks of at most
#: ``LOOP_ROW_BYTES`` bytes of rows per column (32 float32 rows, 16 float64); larger ones, or more
#: rows, by one BLAS call per step and thread
LARGE_IN_LOOP_MAX = 1 << 20
LOOP_ROW_BYTES = 128
#: a large W_ih goes to the time loop for chunks of at most this many bytes of rows (16 float32);
#: for more, the one product of all steps before the loop is the faster (``input_in_loop``)
INPUT_ROW_BYTES = 64


@njit(inline="always", **JIT)
def c_rows(w):
    """Whether the rows of ``w`` (K, G) are contiguous, one after the other: what ``add_times``'s
    own loop needs (``product_in_loop``)."""
    return w.shape[0] <= 1 or w.strides[0] == w.shape[1] * w.itemsize


@njit(**JIT)
def add_row_product(a, v, w):
    """a += v @ w for one row: a (G,), v (K,), w (K, G) C-contiguous; four rows of w per pass over a."""
    K = w.shape[0]
    G = a.shape[0]
    k = 0
    while k + 4 <= K:
        v0, v1, v2, v3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        for j in range(G):
            a[j] += v0 * w0[j] + v1 * w1[j] + v2 * w2[j] + v3 * w3[j]
        k += 4
    while k < K:
        vk = v[k]
        wk = w[k]
        for j in range(G):
            a[j] += vk * wk[j]
        k += 1


#: batch rows whose recurrent products share one pass over W_hh (``add_rows_product``)
ROW_BLOCK = 4


@njit(**JIT)
def add_rows_product(a0, a1, a2, a3, v0, v1, v2, v3, w):
    """a_i += v_i @ w for four rows at once: each a_i (G,), v_i (K,), w (K, G) C-contiguous.

    Register-blocked by 4 rows x 4 rows of w: each element of w is loaded once per block of rows
    (``add_row_product`` loads it once per row), ~1.3-1.6x its multiply-adds per ns at K = 32-64.
    """
    K = w.shape[0]
    G = a0.shape[0]
    k = 0
    while k + 4 <= K:
        w0, w1, w2, w3 = w[k], w[k + 1], w[k + 2], w[k + 3]
        p0, p1, p2, p3 = v0[k], v0[k + 1], v0[k + 2], v0[k + 3]
        q0, q1, q2, q3 = v1[k], v1[k + 1], v1[k + 2], v1[k + 3]
        r0, r1, r2, r3 = v2[k], v2[k + 1], v2[k + 2], v2[k + 3]
        s0, s1, s2, s3 = v3[k], v3[k + 1], v3[k + 2], v3[k + 3]
        for j in range(G):
            x0 = w0[j]
            x1 = w1[j]
            x2 = w2[j]
            x3 = w3[j]
            a0[j] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
            a1[j] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
            a2[j] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3
            a3[j] += s0 * x0 + s1 * x1 + s2 * x2 + s3 * x3
        k += 4
    while k < K:
        wk = w[k]
        p0, q0, r0, s0 = v0[k], v1[k], v2[k], v3[k]
        for j in range(G):
            x0 = wk[j]
            a0[j] += p0 * x0
            a1[j] += q0 * x0
            a2[j] += r0 * x0
            a3[j] += s0 * x0
        k += 1


#: ``add_times`` runs in its own loop for blocks of fewer rows than this whatever ``w``'s width
LOOP_ROWS = 16
#: ... and for any number of rows where ``w`` has at least this many columns
LOOP_COLUMNS = 128


@register_jitable
def loop_takes(K, G, itemsize, n):
    """``product_in_loop``'s rule on sizes alone, for a C-contiguous W (K, G) of this itemsize
    (plain Python too: the CPU backend asks it before a call)."""
    size = K * G
    if size > LARGE_IN_LOOP_MAX:
        return False
    small = size <= IN_LOOP_MAX
    if G < LOOP_COLUMNS:
        return small and n < LOOP_ROWS
    return small or n * itemsize <= LOOP_ROW_BYTES


@register_jitable
def input_loop_takes(I, G, itemsize, n):
    """``input_in_loop``'s rule on sizes alone, for a C-contiguous W_ihᵀ (I, G) (plain Python too)."""
    return loop_takes(I, G, itemsize, n) and (I * G <= IN_LOOP_MAX or n * itemsize <= INPUT_ROW_BYTES)


@njit(inline="always", **JIT)
def product_in_loop(w, n):
    """Whether ``add_times`` multiplies ``n`` rows by ``w`` (K, G) in its own loop rather than by BLAS.

    The loop streams whole rows of ``w`` and wins where they are long (the forward's W_hhᵀ, G = 4H);
    for narrow ``w`` (the backward's W_hh (4H, H) at small H, the RNN's) BLAS wins from about 16 rows on
    (measured single-threaded, H = 32: 64 rows 2.3x faster by BLAS; 4-8 rows 1.4-2x faster in the loop).
    A large wide ``w`` goes to the loop for few rows, where OpenBLAS is slow on small blocks
    (measured, float32, one thread, GMAC/s loop/BLAS: (16, 256) @ (256, 1024) 26/13,
    (8, 512) @ (512, 2048) 20/9; float64 (8, ·) 10-14/6-8). In the kernels on two threads (LSTM,
    float32, time per call, loop/BLAS): forward B = 16, H = 512 0.47; B = 32, H = 256 0.60;
    B = 64, H = 256 0.81 (backward 0.88); B = 64, H = 512 0.99 (backward 0.80); from B = 128
    (64 rows a thread) BLAS is ahead (forward 1.10, backward 1.08).
    """
    return c_rows(w) and loop_takes(w.shape[0], w.shape[1], w.itemsize, n)


@njit(**JIT)
def add_times(out, v, w, scratch):
    """out += v @ w for a block of rows: out (n, G), v (n, K), w (K, G); ``scratch`` (>= n, G), or
    (0, G) where ``product_in_loop(w, n)``.

    Where ``product_in_loop(w, n)``, in this loop, four rows of ``v`` per pass over ``w``
    (``add_rows_product``); else one BLAS product into ``scratch``, then added.
    This is every kernel's recurrent product: h_{t-1} W_hhᵀ forward, dL/da_t W_hh backward.
    """
    n = v.shape[0]
    if product_in_loop(w, n):
        q = 0
        while q + ROW_BLOCK <= n:
            add_rows_product(out[q], out[q + 1], out[q + 2], out[q + 3], v[q], v[q + 1], v[q + 2], v[q + 3], w)
            q += ROW_BLOCK
        while q < n:
            add_row_product(out[q], v[q], w)
            q += 1
    else:
        np.dot(v, w, scratch[:n])
        for q in range(n):
            for j in range(out.shape[1]):
                out[q, j] += scratch[q, j]


@njit(inline="always", **JIT)
def input_in_loop(w_ih, rows):
    """Whether the time loops multiply W_ih x_t themselves, step by step, for chunks of up to
    ``rows`` rows, rather than for all steps at once before the loop: where
    ``add_times`` keeps W_ih (I, G) in its own loop for such a chunk (a large W_ih only up to
    ``INPUT_ROW_BYTES`` of rows). There it costs no more than the one product, and the forward
    skips that product's parallel launch and its (T*N, G) buffer (measured: LSTM 100 steps,
    B = 64, I = 10, H = 32, 13-15 % faster; B = 32, I = 128, H = 256, 18 %)."""
    return c_rows(w_ih) and input_loop_takes(w_ih.shape[0], w_ih.shape[1], w_ih.itemsize, rows)


@njit(**JIT)
def projected_inputs(parts, x, w_ih, b_ih, b_hh, fold, bounds):
    """What the time loops read as W_ih x_t + bias: (T*N, G) for every step where they do not
    multiply it themselves (``project``, bias b_ih, plus b_hh in columns 0..fold-1), else (0, G).
    ``bounds``: the threads' chunks of rows (``chunk_bounds``)."""
    m = 0
    for k in range(bounds.shape[0] - 1):
        m = max(m, bounds[k + 1] - bounds[k])
    if input_in_loop(w_ih, m):
        return np.empty((0, w_ih.shape[1]), dtype=x.dtype)
    return project(parts, x, w_ih, folded_bias(b_ih, b_hh, fold))


@njit(**JIT)
def step_inputs(out, x, xp, r0, w_ih, bias, scratch):
    """out (n, G) ← W_ih x_t + bias for n rows of one step, starting at row r0 = t*N + lo of
    x (T*N, I) and xp: xp's rows where the projection ran before the loop, else the product here
    (xp (0, G); ``scratch`` as ``add_times`` wants it for W_ih)."""
    n = out.shape[0]
    if xp.shape[0] == 0:
        for q in range(n):
            for j in range(out.shape[1]):
                out[q, j] = bias[j]
        add_times(out, x[r0:r0 + n], w_ih, scratch)
    else:
        copy_rows(out, xp[r0:r0 + n])


@njit(inline="always", **JIT)
def rows_active(active_t, lo, hi):
    """How many of the chunk's rows lo..hi-1 take part in a step where rows 0..active_t-1 do."""
    return min(max(active_t - lo, 0), hi - lo)

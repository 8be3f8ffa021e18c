"""Small helpers shared by every CPU kernel, and the rules on where their products run.

Compilation options: ``options.JIT`` (re-exported here): ``error_model='numpy'``, and a fastmath
flag set without ``nnan``/``ninf``, so NaN and inf propagate exactly as in PyTorch.

Activations go through ``exp`` alone, so that one vectorised ``exp`` serves them all:
σ(x) = 1 / (1 + e^{-x}) and tanh(x) = 2σ(2x) − 1 = 2 / (1 + e^{-2x}) − 1.

Threads: a kernel splits the batch into one chunk of rows per Numba thread, and each thread runs
the whole time loop for its rows with a single-threaded BLAS (see ``blas_threads``); callers wrap
each kernel call in ``threads.kernel_launch()`` (one launch at a time, fork-safe threading layer).
"""
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic, overload, register_jitable

from . import threads  # noqa: F401  (chooses a fork-safe threading layer before any launch)
from .options import FASTMATH, JIT  # noqa: F401  (re-exported: the kernels import them from here)
from .tiles import TILE_ROWS, pack_panels, panel_product, panel_width


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
def project_serial(x, w, b_ih, b_hh, fold, rows, steps):
    """``projected_inputs`` for a time loop over ``rows`` batch rows and ``steps`` steps on the
    calling thread: (0, G) where that loop multiplies W_ih x_t itself, else x W + b_ih (+ b_hh in
    columns 0..fold-1), (M, I) @ (I, G) → (M, G), one BLAS call (SciPy's, held to one thread)."""
    if input_in_loop(w, rows, steps):
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


#: a W of at most this many elements is small: packed into panels at every call and multiplied in
#: register tiles (``tiles``) where it is wide, whatever the number of rows (measured, one thread,
#: 1 to 128 rows, W (32, 128): the tiles 1.3-2.6x OpenBLAS with AVX-512, 1.0-1.4x with AVX2) ...
IN_LOOP_MAX = 64 * 256
#: ... and where it is narrow (fewer columns than this: the backward's W_hh (4H, H) at small H), for
#: fewer rows than ``LOOP_ROWS`` (W (128, 32), 32 rows, float32: tiles 88, OpenBLAS 88 GMAC/s
#: with AVX-512; 50 against 89 with AVX2)
LOOP_COLUMNS = 128
LOOP_ROWS = 16
#: a W of up to this many elements goes to the tiles too, for blocks of at most ``LOOP_ROW_BYTES``
#: bytes of rows per column (32 float32 rows, 16 float64) in a call of at least
#: ``PACK_FROM_ROW_STEPS`` row-steps (its packing, a copy of W, must pay); larger ones, or more
#: rows, by one BLAS call per step and thread (float32 (64, 512) @ (512, 2048): tiles 51 GMAC/s,
#: OpenBLAS 56; (32, ·): 40 / 39; (16, 256) @ (256, 1024): 90 / 30)
LARGE_IN_LOOP_MAX = 1 << 20
LOOP_ROW_BYTES = 128
PACK_FROM_ROW_STEPS = 256
#: a large W_ih goes to the time loop for chunks of at most this many bytes of rows (16 float32);
#: for more, the one product of all steps before the loop is the faster (``input_in_loop``)
INPUT_ROW_BYTES = 64


@register_jitable
def loop_takes(K, G, itemsize, n, steps):
    """Whether the tiles multiply ``n`` rows by a W (K, G) of this itemsize at each of ``steps``
    steps, rather than BLAS (plain Python too)."""
    size = K * G
    if size <= IN_LOOP_MAX:
        return G >= LOOP_COLUMNS or n < LOOP_ROWS
    if size > LARGE_IN_LOOP_MAX:
        return False
    return n * itemsize <= LOOP_ROW_BYTES and n * steps >= PACK_FROM_ROW_STEPS


@register_jitable
def input_loop_takes(I, G, itemsize, n, steps):
    """``input_in_loop``'s rule on sizes alone, for W_ihᵀ (I, G) (plain Python too)."""
    return loop_takes(I, G, itemsize, n, steps) and (I * G <= IN_LOOP_MAX or n * itemsize <= INPUT_ROW_BYTES)


@njit(inline="always", **JIT)
def product_in_loop(w, n, steps):
    """Whether ``add_times`` multiplies ``n`` rows by ``w`` (K, G) in register tiles, at each of
    ``steps`` steps, rather than by BLAS (``loop_takes``)."""
    return loop_takes(w.shape[0], w.shape[1], w.itemsize, n, steps)


@njit(**JIT)
def product_plan(w, n, steps):
    """What ``add_times`` needs to multiply blocks of up to ``n`` rows by ``w`` (K, G), any strides,
    at each of ``steps`` steps: (w, wp, scratch).

    In the tiles (``product_in_loop``): wp = ``pack_panels(w)``, scratch (TILE_ROWS, P) for the
    last panel's columns. By BLAS: wp (0, P), scratch (n, G) for the product. ``n`` = 0: neither
    (the product is not needed)."""
    P = panel_width(w)
    if n > 0 and product_in_loop(w, n, steps):
        return w, pack_panels(w), np.empty((TILE_ROWS, P), dtype=w.dtype)
    return w, np.empty((0, P), dtype=w.dtype), np.empty((n, w.shape[1]), dtype=w.dtype)


@njit(inline="always", **JIT)
def add_times(out, v, plan):
    """out += v @ w for a block of rows: out (n, G), v (n, K), ``plan`` = ``product_plan(w, ≥ n, ·)``.
    Inlined into its callers (as ``step_inputs`` is): a call per step would pay NRT's reference
    counting on each array passed (measured: LSTM 1000 steps, B = 1, 0.43 -> 0.32 ms).

    In register tiles where the plan packed w, else one BLAS product into its scratch, then added.
    This is every kernel's recurrent product: h_{t-1} W_hhᵀ forward, dL/da_t W_hh backward; and
    W_ih x_t where the time loop makes it (``step_inputs``).
    """
    w, wp, scratch = plan
    n = v.shape[0]
    if wp.shape[0] > 0 and out.strides[1] == out.itemsize:
        panel_product(out, v, wp, scratch)
    elif wp.shape[0] > 0:  # rows of ``out`` not contiguous: not from any kernel, but still right
        for q in range(n):
            for k in range(v.shape[1]):
                for j in range(out.shape[1]):
                    out[q, j] += v[q, k] * w[k, j]
    else:
        np.dot(v, w, scratch[:n])
        for q in range(n):
            for j in range(out.shape[1]):
                out[q, j] += scratch[q, j]


@njit(inline="always", **JIT)
def input_in_loop(w_ih, rows, steps):
    """Whether the time loops multiply W_ih x_t themselves, step by step, for chunks of up to
    ``rows`` rows, rather than for all steps at once before the loop: where the tiles take W_ih
    (I, G) for such a chunk (a large W_ih only up to ``INPUT_ROW_BYTES`` of rows). There it costs
    no more than the one product, and the forward skips that product's parallel launch and its
    (T*N, G) buffer (measured: LSTM 100 steps, B = 64, I = 10, H = 32, 13-15 % faster; B = 32,
    I = 128, H = 256, 18 %)."""
    return input_loop_takes(w_ih.shape[0], w_ih.shape[1], w_ih.itemsize, rows, steps)


@njit(**JIT)
def projected_inputs(parts, x, w_ih, b_ih, b_hh, fold, bounds, steps):
    """What the time loops read as W_ih x_t + bias over ``steps`` steps: (T*N, G) for every step
    where they do not multiply it themselves (``project``, bias b_ih, plus b_hh in columns
    0..fold-1), else (0, G). ``bounds``: the threads' chunks of rows (``chunk_bounds``)."""
    m = 0
    for k in range(bounds.shape[0] - 1):
        m = max(m, bounds[k + 1] - bounds[k])
    if input_in_loop(w_ih, m, steps):
        return np.empty((0, w_ih.shape[1]), dtype=x.dtype)
    return project(parts, x, w_ih, folded_bias(b_ih, b_hh, fold))


@njit(**JIT)
def input_plan(w_ih, xp, n, steps):
    """``product_plan`` for W_ih x_t in a time loop over blocks of up to ``n`` rows: none where
    ``xp`` holds the products already (``projected_inputs``)."""
    return product_plan(w_ih, n if xp.shape[0] == 0 else 0, steps)


@njit(inline="always", **JIT)
def step_inputs(out, x, xp, r0, plan, bias):
    """out (n, G) ← W_ih x_t + bias for n rows of one step, starting at row r0 = t*N + lo of
    x (T*N, I) and xp: xp's rows where the projection ran before the loop, else the product here
    (xp (0, G); ``plan`` = ``input_plan``)."""
    n = out.shape[0]
    if xp.shape[0] == 0:
        for q in range(n):
            for j in range(out.shape[1]):
                out[q, j] = bias[j]
        add_times(out, x[r0:r0 + n], plan)
    else:
        copy_rows(out, xp[r0:r0 + n])


@njit(inline="always", **JIT)
def rows_active(active_t, lo, hi):
    """How many of the chunk's rows lo..hi-1 take part in a step where rows 0..active_t-1 do."""
    return min(max(active_t - lo, 0), hi - lo)


#: elements compared between two looks at the running difference in ``same_bits``
_SAME_BITS_BLOCK = 256


@njit(**JIT)
def same_bits(x, y):
    """Whether two flat integer views of equal size (a float array's memory, ``_weights._bits``)
    hold the same bits: blocks of a fixed length OR their differences (vectorised), then look."""
    n = x.size
    if y.size != n:
        return False
    blocks = n // _SAME_BITS_BLOCK
    for b in range(blocks):
        base = b * _SAME_BITS_BLOCK
        diff = 0
        for k in range(_SAME_BITS_BLOCK):
            diff |= x[base + k] ^ y[base + k]
        if diff != 0:
            return False
    diff = 0
    for k in range(blocks * _SAME_BITS_BLOCK, n):
        diff |= x[k] ^ y[k]
    return diff == 0

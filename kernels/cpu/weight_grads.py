"""A layer's weight and bias gradients and dL/dx in one pass over dL/da, in register tiles.

After the BPTT loop has written dL/da_t for every step, the gradients of the input weights, the
recurrent weights and the biases are sums over all T*N rows, and dL/dx is one more product:

    dL/dW_ih = Σ_t dL/da_tᵀ x_t      dL/dW_hh = Σ_t dL/da_tᵀ h_{t-1}      dL/db = Σ_t dL/da_t
    dL/dx_t  = dL/da_t W_ih

``weight_gradients`` splits the rows into one chunk per thread and walks each chunk in blocks of
``BLOCK_ROWS`` rows: a block of dL/da (a few KB to a few hundred KB) is read from memory once, and
all four products are made from it while it is in cache, the sums in per-thread accumulators
(``tiles.transposed_product``; the block's [x | h | 1] copied into a small contiguous buffer, the
column of ones giving the bias sums), and the block's rows of dL/dx by one single-threaded BLAS call
(I is narrow: measured (6400, 128) @ (128, 10) in blocks, BLAS 0.24 ms, the panels padded to 32
columns 0.36 ms). Measured on this project's machine at LSTM (100, 64, 10, 32),
float32, two threads: 0.39-0.6 ms (0.42 before the eight-column tiles, A/B), against 1.2-1.7 ms
for the three BLAS products it replaces (which read dL/da, 3.3 MB, three times, and pay a thread
pool's hand-offs). The accumulators are
G x (I + H + 2) per thread: ``takes`` keeps the kernel to layers where they stay in L2; wider
layers keep OpenBLAS, whose packed GEMM wins there.
"""
import numpy as np
from numba import njit, prange

from .jit import JIT, chunk_bounds
from .tiles import TILE_ROWS, panel_width, transposed_product

#: rows of dL/da per block: a block of (64, G) float32 is 32 KB at G = 128
BLOCK_ROWS = 64
#: bytes of one thread's accumulators (G x (I + H + 2) elements) up to which the tiles take the
#: products; above, NumPy's OpenBLAS (measured: (3200, 1024)ᵀ (3200, 128), 0.5 MB, tiles 3.0 ms,
#: OpenBLAS 2.7 ms; (6400, 128)ᵀ (6400, 43), 22 KB, tiles 0.2 ms, OpenBLAS 0.5 ms)
ACCUMULATOR_BYTES_MAX = 1 << 18


def takes(G: int, I: int, P: int, itemsize: int) -> bool:
    """Whether ``weight_gradients`` makes the products of a layer with G gate columns, input width
    I and recurrent width P (its accumulators small enough to stay in cache)."""
    return G * (I + P + 2) * itemsize <= ACCUMULATOR_BYTES_MAX


@njit(**JIT)
def _rows_into(zb, rows, src, m0, col, ones):
    """zb[:rows, col:col+W] = src[m0:m0+rows] (W = src's width); with ``ones``, zb[:rows, col+W] = 1."""
    W = src.shape[1]
    for r in range(rows):
        for c in range(W):
            zb[r, col + c] = src[m0 + r, c]
        if ones:
            zb[r, col + W] = 1


@njit(**JIT)
def _chunk(acc_in, acc_h, z_in, z_h, scratch, d_in, d_h, joint, x, h, w_ih, dx, lo, hi):
    """Rows lo..hi-1 into one thread's accumulators (acc_in, acc_h) and dx, block by block."""
    I = x.shape[1]
    m0 = lo
    while m0 < hi:
        m1 = min(m0 + BLOCK_ROWS, hi)
        rows = m1 - m0
        # the block's [x | h | 1] (joint), or [x | 1] and [h | 1]
        _rows_into(z_in, rows, x, m0, 0, not joint)
        _rows_into(z_in if joint else z_h, rows, h, m0, I if joint else 0, True)
        transposed_product(acc_in, z_in[:rows], d_in[m0:m1], scratch)
        if not joint:
            transposed_product(acc_h, z_h[:rows], d_h[m0:m1], scratch)
        np.dot(d_in[m0:m1], w_ih, dx[m0:m1])  # dL/dx = dL/da W_ih (narrow: BLAS beats padded panels)
        m0 = m1


@njit(**JIT)
def _buffers(n, d_in, joint, I, P):
    """Per-thread accumulators and block buffers of ``n`` chunks."""
    G = d_in.shape[1]
    K_in = I + P + 1 if joint else I + 1
    K_h = 0 if joint else P + 1
    dtype = d_in.dtype
    return (np.zeros((n, K_in, G), dtype=dtype), np.zeros((n, K_h, G), dtype=dtype),
            np.empty((n, BLOCK_ROWS, K_in), dtype=dtype), np.empty((n, BLOCK_ROWS, K_h), dtype=dtype),
            np.empty((n, TILE_ROWS, panel_width(d_in)), dtype=dtype))


@njit(parallel=True, **JIT)
def weight_gradients(parts, d_in, d_h, joint, x, h, w_ih, dx):
    """The sums and dL/dx of a layer's backward, the rows split over ``parts`` threads.

    d_in (M, G): dL/d(input part of a); d_h (M, G): dL/d(hidden part) — the same array for RNN and
    LSTM, where ``joint`` is True and one pass sums [x | h | 1]; x (M, I), h (M, P) the inputs and
    previous states of every row; w_ih (G, I); dx (M, I) written: d_in W_ih. All C-contiguous.
    Returns (acc_in (I + 1, G), acc_h (P + 1, G)): acc_in[:I] = (d_inᵀ x)ᵀ, acc_in[I] = Σ d_in,
    acc_h the same of d_h and h (for ``joint``: acc_in is (I + P + 1, G), [x | h | 1], acc_h empty).
    """
    bounds = chunk_bounds(d_in.shape[0], parts)
    n = bounds.shape[0] - 1
    acc_in, acc_h, z_in, z_h, scratch = _buffers(n, d_in, joint, x.shape[1], h.shape[1])
    for t in prange(n):
        _chunk(acc_in[t], acc_h[t], z_in[t], z_h[t], scratch[t], d_in, d_h, joint, x, h, w_ih, dx,
               bounds[t], bounds[t + 1])
    return _summed(acc_in), _summed(acc_h)


@njit(**JIT)
def weight_gradients_serial(parts, d_in, d_h, joint, x, h, w_ih, dx):
    """``weight_gradients`` on the calling thread (``parts`` ignored): a parallel kernel pays its
    launch even for one chunk (measured: 40 µs at one row; this 3 µs)."""
    acc_in, acc_h, z_in, z_h, scratch = _buffers(1, d_in, joint, x.shape[1], h.shape[1])
    _chunk(acc_in[0], acc_h[0], z_in[0], z_h[0], scratch[0], d_in, d_h, joint, x, h, w_ih, dx, 0, d_in.shape[0])
    return acc_in[0], acc_h[0]


@njit(**JIT)
def _summed(acc):
    """(n, K, G) per-thread sums → (K, G) their total."""
    out = acc[0].copy()
    for t in range(1, acc.shape[0]):
        for k in range(acc.shape[1]):
            for g in range(acc.shape[2]):
                out[k, g] += acc[t, k, g]
    return out

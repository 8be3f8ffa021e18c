"""Matrix products on the GPU: a tiled shared-memory GEMM (``numba.cuda`` has no BLAS).

Used for the input projection of all steps before a recurrence (``project``), and by the backward
pass for ``dL/dx = dL/da W_ih`` (``matmul``) and the weight gradients summed over all steps
(``matmul_tn``). The same names and arguments as in ``kernels/cpu/jit.py``; ``parts`` (CPU
threads) is accepted and ignored. Arguments are device arrays (C-contiguous); results are new
device arrays.

Each block computes one TILE×TILE tile of the output: it walks the contraction dimension in
steps of TILE, staging a tile of each operand in shared memory (padded by one column against
bank conflicts), and every thread accumulates one output element.
"""
from __future__ import annotations

import numpy as np
from numba import cuda
from numba.cuda import config

from .jit import for_dtype

#: edge of the square output tile one block computes (TILE*TILE threads); 8 under the simulator,
#: which runs every thread as a Python thread (the same code, more tiles at the tests' sizes)
TILE = 8 if config.ENABLE_CUDASIM else 16
#: row length of a staged tile: one column of padding against shared-memory bank conflicts
TILE_ROW = TILE + 1

__all__ = ["TILE", "gemm_kernel", "gemm", "project", "matmul", "matmul_tn"]


def gemm_kernel(dt):
    """The GEMM kernel for Numba element type ``dt`` (built once per dtype by ``for_dtype``)."""
    zero_ = np.dtype(str(dt)).type(0)

    @cuda.jit
    def gemm_tiles(a, b, bias, trans_a, out):
        """out = op(a) @ b + bias.

        a      (M, K), or (K, M) when ``trans_a`` (op(a) = aᵀ)
        b      (K, Nc)
        bias   (Nc,), or (0,) for none
        out    (M, Nc)
        Grid (ceil(M/TILE), ceil(Nc/TILE)): rows on x, whose limit is 2^31 − 1 blocks (y allows
        only 65535); block (TILE, TILE), tx along the columns of out.
        """
        sa = cuda.shared.array((TILE, TILE_ROW), dt)  # op(a)[row0:row0+TILE, k0:k0+TILE]
        sb = cuda.shared.array((TILE, TILE_ROW), dt)  # b[k0:k0+TILE, col0:col0+TILE]
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row0 = cuda.blockIdx.x * TILE
        col0 = cuda.blockIdx.y * TILE
        M, Nc = out.shape
        K = b.shape[0]
        zero = zero_
        acc = zero
        for k0 in range(0, K, TILE):
            if trans_a:
                # a (K, M): consecutive tx read consecutive columns of a (coalesced)
                k = k0 + ty
                m = row0 + tx
                sa[tx, ty] = a[k, m] if (k < K and m < M) else zero
            else:
                k = k0 + tx
                m = row0 + ty
                sa[ty, tx] = a[m, k] if (m < M and k < K) else zero
            k = k0 + ty
            n = col0 + tx
            sb[ty, tx] = b[k, n] if (k < K and n < Nc) else zero
            cuda.syncthreads()
            # out[m, n] += Σ_kk op(a)[m, k0 + kk] b[k0 + kk, n]
            for kk in range(TILE):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        m = row0 + ty
        n = col0 + tx
        if m < M and n < Nc:
            if bias.shape[0] > 0:
                acc += bias[n]
            out[m, n] = acc

    return gemm_tiles


def gemm(a, b, bias, trans_a: bool, out, stream=0) -> None:
    """Launch ``gemm_tiles``: out (M, Nc) = op(a) @ b + bias (see the kernel for shapes)."""
    M, Nc = out.shape
    if M == 0 or Nc == 0:
        return
    kernel = for_dtype(gemm_kernel, out.dtype)
    grid = (-(-M // TILE), -(-Nc // TILE))
    kernel[grid, (TILE, TILE), stream](a, b, bias, trans_a, out)


def _no_bias(dtype, stream):
    return cuda.device_array(0, dtype=dtype, stream=stream)


def project(parts, x, w, b, stream=0):
    """x W + b for all rows at once: (M, I) @ (I, G) + (G,) → (M, G), a new device array."""
    out = cuda.device_array((x.shape[0], w.shape[1]), dtype=x.dtype, stream=stream)
    gemm(x, w, b, False, out, stream)
    return out


def matmul(parts, a, b, stream=0):
    """a @ b: (M, K) @ (K, N) → (M, N), a new device array."""
    out = cuda.device_array((a.shape[0], b.shape[1]), dtype=a.dtype, stream=stream)
    gemm(a, b, _no_bias(a.dtype, stream), False, out, stream)
    return out


def matmul_tn(parts, a, b, stream=0):
    """aᵀ @ b: (M, G)ᵀ @ (M, K) → (G, K), a new device array (weight gradients: Σ_t dL/da_t x_tᵀ)."""
    out = cuda.device_array((a.shape[1], b.shape[1]), dtype=a.dtype, stream=stream)
    gemm(a, b, _no_bias(a.dtype, stream), True, out, stream)
    return out

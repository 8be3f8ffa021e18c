"""Array operations the layers need between the recurrence kernels, kept on the GPU.

On the CPU these are NumPy one-liners (``np.ascontiguousarray``, ``a + b``, fancy indexing); on
CUDA each is a small elementwise kernel here, so that a forward or backward of a whole layer
never leaves the device: contiguous copies of strided views (``batch_first`` input, one
direction's half of a gradient), sums and products (gradients of both directions, dropout),
packed sequences in and out (``scatter_steps``/``gather_steps``), batch rows in another order
(``take_rows``: sorted packed batches), ``batch_first`` layouts (``swap01``), a weight
transposed (``transpose2``: the kernels read ``W_ihᵀ``, ``W_hhᵀ``).

Arguments are device arrays; results are new C-contiguous device arrays. One thread per output
element, ``THREADS`` per block (fewer for a small array); an empty result launches nothing.
"""
from __future__ import annotations

from numba import cuda

from .jit import ELEMENTWISE_THREADS as THREADS, elementwise_grid, for_dtype

__all__ = ["THREADS", "copy1_kernel", "copy2_kernel", "copy3_kernel", "swap01_kernel", "add_kernel",
           "multiply_kernel", "gather_kernel", "scatter_kernel", "take_rows_kernel", "copy", "add", "multiply",
           "gather_steps", "scatter_steps", "take_rows", "swap01", "transpose2", "contiguous"]


def copy1_kernel(dt):
    """The kernel of ``copy`` for 1-D arrays."""

    @cuda.jit
    def copy1(src, out):
        """out[i] = src[i]: src (A,) any stride, out (A,) C-contiguous."""
        q = cuda.grid(1)
        if q < out.shape[0]:
            out[q] = src[q]

    return copy1


def copy2_kernel(dt):
    """The kernel of ``copy`` for 2-D arrays."""

    @cuda.jit
    def copy2(src, out):
        """out[i, j] = src[i, j]: src (A, B) any strides, out (A, B) C-contiguous."""
        q = cuda.grid(1)
        A, B = out.shape
        if q < A * B:
            out[q // B, q % B] = src[q // B, q % B]

    return copy2


def copy3_kernel(dt):
    """The kernel of ``copy`` for 3-D arrays."""

    @cuda.jit
    def copy3(src, out):
        """out[i, j, k] = src[i, j, k]: src (A, B, C) any strides, out (A, B, C) C-contiguous."""
        q = cuda.grid(1)
        A, B, C = out.shape
        if q < A * B * C:
            i = q // (B * C)
            j = (q // C) % B
            k = q % C
            out[i, j, k] = src[i, j, k]

    return copy3


def swap01_kernel(dt):
    """The kernel of ``swap01``."""

    @cuda.jit
    def swap01_(src, out):
        """out[j, i, k] = src[i, j, k]: src (A, B, C) any strides, out (B, A, C) C-contiguous."""
        q = cuda.grid(1)
        B, A, C = out.shape
        if q < A * B * C:
            j = q // (A * C)
            i = (q // C) % A
            k = q % C
            out[j, i, k] = src[i, j, k]

    return swap01_


def add_kernel(dt):
    """The kernel of ``add``."""

    @cuda.jit
    def add_(a, b, out):
        """out = a + b, three C-contiguous 1-D arrays of one length."""
        q = cuda.grid(1)
        if q < out.shape[0]:
            out[q] = a[q] + b[q]

    return add_


def multiply_kernel(dt):
    """The kernel of ``multiply``."""

    @cuda.jit
    def multiply_(a, b, out):
        """out = a ⊙ b, three C-contiguous 1-D arrays of one length."""
        q = cuda.grid(1)
        if q < out.shape[0]:
            out[q] = a[q] * b[q]

    return multiply_


def gather_kernel(dt):
    """The kernel of ``gather_steps``."""

    @cuda.jit
    def gather(src, t_idx, b_idx, out):
        """out[p, k] = src[t_idx[p], b_idx[p], k]: src (T, N, W) any strides, t_idx/b_idx (M,) int64, out (M, W)."""
        q = cuda.grid(1)
        M, W = out.shape
        if q < M * W:
            p = q // W
            k = q % W
            out[p, k] = src[t_idx[p], b_idx[p], k]

    return gather


def scatter_kernel(dt):
    """The kernel of ``scatter_steps``."""

    @cuda.jit
    def scatter(data, t_idx, b_idx, out):
        """out[t_idx[p], b_idx[p], k] = data[p, k]: data (M, W), t_idx/b_idx (M,) int64 (distinct
        pairs), out (T, N, W) C-contiguous (its other elements are left as they are)."""
        q = cuda.grid(1)
        M, W = data.shape
        if q < M * W:
            p = q // W
            k = q % W
            out[t_idx[p], b_idx[p], k] = data[p, k]

    return scatter


def take_rows_kernel(dt):
    """The kernel of ``take_rows``."""

    @cuda.jit
    def take_rows_(src, idx, out):
        """out[l, i, k] = src[l, idx[i], k]: src (L, N, W) any strides, idx (n,) int64, out (L, n, W)."""
        q = cuda.grid(1)
        L, n, W = out.shape
        if q < L * n * W:
            l_ = q // (n * W)
            i = (q // W) % n
            k = q % W
            out[l_, i, k] = src[l_, idx[i], k]

    return take_rows_


def _launch(factory, dtype, n: int, stream, *args) -> None:
    if n:
        blocks, threads = elementwise_grid(n)
        for_dtype(factory, dtype)[blocks, threads, stream](*args)


def copy(a, stream=0):
    """A C-contiguous copy of the 1-, 2- or 3-D device array ``a`` (any strides: a slice, a transpose)."""
    factory = {1: copy1_kernel, 2: copy2_kernel, 3: copy3_kernel}.get(a.ndim)
    if factory is None:
        raise ValueError(f"copy takes a 1-, 2- or 3-D device array, got {a.ndim}-D")
    out = cuda.device_array(a.shape, dtype=a.dtype, stream=stream)
    _launch(factory, a.dtype, a.size, stream, a, out)
    return out


def contiguous(a, stream=0):
    """``a`` itself when C-contiguous, else a C-contiguous copy (``np.ascontiguousarray``)."""
    return a if a.is_c_contiguous() else copy(a, stream)


def swap01(a, stream=0):
    """(B, A, C): ``a`` (A, B, C) with its first two axes swapped, C-contiguous (``batch_first``
    ↔ time-major; numba's device arrays transpose only 2-D)."""
    out = cuda.device_array((a.shape[1], a.shape[0], a.shape[2]), dtype=a.dtype, stream=stream)
    _launch(swap01_kernel, a.dtype, a.size, stream, a, out)
    return out


def transpose2(a, stream=0):
    """aᵀ of a 2-D device array (G, K) as a new C-contiguous (K, G) array."""
    return copy(a.T, stream)


def add(a, b, stream=0):
    """a + b, a new C-contiguous array of a's shape (a and b C-contiguous, same shape)."""
    out = cuda.device_array(a.shape, dtype=a.dtype, stream=stream)
    _launch(add_kernel, a.dtype, a.size, stream, a.reshape(a.size), b.reshape(b.size), out.reshape(out.size))
    return out


def multiply(a, b, stream=0):
    """a ⊙ b, a new C-contiguous array of a's shape (a and b C-contiguous, same shape)."""
    out = cuda.device_array(a.shape, dtype=a.dtype, stream=stream)
    _launch(multiply_kernel, a.dtype, a.size, stream, a.reshape(a.size), b.reshape(b.size), out.reshape(out.size))
    return out


def gather_steps(src, t_idx, b_idx, stream=0):
    """(M, W): the rows ``src[t_idx[p], b_idx[p]]`` of src (T, N, W): a packed sequence's data from
    its padded time-major layout (``out[t_idx, b_idx]`` in NumPy)."""
    out = cuda.device_array((t_idx.shape[0], src.shape[2]), dtype=src.dtype, stream=stream)
    _launch(gather_kernel, src.dtype, out.size, stream, src, t_idx, b_idx, out)
    return out


def scatter_steps(data, t_idx, b_idx, T: int, N: int, stream=0):
    """(T, N, W) zeros with ``out[t_idx[p], b_idx[p]] = data[p]``: a packed sequence's data (M, W) in
    the padded time-major layout the kernels read."""
    from .jit import device_full

    out = device_full((T, N, data.shape[1]), 0.0, data.dtype, stream)
    _launch(scatter_kernel, data.dtype, data.size, stream, data, t_idx, b_idx, out)
    return out


def take_rows(a, idx, stream=0):
    """(L, n, W): ``a[:, idx]`` of a (L, N, W), idx (n,) int64 device array."""
    out = cuda.device_array((a.shape[0], idx.shape[0], a.shape[2]), dtype=a.dtype, stream=stream)
    _launch(take_rows_kernel, a.dtype, out.size, stream, a, idx, out)
    return out

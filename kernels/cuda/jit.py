"""Launch settings, device helpers and host-side glue shared by every CUDA kernel.

The CUDA twin of ``kernels/cpu/jit.py``. Design, shared by ``rnn.py``, ``lstm.py`` and ``gru.py``:

* The input projection ``W_ih x_t + b_ih`` of all steps is one tiled matrix product
  (``matmul.project``; the CPU keeps ``project``/``matmul``/``matmul_tn`` in its ``jit.py``,
  here they have their own module) before the recurrence, as on the CPU.
* The recurrence of one layer and direction is **one kernel launch**: block ``b`` owns batch row
  ``b`` for the whole sequence and loops over time itself, with ``cuda.syncthreads()`` between
  the phases of a step (no grid-wide synchronisation, no launch per step, no host round trip).
  Thread ``tid`` of a block computes gate rows ``j = tid, tid + blockDim, …``.
* ``W_hh`` sits in shared memory when it fits (``SHARED_BYTES``, together with the block's
  state vectors), otherwise it is read from global memory (L2-resident) each step.
* Shared memory is dynamic (``cuda.shared.array(0, dtype)``, sized at launch), so one compiled
  kernel serves every hidden size; kernels are built once per dtype (float32, float64).

Activations use libdevice: σ(a) = 1 / (1 + e^{-a}), tanh(a) = ``math.tanh(a)``; NaN and inf
propagate as in PyTorch (no fastmath).

Device functions here are ``cuda.jit(device=True)``: NVVM inlines them into each kernel.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from numba import cuda, float32, float64
from numba.cuda import config

#: dynamic shared memory a recurrence kernel may use (the 48 KiB that needs no opt-in)
SHARED_BYTES = 48 * 1024
#: threads per block of a recurrence kernel: each thread loops over several gate rows when wider
MAX_THREADS = 256
#: options of every recurrence kernel: ptxas keeps registers low enough for MAX_THREADS threads
#: (the simulator knows no launch bounds)
RECURRENCE_JIT = {} if config.ENABLE_CUDASIM else {"launch_bounds": MAX_THREADS}
#: the Numba element type of each supported NumPy dtype
NUMBA_TYPES = {np.dtype(np.float32): float32, np.dtype(np.float64): float64}

__all__ = ["SHARED_BYTES", "MAX_THREADS", "ELEMENTWISE_THREADS", "elementwise_grid", "RECURRENCE_JIT",
           "NUMBA_TYPES", "numba_type", "sigmoid", "col_dot",
           "to_shared", "block_threads", "w_fits", "launch", "host_call",
           "for_dtype", "fill_kernel", "device_full"]


def numba_type(dtype):
    """float32 or float64 (the Numba type) for a NumPy dtype; TypeError for anything else."""
    dtype = np.dtype(dtype)
    if dtype not in NUMBA_TYPES:
        raise TypeError(f"CUDA kernels take float32 or float64 arrays, got {dtype}")
    return NUMBA_TYPES[dtype]


@cuda.jit(device=True)
def sigmoid(a, one):
    """σ(a) = 1 / (1 + e^{-a}) in the dtype of ``one``."""
    return one / (one + math.exp(-a))


@cuda.jit(device=True)
def col_dot(w_s, w, in_shared, v, v0, j):
    """Σ_k W[k, j] v[v0 + k] for W (K, G), K >= 1: ``w_s`` (K*G,) row-major in shared memory when
    ``in_shared``, else the global array ``w`` (K, G). Threads of a warp take consecutive ``j``,
    so both reads are coalesced (global) or conflict-free (shared). Two running sums (even and odd
    k) halve the chain of dependent multiply-adds."""
    K, G = w.shape
    if in_shared:
        even = w_s[j] * v[v0]
        if K == 1:
            return even
        odd = w_s[G + j] * v[v0 + 1]
        for k in range(2, K - 1, 2):
            even += w_s[k * G + j] * v[v0 + k]
            odd += w_s[(k + 1) * G + j] * v[v0 + k + 1]
        if K % 2 == 1:
            even += w_s[(K - 1) * G + j] * v[v0 + K - 1]
    else:
        even = w[0, j] * v[v0]
        if K == 1:
            return even
        odd = w[1, j] * v[v0 + 1]
        for k in range(2, K - 1, 2):
            even += w[k, j] * v[v0 + k]
            odd += w[k + 1, j] * v[v0 + k + 1]
        if K % 2 == 1:
            even += w[K - 1, j] * v[v0 + K - 1]
    return even + odd


@cuda.jit(device=True)
def to_shared(w, w_s, tid, nt):
    """Copy w (K, G) into the shared block w_s (K*G,), row-major, with the block's threads."""
    G = w.shape[1]
    for q in range(tid, w.shape[0] * G, nt):
        w_s[q] = w[q // G, q % G]


#: threads per block of the small elementwise kernels (``glue.py``, ``bptt.py``, ``device_full``)
ELEMENTWISE_THREADS = 128


def elementwise_grid(n: int) -> tuple[int, int]:
    """(blocks, threads) for ``n`` one-thread-per-element jobs: ``ELEMENTWISE_THREADS`` per block, fewer
    (a multiple of 32) for a small array, so that a tiny launch starts no idle threads."""
    threads = min(ELEMENTWISE_THREADS, -(-n // 32) * 32)
    return -(-n // threads), threads


def block_threads(width: int) -> int:
    """Threads for a block that works on ``width`` rows per phase: a multiple of 32, at most MAX_THREADS."""
    return max(32, min(MAX_THREADS, -(-width // 32) * 32))


def w_fits(w_elements: int, other_elements: int, itemsize: int) -> bool:
    """Whether a weight matrix of ``w_elements`` fits in shared memory beside ``other_elements``."""
    return (w_elements + other_elements) * itemsize <= SHARED_BYTES


def launch(kernel, blocks: int, threads: int, shared_elements: int, itemsize: int, stream, *args) -> None:
    """kernel[blocks, threads, stream, bytes](*args); nothing to do for an empty grid."""
    if blocks == 0:
        return
    kernel[blocks, threads, stream, max(shared_elements, 1) * itemsize](*args)


@lru_cache(maxsize=None)
def _cached(factory, dtype):
    return factory(numba_type(dtype))


def for_dtype(factory, dtype):
    """The kernel ``factory(numba element type)`` builds for ``dtype``, built once per dtype."""
    return _cached(factory, np.dtype(dtype))


def fill_kernel(dt):
    """The kernel of ``device_full``."""

    @cuda.jit
    def fill(a, value):
        """a[i] = value for every element of the 1-D array a."""
        i = cuda.grid(1)
        if i < a.shape[0]:
            a[i] = value

    return fill


def device_full(shape, value: float, dtype, stream=0):
    """A new C-contiguous device array of ``shape`` filled with ``value`` (zeros for ``hs`` and
    gradient buffers, NaN for records), filled on the device: no host copy."""
    out = cuda.device_array(shape, dtype=dtype, stream=stream)
    if out.size:
        blocks, threads = elementwise_grid(out.size)
        for_dtype(fill_kernel, dtype)[blocks, threads, stream](out.reshape(out.size), float(value))
    return out


def _to_device(a, stream):
    if isinstance(a, tuple):
        return tuple(_to_device(v, stream) for v in a)
    if isinstance(a, np.ndarray):
        return cuda.to_device(np.ascontiguousarray(a), stream=stream)
    return a


def _to_host(dev, a, stream):
    if isinstance(a, tuple):
        for d, v in zip(dev, a):
            _to_host(d, v, stream)
    elif isinstance(a, np.ndarray) and a.flags.writeable and a.size:
        a[...] = dev.copy_to_host(stream=stream).reshape(a.shape)


def host_call(kernel_entry, *args):
    """Run a host entry (``lstm_forward`` …) on NumPy arrays: copy every array (also inside tuples)
    to the device, run, and copy every writeable array back into the caller's array, as the CPU
    kernels write their outputs in place. For tests and for the kernel contract test."""
    stream = cuda.stream()
    dev = tuple(_to_device(a, stream) for a in args)
    out = kernel_entry(*dev, stream=stream)
    stream.synchronize()
    for d, a in zip(dev, args):
        _to_host(d, a, stream)
    stream.synchronize()
    return out

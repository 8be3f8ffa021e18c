"""Large matrix products on NumPy's BLAS, split by rows over a few worker threads that never spin.

The weight gradients of a layer are products over all T*N rows, ``dL/daᵀ x`` and ``dL/daᵀ h``.
NumPy's OpenBLAS does them 2-5x faster than the per-thread products in Numba (measured:
(6400, 128)ᵀ (6400, 32) in 0.64 ms against 3.3 ms on two threads). But its own thread pool
busy-waits after every call, for long enough to take a core from whatever runs next: the Numba
kernels, or PyTorch in the same notebook (measured: an interleaved PyTorch LSTM forward and
backward at B = 64 took 26 ms instead of 12 ms). So each product is split into row chunks that
idle Python threads hand to NumPy, each held to one BLAS thread for its own calls
(``openblas_set_num_threads_local``; measured as fast as NumPy's two threads at these sizes).
Where that function is missing (an older OpenBLAS, or another BLAS), NumPy's ``@`` runs as is.
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

import numpy as np

__all__ = ["matmul", "matmul_tn"]


def _numpy_local_thread_setter() -> Callable[[int], int] | None:
    """OpenBLAS's per-calling-thread thread count, in the library NumPy itself links, if it has one."""
    base = os.path.dirname(os.path.dirname(np.__file__))
    libs = glob.glob(os.path.join(base, "numpy.libs", "*openblas*.so*"))
    libs += glob.glob(os.path.join(os.path.dirname(np.__file__), ".dylibs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        setter = getattr(lib, "openblas_set_num_threads_local", None)
        if setter is not None:
            setter.argtypes, setter.restype = [ctypes.c_int], ctypes.c_int
            return setter
    return None


_SET_LOCAL = _numpy_local_thread_setter()
_POOL: ThreadPoolExecutor | None = None
_POOL_WORKERS = 0
_POOL_LOCK = threading.Lock()


def _one_blas_thread() -> None:
    assert _SET_LOCAL is not None
    _SET_LOCAL(1)


def _pool(workers: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_WORKERS
    with _POOL_LOCK:
        if _POOL is None or _POOL_WORKERS != workers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)
            _POOL = ThreadPoolExecutor(workers, thread_name_prefix="steprnn-blas", initializer=_one_blas_thread)
            _POOL_WORKERS = workers
        return _POOL


def _forget_pool_in_child() -> None:
    global _POOL, _POOL_WORKERS, _POOL_LOCK
    _POOL, _POOL_WORKERS, _POOL_LOCK = None, 0, threading.Lock()  # the parent's workers are gone in a child


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


def _bounds(n: int, parts: int) -> list[tuple[int, int]]:
    k = max(1, min(parts, n))
    return [(i * n // k, (i + 1) * n // k) for i in range(k)]


def matmul(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    """a @ b: (M, K) @ (K, N) → (M, N), row chunks of ``a`` on ``parts`` worker threads."""
    if _SET_LOCAL is None or parts <= 1:
        return np.matmul(a, b)
    out = np.empty((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    jobs: list[Future] = [_pool(parts).submit(np.matmul, a[lo:hi], b, out=out[lo:hi])
                          for lo, hi in _bounds(a.shape[0], parts)]
    for job in jobs:
        job.result()
    return out


def matmul_tn(a: np.ndarray, b: np.ndarray, parts: int) -> np.ndarray:
    """aᵀ @ b: (M, G)ᵀ @ (M, K) → (G, K), the sum of the row chunks' products on ``parts`` threads."""
    if _SET_LOCAL is None or parts <= 1:
        return np.matmul(a.T, b)
    jobs: list[Future] = [_pool(parts).submit(np.matmul, a[lo:hi].T, b[lo:hi])
                          for lo, hi in _bounds(a.shape[0], parts)]
    out = jobs[0].result()
    for job in jobs[1:]:
        out += job.result()
    return out

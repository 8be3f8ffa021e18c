"""The threading layer the kernels run on, and one kernel launch at a time per process.

Numba picks its threading layer at the first parallel launch: TBB when it is installed, else
OpenMP, else its own ``workqueue``. Two of them break ordinary Python programs:

- GNU OpenMP (Linux) cannot run after ``fork()``: a forked child that launches a kernel is
  terminated, and a fork-based ``multiprocessing.Pool`` then waits for it forever;
- ``workqueue`` survives ``fork()`` but aborts the process when two threads launch at once.

So, unless the user chose a layer (``NUMBA_THREADING_LAYER`` or ``numba.config.THREADING_LAYER``)
or Numba has already started one, importing the kernels asks Numba for a fork-safe layer
(``'forksafe'``: TBB, else a fork-safe OpenMP, else ``workqueue``), and ``kernel_launch()`` lets
one kernel run at a time (each uses every Numba thread), which makes ``workqueue`` safe from
threads too. Where the layer in use cannot run here (GNU OpenMP in a forked child), a launch
raises ``RuntimeError`` saying what to do, instead of hanging.
"""
from __future__ import annotations

import contextlib
import os
import threading

import numba
from numba.core import config
from numba.np.ufunc import parallel

from .blas_threads import hold_one_thread, restore_threads

__all__ = ["kernel_launch", "layer_in_use"]

_LOCK = threading.RLock()
_FORK_ERROR: str | None = None


def _prefer_fork_safe_layer() -> None:
    """Ask for a fork-safe layer where neither the user nor an earlier launch has chosen one."""
    if "NUMBA_THREADING_LAYER" in os.environ or str(config.THREADING_LAYER).lower() != "default":
        return
    if parallel._is_initialized:
        return
    config.THREADING_LAYER = "forksafe"


def layer_in_use() -> str | None:
    """The threading layer Numba started in this process ('tbb', 'omp', 'workqueue'), or None."""
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel launch yet
        return None


def _gnu_openmp_started() -> bool:
    if layer_in_use() != "omp":
        return False
    try:
        from numba.np.ufunc import omppool
    except ImportError:  # pragma: no cover - the layer could not be "omp" then
        return False
    return getattr(omppool, "openmp_vendor", "GNU") == "GNU"


def _after_fork_in_child() -> None:
    global _LOCK, _FORK_ERROR
    _LOCK = threading.RLock()  # another thread of the parent may have held it at the fork
    if _gnu_openmp_started():
        _FORK_ERROR = (
            "steprnn's kernels cannot run in this process: it was forked from one that had already "
            "run them on Numba's GNU OpenMP threading layer, which does not survive fork(). "
            "Start workers with multiprocessing.get_context('spawn') (or 'forkserver'), or choose a "
            "fork-safe layer before the first forward: unset NUMBA_THREADING_LAYER (steprnn then "
            "picks one), set it to 'workqueue' or 'forksafe', or `pip install tbb`."
        )


class _KernelLaunch:
    """The context manager ``kernel_launch()`` returns: the launch lock, then one-threaded BLAS
    (one object and no nested context manager: every kernel call makes one)."""

    __slots__ = ("_lock", "_blas_threads")

    def __enter__(self) -> None:
        if _FORK_ERROR is not None:
            raise RuntimeError(_FORK_ERROR)
        self._lock = lock = _LOCK  # the lock taken is the one released, even if a fork rebinds _LOCK meanwhile
        lock.acquire()
        try:
            self._blas_threads = hold_one_thread()
        except BaseException:
            lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            restore_threads(self._blas_threads)
        finally:
            self._lock.release()


def kernel_launch() -> contextlib.AbstractContextManager[None]:
    """Wrap each kernel call: one launch at a time per process, on a single-threaded BLAS.

    Raises RuntimeError where the threading layer cannot run in this process (see the module doc).
    """
    return _KernelLaunch()


_prefer_fork_safe_layer()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

"""Hold the BLAS that Numba's ``np.dot`` calls (SciPy's OpenBLAS) to one thread while a kernel runs.

The kernels split the batch into one chunk per Numba thread; a threaded BLAS underneath would
put two thread pools on the same cores (measured: 10× slower on two cores). The previous thread
count is restored afterwards, so SciPy's own linear algebra is left as the user had it.
"""
from __future__ import annotations

import contextlib
import ctypes
import glob
import os
from typing import Callable


def _openblas_setters() -> tuple[Callable[[int], None], Callable[[], int]] | None:
    try:
        import scipy
    except ImportError:  # pragma: no cover - scipy is a dependency
        return None
    base = os.path.dirname(os.path.dirname(scipy.__file__))
    libs = glob.glob(os.path.join(base, "scipy.libs", "*openblas*.so*"))
    libs += glob.glob(os.path.join(os.path.dirname(scipy.__file__), ".dylibs", "*openblas*"))
    for path in libs:
        try:
            lib = ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            setter = getattr(lib, f"{prefix}_set_num_threads", None)
            getter = getattr(lib, f"{prefix}_get_num_threads", None)
            if setter is not None and getter is not None:
                setter.argtypes, setter.restype = [ctypes.c_int], None
                getter.argtypes, getter.restype = [], ctypes.c_int
                return setter, getter
    return None


_SETTERS = _openblas_setters()


class _SingleThreadedBlas:
    """The context manager ``single_threaded_blas()`` returns (a class: a call costs ~1 µs less than
    a generator-based one, and every kernel call makes one)."""

    __slots__ = ("_previous",)

    def __enter__(self) -> None:
        self._previous = 1
        if _SETTERS is not None:
            setter, getter = _SETTERS
            self._previous = getter()
            if self._previous != 1:
                setter(1)

    def __exit__(self, *exc: object) -> None:
        if self._previous != 1 and _SETTERS is not None:
            _SETTERS[0](self._previous)


def single_threaded_blas() -> contextlib.AbstractContextManager[None]:
    """Within the block, SciPy's OpenBLAS runs on one thread (a no-op where it can't be found)."""
    return _SingleThreadedBlas()

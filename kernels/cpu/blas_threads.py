"""Hold the BLAS that Numba's ``np.dot`` calls (SciPy's OpenBLAS) to one thread while a kernel runs.

The kernels split the batch into one chunk per Numba thread; a threaded BLAS underneath would
put two thread pools on the same cores (measured: 10× slower on two cores). The previous thread
count is restored afterwards, so SciPy's own linear algebra is left as the user had it.
"""
from __future__ import annotations

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


def hold_one_thread() -> int:
    """Put SciPy's OpenBLAS on one thread; returns the count to give back to ``restore_threads``."""
    if _SETTERS is None:
        return 1
    setter, getter = _SETTERS
    previous = getter()
    if previous != 1:
        setter(1)
    return previous


def restore_threads(previous: int) -> None:
    """Undo ``hold_one_thread`` (``previous``: what it returned)."""
    if previous != 1 and _SETTERS is not None:
        _SETTERS[0](previous)

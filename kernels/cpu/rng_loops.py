"""The element-by-element loops of ``steprnn.random`` (PyTorch's CPU generator), as plain Python.

``steprnn.random`` compiles them with Numba on first use (``njit(cache=True, nogil=True)``); they
live here so that their compiled code is cached with the kernels' (``kernels/cache.py``), never
beside steprnn's sources, where ``pip uninstall`` would leave it behind.
"""
import math

import numpy as np


def swap_loop(perm: np.ndarray, z: np.ndarray) -> None:
    for i in range(len(z)):
        j = i + z[i]
        perm[i], perm[j] = perm[j], perm[i]


def box_muller(u1: np.ndarray, u2: np.ndarray, radius: np.ndarray, cos_t: np.ndarray, sin_t: np.ndarray) -> None:
    """radius = sqrt(-2 log u1), theta = 2*pi*u2 (in double, stored in the arrays' dtype), its cos and sin:
    compiled, ``math.log`` & co. call the C library (``logf`` for float32 values), as ATen's scalar code."""
    theta = np.empty_like(u2)
    for i in range(u1.size):
        radius[i] = math.sqrt(-2.0 * math.log(u1[i]))
        theta[i] = 6.283185307179586 * u2[i]
        cos_t[i] = math.cos(theta[i])
        sin_t[i] = math.sin(theta[i])


def fma32_loop(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray) -> None:
    """Element by element ``_fma32_numpy`` on flat float32 arrays (compiled: one pass, no temporaries)."""
    for i in range(out.size):
        p = np.float64(a[i]) * np.float64(b[i])
        c64 = np.float64(c[i])
        s = p + c64
        bb = s - p
        err = (p - (s - bb)) + (c64 - bb)
        r = np.float32(s)
        if err != 0.0:
            r64 = np.float64(r)
            if s != r64:
                other = np.nextafter(r, np.float32(np.inf)) if s > r64 else np.nextafter(r, np.float32(-np.inf))
                if s == (r64 + np.float64(other)) * 0.5 and (err > 0.0) == (np.float64(other) > r64):
                    r = other
        out[i] = r

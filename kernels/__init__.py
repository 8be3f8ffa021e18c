"""Numba kernels for steprnn, installed as ``steprnn.kernels``.

``cpu/`` holds one ``@njit`` module per cell type; ``cuda/`` mirrors it for ``numba.cuda``.
Nothing here imports from ``steprnn``: kernels take arrays and scalars only.

``cache`` is imported first: it points Numba's cache for every kernel at a folder named by a hash
of these sources, before any kernel is compiled or loaded.
"""
from . import cache

__all__ = ["cache"]

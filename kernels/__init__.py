"""Numba kernels for steprnn, installed as ``steprnn.kernels``.

``cpu/`` holds one ``@njit`` module per cell type; ``cuda/`` mirrors it for ``numba.cuda``.
Nothing here imports from ``steprnn``: kernels take arrays and scalars only.
"""

"""Compilation options and activation helpers shared by every CPU kernel.

``error_model='numpy'`` drops Python's division checks so LLVM can vectorise; the fastmath flag
set leaves out ``nnan``/``ninf`` so NaN and inf propagate exactly as in PyTorch.
"""
import numpy as np
from numba import njit

FASTMATH = {"contract", "afn", "reassoc", "nsz", "arcp"}
JIT = dict(cache=True, nogil=True, error_model="numpy", fastmath=FASTMATH)


@njit(inline="always", **JIT)
def sigmoid(x, one):
    """σ(x) = 1 / (1 + e^{-x}), computed in the dtype of ``one``."""
    return one / (one + np.exp(-x))


@njit(inline="always", **JIT)
def relu(x, zero):
    """max(x, 0), NaN-preserving."""
    return zero if x < zero else x


@njit(inline="always", **JIT)
def typed_one(a):
    """The number 1 in the dtype of array ``a`` (keeps float32 kernels in float32)."""
    return np.ones(1, dtype=a.dtype)[0]

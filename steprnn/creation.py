"""Tensor creation functions (placeholder; completed by the Tensor work)."""
import numpy as np

from .tensor import Tensor


def tensor(data, dtype=None, requires_grad=False):
    return Tensor(np.array(data, dtype=dtype), requires_grad=requires_grad)


def from_numpy(a):
    return Tensor(a)

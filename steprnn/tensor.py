"""``Tensor``: a NumPy array with PyTorch's interface (placeholder core; extended by the Tensor work)."""
from __future__ import annotations

from typing import Any

import numpy as np


class Tensor:
    """A NumPy array (``.data``) with PyTorch's tensor interface."""

    __array_priority__ = 1000

    def __init__(self, data: Any, requires_grad: bool = False) -> None:
        self.data = data if isinstance(data, np.ndarray) else np.asarray(data)
        self.requires_grad = requires_grad
        self.grad = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def dim(self) -> int:
        return self.data.ndim

    def size(self, dim: int | None = None):
        return self.data.shape if dim is None else self.data.shape[dim]

    def numpy(self) -> np.ndarray:
        return self.data

    def __array__(self, dtype=None, copy=None):
        return self.data if dtype is None else self.data.astype(dtype)


def to_numpy(x: Any) -> np.ndarray:
    """The NumPy array behind ``x``: a Tensor's data, a torch tensor's values, or ``np.asarray(x)``."""
    if isinstance(x, Tensor):
        return x.data
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)

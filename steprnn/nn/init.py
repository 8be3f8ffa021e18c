"""Parameter initialisation drawn from steprnn's global generator (``sr.manual_seed``)."""
from __future__ import annotations

import numpy as np

from ..random import default_generator
from ..tensor import Tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``tensor`` in place with U(a, b) samples."""
    tensor.data[...] = default_generator().uniform(a, b, size=tensor.data.shape)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 0
    return tensor


def new_parameter_array(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.empty(shape, dtype=dtype)

"""Parameter initialisation drawn from steprnn's global generator (``sr.manual_seed``)."""
from __future__ import annotations

from ..random import default_generator
from ..tensor import Tensor


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``tensor`` in place with U(a, b) samples."""
    tensor._data[...] = default_generator().uniform(a, b, size=tensor._data.shape)
    return tensor


def uniform_all(module, bound: float) -> None:
    """Every parameter of ``module`` from U(-bound, bound), in registration order."""
    for p in module.parameters():
        uniform_(p, -bound, bound)


def zeros_(tensor: Tensor) -> Tensor:
    tensor._data[...] = 0
    return tensor


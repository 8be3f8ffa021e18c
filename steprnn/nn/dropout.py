"""``nn.Dropout``, ``nn.Dropout1d``, ``nn.Dropout2d`` and ``nn.Identity``, as in ``torch.nn``."""
from __future__ import annotations

from typing import Any

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Identity"]


class Dropout(Module):
    """During training, zero each element with probability ``p`` and scale the others by ``1/(1-p)``;
    in eval mode (``model.eval()``) return the input unchanged. Masks come from ``sr.manual_seed``'s generator."""

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout(input, self.p, self.training, self.inplace)


class Identity(Module):
    """Returns its input; accepts (and ignores) any constructor arguments, as ``torch.nn.Identity``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Dropout2d(Dropout):
    """During training, zero whole channels (dim 1 of ``(N, C, ...)``) with probability ``p`` and scale
    the rest by ``1/(1-p)``; the identity in eval mode."""

    def forward(self, input: Tensor) -> Tensor:
        return F.dropout2d(input, self.p, self.training, self.inplace)


class Dropout1d(Dropout2d):
    """Channel dropout for ``(N, C, L)`` inputs (as :class:`Dropout2d`)."""

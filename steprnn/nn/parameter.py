"""``nn.Parameter``: a Tensor that a Module registers as learnable."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A learnable Tensor (``requires_grad=True`` by default), registered when set on a Module."""

    def __init__(self, data: np.ndarray | Tensor, requires_grad: bool = True) -> None:
        array = data._data if isinstance(data, Tensor) else np.asarray(data)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

"""``nn.Parameter``: a Tensor that a Module registers as learnable."""
from __future__ import annotations

import numpy as np

from ..tensor import Tensor


class Parameter(Tensor):
    """A learnable Tensor (``requires_grad=True`` by default), registered when set on a Module."""

    def __new__(cls, data: np.ndarray | Tensor = None, requires_grad: bool = True) -> "Parameter":
        if getattr(data, "is_cuda", False) and cls is Parameter:  # a CUDA tensor: a CUDA Parameter (same memory)
            from ..cuda_tensor import _cuda_parameter_class
            return data._share(_cuda_parameter_class())
        return super().__new__(cls)

    def __init__(self, data: np.ndarray | Tensor, requires_grad: bool = True) -> None:
        if self.__dict__.get("_st") is not None:  # made by __new__ on a CUDA tensor's memory
            self.requires_grad = requires_grad
            return
        array = data._data if isinstance(data, Tensor) else np.asarray(data)
        super().__init__(array, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

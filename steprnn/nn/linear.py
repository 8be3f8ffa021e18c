"""``nn.Linear``: y = x Wᵀ + b."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._checks import check_bool, check_int, resolve_device, resolve_dtype
from ..tensor import Tensor
from . import functional, init
from .module import Module
from .parameter import Parameter


class Linear(Module):
    """``y = x W^T + b`` with ``weight`` (out_features, in_features), ``bias`` (out_features,).

    Initialisation as PyTorch's: U(-1/sqrt(in_features), 1/sqrt(in_features)) for both.
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", 1)
        self.out_features = check_int(out_features, "out_features", 1)
        check_bool(bias, "bias")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=self.dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=self.dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's: ``kaiming_uniform_(weight, a=sqrt(5))`` and U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for the bias."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"

    def forward(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input, dtype=self.dtype))
        if x.shape[-1] != self.in_features:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({int(np.prod(x.shape[:-1]))}x{x.shape[-1]} and "
                f"{self.in_features}x{self.out_features}): Linear expected input (..., {self.in_features}), "
                f"got {tuple(x.shape)}"
            )
        return functional.linear(x, self.weight, self.bias)

"""``nn.BatchNorm1d``: per-feature normalisation with running statistics, as ``torch.nn.BatchNorm1d``."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._checks import check_int, resolve_device, resolve_dtype
from ..tensor import Tensor
from . import functional as F
from .module import Module
from .parameter import Parameter

__all__ = ["BatchNorm1d"]


class BatchNorm1d(Module):
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` per feature (dim 1 of ``(N, C)`` or ``(N, C, L)``).

    Training: batch statistics, and ``running_mean``/``running_var`` move towards them by ``momentum``
    (``None``: a cumulative average); eval (``model.eval()``): the running statistics. Buffers
    ``running_mean``, ``running_var``, ``num_batches_tracked`` are in ``state_dict()``, as in PyTorch.
    ``bias=False`` (keyword) keeps the scale ``weight`` without the shift.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        self.num_features = check_int(num_features, "num_features", 1)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.use_bias = bias
        if affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=self.dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.num_features, dtype=self.dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor._make(np.zeros(self.num_features, dtype=self.dtype)))
            self.register_buffer("running_var", Tensor._make(np.ones(self.num_features, dtype=self.dtype)))
            self.register_buffer("num_batches_tracked", Tensor._make(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches counted."""
        if self.track_running_stats:
            self.running_mean._data[...] = 0
            self.running_var._data[...] = 1
            self.num_batches_tracked._data[...] = 0

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")

    def forward(self, input: Any) -> Tensor:
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input, dtype=self.dtype))
        if x.ndim not in (2, 3):
            raise ValueError(f"expected 2D or 3D input (got {x.ndim}D input)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm1d({self.num_features}) expected input with {self.num_features} features "
                             f"in dim 1, got shape {list(x.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked._data[...] += 1
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked._data)
        use_batch = self.training or not self.track_running_stats
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, use_batch,
                            momentum, self.eps)

"""steprnn: PyTorch's recurrent layers on NumPy, computed by Numba kernels, with every gate recorded.

``import steprnn as sr`` mirrors ``import torch``; ``import steprnn.nn as nn`` mirrors ``torch.nn``.
"""
from .creation import tensor, from_numpy
from .dtypes import float32, float64, int64, int32, double, long
from .grad_mode import no_grad, is_grad_enabled
from .random import manual_seed
from .tensor import Tensor

from . import nn  # noqa: E402  (nn needs the names above)

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "tensor",
    "from_numpy",
    "manual_seed",
    "no_grad",
    "is_grad_enabled",
    "float32",
    "float64",
    "int64",
    "int32",
    "double",
    "long",
    "nn",
]

"""steprnn: PyTorch's recurrent layers on NumPy, computed by Numba kernels, with every gate recorded.

``import steprnn as sr`` mirrors ``import torch``; ``import steprnn.nn as nn`` mirrors ``torch.nn``.
"""
from typing import Any

from . import _allocator  # noqa: F401  (malloc thresholds; see its docstring)
from .creation import tensor, from_numpy
from .dtypes import float32, float64, int64, int32, double, long
from .grad_mode import no_grad, is_grad_enabled
from .random import manual_seed, Generator, seed, initial_seed, get_rng_state, set_rng_state
from .sampling import randperm, multinomial, bernoulli, normal
from .tensor import Tensor
from .creation import (as_tensor, is_tensor, zeros, ones, empty, full, arange, rand, randn, randint,
                       zeros_like, ones_like, full_like, rand_like, randn_like, cat, stack)
from .dtypes import float16, int8, int16, uint8
# torch's names, kept out of __all__ so that star-imports do not shadow the builtins
from .dtypes import bool as bool, float as float, half as half, int as int, short as short
from .grad_mode import enable_grad, set_grad_enabled
from .devices import device
from . import cuda
from .printing import set_printoptions
from . import autograd
from .size import Size
from .dtypes import dtype, complex64, complex128
from .tensor_types import BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor, LongTensor
from .functions import (add, allclose, argmax, argmin, argsort, bmm, clamp, clip, cumsum, div, eq, equal, exp,
                        flatten, gather, ge, get_default_device, gt, index_select, le, log, log_softmax, lt,
                        masked_fill, matmul, maximum, mean, minimum, mm, mul, narrow, ne, neg, norm,
                        numel, permute, relu, reshape, set_default_device, sigmoid, softmax, sort, sqrt, squeeze,
                        std, sub, t, tanh, topk, transpose, unsqueeze, var, where)
# torch's names that shadow builtins, kept out of __all__ as bool/float/int are
from .functions import abs as abs, all as all, any as any, max as max, min as min, pow as pow, sum as sum
from .functions import round as round, ceil, floor, log1p, sign
from . import nn  # noqa: E402  (nn needs the names above)
from .trace import Trace, trace, tracing  # noqa: E402

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
    "optim",
    "Trace",
    "Step",
    "trace",
    "tracing",
    "as_tensor",
    "is_tensor",
    "zeros",
    "ones",
    "empty",
    "full",
    "arange",
    "rand",
    "randn",
    "randint",
    "zeros_like",
    "ones_like",
    "full_like",
    "rand_like",
    "randn_like",
    "cat",
    "stack",
    "float16",
    "int8",
    "int16",
    "uint8",
    "enable_grad",
    "set_grad_enabled",
    "device",
    "cuda",
    "set_printoptions",
    "autograd",
    "Size", "dtype", "complex64", "complex128",
    "BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "IntTensor", "LongTensor",
    "add", "allclose", "argmax", "argmin", "argsort", "bmm", "clamp", "clip", "cumsum", "div", "eq", "equal", "exp",
    "flatten", "gather", "ge", "get_default_device", "gt", "index_select", "le", "log", "log_softmax", "lt",
    "masked_fill", "matmul", "maximum", "mean", "minimum", "mm", "mul", "narrow", "ne", "neg", "norm",
    "numel", "permute", "relu", "reshape", "set_default_device", "sigmoid", "softmax", "sort", "sqrt", "squeeze",
    "std", "sub", "t", "tanh", "topk", "transpose", "unsqueeze", "var", "where",
    "ceil", "floor", "log1p", "sign",
    "onnx",
    "Generator",
    "seed",
    "initial_seed",
    "get_rng_state",
    "set_rng_state",
    "randperm",
    "multinomial",
    "bernoulli",
    "normal",
    "save",
    "load",
    "utils",
]


#: names loaded on first use (``sr.optim``, ``sr.save``...): ``import steprnn`` stays quick, and
#: Numba, SciPy and matplotlib wait for the first kernel or figure that needs them
_LAZY = {
    "optim": (".optim", None),
    "utils": (".utils", None),
    "onnx": (".onnx", None),
    "save": (".serialization", "save"),
    "load": (".serialization", "load"),
    "Step": (".trace.step", "Step"),
}


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def __getattr__(name: str) -> Any:
    lazy = _LAZY.get(name)
    if lazy is not None:
        import importlib

        module = importlib.import_module(lazy[0], __name__)
        value = module if lazy[1] is None else getattr(module, lazy[1])
        globals()[name] = value
        return value
    # a clear word for torch names steprnn leaves out (instead of Python's guess at a similar name)
    if name.startswith("_"):
        raise AttributeError(f"module 'steprnn' has no attribute '{name}'")
    raise AttributeError(
        f"module 'steprnn' has no attribute '{name}': steprnn implements the part of torch that recurrent "
        f"models and their tutorials use, and torch.{name} is not part of it (see dir(steprnn))."
    )

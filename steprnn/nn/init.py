"""``nn.init``: fill parameters in place, drawing PyTorch's very numbers under the same seed.

Every function writes into the tensor it is given (a steprnn Tensor or Parameter, or a NumPy array)
and returns it, as ``torch.nn.init`` does. Random ones draw from ``generator`` (a
:class:`steprnn.Generator`) or from the global generator that ``sr.manual_seed`` seeds; bounds and
standard deviations are computed with PyTorch's formulas in the same floating-point order, so
``sr.manual_seed(s); nn.init.xavier_uniform_(w)`` equals ``torch.manual_seed(s);
torch.nn.init.xavier_uniform_(w)`` bit for bit. ``orthogonal_`` draws the same normal matrix; its QR
factorisation is NumPy's LAPACK call, which can differ from PyTorch's in the last bits.
"""
from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from ..random import Generator, resolve
from ..tensor import Tensor

__all__ = [
    "calculate_gain",
    "uniform_",
    "normal_",
    "trunc_normal_",
    "constant_",
    "ones_",
    "zeros_",
    "eye_",
    "xavier_uniform_",
    "xavier_normal_",
    "kaiming_uniform_",
    "kaiming_normal_",
    "orthogonal_",
    "uniform_all",
]


def _array(tensor: Any, fname: str) -> np.ndarray:
    """The array ``tensor`` holds, to be written in place."""
    if isinstance(tensor, Tensor):
        return tensor._data
    if isinstance(tensor, np.ndarray):
        return tensor
    raise TypeError(f"{fname}(): argument 'tensor' must be a Tensor, not {type(tensor).__name__}")


def _float_array(tensor: Any, fname: str) -> np.ndarray:
    a = _array(tensor, fname)
    if a.dtype.kind != "f":
        raise RuntimeError(f"\"{fname}\" not implemented for '{a.dtype.name}': expected a floating-point tensor")
    return a


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity: linear/conv/sigmoid 1, tanh 5/3, relu √2,
    leaky_relu √(2/(1+slope²)) (slope ``param``, default 0.01), selu 3/4 — as ``torch.nn.init.calculate_gain``."""
    linear_fns = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d"]
    if nonlinearity in linear_fns or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            negative_slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, int) or isinstance(param, float):
            negative_slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + negative_slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def uniform_(tensor: Any, a: float = 0.0, b: float = 1.0, generator: Generator | None = None) -> Any:
    """Fill ``tensor`` (any shape, float) with U(a, b), as ``tensor.uniform_(a, b)`` in PyTorch."""
    arr = _float_array(tensor, "uniform_")
    if a > b:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
    arr[...] = resolve(generator).uniform_array(arr.shape, a, b, arr.dtype)
    return tensor


def normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, generator: Generator | None = None) -> Any:
    """Fill ``tensor`` (any shape, float) with N(mean, std²), as ``tensor.normal_(mean, std)`` in PyTorch.

    This is the function ``nn.Embedding`` (N(0, 1)) and ``Tensor.normal_`` draw through."""
    arr = _float_array(tensor, "normal_")
    arr[...] = resolve(generator).normal_array(arr.shape, mean, std, arr.dtype)
    return tensor


def trunc_normal_(tensor: Any, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0,
                  generator: Generator | None = None) -> Any:
    """N(mean, std²) restricted to [a, b]: redraw the values outside until none is left (PyTorch's
    algorithm when at least 30 % of the mass lies inside; with less, rejection from U(a, b))."""
    arr = _float_array(tensor, "trunc_normal_")
    gen = resolve(generator)

    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    if (mean < a - 2 * std) or (mean > b + 2 * std):
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
                      "The distribution of values may be incorrect.", stacklevel=2)
    p = cdf((b - mean) / std) - cdf((a - mean) / std)
    lo, hi = arr.dtype.type(a), arr.dtype.type(b)
    if p > 0.3:
        result = gen.normal_array(arr.shape, mean, std, arr.dtype)
        while True:
            mask = (result < lo) | (result > hi)
            if not mask.any():
                break
            result = np.where(mask, gen.normal_array(arr.shape, mean, std, arr.dtype), result)
    else:
        mode = max(a, min(mean, b))
        log_peak = -0.5 * ((mode - mean) / std) ** 2
        result = np.zeros(arr.shape, dtype=arr.dtype)
        pending = np.ones(arr.shape, dtype=bool)
        while pending.any():
            cand = gen.uniform_array(arr.shape, a, b, arr.dtype)
            result = np.where(pending, cand, result)
            log_pdf = -0.5 * ((cand - mean) / std) ** 2 - log_peak
            reject = np.log(gen.uniform_array(arr.shape, 0.0, 1.0, arr.dtype)) > log_pdf
            pending = pending & reject
    arr[...] = result
    return tensor


def constant_(tensor: Any, val: float) -> Any:
    """Fill ``tensor`` with ``val``."""
    _array(tensor, "constant_")[...] = val
    return tensor


def ones_(tensor: Any) -> Any:
    """Fill ``tensor`` with 1."""
    return constant_(tensor, 1.0)


def zeros_(tensor: Any) -> Any:
    """Fill ``tensor`` with 0."""
    return constant_(tensor, 0.0)


def eye_(tensor: Any) -> Any:
    """Fill a 2-D ``tensor`` (rows, cols) with the identity matrix."""
    arr = _array(tensor, "eye_")
    if arr.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    arr[...] = np.eye(*arr.shape, dtype=arr.dtype)
    return tensor


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight of shape (out, in, *receptive)."""
    shape = _array(tensor, "init").shape
    if len(shape) < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
    receptive = 1
    for s in shape[2:]:
        receptive *= s
    return shape[1] * receptive, shape[0] * receptive


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    valid_modes = ["fan_in", "fan_out"]
    if mode not in valid_modes:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid_modes}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def xavier_uniform_(tensor: Any, gain: float = 1.0, generator: Generator | None = None) -> Any:
    """U(-a, a) with ``a = gain * sqrt(6 / (fan_in + fan_out))`` (Glorot & Bengio 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    a = math.sqrt(3.0) * std
    return uniform_(tensor, -a, a, generator)


def xavier_normal_(tensor: Any, gain: float = 1.0, generator: Generator | None = None) -> Any:
    """N(0, std²) with ``std = gain * sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    return normal_(tensor, 0.0, std, generator)


def kaiming_uniform_(tensor: Any, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                     generator: Generator | None = None) -> Any:
    """U(-bound, bound) with ``bound = gain * sqrt(3 / fan_mode)`` (He et al. 2015); ``nn.Linear``'s
    weight is ``kaiming_uniform_(w, a=sqrt(5))``, i.e. bound ``1/sqrt(in_features)``."""
    if 0 in _array(tensor, "kaiming_uniform_").shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Any, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    generator: Generator | None = None) -> Any:
    """N(0, std²) with ``std = gain / sqrt(fan_mode)``."""
    if 0 in _array(tensor, "kaiming_normal_").shape:
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=2)
        return tensor
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(fan)
    return normal_(tensor, 0, std, generator)


def orthogonal_(tensor: Any, gain: float = 1, generator: Generator | None = None) -> Any:
    """A (semi-)orthogonal matrix, scaled by ``gain``: QR of an N(0, 1) matrix (rows, numel/rows), signs
    fixed by R's diagonal (Saxe et al. 2013)."""
    arr = _float_array(tensor, "orthogonal_")
    if arr.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    if arr.size == 0:
        return tensor
    rows = arr.shape[0]
    cols = arr.size // rows
    flat = resolve(generator).normal_array((rows, cols), 0.0, 1.0, arr.dtype)
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    arr[...] = (q * arr.dtype.type(gain)).reshape(arr.shape).astype(arr.dtype, copy=False)
    return tensor


def uniform_all(module: Any, bound: float) -> None:
    """Every parameter of ``module`` from U(-bound, bound), in registration order (the recurrent layers'
    and cells' ``reset_parameters``, as PyTorch's)."""
    for p in module.parameters():
        uniform_(p, -bound, bound)

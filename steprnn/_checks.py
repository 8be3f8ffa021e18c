"""Argument checks shared by the layers: dtypes, devices and array inputs, with clear messages."""
from __future__ import annotations

from typing import Any

import numpy as np

from .dtypes import as_dtype, dtype_name
from .tensor import Tensor, to_numpy

_FLOAT_DTYPES = (np.dtype("float32"), np.dtype("float64"))


def resolve_dtype(dtype: Any) -> np.dtype:
    """A layer's dtype: ``None`` → float32; else float32 or float64 named any way ``as_dtype`` reads."""
    if dtype is None:
        return np.dtype("float32")
    try:
        resolved = as_dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}") from None
    if resolved not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {resolved.name}")
    return resolved


def resolve_device(device: Any) -> str:
    """``None``, ``'cpu'``, ``sr.device('cpu')`` or a ``torch.device`` → ``'cpu'``; CUDA is refused
    with a message that says how to check for it (this build has no CUDA kernels)."""
    from .devices import as_device, is_device_like

    if device is not None and not is_device_like(device):
        raise ValueError(f"device must be 'cpu' or 'cuda' (a string or a device), got {device!r}")
    try:
        return as_device(device).type
    except TypeError:
        raise ValueError(f"device must be 'cpu' or 'cuda' (a string or a device), got {device!r}") from None


def as_float_array(value: Any, dtype: np.dtype, what: str) -> np.ndarray:
    """The NumPy array behind ``value`` (never a copy of an ndarray/Tensor that already fits).

    Python lists and scalars take ``dtype``, as ``torch.tensor`` gives float32 by default.
    An array or tensor of another dtype is refused, as PyTorch refuses it.
    """
    # the common case first: a plain CPU Tensor or ndarray of the layer's dtype (no checks to run)
    kind = type(value)
    if kind is Tensor:
        array = value._data
        if type(array) is np.ndarray and array.dtype == dtype:
            return array
    elif kind is np.ndarray and value.dtype == dtype:
        return value
    if hasattr(value, "batch_sizes") and hasattr(value, "unsorted_indices"):
        raise TypeError(f"{what} is a PackedSequence: only nn.RNN, nn.LSTM and nn.GRU take one (cells take a "
                        "tensor of one step); unpack it with pad_packed_sequence")
    if isinstance(value, (list, tuple, int, float)) and not isinstance(value, bool):
        try:
            return np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{what} must be an array of numbers, got {type(value).__name__}: {err}") from None
    if value is None:
        raise TypeError(f"{what} must be an array or Tensor, got None")
    array = to_numpy(value)
    if array.dtype == object or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{what} must be a float32 or float64 array, got dtype {array.dtype}")
    if array.dtype not in _FLOAT_DTYPES:
        raise ValueError(
            f"{what} must be a floating-point array (float32 or float64, as the model's weights are "
            f"{dtype_name(dtype)}), got {dtype_name(array.dtype)}. Convert {what}: {what}.to({dtype_name(dtype)})"
        )
    if array.dtype != dtype:
        raise ValueError(
            f"{what} dtype ({dtype_name(array.dtype)}) does not match weight dtype ({dtype_name(dtype)}). "
            f"Convert {what}: {what}.to({dtype_name(dtype)}), or convert model: model.to({dtype_name(array.dtype)})"
        )
    return array


def check_int(value: Any, name: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} should be of type int, got: {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be greater than zero" if minimum == 1 else f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} should be of type bool, got: {type(value).__name__}")
    return bool(value)


def check_pair(hx: Any, expectation: str) -> tuple[Any, Any]:
    """``hx`` as a pair (h, c), or a TypeError that says ``expectation`` and what was given."""
    if isinstance(hx, (tuple, list)) and len(hx) == 2:
        return hx[0], hx[1]
    got = f"a {type(hx).__name__} of length {len(hx)}" if isinstance(hx, (tuple, list)) else type(hx).__name__
    raise TypeError(f"{expectation} of two tensors, got {got}")

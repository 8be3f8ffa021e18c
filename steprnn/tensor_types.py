"""The legacy tensor types: ``sr.FloatTensor``, ``sr.DoubleTensor``, ``sr.LongTensor``, ``sr.IntTensor``,
``sr.BoolTensor``, ``sr.ByteTensor``, as ``torch.FloatTensor`` and friends.

``sr.LongTensor([1, 2])`` copies data into an int64 tensor; ``sr.FloatTensor(2, 3)`` makes a
(zero-filled) tensor of that size; ``isinstance(t, sr.LongTensor)`` checks the dtype;
``t.type(sr.LongTensor)`` converts.
"""
from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .dtypes import public_dtype
from .tensor import Tensor

__all__ = ["BoolTensor", "ByteTensor", "DoubleTensor", "FloatTensor", "IntTensor", "LongTensor", "type_name"]

_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor", "int32": "IntTensor",
          "bool": "BoolTensor", "uint8": "ByteTensor", "float16": "HalfTensor", "int16": "ShortTensor",
          "int8": "CharTensor"}


def type_name(dtype: Any) -> str:
    """``'steprnn.FloatTensor'`` for float32, as ``torch.Tensor.type()`` names it."""
    name = np.dtype(dtype).name
    return f"steprnn.{_NAMES.get(name, name)}"


class _TensorType(type):
    """Metaclass: ``isinstance(t, sr.LongTensor)`` is ``isinstance(t, sr.Tensor) and t.dtype == sr.int64``."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, Tensor) and obj._data.dtype == cls.dtype

    def __repr__(cls) -> str:
        return f"<class '{type_name(cls.dtype)}'>"


class _LegacyTensor(metaclass=_TensorType):
    dtype = np.dtype("float32")

    def __new__(cls, *args: Any) -> Tensor:  # type: ignore[misc]
        from .creation import tensor, zeros
        if len(args) == 1 and not isinstance(args[0], numbers.Integral):
            data = args[0]
            if isinstance(data, (tuple, list)) and data and all(isinstance(s, numbers.Integral) for s in data) \
                    and type(data).__name__ == "Size":
                return zeros(tuple(data), dtype=cls.dtype)
            return tensor(data, dtype=cls.dtype)
        if all(isinstance(a, numbers.Integral) and not isinstance(a, bool) for a in args):
            return zeros(args, dtype=cls.dtype)
        raise TypeError(f"{type_name(cls.dtype)}() takes data (a list, an array, a Tensor) or sizes (ints), "
                        f"got {', '.join(type(a).__name__ for a in args)}")


class FloatTensor(_LegacyTensor):
    """``FloatTensor(data)`` / ``FloatTensor(*sizes)``: float32."""
    dtype = public_dtype("float32")


class DoubleTensor(_LegacyTensor):
    """``DoubleTensor(data)`` / ``DoubleTensor(*sizes)``: float64."""
    dtype = public_dtype("float64")


class LongTensor(_LegacyTensor):
    """``LongTensor(data)`` / ``LongTensor(*sizes)``: int64 (indices into an embedding)."""
    dtype = public_dtype("int64")


class IntTensor(_LegacyTensor):
    """``IntTensor(data)`` / ``IntTensor(*sizes)``: int32."""
    dtype = public_dtype("int32")


class BoolTensor(_LegacyTensor):
    """``BoolTensor(data)`` / ``BoolTensor(*sizes)``: bool."""
    dtype = public_dtype("bool")


class ByteTensor(_LegacyTensor):
    """``ByteTensor(data)`` / ``ByteTensor(*sizes)``: uint8."""
    dtype = public_dtype("uint8")

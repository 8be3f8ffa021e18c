"""dtype names as in ``torch`` (``sr.float32``, ``sr.float64``, ...): plain NumPy dtypes.

Also the two rules every operation needs: turning whatever names a dtype into a ``np.dtype``
(:func:`as_dtype`) and PyTorch's type promotion (:func:`result_type`), which differs from
NumPy's (``int64 + float32`` is ``float32``, a Python float never widens a float32 tensor).
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np

float16 = half = np.dtype("float16")
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
uint8 = np.dtype("uint8")
int8 = np.dtype("int8")
int16 = short = np.dtype("int16")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool = np.dtype("bool")

FLOAT_DTYPES = (float32, float64)
#: the dtype a Python float (and ``sr.tensor([1.5])``) becomes, as ``torch.get_default_dtype()``
DEFAULT_FLOAT = float32

_SUPPORTED = (float16, float32, float64, uint8, int8, int16, int32, int64, bool,
              np.dtype("complex64"), np.dtype("complex128"))
_PYTHON_TYPES = {builtins.float: float64, builtins.int: int64, builtins.bool: bool, builtins.complex: np.dtype("complex128")}


def as_dtype(dtype: Any) -> np.dtype:
    """The ``np.dtype`` named by ``dtype``: ``sr.float64``, ``np.float64``, ``'float64'``,
    ``torch.float64``, or a Python type (``float`` → float64, ``int`` → int64, ``bool``), as PyTorch reads them.

    Raises ``TypeError`` for anything that names no dtype steprnn supports.
    """
    if isinstance(dtype, np.dtype):
        resolved = dtype
    elif isinstance(dtype, type) and dtype in _PYTHON_TYPES:
        resolved = _PYTHON_TYPES[dtype]
    elif type(dtype).__module__.startswith("torch"):
        name = str(dtype).replace("torch.", "")
        try:
            resolved = np.dtype(name)
        except TypeError:
            raise TypeError(f"dtype {dtype} has no steprnn equivalent") from None
    else:
        try:
            resolved = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"expected a dtype (e.g. steprnn.float32), got {dtype!r}") from None
    if resolved not in _SUPPORTED:
        raise TypeError(f"dtype {resolved} is not supported by steprnn")
    return resolved


def dtype_name(dtype: np.dtype) -> str:
    """``'steprnn.float64'``: how reprs and messages name a dtype (as ``str(torch.float64)``)."""
    return f"steprnn.{np.dtype(dtype).name}"


def is_floating(dtype: np.dtype) -> builtins.bool:
    """True for float16/32/64 (and complex): the dtypes that can require gradients."""
    return np.dtype(dtype).kind in "fc"


def _category(dtype: np.dtype) -> builtins.int:
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[np.dtype(dtype).kind]


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """``torch.promote_types``: within a category NumPy's rule; across categories the higher one wins
    (``int64, float32`` → ``float32``, where NumPy would say float64)."""
    ca, cb = _category(a), _category(b)
    if ca == cb:
        return np.promote_types(a, b)
    return np.dtype(a) if ca > cb else np.dtype(b)


def _combine(higher: np.dtype | None, lower: np.dtype | None) -> np.dtype | None:
    # torch's combine_categories: a lower-priority operand only matters when its category is higher
    if higher is None:
        return lower
    if lower is None:
        return higher
    if _category(higher) >= 2 and _category(higher) >= _category(lower):
        return higher
    if _category(higher) < _category(lower) or higher == bool:
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python (or NumPy) scalar takes part in promotion with: floats → the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return bool
    if isinstance(value, (builtins.int, np.integer)):
        return int64
    if isinstance(value, (builtins.complex, np.complexfloating)):
        return np.dtype("complex64")
    return DEFAULT_FLOAT


def result_type(*operands: Any) -> np.dtype:
    """``torch.result_type`` over arrays/Tensors (anything with ``.dtype`` and ``.ndim``) and scalars.

    Three priorities, as PyTorch: dimensioned operands, then zero-dimensional ones, then Python
    scalars; a lower-priority operand changes the result only when its category
    (bool < int < float < complex) is higher.
    """
    if len(operands) == 2:  # fast paths for the common cases
        a, b = operands
        da, db = getattr(a, "dtype", None), getattr(b, "dtype", None)
        if da is not None and not isinstance(a, np.generic):
            if db is not None and not isinstance(b, np.generic) and da == db:
                return np.dtype(da)
            if type(b) in (builtins.int, builtins.float) and (da.kind in "fc" or (da.kind in "iu" and type(b) is builtins.int)):
                return np.dtype(da)
    dim = zero = scalar = None
    for op in operands:
        if hasattr(op, "dtype") and hasattr(op, "ndim") and not isinstance(op, np.generic):
            level = "dim" if op.ndim > 0 else "zero"
            dt = np.dtype(op.dtype)
        else:
            level, dt = "scalar", scalar_dtype(op)
        if level == "dim":
            dim = dt if dim is None else promote_types(dim, dt)
        elif level == "zero":
            zero = dt if zero is None else promote_types(zero, dt)
        else:
            scalar = dt if scalar is None else promote_types(scalar, dt)
    result = _combine(dim, _combine(zero, scalar))
    return float32 if result is None else result

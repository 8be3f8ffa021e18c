"""dtype names as in ``torch`` (``sr.float32``, ``sr.float64``, ...): :class:`dtype` objects that stand for NumPy dtypes.

Also the two rules every operation needs: turning whatever names a dtype into a ``np.dtype``
(:func:`as_dtype`) and PyTorch's type promotion (:func:`result_type`), which differs from
NumPy's (``int64 + float32`` is ``float32``, a Python float never widens a float32 tensor).
"""
from __future__ import annotations

import builtins
from typing import Any

import numpy as np


class dtype:
    """A steprnn dtype (``sr.float32``, ``t.dtype``): prints as ``steprnn.float32``, as ``torch.float32`` does.

    It stands for a NumPy dtype: NumPy reads it wherever a dtype is expected (``np.zeros(3, dtype=sr.int64)``,
    through its ``.dtype`` attribute), it compares and hashes equal to that dtype
    (``sr.float32 == np.float32 == 'float32'``), and it answers NumPy's dtype attributes
    (``.kind``, ``.name``, ``.itemsize``, ``.type``).
    """

    __slots__ = ("_np",)

    def __init__(self, np_dtype: Any) -> None:
        object.__setattr__(self, "_np", np.dtype(np_dtype))

    @property
    def dtype(self) -> np.dtype:
        """The NumPy dtype (the attribute NumPy reads to accept this object as a dtype)."""
        return self._np

    @property
    def is_floating_point(self) -> builtins.bool:
        """True for the float dtypes, as ``torch.dtype.is_floating_point``."""
        return self._np.kind == "f"

    @property
    def is_complex(self) -> builtins.bool:
        """True for the complex dtypes."""
        return self._np.kind == "c"

    @property
    def is_signed(self) -> builtins.bool:
        """True unless unsigned or bool."""
        return self._np.kind not in "bu"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._np, name)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("steprnn dtypes are immutable")

    def __repr__(self) -> str:
        return f"steprnn.{self._np.name}"

    __str__ = __repr__

    def __eq__(self, other: object) -> builtins.bool:
        if isinstance(other, dtype):
            return self._np == other._np
        if other is None:
            return False
        try:
            return self._np == as_dtype(other)
        except TypeError:
            return False

    def __ne__(self, other: object) -> builtins.bool:
        return not self == other

    def __hash__(self) -> builtins.int:
        return hash(self._np)

    def __reduce__(self) -> tuple:
        return (public_dtype, (self._np.name,))


_NP = {name: np.dtype(name) for name in ("float16", "float32", "float64", "uint8", "int8", "int16", "int32",
                                         "int64", "bool", "complex64", "complex128")}
_PUBLIC: dict[np.dtype, dtype] = {d: dtype(d) for d in _NP.values()}


def public_dtype(value: Any) -> dtype:
    """The steprnn dtype object for a NumPy dtype (or anything :func:`as_dtype` reads): ``t.dtype``."""
    found = _PUBLIC.get(value) if isinstance(value, np.dtype) else None
    if found is None:
        d = as_dtype(value)
        found = _PUBLIC.get(d)
        if found is None:
            found = _PUBLIC[d] = dtype(d)
    return found


# the public names: steprnn dtype objects
float16 = half = _PUBLIC[_NP["float16"]]
float32 = float = _PUBLIC[_NP["float32"]]
float64 = double = _PUBLIC[_NP["float64"]]
uint8 = _PUBLIC[_NP["uint8"]]
int8 = _PUBLIC[_NP["int8"]]
int16 = short = _PUBLIC[_NP["int16"]]
int32 = int = _PUBLIC[_NP["int32"]]
int64 = long = _PUBLIC[_NP["int64"]]
bool = _PUBLIC[_NP["bool"]]
complex64 = cfloat = _PUBLIC[_NP["complex64"]]
complex128 = cdouble = _PUBLIC[_NP["complex128"]]

FLOAT_DTYPES = (_NP["float32"], _NP["float64"])
#: the dtype a Python float (and ``sr.tensor([1.5])``) becomes, as ``torch.get_default_dtype()``
DEFAULT_FLOAT = _NP["float32"]

_SUPPORTED = tuple(_NP.values())
_PYTHON_TYPES = {builtins.float: _NP["float64"], builtins.int: _NP["int64"], builtins.bool: _NP["bool"],
                 builtins.complex: _NP["complex128"]}


def as_dtype(dtype: Any) -> np.dtype:
    """The ``np.dtype`` named by ``dtype``: ``sr.float64``, ``np.float64``, ``'float64'``,
    ``torch.float64``, or a Python type (``float`` → float64, ``int`` → int64, ``bool``), as PyTorch reads them.

    Raises ``TypeError`` for anything that names no dtype steprnn supports.
    """
    if isinstance(dtype, np.dtype):
        resolved = dtype
    elif isinstance(dtype, _PUBLIC_TYPE):
        resolved = dtype._np
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


_PUBLIC_TYPE = dtype


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
    if _category(higher) < _category(lower) or higher == _NP["bool"]:
        return promote_types(higher, lower)
    return higher


def scalar_dtype(value: Any) -> np.dtype:
    """The dtype a Python (or NumPy) scalar takes part in promotion with: floats → the default float."""
    if isinstance(value, (builtins.bool, np.bool_)):
        return _NP["bool"]
    if isinstance(value, (builtins.int, np.integer)):
        return _NP["int64"]
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
    return _NP["float32"] if result is None else result

"""Differentiable operations on Tensors: each computes with NumPy and records its backward.

The Tensor methods and operators (``tensor.py``) and ``sr.cat``/``sr.stack`` call these. Dtypes
follow PyTorch's promotion (``dtypes.result_type``); broadcast gradients are summed back to each
operand's shape (:func:`unbroadcast`).
"""
from __future__ import annotations

import builtins
import collections
import numbers
from collections.abc import Callable, Sequence
from math import prod as _prod
from typing import Any

import numpy as np

from . import autograd
from . import tensor as _tensor_mod
from .dtypes import DEFAULT_FLOAT, is_floating, result_type

Tensor = _tensor_mod.Tensor  # tensor.py imports this module after defining Tensor

# NB: this module defines sum/max/min/abs/pow (torch's names): use builtins.max etc. for Python's.
_QUIET = {"divide": "ignore", "invalid": "ignore", "over": "ignore", "under": "ignore"}

#: what ``t.max(dim)`` / ``t.min(dim)`` return, as ``torch.return_types.max``
MaxMin = collections.namedtuple("MaxMin", ["values", "indices"])


# --- helpers ----------------------------------------------------------------------------------

def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes along which an operand of ``shape`` was broadcast."""
    if grad.shape == tuple(shape):
        return grad
    if grad.ndim < len(shape):
        grad = grad.reshape((1,) * (len(shape) - grad.ndim) + grad.shape)
    lead = grad.ndim - len(shape)
    if lead:
        grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def normalize_dim(dim: Any, ndim: int) -> int:
    """A dim in ``[-ndim, ndim)`` as a non-negative int, with PyTorch's IndexError otherwise
    (a 0-d tensor accepts -1 and 0)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    return int(dim) % n


#: rows at most this long are reduced column by column (``reduce_last``) where there are at least
#: ``_ROWS_PER_COLUMN`` rows per column after the first: NumPy reduces a short last axis row by row,
#: 30-50 ns a row, a column costs one ufunc call, ~0.6 µs (measured, float32 maximum: (6400, 10)
#: 330 → 24 µs, (2000, 4) 71 → 4 µs, (3200, 32) 266 → 79 µs, (700, 50) 28 against 35 µs; sums gain
#: up to 16 columns: (6400, 10) 105 → 32 µs, (700, 50) 16 against 36 µs; with few rows the calls
#: cost more than they save: (64, 10) sums 11 µs by columns against 7 by rows)
_MAX_BY_COLUMNS = 32
_SUM_BY_COLUMNS = 16
_ROWS_PER_COLUMN = 16


def reduce_last(ufunc: np.ufunc, a: np.ndarray, d: int | None) -> np.ndarray:
    """``ufunc.reduce(a, axis=d, keepdims=True)`` (``np.maximum`` or ``np.add``); over a short last
    axis of many rows, one column at a time (the same maxima; sums in column order). The softmax
    family and ``sum`` over the last dimension use it."""
    if d is None or d != a.ndim - 1 or a.ndim < 2:
        return ufunc.reduce(a, axis=d, keepdims=True)
    c = a.shape[-1]
    rows = a.size // c if c else 0
    if c < 2 or rows < _ROWS_PER_COLUMN * (c - 1) or c > (_MAX_BY_COLUMNS if ufunc is np.maximum else _SUM_BY_COLUMNS):
        return ufunc.reduce(a, axis=d, keepdims=True)
    a2 = a.reshape(rows, c)
    out = a2[:, 0].copy()
    for j in range(1, c):
        ufunc(out, a2[:, j], out=out)
    return out.reshape(a.shape[:-1] + (1,))


def _dims(dim: Any, ndim: int) -> tuple[int, ...] | None:
    if dim is None:
        return None
    if isinstance(dim, (tuple, list)):
        dims = tuple(normalize_dim(d, ndim) for d in dim)
        if len(set(dims)) != len(dims):
            raise RuntimeError(f"dim {dims} appears multiple times in the list of dims")
        return dims
    return (normalize_dim(dim, ndim),)


def _is_scalar(x: Any) -> bool:
    return isinstance(x, (numbers.Number, np.generic)) and not isinstance(x, np.ndarray)


def result(data: np.ndarray, *inputs: Any) -> Tensor:
    """``data``, an operation's result without history, as a Tensor on its inputs' device (CUDA
    when an input is a CUDA tensor; mixing devices raises PyTorch's error)."""
    return autograd.wrap_output(data, inputs)


def as_operand(x: Any) -> Any:
    """A Tensor or a Python scalar, or ``NotImplemented`` for what arithmetic does not accept."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, numbers.Number):
        return x
    if type(x).__module__.startswith("torch"):
        return Tensor._make(_tensor_mod.to_numpy(x))
    return NotImplemented


def _value(x: Any, dtype: np.dtype) -> Any:
    if isinstance(x, Tensor):
        data = x._data
        return data if data.dtype == dtype else data.astype(dtype)
    return x


def _torch_broadcast_error(a: tuple, b: tuple) -> RuntimeError:
    n = builtins.max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    for i in range(n - 1, -1, -1):
        if pa[i] != pb[i] and pa[i] != 1 and pb[i] != 1:
            return RuntimeError(
                f"The size of tensor a ({pa[i]}) must match the size of tensor b ({pb[i]}) "
                f"at non-singleton dimension {i}"
            )
    return RuntimeError(f"shapes {tuple(a)} and {tuple(b)} cannot be broadcast together")


def _shape(x: Any) -> tuple:
    return x.shape if isinstance(x, Tensor) else ()


def _binary(a: Any, b: Any, forward: Callable, name: str,
            grad_a: Callable | None, grad_b: Callable | None,
            dtype: np.dtype | None = None, saved: str = "", save_output: bool = False) -> Tensor:
    """An elementwise op: ``forward(av, bv)`` on promoted values; ``grad_a(g, av, bv, out)`` →
    gradient w.r.t. a before un-broadcasting (likewise ``grad_b``); ``saved``: which of "ab" the
    gradients read."""
    if dtype is None:
        if type(a) is Tensor and type(b) is Tensor and a._data.dtype == b._data.dtype:
            dtype = a._data.dtype  # the common case, without result_type's general rules
        else:
            dtype = result_type(a, b)
    av, bv = _value(a, dtype), _value(b, dtype)
    try:
        with np.errstate(**_QUIET):
            out = forward(av, bv)
    except ValueError:
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            raise _torch_broadcast_error(a.shape, b.shape) from None
        raise
    out = np.asarray(out)
    if out.dtype != dtype:
        out = out.astype(dtype)
    parents, fns, shapes = [], [], []
    for x, fn in ((a, grad_a), (b, grad_b)):
        if isinstance(x, Tensor):
            parents.append(x)
            fns.append(fn)
            shapes.append(x._data.shape)
    keep = {"a": a, "b": b}
    saved_tensors = [keep[c] for c in saved if isinstance(keep[c], Tensor)]

    def backward(g: np.ndarray) -> tuple:
        grads = []
        with np.errstate(**_QUIET):
            for x, fn, shape in zip(parents, fns, shapes):
                if fn is None or not x.requires_grad:
                    grads.append(None)
                else:
                    grads.append(unbroadcast(fn(g, av, bv, out), shape))
        return tuple(grads)

    return autograd.record(out, parents, backward, name, saved=saved_tensors, save_output=save_output)


def _refuse_bool(a: Any, b: Any, kernel: str) -> None:
    if result_type(a, b) == np.dtype(bool):
        raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")


def _refuse_int_zero_division(a: Any, b: Any) -> None:
    if result_type(a, b).kind in "iu" and np.any(np.asarray(b._data if isinstance(b, Tensor) else b) == 0):
        raise RuntimeError("ZeroDivisionError")


def _float_dtype(*xs: Any) -> np.dtype:
    dt = result_type(*xs)
    return dt if is_floating(dt) else DEFAULT_FLOAT


# --- arithmetic -------------------------------------------------------------------------------

def add(a: Any, b: Any, alpha: Any = 1) -> Tensor:
    """``a + alpha * b``."""
    if alpha != 1:
        b = mul(b, alpha) if isinstance(b, Tensor) else b * alpha
    return _binary(a, b, np.add, "AddBackward0", lambda g, *_: g, lambda g, *_: g)


def sub(a: Any, b: Any, alpha: Any = 1) -> Tensor:
    """``a - alpha * b``."""
    if alpha != 1:
        b = mul(b, alpha) if isinstance(b, Tensor) else b * alpha
    bools = [isinstance(x, (bool, np.bool_)) or (isinstance(x, Tensor) and x.dtype == np.dtype(bool))
             for x in (a, b)]
    if all(bools):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not supported. "
                           "Use the `^` or `logical_xor()` operator instead.")
    if any(bools):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return _binary(a, b, np.subtract, "SubBackward0", lambda g, *_: g, lambda g, *_: -g)


def mul(a: Any, b: Any) -> Tensor:
    """``a * b``."""
    return _binary(a, b, np.multiply, "MulBackward0",
                   lambda g, av, bv, out: g * bv, lambda g, av, bv, out: g * av, saved="ab")


def div(a: Any, b: Any, rounding_mode: str | None = None) -> Tensor:
    """True division (``a / b``); ``rounding_mode='floor'``/``'trunc'`` as ``torch.div``."""
    if rounding_mode is not None:
        if rounding_mode not in ("floor", "trunc"):
            raise ValueError(f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found "
                             f"'{rounding_mode}'")
        if rounding_mode == "floor":
            return floor_divide(a, b, grad_zero=True)
        _refuse_int_zero_division(a, b)
        return _binary(a, b, lambda x, y: np.trunc(np.true_divide(x, y)), "DivBackward0",
                       _zero_grad, _zero_grad)
    dtype = _float_dtype(a, b)
    return _binary(a, b, np.true_divide, "DivBackward0",
                   lambda g, av, bv, out: g / bv,
                   lambda g, av, bv, out: -g * av / (bv * bv), dtype=dtype, saved="ab")


def pow(a: Any, b: Any) -> Tensor:
    """``a ** b`` (a Tensor base or exponent); at ``a == 0`` the gradients follow PyTorch's conventions."""
    def grad_base(g: np.ndarray, av: Any, bv: Any, out: np.ndarray) -> np.ndarray:
        res = g * (bv * np.power(av, bv - 1))
        return np.where(np.asarray(bv) == 0, 0, res).astype(res.dtype, copy=False)

    def grad_exp(g: np.ndarray, av: Any, bv: Any, out: np.ndarray) -> np.ndarray:
        res = g * (out * np.log(av))
        mask = (np.asarray(av) == 0) & (np.asarray(bv) >= 0)
        return np.where(mask, 0, res).astype(res.dtype, copy=False)

    forward = np.power
    if isinstance(b, Tensor):
        _refuse_bool(a, b, "pow")
    elif result_type(a, b) == np.dtype(bool):  # bool ** True / False, as torch
        def forward(x: Any, y: Any) -> np.ndarray:
            return np.power(np.asarray(x, np.int8), np.int8(y)).astype(bool)
    dtype = result_type(a, b)
    if dtype.kind in "iu" and not isinstance(b, Tensor) and b < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return _binary(a, b, forward, "PowBackward0" if not isinstance(b, Tensor) else "PowBackward1",
                   grad_base, grad_exp, saved="ab", save_output=isinstance(b, Tensor))


def remainder(a: Any, b: Any) -> Tensor:
    """``a % b`` with the sign of ``b`` (Python's and PyTorch's rule)."""
    _refuse_bool(a, b, "remainder_cpu")
    _refuse_int_zero_division(a, b)
    return _binary(a, b, np.remainder, "RemainderBackward0", lambda g, *_: g,
                   lambda g, av, bv, out: -g * np.floor_divide(av, bv), saved="ab")


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; ties split the gradient evenly, as PyTorch."""
    return _binary(a, b, np.maximum, "MaximumBackward0",
                   lambda g, av, bv, out: g * ((av > bv) + 0.5 * (av == bv)),
                   lambda g, av, bv, out: g * ((bv > av) + 0.5 * (av == bv)), saved="ab")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; ties split the gradient evenly, as PyTorch."""
    return _binary(a, b, np.minimum, "MinimumBackward0",
                   lambda g, av, bv, out: g * ((av < bv) + 0.5 * (av == bv)),
                   lambda g, av, bv, out: g * ((bv < av) + 0.5 * (av == bv)), saved="ab")


def _zero_grad(g: np.ndarray, *_: Any) -> np.ndarray:
    return np.zeros_like(g)


def _floor_divide_grad(*_: Any) -> np.ndarray:
    raise RuntimeError("derivative for aten::floor_divide is not implemented")


def floor_divide(a: Any, b: Any, grad_zero: bool = False) -> Tensor:
    """``a // b`` (rounds toward negative infinity). As in PyTorch its backward raises
    (``div(..., rounding_mode='floor')`` gives zero gradients instead)."""
    _refuse_bool(a, b, "div_floor_cpu")
    _refuse_int_zero_division(a, b)
    grad = _zero_grad if grad_zero else _floor_divide_grad
    return _binary(a, b, np.floor_divide, "DivBackward0" if grad_zero else "FloorDivideBackward0", grad, grad)


def compare(a: Any, b: Any, op: Callable) -> Tensor:
    """An elementwise comparison in the promoted dtype; a bool Tensor without history."""
    dtype = result_type(a, b)
    av, bv = _value(a, dtype), _value(b, dtype)
    try:
        out = op(av, bv)
    except ValueError:
        if isinstance(a, Tensor) and isinstance(b, Tensor):
            raise _torch_broadcast_error(a.shape, b.shape) from None
        raise
    return result(np.asarray(out, dtype=bool), a, b)


def logical(a: Any, b: Any, op: Callable, name: str) -> Tensor:
    """``&``, ``|``, ``^`` on bool or integer Tensors (bitwise, as PyTorch)."""
    dtype = result_type(a, b)
    if dtype.kind not in "biu":
        raise TypeError(f"\"{name}_cpu\" not implemented for '{dtype.name}': {name} needs bool or integer tensors")
    return result(np.asarray(op(_value(a, dtype), _value(b, dtype)), dtype=dtype), a, b)


def matmul(a: Any, b: Any) -> Tensor:
    """``a @ b`` with NumPy's (= PyTorch's) rules for 1-D operands and batch broadcasting."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul expects Tensors (or arrays) on both sides, got a scalar")
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        names = {"float32": "float", "float64": "double", "int64": "long", "int32": "int"}
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {names.get(a.dtype.name, a.dtype.name)} != "
            f"{names.get(b.dtype.name, b.dtype.name)}"
        )
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        if a.ndim <= 2 and b.ndim <= 2:
            ra = f"{a.shape[0]}x{a.shape[1]}" if a.ndim == 2 else f"1x{a.shape[0]}"
            rb = f"{b.shape[0]}x{b.shape[1]}" if b.ndim == 2 else f"{b.shape[0]}x1"
            if a.ndim == 1 and b.ndim == 1:
                raise RuntimeError(
                    f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] to have "
                    "the same number of elements, but got "
                    f"{a.shape[0]} and {b.shape[0]} elements respectively")
            raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({ra} and {rb})")
        raise RuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be compatible: "
            f"cannot multiply {tuple(a.shape)} by {tuple(b.shape)} (inner sizes {a.shape[-1]} and "
            f"{b.shape[-2 if b.ndim > 1 else 0]} differ)"
        )
    av, bv = a._data, b._data
    try:
        out = np.matmul(av, bv)
    except ValueError:
        raise RuntimeError(f"matmul: batch dimensions of {tuple(a.shape)} and {tuple(b.shape)} "
                           "cannot be broadcast together") from None
    a_shape, b_shape = a.shape, b.shape

    def backward(g: np.ndarray) -> tuple:
        a2 = av if av.ndim > 1 else av[None, :]
        b2 = bv if bv.ndim > 1 else bv[:, None]
        if av.ndim == 1 and bv.ndim == 1:
            g2 = np.reshape(g, (1, 1))
        elif av.ndim == 1:
            g2 = np.expand_dims(g, -2)
        elif bv.ndim == 1:
            g2 = np.expand_dims(g, -1)
        else:
            g2 = g
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a_shape)
        if b.requires_grad:
            gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b_shape)
        return ga, gb

    name = "MmBackward0" if a.ndim == 2 and b.ndim == 2 else (
        "DotBackward0" if a.ndim == 1 and b.ndim == 1 else "MatmulBackward0")
    return autograd.record(np.asarray(out), (a, b), backward, name, saved=(a, b))


# --- unary ------------------------------------------------------------------------------------

def _unary(x: Tensor, forward: Callable, grad: Callable, name: str, float_only: bool = True,
           save_input: bool = False, save_output: bool = False) -> Tensor:
    xv = x._data
    if float_only and not is_floating(xv.dtype):
        xv = xv.astype(DEFAULT_FLOAT)
    with np.errstate(**_QUIET):
        out = np.asarray(forward(xv))

    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            return (grad(g, xv, out),)

    return autograd.record(out, (x,), backward, name, saved=(x,) if save_input else (), save_output=save_output)


def neg(x: Tensor) -> Tensor:
    """``-x``."""
    if x.dtype == np.dtype(bool):
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead.")
    return _unary(x, np.negative, lambda g, xv, out: -g, "NegBackward0", float_only=False)


def exp(x: Tensor) -> Tensor:
    """Elementwise e**x (ints become float32)."""
    return _unary(x, np.exp, lambda g, xv, out: g * out, "ExpBackward0", save_output=True)


def log(x: Tensor) -> Tensor:
    """Elementwise natural logarithm."""
    return _unary(x, np.log, lambda g, xv, out: g / xv, "LogBackward0", save_input=True)


def tanh(x: Tensor) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return _unary(x, np.tanh, lambda g, xv, out: g * (1 - out * out), "TanhBackward0", save_output=True)


def _sigmoid(v: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(v))
    return np.where(v >= 0, 1 / (1 + e), e / (1 + e)).astype(v.dtype, copy=False)


def sigmoid(x: Tensor) -> Tensor:
    """Elementwise 1 / (1 + e**-x), without overflow."""
    return _unary(x, _sigmoid, lambda g, xv, out: g * out * (1 - out), "SigmoidBackward0", save_output=True)


def relu(x: Tensor) -> Tensor:
    """Elementwise max(x, 0); NaN stays NaN."""
    if x.dtype == np.dtype(bool):
        raise RuntimeError("\"clamp_min_cpu\" not implemented for 'Bool'")
    return _unary(x, lambda v: np.maximum(v, v.dtype.type(0)), lambda g, xv, out: g * (out > 0),
                  "ReluBackward0", float_only=False, save_output=True)


def abs(x: Tensor) -> Tensor:
    """Elementwise absolute value (gradient sign(x), 0 at 0)."""
    return _unary(x, np.abs, lambda g, xv, out: g * np.sign(xv), "AbsBackward0", float_only=False,
                  save_input=True)


def sqrt(x: Tensor) -> Tensor:
    """Elementwise square root."""
    return _unary(x, np.sqrt, lambda g, xv, out: g / (2 * out), "SqrtBackward0", save_output=True)


def clamp(x: Tensor, min: Any = None, max: Any = None) -> Tensor:
    """Clip to ``[min, max]``; the gradient passes where the value was inside (bounds included)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    lo = -np.inf if min is None else min
    hi = np.inf if max is None else max

    def grad(g: np.ndarray, xv: np.ndarray, out: np.ndarray) -> np.ndarray:
        return g * ((xv >= lo) & (xv <= hi))

    def forward(v: np.ndarray) -> np.ndarray:
        out = v
        if min is not None:
            out = np.maximum(out, min)
        if max is not None:
            out = np.minimum(out, max)
        return np.asarray(out).astype(v.dtype, copy=False)

    return _unary(x, forward, grad, "ClampBackward1", float_only=False, save_input=True)


# --- reductions -------------------------------------------------------------------------------

#: a reduction's gradient over at most this many elements is made as a new array (``np.full``,
#: 0.5 µs) rather than a broadcast view (``np.broadcast_to``, 2 µs); larger ones stay views
_FULL_GRAD_MAX = 4096


def _expand_grad(g: np.ndarray, shape: tuple, dims: tuple[int, ...] | None, keepdim: bool) -> np.ndarray:
    if dims is None:
        if g.size == 1 and _prod(shape) <= _FULL_GRAD_MAX:
            return np.full(shape, g.reshape(()), dtype=g.dtype)
        return np.broadcast_to(g.reshape((1,) * len(shape)) if len(shape) else g, shape)
    if not keepdim:
        g = np.expand_dims(g, dims)
    return np.broadcast_to(g, shape)


def sum(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or all); bool/int sums are int64, as PyTorch."""
    dims = _dims(dim, x.ndim)
    if dtype is None:
        out_dtype = np.dtype(np.int64) if x.dtype.kind in "biu" else x.dtype
    else:
        out_dtype = np.dtype(dtype)
    data = x._data
    axis = dims if data.ndim else None
    if dims is not None and len(dims) == 1 and dims[0] == data.ndim - 1 and data.ndim > 1 \
            and data.dtype == out_dtype and data.dtype.kind == "f":
        out = reduce_last(np.add, data, dims[0])  # short rows by columns
        out = out if keepdim else out.reshape(data.shape[:-1])
    else:
        out = np.asarray(data.sum(axis=axis, dtype=out_dtype, keepdims=keepdim and data.ndim > 0))
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        return (_expand_grad(g, shape, dims if x.ndim else None, keepdim),)

    return autograd.record(out, (x,), backward, "SumBackward0" if dim is None else "SumBackward1")


def mean(x: Tensor, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Mean over ``dim`` (an int, a tuple, or all); needs a floating dtype, as PyTorch."""
    out_dtype = x.dtype if dtype is None else np.dtype(dtype)
    if not is_floating(out_dtype):
        kind = {"int64": "Long", "int32": "Int", "bool": "Bool", "int16": "Short", "int8": "Char",
                "uint8": "Byte"}.get(out_dtype.name, out_dtype.name)
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point or complex "
            f"dtype. Got: {kind}"
        )
    dims = _dims(dim, x.ndim)
    axis = dims if x.ndim else None
    with np.errstate(**_QUIET):
        out = np.asarray(np.mean(x._data, axis=axis, keepdims=keepdim and x.ndim > 0, dtype=out_dtype))
    shape = x.shape
    count = x._data.size if axis is None else int(np.prod([shape[d] for d in axis]))

    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            return (_expand_grad(g / g.dtype.type(count) if count else g * np.nan, shape,
                                 dims if x.ndim else None, keepdim),)

    return autograd.record(out, (x,), backward, "MeanBackward0" if dim is None else "MeanBackward1")


def _extreme(x: Tensor, dim: Any, keepdim: bool, which: str) -> Any:
    pick, argpick = (np.max, np.argmax) if which == "max" else (np.min, np.argmin)
    if x._data.size == 0:
        raise RuntimeError(
            f"{which}(): Expected reduction dim to be specified for input.numel() == 0. "
            "Specify the reduction dim with the 'dim' argument." if dim is None else
            f"{which}(): Expected reduction dim {dim} to have non-zero size."
        )
    xv = x._data
    if dim is None:
        out = np.asarray(pick(xv))

        def backward_all(g: np.ndarray) -> tuple:
            mask = (xv == out) | (np.isnan(xv) & np.isnan(out)) if xv.dtype.kind == "f" else xv == out
            return (g * mask / mask.sum(),)

        return autograd.record(out, (x,), backward_all, f"{which.capitalize()}Backward1",
                               saved=(x,), save_output=True)
    d = normalize_dim(dim, x.ndim)
    if x.ndim == 0:
        idx = np.zeros((), dtype=np.int64)
        values = result(xv.copy(), x) if not x.requires_grad else clone(x)
        return MaxMin(values, result(idx, x))
    idx = np.expand_dims(argpick(xv, axis=d), d)
    vals = np.take_along_axis(xv, idx, axis=d)
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        gk = g if keepdim else np.expand_dims(g, d)
        gi = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(gi, idx, gk, axis=d)
        return (gi,)

    if not keepdim:
        vals = np.squeeze(vals, d)
        out_idx = np.squeeze(idx, d)
    else:
        out_idx = idx
    values = autograd.record(np.ascontiguousarray(vals), (x,), backward, f"{which.capitalize()}Backward0")
    return MaxMin(values, result(np.ascontiguousarray(out_idx).astype(np.int64, copy=False), x))


def max(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """``t.max()`` → 0-d Tensor; ``t.max(dim)`` → ``(values, indices)``; ``t.max(other)`` → elementwise."""
    if isinstance(dim, (Tensor, np.ndarray)):
        return maximum(x, dim)
    return _extreme(x, dim, keepdim, "max")


def min(x: Tensor, dim: Any = None, keepdim: bool = False) -> Any:
    """``t.min()`` → 0-d Tensor; ``t.min(dim)`` → ``(values, indices)``; ``t.min(other)`` → elementwise."""
    if isinstance(dim, (Tensor, np.ndarray)):
        return minimum(x, dim)
    return _extreme(x, dim, keepdim, "min")


def argmax(x: Tensor, dim: Any = None, keepdim: bool = False, _fn: Callable = np.argmax) -> Tensor:
    """Index of the largest value (of the flattened tensor when ``dim`` is None); int64, no history."""
    if dim is None:
        out = np.asarray(_fn(x._data), dtype=np.int64)
        if keepdim:
            out = out.reshape((1,) * x.ndim)
        return result(out, x)
    d = normalize_dim(dim, x.ndim)
    if x.ndim == 0:
        return result(np.zeros((), dtype=np.int64), x)
    return result(np.asarray(_fn(x._data, axis=d, keepdims=keepdim), dtype=np.int64), x)


def argmin(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value; as :func:`argmax`."""
    return argmax(x, dim, keepdim, _fn=np.argmin)


# --- shapes -----------------------------------------------------------------------------------

def _shape_args(shape: tuple) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"shape must be ints, got {type(s).__name__}")
    return tuple(int(s) for s in shape)


def _infer_shape(shape: tuple, numel: int) -> tuple:
    shape = _shape_args(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if any(s < -1 for s in shape):
        raise RuntimeError(f"invalid shape dimension {next(s for s in shape if s < -1)}")
    known = int(np.prod([s for s in shape if s != -1], dtype=np.int64))
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _view_op(x: Tensor, out: np.ndarray, name: str, backward: Callable) -> Tensor:
    return autograd.record(out, (x,), backward, name, view_of=x)


def reshape(x: Tensor, *shape: Any) -> Tensor:
    """Same values in a new shape (one ``-1`` inferred); a view when NumPy can make one."""
    new = _infer_shape(shape, x._data.size)
    old = x.shape
    return _view_op(x, x._data.reshape(new), "ViewBackward0", lambda g: (g.reshape(old),))


def view(x: Tensor, *shape: Any) -> Tensor:
    """As :func:`reshape` but never copies: fails, as PyTorch, when the strides do not allow a view."""
    new = _infer_shape(shape, x._data.size)
    try:
        out = np.reshape(x._data, new, copy=False)
    except ValueError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one dimension spans "
            "across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    old = x.shape
    return _view_op(x, out, "ViewBackward0", lambda g: (g.reshape(old),))


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim`` into one."""
    if x.ndim == 0:
        return reshape(x, 1)
    s, e = normalize_dim(start_dim, x.ndim), normalize_dim(end_dim, x.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (int(np.prod(x.shape[s:e + 1], dtype=np.int64)),) + x.shape[e + 1:]
    return reshape(x, shape)


def permute(x: Tensor, *dims: Any) -> Tensor:
    """Reorder the dims (a view)."""
    dims = _shape_args(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the length of the "
            f"desired ordering of dimensions i.e. input.dim() = {x.ndim} is not equal to len(dims) = {len(dims)}"
        )
    d = tuple(normalize_dim(i, x.ndim) for i in dims)
    if len(set(d)) != len(d):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    inverse = tuple(np.argsort(d))
    return _view_op(x, x._data.transpose(d), "PermuteBackward0", lambda g: (g.transpose(inverse),))


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view)."""
    if x.ndim == 0:
        normalize_dim(dim0, 0), normalize_dim(dim1, 0)
        return _view_op(x, x._data.view(), "TransposeBackward0", lambda g: (g,))
    a, b = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    return _view_op(x, np.swapaxes(x._data, a, b), "TransposeBackward0", lambda g: (np.swapaxes(g, a, b),))


def t(x: Tensor) -> Tensor:
    """Transpose a tensor of at most 2 dims."""
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return transpose(x, 0, 1) if x.ndim == 2 else transpose(x, 0, 0)


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    """Drop size-1 dims (all, or those in ``dim``; a named dim of another size is left alone)."""
    if dim is None:
        axes = tuple(i for i, n in enumerate(x.shape) if n == 1)
    else:
        dims = _dims(dim, x.ndim) if x.ndim else (_dims(dim, 0) and ())
        axes = tuple(i for i in dims if x.shape[i] == 1)
    old = x.shape
    return _view_op(x, np.squeeze(x._data, axes) if axes else x._data.view(), "SqueezeBackward0",
                    lambda g: (g.reshape(old),))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at ``dim`` (``-ndim-1 <= dim <= ndim``)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"unsqueeze(): dim must be an int, got {type(dim).__name__}")
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    d = int(dim) % n
    old = x.shape
    return _view_op(x, np.expand_dims(x._data, d), "UnsqueezeBackward0", lambda g: (g.reshape(old),))


def expand(x: Tensor, *sizes: Any) -> Tensor:
    """Broadcast to ``sizes`` (``-1`` keeps a dim) without copying: a read-only view."""
    sizes = _shape_args(sizes)
    if len(sizes) < x.ndim:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(x.shape)}}}, size={list(sizes)}): the number of sizes provided "
            f"({len(sizes)}) must be greater or equal to the number of dimensions in the tensor ({x.ndim})"
        )
    lead = len(sizes) - x.ndim
    target = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    for i in range(x.ndim):
        if x.shape[i] != 1 and x.shape[i] != target[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({target[lead + i]}) must match the existing size "
                f"({x.shape[i]}) at non-singleton dimension {lead + i}.  Target sizes: {list(sizes)}.  "
                f"Tensor sizes: {list(x.shape)}"
            )
    old = x.shape
    return _view_op(x, np.broadcast_to(x._data, target), "ExpandBackward0", lambda g: (unbroadcast(g, old),))


def contiguous(x: Tensor) -> Tensor:
    """``x`` itself when C-contiguous, else a C-contiguous copy."""
    if x._data.flags.c_contiguous:
        return x
    return autograd.record(np.ascontiguousarray(x._data), (x,), lambda g: (g,), "CloneBackward0")


def clone(x: Tensor) -> Tensor:
    """A copy with its own memory; gradients flow through."""
    return autograd.record(x._data.copy(), (x,), lambda g: (g,), "CloneBackward0")


def to_dtype(x: Tensor, dtype: np.dtype, copy: bool = False) -> Tensor:
    """``x`` in ``dtype`` (``x`` itself when it already is, unless ``copy``)."""
    if x.dtype == dtype and not copy:
        return x
    src = x.dtype
    if is_floating(src) and is_floating(dtype):
        return autograd.record(x._data.astype(dtype), (x,), lambda g: (g.astype(src),), "ToCopyBackward0")
    return result(x._data.astype(dtype), x)


# --- indexing ---------------------------------------------------------------------------------

def _index_part(k: Any) -> Any:
    if isinstance(k, Tensor):
        k = k._data
    elif type(k).__module__.startswith("torch"):
        k = _tensor_mod.to_numpy(k)
    elif isinstance(k, list):
        k = np.asarray([_index_part(v) for v in k])
    if isinstance(k, np.ndarray):
        if k.ndim == 0 and k.dtype.kind in "iu":
            return int(k)
        if k.dtype.kind not in "biu":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
    return k


def index_key(key: Any) -> Any:
    """A key NumPy indexes with the same meaning PyTorch gives it (Tensors become arrays)."""
    if isinstance(key, tuple):
        return tuple(_index_part(k) for k in key)
    return _index_part(key)


def _is_basic(key: Any) -> bool:
    parts = key if isinstance(key, tuple) else (key,)
    return all(p is None or p is Ellipsis or isinstance(p, slice)
               or (isinstance(p, (int, np.integer)) and not isinstance(p, (bool, np.bool_))) for p in parts)


def _index_error(err: IndexError, shape: tuple) -> IndexError:
    msg = str(err)
    if "out of bounds for axis" in msg:
        msg = msg.replace("axis", "dimension")
    return IndexError(msg)


def getitem(x: Tensor, key: Any) -> Tensor:
    """``x[key]``: basic indexing gives a view; integer/bool array indexing a copy."""
    key = index_key(key)
    try:
        out = x._data[key]
    except IndexError as err:
        raise _index_error(err, x.shape) from None
    shape = x.shape
    basic = _is_basic(key)

    def backward(g: np.ndarray) -> tuple:
        gi = np.zeros(shape, dtype=g.dtype)
        if basic:
            gi[key] = g
        else:
            np.add.at(gi, key, g)
        return (gi,)

    out = np.asarray(out) if not isinstance(out, np.ndarray) else out
    return autograd.record(out, (x,), backward, "SelectBackward0" if basic else "IndexBackward0", view_of=x)


def setitem_(x: Tensor, key: Any, value: Any) -> None:
    """``x[key] = value`` in place; records the gradient (to ``value``; zero to the overwritten part)."""
    key = index_key(key)
    operand = as_operand(value)
    if operand is NotImplemented:
        operand = Tensor._make(np.asarray(value))
    if isinstance(operand, Tensor) and operand.is_cuda != x.is_cuda:  # a copy between devices, as torch's
        operand = operand.cuda() if x.is_cuda else operand.cpu()
    vv = operand._data if isinstance(operand, Tensor) else operand

    def write() -> None:
        try:
            x._data[key] = vv
        except IndexError as err:
            raise _index_error(err, x.shape) from None
        except ValueError as err:
            raise _write_error(err, x, key, vv) from None

    recording = autograd.is_grad_enabled() and (x.requires_grad or (isinstance(operand, Tensor)
                                                                    and operand.requires_grad))
    if not recording:
        write()
        x._vc.bump()
        return
    _check_inplace(x, indexed=True)
    alias = x._alias()
    write()
    x._vc.bump()
    vshape = operand.shape if isinstance(operand, Tensor) else None
    basic = _is_basic(key)

    def backward(g: np.ndarray) -> tuple:
        g_self = g.copy()
        g_self[key] = 0
        if vshape is None:
            return (g_self,)
        gv = g[key]
        return g_self, unbroadcast(np.asarray(gv), vshape)

    parents = (alias,) if vshape is None else (alias, operand)
    result = autograd.record(x._data, parents, backward, "CopySlices" if basic else "IndexPutBackward0")
    x._adopt(result)


def _write_error(err: ValueError, x: Tensor, key: Any, vv: Any) -> Exception:
    msg = str(err)
    if "read-only" in msg:
        return RuntimeError(
            "unsupported operation: this tensor's memory cannot be written (it is an expanded view, or its "
            "NumPy array is read-only). Please clone() the tensor before performing the operation."
        )
    if "could not broadcast" in msg or "shape mismatch" in msg:
        target = np.empty(x.shape, dtype=np.int8)[key].shape
        vshape = np.shape(vv)
        return RuntimeError(
            f"shape mismatch: value tensor of shape {list(vshape)} cannot be broadcast to indexing result of "
            f"shape {list(target)}"
        )
    return err


def _check_inplace(x: Tensor, indexed: bool = False) -> None:
    if x.requires_grad and x.grad_fn is None:
        # torch writes ``x[key] = v`` through a view of x, hence its wording
        raise RuntimeError(("a view of " if indexed else "")
                           + "a leaf Variable that requires grad is being used in an in-place operation.")
    if x._base is not None:
        raise RuntimeError(
            "steprnn cannot record an in-place operation on a view (a tensor obtained by indexing, view, "
            "reshape, transpose, ...) when gradients are involved: index the base tensor instead "
            "(e.g. `out[t] = h` rather than `row = out[t]; row[:] = h`), or build the result with sr.cat/sr.stack"
        )


def inplace_(x: Tensor, compute: Callable[[Tensor], Tensor], others: Sequence[Any] = (),
             needs_old_values: bool = False) -> Tensor:
    """Run the out-of-place ``compute(x_before)`` and write its result into ``x`` (``x += y``,
    ``x.mul_(y)``, ...). With gradients involved, ``x`` gets the result's history; ``needs_old_values``:
    ``compute``'s backward reads ``x``'s old values, so it gets a copy of them."""
    recording = autograd.is_grad_enabled() and (
        x.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others))
    if not recording:
        from .grad_mode import no_grad
        with no_grad():
            result = compute(x)
        _copy_into(x, result._data)
        x._vc.bump()
        return x
    _check_inplace(x)
    before = x._alias()
    if needs_old_values:
        before = x._alias(np.array(x._data, copy=True))
    result = compute(before)
    _copy_into(x, result._data)
    x._vc.bump()
    x._adopt(result)
    return x


def _copy_into(x: Tensor, values: np.ndarray) -> None:
    if not np.can_cast(values.dtype, x.dtype, casting="same_kind"):
        names = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int", "bool": "Bool"}
        raise RuntimeError(
            f"result type {names.get(values.dtype.name, values.dtype.name)} can't be cast to the desired output "
            f"type {names.get(x.dtype.name, x.dtype.name)}"
        )
    if values.shape != x.shape:
        try:
            values = np.broadcast_to(values, x.shape)
        except ValueError:
            raise RuntimeError(
                f"output with shape {list(x.shape)} doesn't match the broadcast shape {list(values.shape)}"
            ) from None
    try:
        np.copyto(x._data, values, casting="same_kind")
    except ValueError as err:
        raise _write_error(err, x, (), values) from None


# --- joining ----------------------------------------------------------------------------------

def _as_tensors(tensors: Any, fname: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, (list, tuple)):
        raise TypeError(f"{fname}(): argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}")
    out = []
    for t in tensors:
        if not isinstance(t, Tensor):
            op = as_operand(t)
            if not isinstance(op, Tensor):
                raise TypeError(f"expected Tensor as element {len(out)} in argument 0, but got {type(t).__name__}")
            t = op
        out.append(t)
    if not out:
        if fname == "stack":
            raise RuntimeError("stack expects a non-empty TensorList")
        raise ValueError(f"{fname}(): expected a non-empty list of Tensors")
    return out


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join along an existing dim; shapes must match elsewhere (1-D empty tensors are skipped, as PyTorch)."""
    ts = _as_tensors(tensors, "torch.cat")
    live = [t for t in ts if not (t.ndim == 1 and t.shape[0] == 0)] or ts[:1]
    live_ids = {id(t) for t in live}
    ref = live[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = normalize_dim(dim, ref.ndim)
    for i, t in enumerate(ts):
        if t.ndim == 1 and t.shape[0] == 0:
            continue
        if t.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for k in range(ref.ndim):
            if k != d and t.shape[k] != ref.shape[k]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {ref.shape[k]} but got "
                    f"size {t.shape[k]} for tensor number {i} in the list."
                )
    dtype = result_type(*[t._data for t in ts])
    out = np.concatenate([t._data.astype(dtype, copy=False) for t in live], axis=d)
    sizes = [t.shape[d] if id(t) in live_ids else 0 for t in ts]
    offsets = np.cumsum([0] + sizes)

    def backward(g: np.ndarray) -> tuple:
        grads = []
        for t, lo, hi in zip(ts, offsets[:-1], offsets[1:]):
            if id(t) not in live_ids:
                grads.append(np.zeros(t.shape, g.dtype))
            else:
                grads.append(np.take(g, np.arange(lo, hi), axis=d))
        return tuple(grads)

    return autograd.record(out, tuple(ts), backward, "CatBackward0")


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join along a new dim ``dim``; all shapes must be equal."""
    ts = _as_tensors(tensors, "stack")
    ref = ts[0]
    for i, t in enumerate(ts):
        if t.shape != ref.shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref.shape)} at entry 0 and "
                f"{list(t.shape)} at entry {i}"
            )
    n = ref.ndim + 1
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"stack(): dim must be an int, got {type(dim).__name__}")
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})")
    d = int(dim) % n
    dtype = result_type(*[t._data for t in ts])
    out = np.stack([t._data.astype(dtype, copy=False) for t in ts], axis=d)

    def backward(g: np.ndarray) -> tuple:
        return tuple(np.take(g, i, axis=d) for i in range(len(ts)))

    return autograd.record(out, tuple(ts), backward, "StackBackward0")



# --- selection: sort, topk, narrow, where, masked_fill, gather, index_select, repeat ------------

#: what ``t.sort(dim)`` / ``t.topk(k)`` return, as ``torch.return_types.sort`` / ``topk``
SortResult = collections.namedtuple("SortResult", ["values", "indices"])


def _take_along(x: Tensor, idx: np.ndarray, d: int, name: str) -> Tensor:
    """``x``'s values at ``idx`` (int64, same ndim as x) along dim ``d``; the gradient scatters back
    (``idx`` holds each position at most once per slice, as sort and topk give)."""
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        gi = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(gi, idx, g, axis=d)
        return (gi,)

    return autograd.record(np.take_along_axis(x._data, idx, axis=d), (x,), backward, name)


def _stable_order(v: np.ndarray, d: int, descending: bool) -> np.ndarray:
    """Indices sorting ``v`` along ``d``; equal values keep their order (NaN counts as the largest)."""
    if not descending:
        return np.argsort(v, axis=d, kind="stable")
    n = v.shape[d]
    return (n - 1) - np.flip(np.argsort(np.flip(v, d), axis=d, kind="stable"), d)


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """``(values, indices)`` sorted along ``dim`` (ties in their original order; NaN largest)."""
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return SortResult(clone(x) if x.requires_grad else result(x._data.copy(), x),
                          result(np.zeros((), np.int64), x))
    d = normalize_dim(dim, x.ndim)
    idx = _stable_order(x._data, d, bool(descending)).astype(np.int64, copy=False)
    return SortResult(_take_along(x, idx, d, "SortBackward0"), result(idx, x))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices of :func:`sort`."""
    return sort(x, dim, descending, stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` and their indices, largest first."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    d = normalize_dim(dim, x.ndim)
    n = x.shape[d] if x.ndim else 1
    if not 0 <= k <= n:
        raise RuntimeError(f"selected index k out of range: topk needs 0 <= k <= {n} (the size of dim {d}), "
                           f"got k={k}")
    if x.ndim == 0:
        return sort(x, dim)
    idx = _stable_order(x._data, d, bool(largest))
    idx = np.take(idx, np.arange(int(k)), axis=d).astype(np.int64, copy=False)
    return SortResult(_take_along(x, idx, d, "TopkBackward0"), result(idx, x))


def narrow(x: Tensor, dim: int, start: Any, length: int) -> Tensor:
    """``x`` restricted to ``start <= i < start + length`` along ``dim``: a view, as ``torch.narrow``."""
    if x.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, x.ndim)
    start = int(start.item()) if isinstance(start, Tensor) else int(start)
    n = x.shape[d]
    if not -n <= start <= n:
        raise IndexError(f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
    if start < 0:
        start += n
    if length < 0 or start + length > n:
        raise RuntimeError(f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
    return getitem(x, (slice(None),) * d + (slice(start, start + length),))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b`` (broadcast together); gradients go to the chosen side."""
    c = condition._data if isinstance(condition, Tensor) else np.asarray(_tensor_mod.to_numpy(condition))
    if c.dtype != np.dtype(bool):
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor with dtype "
                           f"{c.dtype.name}")
    try:
        np.broadcast_shapes(c.shape, _shape(a), _shape(b))
    except ValueError:
        raise RuntimeError(f"where(): the shapes of condition {list(c.shape)}, input {list(_shape(a))} and "
                           f"other {list(_shape(b))} cannot be broadcast together") from None
    zero = np.zeros((), dtype=bool)
    return _binary(a, b, lambda av, bv: np.where(c, av, bv), "WhereBackward0",
                   lambda g, av, bv, out: np.where(c, g, zero.astype(g.dtype)),
                   lambda g, av, bv, out: np.where(c, zero.astype(g.dtype), g))


def masked_fill(x: Tensor, mask: Any, value: Any) -> Tensor:
    """``x`` with ``value`` where ``mask`` (bool, broadcastable to x) is True; no gradient flows there."""
    m = mask._data if isinstance(mask, Tensor) else np.asarray(_tensor_mod.to_numpy(mask))
    if m.dtype != np.dtype(bool):
        raise RuntimeError(f"masked_fill_ only supports boolean masks, but got mask with dtype {m.dtype.name}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise RuntimeError(f"masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                               f"{value.ndim} dimension(s).")
        value = value.item()
    try:
        m = np.broadcast_to(m, x.shape)
    except ValueError:
        raise _torch_broadcast_error(x.shape, m.shape) from None
    out = np.where(m, np.asarray(value).astype(x._data.dtype), x._data)

    def backward(g: np.ndarray) -> tuple:
        return (np.where(m, np.zeros((), g.dtype), g),)

    return autograd.record(out, (x,), backward, "MaskedFillBackward0")


def gather(x: Tensor, dim: int, index: Any) -> Tensor:
    """``out[i][j] = x[index[i][j]][j]`` for ``dim=0`` (and so on), as ``torch.gather``."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(_tensor_mod.to_numpy(index))
    if idx.dtype.kind not in "iu":
        raise RuntimeError("gather(): Expected dtype int64 for index")
    d = normalize_dim(dim, x.ndim)
    if idx.ndim != builtins.max(x.ndim, 1):
        raise RuntimeError("Index tensor must have the same number of dimensions as input tensor")
    for k in range(idx.ndim):
        if k != d and idx.shape[k] > x.shape[k]:
            raise RuntimeError(f"Size does not match at dimension {k} expected index {list(idx.shape)} to be "
                               f"smaller than self {list(x.shape)} apart from dimension {d}")
    n = x.shape[d]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise RuntimeError(f"index {int(idx.max() if idx.max() >= n else idx.min())} is out of bounds for "
                           f"dimension {d} with size {n}")
    key = list(np.indices(idx.shape, sparse=True))
    key[d] = idx
    key = tuple(key)
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        gi = np.zeros(shape, dtype=g.dtype)
        np.add.at(gi, key, g)
        return (gi,)

    return autograd.record(x._data[key], (x,), backward, "GatherBackward0")


def index_select(x: Tensor, dim: int, index: Any) -> Tensor:
    """The slices at ``index`` (1-D integers) along ``dim``, as ``torch.index_select``."""
    idx = index._data if isinstance(index, Tensor) else np.asarray(_tensor_mod.to_numpy(index))
    if idx.dtype.kind not in "iu" or idx.ndim > 1:
        raise IndexError("index_select(): Index is supposed to be a vector of integers (int64 or int32)")
    d = normalize_dim(dim, x.ndim)
    return getitem(x, (slice(None),) * d + (Tensor._make(idx.reshape(-1)),))


def repeat(x: Tensor, *sizes: Any) -> Tensor:
    """Tile ``x`` ``sizes[i]`` times along each dim (extra leading sizes add dims), as ``Tensor.repeat``."""
    reps = _shape_args(sizes)
    if len(reps) < x.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number of dimensions "
                           "of tensor")
    lead = len(reps) - x.ndim
    base = (1,) * lead + tuple(x.shape)
    out = np.tile(x._data.reshape(base), reps)

    def backward(g: np.ndarray) -> tuple:
        split = []
        for r, s in zip(reps, base):
            split += [r, s]
        return (g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2))).reshape(x.shape),)

    return autograd.record(out, (x,), backward, "RepeatBackward0")


def any_(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether any element (along ``dim``) is non-zero: a bool Tensor."""
    axis = _dims(dim, x.ndim) if x.ndim else None
    return result(np.asarray(np.any(x._data, axis=axis, keepdims=keepdim and x.ndim > 0)), x)


def all_(x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element (along ``dim``) is non-zero: a bool Tensor."""
    axis = _dims(dim, x.ndim) if x.ndim else None
    return result(np.asarray(np.all(x._data, axis=axis, keepdims=keepdim and x.ndim > 0)), x)


def var(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
    """Variance over ``dim`` with ``correction`` (default 1, Bessel's; ``unbiased=False`` means 0)."""
    if correction is None:
        correction = 0 if unbiased is False else 1
    m = mean(x, dim, keepdim=True)
    diff = sub(x, m)
    dims = _dims(dim, x.ndim)
    count = x._data.size if dims is None else int(np.prod([x.shape[d] for d in dims]))
    s = sum(mul(diff, diff), dim, keepdim)
    return div(s, builtins.max(count - correction, 0))


def std(x: Tensor, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
    """Standard deviation: ``var(...).sqrt()``."""
    return sqrt(var(x, dim, unbiased, keepdim, correction))


def cumsum(x: Tensor, dim: int) -> Tensor:
    """Running sums along ``dim``; ints sum as int64."""
    d = normalize_dim(dim, x.ndim)
    dtype = np.dtype(np.int64) if x.dtype.kind in "biu" else x._data.dtype
    out = np.cumsum(x._data, axis=d, dtype=dtype) if x.ndim else x._data.astype(dtype)

    def backward(g: np.ndarray) -> tuple:
        if x.ndim == 0:
            return (g,)
        return (np.flip(np.cumsum(np.flip(g, d), axis=d), d),)

    return autograd.record(np.asarray(out), (x,), backward, "CumsumBackward0")


def norm(x: Tensor, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
    """The ``p``-norm (2: Euclidean) over ``dim`` (all elements when None)."""
    if p in ("fro", 2, 2.0):
        return sqrt(sum(mul(x, x), dim, keepdim))
    if p in (1, 1.0):
        return sum(abs(x), dim, keepdim)
    if p in (float("inf"), "inf"):
        return max(abs(x)) if dim is None else max(abs(x), dim, keepdim).values
    return pow(sum(pow(abs(x), p), dim, keepdim), 1.0 / p)


# --- random values (one place: the generator behind them is steprnn.random's) ------------------

def random_values(kind: str, shape: tuple, dtype: np.dtype, generator: Any = None, low: float = 0.0,
                  high: float = 1.0) -> np.ndarray:
    """``shape`` draws in ``dtype`` from steprnn's global generator (or ``generator``), on PyTorch's
    streams: ``kind='normal'``: N(low, high²) as ``tensor.normal_(low, high)``; ``'uniform'``: U[low, high)
    as ``tensor.uniform_(low, high)``. Every random Tensor method draws here."""
    from .random import resolve
    gen = resolve(generator)
    draw_dtype = dtype if dtype in (np.dtype(np.float32), np.dtype(np.float64)) else np.dtype(np.float32)
    if kind == "normal":
        values = gen.normal_array(shape, low, high, draw_dtype)
    elif kind == "uniform":
        values = gen.uniform_array(shape, low, high, draw_dtype)
    else:  # pragma: no cover - internal
        raise ValueError(kind)
    return np.asarray(values).astype(dtype, copy=False)


# --- rounding (zero gradient, as PyTorch) -------------------------------------------------------

def round(x: Tensor, decimals: int = 0) -> Tensor:
    """Round half to even (``decimals`` places); gradient zero."""
    return _unary(x, lambda v: np.round(v, decimals), lambda g, xv, out: np.zeros_like(g), "RoundBackward0",
                  float_only=False)


def floor(x: Tensor) -> Tensor:
    """Round down; gradient zero."""
    return _unary(x, np.floor, lambda g, xv, out: np.zeros_like(g), "FloorBackward0", float_only=False)


def ceil(x: Tensor) -> Tensor:
    """Round up; gradient zero."""
    return _unary(x, np.ceil, lambda g, xv, out: np.zeros_like(g), "CeilBackward0", float_only=False)


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by sign; gradient zero."""
    return _unary(x, np.sign, lambda g, xv, out: np.zeros_like(g), "SignBackward0", float_only=False)


def log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x."""
    return _unary(x, np.log1p, lambda g, xv, out: g / (1 + xv), "Log1PBackward0", save_input=True)

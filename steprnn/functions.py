"""Function forms of the Tensor methods, as ``torch.max(x, 1)``, ``torch.softmax(x, dim=1)``, ``torch.where``.

Each takes what the method's ``self`` takes (a Tensor, or anything ``sr.tensor`` accepts) and
returns what the method returns, with the same gradients. Also the default
device (``set_default_device`` / ``get_default_device``).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import ops
from .devices import as_device, device
from .tensor import Tensor

__all__ = [
    "abs", "add", "ceil", "floor", "log1p", "round", "sign", "all", "allclose", "any", "argmax", "argmin", "argsort", "bmm", "clamp", "clip", "cumsum", "div",
    "eq", "equal", "exp", "flatten", "gather", "ge", "get_default_device", "gt", "index_select", "le", "log",
    "log_softmax", "lt", "masked_fill", "matmul", "max", "maximum", "mean", "min", "minimum", "mm", "mul",
    "narrow", "ne", "neg", "norm", "numel", "permute", "pow", "relu", "reshape", "set_default_device",
    "sigmoid", "softmax", "sort", "sqrt", "squeeze", "std", "sub", "sum", "t", "tanh", "topk", "transpose",
    "unsqueeze", "var", "where",
]


def _t(x: Any, fname: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    op = ops.as_operand(x)
    if isinstance(op, Tensor):
        return op
    if isinstance(x, (list, tuple)) or op is not NotImplemented:
        from .creation import tensor
        return tensor(x)
    raise TypeError(f"{fname}(): argument 'input' must be Tensor, not {type(x).__name__}")


# --- elementwise ------------------------------------------------------------------------------

def exp(input: Any) -> Tensor:
    """Elementwise e**x."""
    return ops.exp(_t(input, "exp"))


def log(input: Any) -> Tensor:
    """Elementwise natural logarithm."""
    return ops.log(_t(input, "log"))


def tanh(input: Any) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return ops.tanh(_t(input, "tanh"))


def sigmoid(input: Any) -> Tensor:
    """Elementwise 1 / (1 + e**-x)."""
    return ops.sigmoid(_t(input, "sigmoid"))


def relu(input: Any) -> Tensor:
    """Elementwise max(x, 0)."""
    return ops.relu(_t(input, "relu"))


def abs(input: Any) -> Tensor:
    """Elementwise absolute value."""
    return ops.abs(_t(input, "abs"))


def sqrt(input: Any) -> Tensor:
    """Elementwise square root."""
    return ops.sqrt(_t(input, "sqrt"))


def round(input: Any, decimals: int = 0) -> Tensor:
    """Round half to even (gradient zero)."""
    return ops.round(_t(input, "round"), decimals)


def floor(input: Any) -> Tensor:
    """Round down (gradient zero)."""
    return ops.floor(_t(input, "floor"))


def ceil(input: Any) -> Tensor:
    """Round up (gradient zero)."""
    return ops.ceil(_t(input, "ceil"))


def sign(input: Any) -> Tensor:
    """-1, 0 or 1 by sign (gradient zero)."""
    return ops.sign(_t(input, "sign"))


def log1p(input: Any) -> Tensor:
    """log(1 + x)."""
    return ops.log1p(_t(input, "log1p"))


def neg(input: Any) -> Tensor:
    """``-input``."""
    return ops.neg(_t(input, "neg"))


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:
    """Clip to ``[min, max]``."""
    return ops.clamp(_t(input, "clamp"), min, max)


clip = clamp


def add(input: Any, other: Any, alpha: Any = 1) -> Tensor:
    """``input + alpha * other``."""
    return ops.add(_t(input, "add"), ops.as_operand(other), alpha=alpha)


def sub(input: Any, other: Any, alpha: Any = 1) -> Tensor:
    """``input - alpha * other``."""
    return ops.sub(_t(input, "sub"), ops.as_operand(other), alpha=alpha)


def mul(input: Any, other: Any) -> Tensor:
    """``input * other``."""
    return ops.mul(_t(input, "mul"), ops.as_operand(other))


def div(input: Any, other: Any, rounding_mode: str | None = None) -> Tensor:
    """``input / other``."""
    return ops.div(_t(input, "div"), ops.as_operand(other), rounding_mode=rounding_mode)


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent``."""
    return ops.pow(ops.as_operand(input), ops.as_operand(exponent))


def maximum(input: Any, other: Any) -> Tensor:
    """Elementwise maximum."""
    return ops.maximum(_t(input, "maximum"), _t(other, "maximum"))


def minimum(input: Any, other: Any) -> Tensor:
    """Elementwise minimum."""
    return ops.minimum(_t(input, "minimum"), _t(other, "minimum"))


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other``; ``where(condition)`` alone: the indices of
    its non-zero elements, one int64 Tensor per dim."""
    if input is None and other is None:
        ct = _t(condition, "where")
        c = np.asarray(ct._data)
        return tuple(ops.result(i.astype(np.int64), ct) for i in np.nonzero(c))
    return ops.where(condition, ops.as_operand(input), ops.as_operand(other))


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    """``input`` with ``value`` where ``mask`` is True."""
    return ops.masked_fill(_t(input, "masked_fill"), mask, value)


# --- comparison -------------------------------------------------------------------------------

def eq(input: Any, other: Any) -> Tensor:
    """``input == other`` elementwise."""
    return _t(input, "eq").eq(other)


def ne(input: Any, other: Any) -> Tensor:
    """``input != other`` elementwise."""
    return _t(input, "ne").ne(other)


def lt(input: Any, other: Any) -> Tensor:
    """``input < other`` elementwise."""
    return _t(input, "lt").lt(other)


def le(input: Any, other: Any) -> Tensor:
    """``input <= other`` elementwise."""
    return _t(input, "le").le(other)


def gt(input: Any, other: Any) -> Tensor:
    """``input > other`` elementwise."""
    return _t(input, "gt").gt(other)


def ge(input: Any, other: Any) -> Tensor:
    """``input >= other`` elementwise."""
    return _t(input, "ge").ge(other)


def equal(input: Any, other: Any) -> bool:
    """True when both have the same shape and values."""
    return _t(input, "equal").equal(other)


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """Whether all values are close (``np.allclose``)."""
    return _t(input, "allclose").allclose(other, rtol, atol, equal_nan)


# --- reductions and selection -----------------------------------------------------------------

def sum(input: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Sum over ``dim`` (all dims when None)."""
    return _t(input, "sum").sum(dim, keepdim, dtype=dtype)


def mean(input: Any, dim: Any = None, keepdim: bool = False, dtype: Any = None) -> Tensor:
    """Mean over ``dim`` (all dims when None)."""
    return _t(input, "mean").mean(dim, keepdim, dtype=dtype)


def var(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
    """Variance over ``dim``."""
    return ops.var(_t(input, "var"), dim, unbiased, keepdim, correction)


def std(input: Any, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
    """Standard deviation over ``dim``."""
    return ops.std(_t(input, "std"), dim, unbiased, keepdim, correction)


def norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> Tensor:
    """The ``p``-norm over ``dim``."""
    return ops.norm(_t(input, "norm"), p, dim, keepdim)


def cumsum(input: Any, dim: int) -> Tensor:
    """Running sums along ``dim``."""
    return ops.cumsum(_t(input, "cumsum"), dim)


def any(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether any element is non-zero."""
    return ops.any_(_t(input, "any"), dim, keepdim)


def all(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Whether every element is non-zero."""
    return ops.all_(_t(input, "all"), dim, keepdim)


def max(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """``max(x)``: the largest value; ``max(x, dim)``: ``(values, indices)``; ``max(x, other)``: elementwise."""
    return ops.max(_t(input, "max"), dim if not isinstance(dim, (list, tuple)) else ops.as_operand(dim), keepdim)


def min(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """``min(x)``: the smallest value; ``min(x, dim)``: ``(values, indices)``; ``min(x, other)``: elementwise."""
    return ops.min(_t(input, "min"), dim, keepdim)


def argmax(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the largest value (flattened when ``dim`` is None)."""
    return ops.argmax(_t(input, "argmax"), dim, keepdim)


def argmin(input: Any, dim: Any = None, keepdim: bool = False) -> Tensor:
    """Index of the smallest value (flattened when ``dim`` is None)."""
    return ops.argmin(_t(input, "argmin"), dim, keepdim)


def sort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """``(values, indices)`` sorted along ``dim``."""
    return ops.sort(_t(input, "sort"), dim, descending, stable)


def argsort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``input`` along ``dim``."""
    return ops.argsort(_t(input, "argsort"), dim, descending, stable)


def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """``(values, indices)`` of the ``k`` largest (or smallest) values along ``dim``."""
    return ops.topk(_t(input, "topk"), k, dim, largest, sorted)


def narrow(input: Any, dim: int, start: Any, length: int) -> Tensor:
    """The view of ``length`` entries from ``start`` along ``dim``."""
    return ops.narrow(_t(input, "narrow"), dim, start, length)


def gather(input: Any, dim: int, index: Any) -> Tensor:
    """Values picked along ``dim`` by ``index``."""
    return ops.gather(_t(input, "gather"), dim, index)


def index_select(input: Any, dim: int, index: Any) -> Tensor:
    """The slices at ``index`` along ``dim``."""
    return ops.index_select(_t(input, "index_select"), dim, index)


def numel(input: Any) -> int:
    """Number of elements."""
    return _t(input, "numel").numel()


# --- shapes and products ----------------------------------------------------------------------

def reshape(input: Any, shape: Any) -> Tensor:
    """Same values in a new shape."""
    return ops.reshape(_t(input, "reshape"), shape)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims ``start_dim..end_dim``."""
    return ops.flatten(_t(input, "flatten"), start_dim, end_dim)


def squeeze(input: Any, dim: Any = None) -> Tensor:
    """Drop size-1 dims."""
    return ops.squeeze(_t(input, "squeeze"), dim)


def unsqueeze(input: Any, dim: int) -> Tensor:
    """Insert a size-1 dim."""
    return ops.unsqueeze(_t(input, "unsqueeze"), dim)


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    return ops.transpose(_t(input, "transpose"), dim0, dim1)


def t(input: Any) -> Tensor:
    """Transpose of a tensor with at most 2 dims."""
    return ops.t(_t(input, "t"))


def permute(input: Any, dims: Any) -> Tensor:
    """Reorder dims."""
    return ops.permute(_t(input, "permute"), dims)


def matmul(input: Any, other: Any) -> Tensor:
    """``input @ other``."""
    return ops.matmul(_t(input, "matmul"), _t(other, "matmul"))


def mm(input: Any, mat2: Any) -> Tensor:
    """The product of two matrices (2-D only)."""
    a, b = _t(input, "mm"), _t(mat2, "mm")
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, got {a.ndim}D and {b.ndim}D")
    return ops.matmul(a, b)


def bmm(input: Any, mat2: Any) -> Tensor:
    """Batched products of matrices: ``(B, n, m) @ (B, m, p) -> (B, n, p)`` (no broadcasting)."""
    a, b = _t(input, "bmm"), _t(mat2, "bmm")
    if a.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor, got {a.ndim}D with shape {list(a.shape)}")
    if b.ndim != 3:
        raise RuntimeError(f"batch2 must be a 3D tensor, got {b.ndim}D with shape {list(b.shape)}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise RuntimeError(f"Expected size for first two dimensions of batch2 tensor to be: "
                           f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}].")
    return ops.matmul(a, b)


def softmax(input: Any, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``F.softmax(input, dim)``."""
    from .nn import functional as F
    return F.softmax(_t(input, "softmax"), dim, _stacklevel=4, dtype=dtype)


def log_softmax(input: Any, dim: int | None = None, dtype: Any = None) -> Tensor:
    """``F.log_softmax(input, dim)``."""
    from .nn import functional as F
    return F.log_softmax(_t(input, "log_softmax"), dim, _stacklevel=4, dtype=dtype)


# --- default device ---------------------------------------------------------------------------

_DEFAULT_DEVICE = device("cpu")


def set_default_device(dev: Any) -> None:
    """Where new tensors are made by default (``None`` or ``'cpu'``; as ``torch.set_default_device``)."""
    global _DEFAULT_DEVICE
    _DEFAULT_DEVICE = as_device(dev)


def get_default_device() -> device:
    """The device new tensors are made on (``sr.device('cpu')`` unless set)."""
    return _DEFAULT_DEVICE

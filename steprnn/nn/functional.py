"""``steprnn.nn.functional`` mirrors ``torch.nn.functional``: activations, softmax, losses, dropout, linear.

Every function is differentiable through steprnn's autograd. ``log_softmax`` (and ``softmax``) is
one graph node computed the numerically stable way (``x - max - log(sum(exp(x - max)))``), and the
class-index losses (``nll_loss``, ``cross_entropy`` with or without label smoothing) are one more
node on top of it with a hand-written backward, so ``cross_entropy`` is ``log_softmax`` followed by
``nll_loss`` exactly as in PyTorch's ATen. Argument checks follow PyTorch's order and wording.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .. import autograd
from .. import ops as _ops
from ..dtypes import is_floating, result_type
from ..random import default_generator
from ..tensor import Tensor
from .parameter import Parameter

__all__ = [
    "relu",
    "tanh",
    "sigmoid",
    "softmax",
    "log_softmax",
    "linear",
    "dropout",
    "mse_loss",
    "nll_loss",
    "cross_entropy",
]

_QUIET = {"divide": "ignore", "invalid": "ignore", "over": "ignore", "under": "ignore"}

#: how PyTorch's C++ messages name a dtype (``c10::toString(ScalarType)``)
_SCALAR_NAMES = {
    "float64": "Double", "float32": "Float", "float16": "Half", "int64": "Long", "int32": "Int",
    "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool", "complex64": "ComplexFloat",
    "complex128": "ComplexDouble",
}


def _scalar_name(dtype: np.dtype) -> str:
    return _SCALAR_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def _sizes(shape: tuple) -> str:
    """A shape as PyTorch's messages print it: ``[3, 5]``."""
    return "[" + ", ".join(str(s) for s in shape) + "]"


def _tensor_arg(x: Any, fname: str, name: str, position: int) -> Tensor:
    """``x`` as a Tensor (an ndarray is wrapped without a copy); PyTorch's TypeError otherwise."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor._make(x)
    raise TypeError(f"{fname}(): argument '{name}' (position {position}) must be Tensor, not {type(x).__name__}")


def _int_arg(x: Any, fname: str, name: str, position: int) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
        raise TypeError(f"{fname}(): argument '{name}' (position {position}) must be int, not {type(x).__name__}")
    return int(x)


def _float_arg(x: Any, fname: str, name: str, position: int) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fname}(): argument '{name}' (position {position}) must be float, not {type(x).__name__}")
    return float(x)


# --- reductions (torch.nn._reduction) --------------------------------------------------------

def _reduction_enum(reduction: str) -> int:
    """``'none'`` → 0, ``'mean'`` → 1, ``'sum'`` → 2 (``_Reduction.get_enum``)."""
    if reduction == "none":
        return 0
    if reduction == "mean":
        return 1
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' instead.",
                      stacklevel=3)
        return 1
    if reduction == "sum":
        return 2
    raise ValueError(f"{reduction} is not a valid value for reduction")


def _legacy_reduction(size_average: bool | None, reduce: bool | None, emit_warning: bool = True) -> str:
    """The ``reduction`` string named by the deprecated ``size_average``/``reduce`` pair."""
    if size_average is None:
        size_average = True
    if reduce is None:
        reduce = True
    if size_average and reduce:
        ret = "mean"
    elif reduce:
        ret = "sum"
    else:
        ret = "none"
    if emit_warning:
        warnings.warn(f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
                      stacklevel=3)
    return ret


# --- activations ------------------------------------------------------------------------------

def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Elementwise ``max(x, 0)``; ``inplace=True`` overwrites ``input``."""
    x = _tensor_arg(input, "relu", "input", 1)
    if inplace:
        return _ops.inplace_(x, _ops.relu)
    return _ops.relu(x)


def tanh(input: Tensor) -> Tensor:
    """Elementwise hyperbolic tangent."""
    return _ops.tanh(_tensor_arg(input, "tanh", "input", 1))


def sigmoid(input: Tensor) -> Tensor:
    """Elementwise logistic function ``1 / (1 + exp(-x))``, without overflow."""
    return _ops.sigmoid(_tensor_arg(input, "sigmoid", "input", 1))


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. "
                  "Change the call to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def _softmax_input(x: Tensor, dim: int, dtype: Any, kernel: str) -> tuple[Tensor, int]:
    d = _ops.normalize_dim(dim, x.ndim)
    if dtype is not None:
        from ..dtypes import as_dtype
        x = x.to(as_dtype(dtype))
    if not is_floating(x.dtype):
        where = "lastdim_kernel_impl" if x.ndim == 0 or d == x.ndim - 1 else "kernel_impl"
        raise NotImplementedError(f"\"{kernel}_{where}\" not implemented for '{_scalar_name(x.dtype)}'")
    return x, d


#: the dtypes the compiled loops of ``kernels.cpu`` take here (log-softmax rows, an embedding's gradient)
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _by_rows(a: np.ndarray, d: int | None) -> bool:
    """Whether a log-softmax of ``a`` over ``d`` goes to the compiled loops over rows
    (``kernels.cpu.softmax_rows``): a non-empty float32/float64 NumPy array, over its last axis."""
    return type(a) is np.ndarray and a.ndim >= 1 and d == a.ndim - 1 and a.dtype in _KERNEL_DTYPES and a.size > 0


def _log_softmax_array(xv: np.ndarray, d: int) -> np.ndarray:
    if xv.ndim == 0:
        return _log_softmax_array(xv.reshape(1), 0).reshape(())
    if xv.size == 0:
        return xv.copy()
    if _by_rows(xv, d):
        from ..kernels.cpu import softmax_rows  # Numba, at the first call: not at ``import steprnn``

        rows = np.ascontiguousarray(xv).reshape(-1, xv.shape[-1])
        out = np.empty(rows.shape, xv.dtype)
        softmax_rows.log_softmax_rows(rows, out)
        return out.reshape(xv.shape)
    with np.errstate(**_QUIET):
        shifted = xv - _ops.reduce_last(np.maximum, xv, d)
        return shifted - np.log(_ops.reduce_last(np.add, np.exp(shifted), d))


def _softmax_array(xv: np.ndarray, d: int) -> np.ndarray:
    if xv.ndim == 0:
        return _softmax_array(xv.reshape(1), 0).reshape(())
    if xv.size == 0:
        return xv.copy()
    with np.errstate(**_QUIET):
        e = np.exp(xv - _ops.reduce_last(np.maximum, xv, d))
        return e * (1 / _ops.reduce_last(np.add, e, d))


def _log_softmax(x: Tensor, dim: int) -> Tensor:
    """The log-softmax node: ``out = x - max - log(sum(exp(x - max)))``; backward
    ``g - exp(out) * sum(g)`` (as ATen's ``_log_softmax_backward_data``); over the last axis of a
    float32/float64 array by compiled loops over its rows (``_by_rows``: (700, 50) forward +
    backward 123 -> 65 µs, (64, 10) 14 -> 2 µs), else by NumPy."""
    d = dim if x.ndim else None
    out = _log_softmax_array(x._data, dim)

    def backward(g: np.ndarray) -> tuple:
        if _by_rows(out, d) and type(g) is np.ndarray and g.dtype == out.dtype and g.shape == out.shape:
            from ..kernels.cpu import softmax_rows

            C = out.shape[-1]
            dx = np.empty(out.shape, out.dtype)
            softmax_rows.log_softmax_rows_backward(np.ascontiguousarray(g).reshape(-1, C), out.reshape(-1, C),
                                                   dx.reshape(-1, C))
            return (dx,)
        with np.errstate(**_QUIET):
            return (g - np.exp(out) * _ops.reduce_last(np.add, g, d),)

    return autograd.record(out, (x,), backward, "LogSoftmaxBackward0", save_output=True)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``log(softmax(input))`` along ``dim``, computed without overflow or underflow."""
    x = _tensor_arg(input, "log_softmax", "input", 1)
    if dim is None:
        dim = _softmax_dim("log_softmax", x.ndim, _stacklevel)
    x, d = _softmax_input(x, dim, dtype, "log_softmax")
    return _log_softmax(x, d)


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: Any = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim`` (the maximum subtracted first)."""
    x = _tensor_arg(input, "softmax", "input", 1)
    if dim is None:
        dim = _softmax_dim("softmax", x.ndim, _stacklevel)
    x, d = _softmax_input(x, dim, dtype, "softmax")
    axis = d if x.ndim else None
    out = _softmax_array(x._data, d)

    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            return (out * (g - _ops.reduce_last(np.add, g * out, axis)),)

    return autograd.record(out, (x,), backward, "SoftmaxBackward0", save_output=True)


# --- linear and dropout -----------------------------------------------------------------------

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias`` (``weight``: ``(out_features, in_features)``)."""
    x = _tensor_arg(input, "linear", "input", 1)
    w = _tensor_arg(weight, "linear", "weight", 2)
    if w.ndim == 2 and x.ndim >= 1 and x.shape[-1] != w.shape[1]:
        rows = int(np.prod(x.shape[:-1], dtype=np.int64))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({rows}x{x.shape[-1]} and "
                           f"{w.shape[1]}x{w.shape[0]})")
    b = None if bias is None else _tensor_arg(bias, "linear", "bias", 3)
    if _plain_linear(x, w, b):
        return _linear_node(x, w, b)
    y = _ops.matmul(x, w) if w.ndim == 1 else _ops.matmul(x, _ops.t(w))
    if b is None:
        return y
    lead = y.ndim - b.ndim
    for i in range(b.ndim):
        if lead < 0 or (b.shape[i] != 1 and b.shape[i] != y.shape[lead + i]):
            dim = max(lead + i, 0)
            raise RuntimeError(
                f"The expanded size of the tensor ({y.shape[dim] if y.ndim else 1}) must match the existing "
                f"size ({b.shape[i]}) at non-singleton dimension {dim}.  Target sizes: {_sizes(y.shape)}.  "
                f"Tensor sizes: {_sizes(b.shape)}"
            )
    return y + b


#: the classes of CPU tensors (a CUDA tensor or parameter is of another class)
_CPU_TENSORS = (Tensor, Parameter)


def _plain_linear(x: Tensor, w: Tensor, b: Tensor | None) -> bool:
    """Whether ``linear`` can be one node (``_linear_node``): CPU tensors of one float dtype, x
    (..., I) with at least one dimension, w (O, I), b (O,) or none. Anything else goes through
    matmul, t and add, which raise PyTorch's errors."""
    if type(x) not in _CPU_TENSORS or type(w) not in _CPU_TENSORS or (b is not None and type(b) not in _CPU_TENSORS):
        return False
    xv, wv = x._data, w._data
    if xv.ndim == 0 or wv.ndim != 2 or xv.dtype != wv.dtype or xv.dtype.kind != "f":
        return False
    return b is None or (b._data.ndim == 1 and b._data.shape[0] == wv.shape[0] and b._data.dtype == xv.dtype)


def _linear_node(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """y = x wᵀ + b as one node, as PyTorch's ``addmm`` (``mm`` without a bias): x (..., I), w (O, I),
    b (O,) → y (..., O); backward dL/dx = g w, dL/dw = gᵀ x, dL/db = Σ g over the rows. (Measured,
    x (1, 32), w (5, 32): 24 → 10 µs forward; the three nodes of matmul, t and add cost the rest.)"""
    xv, wv = x._data, w._data
    rows = 1
    for d in xv.shape[:-1]:
        rows *= d
    x2 = xv.reshape(rows, xv.shape[-1])  # (M, I): every leading dimension is a row (M, I may be 0)
    with np.errstate(**_QUIET):
        y2 = np.matmul(x2, wv.T)
        if b is not None:
            y2 += b._data
    out_features = wv.shape[0]
    y = y2.reshape(xv.shape[:-1] + (out_features,))

    def backward(g: np.ndarray) -> tuple:
        g2 = g.reshape(rows, out_features)
        with np.errstate(**_QUIET):
            dx = np.matmul(g2, wv).reshape(xv.shape) if x.requires_grad else None
            dw = np.matmul(g2.T, x2) if w.requires_grad else None
            if b is None:
                return dx, dw
            return dx, dw, (np.add.reduce(g2, axis=0) if b.requires_grad else None)

    if b is None:
        return autograd.record(y, (x, w), backward, "MmBackward0" if xv.ndim == 2 else "ViewBackward0", saved=(x, w))
    return autograd.record(y, (x, w, b), backward, "AddmmBackward0" if xv.ndim == 2 else "ViewBackward0",
                           saved=(x, w))


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)`` (training only).

    The mask is drawn from steprnn's global generator (``sr.manual_seed``). With ``training=False``
    or ``p == 0`` the input itself is returned, as PyTorch does.
    """
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _tensor_arg(input, "dropout", "input", 1)
    if p == 0 or not training or x._data.size == 0:
        return x
    if p == 1:
        noise = np.zeros((), dtype=x.dtype)
    else:
        keep = default_generator().random(x.shape) < (1 - p)
        noise = keep.astype(x.dtype) / x.dtype.type(1 - p) if is_floating(x.dtype) else keep / (1 - p)
    mask = _ops.result(np.asarray(noise), x)  # on x's device
    if inplace:
        return _ops.inplace_(x, lambda v: _ops.mul(v, mask), (), True)
    return _ops.mul(x, mask)


# --- losses -----------------------------------------------------------------------------------

def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None, reduce: bool | None = None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``(input - target)**2`` with ``reduction`` ``'mean'`` | ``'sum'`` | ``'none'``;
    ``weight`` (the input's shape) weighs each element."""
    x = _tensor_arg(input, "mse_loss", "input", 1)
    t = _tensor_arg(target, "mse_loss", "target", 2)
    if weight is None and size_average is None and reduce is None and _same_float_arrays(x, t):
        return _mse_node(x, t, x._data, t._data, _reduction_enum(reduction))
    if t.shape != x.shape:
        warnings.warn(
            f"Using a target size ({_sizes(t.shape)}) that is different to the input size ({_sizes(x.shape)}). "
            "This will likely lead to incorrect results due to broadcasting. "
            "Please ensure they have the same size.",
            stacklevel=2,
        )
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    try:
        shape = np.broadcast_shapes(x.shape, t.shape)
    except ValueError:
        raise _ops._torch_broadcast_error(x.shape, t.shape) from None
    if weight is not None:
        w = _tensor_arg(weight, "mse_loss", "weight", 6)
        if w.shape != x.shape:
            raise ValueError("Weights and input must have the same size.")
        weighted = _ops.pow(_ops.sub(x, t), 2) * w
        if reduction == "none":
            return weighted
        if reduction == "sum":
            return _ops.sum(weighted)
        if reduction == "mean":
            return _ops.sum(weighted) / _ops.sum(w)
        raise ValueError(f"Invalid reduction mode: {reduction}. Expected one of 'none', 'mean', 'sum'.")
    red = _reduction_enum(reduction)
    dtype = result_type(x, t)
    if not is_floating(dtype):
        raise NotImplementedError(f"\"mse_cpu\" not implemented for '{_scalar_name(dtype)}'")
    xv = np.broadcast_to(x._data.astype(dtype, copy=False), shape)
    tv = np.broadcast_to(t._data.astype(dtype, copy=False), shape)
    return _mse_node(x, t, xv, tv, red)


def _same_float_arrays(x: Tensor, t: Tensor) -> bool:
    """CPU tensors of one shape and one float dtype: a loss needs no broadcasting or promotion."""
    if type(x) not in _CPU_TENSORS or type(t) not in _CPU_TENSORS:
        return False
    xv, tv = x._data, t._data
    return xv.shape == tv.shape and xv.dtype == tv.dtype and xv.dtype.kind == "f"


def _mse_node(x: Tensor, t: Tensor, xv: np.ndarray, tv: np.ndarray, red: int) -> Tensor:
    """The MSE node on ``xv``, ``tv`` (x's and t's values, promoted and broadcast to one shape)."""
    dtype = xv.dtype
    with np.errstate(**_QUIET):
        diff = xv - tv
        sq = diff * diff
        if red == 0:
            out = sq
        elif red == 2:
            out = np.asarray(np.sum(sq))
        else:
            out = np.asarray(np.mean(sq)) if sq.size else np.asarray(np.nan, dtype=dtype)
    n = sq.size
    x_shape, t_shape = x.shape, t.shape

    def backward(g: np.ndarray) -> tuple:
        norm = 2.0 / n if red == 1 else 2.0
        with np.errstate(**_QUIET):
            gi = norm * diff * g
        return _ops.unbroadcast(gi, x_shape), _ops.unbroadcast(-gi, t_shape)

    return autograd.record(np.asarray(out, dtype=dtype), (x, t), backward, "MseLossBackward0", saved=(x, t))


def _check_weight_dtype(weight: Tensor | None, dtype: np.dtype) -> None:
    if weight is not None and weight.dtype != dtype:
        raise RuntimeError(f"expected scalar type {_scalar_name(dtype)} but found {_scalar_name(weight.dtype)}")


def _check_target_dtype(target: Tensor) -> None:
    if target.dtype not in (np.dtype(np.int64), np.dtype(np.uint8)):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got {_scalar_name(target.dtype)}")


def _check_nll(input: Tensor, target: Tensor, weight: Tensor | None) -> None:
    """The shape/dtype checks of ATen's ``nll_loss_nd`` → ``nll_loss`` / ``nll_loss2d``, in their order."""
    if input.ndim < 1:
        raise ValueError(f"Expected 1 or more dimensions (got {input.ndim})")
    if input.ndim != 1:
        if target.ndim == 0:
            if input.shape[0] != 0:
                raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size (0).")
            raise IndexError("Dimension specified as 0 but tensor has no dimensions")
        if input.shape[0] != target.shape[0]:
            raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                             f"({target.shape[0]}).")
    if input.ndim <= 2:
        if target.ndim > 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        _check_target_dtype(target)
        if input.ndim == 1 and target.ndim == 1 and target.shape[0] != 1:
            raise ValueError(f"For 1D input, 1D target must have size 1, but got target size: {target.shape[0]}")
        n_classes = input.shape[-1]
        if weight is not None and (weight.ndim != 1 or weight._data.size != n_classes):
            raise RuntimeError(f"weight tensor should be defined either for all {n_classes} classes or no classes "
                               f"but got weight tensor of shape: {_sizes(weight.shape)}")
    else:
        if input.ndim != 4 and target.shape[1:] != input.shape[2:]:
            out_size = (input.shape[0],) + input.shape[2:]
            raise RuntimeError(f"Expected target size {_sizes(out_size)}, got {_sizes(target.shape)}")
        _check_target_dtype(target)
        if input.ndim == 4:
            if target.ndim != 3:
                raise RuntimeError("only batches of spatial targets supported (3D tensors) but got targets of "
                                   f"dimension: {target.ndim}")
            if input.shape[2:] != target.shape[1:]:
                raise RuntimeError(f"size mismatch (got input: {_sizes(input.shape)} , target: "
                                   f"{_sizes(target.shape)}")
        if weight is not None and weight._data.size != input.shape[1]:
            raise RuntimeError("weight tensor should be defined either for all or no classes")
    _check_weight_dtype(weight, input.dtype)


def _plain_classes(input: Tensor, target: Tensor, weight: Tensor | None) -> bool:
    """Whether this is the common classification case, which ``_check_nll`` would pass: CPU tensors,
    input (N, C), target (N,) of int64 or uint8 class indices, no class weights."""
    if weight is not None or type(input) not in _CPU_TENSORS or type(target) not in _CPU_TENSORS:
        return False
    x, t = input._data, target._data
    return x.ndim == 2 and t.ndim == 1 and x.shape[0] == t.shape[0] and t.dtype in _CLASS_INDEX_DTYPES


_CLASS_INDEX_DTYPES = (np.dtype(np.int64), np.dtype(np.uint8))


def _nll_node(logp: Tensor, target: Tensor, weight: Tensor | None, red: int, ignore_index: int,
              smoothing: float = 0.0) -> Tensor:
    """ATen's ``nll_loss_nd`` on ``logp`` (checked), plus, when ``smoothing > 0``, the label-smoothing
    term of ``cross_entropy_loss_label_smoothing``: one node, backward written by hand."""
    if weight is None and smoothing <= 0 and logp._data.ndim <= 2:
        return _nll_rows(logp, target, red, ignore_index)
    shape = logp.shape
    if logp.ndim == 1:
        n, c, k = 1, shape[0], 1
    else:
        n, c = shape[0], shape[1]
        k = int(np.prod(shape[2:], dtype=np.int64))
    dtype = logp.dtype
    lp = logp._data.reshape(n, c, k)
    t = target._data.reshape(n, k).astype(np.int64)
    valid = t != ignore_index
    bad = valid & ((t < 0) | (t >= c))
    if bad.any():
        raise IndexError(f"Target {t[bad][0]} is out of bounds.")
    tc = np.where(valid, t, 0)
    wv = None if weight is None else weight._data.astype(dtype, copy=False).reshape(-1)
    w_t = (np.ones((n, k), dtype) if wv is None else wv[tc]) * valid
    picked = np.take_along_axis(lp, tc[:, None, :], axis=1)[:, 0, :]
    with np.errstate(**_QUIET):
        elem = np.where(valid, -picked * w_t, dtype.type(0))
        total_weight = np.sum(w_t, dtype=dtype) if wv is not None else dtype.type(np.count_nonzero(valid))
        if red == 0:
            nll = elem.reshape(target.shape if logp.ndim > 1 else ())
        else:
            nll = np.sum(elem, dtype=dtype)
            if red == 1:
                nll = nll / total_weight if elem.size else dtype.type(np.nan)
        out = nll
        if smoothing > 0:
            if logp.ndim == 1 and target.ndim == 1:
                raise RuntimeError("output with shape [] doesn't match the broadcast shape [1]")
            if wv is None:
                smooth = -np.sum(lp, axis=1)
            else:
                smooth = -np.sum(lp * wv[None, :, None], axis=1)
            smooth = np.where(valid, smooth, dtype.type(0))
            if red == 0:
                ret = smooth.reshape(nll.shape)
            else:
                ret = np.sum(smooth, dtype=dtype)
                if red == 1:
                    if wv is not None and target.dtype != np.dtype(np.int64):
                        raise RuntimeError("gather(): Expected dtype int32/int64 for index")
                    ret = ret / total_weight
            out = (1 - smoothing) * nll + ret * (smoothing / c)
    out = np.asarray(out, dtype=dtype)
    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            g_nll = g * (1 - smoothing) if smoothing > 0 else g
            if red == 0:
                gn = np.broadcast_to(np.asarray(g_nll).reshape(-1), (n * k,)).reshape(n, k)
            else:
                gn = np.asarray(g_nll / total_weight if red == 1 else g_nll)
            grad = np.zeros((n, c, k), dtype=dtype)
            gi = np.broadcast_to(-gn, (n, k)) * w_t
            np.put_along_axis(grad, tc[:, None, :], np.where(valid, gi, 0)[:, None, :], axis=1)
            if smoothing > 0:
                gs = g * (smoothing / c)
                if red == 0:
                    gs = np.asarray(gs).reshape(-1).reshape(n, k) if np.ndim(gs) else np.full((n, k), gs)
                elif red == 1:
                    gs = gs / total_weight
                gs = np.where(valid, np.broadcast_to(gs, (n, k)), dtype.type(0))
                wc = np.ones(c, dtype) if wv is None else wv
                grad -= wc[None, :, None] * gs[:, None, :]
        return (grad.reshape(shape), None)

    return autograd.record(out, (logp, target), backward,
                           "NllLossBackward0" if smoothing <= 0 else "CrossEntropyLossBackward0",
                           saved=(logp,))


def _nll_rows(logp: Tensor, target: Tensor, red: int, ignore_index: int) -> Tensor:
    """``_nll_node`` for what classification trains with: log-probabilities (N, C) or (C,), class
    indices (N,) or (), no class weights, no smoothing. The same values, by row indexing instead of
    ``take_along_axis``/``put_along_axis`` and masks over a class axis of one (measured, N = 32,
    C = 5: the cross-entropy's forward 64 → 25 µs, forward + backward 124 → 64 µs)."""
    lp = logp._data
    dtype = lp.dtype
    rows2 = lp.reshape(1, -1) if lp.ndim == 1 else lp  # (n, c)
    n, c = rows2.shape
    t = target._data.reshape(n)
    if t.dtype != np.int64:
        t = t.astype(np.int64)
    # as unsigned, a negative index is huge: one reduction finds every target within 0..c-1
    every = n == 0 or (int(t.view(np.uint64).max()) < c and not 0 <= ignore_index < c)
    valid = None
    tc = t
    if not every:  # some target is out of range or ignored
        valid = t != ignore_index
        tc = np.where(valid, t, 0)
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise IndexError(f"Target {t[bad][0]} is out of bounds.")
    rows = np.arange(n)
    picked = rows2[rows, tc]  # (n,): log p of each row's target
    count = dtype.type(n if every else np.count_nonzero(valid))  # 'mean' divides by the targets that count
    with np.errstate(**_QUIET):
        elem = -picked if every else np.where(valid, -picked, dtype.type(0))
        if red == 0:
            out = elem.reshape(target.shape if lp.ndim > 1 else ())
        else:
            out = np.sum(elem, dtype=dtype)
            if red == 1:
                out = out / count if n else dtype.type(np.nan)
    out = np.asarray(out, dtype=dtype)

    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            # (n,) for 'none', else one value that the assignment spreads over the rows
            gi = -np.asarray(g).reshape(n) if red == 0 else -np.asarray(g / count if red == 1 else g)
            grad = np.zeros((n, c), dtype=dtype)
            grad[rows, tc] = gi if every else np.where(valid, gi, dtype.type(0))
        return (grad.reshape(lp.shape), None)

    return autograd.record(out, (logp, target), backward, "NllLossBackward0", saved=(logp,))


def _prob_target_node(logp: Tensor, target: Tensor, weight: Tensor | None, red: int, smoothing: float,
                      class_dim: int, n_classes: int) -> Tensor:
    """``cross_entropy_loss_prob_target``: ``-(logp * target * weight)`` summed over the classes."""
    dtype = result_type(logp, target) if weight is None else result_type(logp, target, weight)
    lp = logp._data.astype(dtype, copy=False)
    tv = target._data.astype(dtype, copy=False)
    if smoothing > 0:
        tv = tv * (1 - smoothing) + smoothing / n_classes
    wb = None
    if weight is not None:
        wb = weight._data.astype(dtype, copy=False)
        if logp.ndim > 1:
            wb = wb.reshape((1, n_classes) + (1,) * (logp.ndim - 2))
    with np.errstate(**_QUIET):
        prod = lp * tv if wb is None else lp * tv * wb
        if red == 0:
            out = -np.sum(prod, axis=class_dim)
        elif red == 2:
            out = -np.sum(prod)
        else:
            count = lp.size // n_classes if n_classes else 0
            out = -np.sum(prod) / count if lp.size else np.asarray(np.nan, dtype=dtype)
    out = np.asarray(out, dtype=dtype)
    count = lp.size // n_classes if n_classes else 0

    def backward(g: np.ndarray) -> tuple:
        with np.errstate(**_QUIET):
            if red == 0:
                gb = np.expand_dims(g, class_dim)
            elif red == 1:
                gb = g / count
            else:
                gb = g
            gb = -np.asarray(gb)
            if wb is not None:
                gb = gb * wb
            g_lp = gb * tv
            g_t = None
            if target.requires_grad:
                g_t = gb * lp
                if smoothing > 0:
                    g_t = g_t * (1 - smoothing)
        return (g_lp, g_t)

    saved = (logp, target)
    return autograd.record(out, (logp, target), backward, "CrossEntropyLossBackward0", saved=saved)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
             ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """The negative log likelihood ``-input[n, target[n]]`` (weighted by ``weight[target[n]]``) for
    log-probabilities ``input`` of shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``."""
    x = _tensor_arg(input, "nll_loss_nd", "input", 1)
    t = _tensor_arg(target, "nll_loss_nd", "target", 2)
    w = None if weight is None else _tensor_arg(weight, "nll_loss_nd", "weight", 3)
    ignore_index = _int_arg(ignore_index, "nll_loss_nd", "ignore_index", 5)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    red = _reduction_enum(reduction)
    if not is_floating(x.dtype):
        if x.ndim >= 1:
            _check_nll(x, t, None)
        raise NotImplementedError(f"\"nll_loss_out_frame\" not implemented for '{_scalar_name(x.dtype)}'")
    _check_nll(x, t, w)
    return _nll_node(x, t, w, red, ignore_index)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average: bool | None = None,
                  ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between ``input`` logits and ``target``, as ``torch.nn.functional.cross_entropy``.

    ``input``: ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``. ``target``: class indices (int64 or uint8)
    of shape ``()``, ``(N,)`` or ``(N, d1, ...)``; or class probabilities of the input's shape.
    ``weight``: one rescaling weight per class. Targets equal to ``ignore_index`` add nothing, and
    ``'mean'`` divides by the summed weight of the targets that count. ``label_smoothing`` in
    ``[0, 1]`` mixes the target with the uniform distribution.
    """
    fname = "cross_entropy_loss"
    x = _tensor_arg(input, fname, "input", 1)
    t = _tensor_arg(target, fname, "target", 2)
    w = None if weight is None else _tensor_arg(weight, fname, "weight", 3)
    ignore_index = _int_arg(ignore_index, fname, "ignore_index", 5)
    label_smoothing = _float_arg(label_smoothing, fname, "label_smoothing", 7)
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    red = _reduction_enum(reduction)
    class_dim = 0 if x.ndim == 1 else 1
    if x.shape == t.shape:
        if not is_floating(t.dtype):
            raise RuntimeError(f"Expected floating point type for target with class probabilities, got "
                               f"{_scalar_name(t.dtype)}")
        if ignore_index >= 0:
            raise RuntimeError("ignore_index is not supported for floating point target")
        if x.ndim == 0:
            raise IndexError("Dimension specified as 1 but tensor has no dimensions")
        n_classes = x.shape[class_dim]
        if w is not None and (w.ndim != 1 or w._data.size != n_classes):
            raise RuntimeError(f"cross_entropy: weight tensor should be defined either for all {n_classes} classes "
                               f"or no classes but got weight tensor of shape: {_sizes(w.shape)}")
        x, d = _softmax_input(x, class_dim, None, "log_softmax")
        if label_smoothing > 0 and label_smoothing > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
        logp = _log_softmax(x, d)
        return _prob_target_node(logp, t, w, red, label_smoothing, class_dim, n_classes)
    if label_smoothing > 0 and label_smoothing > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing:g}")
    x, d = _softmax_input(x, class_dim, None, "log_softmax")
    if not _plain_classes(x, t, w):  # else every check of _check_nll passes
        _check_nll(x, t, w)
    logp = _log_softmax(x, d)
    return _nll_node(logp, t, w, red, ignore_index, label_smoothing if label_smoothing > 0 else 0.0)



# --- embeddings, binary losses, batch norm, channel dropout (the porting additions) ------------

__all__ += ["embedding", "binary_cross_entropy", "binary_cross_entropy_with_logits", "batch_norm", "dropout2d",
            "dropout1d"]


def _index_array(input: Any, fname: str) -> np.ndarray:
    idx = _ops._tensor_mod.to_numpy(input) if not isinstance(input, Tensor) else input._data
    idx = np.asarray(idx)
    if idx.dtype.kind not in "iu":
        raise RuntimeError(
            f"Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; "
            f"but got steprnn.{_SCALAR_NAMES.get(idx.dtype.name, idx.dtype.name)}Tensor instead (while checking "
            f"arguments for {fname}). Hint: convert token ids with .long()"
        )
    return idx


def _embedding_renorm_(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    """Rows of ``weight`` looked up by ``idx`` whose ``norm_type``-norm exceeds ``max_norm`` are
    scaled down to it in place (without a gradient), as ``torch.embedding_renorm_``."""
    rows = np.unique(idx)
    w = weight._data
    norms = np.linalg.norm(w[rows].astype(np.float64), ord=norm_type, axis=1)
    big = norms > max_norm
    if np.any(big):
        scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
        w[rows[big]] *= scale[:, None]
        weight._vc.bump()


def _rows_summed(idx: np.ndarray, g: np.ndarray, n: int) -> np.ndarray:
    """(n, D): row i the sum of the rows of ``g`` (m, D) whose ``idx`` (m,) is i (an embedding's
    gradient), each sum in the order the rows came: one compiled pass for float32/float64
    (``kernels.cpu.row_sums.add_rows``), ``np.add.at`` for other dtypes."""
    out = np.zeros((n, g.shape[1]), dtype=g.dtype)
    if g.dtype not in _KERNEL_DTYPES:
        np.add.at(out, idx, g)
        return out
    from ..kernels.cpu import row_sums  # Numba, at the first backward: not at ``import steprnn``

    row_sums.add_rows(out, idx.astype(np.int64, copy=False), np.ascontiguousarray(g))
    return out


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` (num_embeddings, embedding_dim) picked by the integer ``input`` (any shape):
    the result has shape ``input.shape + (embedding_dim,)``. The gradient adds up into the picked
    rows; the ``padding_idx`` row gets none. ``max_norm`` renormalises the picked rows in place first."""
    idx = _index_array(input, "embedding")
    w = _tensor_arg(weight, "embedding", "weight", 2)
    if w.ndim != 2:
        raise RuntimeError(f"'weight' must be 2-D, got a {w.ndim}-D tensor of shape {_sizes(w.shape)}")
    n = w.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = int(idx.max() if idx.max() >= n else idx.min())
        raise IndexError(f"index out of range in self: embedding index {bad} is not in [0, {n - 1}] "
                         f"(num_embeddings={n})")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += n
    if max_norm is not None:
        _embedding_renorm_(w, idx, float(max_norm), float(norm_type))
    out = w._data[idx]
    shape = w.shape
    counts = np.bincount(idx.reshape(-1), minlength=n) if scale_grad_by_freq else None

    def backward(g: np.ndarray) -> tuple:
        gw = _rows_summed(idx.reshape(-1), g.reshape(-1, shape[1]), shape[0])
        if counts is not None:
            gw /= np.maximum(counts, 1)[:, None].astype(g.dtype)
        if padding_idx is not None:
            gw[padding_idx] = 0
        return (None, gw)

    return autograd.record(out, (input if isinstance(input, Tensor) else None, w), backward,
                           "EmbeddingBackward0")


def _binary_loss_args(input: Any, target: Any, weight: Any, fname: str) -> tuple:
    x = _tensor_arg(input, fname, "input", 1)
    t = _tensor_arg(target, fname, "target", 2)
    if t.shape != x.shape:
        raise ValueError(f"Using a target size ({'steprnn.Size(' + _sizes(t.shape) + ')'}) that is different to "
                         f"the input size ({'steprnn.Size(' + _sizes(x.shape) + ')'}) is deprecated. Please ensure "
                         f"they have the same size.")
    if not is_floating(x.dtype):
        raise RuntimeError(f"{fname}: expected a floating input (probabilities or logits), got "
                           f"{_scalar_name(x.dtype)}")
    w = None if weight is None else _tensor_arg(weight, fname, "weight", 3)
    dtype = x._data.dtype
    wv = None
    if w is not None:
        try:
            wv = np.broadcast_to(w._data.astype(dtype, copy=False), x.shape)
        except ValueError:
            raise _ops._torch_broadcast_error(w.shape, x.shape) from None
    return x, t, wv, dtype


def _reduce_loss(loss: np.ndarray, red: int) -> np.ndarray:
    if red == 0:
        return loss
    if red == 2:
        return np.asarray(loss.sum())
    return np.asarray(loss.mean()) if loss.size else np.asarray(np.nan, dtype=loss.dtype)


def _reduce_grad(g: np.ndarray, shape: tuple, red: int) -> np.ndarray:
    if red == 0:
        return g
    n = int(np.prod(shape)) if red == 1 else 1
    return np.broadcast_to(g / g.dtype.type(n), shape)


def binary_cross_entropy(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                         reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """``-w * (t * log(x) + (1 - t) * log(1 - x))`` for probabilities ``x`` in [0, 1] (each log clamped
    at -100, as PyTorch); ``weight`` broadcasts to the input's shape."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    red = _reduction_enum(reduction)
    x, t, wv, dtype = _binary_loss_args(input, target, weight, "binary_cross_entropy")
    xv, tv = x._data, t._data.astype(dtype, copy=False)
    if np.any((xv < 0) | (xv > 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    with np.errstate(**_QUIET):
        log_x = np.maximum(np.log(xv), dtype.type(-100))
        log_1mx = np.maximum(np.log1p(-xv), dtype.type(-100))
        loss = -(tv * log_x + (1 - tv) * log_1mx)
    if wv is not None:
        loss = loss * wv
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        gl = _reduce_grad(g, shape, red)
        if wv is not None:
            gl = gl * wv
        with np.errstate(**_QUIET):
            gx = gl * (xv - tv) / np.maximum((1 - xv) * xv, dtype.type(np.float32(1e-12)))  # torch's EPSILON, a float
            gt = gl * (np.log1p(-xv) - np.log(xv))  # unclamped, as torch's target gradient
        return gx, gt

    return autograd.record(np.asarray(_reduce_loss(loss, red), dtype=dtype), (x, t), backward,
                           "BinaryCrossEntropyBackward0", saved=(x, t))


def binary_cross_entropy_with_logits(input: Any, target: Any, weight: Any = None, size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Any = None) -> Tensor:
    """``binary_cross_entropy(sigmoid(x), t)`` computed stably from the logits ``x``; ``pos_weight``
    (broadcast over the last dim) weighs the positive term."""
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce)
    red = _reduction_enum(reduction)
    x, t, wv, dtype = _binary_loss_args(input, target, weight, "binary_cross_entropy_with_logits")
    xv, tv = x._data, t._data.astype(dtype, copy=False)
    pw = None
    if pos_weight is not None:
        pw = _tensor_arg(pos_weight, "binary_cross_entropy_with_logits", "pos_weight", 6)._data.astype(dtype)
    with np.errstate(**_QUIET):
        softplus_neg = np.log1p(np.exp(-np.abs(xv))) + np.maximum(-xv, 0)  # log(1 + e^-x)
        lw = 1 if pw is None else (pw - 1) * tv + 1
        loss = (1 - tv) * xv + lw * softplus_neg
    if wv is not None:
        loss = loss * wv
    shape = x.shape

    def backward(g: np.ndarray) -> tuple:
        gl = _reduce_grad(g, shape, red)
        if wv is not None:
            gl = gl * wv
        with np.errstate(**_QUIET):
            sig = _ops._sigmoid(xv)
            gx = gl * ((1 - tv) + lw * (sig - 1))
            gt = gl * (-xv + (0 if pw is None else (pw - 1) * softplus_neg))
        return gx, gt

    return autograd.record(np.asarray(_reduce_loss(loss, red), dtype=dtype), (x, t), backward,
                           "BinaryCrossEntropyWithLogitsBackward0", saved=(x, t))


def batch_norm(input: Any, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1 of ``(N, C)`` or ``(N, C, L)``) by its batch statistics (training)
    or by ``running_mean``/``running_var`` (eval); in training the running statistics are updated in
    place: ``running = (1 - momentum) * running + momentum * batch`` (the variance unbiased)."""
    x = _tensor_arg(input, "batch_norm", "input", 1)
    if x.ndim < 2:
        raise ValueError(f"expected 2D or 3D input (got {x.ndim}D input)")
    axes = (0,) + tuple(range(2, x.ndim))
    bshape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    count = x._data.size // x.shape[1]
    if training:
        if count <= 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                             f"steprnn.Size({_sizes(x.shape)})")
        mean = _ops.mean(x, axes, keepdim=True)
        diff = _ops.sub(x, mean)
        var = _ops.mean(_ops.mul(diff, diff), axes, keepdim=True)
        if running_mean is not None:
            m = x._data.mean(axis=axes)
            v = x._data.var(axis=axes) * (count / (count - 1))
            running_mean._data[...] = (1 - momentum) * running_mean._data + momentum * m
            running_mean._vc.bump()
            if running_var is not None:
                running_var._data[...] = (1 - momentum) * running_var._data + momentum * v
                running_var._vc.bump()
        y = _ops.div(diff, _ops.sqrt(_ops.add(var, eps)))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in eval mode needs running_mean and running_var")
        rm = _ops.result(running_mean._data.reshape(bshape).astype(x._data.dtype), x)  # on x's device
        rv = _ops.result(running_var._data.reshape(bshape).astype(x._data.dtype), x)
        y = _ops.div(_ops.sub(x, rm), _ops.sqrt(_ops.add(rv, eps)))
    if weight is not None:
        y = _ops.mul(y, _ops.reshape(weight, bshape))
    if bias is not None:
        y = _ops.add(y, _ops.reshape(bias, bshape))
    return y


def dropout2d(input: Any, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zero whole channels (dim 1 of ``(N, C, ...)``; dim 0 of an unbatched ``(C, ...)``) with probability
    ``p`` and scale the rest by ``1/(1-p)`` (training only)."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    x = _tensor_arg(input, "dropout2d", "input", 1)
    if not training or p == 0 or x._data.size == 0:
        return x
    if x.ndim < 2:
        raise RuntimeError(f"dropout2d expects a (N, C, ...) or (C, ...) input, got {x.ndim}-D")
    lead = 2 if x.ndim >= 3 else 1
    mshape = x.shape[:lead] + (1,) * (x.ndim - lead)
    if p == 1:
        noise = np.zeros(mshape, dtype=x._data.dtype)
    else:
        keep = _ops.random_values("uniform", mshape, np.dtype(np.float64)) < (1 - p)
        noise = keep.astype(x._data.dtype) / x._data.dtype.type(1 - p)
    mask = _ops.result(noise, x)  # on x's device
    if inplace:
        return _ops.inplace_(x, lambda v: _ops.mul(v, mask), (), True)
    return _ops.mul(x, mask)


dropout1d = dropout2d

"""Creating Tensors, as in ``torch``: ``tensor``, ``as_tensor``, ``from_numpy``, ``zeros``, ``ones``,
``empty``, ``full``, ``arange``, ``rand``, ``randn``, ``randint``, the ``*_like`` variants, ``cat``, ``stack``.

Sizes are given as ints or one tuple/list (``zeros(2, 3)`` or ``zeros((2, 3))``); the default
float dtype is float32. Random values come from steprnn's global generator (``sr.manual_seed``).
"""
from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import ops
from .devices import as_device
from .dtypes import DEFAULT_FLOAT, as_dtype, is_floating, promote_types, scalar_dtype
from .random import default_generator  # noqa: F401
from .random import resolve as resolve_generator
from .tensor import Tensor, to_numpy

__all__ = [
    "arange",
    "as_tensor",
    "cat",
    "empty",
    "from_numpy",
    "full",
    "full_like",
    "is_tensor",
    "ones",
    "ones_like",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "stack",
    "tensor",
    "zeros",
    "zeros_like",
]


def _finish(array: np.ndarray, device: Any, requires_grad: bool) -> Tensor:
    """``array`` as a new Tensor on ``device`` (``'cuda'``: copied to the device, no host copy kept)."""
    if as_device(device).type == "cuda":
        from .cuda_tensor import CudaTensor
        t: Tensor = CudaTensor._from_host(array, upload=True)
    else:
        t = Tensor._make(array)
    t.requires_grad = requires_grad
    return t


def _like_device(input: Any, device: Any) -> Any:
    """``device``, or ``input``'s device when none is given (the ``*_like`` functions)."""
    return device if device is not None or not isinstance(input, Tensor) else input.device


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _infer_dtype(data: Any) -> np.dtype | None:
    """PyTorch's inference: typed values (arrays, tensors, NumPy scalars) keep their dtype;
    Python bools → bool, ints → int64, floats → float32; a sequence promotes over its items."""
    if isinstance(data, Tensor):
        return data.dtype
    if isinstance(data, (np.ndarray, np.generic)):
        return data.dtype
    if _is_torch(data):
        return to_numpy(data).dtype
    if isinstance(data, (bool, numbers.Number)):
        return scalar_dtype(data)
    if isinstance(data, (list, tuple)):
        result = None
        for item in data:
            dt = _infer_dtype(item)
            if dt is not None:
                result = dt if result is None else promote_types(result, dt)
        return result
    raise TypeError(f"Could not infer dtype of {type(data).__name__}")


def tensor(data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """A new Tensor holding a copy of ``data`` (numbers, nested lists, arrays, Tensors), as ``torch.tensor``.

    Without ``dtype``: Python floats → float32, ints → int64, bools → bool; arrays keep their dtype.
    """
    if isinstance(data, Tensor):
        if device is None:
            device = data.device  # torch.tensor(t) stays on t's device
        data = data._host_read() if data.is_cuda else data._data
    elif _is_torch(data):
        data = to_numpy(data)
    if dtype is not None:
        target = as_dtype(dtype)
    else:
        target = _infer_dtype(data)
        if target is None:  # an empty list
            target = DEFAULT_FLOAT
    try:
        array = np.array(data, dtype=target, copy=True)
    except ValueError as err:
        raise ValueError(f"tensor(): could not convert data to a {target.name} array: {err}") from None
    except TypeError as err:
        raise TypeError(f"tensor(): could not convert data of type {type(data).__name__} to a tensor: {err}") from None
    return _finish(array, device, requires_grad)


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """Like :func:`tensor` but shares memory where it can: a Tensor is returned as it is, an
    ndarray of the right dtype is wrapped without copying."""
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=None if dtype is None else as_dtype(dtype))
    if isinstance(data, np.ndarray):
        t = from_numpy(data)
        return t.to(device=device, dtype=None if dtype is None else as_dtype(dtype))
    return tensor(data, dtype=dtype, device=device)


def from_numpy(ndarray: np.ndarray) -> Tensor:
    """A Tensor that shares memory with ``ndarray`` (no copy: writes to either show in both)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(ndarray).__name__})")
    try:
        as_dtype(ndarray.dtype)
    except TypeError:
        raise TypeError(
            f"can't convert np.ndarray of type numpy.{ndarray.dtype.type.__name__}. The only supported types are: "
            "float64, float32, float16, complex64, complex128, int64, int32, int16, int8, uint8, and bool."
        ) from None
    return Tensor._make(ndarray)


def is_tensor(obj: Any) -> bool:
    """Whether ``obj`` is a steprnn Tensor."""
    return isinstance(obj, Tensor)


def _size(size: Sequence[Any], fname: str) -> tuple[int, ...]:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    out = []
    for i, s in enumerate(size):
        if isinstance(s, bool) or not isinstance(s, (int, np.integer, Tensor)):
            raise TypeError(f"{fname}(): argument 'size' must be tuple of ints, but found element of type "
                            f"{type(s).__name__} at pos {i}")
        out.append(int(s.__index__()))
    if any(s < 0 for s in out):
        raise RuntimeError(f"Trying to create tensor with negative dimension {min(out)}: {out}")
    return tuple(out)


def _dtype(dtype: Any) -> np.dtype:
    return DEFAULT_FLOAT if dtype is None else as_dtype(dtype)


def _sized(size: tuple, kw: dict, fname: str) -> tuple[int, ...]:
    # ``zeros(2, 3)``, ``zeros((2, 3))`` or ``zeros(size=(2, 3))``
    if kw:
        unknown = sorted(set(kw) - {"size"})
        if unknown:
            raise TypeError(f"{fname}() got an unexpected keyword argument '{unknown[0]}'")
        if size:
            raise TypeError(f"{fname}() got multiple values for argument 'size'")
        size = (kw["size"],)
    return _size(size, fname)


def zeros(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """A Tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    shape = _sized(size, kw, "zeros")
    return _finish(np.zeros(shape, dtype=_dtype(dtype)), device, requires_grad)


def ones(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """A Tensor of ones: ``ones(2, 3)`` or ``ones((2, 3))``."""
    shape = _sized(size, kw, "ones")
    return _finish(np.ones(shape, dtype=_dtype(dtype)), device, requires_grad)


def empty(*size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False, **kw: Any) -> Tensor:
    """An uninitialised Tensor (zeros here, so results never depend on stale memory)."""
    shape = _sized(size, kw, "empty")
    return _finish(np.zeros(shape, dtype=_dtype(dtype)), device, requires_grad)


def full(size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
         requires_grad: bool = False) -> Tensor:
    """A Tensor of ``size`` filled with ``fill_value`` (dtype inferred from it when not given)."""
    shape = _size((size,), "full")
    if dtype is None:
        dt = _infer_dtype(fill_value.item() if isinstance(fill_value, (Tensor, np.ndarray)) else fill_value)
    else:
        dt = as_dtype(dtype)
    return _finish(np.full(shape, to_numpy(fill_value) if isinstance(fill_value, Tensor) else fill_value,
                           dtype=dt), device, requires_grad)


def arange(start: Any, end: Any = None, step: Any = 1, dtype: Any = None, device: Any = None,
           requires_grad: bool = False) -> Tensor:
    """``arange(end)`` or ``arange(start, end, step)``: int64 when all are ints, else float32."""
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, (Tensor, np.generic)) else v for v in (start, end, step)]
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (values[1] - values[0]) / values[2] < 0:
        raise RuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in values)
        dt = np.dtype(np.int64) if ints else DEFAULT_FLOAT
    else:
        dt = as_dtype(dtype)
    n = int(np.ceil((values[1] - values[0]) / values[2]))
    if dt.kind in "iu" and all(isinstance(v, numbers.Integral) for v in values):
        array = values[0] + values[2] * np.arange(n, dtype=np.int64)
    else:
        array = values[0] + values[2] * np.arange(n, dtype=np.float64)
    return _finish(array.astype(dt), device, requires_grad)


def _random_dtype(dtype: Any, fname: str) -> np.dtype:
    dt = _dtype(dtype)
    if not is_floating(dt):
        raise RuntimeError(f"\"{fname}\" not implemented for '{dt.name}': random values need a float dtype")
    return dt


def _gen(generator: Any) -> Any:
    """The steprnn.Generator to draw from (PyTorch's streams), or a NumPy Generator passed explicitly."""
    if isinstance(generator, np.random.Generator):
        return generator
    return resolve_generator(generator)


def randn(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
          requires_grad: bool = False, **kw: Any) -> Tensor:
    """Standard normal values from steprnn's generator (reproducible under ``sr.manual_seed``)."""
    shape = _sized(size, kw, "randn")
    dt = _random_dtype(dtype, "normal_kernel_cpu")
    draw_dt = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else DEFAULT_FLOAT
    return _finish(_gen(generator).standard_normal(shape, dtype=draw_dt).astype(dt, copy=False),
                   device, requires_grad)


def rand(*size: Any, generator: Any = None, dtype: Any = None, device: Any = None,
         requires_grad: bool = False, **kw: Any) -> Tensor:
    """Uniform values in ``[0, 1)`` from steprnn's generator."""
    shape = _sized(size, kw, "rand")
    dt = _random_dtype(dtype, "uniform_kernel_cpu")
    draw_dt = dt if dt in (np.dtype(np.float32), np.dtype(np.float64)) else DEFAULT_FLOAT
    return _finish(_gen(generator).random(shape, dtype=draw_dt).astype(dt, copy=False), device, requires_grad)


def randint(*args: Any, low: Any = None, high: Any = None, size: Any = None,
            generator: Any = None, dtype: Any = None, device: Any = None,
            requires_grad: bool = False) -> Tensor:
    """Integers uniform in ``[low, high)``: ``randint(high, size)`` or ``randint(low, high, size)``
    (also by keyword; int64 unless ``dtype`` says otherwise), as ``torch.randint``."""
    args = list(args)
    if size is None:
        if not args:
            raise TypeError("randint() missing required argument 'size'")
        size = args.pop()
    if low is not None:
        args.insert(0, low)
    if high is not None:
        args.append(high)
    if low is not None and len(args) == 1:
        raise TypeError("randint() missing required argument 'high'")
    if len(args) == 1:
        low, high = 0, args[0]
    elif len(args) == 2:
        low, high = args
    else:
        raise TypeError("randint() takes (high, size) or (low, high, size)")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise TypeError(f"randint(): argument '{name}' must be int, not {type(v).__name__}")
    if not isinstance(size, (tuple, list)):
        raise TypeError(f"randint(): argument 'size' must be tuple of ints, not {type(size).__name__}")
    shape = _size((size,), "randint")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    dt = np.dtype(np.int64) if dtype is None else as_dtype(dtype)
    values = _gen(generator).integers(int(low), int(high), size=shape, dtype=np.int64)
    return _finish(values.astype(dt, copy=False), device, requires_grad)


def _like(t: Any, dtype: Any) -> tuple[tuple[int, ...], np.dtype]:
    arr = to_numpy(t)
    return arr.shape, (arr.dtype if dtype is None else as_dtype(dtype))


def zeros_like(input: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros with ``input``'s shape (and dtype unless given)."""
    shape, dt = _like(input, dtype)
    return _finish(np.zeros(shape, dtype=dt), _like_device(input, device), requires_grad)


def ones_like(input: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones with ``input``'s shape (and dtype unless given)."""
    shape, dt = _like(input, dtype)
    return _finish(np.ones(shape, dtype=dt), _like_device(input, device), requires_grad)


def full_like(input: Any, fill_value: Any, dtype: Any = None, device: Any = None,
              requires_grad: bool = False) -> Tensor:
    """``fill_value`` everywhere, with ``input``'s shape (and dtype unless given)."""
    shape, dt = _like(input, dtype)
    return _finish(np.full(shape, fill_value, dtype=dt), _like_device(input, device), requires_grad)


def rand_like(input: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Uniform ``[0, 1)`` values with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return rand(shape, dtype=dt, device=_like_device(input, device), requires_grad=requires_grad)


def randn_like(input: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
    """Standard normal values with ``input``'s shape and dtype."""
    shape, dt = _like(input, dtype)
    return randn(shape, dtype=dt, device=_like_device(input, device), requires_grad=requires_grad)


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join tensors along an existing dim (``torch.cat``); differentiable."""
    return ops.cat(tensors, dim)


def stack(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """Join equally shaped tensors along a new dim (``torch.stack``); differentiable."""
    return ops.stack(tensors, dim)

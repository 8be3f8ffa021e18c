"""``Tensor``: a NumPy array (``.data``) with PyTorch's tensor interface and autograd.

Operators and methods compute with NumPy (``ops.py``) and, when grad mode is on and an input
requires grad, record a node of the graph that ``backward()`` walks (``autograd.py``).
Basic indexing, ``view``, ``reshape`` (when possible), ``permute``, ``transpose``, ``squeeze``,
``unsqueeze``, ``expand`` and ``detach`` share memory with their input, as in PyTorch;
``.numpy()`` and ``np.asarray(t)`` return the array itself.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from .devices import CPU, as_device, device
from .dtypes import as_dtype, is_floating, public_dtype
from .size import Size


class Tensor:
    """A NumPy array (``.data``) with PyTorch's tensor interface.

    ``Tensor(array)`` wraps an ndarray without copying. As ``torch.Tensor(...)``, a Python list
    becomes float32; for PyTorch's dtype inference use ``sr.tensor(data)``.
    """

    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator

    # a new tensor's history, read from the class until set on the instance (``_make`` then sets
    # two attributes, not seven: every operation makes one)
    _requires_grad = False
    _grad: Tensor | None = None
    _grad_fn = None
    _output_index = 0
    _base: Tensor | None = None
    _view_base_fn = None

    def __init__(self, data: Any = None, requires_grad: bool = False) -> None:
        if data is None:
            data = np.empty((0,), dtype=np.float32)
        elif isinstance(data, Tensor):
            data = data._host_read().copy() if data.is_cuda else data._data  # Tensor(cuda_tensor): a CPU copy
        elif isinstance(data, (list, tuple)):
            data = np.asarray(data)
            if data.dtype.kind in "biuf" and data.dtype != np.float32:
                data = data.astype(np.float32)
        elif not isinstance(data, np.ndarray):
            data = to_numpy(data)
        self._init(data)
        self.requires_grad = requires_grad

    def _init(self, data: np.ndarray) -> None:
        self._data = data
        self._init_meta()

    def _init_meta(self) -> None:
        """Everything but the values: no history, a fresh version counter."""
        self._requires_grad = False
        self._grad: Tensor | None = None
        self._grad_fn = None
        self._output_index = 0
        self._vc = _autograd.VersionCounter()
        self._base: Tensor | None = None
        self._view_base_fn = None

    @classmethod
    def _make(cls, data: np.ndarray) -> Tensor:
        """A Tensor around ``data`` (an ndarray, not copied), without checks: for operations."""
        t = object.__new__(Tensor)
        t._data = data
        t._vc = _autograd.VersionCounter()  # the rest of _init_meta: the class's defaults
        return t

    def _alias(self, data: np.ndarray | None = None) -> Tensor:
        """A second Tensor object standing for this one's current history (for in-place records)."""
        t = Tensor._make(self._data if data is None else data)
        if data is None:
            t._vc = self._vc
        t._grad_fn = self._grad_fn
        t._output_index = self._output_index
        t._requires_grad = self._requires_grad
        return t

    def _adopt(self, result: Tensor) -> None:
        """Take over ``result``'s history (after an in-place write of ``result``'s values)."""
        self._grad_fn = result._grad_fn
        self._output_index = result._output_index
        self._requires_grad = result._requires_grad

    # --- the array ----------------------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """The same memory as a Tensor without history, as ``torch.Tensor.data``: writes through it
        (``p.data.add_(...)``) change ``self`` and are not seen by autograd. Assignable:
        ``t.data = other`` makes ``t`` hold ``other``'s values. For the NumPy array use ``.numpy()``."""
        return Tensor._make(self._data)

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    @property
    def shape(self) -> Size:
        """The sizes, a :class:`Size` (a tuple that prints as ``steprnn.Size([2, 3])``)."""
        return Size(self._data.shape)

    @property
    def dtype(self) -> Any:
        """The dtype, a :class:`steprnn.dtype` (prints as ``steprnn.float32``; equals ``np.float32``)."""
        return public_dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        """Number of dimensions (as ``dim()``)."""
        return self._data.ndim

    @property
    def device(self) -> device:
        """Where the values live: ``device(type='cpu')`` (prints as ``cpu``)."""
        return CPU

    @property
    def is_cuda(self) -> bool:
        """False: values live on the CPU."""
        return False

    def dim(self) -> int:
        """Number of dimensions."""
        return self._data.ndim

    def size(self, dim: int | None = None) -> Any:
        """The shape (a tuple), or the size of one dim."""
        if dim is None:
            return Size(self._data.shape)
        from .ops import normalize_dim
        if self.ndim == 0:
            raise IndexError("dimension specified as 0 but tensor has no dimensions")
        return self._data.shape[normalize_dim(dim, self.ndim)]

    def numel(self) -> int:
        """Number of elements."""
        return int(self._data.size)

    nelement = numel

    def element_size(self) -> int:
        """Bytes per element."""
        return self._data.itemsize

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __contains__(self, item: Any) -> bool:
        return bool((self == item)._data.any())

    def __hash__(self) -> int:
        return id(self)

    # --- autograd -----------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this tensor record gradients (settable on leaves)."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        value = bool(value)
        if self._grad_fn is not None:
            if value:
                return
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a computed variable "
                "in a subgraph that doesn't require differentiation use var_no_grad = var.detach()."
            )
        if value and not is_floating(self.dtype):
            raise RuntimeError("only Tensors of floating point and complex dtype can require gradients")
        self._requires_grad = value

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place; returns ``self``."""
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        """The accumulated gradient of a leaf (None until a backward reaches it)."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            self._grad = None
            return
        if not isinstance(value, Tensor):
            if isinstance(value, np.ndarray):
                value = self._new(np.array(value, copy=True), False) if self.is_cuda else Tensor._make(value)
            else:
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of type "
                                f"{type(value).__name__}")
        if value.shape != self.shape:
            raise RuntimeError("assigned grad has data of a different size")
        if value.is_cuda != self.is_cuda:
            raise RuntimeError("assigned grad has data located on a different device")
        self._grad = value

    @property
    def _version(self) -> int:
        """How many in-place operations changed this tensor's memory (PyTorch's ``t._version``)."""
        return self._vc.value

    @property
    def grad_fn(self) -> Any:
        """The :class:`~steprnn.autograd.Node` that made this tensor (None for leaves)."""
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        """True unless this tensor is the recorded result of an operation."""
        return self._grad_fn is None

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too during backward."""
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self._grad_fn is not None and all(t is not self for _, t in self._grad_fn._retained):
            self._grad_fn._retained.append((self._output_index, self))

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor."""
        return self._grad_fn is not None and any(t is self for _, t in self._grad_fn._retained)

    def backward(self, gradient: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False) -> None:
        """Accumulate the gradient of this tensor w.r.t. every leaf that requires grad into the leaves'
        ``.grad``. ``gradient`` is required unless this tensor has one element."""
        _autograd.backward(self, gradient, retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> Tensor:
        """The same memory without history (``requires_grad=False``)."""
        t = Tensor._make(self._data)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        """Drop this tensor's history in place."""
        if self._base is not None and self._grad_fn is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._grad_fn = None
        self._output_index = 0
        self._requires_grad = False
        return self

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        """The ndarray itself (no copy). Refused, as PyTorch, when the tensor requires grad,
        unless ``force=True``."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() instead."
            )
        return self._data

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            if dtype is not None and np.dtype(dtype) != self._data.dtype:
                raise ValueError(f"Unable to avoid copy while creating an array as requested: "
                                 f"converting {self._data.dtype} to {np.dtype(dtype)} needs a copy")
            return self._data
        if dtype is not None and np.dtype(dtype) != self._data.dtype:
            return self._data.astype(dtype)
        return self._data.copy() if copy else self._data

    def item(self) -> Any:
        """The single value as a Python number."""
        n = self._data.size
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        return self._data.reshape(()).item()

    def tolist(self) -> Any:
        """Nested Python lists (a number for a 0-d tensor)."""
        return self._data.tolist()

    def _scalar(self, kind: str) -> Any:
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.reshape(()).item()

    def __float__(self) -> float:
        return float(self._scalar("float"))

    def __int__(self) -> int:
        return int(self._scalar("int"))

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iu" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self._data.reshape(()).item())

    def __bool__(self) -> bool:
        n = self._data.size
        if n == 0:
            raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
        if n > 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self._data.item(), spec)
        return format(repr(self), spec)

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """``t.to(sr.float64)``, ``t.to('cuda')``, ``t.to(device, dtype)``, ``t.to(other)``,
        ``t.to(dtype=..., device=..., copy=False)``, as ``torch.Tensor.to``. Returns ``self``
        when nothing changes; a device change is a copy that gradients flow back through. CUDA is
        refused clearly while ``sr.cuda.is_available()`` is False."""
        from .devices import parse_to
        from .ops import to_dtype

        dev, dtype, copy = parse_to(args, kwargs, tensor_type=Tensor)
        result = self
        if dev is not None and dev.type != self.device.type:
            from . import cuda_tensor
            result = cuda_tensor.to_cuda(self) if dev.type == "cuda" else cuda_tensor.to_cpu(self)
        if dtype is not None:
            result = to_dtype(result, as_dtype(dtype), copy=copy and result is self)
        if copy and result is self:
            return self.clone()
        return result

    def cpu(self) -> Tensor:
        """``self`` (values already live on the CPU); a CUDA tensor returns a host copy."""
        return self

    def cuda(self, device: Any = None) -> Tensor:
        """A copy on ``cuda:0`` (differentiable); refused while ``sr.cuda.is_available()`` is False,
        with a message that says why and how to check."""
        as_device("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))
        from . import cuda_tensor
        return cuda_tensor.to_cuda(self)

    def type(self, dtype: Any = None) -> Any:
        """Without an argument the type's name (``'steprnn.FloatTensor'``); with one (a dtype, a legacy
        type such as ``sr.LongTensor``, or its name), ``.to(dtype)``."""
        from .tensor_types import _TensorType, type_name
        if dtype is None:
            return type_name(self._data.dtype)
        if isinstance(dtype, _TensorType):
            dtype = dtype.dtype
        elif isinstance(dtype, str) and dtype.endswith("Tensor"):
            from . import tensor_types
            found = getattr(tensor_types, dtype.rsplit(".", 1)[-1], None)
            if not isinstance(found, _TensorType):
                raise ValueError(f"invalid type: '{dtype}'")
            dtype = found.dtype
        return self.to(dtype)

    def float(self) -> Tensor:
        """``self`` as float32."""
        return self.to(np.dtype("float32"))

    def double(self) -> Tensor:
        """``self`` as float64."""
        return self.to(np.dtype("float64"))

    def half(self) -> Tensor:
        """``self`` as float16."""
        return self.to(np.dtype("float16"))

    def long(self) -> Tensor:
        """``self`` as int64."""
        return self.to(np.dtype("int64"))

    def int(self) -> Tensor:
        """``self`` as int32."""
        return self.to(np.dtype("int32"))

    def bool(self) -> Tensor:
        """``self`` as bool."""
        return self.to(np.dtype("bool"))

    def clone(self) -> Tensor:
        """A copy with its own memory; gradients flow back to ``self``."""
        return _ops.clone(self)

    def contiguous(self) -> Tensor:
        """``self`` when C-contiguous, else a contiguous copy."""
        return _ops.contiguous(self)

    def is_contiguous(self) -> bool:
        """Whether the array is C-contiguous."""
        return bool(self._data.flags.c_contiguous)

    # --- printing and pickling ----------------------------------------------------------------
    def __repr__(self) -> str:
        from .printing import array_repr
        name = self._grad_fn.name() if self._grad_fn is not None else None
        return array_repr(self._data, self._requires_grad, name)

    __str__ = __repr__

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_grad_fn", "_vc", "_base", "_view_base_fn", "_output_index")}
        return state

    def __setstate__(self, state: dict) -> None:
        self._init(state.pop("_data"))
        self.__dict__.update(state)

    def __deepcopy__(self, memo: dict) -> Tensor:
        if self._grad_fn is not None:
            raise RuntimeError("Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                               "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                               "because of a torch.nn.utils.weight_norm usage, see "
                               "https://github.com/pytorch/pytorch/pull/103001")
        import copy
        new = object.__new__(type(self))
        memo[id(self)] = new
        state = self.__getstate__()
        state["_data"] = self._data.copy()
        state = {k: (v if k == "_data" else copy.deepcopy(v, memo)) for k, v in state.items()}
        new.__setstate__(state)
        return new

    # --- operators ----------------------------------------------------------------------------
    def __add__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.add(self, o)

    def __radd__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.add(o, self)

    def __sub__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.sub(self, o)

    def __rsub__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.sub(o, self)

    def __mul__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.mul(self, o)

    def __rmul__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.mul(o, self)

    def __truediv__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.div(self, o)

    def __rtruediv__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.div(o, self)

    def __floordiv__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.floor_divide(self, o)

    def __rfloordiv__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.floor_divide(o, self)

    def __mod__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.remainder(self, o)

    def __rmod__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.remainder(o, self)

    def __pow__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.pow(self, o)

    def __rpow__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.pow(o, self)

    def __matmul__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.matmul(self, o)

    def __rmatmul__(self, other: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.matmul(o, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return _ops.abs(self)

    def __invert__(self) -> Tensor:
        if self.dtype.kind not in "biu":
            raise TypeError("~ (bitwise_not) needs a bool or integer tensor")
        return _ops.result(np.invert(self._data), self)

    def _compare(self, other: Any, op: Any) -> Any:
        o = _ops.as_operand(other)
        return NotImplemented if o is NotImplemented else _ops.compare(self, o, op)

    def __eq__(self, other: object) -> Any:  # type: ignore[override]
        return self._compare(other, np.equal)

    def __ne__(self, other: object) -> Any:  # type: ignore[override]
        return self._compare(other, np.not_equal)

    def __lt__(self, other: Any) -> Any:
        return self._compare(other, np.less)

    def __le__(self, other: Any) -> Any:
        return self._compare(other, np.less_equal)

    def __gt__(self, other: Any) -> Any:
        return self._compare(other, np.greater)

    def __ge__(self, other: Any) -> Any:
        return self._compare(other, np.greater_equal)

    def _logical(self, other: Any, op: Any, name: str, reflected: bool = False) -> Any:
        o = _ops.as_operand(other)
        if o is NotImplemented:
            return NotImplemented
        return _ops.logical(o, self, op, name) if reflected else _ops.logical(self, o, op, name)

    def __and__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_and, "bitwise_and")

    def __rand__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_and, "bitwise_and", True)

    def __or__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_or, "bitwise_or")

    def __ror__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_or, "bitwise_or", True)

    def __xor__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_xor, "bitwise_xor")

    def __rxor__(self, other: Any) -> Any:
        return self._logical(other, np.bitwise_xor, "bitwise_xor", True)

    # in-place operators: ``x += y`` changes x's memory (and history), as in PyTorch
    def _inplace(self, other: Any, fn: Any, needs_old_values: bool = False) -> Any:
        o = _ops.as_operand(other)
        if o is NotImplemented:
            return NotImplemented
        return _ops.inplace_(self, lambda x: fn(x, o), (o,), needs_old_values)

    def __iadd__(self, other: Any) -> Any:
        return self._inplace(other, _ops.add)

    def __isub__(self, other: Any) -> Any:
        return self._inplace(other, _ops.sub)

    def __imul__(self, other: Any) -> Any:
        return self._inplace(other, _ops.mul, True)

    def __itruediv__(self, other: Any) -> Any:
        return self._inplace(other, _ops.div, True)

    def add_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self += alpha * other`` in place."""
        return self._inplace(other, lambda x, o: _ops.add(x, o, alpha=alpha))

    def sub_(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self -= alpha * other`` in place."""
        return self._inplace(other, lambda x, o: _ops.sub(x, o, alpha=alpha))

    def mul_(self, other: Any) -> Tensor:
        """``self *= other`` in place."""
        return self._inplace(other, _ops.mul, True)

    def div_(self, other: Any) -> Tensor:
        """``self /= other`` in place."""
        return self._inplace(other, _ops.div, True)

    def zero_(self) -> Tensor:
        """Fill with zeros in place."""
        return self.fill_(0)

    def fill_(self, value: Any) -> Tensor:
        """Fill with ``value`` in place (a number or a one-element tensor)."""
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise RuntimeError(f"fill_ only supports 0-dimension value tensor but got tensor with "
                                   f"{value.ndim} dimensions.")
            return self.copy_(value)
        filled = np.full(self.shape, value, dtype=self.dtype)
        return _ops.inplace_(self, lambda x: _ops.autograd.record(filled, (x,), lambda g: (None,), "FillBackward0"))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast, cast to this dtype) into this tensor in place."""
        o = _ops.as_operand(src)
        if o is NotImplemented:
            o = Tensor._make(np.asarray(src))
        if not isinstance(o, Tensor):
            o = Tensor._make(np.asarray(o, dtype=self.dtype))
        if o.is_cuda != self.is_cuda:  # copy_ moves values between devices, as in PyTorch
            from . import cuda_tensor
            o = cuda_tensor.to_cuda(o) if self.is_cuda else cuda_tensor.to_cpu(o)
        shape, dtype = self.shape, self.dtype

        def compute(x: Tensor) -> Tensor:
            try:
                values = np.broadcast_to(o._data, shape).astype(dtype)
            except ValueError:
                raise RuntimeError(f"The size of tensor a ({shape[-1] if shape else 1}) must match the size of "
                                   f"tensor b ({o.shape[-1] if o.shape else 1}): cannot copy a tensor of shape "
                                   f"{list(o.shape)} into one of shape {list(shape)}") from None
            src_shape = o.shape
            return _ops.autograd.record(values, (x, o), lambda g: (None, _ops.unbroadcast(g, src_shape)),
                                        "CopyBackwards")
        return _ops.inplace_(self, compute, (o,))

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        """Clip to ``[min, max]`` in place."""
        return _ops.inplace_(self, lambda x: _ops.clamp(x, min, max), (), True)

    # --- indexing -----------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> Tensor:
        return _ops.getitem(self, key)

    def __setitem__(self, key: Any, value: Any) -> None:
        _ops.setitem_(self, key, value)

    # --- methods ------------------------------------------------------------------------------
    def add(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self + alpha * other``."""
        return _ops.add(self, _operand(other), alpha=alpha)

    def sub(self, other: Any, alpha: Any = 1) -> Tensor:
        """``self - alpha * other``."""
        return _ops.sub(self, _operand(other), alpha=alpha)

    def mul(self, other: Any) -> Tensor:
        """``self * other``."""
        return _ops.mul(self, _operand(other))

    def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        """``self / other``; ``rounding_mode='floor'`` or ``'trunc'`` rounds."""
        return _ops.div(self, _operand(other), rounding_mode=rounding_mode)

    def pow(self, exponent: Any) -> Tensor:
        """``self ** exponent``."""
        return _ops.pow(self, _operand(exponent))

    def matmul(self, other: Any) -> Tensor:
        """``self @ other``."""
        return _ops.matmul(self, _operand(other))

    mm = matmul

    def neg(self) -> Tensor:
        """``-self``."""
        return _ops.neg(self)

    def exp(self) -> Tensor:
        """Elementwise e**x."""
        return _ops.exp(self)

    def log(self) -> Tensor:
        """Elementwise natural logarithm."""
        return _ops.log(self)

    def tanh(self) -> Tensor:
        """Elementwise hyperbolic tangent."""
        return _ops.tanh(self)

    def sigmoid(self) -> Tensor:
        """Elementwise 1 / (1 + e**-x), computed without overflow."""
        return _ops.sigmoid(self)

    def relu(self) -> Tensor:
        """Elementwise max(x, 0)."""
        return _ops.relu(self)

    def abs(self) -> Tensor:
        """Elementwise absolute value."""
        return _ops.abs(self)

    def round(self, decimals: int = 0) -> Tensor:
        """Round half to even (gradient zero)."""
        return _ops.round(self, decimals)

    def floor(self) -> Tensor:
        """Round down (gradient zero)."""
        return _ops.floor(self)

    def ceil(self) -> Tensor:
        """Round up (gradient zero)."""
        return _ops.ceil(self)

    def sign(self) -> Tensor:
        """-1, 0 or 1 by sign (gradient zero)."""
        return _ops.sign(self)

    def log1p(self) -> Tensor:
        """log(1 + x)."""
        return _ops.log1p(self)

    def sqrt(self) -> Tensor:
        """Elementwise square root."""
        return _ops.sqrt(self)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        """Clip to ``[min, max]``."""
        return _ops.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        """Elementwise maximum (ties split the gradient)."""
        return _ops.maximum(self, _operand(other))

    def minimum(self, other: Any) -> Tensor:
        """Elementwise minimum (ties split the gradient)."""
        return _ops.minimum(self, _operand(other))

    def sum(self, dim: Any = None, keepdim: bool = False, dtype: Any = None, **numpy_kw: Any) -> Tensor:
        """Sum over ``dim`` (int or tuple; all dims when None); ``np.sum(t)`` works too."""
        dim, keepdim = _numpy_reduction_args(dim, keepdim, numpy_kw, "sum")
        return _ops.sum(self, dim, keepdim, None if dtype is None else as_dtype(dtype))

    def mean(self, dim: Any = None, keepdim: bool = False, dtype: Any = None, **numpy_kw: Any) -> Tensor:
        """Mean over ``dim`` (int or tuple; all dims when None); ``np.mean(t)`` works too."""
        dim, keepdim = _numpy_reduction_args(dim, keepdim, numpy_kw, "mean")
        return _ops.mean(self, dim, keepdim, None if dtype is None else as_dtype(dtype))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """``t.max()``: the largest value; ``t.max(dim)``: ``(values, indices)``; ``t.max(other)``: elementwise."""
        return _ops.max(self, dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """``t.min()``: the smallest value; ``t.min(dim)``: ``(values, indices)``; ``t.min(other)``: elementwise."""
        return _ops.min(self, dim, keepdim)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Index of the largest value (in the flattened tensor when ``dim`` is None)."""
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> Tensor:
        """Index of the smallest value (in the flattened tensor when ``dim`` is None)."""
        return _ops.argmin(self, dim, keepdim)

    def view(self, *shape: Any) -> Tensor:
        """The same memory in a new shape (``-1`` inferred); fails when the strides do not allow it."""
        if len(shape) == 1 and not isinstance(shape[0], (tuple, list, numbers.Integral)):
            # t.view(dtype): the same bytes read as another dtype (no gradient)
            return _ops.result(self._data.view(as_dtype(shape[0])), self)
        return _ops.view(self, *shape)

    def reshape(self, *shape: Any) -> Tensor:
        """Same values in a new shape (``-1`` inferred); a view when possible."""
        return _ops.reshape(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        """``self.view(other.shape)``."""
        return _ops.view(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        """``self.reshape(other.shape)``."""
        return _ops.reshape(self, other.shape)

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge dims ``start_dim..end_dim`` into one."""
        return _ops.flatten(self, start_dim, end_dim)

    def squeeze(self, dim: Any = None) -> Tensor:
        """Drop size-1 dims (all, or ``dim``)."""
        return _ops.squeeze(self, dim)

    def unsqueeze(self, dim: int) -> Tensor:
        """Insert a size-1 dim at ``dim``."""
        return _ops.unsqueeze(self, dim)

    def permute(self, *dims: Any) -> Tensor:
        """Reorder dims: ``t.permute(1, 0, 2)`` or ``t.permute((1, 0, 2))``."""
        return _ops.permute(self, *dims)

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims."""
        return _ops.transpose(self, dim0, dim1)

    def t(self) -> Tensor:
        """Transpose of a tensor with at most 2 dims."""
        return _ops.t(self)

    @property
    def T(self) -> Tensor:
        """All dims reversed."""
        return _ops.permute(self, *reversed(range(self.ndim)))

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to ``sizes`` without copying (``-1`` keeps a dim)."""
        return _ops.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        """``self.expand(other.shape)``."""
        return _ops.expand(self, other.shape)

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """Split into ``chunks`` pieces along ``dim`` (the last may be smaller), as ``torch.chunk``."""
        from .ops import normalize_dim
        d = normalize_dim(dim, self.ndim)
        size = -(-self.shape[d] // chunks) if self.shape[d] else 0
        return self.split(max(size, 1), d)

    def split(self, split_size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces of ``split_size`` along ``dim`` (or of the sizes in a list), as ``torch.split``."""
        from .ops import normalize_dim
        d = normalize_dim(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size, (list, tuple)):
            if sum(split_size) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                                   f"at dimension {d}), but got split_sizes={list(split_size)}")
            sizes = list(split_size)
        else:
            sizes = [split_size] * (n // split_size) + ([n % split_size] if n % split_size else [])
        out, start = [], 0
        for s in sizes:
            key = (slice(None),) * d + (slice(start, start + s),)
            out.append(self[key])
            start += s
        return tuple(out)

    def unbind(self, dim: int = 0) -> tuple[Tensor, ...]:
        """The slices along ``dim``."""
        from .ops import normalize_dim
        d = normalize_dim(dim, self.ndim)
        return tuple(self[(slice(None),) * d + (i,)] for i in range(self.shape[d]))

    # --- selection, comparison and reductions (torch's names) ----------------------------------
    def sort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
        """``(values, indices)`` sorted along ``dim`` (ties keep their order, NaN sorts as largest)."""
        return _ops.sort(self, dim, descending, stable)

    def argsort(self, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
        """The indices that sort ``self`` along ``dim``."""
        return _ops.argsort(self, dim, descending, stable)

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
        """``(values, indices)`` of the ``k`` largest (or smallest) values along ``dim``."""
        return _ops.topk(self, k, dim, largest, sorted)

    def narrow(self, dim: int, start: Any, length: int) -> Tensor:
        """The view of ``length`` entries from ``start`` along ``dim``."""
        return _ops.narrow(self, dim, start, length)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """A copy with ``value`` where ``mask`` is True."""
        return _ops.masked_fill(self, mask, value)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        """Write ``value`` where ``mask`` is True, in place."""
        return _ops.inplace_(self, lambda x: _ops.masked_fill(x, mask, value))

    def gather(self, dim: int, index: Any) -> Tensor:
        """Values picked along ``dim`` by ``index`` (as ``torch.gather``)."""
        return _ops.gather(self, dim, index)

    def index_select(self, dim: int, index: Any) -> Tensor:
        """The slices at ``index`` along ``dim``."""
        return _ops.index_select(self, dim, index)

    def repeat(self, *sizes: Any) -> Tensor:
        """Tile ``self`` along each dim."""
        return _ops.repeat(self, *sizes)

    def any(self, dim: Any = None, keepdim: bool = False, **numpy_kw: Any) -> Tensor:
        """Whether any element is non-zero (along ``dim``); ``np.any(t)`` works too."""
        dim, keepdim = _numpy_reduction_args(dim, keepdim, numpy_kw, "any")
        return _ops.any_(self, dim, keepdim)

    def all(self, dim: Any = None, keepdim: bool = False, **numpy_kw: Any) -> Tensor:
        """Whether every element is non-zero (along ``dim``); ``np.all(t)`` works too."""
        dim, keepdim = _numpy_reduction_args(dim, keepdim, numpy_kw, "all")
        return _ops.all_(self, dim, keepdim)

    def var(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
        """Variance over ``dim`` (Bessel-corrected unless ``unbiased=False``/``correction=0``)."""
        return _ops.var(self, dim, unbiased, keepdim, correction)

    def std(self, dim: Any = None, unbiased: Any = None, keepdim: bool = False, correction: Any = None) -> Tensor:
        """Standard deviation over ``dim``."""
        return _ops.std(self, dim, unbiased, keepdim, correction)

    def cumsum(self, dim: int) -> Tensor:
        """Running sums along ``dim``."""
        return _ops.cumsum(self, dim)

    def norm(self, p: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        """The ``p``-norm over ``dim`` (all elements by default)."""
        return _ops.norm(self, p, dim, keepdim)

    def softmax(self, dim: int) -> Tensor:
        """``F.softmax(self, dim)``."""
        from .nn import functional as F
        return F.softmax(self, dim)

    def log_softmax(self, dim: int) -> Tensor:
        """``F.log_softmax(self, dim)``."""
        from .nn import functional as F
        return F.log_softmax(self, dim)

    def eq(self, other: Any) -> Tensor:
        """``self == other`` elementwise (a bool Tensor)."""
        return _ops.compare(self, _operand(other), np.equal)

    def ne(self, other: Any) -> Tensor:
        """``self != other`` elementwise."""
        return _ops.compare(self, _operand(other), np.not_equal)

    def lt(self, other: Any) -> Tensor:
        """``self < other`` elementwise."""
        return _ops.compare(self, _operand(other), np.less)

    def le(self, other: Any) -> Tensor:
        """``self <= other`` elementwise."""
        return _ops.compare(self, _operand(other), np.less_equal)

    def gt(self, other: Any) -> Tensor:
        """``self > other`` elementwise."""
        return _ops.compare(self, _operand(other), np.greater)

    def ge(self, other: Any) -> Tensor:
        """``self >= other`` elementwise."""
        return _ops.compare(self, _operand(other), np.greater_equal)

    def equal(self, other: Any) -> bool:
        """True when ``other`` has the same shape and values."""
        o = _operand(other)
        return isinstance(o, Tensor) and o.shape == self.shape and bool(np.array_equal(self._data, o._data))

    def allclose(self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
        """``np.allclose`` on the values."""
        return bool(np.allclose(self._data, to_numpy(other), rtol=rtol, atol=atol, equal_nan=equal_nan))

    # --- new tensors like this one ---------------------------------------------------------------
    def _new(self, array: np.ndarray, requires_grad: bool, device: Any = None) -> Tensor:
        """A new tensor around ``array`` on ``device`` (default: this tensor's device)."""
        dev = self.device if device is None else as_device(device)
        if dev.type == "cuda":
            from .cuda_tensor import CudaTensor
            t: Tensor = CudaTensor._from_host(array)
        else:
            t = Tensor._make(array)
        t.requires_grad = requires_grad
        return t

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Zeros of ``size`` with this tensor's dtype (unless given)."""
        from .creation import _size
        dt = as_dtype(self.dtype if dtype is None else dtype)
        return self._new(np.zeros(_size(size, "new_zeros"), dtype=dt), requires_grad, device)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """Ones of ``size`` with this tensor's dtype (unless given)."""
        from .creation import _size
        dt = as_dtype(self.dtype if dtype is None else dtype)
        return self._new(np.ones(_size(size, "new_ones"), dtype=dt), requires_grad, device)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """As :meth:`new_zeros` (steprnn never hands out uninitialised memory)."""
        return self.new_zeros(*size, dtype=dtype, device=device, requires_grad=requires_grad)

    def new_full(self, size: Any, fill_value: Any, dtype: Any = None, device: Any = None,
                 requires_grad: bool = False) -> Tensor:
        """``fill_value`` everywhere, with this tensor's dtype (unless given)."""
        from .creation import _size
        dt = as_dtype(self.dtype if dtype is None else dtype)
        return self._new(np.full(_size((size,), "new_full"), fill_value, dtype=dt), requires_grad, device)

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None, requires_grad: bool = False) -> Tensor:
        """A copy of ``data`` with this tensor's dtype (unless given), as ``torch.Tensor.new_tensor``."""
        from .creation import tensor
        return tensor(data, dtype=self.dtype if dtype is None else dtype, device=self.device if device is None
                      else device, requires_grad=requires_grad)

    # --- more in-place operations ----------------------------------------------------------------
    def _shape_inplace(self, result: Tensor) -> Tensor:
        if _ops.autograd.is_grad_enabled() and self._requires_grad:
            _ops._check_inplace(self)
            self._adopt(result)
        self._data = result._data
        self._vc.bump()
        return self

    def unsqueeze_(self, dim: int) -> Tensor:
        """Insert a size-1 dim at ``dim``, in place."""
        return self._shape_inplace(_ops.unsqueeze(self._alias(), dim))

    def squeeze_(self, dim: Any = None) -> Tensor:
        """Drop size-1 dims, in place."""
        return self._shape_inplace(_ops.squeeze(self._alias(), dim))

    def t_(self) -> Tensor:
        """Transpose a tensor of at most 2 dims, in place."""
        return self._shape_inplace(_ops.t(self._alias()))

    def transpose_(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dims, in place."""
        return self._shape_inplace(_ops.transpose(self._alias(), dim0, dim1))

    def normal_(self, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
        """Fill with N(mean, std²) draws from steprnn's generator, in place."""
        return self._fill_random("normal", mean, std, generator, "normal_kernel_cpu")

    def uniform_(self, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
        """Fill with U(a, b) draws from steprnn's generator, in place."""
        if a > b:
            raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}")
        return self._fill_random("uniform", a, b, generator, "uniform_kernel_cpu")

    def _fill_random(self, kind: str, low: float, high: float, generator: Any, kernel: str) -> Tensor:
        if not is_floating(self._data.dtype):
            raise RuntimeError(f"\"{kernel}\" not implemented for '{self._data.dtype.name}': random values "
                               "need a float tensor")
        values = _ops.random_values(kind, self.shape, self._data.dtype, generator, low, high)
        return _ops.inplace_(self, lambda x: _ops.autograd.record(values, (x,), lambda g: (None,),
                                                                  "NormalBackward0" if kind == "normal"
                                                                  else "UniformBackward0"))

    def exp_(self) -> Tensor:
        """e**x in place."""
        return _ops.inplace_(self, _ops.exp, (), True)

    def tanh_(self) -> Tensor:
        """tanh in place."""
        return _ops.inplace_(self, _ops.tanh, (), True)

    def sigmoid_(self) -> Tensor:
        """The logistic function in place."""
        return _ops.inplace_(self, _ops.sigmoid, (), True)

    def relu_(self) -> Tensor:
        """max(x, 0) in place."""
        return _ops.inplace_(self, _ops.relu, (), True)

    def pow_(self, exponent: Any) -> Tensor:
        """``self **= exponent`` in place."""
        return self._inplace(exponent, _ops.pow, True)

    def neg_(self) -> Tensor:
        """``-self`` in place."""
        return _ops.inplace_(self, _ops.neg)

    def addcmul_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        """``self += value * tensor1 * tensor2`` in place."""
        return self.add_(_ops.mul(_operand(tensor1), _operand(tensor2)), alpha=value)

    def addcdiv_(self, tensor1: Any, tensor2: Any, value: Any = 1) -> Tensor:
        """``self += value * tensor1 / tensor2`` in place."""
        return self.add_(_ops.div(_operand(tensor1), _operand(tensor2)), alpha=value)

    # --- a clear word for what steprnn leaves out --------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")
        raise AttributeError(
            f"'{type(self).__name__}' object has no attribute '{name}': steprnn implements the Tensor methods "
            f"that recurrent models and their tutorials use, and '{name}' is not one of them. Convert with "
            f"t.detach().numpy() to use NumPy, or see dir(steprnn.Tensor) for what is there."
        )


def _numpy_reduction_args(dim: Any, keepdim: bool, numpy_kw: dict, fname: str) -> tuple[Any, bool]:
    """Accept NumPy's spelling (``axis=``, ``keepdims=``, ``out=None``), so that ``np.sum(t)``,
    ``np.all(t)`` (which call these methods) work, as they do on torch tensors."""
    if "axis" in numpy_kw:
        axis = numpy_kw.pop("axis")
        dim = axis if axis is not None else dim
    if "keepdims" in numpy_kw:
        keepdim = bool(numpy_kw.pop("keepdims"))
    if numpy_kw.pop("out", None) is not None:
        raise TypeError(f"{fname}(): out= is not supported by steprnn")
    if numpy_kw:
        raise TypeError(f"{fname}() got an unexpected keyword argument '{next(iter(numpy_kw))}'")
    return dim, keepdim


def _operand(x: Any) -> Any:
    o = _ops.as_operand(x)
    if o is NotImplemented:
        raise TypeError(f"expected a Tensor, an array or a number, got {type(x).__name__}")
    return o


def to_numpy(x: Any) -> np.ndarray:
    """The NumPy array behind ``x``: a Tensor's data, a torch tensor's values, or ``np.asarray(x)``."""
    if isinstance(x, Tensor):
        return x._data
    if type(x).__module__.startswith("torch"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


from . import ops as _ops


from . import autograd as _autograd  # noqa: E402  (autograd imports this module; _init is hot)

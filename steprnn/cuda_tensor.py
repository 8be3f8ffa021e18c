"""``CudaTensor``: a Tensor whose values live on a CUDA device (a ``numba.cuda`` device array).

Where the values are
--------------------
A CUDA tensor's values sit in a *storage* shared by all its views (``t[0]``, ``t.view(...)``,
``t.data``, ``t.detach()``): a device array and, only while someone asked for one, a host copy
of the same layout. One flag per side says whether that side holds the current values:

* ``t._device_array()`` (for kernels) returns a C-contiguous device array of the values; it
  uploads the host copy first if the host copy is the newer one, and copies nothing otherwise.
* ``t._data`` (for operations that run on the host: arithmetic, matmul, indexing, reductions,
  ``Linear``, losses, optimizer steps) returns the host values, downloading them first if the
  device holds the newer ones. The caller may write into that array, so afterwards the device
  copy counts as stale and is re-uploaded on the next ``_device_array()``. Neither side is ever
  read while stale.
* ``t._data = array`` rebinds ``t`` to new values (a view of its own storage when ``array`` is
  one, else a new storage), as assigning ``_data`` does for a CPU tensor.
* A kernel that wrote into ``t._device_array()`` calls ``t._device_written()``.
* ``t._generation()``: a number that changes whenever the values may have changed without
  ``_version`` saying so: the host copy handed out for writing (``t._data``), a rebind, a kernel's
  write (``_device_written``). Unique across storages, so a cache of arrays derived from ``t``
  (e.g. transposed weights) stays valid exactly while ``(t._generation(), t._version)`` is unchanged.
  Call ``_device_array()`` on every use rather than keeping its result across calls.

Metadata (``shape``, ``dtype``, ``ndim``, ``size()``, ``numel()``, ``dim()``, ``len``) never
transfers anything. ``.numpy()`` and ``np.asarray(t)`` refuse, as PyTorch, and point to ``.cpu()``.

Operations
----------
Operations without a CUDA kernel run on the host copy and return CUDA tensors (see
``autograd.record``): the result of an operation whose inputs include a CUDA tensor is a CUDA
tensor; an operation that mixes a CUDA tensor with a CPU tensor of one or more dimensions raises
PyTorch's ``Expected all tensors to be on the same device`` error (0-d CPU tensors, Python
numbers and NumPy scalars mix freely, as in PyTorch). Results start with their host copy only and
are uploaded when a kernel first asks (``_device_array()``).

``numba.cuda`` is imported only when a CUDA tensor is made; without numba-cuda the request is
refused with ``pip install 'steprnn[gpu]'`` (``steprnn.devices``).
"""
from __future__ import annotations

from itertools import count
from typing import Any

import numpy as np

from . import autograd
from .devices import CUDA0, require_cuda
from .dtypes import public_dtype
from .size import Size
from .tensor import Tensor

__all__ = ["CudaTensor", "is_cuda", "is_device_array", "device_values", "host_values", "to_cuda", "to_cpu",
           "check_same_device", "same_device_error"]


def is_cuda(x: Any) -> bool:
    """Whether ``x`` is a Tensor whose values live on a CUDA device."""
    return isinstance(x, CudaTensor)


def is_device_array(x: Any) -> bool:
    """Whether ``x`` is a ``numba.cuda`` device array (the simulator's fake one too)."""
    return not isinstance(x, np.ndarray) and hasattr(x, "copy_to_host") and hasattr(x, "shape")


def same_device_error(first: Any, second: Any) -> RuntimeError:
    """PyTorch's error for one operation on tensors of two devices."""
    return RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                        f"{first} and {second}!")


def check_same_device(tensors: Any) -> Any:
    """The first CUDA tensor among ``tensors`` (None when there is none); raises PyTorch's error when
    a CUDA tensor meets a CPU tensor of one or more dims (0-d CPU tensors mix, as in PyTorch)."""
    cuda = None
    cpu = None
    for t in tensors:
        if isinstance(t, CudaTensor):
            if cuda is None:
                cuda = t
            if cpu is not None:
                raise same_device_error("cpu", CUDA0)
        elif isinstance(t, Tensor) and t._data.ndim:
            if cpu is None:
                cpu = t
            if cuda is not None:
                raise same_device_error(CUDA0, "cpu")
    return cuda


def _c_strides(shape: tuple, itemsize: int) -> tuple:
    strides = []
    step = itemsize
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


def _c_array(a: Any, dtype: Any = None) -> np.ndarray:
    """``a`` as a C-contiguous ndarray (a copy only when needed), 0-d staying 0-d (unlike
    ``np.ascontiguousarray``, which makes it 1-d)."""
    a = np.asarray(a, dtype=dtype)
    return a if a.flags.c_contiguous else np.array(a, order="C", copy=True)


def _address(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


_GENERATIONS = count(1)  # one sequence for every storage: a generation never repeats across storages


class _Storage:
    """The memory behind a CUDA tensor and its views: a C-contiguous device array and, while
    someone asked for it, a host array of the same shape; ``host_ok``/``dev_ok``: which side holds
    the current values (at least one does); ``gen``: a new number after anything that may have
    changed the values behind ``_version``'s back (see ``CudaTensor._generation``)."""

    __slots__ = ("dev", "dev_ok", "dtype", "gen", "host", "host_ok", "shape")

    def __init__(self, host: np.ndarray | None, dev: Any) -> None:
        self.gen = next(_GENERATIONS)
        self.host = host
        self.dev = dev
        self.host_ok = host is not None
        self.dev_ok = dev is not None
        src = host if host is not None else dev
        self.shape = tuple(src.shape)
        self.dtype = np.dtype(src.dtype)

    def host_array(self) -> np.ndarray:
        """The host array with the current values (downloaded if the device had the newer ones)."""
        if not self.host_ok:
            if self.host is None:
                self.host = np.empty(self.shape, self.dtype)
            if self.host.size:
                self.dev.copy_to_host(self.host)
            self.host_ok = True
        return self.host

    def device_array(self) -> Any:
        """The device array with the current values (uploaded if the host had the newer ones)."""
        if not self.dev_ok:
            cuda = require_cuda()
            if self.dev is None:
                self.dev = cuda.to_device(self.host)
            elif self.host.size:
                self.dev.copy_to_device(self.host)
            self.dev_ok = True
        return self.dev


class CudaTensor(Tensor):
    """A Tensor on ``cuda:0``: see the module docstring for where its values live.

    Made by ``.to('cuda')`` / ``.cuda()``, ``device='cuda'`` on creation functions, operations on
    CUDA tensors, and ``CudaTensor._from_device(device_array)`` (kernels' outputs, no copy).
    """

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def _new_storage(cls, storage: _Storage) -> CudaTensor:
        t = object.__new__(cls)
        t._init_meta()
        t._set_view(storage, 0, storage.shape, _c_strides(storage.shape, storage.dtype.itemsize))
        return t

    def _set_view(self, storage: _Storage, offset: int, shape: tuple, strides: tuple) -> None:
        if self.__dict__.get("_st") is not None:  # a rebind: what this tensor holds may have changed
            storage.gen = next(_GENERATIONS)
        self._st = storage
        self._off = offset
        self._shp = tuple(shape)
        self._strd = tuple(strides)
        self._hv = None
        autograd.cuda_in_use()

    @classmethod
    def _from_device(cls, dev: Any) -> CudaTensor:
        """Wrap the device array ``dev`` (no copy when C-contiguous)."""
        if not is_device_array(dev):
            raise TypeError(f"_from_device expects a numba.cuda device array, got {type(dev).__name__}")
        if not dev.is_c_contiguous():
            dev = require_cuda().to_device(_c_array(dev.copy_to_host()))
        return cls._new_storage(_Storage(None, dev))

    @classmethod
    def _from_host(cls, array: np.ndarray, upload: bool = False) -> CudaTensor:
        """A CUDA tensor holding ``array``'s values: the array itself becomes the host copy when it
        is a C-contiguous array that owns its memory, else a copy does. ``upload``: copy the values
        to the device now and keep no host copy (``.to('cuda')``)."""
        if upload:
            return cls._new_storage(_Storage(None, require_cuda().to_device(_c_array(array))))
        if not (array.flags.c_contiguous and array.flags.owndata and array.flags.writeable):
            array = np.array(array, order="C", copy=True)
        return cls._new_storage(_Storage(array, None))

    def _share(self, cls: type | None = None) -> CudaTensor:
        """A new CUDA tensor object on the same memory, without history."""
        t = object.__new__(CudaTensor if cls is None else cls)
        t._init_meta()
        t._set_view(self._st, self._off, self._shp, self._strd)
        return t

    def _is_whole(self) -> bool:
        st = self._st
        return self._off == 0 and self._shp == st.shape and self._strd == _c_strides(st.shape, st.dtype.itemsize)

    # --- the two copies -----------------------------------------------------------------------
    def _host_read(self) -> np.ndarray:
        """The host values for reading only (the device copy stays valid): repr, ``item``, ``.cpu()``."""
        base = self._st.host_array()
        hv = self._hv
        if hv is None:
            if self._is_whole():
                hv = base
            elif 0 in self._shp:
                hv = np.empty(self._shp, self._st.dtype)
            else:
                hv = np.ndarray(self._shp, self._st.dtype, buffer=base, offset=self._off, strides=self._strd)
            self._hv = hv
        return hv

    @property
    def _data(self) -> np.ndarray:  # type: ignore[override]
        """The host values (downloaded if needed); the caller may write, so the device copy goes stale."""
        hv = self._host_read()
        st = self._st
        st.dev_ok = False
        st.gen = next(_GENERATIONS)
        return hv

    @_data.setter
    def _data(self, value: Any) -> None:
        self._rebind(value)

    def _rebind(self, value: Any) -> None:
        if is_device_array(value):
            t = CudaTensor._from_device(value)
            self._set_view(t._st, t._off, t._shp, t._strd)
            return
        value = value if isinstance(value, np.ndarray) else np.asarray(value)
        st = getattr(self, "_st", None)
        if st is not None and st.host is not None and value.dtype == st.dtype and value.size \
                and np.may_share_memory(value, st.host):
            offset = _address(value) - _address(st.host)
            if 0 <= offset < st.host.nbytes and offset % st.dtype.itemsize == 0:
                self._set_view(st, offset, value.shape, value.strides)  # a new generation
                st.dev_ok = False
                return
        t = CudaTensor._from_host(value)
        self._set_view(t._st, t._off, t._shp, t._strd)

    def _view_of(self, array: np.ndarray) -> CudaTensor | None:
        """A CUDA tensor on this storage for ``array`` when ``array`` lies in its host copy."""
        st = self._st
        if st.host is None or not st.host_ok or array.dtype != st.dtype or not array.size \
                or not np.may_share_memory(array, st.host):
            return None
        offset = _address(array) - _address(st.host)
        if not (0 <= offset < st.host.nbytes and offset % st.dtype.itemsize == 0):
            return None
        t = object.__new__(CudaTensor)
        t._init_meta()
        t._set_view(st, offset, array.shape, array.strides)
        return t

    def _device_array(self) -> Any:
        """A C-contiguous device array of the values (uploads the host copy if it is newer; a view
        of the storage when this tensor is contiguous, else a contiguous copy)."""
        dev = self._st.device_array()
        if self._is_whole():
            return dev
        if self._is_contiguous_view():
            start = self._off // self._st.dtype.itemsize
            n = int(np.prod(self._shp, dtype=np.int64))
            return dev.reshape(dev.size)[start:start + n].reshape(self._shp)
        return require_cuda().to_device(_c_array(self._host_read()))

    def _device_current(self) -> bool:
        """Whether the device copy holds the current values (nobody took the host copy for writing
        since the last ``_device_array()``)."""
        return self._st.dev_ok

    def _generation(self) -> int:
        """A number that changes whenever this tensor's values may have changed without ``_version``
        saying so: its host copy handed out for writing (``_data``), a rebind (``_data = ...``,
        ``.data = ...``, a move), a kernel's write (``_device_written``). Never repeats, across
        storages too: a cache of arrays derived from this tensor is valid exactly while
        ``(_generation(), _version)`` is unchanged."""
        return self._st.gen

    def _device_written(self) -> None:
        """Say that a kernel wrote into this tensor's device array: the host copy is stale now."""
        st = self._st
        st.host_ok = False
        st.dev_ok = True
        st.gen = next(_GENERATIONS)

    def _is_contiguous_view(self) -> bool:
        return self._strd == _c_strides(self._shp, self._st.dtype.itemsize) or 0 in self._shp

    # --- metadata without transfers -----------------------------------------------------------
    @property
    def shape(self) -> Size:  # type: ignore[override]
        """The sizes, a :class:`Size` (no transfer)."""
        return Size(self._shp)

    @property
    def dtype(self) -> Any:  # type: ignore[override]
        """The dtype (no transfer)."""
        return public_dtype(self._st.dtype)

    @property
    def ndim(self) -> int:  # type: ignore[override]
        """Number of dimensions (no transfer)."""
        return len(self._shp)

    def dim(self) -> int:
        """Number of dimensions."""
        return len(self._shp)

    def size(self, dim: int | None = None) -> Any:
        """The shape (a tuple), or the size of one dim."""
        if dim is None:
            return Size(self._shp)
        from .ops import normalize_dim
        if not self._shp:
            raise IndexError("dimension specified as 0 but tensor has no dimensions")
        return self._shp[normalize_dim(dim, len(self._shp))]

    def numel(self) -> int:
        """Number of elements."""
        return int(np.prod(self._shp, dtype=np.int64))

    nelement = numel

    def element_size(self) -> int:
        """Bytes per element."""
        return self._st.dtype.itemsize

    def __len__(self) -> int:
        if not self._shp:
            raise TypeError("len() of a 0-d tensor")
        return self._shp[0]

    def is_contiguous(self) -> bool:
        """Whether the values are C-contiguous."""
        return self._is_contiguous_view()

    @property
    def device(self) -> Any:  # type: ignore[override]
        """``device(type='cuda', index=0)``."""
        return CUDA0

    @property
    def is_cuda(self) -> bool:  # type: ignore[override]
        """True: the values live on a CUDA device."""
        return True

    # --- conversion ---------------------------------------------------------------------------
    def numpy(self, force: bool = False) -> np.ndarray:
        """Refused, as PyTorch: copy to host memory with ``.cpu()`` first."""
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                        "host memory first.")

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        raise TypeError("can't convert cuda:0 device type tensor to numpy. Use Tensor.cpu() to copy the tensor to "
                        "host memory first.")

    def item(self) -> Any:
        """The single value as a Python number (copied from the device)."""
        n = self.numel()
        if n != 1:
            raise RuntimeError(f"a Tensor with {n} elements cannot be converted to Scalar")
        return self._host_read().reshape(()).item()

    def tolist(self) -> Any:
        """Nested Python lists (copied from the device)."""
        return self._host_read().tolist()

    def type(self, dtype: Any = None) -> Any:
        """Without an argument the type's name (``'steprnn.cuda.FloatTensor'``, as torch's); with one, a cast."""
        if dtype is None:
            from .tensor_types import type_name
            return type_name(self._st.dtype).replace("steprnn.", "steprnn.cuda.", 1)
        return Tensor.type(self, dtype)

    def cpu(self) -> Tensor:
        """A CPU copy (differentiable: the gradient goes back to this CUDA tensor)."""
        return to_cpu(self)

    def cuda(self, device: Any = None) -> CudaTensor:
        """``self`` (already on ``cuda:0``)."""
        from .devices import as_device
        as_device("cuda" if device is None else (f"cuda:{device}" if isinstance(device, int) else device))
        return self

    @property
    def data(self) -> CudaTensor:  # type: ignore[override]
        """The same memory as a Tensor without history (writes through it change ``self``)."""
        return self._share()

    @data.setter
    def data(self, value: Any) -> None:
        if isinstance(value, CudaTensor):
            self._set_view(value._st, value._off, value._shp, value._strd)
        else:
            self._rebind(np.array(value._data if isinstance(value, Tensor) else value, copy=True))

    def detach(self) -> CudaTensor:
        """The same memory without history (``requires_grad=False``)."""
        t = self._share()
        t._vc = self._vc
        return t

    def _alias(self, data: np.ndarray | None = None) -> CudaTensor:
        if data is None:
            t = self._share()
            t._vc = self._vc
        else:
            t = CudaTensor._from_host(data)
        t._grad_fn = self._grad_fn
        t._output_index = self._output_index
        t._requires_grad = self._requires_grad
        return t

    def _new(self, array: np.ndarray, requires_grad: bool, device: Any = None) -> Tensor:
        from .devices import as_device
        dev = self.device if device is None else as_device(device)
        t = CudaTensor._from_host(array) if dev.type == "cuda" else Tensor._make(array)
        t.requires_grad = requires_grad
        return t

    # --- printing and pickling ----------------------------------------------------------------
    def __repr__(self) -> str:
        from .printing import array_repr
        name = self._grad_fn.name() if self._grad_fn is not None else None
        return array_repr(self._host_read(), self._requires_grad, name, device=str(CUDA0))

    __str__ = __repr__

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("_grad_fn", "_vc", "_base", "_view_base_fn", "_output_index",
                              "_st", "_off", "_shp", "_strd", "_hv")}
        state["_data"] = np.array(self._host_read(), copy=True)
        return state

    def __setstate__(self, state: dict) -> None:
        self._init_meta()
        self._rebind(_c_array(state.pop("_data")))
        self.__dict__.update(state)


def _cuda_parameter_class() -> type:
    """``CudaParameter``: a Parameter on CUDA (both a ``CudaTensor`` and an ``nn.Parameter``)."""
    global _CUDA_PARAMETER
    if _CUDA_PARAMETER is None:
        from .nn.parameter import Parameter

        class CudaParameter(CudaTensor, Parameter):
            """A learnable Tensor on ``cuda:0``."""

            def __repr__(self) -> str:
                return "Parameter containing:\n" + CudaTensor.__repr__(self)

        CudaParameter.__module__ = "steprnn.nn.parameter"
        _CUDA_PARAMETER = CudaParameter
    return _CUDA_PARAMETER


_CUDA_PARAMETER: type | None = None


def _move_in_place(t: Tensor, cuda: bool) -> None:
    """Move ``t`` (a Parameter or buffer) to CUDA or back, keeping the same object (``Module.to``)."""
    from .nn.parameter import Parameter

    if cuda == isinstance(t, CudaTensor):
        return
    if cuda:
        values = t.__dict__.pop("_data")
        t.__class__ = _cuda_parameter_class() if isinstance(t, Parameter) else CudaTensor
        moved = CudaTensor._from_host(values, upload=True)
        t._set_view(moved._st, moved._off, moved._shp, moved._strd)
    else:
        values = np.array(t._host_read(), copy=True)
        for k in ("_st", "_off", "_shp", "_strd", "_hv"):
            t.__dict__.pop(k, None)
        t.__class__ = Parameter if isinstance(t, Parameter) else Tensor
        t.__dict__["_data"] = values
    if t._grad is not None:
        t._grad = to_cuda(t._grad.detach()) if cuda else to_cpu(t._grad.detach())
    t._vc.bump()


# --- transfers -------------------------------------------------------------------------------

def to_cuda(x: Tensor) -> CudaTensor:
    """``x`` on CUDA: ``x`` itself if it is there, else a copy on the device (differentiable)."""
    if isinstance(x, CudaTensor):
        return x
    require_cuda()
    dev = require_cuda().to_device(_c_array(x._data))
    return autograd.make_node(dev, (x,), lambda g: (g,), name="ToCopyBackward0", saved=())


def to_cpu(x: Tensor) -> Tensor:
    """``x`` on the CPU: ``x`` itself if it is there, else a host copy (differentiable)."""
    if not isinstance(x, CudaTensor):
        return x
    return autograd.make_node(np.array(x._host_read(), copy=True), (x,), lambda g: (g,), name="ToCopyBackward0",
                              saved=())


def device_values(x: Any) -> Any:
    """A C-contiguous device array of ``x`` (an ndarray, a device array or a Tensor), uploading where needed."""
    if isinstance(x, CudaTensor):
        return x._device_array()
    if isinstance(x, Tensor):
        x = x._data
    if is_device_array(x):
        if x.is_c_contiguous():
            return x
        x = x.copy_to_host()
    return require_cuda().to_device(_c_array(x))


def host_values(x: Any) -> np.ndarray:
    """The NumPy values of ``x`` (a device array, an ndarray or a Tensor), downloading where needed."""
    if isinstance(x, CudaTensor):
        return x._host_read()
    if isinstance(x, Tensor):
        return x._data
    if is_device_array(x):
        return x.copy_to_host()
    return np.asarray(x)


# --- small device helpers for the autograd engine ----------------------------------------------

def _glue() -> Any:
    """``kernels/cuda/glue.py`` (elementwise device kernels), or None where this build lacks it."""
    try:
        from .kernels.cuda import glue
    except ImportError:
        return None
    return glue if hasattr(glue, "add") else None


def add_arrays(a: Any, b: Any) -> Any:
    """``a + b`` for two gradients of the same shape: on the device (``kernels/cuda/glue.add``) when
    both are C-contiguous float32/float64 device arrays of one dtype, else on the host (an ndarray)."""
    if is_device_array(a) and is_device_array(b) and tuple(a.shape) == tuple(b.shape) \
            and np.dtype(a.dtype) == np.dtype(b.dtype) and np.dtype(a.dtype) in (np.float32, np.float64) \
            and a.is_c_contiguous() and b.is_c_contiguous():
        glue = _glue()
        if glue is not None:
            return glue.add(a, b)
    return host_values(a) + host_values(b)


def copy_array(a: Any, dtype: Any) -> Any:
    """A new C-contiguous device array with ``a``'s values (a device array) as ``dtype``."""
    cuda = require_cuda()
    if np.dtype(a.dtype) == np.dtype(dtype) and a.is_c_contiguous():
        out = cuda.device_array(a.shape, a.dtype)
        if out.size:
            out.copy_to_device(a)
        return out
    return cuda.to_device(_c_array(a.copy_to_host(), dtype))

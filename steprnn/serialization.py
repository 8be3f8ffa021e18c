"""``sr.save`` and ``sr.load``: state dicts, tensors, nested containers and whole models in one file.

File layout (little-endian)::

    b"\\x93STEPRNN"  magic (8 bytes)
    u8              format version (1)
    u64             length of the pickle that follows
    u32             CRC-32 of the pickle (damage is reported before anything is unpickled)
    pickle          protocol 4; every Tensor, Parameter and ndarray inside is reduced to
                    ``_rebuild_tensor(kind, dtype.str, shape, raw bytes, requires_grad, device)``

Loading is safe by default, as ``torch.load(weights_only=True)`` is in PyTorch 2.6+: a restricted
unpickler resolves only our tensor/array rebuilders, plain containers (dict, OrderedDict, list, tuple,
set), numbers, strings and the names registered with :func:`add_safe_globals`; the raw bytes become
NumPy arrays of plain numeric dtypes only. Anything else (a whole model, a foreign class) is refused
with the name it asked for. ``weights_only=False`` unpickles everything, as PyTorch does: only for
files you trust.

``sr.load`` also reads files written by ``torch.save`` (the zip format of PyTorch ≥ 1.6) without
importing torch: their tensors come back as steprnn Tensors.
"""
from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zlib
from typing import IO, Any

import numpy as np

from .dtypes import public_dtype
from .size import Size
from .tensor import Tensor

__all__ = ["save", "load", "add_safe_globals", "get_safe_globals"]

MAGIC = b"\x93STEPRNN"
VERSION = 1
_HEAD = struct.Struct("<8sBQI")
_PROTOCOL = 4

_SAFE: dict[tuple[str, str], Any] = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("builtins", "range"): range,
    ("steprnn.size", "Size"): Size,  # t.shape, as torch.Size is safe to torch
    ("steprnn.dtypes", "public_dtype"): public_dtype,  # sr.float32 and friends
}
_USER_SAFE: dict[tuple[str, str], Any] = {}


def add_safe_globals(safe_globals: list[Any]) -> None:
    """Let ``load(weights_only=True)`` rebuild these classes or functions (as
    ``torch.serialization.add_safe_globals``): e.g. a NamedTuple or dataclass of hyperparameters."""
    for obj in safe_globals:
        if isinstance(obj, tuple):
            obj, name = obj
        else:
            name = f"{obj.__module__}.{obj.__qualname__}"
        module, _, qual = name.rpartition(".")
        _USER_SAFE[(module, qual)] = obj


def get_safe_globals() -> list[Any]:
    """The objects registered with :func:`add_safe_globals`."""
    return list(_USER_SAFE.values())


# --- tensors in and out ----------------------------------------------------------------------------



def _parameter_class() -> type:
    from .nn.parameter import Parameter

    return Parameter


def _plain_dtype(dstr: str) -> np.dtype:
    """A dtype from its ``.str``, refusing anything but booleans and numbers (no objects, no records)."""
    try:
        dt = np.dtype(dstr)
    except TypeError:
        raise pickle.UnpicklingError(f"unknown array dtype {dstr!r}") from None
    if dt.kind not in "biufc" or dt.fields is not None or dt.subdtype is not None:
        raise pickle.UnpicklingError(f"arrays of dtype {dstr!r} are not loaded: only booleans and numbers")
    return dt


def _rebuild_tensor(kind: str, dstr: str, shape: tuple, raw: bytes, requires_grad: bool = False,
                    device: str = "cpu") -> Any:
    """Inverse of the reduction in :class:`_Pickler`: an ndarray, Tensor or Parameter."""
    dt = _plain_dtype(dstr)
    if not isinstance(shape, tuple) or not all(isinstance(s, int) and s >= 0 for s in shape):
        raise pickle.UnpicklingError(f"bad tensor shape {shape!r}")
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if not isinstance(raw, (bytes, bytearray)) or len(raw) != count * dt.itemsize:
        raise pickle.UnpicklingError(f"tensor of shape {shape} and dtype {dt.name} needs "
                                     f"{count * dt.itemsize} bytes, the file holds {len(raw) if isinstance(raw, (bytes, bytearray)) else 'none'}")
    array = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    if kind == "array":
        return array
    if kind == "parameter":
        t = _parameter_class()(array, requires_grad=bool(requires_grad))
    elif kind == "tensor":
        t = Tensor(array)
        if requires_grad:
            t.requires_grad_(True)
    else:
        raise pickle.UnpicklingError(f"unknown tensor kind {kind!r}")
    _LOAD_CONTEXT.place(t, device)
    return t


def _rebuild_scalar(dstr: str, raw: bytes) -> Any:
    return np.frombuffer(raw, dtype=_plain_dtype(dstr))[0]


def _rebuild_dtype(dstr: str) -> np.dtype:
    return _plain_dtype(dstr)


def _host(t: Tensor) -> tuple[np.ndarray, str]:
    dev = str(getattr(t, "device", "cpu"))
    if dev != "cpu":
        t = t.cpu()
    return _contiguous(t._data), dev


def _contiguous(a: np.ndarray) -> np.ndarray:
    """C-contiguous, keeping 0-d arrays 0-d (``np.ascontiguousarray`` makes them 1-d)."""
    return a if a.flags.c_contiguous else a.copy(order="C")


class _Pickler(pickle.Pickler):
    """Pickles Tensors, Parameters, ndarrays and NumPy scalars as raw bytes plus dtype and shape."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, Tensor):
            array, dev = _host(obj)
            kind = "parameter" if isinstance(obj, _parameter_class()) else "tensor"
            if type(obj) not in (Tensor, _parameter_class()) and not getattr(obj, "is_cuda", False):
                return NotImplemented  # a user subclass: pickled as itself (needs weights_only=False)
            return _rebuild_tensor, (kind, array.dtype.str, array.shape, array.tobytes(),
                                     bool(obj.requires_grad), dev)
        if isinstance(obj, np.ndarray) and type(obj) is np.ndarray and obj.dtype.kind in "biufc" \
                and obj.dtype.fields is None:
            a = _contiguous(obj)
            return _rebuild_tensor, ("array", a.dtype.str, a.shape, a.tobytes(), False, "cpu")
        if isinstance(obj, np.generic) and obj.dtype.kind in "biufc":
            return _rebuild_scalar, (obj.dtype.str, obj.tobytes())
        if isinstance(obj, np.dtype) and obj.kind in "biufc" and obj.fields is None:
            return _rebuild_dtype, (obj.str,)
        return NotImplemented


_OWN = {
    ("steprnn.serialization", "_rebuild_tensor"): _rebuild_tensor,
    ("steprnn.serialization", "_rebuild_scalar"): _rebuild_scalar,
    ("steprnn.serialization", "_rebuild_dtype"): _rebuild_dtype,
}


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the names of :data:`_OWN`, :data:`_SAFE` and :func:`add_safe_globals`."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        for table in (_OWN, _SAFE, _USER_SAFE):
            if key in table:
                return table[key]
        raise pickle.UnpicklingError(
            f"Weights only load failed: the file asks for the global {module}.{name}, which "
            f"load(weights_only=True) does not run. Whole models and custom classes need "
            f"load(..., weights_only=False) (only for files you trust), or register the class with "
            f"steprnn.serialization.add_safe_globals([{name}])."
        )


class _FullUnpickler(pickle.Unpickler):
    """Unrestricted unpickling (``weights_only=False``)."""


# --- devices on load --------------------------------------------------------------------------------

class _LoadContext:
    """Where loaded tensors go: ``map_location`` as PyTorch reads it (None keeps the saved device)."""

    map_location: Any = None

    def place(self, t: Tensor, saved: str) -> None:
        target = self.map_location
        if callable(target) and not isinstance(target, (str, dict)) and not _is_device(target):
            return  # a function of (storage, location): everything here already lives on the host
        if isinstance(target, dict):
            target = target.get(saved, saved)
        if target is None:
            target = saved
        target = str(target)
        if target != "cpu" and target != str(getattr(t, "device", "cpu")):
            from .devices import as_device
            if as_device(target).type == "cuda":  # refused clearly without CUDA
                from .cuda_tensor import _move_in_place
                _move_in_place(t, True)


def _is_device(x: Any) -> bool:
    return type(x).__name__ == "device"


_LOAD_CONTEXT = _LoadContext()


# --- save and load -----------------------------------------------------------------------------------

def _name(f: Any) -> str:
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return getattr(f, "name", None) or f"<{type(f).__name__}>"


def save(obj: Any, f: str | os.PathLike | IO[bytes], pickle_module: Any = None,
         pickle_protocol: int = _PROTOCOL) -> None:
    """Write ``obj`` (a state dict, a Tensor, nested dicts/lists/tuples of them, a whole Module, ...)
    to ``f`` (a path or a binary file), as ``torch.save``. The file is written whole or not at all."""
    buf = io.BytesIO()
    _Pickler(buf, protocol=max(int(pickle_protocol), 4)).dump(obj)
    payload = buf.getvalue()
    data = _HEAD.pack(MAGIC, VERSION, len(payload), zlib.crc32(payload)) + payload
    if isinstance(f, (str, os.PathLike)):
        path = os.fspath(f)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    else:
        if not hasattr(f, "write"):
            raise TypeError(f"save(): f must be a path or a binary file object, got {type(f).__name__}")
        f.write(data)


def load(f: str | os.PathLike | IO[bytes], map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool = True, mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Read what :func:`save` (or ``torch.save``) wrote to ``f``, as ``torch.load``.

    ``weights_only=True`` (the default) loads tensors, arrays, numbers, strings and containers and
    refuses every other class; ``weights_only=False`` unpickles anything (only for trusted files).
    ``map_location`` (None, ``'cpu'``, a device, a dict or a function, as PyTorch's) says where the
    tensors go. Truncated, damaged or foreign files raise a RuntimeError naming the file.
    """
    name = _name(f)
    if isinstance(f, (str, os.PathLike)):
        try:
            with open(f, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            raise FileNotFoundError(f"[Errno 2] No such file or directory: '{name}'") from None
    else:
        if not hasattr(f, "read"):
            raise TypeError(f"load(): f must be a path or a binary file object, got {type(f).__name__}")
        data = f.read()
    if isinstance(data, str):
        raise TypeError(f"load(): {name} was opened in text mode; open it with 'rb'")
    previous = _LOAD_CONTEXT.map_location
    _LOAD_CONTEXT.map_location = map_location
    try:
        if data[:8] == MAGIC:
            return _load_own(data, name, weights_only)
        if data[:4] == b"PK\x03\x04":
            from ._torch_format import load_torch_zip

            return load_torch_zip(data, name, weights_only, _SafeUnpickler if weights_only else None)
        raise RuntimeError(
            f"{name} is not a file written by steprnn.save or torch.save "
            f"(it starts with {data[:8]!r}, expected {MAGIC!r} or a zip archive)"
        )
    finally:
        _LOAD_CONTEXT.map_location = previous


def _load_own(data: bytes, name: str, weights_only: bool) -> Any:
    if len(data) < _HEAD.size:
        raise RuntimeError(f"{name} is truncated: {len(data)} bytes, shorter than the {_HEAD.size}-byte header")
    _, version, length, crc = _HEAD.unpack_from(data)
    if version != VERSION:
        raise RuntimeError(f"{name} was written by format version {version}; this steprnn reads version {VERSION}")
    payload = data[_HEAD.size:]
    if len(payload) != length:
        raise RuntimeError(f"{name} is truncated or damaged: the header promises {length} bytes of data, "
                           f"the file holds {len(payload)}")
    if zlib.crc32(payload) != crc:
        raise RuntimeError(f"{name} is damaged: its checksum does not match its contents")
    unpickler = (_SafeUnpickler if weights_only else _FullUnpickler)(io.BytesIO(payload))
    try:
        return unpickler.load()
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(f"{name}: {err}") from None
    except Exception as err:  # noqa: BLE001 - any failure inside a checksummed pickle means a bad writer
        raise RuntimeError(f"{name} is damaged: its data cannot be read back ({type(err).__name__}: {err})") from None



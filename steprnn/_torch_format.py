"""Reading ``torch.save``'s zip files without torch: their tensors become steprnn Tensors.

A torch file is a zip archive ``<name>/data.pkl`` (a pickle whose persistent ids
``('storage', <Type>Storage, key, location, numel)`` point at raw little-endian storages
``<name>/data/<key>``) plus ``<name>/byteorder`` and ``<name>/version``. Only the names a state dict
uses are resolved (``torch._utils._rebuild_tensor_v2``, ``_rebuild_parameter``, the storage types,
``collections.OrderedDict``); with ``weights_only=False`` anything else goes through the standard
unpickler (which then needs torch itself).
"""
from __future__ import annotations

import io
import pickle
import zipfile
from typing import Any

import numpy as np

from .tensor import Tensor

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "int64": np.int64, "long": np.int64, "int32": np.int32,
    "int": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


class _StorageType:
    def __init__(self, name: str) -> None:
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _TorchDtype:
    """A ``torch.<dtype>`` global inside a torch pickle (dtype names only)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _rebuild_tensor_v2(storage: np.ndarray, offset: int, size: tuple, stride: tuple, requires_grad: bool,
                       backward_hooks: Any, metadata: Any = None) -> Tensor:
    item = storage.dtype.itemsize
    if size and storage.size:
        view = np.lib.stride_tricks.as_strided(storage[offset:], shape=tuple(size),
                                               strides=tuple(s * item for s in stride))
    else:
        view = storage[offset:offset + int(np.prod(size, dtype=np.int64))].reshape(size)
    t = Tensor(np.array(view))
    if requires_grad:
        t.requires_grad_(True)
    return t


def _rebuild_parameter(data: Tensor, requires_grad: bool, backward_hooks: Any) -> Any:
    from .nn.parameter import Parameter

    return Parameter(data._data, requires_grad=requires_grad)


def _rebuild_parameter_with_state(data: Tensor, requires_grad: bool, backward_hooks: Any, state: Any) -> Any:
    return _rebuild_parameter(data, requires_grad, backward_hooks)


_TORCH_NAMES = {
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter_with_state,
}


def load_torch_zip(data: bytes, name: str, weights_only: bool, safe_unpickler: Any) -> Any:
    """Unpickle a ``torch.save`` zip archive (``data``, read from the file ``name``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        pkl_names = [n for n in archive.namelist() if n.endswith("data.pkl")]
    except zipfile.BadZipFile as err:
        raise RuntimeError(f"{name} is a damaged or truncated zip archive: {err}") from None
    if len(pkl_names) != 1:
        raise RuntimeError(f"{name} is a zip archive but not a torch.save file (no single data.pkl inside)")
    prefix = pkl_names[0][: -len("data.pkl")]
    byteorder = "little"
    if f"{prefix}byteorder" in archive.namelist():
        byteorder = archive.read(f"{prefix}byteorder").decode().strip()
    storages: dict[str, np.ndarray] = {}

    def storage(key: str, dtype: np.dtype) -> np.ndarray:
        if key not in storages:
            try:
                raw = archive.read(f"{prefix}data/{key}")
            except (KeyError, zipfile.BadZipFile) as err:
                raise RuntimeError(f"{name} is damaged: storage {key} cannot be read ({err})") from None
            dt = dtype.newbyteorder("<" if byteorder == "little" else ">")
            storages[key] = np.frombuffer(raw, dtype=dt).astype(dtype.newbyteorder("="))
        return storages[key]

    base = safe_unpickler if weights_only else pickle.Unpickler

    class TorchUnpickler(base):  # type: ignore[misc, valid-type]
        def find_class(self, module: str, qual: str) -> Any:
            if (module, qual) in _TORCH_NAMES:
                return _TORCH_NAMES[(module, qual)]
            if module == "torch" and qual in _STORAGE_DTYPES:
                return _StorageType(qual)
            if module == "torch" and qual in _TORCH_DTYPES:
                return _TorchDtype(qual)
            return super().find_class(module, qual)

        def persistent_load(self, pid: Any) -> Any:
            if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
                raise pickle.UnpicklingError(f"unsupported persistent id {pid!r} in {name}")
            _, stype, key, _location, _numel = pid
            if isinstance(stype, _TorchDtype):
                dtype = np.dtype(_TORCH_DTYPES[stype.name])
            elif isinstance(stype, _StorageType):
                dtype = stype.dtype
            else:
                raise pickle.UnpicklingError(f"unsupported storage type {stype!r} in {name}")
            return storage(str(key), dtype)

    try:
        return TorchUnpickler(io.BytesIO(archive.read(pkl_names[0]))).load()
    except pickle.UnpicklingError as err:
        raise pickle.UnpicklingError(f"{name}: {err}") from None
    except (EOFError, ValueError, KeyError, IndexError) as err:
        raise RuntimeError(f"{name} is damaged: {type(err).__name__}: {err}") from None

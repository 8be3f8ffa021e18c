"""``default_collate`` and ``default_convert``: how a DataLoader turns a list of samples into a batch."""
from __future__ import annotations

import collections.abc
import copy
from typing import Any

import numpy as np

from ...creation import stack
from ...tensor import Tensor

__all__ = ["default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}")


def default_convert(data: Any) -> Any:
    """NumPy arrays (of numbers) and NumPy scalars become Tensors, inside any mapping or sequence;
    everything else is returned as is (the DataLoader's ``batch_size=None`` path)."""
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "USO" else Tensor(data)
    if isinstance(data, np.generic):
        return Tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        try:
            clone = copy.copy(data)
            clone.update({k: default_convert(v) for k, v in data.items()})
            return clone
        except (TypeError, AttributeError):
            return {k: default_convert(v) for k, v in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, (str, bytes)):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data


def default_collate(batch: list[Any]) -> Any:
    """Stack a list of samples into a batch, as ``torch.utils.data.default_collate``:

    Tensors (each (...)) → one Tensor (B, ...); NumPy arrays → Tensor (B, ...); Python floats → float64
    Tensor (B,); ints → int64 Tensor (B,); strings → the list; dicts → dict of collated values; tuples →
    list of collated fields (namedtuples keep their type); lists → list of collated positions.
    """
    elem = batch[0]
    if isinstance(elem, Tensor):
        shapes = {tuple(t.shape) for t in batch}
        if len(shapes) > 1:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got shapes {sorted(shapes)} "
                               f"in one batch; pass a collate_fn (e.g. one that pads) for samples of different sizes")
        return stack(list(batch), 0)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "USO":
            raise TypeError(_ERR.format(elem.dtype))
        return default_collate([Tensor(np.asarray(b)) for b in batch])
    if isinstance(elem, np.generic):
        return Tensor(np.asarray(batch))
    if isinstance(elem, bool):
        return Tensor(np.asarray(batch, dtype=np.bool_))
    if isinstance(elem, float):
        return Tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return Tensor(np.asarray(batch, dtype=np.int64))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update({key: default_collate([d[key] for d in batch]) for key in elem})
                return clone
            return type(elem)({key: default_collate([d[key] for d in batch]) for key in elem})
        except TypeError:
            return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if not all(len(e) == size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        transposed = [list(s) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return [default_collate(s) for s in transposed]
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, s in enumerate(transposed):
                    clone[i] = default_collate(s)
                return clone
            return type(elem)([default_collate(s) for s in transposed])
        except TypeError:
            return [default_collate(s) for s in transposed]
    if hasattr(elem, "detach") and hasattr(elem, "numpy"):  # torch tensors in a steprnn program
        return default_collate([Tensor(np.asarray(b.detach().numpy())) for b in batch])
    raise TypeError(_ERR.format(type(elem)))

"""Packing utilities: ``steprnn.nn.utils.rnn`` mirrors ``torch.nn.utils.rnn``.

``PackedSequence``, ``pack_padded_sequence``, ``pad_packed_sequence``, ``pack_sequence``,
``pad_sequence`` (and ``invert_permutation``, ``unpad_sequence``, ``unpack_sequence``) with PyTorch's
semantics, on NumPy arrays. Every function takes ``steprnn.Tensor``s, NumPy arrays, (nested) lists or
CPU ``torch.Tensor``s, checks its arguments before doing any work, never writes to its inputs and
returns fresh arrays (wrapped in ``Tensor``) that share no memory with them.

Packing is one gather and unpacking one scatter, with index arrays computed once from the lengths.

Where PyTorch sorts lengths (``enforce_sorted=False``) we sort stably (ties keep their order in the
batch). PyTorch's default ``torch.sort`` is stable for batches of up to 16 sequences; for larger
batches with equal lengths its tie order is unspecified, so the order of the tied sequences inside the
packed data (and ``sorted_indices``) may then differ from PyTorch's; the padded results never do.
"""
from __future__ import annotations

import numbers
from collections.abc import Iterable
from typing import Any, NamedTuple, Optional

import numpy as np

from ...autograd import make_node
from ...tensor import Tensor, to_numpy

__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpad_sequence",
    "pack_sequence",
    "unpack_sequence",
]

_INT64 = np.dtype("int64")

# PyTorch's own messages.
_UNSORTED_MSG = (
    "`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. "
    "You can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
    "this requirement if you do not need ONNX exportability."
)
_NONPOSITIVE_MSG = (
    "Length of all samples has to be greater than 0, but found an element in 'lengths' that is <= 0"
)


# --------------------------------------------------------------------------------------------------
# conversions
# --------------------------------------------------------------------------------------------------

def _is_torch(x: Any) -> bool:
    return type(x).__module__.split(".")[0] == "torch"


def _as_array(value: Any, what: str) -> np.ndarray:
    """The ndarray behind ``value`` (not copied); Python lists follow ``torch.tensor``'s dtypes
    (floats → float32, ints → int64)."""
    if value is None:
        raise TypeError(f"{what} must be a Tensor, NumPy array or list of numbers, got None")
    if isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as err:
            raise ValueError(f"{what} could not be converted to an array (ragged or mixed nested lists?): {err}") from None
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        elif array.dtype.kind in "iu":
            array = array.astype(_INT64)
    elif isinstance(value, (str, bytes, dict, set)):
        raise TypeError(f"{what} must be a Tensor, NumPy array or list of numbers, got {type(value).__name__}")
    else:
        array = to_numpy(value)
    if array.dtype.kind not in "biufc":
        raise TypeError(f"{what} must hold numbers, got an array of dtype {array.dtype} ({type(value).__name__})")
    return array


def _as_lengths(lengths: Any) -> np.ndarray:
    """``lengths`` as a fresh 1-D int64 array; a float array is taken only where it holds whole numbers."""
    if lengths is None or isinstance(lengths, (str, bytes, dict, set)):
        raise TypeError(
            f"'lengths' must be a 1D sequence of integers (list, NumPy array or Tensor), got {type(lengths).__name__}"
        )
    try:
        array = np.asarray(lengths) if isinstance(lengths, (list, tuple)) else to_numpy(lengths)
    except (ValueError, TypeError) as err:
        raise TypeError(f"'lengths' must be a 1D sequence of integers, got {type(lengths).__name__}: {err}") from None
    if array.ndim != 1:
        raise RuntimeError(
            f"'lengths' argument should be a 1D CPU int64 tensor, but got {array.ndim}D tensor of shape {array.shape}"
        )
    if array.size == 0:
        return np.zeros(0, dtype=_INT64)
    kind = array.dtype.kind
    if kind in "iu":
        return array.astype(_INT64)  # a copy: the caller's array is never touched
    if kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if whole.all():
            return array.astype(_INT64)
        bad = array[~whole][0]
        raise TypeError(
            f"'lengths' must hold integers, got {array.dtype} values including {bad!r} (lengths={array.tolist()})"
        )
    raise TypeError(f"'lengths' must hold integers, got an array of dtype {array.dtype}")


def _as_index_tensor(value: Any, what: str) -> Tensor | None:
    """An index field as a Tensor: int64 where it holds integers, otherwise kept as given (and refused on use)."""
    if value is None:
        return None
    array = _as_array(value, what)
    if array.dtype.kind in "iu" and array.dtype != _INT64:
        return Tensor(array.astype(_INT64))
    return value if isinstance(value, Tensor) else Tensor(array)


def _as_data_tensor(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(_as_array(value, "PackedSequence.data"))


def _check_permutation(perm: np.ndarray, what: str) -> None:
    n = perm.shape[0] if perm.ndim == 1 else -1
    if perm.ndim != 1 or perm.dtype.kind not in "iu" or not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"{what} must be a 1D permutation of 0..N-1, got {perm.tolist()!r}")


def _invert(perm: np.ndarray) -> np.ndarray:
    inverse = np.empty(perm.shape[0], dtype=_INT64)
    inverse[perm] = np.arange(perm.shape[0], dtype=_INT64)
    return inverse


def invert_permutation(permutation: Any) -> Tensor | None:
    """The inverse of ``permutation`` (a 1-D int64 Tensor), or ``None`` for ``None``."""
    if permutation is None:
        return None
    perm = _as_array(permutation, "permutation")
    _check_permutation(perm, "permutation")
    return Tensor(_invert(perm.astype(_INT64, copy=False)))


# --------------------------------------------------------------------------------------------------
# PackedSequence
# --------------------------------------------------------------------------------------------------

class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Optional[Tensor]
    unsorted_indices: Optional[Tensor]


def _parse_to(args: tuple, kwargs: dict) -> tuple[np.dtype | None, Any, bool]:
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    copy = bool(kwargs.pop("copy", False))
    kwargs.pop("non_blocking", None)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got unexpected keyword arguments {sorted(kwargs)}")
    for arg in args:
        if isinstance(arg, (Tensor, np.ndarray)) or (_is_torch(arg) and hasattr(arg, "dtype")):
            dtype = arg.dtype
            device = getattr(arg, "device", None)
        elif isinstance(arg, str) and arg.split(":")[0] in ("cpu", "cuda") or type(arg).__name__ == "device":
            device = arg
        else:
            dtype = arg
    if dtype is not None:
        name = str(dtype).replace("torch.", "") if _is_torch(dtype) else dtype
        try:
            dtype = np.dtype(name)
        except TypeError:
            raise TypeError(f"to(): expected a dtype or a device, got {dtype!r}") from None
    return dtype, device, copy


class PackedSequence(PackedSequence_):
    """Holds the ``data`` and the ``batch_sizes`` of a packed batch of sequences, as PyTorch's.

    ``data`` is ``(sum(lengths), *)``, ``batch_sizes`` the int64 number of sequences still running
    at each step, ``sorted_indices`` / ``unsorted_indices`` the int64 permutations that sort the
    batch by decreasing length and undo it (``None`` when the batch came sorted).

    Build one with :func:`pack_padded_sequence` or :func:`pack_sequence`. Constructing one by hand
    checks nothing (as in PyTorch); the layers and :func:`pad_packed_sequence` check it on use.
    """

    __slots__ = ()

    def __new__(cls, data: Any, batch_sizes: Any = None, sorted_indices: Any = None,
                unsorted_indices: Any = None) -> "PackedSequence":
        if batch_sizes is None:  # PackedSequence((data, batch_sizes), sorted_indices)
            if not (isinstance(data, (list, tuple)) and len(data) == 2):
                raise TypeError(
                    "PackedSequence(data, batch_sizes, ...): expected batch_sizes, or data given as a "
                    f"(data, batch_sizes) pair; got batch_sizes=None and data of type {type(data).__name__}"
                )
            data, batch_sizes = data
        sorted_t = _as_index_tensor(sorted_indices, "sorted_indices")
        if unsorted_indices is None:
            unsorted_t = None if sorted_t is None else invert_permutation(sorted_t)
        else:
            unsorted_t = _as_index_tensor(unsorted_indices, "unsorted_indices")
        return super().__new__(cls, _as_data_tensor(data), _as_index_tensor(batch_sizes, "batch_sizes"),
                               sorted_t, unsorted_t)

    def to(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        """Converts ``data`` (dtype and/or device); ``self`` when nothing changes, as in PyTorch."""
        dtype, device, copy = _parse_to(args, dict(kwargs))
        if device is not None:
            from ..._checks import resolve_device
            if resolve_device(device) != self.data.device.type:
                moved = type(self)(self.data.to(device), self.batch_sizes, self.sorted_indices,
                                   self.unsorted_indices)
                return moved.to(dtype=dtype) if dtype is not None else moved
        if self.data.is_cuda:
            if (dtype is None or dtype == self.data.dtype) and not copy:
                return self
            return type(self)(self.data.to(dtype=dtype, copy=True), self.batch_sizes, self.sorted_indices,
                              self.unsorted_indices)
        array = to_numpy(self.data)
        if (dtype is None or dtype == array.dtype) and not copy:
            return self
        new = array.astype(array.dtype if dtype is None else dtype, copy=True)
        return type(self)(Tensor(new), self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        return self.to("cpu", *args, **kwargs)

    def cuda(self, *args: Any, **kwargs: Any) -> "PackedSequence":
        return self.to("cuda", *args, **kwargs)

    def double(self) -> "PackedSequence":
        return self.to(dtype=np.float64)

    def float(self) -> "PackedSequence":
        return self.to(dtype=np.float32)

    def long(self) -> "PackedSequence":
        return self.to(dtype=np.int64)

    def int(self) -> "PackedSequence":
        return self.to(dtype=np.int32)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` lives on a CUDA device."""
        return bool(getattr(self.data, "is_cuda", False))

    def is_pinned(self) -> bool:
        return False


# --------------------------------------------------------------------------------------------------
# index arithmetic shared by packing and unpacking
# --------------------------------------------------------------------------------------------------

def _batch_sizes(sorted_lengths: np.ndarray) -> np.ndarray:
    """(T,) number of sequences longer than t, for lengths sorted in decreasing order."""
    T = int(sorted_lengths[0])
    counts = np.bincount(sorted_lengths, minlength=T + 1)
    return (sorted_lengths.shape[0] - np.cumsum(counts)[:T]).astype(_INT64)


def _packed_positions(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(time step, rank in the sorted batch) of each row of the packed data."""
    total = int(batch_sizes.sum())
    starts = np.cumsum(batch_sizes) - batch_sizes
    t_idx = np.repeat(np.arange(batch_sizes.shape[0], dtype=_INT64), batch_sizes)
    j_idx = np.arange(total, dtype=_INT64) - np.repeat(starts, batch_sizes)
    return t_idx, j_idx


def _check_lengths(lengths: np.ndarray, batch_size: int, enforce_sorted: bool) -> None:
    """PyTorch's checks on ``lengths``, in PyTorch's order."""
    if lengths.shape[0] != batch_size:
        raise RuntimeError(
            f"Expected `len(lengths)` to be equal to batch_size, but got {lengths.shape[0]} (batch_size={batch_size})"
        )
    if enforce_sorted:
        if lengths[-1] <= 0:
            raise RuntimeError(f"{_NONPOSITIVE_MSG} (lengths={lengths.tolist()})")
        if np.any(lengths[1:] > lengths[:-1]):
            raise RuntimeError(f"{_UNSORTED_MSG} Got lengths={lengths.tolist()}")
    elif lengths.min() <= 0:
        raise RuntimeError(f"{_NONPOSITIVE_MSG} (lengths={lengths.tolist()})")


def _sort(lengths: np.ndarray, enforce_sorted: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """(lengths in decreasing order, sorted_indices or None)."""
    if enforce_sorted:
        return lengths, None
    order = np.argsort(-lengths, kind="stable").astype(_INT64)
    return lengths[order], order


def _packed(data: Tensor, batch_sizes: np.ndarray, sorted_indices: np.ndarray | None) -> PackedSequence:
    if sorted_indices is None:
        return PackedSequence(data, Tensor(batch_sizes), None, None)
    return PackedSequence(data, Tensor(batch_sizes), Tensor(sorted_indices), Tensor(_invert(sorted_indices)))


# --------------------------------------------------------------------------------------------------
# gradients: packing and padding only move elements, so backward moves them back
# --------------------------------------------------------------------------------------------------

def _wants_grad(values: Any) -> bool:
    return any(isinstance(v, Tensor) and v.requires_grad for v in values)


def _follow(result: Tensor, parents: Any) -> Tensor:
    """``result`` on its parents' device: packing a CUDA tensor gives CUDA data (a differentiable copy)."""
    return result.cuda() if any(getattr(p, "is_cuda", False) for p in parents) else result


def _gathered(out: np.ndarray, parent: Any, shape: tuple, idx: tuple) -> Tensor:
    """``out = parent[idx]`` as a Tensor; backward scatters the gradient back (indices are unique)."""
    if not _wants_grad([parent]):
        return _follow(Tensor(out), [parent])

    def backward(g: np.ndarray) -> tuple:
        grad = np.zeros(shape, dtype=g.dtype)
        grad[idx] = g
        return (grad,)

    return _follow(make_node(out, (parent,), backward, name="PackBackward"), [parent])


def _scattered(out: np.ndarray, parent: Any, idx: tuple) -> Tensor:
    """``out[idx] = parent`` (the rest padding) as a Tensor; backward gathers the gradient."""
    if not _wants_grad([parent]):
        return _follow(Tensor(out), [parent])
    return _follow(make_node(out, (parent,), lambda g: (g[idx],), name="PadBackward"), [parent])


def _from_sequences(out: np.ndarray, sequences: list, lens: np.ndarray, rows: np.ndarray, idx: tuple,
                    name: str) -> Tensor:
    """``out[idx] = concat(sequences)[rows]`` as a Tensor; backward splits the gradient per sequence."""
    if not _wants_grad(sequences):
        return _follow(Tensor(out), sequences)
    total = int(lens.sum())
    shapes = [np.shape(s) for s in sequences]

    def backward(g: np.ndarray) -> tuple:
        flat = np.zeros((total,) + g.shape[len(idx):], dtype=g.dtype)
        flat[rows] = g[idx]
        parts = np.split(flat, np.cumsum(lens)[:-1])
        return tuple(part.reshape(shape) for part, shape in zip(parts, shapes))

    return _follow(make_node(out, tuple(sequences), backward, name=name), sequences)


# --------------------------------------------------------------------------------------------------
# the four functions
# --------------------------------------------------------------------------------------------------

def pack_padded_sequence(input: Any, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of the given
    ``lengths``. With ``enforce_sorted=True`` the lengths must be in decreasing order; otherwise the batch
    is sorted (stably) and the permutation kept in ``sorted_indices`` / ``unsorted_indices``.

    Unlike PyTorch, a length longer than the padded input is refused (PyTorch reads past the input).
    """
    x = _as_array(input, "input")
    layout = "B x T x *" if batch_first else "T x B x *"
    if x.ndim < 2:
        raise ValueError(
            f"pack_padded_sequence: expected input of at least 2 dimensions ({layout}), "
            f"got a {x.ndim}D input of shape {tuple(x.shape)}"
        )
    lens = _as_lengths(lengths)
    if x.size == 0:
        raise RuntimeError(f"Cannot pack empty tensors. Got input of shape {tuple(x.shape)} ({layout}).")
    B, T = (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])
    _check_lengths(lens, B, enforce_sorted)
    longest = int(lens.max())
    if longest > T:
        raise ValueError(
            f"pack_padded_sequence: every length must be at most the padded sequence length {T} "
            f"(input shape {tuple(x.shape)}, {layout}), but the longest length given is {longest} "
            f"(lengths={lens.tolist()})"
        )
    sorted_lens, sorted_indices = _sort(lens, enforce_sorted)
    batch_sizes = _batch_sizes(sorted_lens)
    t_idx, j_idx = _packed_positions(batch_sizes)
    b_idx = j_idx if sorted_indices is None else sorted_indices[j_idx]
    idx = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    data = _gathered(x[idx], input, x.shape, idx)  # fancy indexing: a fresh array
    return _packed(data, batch_sizes, sorted_indices)


class CheckedPacked(NamedTuple):
    """The fields of a PackedSequence after :func:`check_packed`: ``data`` (S, *) as given (not
    copied), ``batch_sizes`` (T,) int64, ``sorted_indices`` / ``unsorted_indices`` (B,) int64
    permutations, mutually inverse, or both None (the batch came sorted)."""

    data: np.ndarray
    batch_sizes: np.ndarray
    sorted_indices: np.ndarray | None
    unsorted_indices: np.ndarray | None


def is_packed(value: Any) -> bool:
    """Whether ``value`` is a PackedSequence, steprnn's or PyTorch's."""
    if isinstance(value, PackedSequence):
        return True
    return type(value).__name__ == "PackedSequence" and all(
        hasattr(value, f) for f in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"))


def as_packed(value: Any) -> Any:
    """A PyTorch ``PackedSequence`` as steprnn's (its arrays converted); anything else unchanged."""
    if isinstance(value, PackedSequence) or not is_packed(value):
        return value
    convert = lambda v: None if v is None else Tensor(np.array(to_numpy(v)))  # noqa: E731
    return PackedSequence(convert(value.data), convert(value.batch_sizes), convert(value.sorted_indices),
                          convert(value.unsorted_indices))


def _integers(value: Any, what: str) -> np.ndarray:
    """A 1-D index field as int64; whole-valued floats are taken, fractions, bools and others refused."""
    array = _as_array(value, what)
    if array.ndim != 1:
        raise ValueError(f"{what} must be 1-dimensional, got shape {tuple(array.shape)}")
    if array.dtype.kind in "iu":
        return array.astype(_INT64, copy=False)
    if array.dtype.kind == "f":
        whole = np.isfinite(array) & (array == np.round(array))
        if whole.all():
            return array.astype(_INT64)
        raise TypeError(f"{what} must hold integers, got {array.dtype} values including {array[~whole][0]!r}")
    raise TypeError(f"{what} must hold integers, got an array of dtype {array.dtype}")


def _permutation(value: Any, what: str, n: int) -> np.ndarray:
    perm = _integers(value, what)
    if perm.shape[0] != n:
        raise ValueError(f"{what} must have one entry per sequence ({n}, batch_sizes[0]), got {perm.shape[0]}")
    if not np.array_equal(np.sort(perm), np.arange(n)):
        raise ValueError(f"{what} must be a 1D permutation of 0..N-1 (N={n}), got {perm.tolist()!r}")
    return perm


def check_packed(sequence: Any, who: str = "PackedSequence") -> CheckedPacked:
    """Every field of a (possibly hand-made) PackedSequence, checked once for all its users.

    ``batch_sizes`` must be a non-empty, non-increasing 1-D sequence of positive integers summing to
    ``data.shape[0]``; ``sorted_indices`` and ``unsorted_indices`` permutations of ``0..B-1``
    (``B = batch_sizes[0]``) and each other's inverse (one is derived from the other when missing).
    Refusals name the field: TypeError for a wrong type, ValueError for wrong values.
    """
    if not is_packed(sequence):
        raise TypeError(
            f"{who}: expected a PackedSequence (as returned by pack_padded_sequence or "
            f"pack_sequence), got {type(sequence).__module__}.{type(sequence).__qualname__}"
        )
    data = _as_array(sequence.data, "PackedSequence.data")
    rows = data.shape[0] if data.ndim else None
    batch_sizes = _integers(sequence.batch_sizes, "PackedSequence.batch_sizes")
    if data.ndim < 1 or batch_sizes.size == 0 or batch_sizes.min() < 1 or np.any(np.diff(batch_sizes) > 0) \
            or int(batch_sizes.sum()) != rows:
        raise ValueError(
            "PackedSequence.batch_sizes must be a non-empty, non-increasing sequence of positive integer counts "
            f"summing to data.shape[0]={rows}; got {batch_sizes.tolist()!r}"
        )
    B = int(batch_sizes[0])
    sorted_idx = unsorted_idx = None
    if sequence.sorted_indices is not None:
        sorted_idx = _permutation(sequence.sorted_indices, "PackedSequence.sorted_indices", B)
    if sequence.unsorted_indices is not None:
        unsorted_idx = _permutation(sequence.unsorted_indices, "PackedSequence.unsorted_indices", B)
    if sorted_idx is None and unsorted_idx is not None:
        sorted_idx = _invert(unsorted_idx)
    elif unsorted_idx is None and sorted_idx is not None:
        unsorted_idx = _invert(sorted_idx)
    elif sorted_idx is not None and not np.array_equal(sorted_idx[unsorted_idx], np.arange(B)):
        raise ValueError(
            "PackedSequence.sorted_indices and PackedSequence.unsorted_indices must be each other's inverse, "
            f"got sorted_indices={sorted_idx.tolist()} and unsorted_indices={unsorted_idx.tolist()}"
        )
    return CheckedPacked(data, batch_sizes, sorted_idx, unsorted_idx)


def _validate_packed(sequence: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(data, batch_sizes, unsorted_indices) of a PackedSequence, checked for consistency."""
    checked = check_packed(sequence, "pad_packed_sequence")
    return checked.data, checked.batch_sizes, checked.unsorted_indices


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Pads a packed batch back to ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), ``T`` the longest
    length or ``total_length``. Returns ``(padded, lengths)``, both in the batch's original order."""
    data, batch_sizes, unsorted = _validate_packed(sequence)
    if not isinstance(padding_value, (numbers.Number, np.generic)) or isinstance(padding_value, (str, bytes)):
        raise TypeError(f"padding_value must be a number, got {type(padding_value).__name__}")
    max_seq_length = batch_sizes.shape[0]
    if total_length is not None:
        if isinstance(total_length, bool) or not isinstance(total_length, (int, np.integer)):
            raise TypeError(f"total_length must be an int or None, got {type(total_length).__name__}")
        if total_length < max_seq_length:
            raise ValueError(
                "Expected total_length to be at least the length of the longest sequence in input, but got "
                f"total_length={total_length} and max sequence length being {max_seq_length}"
            )
        max_seq_length = int(total_length)
    B = int(batch_sizes[0])
    t_idx, j_idx = _packed_positions(batch_sizes)
    # lengths in sorted order: number of steps at which sequence j is still running
    counts = np.bincount(batch_sizes, minlength=B + 1)
    lengths = (batch_sizes.shape[0] - np.cumsum(counts)[:B]).astype(_INT64)
    if unsorted is not None:
        # padded[:, i] = padded_sorted[:, unsorted[i]]: sorted row j lands at column inverse(unsorted)[j]
        j_idx = _invert(unsorted)[j_idx]
        lengths = lengths[unsorted]
    shape = (B, max_seq_length) if batch_first else (max_seq_length, B)
    padded = np.full(shape + data.shape[1:], padding_value, dtype=data.dtype)
    idx = (j_idx, t_idx) if batch_first else (t_idx, j_idx)
    padded[idx] = data
    return _scattered(padded, sequence.data, idx), Tensor(lengths)


def _sequence_arrays(sequences: Any, who: str) -> tuple[list, list[np.ndarray]]:
    """(the sequences as given, one per item, and as arrays), checked: at least one, each ``(L, *)``
    with the same trailing dimensions. A generator is consumed once, here."""
    if isinstance(sequences, (Tensor, np.ndarray)) or _is_torch(sequences):
        whole = _as_array(sequences, "sequences")
        if whole.ndim == 0:
            raise TypeError(f"{who}: Expected iterable for input sequences, but got a 0-dimensional tensor")
        # like iterating a tensor: one sequence per leading index (a Tensor's keep their graph)
        items = list(sequences) if isinstance(sequences, Tensor) else list(whole)
    elif isinstance(sequences, (str, bytes)) or not isinstance(sequences, Iterable):
        raise TypeError(f"{who}: Expected iterable for input sequences, but got arg of type: {type(sequences)}")
    else:
        items = list(sequences)
    if not items:
        raise RuntimeError("received an empty list of sequences")
    arrays = [_as_array(item, f"{who}: sequence {i}") for i, item in enumerate(items)]
    for i, a in enumerate(arrays):
        if a.ndim < 1:
            raise ValueError(
                f"{who}: expected each sequence to have at least 1 dimension (L x *), but sequence {i} is a 0D scalar"
            )
    trailing = arrays[0].shape[1:]
    for i, a in enumerate(arrays):
        if a.shape[1:] != trailing:
            raise RuntimeError(
                f"{who}: all sequences must have the same trailing dimensions (L x *): sequence 0 has shape "
                f"{tuple(arrays[0].shape)} but sequence {i} has shape {tuple(a.shape)}"
            )
    return items, arrays


def _concatenated(arrays: list[np.ndarray]) -> np.ndarray:
    """All sequences one after the other, in the first sequence's dtype (as PyTorch's copy does)."""
    dtype = arrays[0].dtype
    return np.concatenate([a.astype(dtype, copy=False) for a in arrays], axis=0)


def pad_sequence(sequences: Any, batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stacks sequences ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), padding each
    on the right (or the left) with ``padding_value``; the dtype is the first sequence's."""
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    if not isinstance(padding_value, (numbers.Number, np.generic)) or isinstance(padding_value, (str, bytes)):
        raise TypeError(f"padding_value must be a number, got {type(padding_value).__name__}")
    items, arrays = _sequence_arrays(sequences, "pad_sequence")
    lens = np.array([a.shape[0] for a in arrays], dtype=_INT64)
    B, T = len(arrays), int(lens.max())
    shape = (B, T) if batch_first else (T, B)
    padded = np.full(shape + arrays[0].shape[1:], padding_value, dtype=arrays[0].dtype)
    total = int(lens.sum())
    if not total:
        return Tensor(padded)
    b_idx = np.repeat(np.arange(B, dtype=_INT64), lens)
    t_idx = np.arange(total, dtype=_INT64) - np.repeat(np.cumsum(lens) - lens, lens)
    if padding_side == "left":
        t_idx += (T - lens)[b_idx]
    idx = (b_idx, t_idx) if batch_first else (t_idx, b_idx)
    padded[idx] = _concatenated(arrays)
    return _from_sequences(padded, items, lens, np.arange(total), idx, "PadSequenceBackward")


def pack_sequence(sequences: Any, enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``, in one gather)."""
    items, arrays = _sequence_arrays(sequences, "pack_sequence")
    lens = np.array([a.shape[0] for a in arrays], dtype=_INT64)
    if int(np.prod(arrays[0].shape[1:], dtype=np.int64)) == 0 or lens.max() == 0:
        raise RuntimeError(
            "Cannot pack empty tensors. Got sequences of shapes "
            f"{[tuple(a.shape) for a in arrays[:8]]}{' ...' if len(arrays) > 8 else ''}."
        )
    _check_lengths(lens, len(arrays), enforce_sorted)
    sorted_lens, sorted_indices = _sort(lens, enforce_sorted)
    batch_sizes = _batch_sizes(sorted_lens)
    t_idx, j_idx = _packed_positions(batch_sizes)
    b_idx = j_idx if sorted_indices is None else sorted_indices[j_idx]
    rows = (np.cumsum(lens) - lens)[b_idx] + t_idx  # each packed row's place in the concatenation
    data = _from_sequences(_concatenated(arrays)[rows], items, lens, rows, (slice(None),),
                           "PackSequenceBackward")
    return _packed(data, batch_sizes, sorted_indices)


def unpad_sequence(padded_sequences: Any, lengths: Any, batch_first: bool = False) -> list[Tensor]:
    """Splits a padded batch into a list of sequences of the given ``lengths`` (the input is not modified)."""
    x = _as_array(padded_sequences, "padded_sequences")
    if x.ndim < 2:
        raise ValueError(f"unpad_sequence: expected input of at least 2 dimensions, got {x.ndim}D of shape {x.shape}")
    lens = _as_lengths(lengths)
    if not batch_first:
        x = np.swapaxes(x, 0, 1)
    if lens.shape[0] != x.shape[0]:
        raise ValueError(f"unpad_sequence: expected {x.shape[0]} lengths (one per sequence), got {lens.shape[0]}")
    if lens.size and (lens.min() < 0 or lens.max() > x.shape[1]):
        raise ValueError(f"unpad_sequence: lengths must lie in [0, {x.shape[1]}], got {lens.tolist()}")
    return [Tensor(np.array(x[b, : int(n)])) for b, n in enumerate(lens)]


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """Unpacks a PackedSequence into the list of its sequences, in their original order."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)

"""The weights of one layer and direction in the layouts the kernels read, cached per module.

The kernels multiply row vectors by transposed weights (``x_t W_ihᵀ``, ``h W_hhᵀ``), so they take
``W_ihᵀ`` (I, G*H) and ``W_hhᵀ`` (H_out, G*H). Two layouts serve, both always up to date:

* a large weight (``VIEW_FROM`` elements or more): the transpose of the C-contiguous parameter
  is a Fortran-contiguous *view* of the parameter's own memory. No copy of megabytes per call,
  and a change to the parameter's values, however it is made (an optimiser step,
  ``load_state_dict``, ``nn.init``, a write through ``.data`` or ``.numpy()``), is what the next
  forward reads. This is the idea of PyTorch's ``flatten_parameters``: the kernels read the
  parameters' memory itself. These layouts are cached per module (``WeightCache``) and rebuilt
  when a parameter is replaced (a new Parameter, or a new array assigned to ``.data``, as
  ``Module.to(dtype)`` does): version counters would miss a write through ``.data``, identity
  and views cannot.
* a small weight: a C-contiguous transposed copy, because the kernels multiply small matrices
  faster in that layout than through the transposed view. The copy is cached too, beside a
  snapshot of the parameter's bits, and reused while the parameter is the same array holding the
  same bits (``same_bits``: a compare reads the memory once, where numpy's transposing copy walks
  it with a stride; (128, 32) float32: 0.45 against 1.2 µs, (400, 100): 3.6 against 10 µs).
  A cached copy is never written: a changed parameter gets a new one, so a trace may keep it
  (as a read-only view). A parameter that is not C-contiguous (a strided array assigned to
  ``.data``) is copied at every call.
"""
from __future__ import annotations

from dataclasses import FrozenInstanceError
from typing import Any, Mapping, NamedTuple

import numpy as np

from .cell_kinds import PARAMETERS, CellKind


def frozen_setattr(self: Any, name: str, value: Any) -> None:
    """The ``__setattr__`` of the run records (named tuples): refused as a frozen dataclass refuses it."""
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


class WeightLayout(NamedTuple):
    """One layer and direction's weights.

    ``params``   short name → the array as PyTorch stores it, or None where the layer has none:
                 ``w_ih`` (G*H, I), ``w_hh`` (G*H, H_out), ``b_ih``/``b_hh`` (G*H,), ``w_hr`` (H_out, H)
    ``forward``  what the forward kernels take as ``weights``: (W_ihᵀ (I, G*H), W_hhᵀ (H_out, G*H)),
                 and for LSTM W_hrᵀ (H, H_out), or an empty (0, 0) array without projection
    ``biases``   (b_ih, b_hh), (G*H,) each, zeros where the layer has no bias
    ``hidden_size``  H
    ``owned``    for a traced forward (``weight_layout(..., own=True)``) of small weights: the
                 parameters as PyTorch lays them out (short name → array, absent ones left out):
                 read-only views of ``forward``'s transposed copies and of copies of the biases,
                 which ``biases`` then holds (never written; the weight cache may share them), so
                 that a trace keeps them without copying again; else None
    """

    __setattr__ = frozen_setattr

    params: Mapping[str, np.ndarray | None]
    forward: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, np.ndarray]
    hidden_size: int
    owned: Mapping[str, np.ndarray] | None = None

    def c_order(self, short: str) -> np.ndarray:
        """A parameter as PyTorch stores it, C-contiguous (the backward kernels' layout)."""
        return np.ascontiguousarray(self.params[short])


#: from this many elements on, a C-contiguous weight reaches the kernels as a transposed view
VIEW_FROM = 1 << 16


def read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view of ``a`` (what a trace keeps of an array the weight cache also holds)."""
    v = a.view()
    v.flags.writeable = False
    return v


_BITS = {4: np.int32, 8: np.int64}


def _bits(a: np.ndarray) -> np.ndarray | None:
    """A flat integer view of a C-contiguous float32/float64 array's memory, else None."""
    kind = _BITS.get(a.itemsize)
    if kind is None or not a.flags.c_contiguous or a.dtype.kind != "f":
        return None
    return a.reshape(-1).view(kind)


def _transposed(w: np.ndarray) -> tuple[np.ndarray, bool]:
    """(wᵀ, whether it is a view): a view of a large C-contiguous ``w`` (F-contiguous), else a C copy."""
    if w.size >= VIEW_FROM and w.flags.c_contiguous:
        return w.T, True
    return np.array(w.T, order="C"), False  # a copy even where w.T is contiguous (a (G, 1) weight)


def weight_layout(kind: CellKind, params: Mapping[str, np.ndarray | None],
                  own: bool = False) -> tuple[WeightLayout, bool]:
    """The kernels' layout of one layer and direction's parameter arrays (short names, None if absent),
    and whether it only views them (then it stays right for as long as they are these arrays).
    ``own``: a traced forward's layout; where no weight is viewed, it also holds ``owned``."""
    w_ih, w_hh = params["w_ih"], params["w_hh"]
    dtype = w_ih.dtype
    w_ih_t, views = _transposed(w_ih)
    w_hh_t, view = _transposed(w_hh)
    any_view = views or view
    views = views and view
    forward = (w_ih_t, w_hh_t)
    w_hr = params.get("w_hr") if kind.has_cell_state else None
    if kind.has_cell_state:
        if w_hr is None:
            forward += (np.zeros((0, 0), dtype=dtype),)
        else:
            w_hr_t, view = _transposed(w_hr)
            any_view = any_view or view
            views = views and view
            forward += (w_hr_t,)
    b_ih, b_hh = params.get("b_ih"), params.get("b_hh")
    if b_ih is None or b_hh is None:
        zeros = np.zeros(w_ih.shape[0], dtype=dtype)
        b_ih = zeros if b_ih is None else b_ih
        b_hh = zeros if b_hh is None else b_hh
    layout = WeightLayout(params, forward, (b_ih, b_hh), w_ih.shape[0] // kind.rows_per_unit, None)
    if own and not any_view:
        layout = _owning(layout, _owned_views(layout))
    return layout, views


#: the ``forward`` slot of each weight that ``weight_layout`` may copy
_FORWARD_SLOT = {"w_ih": 0, "w_hh": 1, "w_hr": 2}


def _snapshots(arrays: Mapping[str, np.ndarray | None], layout: WeightLayout) -> tuple | None:
    """((parameter's bits, a copy of those bits), ...) for each weight ``layout`` holds a copy of
    (a view of the parameter is always right); None where one cannot be checked that way (not
    C-contiguous, not float32/float64)."""
    return _bit_checks([w for short, slot in _FORWARD_SLOT.items()
                        if (w := arrays.get(short)) is not None and w.size and layout.forward[slot].base is not w])


def _bit_checks(params: list[np.ndarray]) -> tuple | None:
    """((bits, snapshot), ...) of each array (``_bits``, ``_snapshot``), or None where one has no bits view."""
    checks = []
    for w in params:
        bits = _bits(w)
        if bits is None:
            return None
        checks.append((bits, _snapshot(bits)))
    return tuple(checks)


#: up to this many bytes a snapshot is a ``bytes`` object, compared by ``memcmp`` (a 512-byte bias:
#: 0.05 µs, a (128, 32) float32 weight: 0.3 µs); above, an array compared by ``same_bits`` (0.25 µs
#: for the call, then faster per byte: at 64 KB 1.7 µs against 2.3)
_BYTES_COMPARE_MAX = 32 << 10


def _snapshot(bits: np.ndarray) -> bytes | np.ndarray:
    """A copy of ``bits`` (``_bits``) for ``_unchanged`` to compare against later."""
    return bits.tobytes() if bits.nbytes <= _BYTES_COMPARE_MAX else bits.copy()


_same_bits = None


def _unchanged(checks: tuple) -> bool:
    """Whether every checked parameter still holds its snapshot's bits."""
    global _same_bits
    if not checks:
        return True
    if _same_bits is None:  # the kernels load with the first forward, not with this module
        from .kernels.cpu.jit import same_bits as _same_bits
    for bits, snapshot in checks:
        if type(snapshot) is bytes:
            if bits.tobytes() != snapshot:
                return False
        elif not _same_bits(bits, snapshot):
            return False
    return True


def _same_arrays(built_from: tuple, arrays: Mapping[str, np.ndarray | None]) -> bool:
    """Whether ``arrays`` are the very arrays (by identity) a cached layout was ``built_from``."""
    for a, (short, _) in zip(built_from, PARAMETERS):
        if a is not arrays.get(short):
            return False
    return True


def _all_copies(arrays: Mapping[str, np.ndarray | None], layout: WeightLayout) -> bool:
    """Whether ``layout`` holds a copy (not a view) of every weight."""
    return all(layout.forward[slot].base is not w for short, slot in _FORWARD_SLOT.items()
               if (w := arrays.get(short)) is not None)


def _owning(layout: WeightLayout, views: dict[str, np.ndarray]) -> WeightLayout:
    """``layout`` (cached, of copies) with ``owned`` for a trace: ``views`` (read-only views of its
    copies in PyTorch's layout, ``_owned_views``) and read-only views of copies of the biases,
    which the forward then reads too (never written: the cache may hand the layout to later
    traced forwards while the biases keep their bits)."""
    b_ih, b_hh = layout.biases[0].copy(), layout.biases[1].copy()
    owned = dict(views)
    if layout.params.get("b_ih") is not None:
        owned["b_ih"] = read_only(b_ih)
    if layout.params.get("b_hh") is not None:
        owned["b_hh"] = read_only(b_hh)
    return WeightLayout(layout.params, layout.forward, (b_ih, b_hh), layout.hidden_size, owned)


def _bias_snapshots(arrays: Mapping[str, np.ndarray | None]) -> tuple | None:
    """``_snapshots`` of the biases (the bits a traced layout's bias copies hold); None where one
    cannot be checked that way."""
    return _bit_checks([b for short in ("b_ih", "b_hh") if (b := arrays.get(short)) is not None])


def _owned_views(layout: WeightLayout) -> dict[str, np.ndarray]:
    """Read-only views, in PyTorch's layout, of the weight copies a cached ``layout`` holds."""
    return {short: read_only(layout.forward[slot].T) for short, slot in _FORWARD_SLOT.items()
            if layout.params.get(short) is not None}


class _Entry:
    """A cached layout: the parameter arrays it was built from, the layout, its weights' bit
    checks, the read-only views a trace keeps of its copies (None where some weight is viewed),
    and the last traced layout (``_owning``) with its biases' bit checks."""

    __slots__ = ("arrays", "layout", "checks", "owned_views", "owning", "bias_checks")

    def __init__(self, arrays: tuple, layout: WeightLayout, checks: tuple | None, owned_views: dict | None) -> None:
        self.arrays, self.layout, self.checks, self.owned_views = arrays, layout, checks, owned_views
        self.owning = self.bias_checks = None


class WeightCache:
    """The ``WeightLayout`` of each layer and direction of one module, while its parameters stay.

    ``get(key, arrays, kind)`` returns the cached layout when ``arrays`` (the parameters' current
    arrays by short name, None where absent) are the very arrays it was built from and the weights
    it copied still hold the bits it copied (``same_bits``), else builds and caches a new one
    (not cached: a weight that cannot be checked that way, e.g. a strided one). A traced
    forward's layout (``own``) is cached beside it while the biases, too, keep their bits.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Any, _Entry] = {}

    def get(self, key: Any, arrays: Mapping[str, np.ndarray | None], kind: CellKind, own: bool = False) -> WeightLayout:
        """``own``: as ``weight_layout``'s; where the layout copies every weight, ``owned`` holds
        read-only views of its copies (never written: a change makes new ones) and of copies of
        the biases."""
        entry = self._entries.get(key)
        if entry is not None and not (_same_arrays(entry.arrays, arrays) and _unchanged(entry.checks)):
            self._entries.pop(key, None)  # another thread may have dropped it already
            entry = None
        if entry is None:
            layout, views = weight_layout(kind, arrays, False)
            checks = () if views else _snapshots(arrays, layout)
            owned_views = _owned_views(layout) if _all_copies(arrays, layout) else None
            entry = _Entry(tuple(arrays.get(short) for short, _ in PARAMETERS), layout, checks, owned_views)
            if checks is not None:
                self._entries[key] = entry
        if not own:
            return entry.layout
        if entry.owned_views is None:
            return weight_layout(kind, arrays, True)[0]  # some weight viewed: the trace copies it
        if entry.owning is not None and _unchanged(entry.bias_checks):
            return entry.owning
        owning = _owning(entry.layout, entry.owned_views)
        checks = _bias_snapshots(arrays)
        entry.owning, entry.bias_checks = (owning, checks) if checks is not None else (None, None)
        return owning

    def clear(self) -> None:
        self._entries.clear()

    def __reduce__(self) -> tuple:
        """Copies and pickles of a module start with an empty cache: a copied layout would be a
        copy of the memory, no longer a view of the copied parameters."""
        return (WeightCache, ())

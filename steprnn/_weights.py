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
* a small weight: a C-contiguous transposed copy, made on every call (microseconds), because
  BLAS multiplies small matrices faster in that layout than through the transposed view.
  A large parameter that is not C-contiguous (a strided array assigned to ``.data``) is copied too.
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
                 parameters as PyTorch lays them out (short name → array, absent ones left out) in
                 arrays that only this layout holds (``forward``'s transposed copies seen transposed
                 back, copied biases, which ``biases`` then holds too), so that a trace keeps them
                 without copying again; else None
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


def _transposed(w: np.ndarray) -> tuple[np.ndarray, bool]:
    """(wᵀ, whether it is a view): a view of a large C-contiguous ``w`` (F-contiguous), else a C copy."""
    if w.size >= VIEW_FROM and w.flags.c_contiguous:
        return w.T, True
    return np.ascontiguousarray(w.T), False


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
    owned = None
    if own and not any_view:
        owned = {"w_ih": w_ih_t.T, "w_hh": w_hh_t.T}
        if b_ih is not None:
            owned["b_ih"] = b_ih = b_ih.copy()
        if b_hh is not None:
            owned["b_hh"] = b_hh = b_hh.copy()
        if w_hr is not None:
            owned["w_hr"] = forward[2].T
    if b_ih is None or b_hh is None:
        zeros = np.zeros(w_ih.shape[0], dtype=dtype)
        b_ih = zeros if b_ih is None else b_ih
        b_hh = zeros if b_hh is None else b_hh
    return WeightLayout(params, forward, (b_ih, b_hh), w_ih.shape[0] // kind.rows_per_unit, owned), views


class WeightCache:
    """The ``WeightLayout`` of each layer and direction of one module, while its parameters stay.

    ``get(key, arrays, kind)`` returns the cached layout when ``arrays`` (the parameters' current
    arrays by short name, None where absent) are the very arrays it was built from, else builds
    a new one (and caches it when it only views them).
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[tuple, WeightLayout]] = {}

    def get(self, key: Any, arrays: Mapping[str, np.ndarray | None], kind: CellKind, own: bool = False) -> WeightLayout:
        """``own``: as ``weight_layout``'s (a cached layout views the parameters: it owns nothing)."""
        entry = self._entries.get(key)
        if entry is not None:
            stamp, layout = entry
            if all(a is arrays.get(short) for a, (short, _) in zip(stamp, PARAMETERS)):
                return layout
            del self._entries[key]
        layout, views = weight_layout(kind, arrays, own)
        if views:  # views of the parameters: right until a parameter is replaced
            self._entries[key] = (tuple(arrays.get(short) for short, _ in PARAMETERS), layout)
        return layout

    def clear(self) -> None:
        self._entries.clear()

    def __reduce__(self) -> tuple:
        """Copies and pickles of a module start with an empty cache: a copied layout would be a
        copy of the memory, no longer a view of the copied parameters."""
        return (WeightCache, ())

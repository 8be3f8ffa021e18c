"""The weights of one layer and direction in the layouts the kernels read, cached per module.

The kernels multiply row vectors by transposed weights (``x_t W_ihᵀ``, ``h W_hhᵀ``), so they take
``W_ihᵀ`` (I, G*H) and ``W_hhᵀ`` (H_out, G*H). A C-contiguous parameter's transpose is a
Fortran-contiguous *view* of the parameter's own memory: no copy is made, and a change to the
parameter's values, however it is made (an optimiser step, ``load_state_dict``, ``nn.init``, a
write through ``.data`` or ``.numpy()``), is what the next forward reads. This is the idea of
PyTorch's ``flatten_parameters``: the kernels read the parameters' memory itself.

``WeightCache`` keeps the layout of each layer and direction of a module and rebuilds it when a
parameter is replaced (identity: a new Parameter, or a new array assigned to ``.data``, as
``Module.to(dtype)`` does). A parameter that is not C-contiguous (a strided array assigned to
``.data``) gets a contiguous copy, made again on every call so that it is never stale.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from .cell_kinds import PARAMETERS, CellKind


@dataclass(frozen=True, slots=True)
class WeightLayout:
    """One layer and direction's weights.

    ``params``   short name → the array as PyTorch stores it, or None where the layer has none:
                 ``w_ih`` (G*H, I), ``w_hh`` (G*H, H_out), ``b_ih``/``b_hh`` (G*H,), ``w_hr`` (H_out, H)
    ``forward``  what the forward kernels take as ``weights``: (W_ihᵀ (I, G*H), W_hhᵀ (H_out, G*H)),
                 and for LSTM W_hrᵀ (H, H_out), or an empty (0, 0) array without projection
    ``biases``   (b_ih, b_hh), (G*H,) each, zeros where the layer has no bias
    ``hidden_size``  H
    """

    params: Mapping[str, np.ndarray | None]
    forward: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, np.ndarray]
    hidden_size: int

    def c_order(self, short: str) -> np.ndarray:
        """A parameter as PyTorch stores it, C-contiguous (the backward kernels' layout)."""
        return np.ascontiguousarray(self.params[short])


def _transposed(w: np.ndarray) -> np.ndarray:
    """wᵀ without a copy when ``w`` is C-contiguous (an F-contiguous view), else a C copy."""
    return w.T if w.flags.c_contiguous else np.ascontiguousarray(w.T)


def weight_layout(kind: CellKind, params: Mapping[str, np.ndarray | None]) -> WeightLayout:
    """The kernels' view of one layer and direction's parameter arrays (short names, None if absent)."""
    w_ih, w_hh = params["w_ih"], params["w_hh"]
    dtype = w_ih.dtype
    H = w_ih.shape[0] // kind.rows_per_unit
    forward = (_transposed(w_ih), _transposed(w_hh))
    if kind.has_cell_state:
        w_hr = params.get("w_hr")
        forward += (np.zeros((0, 0), dtype=dtype).T if w_hr is None else _transposed(w_hr),)
    zeros = None
    if params.get("b_ih") is None or params.get("b_hh") is None:
        zeros = np.zeros(w_ih.shape[0], dtype=dtype)
    b_ih = zeros if params.get("b_ih") is None else params["b_ih"]
    b_hh = zeros if params.get("b_hh") is None else params["b_hh"]
    return WeightLayout(dict(params), forward, (b_ih, b_hh), H)


class WeightCache:
    """The ``WeightLayout`` of each layer and direction of one module, while its parameters stay.

    ``get(key, arrays, kind)`` returns the cached layout when ``arrays`` (the parameters' current
    arrays by short name, None where absent) are the very arrays it was built from, else builds,
    caches and returns a new one.
    """

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[Any, tuple[tuple, WeightLayout]] = {}

    def get(self, key: Any, arrays: Mapping[str, np.ndarray | None], kind: CellKind) -> WeightLayout:
        stamp = tuple(arrays.get(short) for short, _ in PARAMETERS)
        entry = self._entries.get(key)
        if entry is not None and all(a is b for a, b in zip(entry[0], stamp)):
            return entry[1]
        layout = weight_layout(kind, arrays)
        if all(a is None or a.flags.c_contiguous for a in stamp):  # views: never stale
            self._entries[key] = (stamp, layout)
        else:
            self._entries.pop(key, None)
        return layout

    def clear(self) -> None:
        self._entries.clear()

    def __reduce__(self) -> tuple:
        """Copies and pickles of a module start with an empty cache: a copied layout would be a
        copy of the memory, no longer a view of the copied parameters."""
        return (WeightCache, ())

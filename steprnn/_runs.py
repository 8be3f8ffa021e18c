"""Run records: what one forward of a recurrent layer or cell leaves behind, as arrays.

Each record is built once, by the code that allocated its buffers, and never changed after (they are
named tuples: immutable, and a tenth of a frozen dataclass's cost to build, on every call):

* ``DirectionRun`` — the buffers one layer and direction's kernel filled (``_dispatch.run_direction``);
* ``BatchLayout`` — how the caller's arrays map to the kernels' time-major rows;
* ``LayerRun`` — a whole forward: every ``DirectionRun``, each layer's input, the initial states,
  the weights the kernels read, the dropout masks, what a trace asked to keep.

The autograd node reads a ``LayerRun`` in backward; a Trace wraps its buffers, copying where it
masks. What a backward produces lives elsewhere: ``StateGradients``, owned by the node that fills
it and handed to the trace of that forward.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._weights import WeightLayout, frozen_setattr


class DirectionRun(NamedTuple):
    """What one layer/direction produced. Shapes: ``hs`` (T, N, H_out); ``h_n`` (N, H_out);
    ``c_n`` (N, H) for LSTM else None; ``gates`` (R, N, G*H) or None (RNN); ``pre`` (R, N, G'*H);
    ``cells`` (R, N, H) for LSTM else None; R = T when recorded, else 1 (scratch).
    G, G' and the blocks' order: ``cell_kinds.KINDS[kind]`` (gates, pre_names).

    ``h_prev`` (T, N, H_out) / ``c_prev`` (T, N, H): the state each step read (h_{t-1}, or h_{t+1}
    in reverse), as views of the buffer that holds ``hs`` / ``cells`` beside the initial state (the
    forward wrote h_0 into the row before the first step), so that backward copies nothing; None
    where the forward did not lay them out so (``_dispatch.previous_states`` makes them then)."""

    __setattr__ = frozen_setattr

    hs: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    gates: np.ndarray | None
    pre: np.ndarray
    cells: np.ndarray | None
    h_prev: np.ndarray | None = None
    c_prev: np.ndarray | None = None

    def select(self, rows: np.ndarray) -> "DirectionRun":
        """The same run with only batch rows ``rows`` (a new record of copies)."""
        def pick(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[:, rows]

        return DirectionRun(pick(self.hs), self.h_n[rows], None if self.c_n is None else self.c_n[rows],
                            pick(self.gates), pick(self.pre), pick(self.cells))


class DirectionGrads(NamedTuple):
    """Gradients of one layer/direction. ``dx`` (T, N, I), ``dh0`` (N, H_out), ``dc0`` (N, H) or None,
    parameter gradients by their short names (``cell_kinds.PARAMETERS``: ``w_ih``, ``w_hh``, ``b_ih``,
    ``b_hh``, ``w_hr``), ``dh_all`` (T, N, H_out) / ``dc_all`` (T, N, H) the total dL/dh_t, dL/dc_t
    of every step."""

    __setattr__ = frozen_setattr

    dx: np.ndarray
    dh0: np.ndarray
    dc0: np.ndarray | None
    params: dict
    dh_all: np.ndarray
    dc_all: np.ndarray | None


class BatchLayout(NamedTuple):
    """How the caller's arrays map to the kernels' time-major (T, N, ·) rows.

    ``form``: ``'time_major'`` (L, N, ·), ``'batch_first'`` (N, L, ·), ``'unbatched'`` (L, ·) or
    ``'packed'``; ``active`` (T,) int64: rows 0..active[t]-1 take part in step t. Packed input only:
    ``t_idx``/``b_idx`` (sum(lengths),) the (step, kernel row) of each data row, and PyTorch's
    ``sorted_indices``/``unsorted_indices`` (None when the sequence was packed sorted).
    """

    __setattr__ = frozen_setattr

    form: str
    active: np.ndarray
    t_idx: np.ndarray | None = None
    b_idx: np.ndarray | None = None
    sorted_indices: np.ndarray | None = None
    unsorted_indices: np.ndarray | None = None


class Kept(NamedTuple):
    """What a trace of a forward keeps: ``layers[l]`` whether layer l was asked for; ``rows`` the
    kernel batch rows, in the order asked for (None: all, in kernel order); ``selected`` whether
    the ``DirectionRun`` of those layers already hold only ``rows`` (a traced forward without a
    graph selects as it goes; one kept whole for backward is selected when the trace is read)."""

    __setattr__ = frozen_setattr

    layers: tuple[bool, ...]
    rows: np.ndarray | None = None
    selected: bool = False


class LayerRun(NamedTuple):
    """One forward of a recurrent layer (or of a cell, as one layer of one step), as arrays.

    ``output`` (T, N, D*H_out) time-major in the kernels' batch order; ``h_n`` (L*D, N, H_out),
    ``c_n`` (L*D, N, H) or None; ``h0``/``c0`` likewise, the initial states; ``directions[l*D + d]``
    the kernels' buffers (records of every step where a layer was recorded or kept for backward,
    one-step scratch otherwise); ``inputs[l]`` (T, N, I_l) what layer l read (after dropout), None
    where it was neither recorded nor kept; ``weights[l*D + d]`` the arrays the kernels read;
    ``masks[l]`` the dropout multiplier after layer l, or None. ``own_states``: ``h0``/``c0`` were
    made by the forward (zeros, no ``hx`` given), so nobody else holds or changes them.
    """

    __setattr__ = frozen_setattr

    output: np.ndarray
    h_n: np.ndarray
    c_n: np.ndarray | None
    h0: np.ndarray
    c0: np.ndarray | None
    layout: BatchLayout
    directions: tuple[DirectionRun, ...]
    inputs: tuple[np.ndarray | None, ...]
    weights: tuple[WeightLayout, ...]
    masks: tuple[np.ndarray | None, ...]
    kept: Kept
    own_states: bool = False

    @property
    def runs(self) -> tuple[DirectionRun, ...]:
        """``directions`` by its former name."""
        return self.directions


class StateGradients:
    """dL/dh_t and dL/dc_t of every step of each layer and direction, from one backward.

    The autograd node of a forward fills it (``put``) when its backward runs; the Trace of that
    forward reads it (``get``). A second backward (``retain_graph=True``) replaces the values.
    """

    __slots__ = ("_by_direction",)

    def __init__(self) -> None:
        self._by_direction: dict[int, tuple[np.ndarray, np.ndarray | None]] = {}

    def put(self, k: int, dh_all: np.ndarray, dc_all: np.ndarray | None) -> None:
        """The gradients of layer/direction ``k = layer * D + direction``: (T, N, H_out), (T, N, H) or None."""
        self._by_direction[k] = (dh_all, dc_all)

    def get(self, k: int) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(dL/dh_t, dL/dc_t or None) of layer/direction ``k``; None before a backward has run."""
        return self._by_direction.get(k)

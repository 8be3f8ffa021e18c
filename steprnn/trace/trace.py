"""``Trace``: every gate, pre-activation and state of one forward, as the kernels recorded them
(an LSTM's pre-activations: recomputed from the recorded states, ``trace.build``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..cell_kinds import KINDS, direction_key

FORMAT_VERSION = 1


class Trace:
    """The recorded forward of one recurrent layer or cell.

    Every accessor returns a NumPy array ``(L, N, H)``: time-major, batch elements in input order
    (the ones recorded), units last, whatever ``batch_first`` was; the reverse direction is in
    input order too. Steps past a sequence's length (packed input) are NaN.

    ``arrays`` holds, for each recorded layer ``l`` and direction ``d`` (key prefix ``l{l}d{d}.``):
    ``gates`` (L, N, G*H) activated gates in PyTorch's row order, ``pre`` (L, N, G'*H)
    pre-activations (GRU: r|z|n|W_hn h + b_hn), ``c`` (L, N, H) for LSTM, ``h`` (L, N, H_out),
    ``x`` (L, N, I_l) the layer's input, ``h0``/``c0`` (N, ·) the initial state, and the weights
    ``w_ih``, ``w_hh``, ``b_ih``, ``b_hh``, ``w_hr`` of that layer and direction.
    """

    def __init__(self, meta: dict | None, arrays: dict[str, np.ndarray] | None, output: Any = None,
                 h_n: Any = None, c_n: Any = None, build: Any = None) -> None:
        self._meta = meta
        self._arrays = arrays
        self._build = build  # () -> (meta, arrays): a traced forward defers this work to first use
        self.output = output
        self.h_n = h_n
        self.c_n = c_n
        self._gradients = None  # (layer, direction, 0 | 1) -> dL/dh_t | dL/dc_t, set by a traced forward

    def _materialise(self) -> None:
        if self._build is not None:
            self._meta, self._arrays = self._build()
            self._build = None

    @property
    def meta(self) -> dict:
        """What the trace is of: kind, sizes, recorded layers and batch elements, lengths, dtype."""
        self._materialise()
        return self._meta

    @property
    def arrays(self) -> dict[str, np.ndarray]:
        """Every recorded array by key (``l0d1.gates``, ``l0d1.x``, ``l0d1.w_ih``, ...)."""
        self._materialise()
        return self._arrays

    # -- description ----------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        """``'rnn'``, ``'lstm'`` or ``'gru'``."""
        return self.meta["kind"]

    @property
    def num_layers(self) -> int:
        return self.meta["num_layers"]

    @property
    def num_directions(self) -> int:
        return self.meta["num_directions"]

    @property
    def gate_names(self) -> tuple[str, ...]:
        """``('i','f','g','o')`` for LSTM, ``('r','z','n')`` for GRU, ``()`` for RNN."""
        return KINDS[self.kind].gates

    @property
    def hidden_size(self) -> int:
        return self.meta["hidden_size"]

    @property
    def layers(self) -> tuple[int, ...]:
        """The layers this trace recorded."""
        return tuple(self.meta["layers"])

    @property
    def batch(self) -> tuple[int, ...]:
        """The batch elements (input order) this trace recorded."""
        return tuple(self.meta["batch"])

    @property
    def lengths(self) -> np.ndarray:
        """(N,) the length of each recorded sequence."""
        return np.asarray(self.meta["lengths"], dtype=np.int64)

    @property
    def seq_len(self) -> int:
        return self.meta["seq_len"]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.meta["dtype"])

    def __repr__(self) -> str:
        m = self.meta
        what = "cell" if m.get("cell") else f"{m['num_layers']} layer(s) x {m['num_directions']} direction(s)"
        return (f"Trace({m['kind']}, {what}, L={m['seq_len']}, N={len(m['batch'])}, H={m['hidden_size']}, "
                f"recorded layers {list(m['layers'])}, gates {self.gate_names})")

    def _repr_html_(self) -> str:
        """Jupyter: the summary line above the trace figure (first recorded layer and batch element)."""
        from ..plot.display import trace_html

        return trace_html(self)

    # -- accessors ------------------------------------------------------------------------------
    def _key(self, layer: int, direction: int) -> str:
        if isinstance(layer, bool) or isinstance(direction, bool) \
                or not isinstance(layer, (int, np.integer)) or not isinstance(direction, (int, np.integer)):
            raise TypeError(f"layer and direction must be ints, got {layer!r} and {direction!r}")
        if not 0 <= direction < self.num_directions:
            raise ValueError(f"direction must be in 0..{self.num_directions - 1} for this trace, got {direction}")
        if not 0 <= layer < self.num_layers:
            raise ValueError(f"layer must be in 0..{self.num_layers - 1}, got {layer}")
        if layer not in self.meta["layers"]:
            raise ValueError(f"layer {layer} was not recorded (this trace holds layers {list(self.meta['layers'])})")
        return direction_key(int(layer), int(direction))

    def array(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """A stored array by its short name (``gates``, ``pre``, ``c``, ``h``, ``x``, ``h0``, ``w_ih``...)."""
        key = self._key(layer, direction) + name
        if key not in self.arrays:
            raise ValueError(f"this {self.kind} trace has no {name!r}")
        return self.arrays[key]

    def _gate_index(self, name: str) -> int:
        if name not in self.gate_names:
            have = ", ".join(repr(g) for g in self.gate_names) or "none (an RNN has no gates; use h() or preactivation('h'))"
            raise ValueError(f"unknown gate {name!r} for a {self.kind.upper()}: gates are {have}")
        return self.gate_names.index(name)

    def gate(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H) the activated gate ``name`` (σ or tanh of its pre-activation)."""
        k, H = self._gate_index(name), self.hidden_size
        return self.array("gates", layer, direction)[:, :, k * H:(k + 1) * H]

    def preactivation(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H) the argument of a gate's σ/tanh; ``'h'`` for an RNN's tanh/ReLU argument.

        GRU's ``'n'`` is W_in x + b_in + r ⊙ (W_hn h + b_hn); ``'hn'`` gives W_hn h + b_hn.
        """
        H = self.hidden_size
        pre = self.array("pre", layer, direction)
        names = KINDS[self.kind].pre_names
        if not self.gate_names:
            if name not in names:
                raise ValueError(f"an RNN has one pre-activation, 'h'; got {name!r}")
            return pre
        k = names.index(name) if name in names else self._gate_index(name)  # unknown names: the gate error
        return pre[:, :, k * H:(k + 1) * H]

    def h(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H_out) the hidden state after each step (the layer's output for that direction)."""
        return self.array("h", layer, direction)

    def c(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H) the LSTM cell state after each step."""
        if not KINDS[self.kind].has_cell_state:
            raise ValueError(f"only an LSTM has a cell state; this trace is of a {self.kind.upper()}")
        return self.array("c", layer, direction)

    def grad_h(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H_out) dL/dh_t of every step, from a backward through this traced forward.

        The total gradient reaching h_t (from the output at t and from every later step): its norm
        over t shows vanishing or exploding gradients.
        """
        return self._grad(layer, direction, 0)

    def grad_c(self, layer: int = 0, direction: int = 0) -> np.ndarray:
        """(L, N, H) dL/dc_t of every step of an LSTM, from a backward through this traced forward."""
        if not KINDS[self.kind].has_cell_state:
            raise ValueError(f"only an LSTM has a cell state; this trace is of a {self.kind.upper()}")
        return self._grad(layer, direction, 1)

    def gradient_norms(self, layer: int = 0, direction: int = 0, state: str = "h") -> np.ndarray:
        """(L,) ‖dL/dh_t‖ (or ‖dL/dc_t‖ with ``state='c'``) at each step, over units and batch."""
        if not isinstance(state, str) or state not in ("h", "c"):
            raise ValueError(f"state must be 'h' or 'c', got {state!r}")
        g = self.grad_h(layer, direction) if state == "h" else self.grad_c(layer, direction)
        return np.sqrt(np.nansum(np.square(g, dtype=np.float64), axis=(1, 2)))

    def _grad(self, layer: int, direction: int, which: int) -> np.ndarray:
        self._key(layer, direction)
        g = None if self._gradients is None else self._gradients(layer, direction, which)
        if g is None:
            raise RuntimeError(
                "no gradients recorded for this trace: compute a loss from the traced forward's outputs "
                "and call loss.backward() (with grad mode on) before reading grad_h / grad_c"
            )
        return g

    def step(self, t: int, layer: int = 0, direction: int = 0, batch: int = 0):
        """The ``Step`` at time ``t`` (input order) of one layer, direction and batch element."""
        from .step import Step

        return Step.from_trace(self, t, layer, direction, batch)

    # -- files ----------------------------------------------------------------------------------
    def save(self, path: Any) -> None:
        """Write the whole trace to one ``.npz`` file (bit-exact; ``Trace.load`` reads it back)."""
        from .io import save

        save(self, path)

    @classmethod
    def load(cls, path: Any) -> "Trace":
        """Read a trace written by ``save``; a truncated or foreign file is refused with a ValueError."""
        from .io import load

        return load(path)

"""What each recurrent cell kind is, in one table: gates, activations, widths, names, equations.

Every module that needs a fact about RNN, LSTM or GRU reads it here: the layers and cells
(parameter shapes, names), the dispatcher (the record buffers it allocates), the autograd node
(parameter names), the tracer (gate names, the ``l{layer}d{direction}.`` key format, the memory
estimate), ``Step`` (activations) and the docstrings of ``nn.RNN``/``LSTM``/``GRU`` and the cells
(equations). Adding a cell kind is one entry here and its kernels in ``kernels/<device>/``.

Widths are in units of the hidden size H: a step of one batch row of a Trace holds ``gate_blocks * H``
activated gates, ``len(pre_names) * H`` pre-activations, ``H`` cell state (LSTM) and ``H_out``
hidden state (``H_out = proj_size`` with an LSTM projection, else H). A recorded forward keeps
only the pre-activations its backward reads (``kept_pre``); a Trace recomputes the others.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

__all__ = ["CellKind", "KINDS", "MODES", "PARAMETERS", "cell_kind", "direction_key", "parameter_suffix",
           "parameter_name", "with_equations"]


@dataclass(frozen=True)
class CellKind:
    """The facts about one cell kind that the layers, the dispatcher and the tracer share."""

    name: str  # 'rnn' | 'lstm' | 'gru': Trace.kind, the kernels' module name
    display: str  # 'RNN' | 'LSTM' | 'GRU': messages, autograd node names
    gates: tuple[str, ...]  # activated gates, in PyTorch's row order (Trace.gate_names)
    activations: Mapping[str, str]  # gate → 'σ' or 'tanh'
    rows_per_unit: int  # row blocks of weight_ih / weight_hh: G, the rows are G*H
    pre_names: tuple[str, ...]  # blocks of a Trace's pre-activations, in their order
    kept_pre: tuple[str, ...]  # the blocks a recorded forward keeps for every step (what its backward reads)
    has_cell_state: bool  # LSTM: c_t, (h_0, c_0), a projection weight_hr
    equations: str  # one step, as in PyTorch's docstrings (x_t, h_{t-1}; ⊙ elementwise)

    @property
    def gate_width(self) -> int:
        """Columns of the gates record, in units of H (0: no gates are recorded)."""
        return len(self.gates)

    @property
    def pre_width(self) -> int:
        """Columns of the pre-activation record, in units of H."""
        return len(self.pre_names)

    @property
    def kept_pre_width(self) -> int:
        """Columns of the pre-activations a recorded forward keeps for every step, in units of H."""
        return len(self.kept_pre)

    @property
    def written_pre(self) -> tuple[str, ...]:
        """The pre-activation blocks the kernels write (their ``pre`` record, in this order): those
        kept for backward; where none are (LSTM), all of them, into a one-step scratch."""
        return self.kept_pre or self.pre_names

    @property
    def cell_width(self) -> int:
        """Columns of the cell-state record, in units of H (1 for LSTM, else 0)."""
        return 1 if self.has_cell_state else 0

    @property
    def record_names(self) -> tuple[str, ...]:
        """The per-step records a forward fills, in the order the kernels take them (``rec``):
        ``'gates'``, ``'pre'``, ``'c'``, those of non-zero width."""
        widths = (("gates", self.gate_width), ("pre", self.pre_width), ("c", self.cell_width))
        return tuple(name for name, width in widths if width)

    def record_width(self, hidden_size: int, out_size: int) -> int:
        """Values one step of one batch row records: gates, pre-activations, c_t and h_t."""
        return (self.gate_width + self.pre_width + self.cell_width) * hidden_size + out_size

    def pre_index(self, name: str) -> int:
        """The block of ``name`` in the pre-activation record (ValueError if it has none)."""
        return self.pre_names.index(name)


_SIGMA, _TANH = "σ", "tanh"

KINDS: Mapping[str, CellKind] = MappingProxyType({
    "rnn": CellKind(
        name="rnn", display="RNN", gates=(), activations=MappingProxyType({}), rows_per_unit=1,
        pre_names=("h",), kept_pre=("h",), has_cell_state=False,
        equations="h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)      (ReLU with nonlinearity='relu')",
    ),
    "lstm": CellKind(
        name="lstm", display="LSTM", gates=("i", "f", "g", "o"),
        activations=MappingProxyType({"i": _SIGMA, "f": _SIGMA, "g": _TANH, "o": _SIGMA}), rows_per_unit=4,
        pre_names=("i", "f", "g", "o"), kept_pre=(), has_cell_state=True,
        equations="\n".join([
            "i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)",
            "f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)",
            "g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)",
            "o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)",
            "c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t",
            "h_t = o_t ⊙ tanh(c_t)      (with proj_size > 0: h_t = W_hr (o_t ⊙ tanh(c_t)))",
        ]),
    ),
    "gru": CellKind(
        name="gru", display="GRU", gates=("r", "z", "n"),
        activations=MappingProxyType({"r": _SIGMA, "z": _SIGMA, "n": _TANH}), rows_per_unit=3,
        pre_names=("r", "z", "n", "hn"), kept_pre=("hn",), has_cell_state=False,
        equations="\n".join([
            "r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)",
            "z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)",
            "n_t = tanh(W_in x_t + b_in + r_t ⊙ (W_hn h_{t-1} + b_hn))",
            "h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}",
        ]),
    ),
})

#: PyTorch's ``mode`` strings (``torch.nn.RNNBase``) → cell kind
MODES: Mapping[str, str] = MappingProxyType({"RNN_TANH": "rnn", "RNN_RELU": "rnn", "LSTM": "lstm", "GRU": "gru"})

#: (short name, PyTorch's name) of each parameter of one layer and direction, in PyTorch's order;
#: the short names key the kernels' weights, gradients and a trace's arrays (``l0d0.w_ih``)
PARAMETERS: tuple[tuple[str, str], ...] = (
    ("w_ih", "weight_ih"), ("w_hh", "weight_hh"), ("b_ih", "bias_ih"), ("b_hh", "bias_hh"), ("w_hr", "weight_hr"),
)


def cell_kind(name: str) -> CellKind:
    """The table entry of ``'rnn'``, ``'lstm'`` or ``'gru'``."""
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown cell kind {name!r}: expected one of {', '.join(map(repr, KINDS))}") from None


def parameter_suffix(layer: int, direction: int) -> str:
    """``'_l1_reverse'``: what PyTorch appends to a parameter name for a layer and direction."""
    return f"_l{layer}_reverse" if direction else f"_l{layer}"


def parameter_name(short: str, layer: int, direction: int) -> str:
    """``parameter_name('w_ih', 1, 1)`` → ``'weight_ih_l1_reverse'``."""
    return _FULL[short] + parameter_suffix(layer, direction)


def direction_key(layer: int, direction: int) -> str:
    """``'l1d0.'``: the prefix of a trace's arrays of one layer and direction."""
    return f"l{layer}d{direction}."


def with_equations(doc: str, kind: str) -> str:
    """``doc`` with its ``{equations}`` line replaced by ``kind``'s equations, indented as that line
    (the layers' and cells' docstrings show the table's equations, so they cannot drift apart)."""
    lines = []
    for line in doc.split("\n"):
        if line.strip() == "{equations}":
            indent = line[:len(line) - len(line.lstrip())]
            lines += [indent + eq for eq in KINDS[kind].equations.split("\n")]
        else:
            lines.append(line)
    return "\n".join(lines)


_FULL = dict(PARAMETERS)

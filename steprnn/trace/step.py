"""``Step``: one time step of one layer, direction and batch element, as a lecturer writes it."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cell_kinds import KINDS


def _num(v: float) -> str:
    return "nan" if np.isnan(v) else f"{v:.3f}".replace("-", "−")


def _factor(v: float) -> str:
    """A number as a factor in a product: negative ones in parentheses."""
    return f"({_num(v)})" if v < 0 else _num(v)


def _sum(terms: list[float]) -> str:
    """'0.412 + 0.031 − 0.220' from the terms' values."""
    out = _num(terms[0])
    for v in terms[1:]:
        out += (" − " + _num(-v)) if v < 0 else (" + " + _num(v))
    return out


@dataclass
class Step:
    """The values of one step: ``x`` (I,), ``h_prev`` (H_out,), ``c_prev`` (H,) or None, ``gates``
    {name: (H,)}, ``pre`` {name: (H,)}, ``c`` (H,) or None, ``h`` (H_out,); the layer's weights
    ride along in ``weights`` so that ``explain`` can split each pre-activation into its terms."""

    kind: str
    t: int
    layer: int
    direction: int
    batch: int
    x: np.ndarray
    h_prev: np.ndarray
    c_prev: np.ndarray | None
    gates: dict[str, np.ndarray]
    pre: dict[str, np.ndarray]
    c: np.ndarray | None
    h: np.ndarray
    weights: dict[str, np.ndarray] = field(repr=False)
    nonlinearity: str = "tanh"

    @classmethod
    def from_trace(cls, tr: Any, t: int, layer: int = 0, direction: int = 0, batch: int = 0) -> "Step":
        key = tr._key(layer, direction)
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)):
            raise TypeError(f"batch must be an int (a batch element in input order), got {batch!r}")
        if batch not in tr.batch:
            raise ValueError(f"batch element {batch} was not recorded (this trace holds {list(tr.batch)})")
        pos = tr.batch.index(batch)
        T = tr.seq_len
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)):
            raise TypeError(f"t must be an int, got {t!r}")
        t = int(t) + T if t < 0 else int(t)
        length = int(tr.lengths[pos])
        if not 0 <= t < length:
            raise ValueError(f"t must be in 0..{length - 1} for batch element {batch} (its length is {length}), got {t}")
        reverse = direction == 1
        first = (t == length - 1) if reverse else (t == 0)
        prev = t + 1 if reverse else t - 1
        h_all = tr.h(layer, direction)
        h_prev = tr.arrays[key + "h0"][pos] if first else h_all[prev, pos]
        c_prev = None
        has_c = KINDS[tr.kind].has_cell_state
        if has_c:
            c_prev = tr.arrays[key + "c0"][pos] if first else tr.c(layer, direction)[prev, pos]
        gates = {g: tr.gate(g, layer, direction)[t, pos] for g in tr.gate_names}
        pre = {g: tr.preactivation(g, layer, direction)[t, pos] for g in KINDS[tr.kind].pre_names}
        weights = {k[len(key):]: v for k, v in tr.arrays.items() if k.startswith(key) and k[len(key):].startswith(("w_", "b_"))}
        return cls(tr.kind, t, layer, direction, batch, tr.arrays[key + "x"][t, pos], h_prev, c_prev, gates, pre,
                   tr.c(layer, direction)[t, pos] if has_c else None, h_all[t, pos], weights,
                   tr.meta["nonlinearity"])

    # -- text -----------------------------------------------------------------------------------
    @property
    def hidden_size(self) -> int:
        return self.weights["w_hh"].shape[0] // KINDS[self.kind].rows_per_unit

    @property
    def _prev(self) -> str:
        """The subscript of the state this step reads: t-1 forward, t+1 in the reverse direction."""
        return "t+1" if self.direction else "t-1"

    def _header(self, unit: int | None = None) -> str:
        d = "reverse" if self.direction else "forward"
        u = "" if unit is None else f", unit {unit} of {self.hidden_size}"
        return f"{self.kind.upper()} layer {self.layer} ({d}), t = {self.t}, batch element {self.batch}{u}"

    def _terms(self, k: int, j: int) -> list[float]:
        """[W_i·x_t, b_i, W_h·h_{t-1}, b_h] for row k*H + j, in float64 (no bias: two terms)."""
        H = self.hidden_size
        row = k * H + j
        w = self.weights
        terms = [float(np.dot(w["w_ih"][row].astype(np.float64), self.x.astype(np.float64)))]
        if "b_ih" in w:
            terms.append(float(w["b_ih"][row]))
        terms.append(float(np.dot(w["w_hh"][row].astype(np.float64), self.h_prev.astype(np.float64))))
        if "b_hh" in w:
            terms.append(float(w["b_hh"][row]))
        return terms

    def explain(self, unit: int = 0) -> str:
        """The cell's equations for one unit, with this step's numbers substituted in each."""
        H = self.hidden_size
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < H:
            raise ValueError(f"unit must be an int in 0..{H - 1}, got {unit!r}")
        j = int(unit)
        bias = "b_ih" in self.weights
        p = self._prev
        lines = [self._header(j)]
        if self.kind == "rnn":
            f = "tanh" if self.nonlinearity == "tanh" else "relu"
            sym = f"W_ih·x_t + b_ih + W_hh·h_{{{p}}} + b_hh" if bias else f"W_ih·x_t + W_hh·h_{{{p}}}"
            lines.append(f"h_t = {f}({sym}) = {f}({_sum(self._terms(0, j))}) = {f}({_num(self.pre['h'][j])}) "
                         f"= {_num(self.h[j])}")
            return "\n".join(lines)
        activations = KINDS[self.kind].activations
        for k, g in enumerate(self.gates):
            act = activations[g]
            if self.kind == "gru" and g == "n":
                t = self._terms(k, j)
                x_part, h_part = (t[:2], t[2:]) if bias else (t[:1], t[1:])
                sym = (f"W_in·x_t + b_in + r_t⊙(W_hn·h_{{{p}}} + b_hn)" if bias else f"W_in·x_t + r_t⊙(W_hn·h_{{{p}}})")
                val = f"{_sum(x_part)} + {_num(self.gates['r'][j])}·({_sum(h_part)})"
            else:
                sym = (f"W_i{g}·x_t + b_i{g} + W_h{g}·h_{{{p}}} + b_h{g}" if bias else f"W_i{g}·x_t + W_h{g}·h_{{{p}}}")
                val = _sum(self._terms(k, j))
            lines.append(f"{g}_t = {act}({sym}) = {act}({val}) = {act}({_num(self.pre[g][j])}) = {_num(self.gates[g][j])}")
        if self.kind == "lstm":
            i, f, g, o = (self.gates[n][j] for n in "ifgo")
            lines.append(f"c_t = f_t⊙c_{{{p}}} + i_t⊙g_t = {_num(f)}·{_factor(self.c_prev[j])} + {_num(i)}·{_factor(g)} "
                         f"= {_num(self.c[j])}")
            if self.h.shape[0] == H:
                lines.append(f"h_t = o_t⊙tanh(c_t) = {_num(o)}·tanh({_num(self.c[j])}) = {_num(self.h[j])}")
            else:
                m = o * np.tanh(self.c[j])
                lines.append(f"m_t = o_t⊙tanh(c_t) = {_num(o)}·tanh({_num(self.c[j])}) = {_num(m)}")
                shown = ", ".join(_num(v) for v in self.h[:6]) + (", …" if self.h.shape[0] > 6 else "")
                lines.append(f"h_t = W_hr·m_t (projection to {self.h.shape[0]} values) = [{shown}]")
        else:
            z, n = self.gates["z"][j], self.gates["n"][j]
            lines.append(f"h_t = (1 − z_t)⊙n_t + z_t⊙h_{{{p}}} = (1 − {_num(z)})·{_factor(n)} + {_num(z)}·"
                         f"{_factor(self.h_prev[j])} = {_num(self.h[j])}")
        return "\n".join(lines)

    def _columns(self) -> list[tuple[str, np.ndarray]]:
        cols = [(g, v) for g, v in self.gates.items()]
        if self.kind == "lstm":
            cols += [(f"c_{{{self._prev}}}", self.c_prev), ("c_t", self.c)]
        if self.h.shape[0] == self.hidden_size:
            cols += [(f"h_{{{self._prev}}}", self.h_prev), ("h_t", self.h)]
        elif self.kind == "rnn":
            cols += [("h_t", self.h)]
        return cols

    def __str__(self) -> str:
        cols = self._columns()
        lines = [self._header(), "unit " + "".join(f"{name:>9s}" for name, _ in cols)]
        for j in range(self.hidden_size):
            lines.append(f"{j:4d} " + "".join(f"{_num(v[j]):>9s}" for _, v in cols))
        if self.h.shape[0] != self.hidden_size:
            lines.append("h_t (projected): [" + ", ".join(_num(v) for v in self.h) + "]")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """A colour-coded table for Jupyter: σ gates white→blue on [0, 1], other values red–white–blue on [−1, 1]."""
        cols = self._columns()

        def colour(name: str, v: float) -> str:
            if np.isnan(v):
                return "#dddddd"
            if KINDS[self.kind].activations.get(name) == "σ":
                a = float(np.clip(v, 0, 1))
                return f"rgba(33, 102, 172, {a:.2f})"
            a = float(np.clip(abs(v), 0, 1))
            return f"rgba(33, 102, 172, {a:.2f})" if v >= 0 else f"rgba(178, 24, 43, {a:.2f})"

        head = "".join(f"<th>{html.escape(n)}</th>" for n, _ in cols)
        rows = []
        for j in range(self.hidden_size):
            cells = "".join(
                f'<td style="background:{colour(n, float(v[j]))};text-align:right;font-family:monospace">'
                f"{html.escape(_num(float(v[j])))}</td>" for n, v in cols)
            rows.append(f"<tr><th>{j}</th>{cells}</tr>")
        return (f"<div><b>{html.escape(self._header())}</b><table><tr><th>unit</th>{head}</tr>"
                + "".join(rows) + "</table></div>")

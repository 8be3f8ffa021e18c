"""``cell_diagram``: a cell's wiring as a lecturer draws it, annotated with one step's values.

The drawing follows Christopher Olah's "Understanding LSTM Networks" (2015): yellow boxes are
learned layers (σ or tanh of a weighted sum of [h_{t-1}, x_t]), pink circles are pointwise
operations, the cell state runs along the top. Each wire carries a badge with the value of one
unit at this step, coloured on the fixed scale of that quantity; the vectors that enter and leave
(x_t, h_{t-1}, c_{t-1}, c_t, h_t) are drawn as strips of all their units, the chosen one outlined.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle

from ..trace.step import Step
from . import style

LAYER_COLOUR = "#ffd966"   # colah's yellow
OP_COLOUR = "#f4b6c2"      # colah's pink
CELL_COLOUR = "#f2f2f2"
WIRE = "#303030"
HB = 0.475                 # half the height of a learned layer's box
MAX_STRIP = 64             # units drawn in a strip; longer vectors show their first MAX_STRIP


class _Canvas:
    """Drawing primitives in data coordinates on a 16 x 9 axes (y up)."""

    def __init__(self, ax: Any) -> None:
        self.ax = ax

    def wire(self, *points: tuple[float, float], arrow: bool = True, colour: str = WIRE, lw: float = 2.2) -> None:
        xs, ys = zip(*points)
        if len(points) > 2:
            self.ax.plot(xs[:-1], ys[:-1], color=colour, lw=lw, solid_capstyle="round", zorder=1)
        self.ax.add_patch(FancyArrowPatch(points[-2], points[-1], arrowstyle="-|>" if arrow else "-",
                                          mutation_scale=18, color=colour, lw=lw, shrinkA=0, shrinkB=0, zorder=1))

    def dot(self, x: float, y: float) -> None:
        self.ax.add_patch(Circle((x, y), 0.07, color=WIRE, zorder=2))

    def layer(self, x: float, y: float, text: str, name: str, w: float = 1.1, h: float = 2 * HB) -> None:
        """A learned layer: a yellow box with its function and, below it inside the box, its name."""
        self.ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.08",
                                         facecolor=LAYER_COLOUR, edgecolor=WIRE, lw=1.5, zorder=3))
        self.ax.text(x, y + (0.12 if name else 0.0), text, ha="center", va="center", fontsize=style.FONT_SIZE + 1,
                     zorder=4)
        if name:
            self.ax.text(x, y - h / 2 + 0.1, name, ha="center", va="bottom", fontsize=style.SMALL_SIZE - 1,
                         style="italic", zorder=4)

    def op(self, x: float, y: float, text: str, r: float = 0.28) -> None:
        self.ax.add_patch(Circle((x, y), r, facecolor=OP_COLOUR, edgecolor=WIRE, lw=1.5, zorder=3))
        size = style.FONT_SIZE + 3 if len(text) == 1 else style.SMALL_SIZE - 1
        self.ax.text(x, y, text, ha="center", va="center", fontsize=size, zorder=4)

    def badge(self, x: float, y: float, text: str, value: float, scale: str, ha: str = "center") -> None:
        """``text = value`` on a background coloured by ``value`` on the fixed ``scale``."""
        if np.isnan(value):
            face, ink = "white", style.MUTED
        else:
            face = style.cmap(scale)(Normalize(*style.LIMITS[scale])(value))
            ink = "white" if _luminance(face) < 0.45 else "black"
        self.ax.text(x, y, f"{text} = {_num(value)}", ha=ha, va="center", fontsize=style.SMALL_SIZE,
                     color=ink, zorder=6,
                     bbox=dict(boxstyle="round,pad=0.25", facecolor=face, edgecolor=WIRE, lw=0.8))

    def strip(self, x: float, y: float, w: float, values: np.ndarray, scale: str, label: str,
              unit: int | None, h: float = 0.32, label_side: str = "above") -> None:
        """All of ``values`` as a row of coloured cells, left edge at x, centred on y."""
        v = np.asarray(values, dtype=np.float64)[:MAX_STRIP]
        n = max(len(v), 1)
        cw = w / n
        cm, norm = style.cmap(scale), Normalize(*style.LIMITS[scale])
        for k, value in enumerate(v):
            face = "white" if np.isnan(value) else cm(norm(value))
            self.ax.add_patch(Rectangle((x + k * cw, y - h / 2), cw, h, facecolor=face, edgecolor="none", zorder=5))
        self.ax.add_patch(Rectangle((x, y - h / 2), w, h, fill=False, edgecolor=WIRE, lw=0.8, zorder=6))
        if unit is not None and unit < len(v):
            self.ax.add_patch(Rectangle((x + unit * cw, y - h / 2 - 0.04), cw, h + 0.08, fill=False,
                                        edgecolor=style.ACCENT, lw=2.2, zorder=7))
        ly = y + h / 2 + 0.1 if label_side == "above" else y - h / 2 - 0.1
        self.ax.text(x + w / 2, ly, label, ha="center", va="bottom" if label_side == "above" else "top",
                     fontsize=style.SMALL_SIZE, zorder=6)


def _luminance(rgba: Any) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _num(v: float) -> str:
    return "nan" if np.isnan(v) else f"{v:.2f}".replace("-", "−")


def _x_scale(s: Step) -> str:
    """A deeper layer's input is the h of the layer below (tanh range); layer 0's is unbounded."""
    return "tanh" if s.layer > 0 else "pre"


def _at(v: np.ndarray | None, j: int) -> float:
    return float("nan") if v is None or j >= len(v) else float(v[j])


def _lstm(c: _Canvas, s: Step, j: int) -> None:
    ax = c.ax
    ax.add_patch(FancyBboxPatch((2.6, 1.3), 11.0, 6.0, boxstyle="round,pad=0.1,rounding_size=0.4",
                                facecolor=CELL_COLOUR, edgecolor="#9a9a9a", lw=1.5, zorder=0))
    yc, yb, yg = 6.5, 2.0, 3.2  # cell-state line, [h, x] bus, gate row
    xf, xi, xg, xo, xt = 4.6, 6.2, 7.8, 9.6, 11.4
    p = "t+1" if s.direction else "t-1"
    # the cell state: c_{t-1} -> x f -> + i*g -> c_t
    c.wire((1.0, yc), (xf - 0.28, yc))
    c.op(xf, yc, "×")
    c.wire((xf + 0.28, yc), (xg - 0.28, yc))
    c.op(xg, yc, "+")
    c.wire((xg + 0.28, yc), (15.2, yc))
    # the [h_{t-1}, x_t] bus feeding every gate
    c.wire((1.0, yb), (xo, yb), arrow=False)
    c.wire((3.4, 0.35), (3.4, yb), arrow=False)
    c.dot(3.4, yb)
    for x in (xf, xi, xg, xo):
        c.dot(x, yb)
        c.wire((x, yb), (x, yg - HB))
    c.layer(xf, yg, "σ", "forget f")
    c.layer(xi, yg, "σ", "input i")
    c.layer(xg, yg, "tanh", "cell g")
    c.layer(xo, yg, "σ", "output o")
    # f -> x on the cell line; i, g -> x -> +
    c.wire((xf, yg + HB), (xf, yc - 0.28))
    c.op(xg, 5.0, "×")
    c.wire((xi, yg + HB), (xi, 5.0), (xg - 0.28, 5.0))
    c.wire((xg, yg + HB), (xg, 5.0 - 0.28))
    c.wire((xg, 5.0 + 0.28), (xg, yc - 0.28))
    # c_t -> tanh -> x o -> h_t
    c.dot(xt, yc)
    c.op(xt, 5.0, "tanh", r=0.36)
    c.wire((xt, yc), (xt, 5.0 + 0.36))
    c.op(xt, yg, "×")
    c.wire((xt, 5.0 - 0.36), (xt, yg + 0.28))
    c.wire((xo + 0.55, yg), (xt - 0.28, yg))
    proj = s.h.shape[0] != s.hidden_size
    xv = 13.3  # where h_t leaves: up (the output) and right (the next step)
    if proj:
        xh = 12.45
        c.layer(xh, yg, "$W_{hr}$", "project", w=0.9)
        c.wire((xt + 0.28, yg), (xh - 0.45, yg))
        c.wire((xh + 0.45, yg), (xv, yg), (xv, yb), (15.2, yb))
    else:
        c.wire((xt + 0.28, yg), (xv, yg), (xv, yb), (15.2, yb))
    c.dot(xv, yg)
    c.wire((xv, yg), (xv, 8.5))
    # badges: one unit's values
    g = s.gates
    c.badge(xf - 0.15, 4.85, "$f_t$", _at(g["f"], j), "sigmoid", ha="right")
    c.badge(xi - 0.15, 4.3, "$i_t$", _at(g["i"], j), "sigmoid", ha="right")
    c.badge(xg + 0.2, 4.2, "$g_t$", _at(g["g"], j), "tanh", ha="left")
    c.badge((xo + 0.55 + xt - 0.28) / 2, yg + 0.72, "$o_t$", _at(g["o"], j), "sigmoid")  # clear of the box
    c.badge(xt - 0.5, 5.0, r"$\tanh(c_t)$", float(np.tanh(_at(s.c, j))), "tanh", ha="right")
    c.badge((xf + xg) / 2, yc + 0.45, rf"$f_t \odot c_{{{p}}}$", _at(g["f"], j) * _at(s.c_prev, j), "pre")
    c.badge(xg + 0.35, 5.75, r"$i_t \odot g_t$", _at(g["i"], j) * _at(g["g"], j), "pre", ha="left")
    # vectors in and out
    hj = None if proj else j
    hs = f" ({s.h.shape[0]} = proj_size)" if proj else ""
    c.strip(0.2, yc + 0.6, 2.0, s.c_prev, "pre", f"$c_{{{p}}}$", j)
    c.badge(1.2, yc - 0.45, f"$c_{{{p}}}$", _at(s.c_prev, j), "pre")
    c.strip(13.8, yc + 0.6, 2.0, s.c, "pre", "$c_t$", j)
    c.badge(14.6, yc - 0.45, "$c_t$", _at(s.c, j), "pre")
    c.strip(0.2, yb - 0.6, 2.0, s.h_prev, "tanh", f"$h_{{{p}}}$" + hs, hj, label_side="below")
    c.strip(3.7, 0.55, 2.0, s.x, _x_scale(s), "$x_t$ (every input)", None, label_side="below")
    c.strip(13.8, yb - 0.6, 2.0, s.h, "tanh", "$h_t$" + hs, hj, label_side="below")
    c.strip(xv - 1.0, 8.75, 2.0, s.h, "tanh", "", hj)
    ax.text(xv + 0.15, 8.3, "$h_t$ (output)", ha="left", va="center", fontsize=style.SMALL_SIZE)
    if not proj:
        c.badge(14.45, yb + 0.45, "$h_t$", _at(s.h, j), "tanh")
        c.badge(1.8, yb + 0.45, f"$h_{{{p}}}$", _at(s.h_prev, j), "tanh")
    ax.text(8.1, 7.55, "c: cell state", ha="center", fontsize=style.SMALL_SIZE, color=style.MUTED)


def _gru(c: _Canvas, s: Step, j: int) -> None:
    ax = c.ax
    ax.add_patch(FancyBboxPatch((2.6, 1.3), 11.6, 6.0, boxstyle="round,pad=0.1,rounding_size=0.4",
                                facecolor=CELL_COLOUR, edgecolor="#9a9a9a", lw=1.5, zorder=0))
    yh, yb, yg = 6.5, 2.0, 3.2
    xz, xr, xl, xn, xzm, xom, xp = 4.6, 6.3, 7.9, 9.5, 10.6, 12.1, 13.5
    p = "t+1" if s.direction else "t-1"
    # h_{t-1} along the top: x z -> + -> h_t
    c.wire((1.0, yh), (xzm - 0.28, yh))
    c.op(xzm, yh, "×")
    c.wire((xzm + 0.28, yh), (xp - 0.28, yh))
    c.op(xp, yh, "+")
    c.wire((xp + 0.28, yh), (15.2, yh))
    c.dot(14.4, yh)
    c.wire((14.4, yh), (14.4, 8.5))
    # h_{t-1} drops into the bus that feeds the gates; x_t joins from below
    c.dot(3.1, yh)
    c.wire((3.1, yh), (3.1, yb), (xn, yb), arrow=False)
    c.wire((3.9, 0.35), (3.9, yb), arrow=False)
    c.dot(3.9, yb)
    for x in (xz, xr, xl, xn):
        c.dot(x, yb)
        c.wire((x, yb), (x, yg - HB))
    c.layer(xz, yg, "σ", "update z")
    c.layer(xr, yg, "σ", "reset r")
    c.layer(xl, yg, "$W_{hn} h$\n" + r"$+\ b_{hn}$", "")
    c.layer(xn, yg, "tanh", "new n")
    # r ⊙ (W_hn h + b_hn) into n
    c.op(xl, 4.5, "×")
    c.wire((xr, yg + HB), (xr, 4.5), (xl - 0.28, 4.5))
    c.wire((xl, yg + HB), (xl, 4.5 - 0.28))
    c.wire((xl + 0.28, 4.5), (xn, 4.5), (xn, yg + HB))
    # z -> x h_{t-1};  1 - z -> x n -> +
    c.wire((xz, yg + HB), (xz, 5.5), (xzm, 5.5), (xzm, yh - 0.28))
    c.dot(xzm, 5.5)
    c.wire((xzm, 5.5), (xom, 5.5), (xom, 4.5 + 0.3))
    c.op(xom, 4.5, "1−", r=0.3)
    c.op(xom, yg, "×")
    c.wire((xom, 4.5 - 0.3), (xom, yg + 0.28))
    c.wire((xn + 0.55, yg), (xom - 0.28, yg))
    c.wire((xom + 0.28, yg), (xp, yg), (xp, yh - 0.28))
    g = s.gates
    c.badge(xz - 0.15, 4.6, "$z_t$", _at(g["z"], j), "sigmoid", ha="right")
    c.badge(xr - 0.15, 3.95, "$r_t$", _at(g["r"], j), "sigmoid", ha="right")
    c.badge(xn + 0.15, 3.95, "$n_t$", _at(g["n"], j), "tanh", ha="left")
    c.badge(xl, 5.0, r"$r_t \odot (\ldots)$", _at(g["r"], j) * _at(s.pre.get("hn"), j), "pre")
    c.badge(xom - 0.4, 4.5, "$1 - z_t$", 1.0 - _at(g["z"], j), "sigmoid", ha="right")  # left: xp's wire is right
    c.badge((xzm + xp) / 2, yh + 0.45, rf"$z_t \odot h_{{{p}}}$", _at(g["z"], j) * _at(s.h_prev, j), "tanh")
    c.badge(xp + 0.45, 3.8, r"$(1 - z_t) \odot n_t$", (1.0 - _at(g["z"], j)) * _at(g["n"], j), "tanh", ha="left")
    c.strip(0.2, yh + 0.6, 2.0, s.h_prev, "tanh", f"$h_{{{p}}}$", j)
    c.badge(1.2, yh - 0.45, f"$h_{{{p}}}$", _at(s.h_prev, j), "tanh")
    c.strip(4.2, 0.55, 2.0, s.x, _x_scale(s), "$x_t$ (every input)", None, label_side="below")
    c.strip(13.4, 8.75, 2.0, s.h, "tanh", "", j)
    ax.text(14.55, 8.3, "$h_t$ (output)", ha="left", va="center", fontsize=style.SMALL_SIZE)
    c.strip(13.8, yh - 1.0, 2.0, s.h, "tanh", "$h_t$", j, label_side="below")
    c.badge(14.9, yh - 0.45, "$h_t$", _at(s.h, j), "tanh")


def _rnn(c: _Canvas, s: Step, j: int) -> None:
    ax = c.ax
    ax.add_patch(FancyBboxPatch((3.0, 1.3), 9.0, 5.6, boxstyle="round,pad=0.1,rounding_size=0.4",
                                facecolor=CELL_COLOUR, edgecolor="#9a9a9a", lw=1.5, zorder=0))
    yb, yg, yh = 2.0, 3.8, 5.6
    xa = 8.0
    p = "t+1" if s.direction else "t-1"
    c.wire((1.0, yb), (xa, yb), arrow=False)
    c.wire((5.0, 0.35), (5.0, yb), arrow=False)
    c.dot(5.0, yb)
    c.wire((xa, yb), (xa, yg - HB))
    f = "tanh" if s.nonlinearity == "tanh" else "ReLU"
    c.layer(xa, yg, f, "")
    c.wire((xa, yg + HB), (xa, yh), (15.2, yh))
    c.dot(13.0, yh)
    c.wire((13.0, yh), (13.0, 8.5))
    c.badge(xa + 0.2, yb + 0.75, "$a_t$", _at(s.pre["h"], j), "pre", ha="left")
    ax.text(xa + 0.7, yg, rf"$a_t = W_{{ih}} x_t + b_{{ih}} + W_{{hh}} h_{{{p}}} + b_{{hh}}$" + "\n"
            + rf"$h_t = \mathrm{{{f}}}(a_t)$", ha="left", va="center", fontsize=style.SMALL_SIZE, color=style.MUTED)
    c.badge(xa + 0.6, yh + 0.45, "$h_t$", _at(s.h, j), "tanh", ha="left")
    c.strip(0.2, yb + 0.6, 2.0, s.h_prev, "tanh", f"$h_{{{p}}}$", j)
    c.badge(1.8, yb - 0.45, f"$h_{{{p}}}$", _at(s.h_prev, j), "tanh")
    c.strip(5.3, 0.55, 2.0, s.x, _x_scale(s), "$x_t$ (every input)", None, label_side="below")
    c.strip(13.6, yh - 0.6, 2.0, s.h, "tanh", "$h_t$", j, label_side="below")
    c.strip(12.0, 8.75, 2.0, s.h, "tanh", "", j)
    ax.text(13.2, 8.3, "$h_t$ (output)", ha="left", va="center", fontsize=style.SMALL_SIZE)


@style.styled
def cell_diagram(step: Step, unit: int = 0) -> Figure:
    """The wiring of ``step``'s cell (LSTM, GRU or RNN) with this step's values.

    ``step`` is a :class:`~steprnn.trace.Step` (``trace.step(t, layer, direction, batch)``).
    Badges on the wires give ``unit``'s values (gates, products, states), coloured on the fixed
    scales (σ gates [0, 1], tanh-valued [-1, 1], c and products [-3, 3]); strips show every unit
    of the vectors entering and leaving, ``unit`` outlined. Returns a Figure.
    """
    if not isinstance(step, Step):
        raise TypeError(f"cell_diagram takes a Step (trace.step(t, ...)), got {type(step).__name__}")
    H = step.hidden_size
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < H:
        raise ValueError(f"unit must be an int in 0..{H - 1}, got {unit!r}")
    fig = style.figure(style.SLIDE, layout=None)
    ax = fig.add_axes((0.0, 0.045, 1.0, 0.895))
    ax.set_xlim(0, 16)
    ax.set_ylim(0, 9)
    ax.axis("off")
    {"lstm": _lstm, "gru": _gru, "rnn": _rnn}[step.kind](_Canvas(ax), step, int(unit))
    d = " (reverse)" if step.direction else ""
    fig.text(0.01, 0.975, f"{step.kind.upper()} cell, layer {step.layer}{d}, step t = {step.t}, batch element "
             f"{step.batch}: values of unit {unit} of {H}", ha="left", va="center", fontsize=style.TITLE_SIZE + 1)
    fig.text(0.99, 0.015, "yellow: learned layer  ·  pink: pointwise operation  ·  strips: every unit, "
             f"unit {unit} outlined  ·  colours: σ gates [0, 1], tanh values [−1, 1], unbounded ones [−3, 3]",
             ha="right", va="bottom", fontsize=style.SMALL_SIZE - 1, color=style.MUTED)
    return fig

"""``state_lines``: c_t and h_t of chosen units over time, one line per unit."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style
from ._axes import time_axis
from ._data import check_tokens, check_trace, series, where

DEFAULT_UNITS = 6


def _units(units: Any, H: int) -> list[int]:
    if units is None:
        return list(range(min(H, DEFAULT_UNITS)))
    if isinstance(units, (int, np.integer)) and not isinstance(units, bool):
        units = [units]
    out = []
    for u in units:
        if isinstance(u, bool) or not isinstance(u, (int, np.integer)) or not 0 <= u < H:
            raise ValueError(f"units must be ints in 0..{H - 1}, got {u!r}")
        out.append(int(u))
    if not out:
        raise ValueError("units must name at least one unit")
    return out


@style.styled
def state_lines(trace: Any, units: int | Sequence[int] | None = None, layer: int = 0, direction: int = 0,
                batch: int = 0, tokens: Sequence[Any] | str | None = None) -> Figure:
    """c_t (LSTM, raw, unbounded) and h_t of ``units`` (default: the first six) over time.

    One panel per state, one line per unit, in the same colour in both panels. h is drawn on the
    fixed [-1, 1] range of tanh; c on a range that holds its values. Steps past the sequence's
    end are NaN and leave a gap. Returns a Figure.
    """
    trace = check_trace(trace)
    pos_h = series(trace, "h", layer, direction, batch)  # (L, H_out)
    panels = []
    if trace.kind == "lstm":
        pos = trace.batch.index(batch)
        panels.append(("cell state", "$c_t$", np.asarray(trace.c(layer, direction)[:, pos], dtype=np.float64)))
    panels.append(("hidden state", "$h_t$", pos_h))
    H = max(p[2].shape[1] for p in panels)  # with proj_size, h has fewer units than c
    chosen = _units(units, H)
    L = pos_h.shape[0]
    tokens = check_tokens(tokens, L)
    fig = style.figure((style.SLIDE[0], min(style.SLIDE[1], 2.6 + 2.3 * len(panels))))
    axes = np.atleast_1d(fig.subplots(len(panels), 1, sharex=True))
    t = np.arange(L)
    for ax, (title, sym, values) in zip(axes, panels):
        for k, u in enumerate(chosen):
            if u >= values.shape[1]:
                continue
            ax.plot(t, values[:, u], marker="o", ms=4, lw=2, color=style.LINE_COLOURS[k % len(style.LINE_COLOURS)],
                    label=f"unit {u}")
        ax.axhline(0, color=style.MUTED, lw=0.8, zorder=0)
        if sym == "$h_t$":
            ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel(sym)
        if values.shape[1] < H:
            title += f" ({values.shape[1]} units: proj_size)"
        ax.set_title(f"{sym}: {title}", loc="left")
        ax.grid(axis="y", alpha=0.3)
        time_axis(ax, L, tokens, label=ax is axes[-1])
        if ax is not axes[-1]:
            ax.tick_params(axis="x", labelbottom=False)
    axes[0].legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.suptitle(where(trace, layer, direction, batch), x=0.01, ha="left")
    return fig

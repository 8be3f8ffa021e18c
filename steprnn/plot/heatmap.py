"""``gate_heatmap``: one gate (or c, h) of one layer, direction and batch element, time × unit."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes

from . import style
from ._axes import colorbar, time_axis, unit_axis
from ._data import check_tokens, check_trace, scale_of, series, title_of, where


def draw_heatmap(ax: Axes, values: np.ndarray, scale: str, tokens: Sequence[str] | None = None,
                 xlabel: bool = True) -> Any:
    """Draw (L, H) ``values`` on ``ax``: time on x, unit on y, NaN transparent. Returns the image."""
    L, H = values.shape
    lo, hi = style.LIMITS[scale]
    im = ax.imshow(np.ma.masked_invalid(values.T), cmap=style.cmap(scale), vmin=lo, vmax=hi,
                   aspect="auto", interpolation="nearest", extent=(-0.5, L - 0.5, H - 0.5, -0.5))
    time_axis(ax, L, tokens, label=xlabel)
    unit_axis(ax, H)
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)
    valid = ~np.isnan(values).all(axis=1)
    if valid.any() and not valid[-1]:  # a sequence shorter than the batch: mark where it ends
        end = int(np.flatnonzero(valid)[-1]) + 1
        ax.axvline(end - 0.5, color=style.MUTED, lw=1.2, ls=(0, (4, 3)))
    return im


@style.styled
def gate_heatmap(trace: Any, gate: str, layer: int = 0, direction: int = 0, batch: int = 0,
                 ax: Axes | None = None, tokens: Sequence[Any] | str | None = None) -> Axes:
    """Heatmap of ``gate`` over time (x) and units (y) for one layer, direction and batch element.

    ``gate`` is one of ``trace.gate_names``, ``'c'`` (LSTM; drawn as tanh(c) on [-1, 1]), ``'h'``,
    or ``'pre'`` (an RNN's pre-activation; ``'pre_f'`` etc. for a gate's). σ gates are drawn on a
    fixed [0, 1] scale, tanh-valued ones on [-1, 1], pre-activations on [-3, 3], each with a
    labelled colour bar. ``tokens`` (L strings, or one string of L characters) label the steps.
    Steps past the sequence's end are NaN in the trace and left blank. With ``ax=None`` a new
    Figure (outside pyplot) is made. Returns the Axes drawn on.
    """
    trace = check_trace(trace)
    values = series(trace, gate, layer, direction, batch)  # (L, H)
    tokens = check_tokens(tokens, values.shape[0])
    if ax is None:
        fig = style.figure(style.WIDE_STRIP)
        ax = fig.add_subplot()
    scale = scale_of(gate)
    draw_heatmap(ax, values, scale, tokens)
    ax.set_title(f"{title_of(gate)}  ·  {where(trace, layer, direction, batch)}", loc="left")
    colorbar(ax.figure, scale, ax, label=style.GATE_SYMBOLS.get(gate, gate), fraction=0.05, pad=0.02)
    return ax

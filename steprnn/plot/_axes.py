"""Axis helpers shared by the figures: the time axis with tokens, unit axes, colour bars."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from . import style
from ._data import visible_token

MAX_TOKEN_TICKS = 128  # beyond this, every k-th token is labelled


def time_axis(ax: Axes, length: int, tokens: Sequence[str] | None, label: bool = True) -> None:
    """Step numbers (or the tokens, one tick per step) on the x axis of ``ax``.

    Tokens stay upright while they fit side by side in the axes' width; otherwise they turn 90°.
    """
    ax.set_xlim(-0.5, length - 0.5)
    if tokens is not None:
        every = max(1, int(np.ceil(length / MAX_TOKEN_TICKS)))
        ticks = np.arange(0, length, every)
        shown = [visible_token(tokens[t]) for t in ticks]
        size = style.SMALL_SIZE if len(ticks) <= 48 else style.SMALL_SIZE - 2
        width = ax.figure.get_figwidth() * ax.get_position().width  # inches
        longest = max(len(s) for s in shown)
        needed = len(shown) * (0.6 * size * longest + 3) / 72  # inches the labels need upright
        ax.set_xticks(ticks, shown, rotation=0 if needed <= width else 90, fontsize=size)
        if label:
            ax.set_xlabel("input token (step t)")
    else:
        ax.xaxis.set_major_locator(MaxNLocator(nbins=min(length, 12), integer=True))
        if label:
            ax.set_xlabel("time step t")


def unit_axis(ax: Axes, units: int, label: str = "unit") -> None:
    ax.set_ylim(units - 0.5, -0.5)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=min(units, 6), integer=True))
    ax.set_ylabel(label)


def colorbar(fig: Any, scale: str, ax: Any, label: str | None = None, **kw: Any) -> Any:
    """A labelled colour bar for one of the fixed scales, beside ``ax`` (an Axes or a list)."""
    lo, hi = style.LIMITS[scale]
    sm = ScalarMappable(norm=Normalize(lo, hi), cmap=style.cmap(scale))
    extend = "both" if scale == "pre" else "neither"
    cb = fig.colorbar(sm, ax=ax, extend=extend, label=label or style.SCALE_LABELS[scale], **kw)
    cb.ax.tick_params(labelsize=style.SMALL_SIZE)
    return cb

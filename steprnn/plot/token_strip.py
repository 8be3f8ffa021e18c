"""``token_strip``: the input text, each token on a background coloured by one unit's value."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import style
from ._axes import colorbar
from ._data import check_tokens, check_trace, scale_of, series, title_of, where

LINE_WIDTH = 48  # characters per line before the text wraps


def _luminance(rgba: Any) -> float:
    r, g, b = rgba[:3]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _width(tok: str) -> float:
    return max(1.0, float(len(tok))) + (0.0 if len(tok) <= 1 else 0.6)


def layout(tokens: list[str], width: int = LINE_WIDTH) -> list[tuple[int, float, float]]:
    """(line, x, w) of each token: widths in characters (at least 1), wrapped at ``width``; a line
    breaks after a blank rather than inside a word when the word fits on the next line."""
    widths = [_width(t) for t in tokens]
    out, line, x = [], 0, 0.0
    for k, (tok, w) in enumerate(zip(tokens, widths)):
        if x + w > width and x > 0:
            line, x = line + 1, 0.0
        out.append((line, x, w))
        x += w
        if tok.isspace() and x > 0:  # would the next word cross the edge? then break here
            word = 0.0
            for nxt, wn in zip(tokens[k + 1:], widths[k + 1:]):
                if nxt.isspace():
                    break
                word += wn
            if x + word > width and word <= width:
                line, x = line + 1, 0.0
    return out


@style.styled
def token_strip(trace: Any, unit: int, tokens: Sequence[Any] | str, layer: int = 0, direction: int = 0,
                batch: int = 0, gate: str = "h") -> Figure:
    """The input text with each token's background coloured by ``unit``'s value of ``gate``
    (default ``'h'``; ``'c'`` gives tanh(c), or any gate) at that step: Karpathy et al. 2015's
    cell-over-text figure. ``tokens`` are the L tokens (a string: one per character); long texts
    wrap. Steps past the sequence's end are left uncoloured. Returns a Figure.
    """
    trace = check_trace(trace)
    values = series(trace, gate, layer, direction, batch)  # (L, H)
    H = values.shape[1]
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < H:
        raise ValueError(f"unit must be an int in 0..{H - 1}, got {unit!r}")
    v = values[:, int(unit)]
    tokens = check_tokens(tokens, v.shape[0])
    scale = scale_of(gate)
    cmap, norm = style.cmap(scale), Normalize(*style.LIMITS[scale])
    places = layout(tokens)
    lines = places[-1][0] + 1 if places else 1
    width = max(min(LINE_WIDTH, max((x + w for _, x, w in places), default=1)), 12)
    fig = style.figure((style.SLIDE[0], 1.6 + 0.62 * lines))
    ax = fig.add_subplot()
    for tok, value, (line, x, w) in zip(tokens, v, places):
        y = -line * 1.35
        if np.isnan(value):
            colour, text = None, style.MUTED
        else:
            colour = cmap(norm(value))
            text = "white" if _luminance(colour) < 0.45 else "black"
        if colour is not None:
            ax.add_patch(Rectangle((x, y - 0.5), w, 1.0, facecolor=colour, edgecolor="none"))
        ax.text(x + w / 2, y, tok.replace("\n", "↵").replace(" ", "\u00a0"), ha="center", va="center",
                family="monospace", fontsize=style.FONT_SIZE + 3, color=text)
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(-(lines - 1) * 1.35 - 0.7, 0.7)
    ax.set_aspect("auto")
    ax.axis("off")
    colorbar(fig, scale, ax, label=f"unit {unit}: {style.GATE_SYMBOLS.get(gate, gate)}", orientation="horizontal",
             fraction=0.5 / (lines + 1.5), pad=0.04, aspect=40, shrink=0.5)
    ax.set_title(f"unit {unit} of {title_of(gate)}  ·  {where(trace, layer, direction, batch)}", loc="left")
    return fig

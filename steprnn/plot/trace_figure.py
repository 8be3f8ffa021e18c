"""``trace_figure``: every gate, c and h of one layer on one shared time axis."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style
from ._axes import colorbar
from ._data import check_tokens, check_trace, names, scale_of, series, title_of, where
from .heatmap import draw_heatmap

# margins in inches (a fixed layout: constrained layout costs a second per draw, and animate and
# explore redraw this figure once per frame)
LEFT, RIGHT, TOP, BOTTOM = 1.45, 1.45, 0.72, 0.72
COLORBAR_WIDTH, COLORBAR_PAD = 0.16, 0.12
MARGIN = 0.1  # inches between the x label and the figure's lower edge


def _bottom(tokens: list[str] | None) -> float:
    """Inches below the lowest axes: room for tick labels (rotated tokens need more) and the label."""
    if tokens is None:
        return BOTTOM
    longest = max(len(t) for t in tokens)
    if longest <= 1:
        return BOTTOM
    return min(2.2, BOTTOM + 0.1 * longest)


@style.styled
def trace_figure(trace: Any, layer: int = 0, direction: int = 0, batch: int = 0,
                 tokens: Sequence[Any] | str | None = None) -> Figure:
    """Every gate, tanh(c) and h of one layer, direction and batch element, stacked over time.

    Rows are grouped by scale (σ gates on [0, 1] first, then the tanh-valued ones on [-1, 1]; an
    RNN shows its pre-activation on [-3, 3] and h), one colour bar per scale. ``tokens`` label the
    shared time axis. Returns a Figure (outside pyplot) sized for a 16:9 slide.
    """
    return draw(trace, layer, direction, batch, tokens)[0]


def draw(trace: Any, layer: int, direction: int, batch: int, tokens: Any) -> tuple[Figure, list, list, list]:
    """The trace figure, its axes, images and (L, H) values per row (for ``animate``/``explore``)."""
    trace = check_trace(trace)
    rows = names(trace)
    data = [series(trace, n, layer, direction, batch) for n in rows]
    tokens = check_tokens(tokens, data[0].shape[0])
    width, height = style.SLIDE
    fig = style.figure(style.SLIDE, layout=None)
    heights = [max(1.0, min(3.0, d.shape[1] / 8)) for d in data]
    axes = fig.subplots(len(rows), 1, sharex=True, gridspec_kw={
        "height_ratios": heights, "hspace": 0.5 if len(rows) > 2 else 0.3,
        "left": LEFT / width, "right": 1 - RIGHT / width, "top": 1 - TOP / height,
        "bottom": _bottom(tokens) / height})
    axes = list(np.atleast_1d(axes))
    groups: dict[str, list] = {}
    images = []
    for ax, name, values in zip(axes, rows, data):
        scale = scale_of(name)
        images.append(draw_heatmap(ax, values, scale, tokens, xlabel=ax is axes[-1]))
        ax.set_ylabel(style.GATE_SYMBOLS.get(name, name), rotation=0, ha="right", va="center",
                      fontsize=style.FONT_SIZE + 1, labelpad=12)
        ax.yaxis.set_major_locator(_few_units(values.shape[1]))
        ax.set_title(title_of(name), loc="left", fontsize=style.SMALL_SIZE, pad=3)
        if ax is not axes[-1]:
            ax.tick_params(axis="x", labelbottom=False)
        groups.setdefault(scale, []).append(ax)
    _fit_bottom(fig, axes, height)
    x0 = 1 - RIGHT / width + COLORBAR_PAD / width
    for scale, group in groups.items():
        top = group[0].get_position().y1
        bottom = group[-1].get_position().y0
        cax = fig.add_axes((x0, bottom, COLORBAR_WIDTH / width, top - bottom), label="<colorbar>")
        colorbar(fig, scale, None, cax=cax)
    fig.suptitle(where(trace, layer, direction, batch) + "  ·  rows: units", x=0.01, y=1 - 0.12 / height,
                 ha="left", va="top")
    return fig, axes, images, data


def _fit_bottom(fig: Figure, axes: list, height: float) -> None:
    """Move the axes' lower edge so that the lowest tick labels and x label end ``MARGIN`` inches
    above the figure's edge (one text measurement, no layout engine): short tokens leave no empty
    band, long rotated ones are not cut off."""
    renderer = fig._get_renderer()  # works on any canvas (these figures live outside pyplot)
    low = axes[-1].get_tightbbox(renderer).y0 / fig.dpi  # inches above the figure's bottom edge
    gs = axes[-1].get_subplotspec().get_gridspec()
    bottom = gs.bottom * height - (low - MARGIN)
    gs.update(bottom=min(max(bottom, 0.3), 0.45 * height) / height)
    for ax in axes:
        ax.set_position(ax.get_subplotspec().get_position(fig))


def _few_units(units: int) -> Any:
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=3 if units > 3 else units, integer=True)

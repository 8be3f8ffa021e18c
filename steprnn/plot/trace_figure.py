"""``trace_figure``: every gate, c and h of one layer on one shared time axis."""
from __future__ import annotations

from typing import Any, Sequence

from matplotlib.figure import Figure

from . import style
from ._axes import colorbar
from ._data import check_tokens, check_trace, names, scale_of, series, title_of, where
from .heatmap import draw_heatmap


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
    fig = style.figure(style.SLIDE)
    heights = [max(1.0, min(3.0, d.shape[1] / 8)) for d in data]
    axes = fig.subplots(len(rows), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    groups: dict[str, list] = {}
    images = []
    for ax, name, values in zip(axes, rows, data):
        scale = scale_of(name)
        images.append(draw_heatmap(ax, values, scale, tokens, xlabel=ax is axes[-1]))
        ax.set_ylabel(style.GATE_SYMBOLS.get(name, name), rotation=0, ha="right", va="center",
                      fontsize=style.FONT_SIZE + 1)
        ax.set_title(title_of(name), loc="left", fontsize=style.SMALL_SIZE, pad=3)
        if ax is not axes[-1]:
            ax.tick_params(axis="x", labelbottom=False)
        groups.setdefault(scale, []).append(ax)
    for scale, group in groups.items():
        colorbar(fig, scale, group, fraction=0.04, pad=0.01, aspect=8 * len(group))
    fig.suptitle(where(trace, layer, direction, batch), x=0.01, ha="left")
    return fig, list(axes), images, data

"""``saturation``: how often each unit's gates sit at 0 or 1 (Karpathy, Johnson & Fei-Fei 2015, fig. 3)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from . import style
from ._data import check_trace

MARKERS = ("o", "s", "^", "D", "v", "P")


def fractions(values: np.ndarray, low: float, high: float) -> tuple[np.ndarray, np.ndarray]:
    """(H,), (H,): per unit, the fraction of valid (non-NaN) entries of (L, N, H) ``values`` below
    ``low`` and above ``high``."""
    valid = ~np.isnan(values)
    n = np.maximum(valid.sum(axis=(0, 1)), 1)
    with np.errstate(invalid="ignore"):
        return (values < low).sum(axis=(0, 1)) / n, (values > high).sum(axis=(0, 1)) / n


@style.styled
def saturation(trace: Any, layers: Sequence[int] | None = None, low: float = 0.1, high: float = 0.9) -> Figure:
    """One panel per gate: each unit is a point at (fraction of steps left-saturated, fraction
    right-saturated), over every recorded step and batch element (NaN steps excluded).

    σ gates are left-saturated below ``low`` and right-saturated above ``high`` (Karpathy et al.
    2015 used 0.1 and 0.9). An RNN has no gates: its h (tanh range) is shown instead, mapped to
    [0, 1] as (h + 1) / 2, i.e. saturated below −0.8 or above 0.8. ``layers`` (default: every
    recorded layer) and both directions are drawn as differently coloured markers.
    Returns a Figure.
    """
    trace = check_trace(trace)
    if not 0 <= low < high <= 1:
        raise ValueError(f"expected 0 <= low < high <= 1, got low={low}, high={high}")
    layers = list(trace.layers if layers is None else layers)
    if trace.kind == "rnn":
        gates = ["h"]
    else:
        gates = [g for g in trace.gate_names if style.scale_of(g) == "sigmoid"]
    fig = style.figure((min(style.SLIDE[0], 4.4 * len(gates) + 1.5), 5.6))
    axes = np.atleast_1d(fig.subplots(1, len(gates), sharey=True))
    series_drawn = 0
    for ax, g in zip(axes, gates):
        ax.plot([0, 1], [1, 0], color=style.MUTED, lw=1, ls="--", zorder=0)
        ax.text(0.52, 0.52, "always saturated", rotation=-45, rotation_mode="anchor", ha="center", va="bottom",
                fontsize=style.SMALL_SIZE - 1, color=style.MUTED, transform=ax.transData)
        k = 0
        for layer in layers:
            for d in range(trace.num_directions):
                if g == "h":
                    values = (trace.h(layer, d) + 1.0) / 2.0
                else:
                    values = trace.gate(g, layer, d)
                left, right = fractions(np.asarray(values, dtype=np.float64), low, high)
                label = f"layer {layer}" + (" reverse" if d else (" forward" if trace.num_directions == 2 else ""))
                ax.scatter(left, right, s=46, alpha=0.75, marker=MARKERS[k % len(MARKERS)],
                           color=style.LINE_COLOURS[k % len(style.LINE_COLOURS)], edgecolors="white",
                           linewidths=0.5, label=label)
                k += 1
        series_drawn = k
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_aspect("equal")
        name = style.GATE_TITLES.get(g, g) if g != "h" else "h: hidden state (tanh)"
        ax.set_title(name, loc="left")
        ax.set_xlabel(f"fraction left-saturated (< {low:g})" if g != "h" else "fraction h < −0.8")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"fraction right-saturated (> {high:g})" if gates[0] != "h" else "fraction h > 0.8")
    if series_drawn > 1:
        axes[-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, title="one point per unit")
    fig.suptitle(f"{trace.kind.upper()} gate saturation (each point: one unit)", x=0.01, ha="left")
    return fig

"""``gradient_flow``: ‖∂L/∂h_t‖ over t, one line per trace, on a log scale."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from matplotlib.figure import Figure

from . import style
from ._data import check_trace


@style.styled
def gradient_flow(traces: Any, layer: int = 0, direction: int = 0, state: str = "h") -> Figure:
    """‖∂L/∂h_t‖ (or ‖∂L/∂c_t‖ with ``state='c'``) against t on a log scale.

    ``traces`` is one Trace or a dict label → Trace; each must have been recorded with a backward
    pass (a loss computed from the traced forward's outputs, then ``loss.backward()``). The norm is
    over units and recorded batch elements. A vanishing gradient shows as a line falling towards
    t = 0, the classic picture for an RNN against an LSTM or a GRU. Returns a Figure.
    """
    if isinstance(traces, Mapping):
        items = list(traces.items())
        if not items:
            raise ValueError("gradient_flow needs at least one trace, got an empty dict")
    else:
        items = [(None, traces)]
    if state not in ("h", "c"):
        raise ValueError(f"state must be 'h' or 'c', got {state!r}")
    fig = style.figure((style.SLIDE[0], 5.4))
    ax = fig.add_subplot()
    longest = 1
    for k, (label, tr) in enumerate(items):
        tr = check_trace(tr, f"traces[{label!r}]" if label is not None else "traces")
        norms = tr.gradient_norms(layer, direction, state).astype(np.float64)
        norms[norms <= 0] = np.nan  # log scale: a zero gradient is no point
        t = np.arange(norms.shape[0])
        longest = max(longest, norms.shape[0])
        ax.plot(t, norms, lw=2.4, marker="o", ms=3, color=style.LINE_COLOURS[k % len(style.LINE_COLOURS)],
                label=str(label) if label is not None else tr.kind.upper())
    ax.set_yscale("log")
    ax.set_xlim(-0.5, longest - 0.5)
    ax.set_xlabel("time step t")
    sym = "h_t" if state == "h" else "c_t"
    ax.set_ylabel(rf"$\|\partial L / \partial {sym}\|$ (log scale)")
    ax.grid(which="major", alpha=0.35)
    ax.grid(which="minor", alpha=0.12)
    ax.legend(loc="best", frameon=False)
    ax.set_title(f"How much of the loss's gradient reaches ${sym}$, step by step", loc="left")
    return fig

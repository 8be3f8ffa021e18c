"""``animate``: a GIF of a trace figure filling in step by step, one frame per step."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.animation import PillowWriter

from . import style
from ._data import check_trace
from .trace_figure import draw

ANIMATION_DPI = 80  # 1024 x 576 px frames: small files, still readable when scaled up


@style.styled
def animate(trace: Any, path: str | os.PathLike, layer: int = 0, direction: int = 0, batch: int = 0,
            tokens: Sequence[Any] | str | None = None, fps: float = 2.0, dpi: int = ANIMATION_DPI) -> Path:
    """Write a GIF to ``path``: the trace figure revealed one step per frame, the current step
    outlined (the reverse direction fills in from the last step). One frame per step of the
    trace (``trace.seq_len`` frames), through matplotlib's Pillow writer. Returns the path.
    """
    trace = check_trace(trace)
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    if path.suffix.lower() != ".gif":
        raise ValueError(f"animate writes a GIF: path must end in .gif, got {str(path)!r}")
    fig, axes, images, data = draw(trace, layer, direction, batch, tokens)
    L = data[0].shape[0]
    cursors = [ax.axvspan(-0.5, 0.5, fill=False, edgecolor=style.ACCENT, lw=2.5) for ax in axes]
    title = fig.get_suptitle()
    order = range(L - 1, -1, -1) if direction == 1 else range(L)
    writer = PillowWriter(fps=fps)
    with writer.saving(fig, str(path), dpi):
        for t in order:
            for im, values in zip(images, data):
                shown = values.copy()
                if direction == 1:
                    shown[:t] = np.nan
                else:
                    shown[t + 1:] = np.nan
                im.set_data(np.ma.masked_invalid(shown.T))
            for c in cursors:
                c.set_x(t - 0.5)
            fig.suptitle(f"{title}  ·  step t = {t}", x=0.01, ha="left")
            writer.grab_frame()
    return path

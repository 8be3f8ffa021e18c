"""How a Trace shows itself in Jupyter: its one-line summary above its trace figure."""
from __future__ import annotations

import base64
import html
import io
from typing import Any

DISPLAY_DPI = 80


def trace_png(trace: Any) -> bytes:
    """The trace figure of the first recorded layer, direction 0 and first batch element, as PNG."""
    from .trace_figure import trace_figure

    fig = trace_figure(trace, layer=trace.layers[0], batch=trace.batch[0])
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DISPLAY_DPI)
    return buf.getvalue()


def trace_html(trace: Any) -> str:
    """``<div>`` with ``repr(trace)`` and the trace figure inline."""
    png = base64.b64encode(trace_png(trace)).decode("ascii")
    return (f"<div><code>{html.escape(repr(trace))}</code><br>"
            f'<img src="data:image/png;base64,{png}" style="max-width:100%"></div>')

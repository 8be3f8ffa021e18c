"""``explore``: a trace in a notebook, with sliders (ipywidgets; the ``notebooks`` extra).

LSTMVis's idea inside the notebook, with the equations it lacks: the trace figure with the chosen
step outlined, ``step.explain(unit)`` and the cell diagram of that step, all following the
sliders for the step, the unit, the layer and direction, and the batch element.
"""
from __future__ import annotations

import contextlib
import html
import io
from typing import Any, Iterator, Sequence

from matplotlib.figure import Figure

from . import style
from ._data import batch_position, check_tokens, check_trace
from .diagram import cell_diagram
from .trace_figure import draw

EXPLORE_DPI = 72  # the figures as PNG widgets: small enough to redraw while a slider moves


def _widgets() -> Any:
    try:
        import ipywidgets
    except ImportError:
        raise ImportError(
            "steprnn.plot.explore needs ipywidgets: install the notebooks extra, "
            "pip install 'steprnn[notebooks]' (or pip install ipywidgets)"
        ) from None
    return ipywidgets


def _png(fig: Figure, dpi: int = EXPLORE_DPI) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class Explorer:
    """The widgets of :func:`explore` and how they update; ``.widget`` is what a notebook shows.

    ``step``, ``unit``, ``layer``, ``direction`` and ``batch`` are the controls (set their
    ``.value``); ``figure`` and ``diagram`` are Image widgets holding PNGs, ``equations`` an HTML
    widget holding ``step.explain(unit)``.
    """

    def __init__(self, trace: Any, tokens: Sequence[Any] | str | None = None) -> None:
        w = _widgets()
        self.trace = trace = check_trace(trace)
        self.tokens = check_tokens(tokens, trace.seq_len)
        L, H = trace.seq_len, trace.hidden_size
        self.step = w.IntSlider(value=0, min=0, max=L - 1, description="step t", continuous_update=False)
        self.unit = w.IntSlider(value=0, min=0, max=H - 1, description="unit", continuous_update=False)
        self.layer = w.Dropdown(options=list(trace.layers), value=trace.layers[0], description="layer")
        self.direction = w.Dropdown(options=[("forward", 0), ("reverse", 1)][:trace.num_directions], value=0,
                                    description="direction")
        self.batch = w.Dropdown(options=list(trace.batch), value=trace.batch[0], description="batch element")
        self.figure = w.Image(format="png", layout=w.Layout(width="100%"))
        self.diagram = w.Image(format="png", layout=w.Layout(width="100%"))
        self.equations = w.HTML()
        self.message = w.HTML()
        self._key: tuple | None = None
        self._fig = None
        self._shown: tuple | None = None  # (layer, direction, batch, step, unit) of the figure's PNG
        self._held = False
        controls = w.HBox([w.VBox([self.step, self.unit]), w.VBox([self.layer, self.direction, self.batch])])
        side = w.VBox([self.equations, self.diagram], layout=w.Layout(width="48%"))
        self.widget = w.VBox([controls, self.message, w.HBox([w.VBox([self.figure], layout=w.Layout(width="52%")),
                                                                 side])])
        for control in (self.step, self.unit, self.layer, self.direction, self.batch):
            control.observe(self._changed, names="value")
        self.update()

    def _changed(self, _change: Any = None) -> None:
        if not self._held:
            self.update()

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Set several controls, redraw once: ``with ex.hold(): ex.layer.value = 1; ex.direction.value = 1``."""
        self._held = True
        try:
            yield
        finally:
            self._held = False
            self.update()

    @style.styled
    def update(self) -> None:
        """Redraw for the controls' current values."""
        tr, t, j = self.trace, int(self.step.value), int(self.unit.value)
        layer, d, b = int(self.layer.value), int(self.direction.value), int(self.batch.value)
        key = (layer, d, b)
        if key != self._key:  # a new trace figure only when its data change
            self._fig, self._axes, _, _ = draw(tr, layer, d, b, self.tokens)
            self._cursors = [ax.axvspan(-0.5, 0.5, fill=False, edgecolor=style.ACCENT, lw=2.5) for ax in self._axes]
            # the chosen unit: its row outlined, crossing the step's column at the chosen cell
            self._markers = [ax.axhspan(-0.5, 0.5, fill=False, edgecolor=style.ACCENT, lw=1.2, ls="--")
                             for ax in self._axes]
            self._units = [int(round(abs(ax.get_ylim()[0] - ax.get_ylim()[1]))) for ax in self._axes]
            self._key = key
        if self._shown != key + (t, j):
            for c in self._cursors:
                c.set_x(t - 0.5)
            for m, units in zip(self._markers, self._units):
                m.set_y(j - 0.5)
                m.set_visible(j < units)
            self.figure.value = _png(self._fig)
            self._shown = key + (t, j)
        length = int(tr.lengths[batch_position(tr, b)])
        if t >= length:
            self.message.value = (f"<b>t = {t} is past the end of batch element {b} (its length is {length}):"
                                  " nothing was computed there.</b>")
            self.equations.value = ""
            self.diagram.value = b""
            return
        self.message.value = ""
        step = tr.step(t, layer, d, b)
        self.equations.value = f"<pre style='font-size:12px'>{html.escape(step.explain(j))}</pre>"
        self.diagram.value = _png(cell_diagram(step, unit=j))

    def _ipython_display_(self) -> None:  # pragma: no cover - needs a notebook front end
        from IPython.display import display

        display(self.widget)


def explore(trace: Any, tokens: Sequence[Any] | str | None = None) -> Explorer:
    """An interactive view of ``trace`` for Jupyter: sliders for the step and the unit, menus for
    the layer, direction and batch element; the trace figure (chosen step outlined), the step's
    equations with its numbers (``step.explain``) and its cell diagram follow them.

    Needs ipywidgets (``pip install 'steprnn[notebooks]'``); without it raises an ImportError that
    says so. Returns an :class:`Explorer`; a notebook displays it, ``.widget`` is the widget tree.
    """
    _widgets()
    return Explorer(trace, tokens)

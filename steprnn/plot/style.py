"""The look shared by every figure: colour maps, fixed scales, fonts and sizes.

Every figure of :mod:`steprnn.plot` is drawn inside :func:`rc` and created by :func:`figure`, so
that the figures of one lecture look alike. Sizes are for a 16:9 slide 1920 px wide: a full-slide
figure is ``SLIDE`` inches at ``DPI`` dots per inch.

Scales are fixed, never fitted to the data, so that two figures can be compared by colour:

* σ gates (``i, f, o`` of an LSTM, ``r, z`` of a GRU) on ``[0, 1]``, a sequential map;
* tanh-valued quantities (``g``, ``n``, ``tanh(c)``, ``h``) on ``[-1, 1]``, a diverging map whose
  centre is zero; the ColorBrewer red–blue map, which stays readable with the common forms of
  colour blindness (negative red, positive blue, as ``Step``'s HTML table);
* unbounded pre-activations and raw cell states on ``[-3, 3]`` with the same diverging map.

Steps past a sequence's end (NaN) are drawn in no colour at all: the figure's background shows.
"""
from __future__ import annotations

import contextlib
import functools
import io
from typing import Any, Callable, Iterator, TypeVar

import matplotlib as mpl
from matplotlib.colors import Colormap
from matplotlib.figure import Figure

DPI = 150
SLIDE = (12.8, 7.2)        # a whole 16:9 slide: 1920 x 1080 px at DPI
HALF_SLIDE = (6.4, 7.2)    # one of two figures side by side on a slide
WIDE_STRIP = (12.8, 3.6)   # half a slide's height

FONT_SIZE = 13             # at DPI 150: ~27 px, readable from the back of a lecture room
TITLE_SIZE = 15
SMALL_SIZE = 11

BACKGROUND = "white"       # what a NaN step shows: nothing
MUTED = "#6b6b6b"          # secondary text and guide lines
ACCENT = "#d95f02"         # highlights (the chosen step or slice); orange reads on both maps

SIGMOID_CMAP = "viridis"
TANH_CMAP = "RdBu"
LIMITS = {"sigmoid": (0.0, 1.0), "tanh": (-1.0, 1.0), "pre": (-3.0, 3.0)}
CMAPS = {"sigmoid": SIGMOID_CMAP, "tanh": TANH_CMAP, "pre": TANH_CMAP}
SCALE_LABELS = {"sigmoid": "σ gate value", "tanh": "value (tanh range)", "pre": "pre-activation"}

SIGMOID_GATES = ("i", "f", "o", "r", "z")
TANH_GATES = ("g", "n")

GATE_TITLES = {
    "i": "i: input gate", "f": "f: forget gate", "g": "g: candidate (cell input)", "o": "o: output gate",
    "r": "r: reset gate", "z": "z: update gate", "n": "n: candidate state",
    "c": "tanh(c): cell state", "h": "h: hidden state (output)", "pre": "pre-activation of h",
}
GATE_SYMBOLS = {"c": r"$\tanh(c_t)$", "h": "$h_t$", "pre": "$a_t$",
                **{g: f"${g}_t$" for g in ("i", "f", "g", "o", "r", "z", "n")}}

LINE_COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442")
"""Okabe & Ito's colour-blind-safe qualitative palette, for lines."""

RC = {
    "font.size": FONT_SIZE,
    "axes.titlesize": TITLE_SIZE,
    "axes.labelsize": FONT_SIZE,
    "xtick.labelsize": SMALL_SIZE,
    "ytick.labelsize": SMALL_SIZE,
    "legend.fontsize": SMALL_SIZE,
    "figure.titlesize": TITLE_SIZE + 2,
    "figure.dpi": DPI,
    "savefig.dpi": DPI,
    "figure.facecolor": BACKGROUND,
    "axes.facecolor": BACKGROUND,
    "savefig.facecolor": BACKGROUND,
    "axes.prop_cycle": mpl.cycler(color=LINE_COLOURS),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.interpolation": "nearest",
}


def scale_of(name: str) -> str:
    """``'sigmoid'``, ``'tanh'`` or ``'pre'``: which fixed scale the quantity ``name`` is drawn on."""
    if name in SIGMOID_GATES:
        return "sigmoid"
    if name in TANH_GATES or name in ("c", "h"):
        return "tanh"
    return "pre"


def cmap(scale: str) -> Colormap:
    """The colour map of a scale, with NaN drawn fully transparent (the background shows)."""
    return mpl.colormaps[CMAPS[scale]].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))


@contextlib.contextmanager
def rc() -> Iterator[None]:
    """The shared matplotlib settings, for the duration of a drawing."""
    with mpl.rc_context(RC):
        yield


F = TypeVar("F", bound=Callable[..., Any])


def styled(fn: F) -> F:
    """Run ``fn`` inside :func:`rc` (text takes its sizes when it is created)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with rc():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


NOTEBOOK_DPI = 100  # a slide figure shows 1280 px wide in a notebook


class SlideFigure(Figure):
    """A Figure made outside pyplot that still shows itself as a PNG in Jupyter.

    A notebook displays pyplot's figures through the inline backend, which needs pyplot imported;
    these figures carry their own ``_repr_png_`` so that ``sr.plot.trace_figure(tr)`` as the last
    line of a cell shows the figure whether or not pyplot was ever imported.
    """

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=NOTEBOOK_DPI)
        return buf.getvalue()


def figure(figsize: tuple[float, float] = SLIDE, layout: str | None = "constrained") -> Figure:
    """A new Figure outside pyplot: nothing to close, nothing shown, safe under any backend."""
    return SlideFigure(figsize=figsize, dpi=DPI, layout=layout)

CONNECTIVITY_CMAP = "Blues"
"""Sequential map for gradient magnitudes (connectivity): light = little influence."""

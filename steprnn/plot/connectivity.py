"""``connectivity``: how strongly each input step reaches the output at step t, ‖∂y_t/∂x_s‖.

The memorisation view of Madsen, "Visualizing memorization in RNNs" (Distill, 2019), computed by
steprnn's own backpropagation through time: one forward, then one backward per queried step t.
"""
from __future__ import annotations

from typing import Any, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

from .. import autograd
from ..grad_mode import enable_grad
from ..tensor import Tensor
from . import style
from ._axes import time_axis
from ._data import check_tokens, visible_token


SHADE_DECADES = 4


def _dtype(model: Any) -> np.dtype:
    dt = getattr(model, "dtype", None)
    if dt is None and hasattr(model, "parameters"):
        for p in model.parameters():
            dt = p.data.dtype
            break
    return np.dtype(dt) if dt is not None and np.dtype(dt).kind == "f" else np.dtype(np.float32)


def _find(model: Any, name: str, default: Any) -> Any:
    """An attribute of the model, or of its first submodule that has it (e.g. its LSTM)."""
    if hasattr(model, name):
        return getattr(model, name)
    if hasattr(model, "modules"):
        for m in model.modules():
            if m is not model and hasattr(m, name) and hasattr(m, "kind"):
                return getattr(m, name)
    return default


def connectivity_values(model: Any, x: Any, t: int | Sequence[int], *, batch: int = 0, unit: int | None = None,
                        batch_first: bool | None = None) -> np.ndarray:
    """(len(t), L) ‖∂y_t[unit]/∂x_s‖₂ (norm over the input features of x_s) for every step s.

    ``model`` is a recurrent layer (``nn.RNN/LSTM/GRU``: ``y`` is its output, ``h`` of the last
    layer, both directions concatenated) or any ``nn.Module`` whose forward takes the float input
    ``x`` and returns the output (a Tensor, or a tuple whose first element is the output) with
    the time axis where ``x`` has it; an output without a time axis (a classifier's ``(N, C)``)
    is the same ``y`` for every t. ``x`` is ``(L, N, H_in)``, ``(N, L, H_in)`` when the model's
    ``batch_first`` (or the argument) says so, or unbatched ``(L, H_in)``. ``unit`` picks the
    entry of ``y_t`` differentiated; by default the largest one (the predicted class of a
    classifier, as Madsen uses the predicted character). One forward, one backward per t.
    """
    if not callable(model):
        raise TypeError(f"model must be a callable nn.Module (a recurrent layer or a model), got {type(model).__name__}")
    data = np.array(x.numpy() if isinstance(x, Tensor) else x, dtype=_dtype(model), copy=True)
    if data.ndim not in (2, 3):
        raise ValueError(f"x must be (L, N, H_in), (N, L, H_in) or (L, H_in); got {data.ndim}D input of shape {data.shape}")
    bf = bool(_find(model, "batch_first", False)) if batch_first is None else bool(batch_first)
    time_axis_ = 1 if (bf and data.ndim == 3) else 0
    L = data.shape[time_axis_]
    ts = [t] if isinstance(t, (int, np.integer)) else list(t)
    for q in ts:
        if isinstance(q, bool) or not isinstance(q, (int, np.integer)) or not -L <= q < L:
            raise ValueError(f"t must be a step in 0..{L - 1} (or a list of them), got {q!r}")
    ts = [int(q) % L for q in ts]
    if data.ndim == 3 and not 0 <= batch < data.shape[1 - time_axis_]:
        raise ValueError(f"batch must be in 0..{data.shape[1 - time_axis_] - 1}, got {batch}")
    xt = Tensor._make(data).requires_grad_(True)
    with enable_grad():
        result = model(xt)
        y = result[0] if isinstance(result, tuple) else result
        if not isinstance(y, Tensor):
            raise TypeError(f"the model must return a Tensor (or a tuple starting with one), got {type(y).__name__}")
        out = np.zeros((len(ts), L))
        for k, q in enumerate(ts):
            if y.dim() == data.ndim:  # a time axis
                if data.ndim == 2:
                    y_t = y[q]
                else:
                    y_t = y[batch, q] if time_axis_ == 1 else y[q, batch]
            else:
                y_t = y[batch] if data.ndim == 3 else y
            if y_t.dim() != 1:
                raise ValueError(f"expected the output at one step to be a vector, got shape {tuple(y_t.shape)}")
            j = int(np.argmax(y_t.detach().numpy())) if unit is None else int(unit)
            if not 0 <= j < y_t.shape[0]:
                raise ValueError(f"unit must be in 0..{y_t.shape[0] - 1}, got {unit}")
            (g,) = autograd.grad(y_t[j], xt, retain_graph=True, allow_unused=True)
            g = np.zeros_like(data) if g is None else g.numpy()
            if data.ndim == 3:
                g = g[batch] if time_axis_ == 1 else g[:, batch]
            out[k] = np.sqrt(np.sum(np.square(g, dtype=np.float64), axis=-1))
    return out


def _bidirectional(model: Any) -> bool:
    return bool(_find(model, "bidirectional", False))


@style.styled
def connectivity(model: Any, x: Any, t: int | Sequence[int], tokens: Sequence[Any] | str | None = None, *,
                 batch: int = 0, unit: int | None = None, batch_first: bool | None = None,
                 normalize: str | None = None) -> Figure:
    """‖∂y_t/∂x_s‖ for every step s ≤ t (every s for a bidirectional model), under the tokens.

    See :func:`connectivity_values` for what ``model``, ``x`` and ``unit`` may be. One t: bars on a
    log scale above the input text, each token shaded by its share of the largest value and the
    step t outlined. Several t: a t × s heatmap on a logarithmic colour scale, shared by all rows
    (``normalize=None``), or with ``normalize="row"`` each output step t divided by its own
    largest value (the colour is then the share of that row's maximum, ``SHADE_DECADES`` decades
    below it white), so that one step with large gradients does not swamp the others. Returns a
    Figure.
    """
    if normalize not in (None, "row"):
        raise ValueError(f"normalize must be None or 'row', got {normalize!r}")
    values = connectivity_values(model, x, t, batch=batch, unit=unit, batch_first=batch_first)  # (T, L)
    T, L = values.shape
    tokens = check_tokens(tokens, L)
    ts = [t] if isinstance(t, (int, np.integer)) else list(t)
    ts = [int(q) % L for q in ts]
    if not _bidirectional(model):
        for k, q in enumerate(ts):
            values[k, q + 1:] = np.nan
    shown = np.where(values > 0, values, np.nan)
    cm = mpl.colormaps[style.CONNECTIVITY_CMAP].with_extremes(bad=(0.0, 0.0, 0.0, 0.0))
    if T == 1:
        q = ts[0]
        fig = style.figure((style.SLIDE[0], 5.0))
        ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [4, 1]})
        s = np.arange(L)
        ax.bar(s, np.nan_to_num(shown[0], nan=0.0), width=0.8, color=style.LINE_COLOURS[0])
        ax.set_yscale("log")
        ax.set_ylabel(rf"$\|\partial y_{{{q}}} / \partial x_s\|$ (log scale)")
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.axvline(q, color=style.ACCENT, lw=1.5, ls="--")
        ax.set_title(f"Connectivity: how much each input $x_s$ moves the output at t = {q}", loc="left")
        top = np.nanmax(shown[0]) if np.any(np.isfinite(shown[0])) else 1.0
        # shade on the bars' log scale: the largest darkest, SHADE_DECADES below it white
        rel = np.clip(1.0 + np.log10(shown[0] / top) / SHADE_DECADES, 0.0, 1.0)
        for k in range(L):
            v = rel[k]
            if np.isfinite(v):
                strip.add_patch(Rectangle((k - 0.5, 0), 1, 1, facecolor=cm(v), edgecolor="none"))
            label = visible_token(tokens[k]) if tokens is not None else str(k)
            dark = np.isfinite(v) and v > 0.6
            strip.text(k, 0.5, label, ha="center", va="center", family="monospace",
                       fontsize=style.FONT_SIZE if L <= 40 else style.SMALL_SIZE - 2,
                       color="white" if dark else "black")
        strip.add_patch(Rectangle((q - 0.5, 0), 1, 1, fill=False, edgecolor=style.ACCENT, lw=2.5))
        strip.set_ylim(0, 1)
        strip.set_yticks([])
        for side in ("left", "top", "right"):
            strip.spines[side].set_visible(False)
        time_axis(strip, L, None, label=False)
        strip.set_xlabel(f"input step s (shade: log scale, white = {SHADE_DECADES} decades below the largest)")
        return fig
    fig = style.figure((style.SLIDE[0], min(style.SLIDE[1], 2.4 + 0.55 * T)))
    ax = fig.add_subplot()
    label = r"$\|\partial y_t / \partial x_s\|$ (log scale)"
    if normalize == "row":
        with np.errstate(all="ignore"):
            top = np.nanmax(np.where(np.isfinite(shown), shown, np.nan), axis=1, keepdims=True)
        shown = shown / np.where(np.isfinite(top), top, 1.0)
        label = r"$\|\partial y_t / \partial x_s\|$ / its row's largest (log scale)"
    finite = shown[np.isfinite(shown)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (1e-8, 1.0)
    lo = max(lo, hi * (10.0 ** -SHADE_DECADES if normalize == "row" else 1e-8))
    im = ax.imshow(np.ma.masked_invalid(shown), cmap=cm, norm=LogNorm(lo, hi), aspect="auto",
                   interpolation="nearest", extent=(-0.5, L - 0.5, T - 0.5, -0.5))
    time_axis(ax, L, tokens, label=False)
    ax.set_xlabel("input step s")
    ax.set_yticks(range(T), [f"t={q}" + (f" {visible_token(tokens[q])}" if tokens else "") for q in ts])
    ax.set_ylabel("output step t")
    for k, q in enumerate(ts):  # the step s = t itself
        ax.add_patch(Rectangle((q - 0.5, k - 0.5), 1, 1, fill=False, edgecolor=style.ACCENT, lw=2))
    cb = fig.colorbar(im, ax=ax, label=label, fraction=0.04, pad=0.02,
                      extend="min" if lo > finite.min(initial=lo) else "neither")
    if normalize == "row":  # shares of the row's largest: plain numbers (0.2, 0.5, 1), not 2×10⁻¹
        plain = FuncFormatter(lambda v, _: f"{v:g}")
        cb.ax.yaxis.set_major_formatter(plain)
        cb.ax.yaxis.set_minor_formatter(plain)
    title = "Connectivity: how much each input $x_s$ moves the output $y_t$"
    ax.set_title(title + ("  (each row scaled by its own largest value)" if normalize == "row" else ""), loc="left")
    return fig

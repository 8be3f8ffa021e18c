"""``weights``: a layer's weight matrices with their gate row bands (i|f|g|o, r|z|n) labelled."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from . import style

GATES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
BAND_NAMES = {"i": "i  input", "f": "f  forget", "g": "g  cell", "o": "o  output", "r": "r  reset",
              "z": "z  update", "n": "n  new", "h": "h"}


def _kind(layer: Any) -> str:
    kind = getattr(layer, "kind", None)
    if kind not in GATES:
        raise TypeError("weights takes a recurrent layer or cell (nn.RNN, nn.LSTM, nn.GRU, nn.RNNCell, "
                        f"nn.LSTMCell, nn.GRUCell), got {type(layer).__name__}")
    return kind


def parameter_name(layer: Any, which: str, layer_index: int, direction: int) -> str:
    """PyTorch's parameter name: ``weight_ih_l1_reverse`` for a layer, ``weight_ih`` for a cell."""
    if not hasattr(layer, "num_layers"):  # a cell
        if layer_index != 0 or direction != 0:
            raise ValueError(f"a cell has one layer and one direction, got layer_index={layer_index}, "
                             f"direction={direction}")
        return f"weight_{which}"
    if not 0 <= layer_index < layer.num_layers:
        raise ValueError(f"layer_index must be in 0..{layer.num_layers - 1}, got {layer_index}")
    if not 0 <= direction < (2 if layer.bidirectional else 1):
        raise ValueError(f"direction must be in 0..{1 if layer.bidirectional else 0} for this layer, got {direction}")
    return f"weight_{which}_l{layer_index}" + ("_reverse" if direction else "")


@style.styled
def weights(layer: Any, layer_index: int = 0, direction: int = 0,
            which: Sequence[str] = ("ih", "hh")) -> Figure:
    """``weight_ih`` and ``weight_hh`` (and ``weight_hr`` with ``which=(..., 'hr')``) of one layer
    and direction, side by side, rows in PyTorch's order with each gate's band labelled.

    ``weight_ih`` is (G·H, H_in) and ``weight_hh`` (G·H, H_out), G = 4 (LSTM, rows i|f|g|o),
    3 (GRU, r|z|n) or 1 (RNN). One symmetric diverging colour scale spans the matrices shown,
    centred on zero. Returns a Figure.
    """
    kind = _kind(layer)
    if isinstance(which, str):
        which = (which,)
    mats = []
    for w in which:
        if w not in ("ih", "hh", "hr"):
            raise ValueError(f"which must name 'ih', 'hh' or 'hr', got {w!r}")
        name = parameter_name(layer, w, layer_index, direction)
        p = getattr(layer, name, None)
        if p is None:
            raise ValueError(f"this {type(layer).__name__} has no {name} (weight_hr exists only with proj_size > 0)")
        mats.append((name, np.asarray(p.data if hasattr(p, "data") else p, dtype=np.float64)))
    H = layer.hidden_size
    gates = GATES[kind]
    vmax = max(float(np.nanmax(np.abs(m))) for _, m in mats) or 1.0
    widths = [max(m.shape[1], 3) for _, m in mats]
    fig = style.figure(style.SLIDE)
    axes = np.atleast_1d(fig.subplots(1, len(mats), gridspec_kw={"width_ratios": widths}))
    cmap = style.cmap("tanh")
    im = None
    for k, (ax, (name, m)) in enumerate(zip(axes, mats)):
        rows, cols = m.shape
        im = ax.imshow(m, cmap=cmap, vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest",
                       extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
        for side in ("top", "right"):
            ax.spines[side].set_visible(True)
        shape = f"({len(gates)}·{H}, {cols})" if len(gates) > 1 and not name.startswith("weight_hr") else f"({rows}, {cols})"
        ax.set_title(f"{name}\n{shape}", fontsize=style.FONT_SIZE)
        what = {"ih": "input feature" if layer_index == 0 else f"input: layer {layer_index - 1}'s output",
                "hh": "previous hidden unit", "hr": "cell unit"}[name.split("_")[1]]
        ax.set_xlabel(what)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
        if not name.startswith("weight_hr") and len(gates) > 1:
            for g in range(1, len(gates)):
                ax.axhline(g * H - 0.5, color="black", lw=1.5)
            ax.set_yticks([g * H + (H - 1) / 2 for g in range(len(gates))],
                          [BAND_NAMES[g] if k == 0 else g for g in gates], fontsize=style.FONT_SIZE)
            ax.tick_params(axis="y", length=0)
            sec = ax.secondary_yaxis("right")
            sec.set_yticks([g * H for g in range(len(gates))] + [len(gates) * H - 1],
                           [str(g * H) for g in range(len(gates))] + [str(len(gates) * H - 1)],
                           fontsize=style.SMALL_SIZE - 1)
        else:
            ax.set_ylabel("row (unit)")
        if k == 0 and len(gates) > 1:
            ax.set_ylabel("rows: one band of H per gate")
    cb = fig.colorbar(im, ax=list(axes), fraction=0.04, pad=0.02, label="weight")
    cb.ax.tick_params(labelsize=style.SMALL_SIZE)
    where = f"{type(layer).__name__}" + (f", layer {layer_index}" if getattr(layer, "num_layers", 1) > 1 else "")
    where += ", reverse" if direction else ""
    fig.suptitle(f"{where}: weights, rows in PyTorch's gate order {'|'.join(gates)}", x=0.01, ha="left")
    return fig

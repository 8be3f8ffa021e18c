"""``shapes``: what a recurrent layer returns, drawn as blocks, and which slice of ``output`` is ``h_n``.

PyTorch's most asked RNN question: ``output`` holds the last layer's h_t of every step (both
directions side by side, ``[forward | reverse]`` on the feature axis); ``h_n`` holds every
layer's and direction's last state, ``(D·num_layers, N, H_out)``, never batch-first. The forward
direction's last state is ``output[L-1, :, :H_out]``; the reverse direction's is ``output[0, :, H_out:]``,
because the reverse direction ends at the first step.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle

from ..grad_mode import no_grad
from ..nn.utils.rnn import PackedSequence, pad_packed_sequence
from . import style

FWD = "#9ecae1"   # forward direction's h: light blue
REV = "#fdd0a2"   # reverse direction's h: light orange
CELL = "#d9d9d9"  # c: grey (never part of output)
INPUT = "#c7e9c0"  # input: light green
EDGE = "#404040"
LAST = ("#08519c", "#a63603")  # the slices that are h_n: dark blue (forward), dark orange (reverse)
MAX_COLUMNS = 9


def _columns(L: int) -> list[int | None]:
    """The steps drawn as columns (None: an ellipsis column)."""
    if L <= MAX_COLUMNS:
        return list(range(L))
    return [0, 1, 2, None, L - 3, L - 2, L - 1]


def _box(ax: Any, x: float, y: float, w: float, h: float, colour: str, text: str = "", lw: float = 1.0,
         edge: str = EDGE, fontsize: float | None = None, depth: int = 1) -> None:
    """A block at (x, y) (top-left, y grows downwards), with ``depth - 1`` shadow copies behind
    it (the batch axis)."""
    for k in range(min(depth, 3) - 1, 0, -1):
        ax.add_patch(Rectangle((x + 0.09 * k, y - 0.09 * k), w, h, facecolor=colour, edgecolor=edge, lw=0.6,
                               alpha=0.55))
    ax.add_patch(Rectangle((x, y), w, h, facecolor=colour, edgecolor=edge, lw=lw))
    if text:
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize or style.SMALL_SIZE)


def _arrow(ax: Any, a: tuple[float, float], b: tuple[float, float], colour: str, rad: float = 0.0,
           lw: float = 2.0, style_: str = "-|>") -> None:
    ax.add_patch(FancyArrowPatch(a, b, arrowstyle=style_, mutation_scale=16, color=colour, lw=lw,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))


def _run(layer: Any, x: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray, bool, bool]:
    """(output padded, h_n, c_n, lengths, packed, unbatched) of one forward, as NumPy arrays."""
    with no_grad():
        result = layer(x)
    out, state = result
    h_n, c_n = (state if layer.kind == "lstm" else (state, None))
    packed = isinstance(out, PackedSequence)
    if packed:
        padded, lengths = pad_packed_sequence(out, batch_first=layer.batch_first)
        out, lengths = padded.numpy(), np.asarray(lengths.numpy() if hasattr(lengths, "numpy") else lengths)
    else:
        out = out.numpy()
        lengths = None
    unbatched = out.ndim == 2
    h_n = h_n.numpy()
    c_n = None if c_n is None else c_n.numpy()
    if unbatched:  # give the drawing one batch axis
        out, h_n = out[:, None], h_n[:, None]
        c_n = None if c_n is None else c_n[:, None]
    elif layer.batch_first:
        out = out.transpose(1, 0, 2)
    L, N = out.shape[:2]
    if lengths is None:
        lengths = np.full(N, L)
    return out, h_n, c_n, lengths, packed, unbatched


@style.styled
def shapes(layer: Any, x: Any) -> Figure:
    """Run ``layer`` (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``) on ``x`` and draw what goes in and comes out.

    ``x`` is what the layer takes: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first``,
    unbatched ``(L, H_in)``, or a ``PackedSequence``. The figure shows ``x``, ``output``
    ``(L, N, D·H_out)`` as one column per step (forward half above the reverse half), ``h_n``
    ``(D·num_layers, N, H_out)`` and ``c_n`` ``(D·num_layers, N, H_cell)`` as one slab per layer and
    direction, and arrows from the slices of ``output`` that equal the last layer's slabs of
    ``h_n`` (checked on the numbers computed). Stacked, bidirectional, ``batch_first`` and
    ``proj_size`` layers are drawn with their own shapes. Returns a Figure.
    """
    if getattr(layer, "kind", None) not in ("rnn", "lstm", "gru") or not hasattr(layer, "num_layers"):
        raise TypeError(f"shapes takes a recurrent layer (nn.RNN, nn.LSTM, nn.GRU), got {type(layer).__name__}")
    out, h_n, c_n, lengths, packed, unbatched = _run(layer, x)
    L, N = out.shape[:2]
    D, nl = layer.num_directions, layer.num_layers
    H = layer.hidden_size
    P = layer.proj_size if layer.proj_size else H
    bf = layer.batch_first and not unbatched
    H_in = layer.input_size

    fig = style.figure(style.SLIDE, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 16)
    ax.set_ylim(9, 0)
    ax.axis("off")

    # -- the text: shapes with their axes --------------------------------------------------------
    name = type(layer).__name__
    args = [f"{H_in}", f"{H}"] + ([f"proj_size={P}"] if layer.proj_size else []) + \
        ([f"num_layers={nl}"] if nl > 1 else []) + (["batch_first=True"] if layer.batch_first else []) + \
        (["bidirectional=True"] if D == 2 else [])
    ax.text(0.3, 0.35, f"{name}({', '.join(args)})", fontsize=style.TITLE_SIZE + 1, va="center", weight="bold")
    lt, nt = ("L", "N")
    if packed:
        xin = f"x: PackedSequence of {N} sequences, lengths {list(map(int, lengths))}"
        outs = (f"output: PackedSequence (padded: ({'N, L' if bf else 'L, N'}, D·H_out) = "
                f"({f'{N}, {L}' if bf else f'{L}, {N}'}, {D}·{P}))")
    elif unbatched:
        xin = f"x: ({lt}, H_in) = ({L}, {H_in})  (unbatched)"
        outs = f"output: ({lt}, D·H_out) = ({L}, {D}·{P}) = ({L}, {D * P})"
    else:
        order = ("N, L", f"{N}, {L}") if bf else ("L, N", f"{L}, {N}")
        xin = f"x: ({order[0]}, H_in) = ({order[1]}, {H_in})" + ("  (batch_first)" if bf else "")
        outs = f"output: ({order[0]}, D·H_out) = ({order[1]}, {D}·{P}) = ({order[1]}, {D * P})"
    nb = "" if unbatched else "N, "
    nbv = "" if unbatched else f"{N}, "
    hns = f"h_n: (D·num_layers, {nb}H_out) = ({D}·{nl}, {nbv}{P})"
    cns = f"c_n: (D·num_layers, {nb}H_cell) = ({D}·{nl}, {nbv}{H})" if c_n is not None else ""
    lines = [xin, outs, hns] + ([cns] if cns else [])
    ax.text(0.3, 0.72, "\n".join(lines), fontsize=style.SMALL_SIZE + 1, va="top", family="monospace",
            linespacing=1.35)
    note = []
    if bf:
        note.append("batch_first changes x and output only: h_n and c_n keep (D·num_layers, N, ·)")
    if layer.proj_size:
        note.append(f"proj_size: h (and output) have H_out = proj_size = {P}; c keeps hidden_size = {H}")
    if packed:
        note.append("packed input: h_n holds each sequence's state at its own last step")

    # -- geometry -------------------------------------------------------------------------------
    cols = _columns(L)
    x0, x1 = 0.75, 9.3
    cw = (x1 - x0) / len(cols)
    bw = cw * 0.72
    band = 0.85  # height of one direction's H_out in output
    out_top = 2.75
    route_y = out_top + D * band + 0.33  # where the reverse direction's arrow runs to h_n
    layer_y = out_top + D * band + 0.7
    in_top = layer_y + 1.05
    in_h = 0.75
    depth = 1 if unbatched else N

    def col_x(k: int) -> float:
        return x0 + k * cw + (cw - bw) / 2

    ax.text(x0 - 0.1, out_top - 0.25, "output", fontsize=style.FONT_SIZE, weight="bold", va="bottom")
    ax.text(x0 - 0.12, in_top + in_h / 2, "x", fontsize=style.FONT_SIZE, weight="bold", va="center", ha="right")
    # the layer stack, between x and output
    ax.add_patch(FancyBboxPatch((x0, layer_y), x1 - x0 - (cw - bw), 0.55, boxstyle="round,pad=0.02",
                                facecolor="#f0f0f0", edgecolor=EDGE))
    stack = f"{name} layers 0…{nl - 1}" if nl > 1 else f"{name}"
    stack += " (forward → and reverse ←)" if D == 2 else " (→)"
    ax.text((x0 + x1) / 2, layer_y + 0.275, stack, ha="center", va="center", fontsize=style.SMALL_SIZE + 1)
    last_fwd_step = int(lengths.max()) - 1
    for k, t in enumerate(cols):
        cx = col_x(k)
        if t is None:
            for y in (out_top + D * band / 2, in_top + in_h / 2):
                ax.text(cx + bw / 2, y, "…", ha="center", va="center", fontsize=style.TITLE_SIZE)
            continue
        for d in range(D):
            colour = FWD if d == 0 else REV
            is_last = (d == 0 and t == last_fwd_step) or (d == 1 and t == 0)
            edge = LAST[d] if is_last else EDGE
            _box(ax, cx, out_top + d * band, bw, band, colour, f"h{'→' if d == 0 else '←'}{_sub(t)}",
                 lw=3.0 if is_last else 1.0, edge=edge, depth=depth if d == 0 else 1)
        _box(ax, cx, in_top, bw, in_h, INPUT, f"x{_sub(t)}", depth=depth)
        _arrow(ax, (cx + bw / 2, in_top), (cx + bw / 2, layer_y + 0.55), EDGE, lw=1.2)
        _arrow(ax, (cx + bw / 2, layer_y), (cx + bw / 2, out_top + D * band), EDGE, lw=1.2)
        ax.text(cx + bw / 2, in_top + in_h + 0.12, f"t={t}", ha="center", va="top", fontsize=style.SMALL_SIZE - 1,
                color=style.MUTED)
    # feature-axis labels beside output, right of the last column's batch shadows: the forward
    # half's just above the blue arrow, the reverse half's level with it (the red arrow turns up
    # right of it, see below)
    sl = "[:, " if unbatched else "[:, :, "
    lab_x = col_x(len(cols) - 1) + bw + 0.09 * (min(depth, 3) - 1) + 0.15
    labels = [ax.text(lab_x, out_top + band / 2 - 0.08, f"{sl}:{P}]" if D == 2 else f"H_out = {P}", va="bottom",
                      fontsize=style.SMALL_SIZE - 1, color=style.MUTED, family="monospace")]
    if D == 2:
        labels.append(ax.text(lab_x, out_top + 1.5 * band, f"{sl}{P}:]", va="center",
                              fontsize=style.SMALL_SIZE - 1, color=style.MUTED, family="monospace"))
    renderer = fig._get_renderer()  # one text measurement (these figures live outside pyplot)
    to_data = ax.transData.inverted()
    label_end = max(to_data.transform(t.get_window_extent(renderer))[:, 0].max() for t in labels)
    if depth > 1:
        ax.text(x1 - (cw - bw), out_top - 0.25, f"batch of N = {N} drawn behind", fontsize=style.SMALL_SIZE - 1,
                color=style.MUTED, va="bottom", ha="right")

    # -- h_n and c_n: one slab per layer and direction ------------------------------------------
    hx = 10.9
    slab_w = 1.15
    n_slabs = D * nl
    # the last layer's slabs sit level with the halves of output they equal; the others above
    first_final = out_top + band / 2
    pitch = 0.6 if n_slabs == D else min(0.6, (first_final - 1.25) / (n_slabs - D))
    slab_h = pitch * 0.8

    def slab_centre(k: int) -> float:
        return first_final + (k - (n_slabs - D)) * (band if k >= n_slabs - D else pitch)

    top = slab_centre(0) - slab_h / 2 - 0.09 * (min(depth, 3) - 1)  # above the batch shadows
    ax.text(hx + slab_w / 2, top - 0.12, "h_n", ha="center", va="bottom", fontsize=style.FONT_SIZE, weight="bold")
    if c_n is not None:
        cx_ = hx + slab_w + 1.6
        c_w = slab_w * (1.0 if H == P else min(1.6, 0.6 + H / P * 0.5))
        ax.text(cx_ + c_w / 2, top - 0.12, "c_n", ha="center", va="bottom", fontsize=style.FONT_SIZE, weight="bold")
    checks = []
    for k in range(n_slabs):
        lyr, d = divmod(k, D)
        y = slab_centre(k) - slab_h / 2
        final = lyr == nl - 1
        colour = (FWD if d == 0 else REV) if final else "#eeeeee"
        _box(ax, hx, y, slab_w, slab_h, colour, f"[{k}]", lw=3.0 if final else 1.0,
             edge=LAST[d] if final else EDGE, depth=depth, fontsize=style.SMALL_SIZE)
        who = f"layer {lyr}" + ((" fwd" if d == 0 else " rev") if D == 2 else "")
        ax.text(hx + slab_w + 0.25, y + slab_h / 2, who, va="center", fontsize=style.SMALL_SIZE - 1,
                color="black" if final else style.MUTED)
        if c_n is not None:
            _box(ax, cx_, y, c_w, slab_h, CELL, f"[{k}]", depth=depth, fontsize=style.SMALL_SIZE)
        if final:
            # the slice of output equal to this slab, at each sequence's own last step
            t_src = 0 if d == 1 else last_fwd_step
            kcol = cols.index(t_src) if t_src in cols else len(cols) - 1
            if d == 0:  # straight right from the last step's forward half
                _arrow(ax, (col_x(kcol) + bw, out_top + band / 2), (hx, y + slab_h / 2), LAST[d], lw=2.6)
            else:  # from below the first step's reverse half, under the output, up into h_n
                sx, ex = col_x(kcol) + bw * 0.22, min(max(hx - 0.45, label_end + 0.2), hx - 0.2)
                ax.plot([sx, sx, ex, ex], [out_top + 2 * band, route_y, route_y, y + slab_h / 2], color=LAST[d],
                        lw=2.6, solid_capstyle="round", solid_joinstyle="round", zorder=3)
                _arrow(ax, (ex, y + slab_h / 2), (hx, y + slab_h / 2), LAST[d], lw=2.6)
            ends = (lengths - 1) if d == 0 else np.zeros_like(lengths)
            got = out[ends, np.arange(N), d * P:(d + 1) * P]
            equal = np.array_equal(got, h_n[k])
            sl = ("output[-1, :, :H_out]" if not packed else "output[len-1, n, :H_out]") if d == 0 \
                else "output[0, :, H_out:]"
            if unbatched:
                sl = sl.replace(", :, ", ", ").replace("[len-1, n, ", "[-1, ")
            if bf:
                sl = sl.replace("output[-1, :,", "output[:, -1,").replace("output[0, :,", "output[:, 0,")
                sl = sl.replace("[len-1, n,", "[n, len-1,")
            checks.append((LAST[d], f"h_n[{k}] == {sl}" + ("  ✓ equal" if equal else "  ✗ NOT equal")))
    if nl > 1:
        note.append(f"h_n[0…{D * (nl - 1) - 1}]: the states of layers below the last; they are not in output")
    if c_n is not None:
        note.append("c_n is never part of output")
    y = 7.35
    for colour, text in checks:
        ax.text(hx - 0.4, y, text, fontsize=style.SMALL_SIZE, family="monospace", color=colour, va="top")
        y += 0.38
    ax.text(0.3, 8.85, "\n".join(note), fontsize=style.SMALL_SIZE - 1, color=style.MUTED, va="bottom",
            linespacing=1.35)
    return fig


def _sub(t: int) -> str:
    """A step number as a subscript."""
    return str(t).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉"))

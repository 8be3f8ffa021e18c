"""The figure gallery that ``steprnn figures`` writes: small models trained on the built-in tasks
(fixed seeds), drawn with every function of :mod:`steprnn.plot`.

``FIGURES`` is the list: each entry names its file, says in one sentence what it shows, and
carries the line of code that makes it (what ``figures/README.md`` prints) and the function that
runs that line. ``build(out, quick)`` trains what the entries need, once each, and writes them.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["FIGURES", "Figure", "Models", "build"]

QUICK_STEPS = 200  # --quick: at most this many training steps per model (and stop at the goal as usual)


class Models:
    """Trains each (task, arch) once, on demand, with seed 0; ``quick`` caps the training steps."""

    def __init__(self, quick: bool = False, progress: bool = True) -> None:
        self.quick = quick
        self.progress = progress
        self._results: dict[tuple[str, str], Any] = {}

    def __call__(self, task: str, arch: str) -> Any:
        from .tasks import train

        key = (task, arch)
        if key not in self._results:
            steps = QUICK_STEPS if self.quick else None
            self._results[key] = train(task, arch, seed=0, progress=self.progress, steps=steps)
        return self._results[key]


@dataclass
class Figure:
    """One file of the gallery.

    file    its name in the output folder
    what    one sentence: what the figure shows
    setup   the lines that make the model and trace the figure uses (shared by several figures)
    code    the line of ``steprnn.plot`` that draws it
    make    (models) → a matplotlib Figure to save (or None when it wrote ``file`` itself)
    quick   part of the ``--quick`` gallery
    """

    file: str
    what: str
    setup: str
    code: str
    make: Callable[[Models, Path], Any]
    quick: bool = True


# -- what several figures share ------------------------------------------------------------------
def _traced(result: Any, batch: Any = None) -> tuple[Any, Any]:
    """(trace, batch) of a trained model on ``batch`` (default: the task's example)."""
    batch = result.example() if batch is None else batch
    return result.trace(batch), batch


def counting_unit(trace: Any, batch: Any, index: int = 0, squash: bool = False) -> int:
    """The LSTM unit whose cell state (``tanh(c)`` with ``squash``) follows the count (#a − #b read
    so far) most closely, on batch element ``index``."""
    L = int(batch.lengths[index])
    x = batch.x[:L, index]  # (L, 2): a, b one-hot
    count = np.cumsum(x[:, 0] - x[:, 1])
    c = np.asarray(trace.c()[:L, index], dtype=np.float64)  # (L, H)
    return _best_match(np.tanh(c) if squash else c, count)


def _best_match(values: np.ndarray, signal: np.ndarray, sign: int = 0) -> int:
    """The column of (L, H) ``values`` most correlated with (L,) ``signal`` (``sign`` > 0: positively)."""
    v = values - values.mean(0)
    k = signal - signal.mean()
    corr = (k @ v) / (np.linalg.norm(k) * np.linalg.norm(v, axis=0) + 1e-12)
    return int(np.argmax(corr if sign > 0 else np.abs(corr)))


def depth_units(trace: Any, batch: Any, gate: str = "z", count: int = 2) -> list[int]:
    """The ``count`` GRU units whose ``gate`` rises most with the bracket depth."""
    L = int(batch.lengths[0])
    depth = batch.y[:L, 0].astype(np.float64)
    g = np.asarray(trace.gate(gate)[:L, 0], dtype=np.float64)
    g = g - g.mean(0)
    d = depth - depth.mean()
    corr = (d @ g) / (np.linalg.norm(d) * np.linalg.norm(g, axis=0) + 1e-12)
    return [int(u) for u in np.argsort(-corr)[:count]]


# -- the figures ---------------------------------------------------------------------------------
ANBN = 'r = tasks.train("anbn", "lstm"); ex = r.example(); tr = r.trace(ex)   # aaaaaaaabbbbbbbb (n = 8)'
BRACKETS = 'r = tasks.train("brackets", "gru"); ex = r.example(); tr = r.trace(ex)'


def _anbn_counting(models: Models, out: Path) -> Any:
    from . import plot

    tr, ex = _traced(models("anbn", "lstm"))
    u = counting_unit(tr, ex)
    fig = plot.state_lines(tr, units=[u], tokens=ex.tokens[0])
    fig.suptitle(f"The counting cell: LSTM unit {u} on a⁸b⁸ (n = 8 never seen in training)", x=0.01, ha="left")
    return fig


def _anbn_strip(models: Models, out: Path) -> Any:
    from . import plot

    r = models("anbn", "lstm")
    tr, ex = _traced(r, r.task.strings(np.array([3, 6, 10])))
    u = counting_unit(tr, ex, index=2, squash=True)
    return plot.token_strip(tr, u, ex.tokens[2], gate="c", batch=2)


def _anbn_trace(models: Models, out: Path) -> Any:
    from . import plot

    tr, ex = _traced(models("anbn", "lstm"))
    return plot.trace_figure(tr, tokens=ex.tokens[0])


def _anbn_gif(models: Models, out: Path) -> Any:
    from . import plot

    r = models("anbn", "lstm")
    tr, ex = _traced(r, r.task.strings(np.array([5])))
    plot.animate(tr, out / "anbn_lstm.gif", tokens=ex.tokens[0], fps=2)
    return None


def _before_after(models: Models, out: Path) -> Any:
    from . import manual_seed, plot, trace
    from .plot import style
    from .tasks import TaskModel

    r = models("anbn", "lstm")
    ex = r.example()
    manual_seed(0)  # the same initial weights train() started from
    before = trace(TaskModel(r.task, "lstm", r.model.rnn.hidden_size).rnn, ex.x)
    after = r.trace(ex)
    with style.rc():
        fig = style.figure((style.SLIDE[0], 8.4))
        axes = fig.subplots(3, 2, sharex=True)
    for col, (tr, when) in enumerate([(before, "before training"), (after, f"after {r.steps} steps")]):
        for row, gate in enumerate(("i", "f", "o")):
            ax = plot.gate_heatmap(tr, gate, ax=axes[row, col], tokens=ex.tokens[0])
            ax.set_title(f"{gate}: {when}", loc="left")
            if row < 2:
                ax.set_xlabel("")
    fig.suptitle("LSTM gates on a⁸b⁸, before and after training", x=0.01, ha="left")
    return fig


def _brackets_z(models: Models, out: Path) -> Any:
    from . import plot
    from .plot import style

    tr, ex = _traced(models("brackets", "gru"))
    units = depth_units(tr, ex)
    L = int(ex.lengths[0])
    with style.rc():
        fig = style.figure((style.SLIDE[0], 7.2))
        top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1.6]})
    plot.gate_heatmap(tr, "z", ax=top, tokens=ex.tokens[0])
    top.set_xlabel("")
    with style.rc():
        for k, u in enumerate(units):
            top.annotate("", xy=(-0.5, u), xytext=(-1.6, u), annotation_clip=False,
                         arrowprops={"arrowstyle": "->", "color": style.LINE_COLOURS[k + 1], "lw": 2})
        bottom.step(np.arange(L), ex.y[:L, 0], where="mid", color=style.MUTED, lw=2.5)
        bottom.set_ylabel("depth", color=style.MUTED)
        bottom.set_yticks(range(int(ex.y[:L, 0].max()) + 1))
        twin = bottom.twinx()
        for k, u in enumerate(units):
            twin.plot(np.arange(L), tr.gate("z")[:L, 0, u], color=style.LINE_COLOURS[k + 1], marker="o", ms=4,
                      lw=2, label=f"z of unit {u}")
        twin.set_ylim(-0.05, 1.05)
        twin.set_ylabel("z")
        twin.spines["right"].set_visible(True)
        twin.legend(loc="upper left", bbox_to_anchor=(1.06, 1.0), frameon=False)
        bottom.set_xticks(np.arange(L), ex.tokens[0])
        bottom.set_xlabel("input character")
        bottom.set_title("nesting depth (grey steps) and the update gate of the units that follow it most", loc="left")
    fig.suptitle(f"GRU on bracket depth: update gate z over {''.join(ex.tokens[0])}", x=0.01, ha="left")
    return fig


def _brackets_trace(models: Models, out: Path) -> Any:
    from . import plot

    tr, ex = _traced(models("brackets", "gru"))
    return plot.trace_figure(tr, tokens=ex.tokens[0])


def _packed(models: Models, out: Path) -> Any:
    from . import plot, trace
    from .nn.utils.rnn import pack_padded_sequence
    from .plot import style

    r = models("brackets", "gru")
    texts = ["(a(b)c)", "((ab)(c(d)))ab", "a(b(c(d)a)b)(c)d(a)"]
    batch = [r.task.text(s) for s in texts]
    L = max(len(s) for s in texts)
    x = np.zeros((L, len(texts), r.task.input_size), dtype=np.float32)
    for i, b in enumerate(batch):
        x[: len(texts[i]), i] = b.x[:, 0]
    packed = pack_padded_sequence(x, [len(s) for s in texts], enforce_sorted=False)
    tr = trace(r.model.rnn, packed)
    with style.rc():
        fig = style.figure((style.SLIDE[0], 8.4))
        axes = fig.subplots(3, 1)
    for i, ax in enumerate(axes):
        plot.gate_heatmap(tr, "z", batch=i, ax=ax)
        with style.rc():
            ax.set_xticks(np.arange(len(texts[i])), list(texts[i]))
            ax.tick_params(axis="x", labelbottom=True)
            ax.set_xlabel("input character" if i == 2 else "")
    fig.suptitle("One packed batch of 3 strings (lengths 7, 14, 19): steps past each end are blank",
                 x=0.01, ha="left")
    return fig


def _weights(models: Models, out: Path) -> Any:
    from . import plot

    return plot.weights(models("brackets", "gru").model.rnn)


def _saturation(models: Models, out: Path) -> Any:
    from . import plot, trace

    r = models("copy", "lstm")
    held = r.task.heldout()
    tr = trace(r.model.rnn, held.x)
    return plot.saturation(tr)


def _connectivity(models: Models, out: Path) -> Any:
    from . import plot

    r = models("copy", "lstm")
    ex = r.example()
    K, D = r.task.count, r.task.delay
    recall = list(range(K + D, 2 * K + D))
    return plot.connectivity(r.model, ex.x, recall, tokens=ex.tokens[0], normalize="row")


def _gradient_flow(models: Models, out: Path) -> Any:
    from . import manual_seed, plot, tensor, tracing
    from .nn import functional as F
    from .tasks import Adding, TaskModel

    task = Adding()
    task.length = 60
    task.per_step = True  # read every output; the loss takes the last one
    batch = task.batch(32, 0)
    traces = {}
    for label, arch in (("RNN", "rnn"), ("LSTM", "lstm"), ("LSTM, forget-gate bias 1", "lstm"), ("GRU", "gru")):
        manual_seed(0)
        model = TaskModel(task, arch, 32)
        if "bias" in label:  # Gers et al. (2000), Jozefowicz et al. (2015): start with the forget gate open
            state = model.state_dict()
            state["rnn.bias_ih_l0"][32:64] += 1.0
            model.load_state_dict(state)
        with tracing(model) as rec:
            loss = F.mse_loss(model(batch.x)[-1].reshape(-1), tensor(batch.y))
            loss.backward()
        traces[label] = rec["rnn"]
    fig = plot.gradient_flow(traces)
    fig.suptitle("Untrained networks (H = 32) on 60-step adding sequences; the loss reads the last step only",
                 x=0.01, ha="left")
    return fig


def _shapes(models: Models, out: Path) -> Any:
    from . import manual_seed, nn, plot

    manual_seed(0)
    lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((5, 2, 3)).astype(np.float32)
    return plot.shapes(lstm, x)


def _cell(kind: str, task: str) -> Callable[[Models, Path], Any]:
    def make(models: Models, out: Path) -> Any:
        from . import plot

        tr, ex = _traced(models(task, kind))
        t = {"anbn": 11, "brackets": 4, "sine": 20}[task]
        unit = {"anbn": lambda: counting_unit(tr, ex), "brackets": lambda: depth_units(tr, ex)[0],
                "sine": lambda: 0}[task]()
        return plot.cell_diagram(tr.step(t), unit=unit)

    return make


def _sine_rnn(models: Models, out: Path) -> Any:
    from . import plot

    tr, ex = _traced(models("sine", "rnn"))
    return plot.trace_figure(tr, tokens=ex.tokens[0])


def sum_units(result: Any, count: int = 2) -> tuple[list[int], np.ndarray]:
    """The ``count`` LSTM units whose final cell state correlates most (±) with the sum, over the
    held-out sequences of the adding task, and every unit's correlation (H,)."""
    held = result.task.heldout()
    c = np.asarray(result.trace(held).c()[-1], dtype=np.float64)  # (N, H) c after the last step
    c = c - c.mean(0)
    y = held.y - held.y.mean()
    corr = (y @ c) / (np.linalg.norm(y) * np.linalg.norm(c, axis=0) + 1e-12)
    return [int(u) for u in np.argsort(-np.abs(corr))[:count]], corr


def _adding_lines(models: Models, out: Path) -> Any:
    from . import plot

    r = models("adding", "lstm")
    units, corr = sum_units(r, count=1)
    tr, ex = _traced(r)
    fig = plot.state_lines(tr, units=units, tokens=ex.tokens[0])
    u = units[0]
    fig.suptitle(f"Adding problem, LSTM unit {u}: its final c predicts the sum (r = {corr[u]:+.2f} over 256 "
                 "held-out sequences)\n[·] marks the two numbers to add", x=0.01, ha="left")
    return fig


def _digits(models: Models, out: Path) -> Any:
    from . import plot

    from .plot import style

    r = models("digits", "gru")
    tr, ex = _traced(r)
    fig = plot.trace_figure(tr, tokens=ex.tokens[0])
    width = fig.get_figwidth()
    keep = (width - 2.6) / width  # squeeze the trace figure into the left part: the digit goes right
    for ax in fig.axes:
        box = ax.get_position()
        ax.set_position((box.x0 * keep, box.y0, box.width * keep, box.height))
    guess = int(r.model.predict(ex.x).argmax(-1)[0])
    with style.rc():
        ax = fig.add_axes(((width - 1.75) / width, 0.33, 1.55 / width, 0.34))
        ax.imshow(ex.x[:, 0], cmap="gray_r", vmin=0, vmax=1)
        ax.set_yticks(range(8), [f"row {k}" for k in range(8)], fontsize=style.SMALL_SIZE - 2)
        ax.set_xticks([])
        ax.set_title(f"the input: a {ex.y[0]}", fontsize=style.SMALL_SIZE)
        ax.set_xlabel(f"the GRU says {guess}", fontsize=style.SMALL_SIZE)
    fig.suptitle("GRU reading an 8×8 handwritten digit, one row of 8 pixels per step", x=0.01, ha="left")
    return fig


FIGURES: list[Figure] = [
    Figure("anbn_lstm_counting_cell.png",
           "A trained LSTM counts: one unit's cell state moves a fixed step with every a, steps back "
           "with every b, and the string ends when it is back where it started.",
           ANBN + "\nu = gallery.counting_unit(tr, ex)",
           "plot.state_lines(tr, units=[u], tokens=ex.tokens[0])", _anbn_counting),
    Figure("anbn_lstm_token_strip.png",
           "A counting unit over the text a¹⁰b¹⁰ (n = 10, the longest count), each character "
           "coloured by that unit's tanh(c) (after Karpathy et al. 2015).",
           ANBN + "\nb = r.task.strings([3, 6, 10]); tr = r.trace(b)\n"
           "u = gallery.counting_unit(tr, b, index=2, squash=True)",
           'plot.token_strip(tr, u, b.tokens[2], gate="c", batch=2)', _anbn_strip),
    Figure("anbn_lstm_trace.png",
           "Every gate, the cell state and the output of the counting LSTM on a⁸b⁸, on one time axis.",
           ANBN, "plot.trace_figure(tr, tokens=ex.tokens[0])", _anbn_trace),
    Figure("anbn_lstm_gates_before_after.png",
           "Input, forget and output gates before training (every unit near 0.5) and after it "
           "(units switched nearly fully on or off, and switching where the a's turn into b's).",
           ANBN + "\nsr.manual_seed(0); before = sr.trace(TaskModel(r.task, 'lstm', 8).rnn, ex.x)",
           'plot.gate_heatmap(before, "f", ax=ax, tokens=ex.tokens[0])  # and "i", "o"; and tr', _before_after, quick=False),
    Figure("anbn_lstm.gif",
           "The trace figure of a⁵b⁵ (a count never seen in training) filling in one step per frame.",
           'r = tasks.train("anbn", "lstm"); ex = r.task.strings([5]); tr = r.trace(ex)',
           'plot.animate(tr, "anbn_lstm.gif", tokens=ex.tokens[0], fps=2)', _anbn_gif),
    Figure("brackets_gru_update_gate.png",
           "A GRU's update gate z over the text (a(b(cd)a)((b)c)d)ab(c): whole bands of units switch "
           "on at depth 2 or 3 and off again when the brackets close; below, the depth and the two "
           "units (arrows) that follow it most.",
           BRACKETS + "\nunits = gallery.depth_units(tr, ex)",
           'plot.gate_heatmap(tr, "z", tokens=ex.tokens[0])', _brackets_z),
    Figure("brackets_gru_trace.png",
           "Reset gate, update gate, candidate and state of the bracket-depth GRU on one string.",
           BRACKETS, "plot.trace_figure(tr, tokens=ex.tokens[0])", _brackets_trace, quick=False),
    Figure("packed_batch_gru.png",
           "A PackedSequence of three strings of different lengths traced in one call: each batch "
           "element's steps past its end are NaN and stay blank.",
           'packed = pack_padded_sequence(x, [7, 14, 19], enforce_sorted=False); tr = sr.trace(r.model.rnn, packed)',
           'plot.gate_heatmap(tr, "z", batch=i, ax=axes[i], tokens=texts[i])', _packed),
    Figure("brackets_gru_weights.png",
           "The trained GRU's weight matrices with their r | z | n row bands.",
           BRACKETS, "plot.weights(r.model.rnn)", _weights),
    Figure("copy_lstm_saturation.png",
           "How often each gate of the trained copy-task LSTM is saturated (below 0.1 or above 0.9) "
           "over 256 held-out sequences (after Karpathy, Johnson & Fei-Fei 2015): many forget gates "
           "sit wide open much of the time, holding the symbols.",
           'r = tasks.train("copy", "lstm"); tr = sr.trace(r.model.rnn, r.task.heldout().x)',
           "plot.saturation(tr)", _saturation),
    Figure("copy_lstm_connectivity.png",
           "At each recall step t, how much each input step s moves the predicted symbol's logit "
           "(‖∂y_t/∂x_s‖, Madsen 2019), each row scaled by its own largest value so that no step "
           "swamps the others: every row peaks on one of the four stored symbols.",
           'r = tasks.train("copy", "lstm"); ex = r.example()   # e.g. DBEA----:---',
           "plot.connectivity(r.model, ex.x, [8, 9, 10, 11], tokens=ex.tokens[0], normalize=\"row\")",
           _connectivity),
    Figure("gradient_flow_rnn_lstm_gru.png",
           "How much gradient of a last-step loss reaches each earlier step of untrained networks: "
           "it vanishes geometrically in all of them, fastest in the plain RNN, slowest in an LSTM "
           "whose forget gate starts open.",
           "with sr.tracing(model) as rec: loss = F.mse_loss(model(x)[-1].reshape(-1), y); loss.backward()"
           "\ntraces[label] = rec['rnn']   # for each model",
           "plot.gradient_flow(traces)   # {'RNN': ..., 'LSTM': ..., 'LSTM, forget-gate bias 1': ..., 'GRU': ...}",
           _gradient_flow),
    Figure("shapes_stacked_bidirectional_lstm.png",
           "What goes in and comes out of nn.LSTM(3, 4, num_layers=2, bidirectional=True): which "
           "slices of output are h_n, the reverse direction's at output[0].",
           "lstm = nn.LSTM(3, 4, num_layers=2, bidirectional=True); x = np.random.randn(5, 2, 3)",
           "plot.shapes(lstm, x)", _shapes),
    Figure("cell_diagram_lstm.png",
           "One step of the counting LSTM (the 4th b of a⁸b⁸) drawn as its cell, every wire labelled "
           "with the counting unit's values at this step.",
           ANBN + "\nu = gallery.counting_unit(tr, ex)", "plot.cell_diagram(tr.step(11), unit=u)",
           _cell("lstm", "anbn")),
    Figure("cell_diagram_gru.png",
           "One step of the bracket GRU (the fifth character, an opening bracket) drawn as its cell "
           "with the values of the unit that follows the depth most.",
           BRACKETS + "\nu = gallery.depth_units(tr, ex)[0]", "plot.cell_diagram(tr.step(4), unit=u)",
           _cell("gru", "brackets")),
    Figure("cell_diagram_rnn.png",
           "One step of the sine-forecasting RNN drawn as its cell: a tanh of W_ih x + W_hh h + b.",
           'r = tasks.train("sine", "rnn"); ex = r.example(); tr = r.trace(ex)',
           "plot.cell_diagram(tr.step(20), unit=0)", _cell("rnn", "sine"), quick=False),
    Figure("sine_rnn_trace.png",
           "A plain RNN forecasting a sine wave: its pre-activation and state over 40 steps, units "
           "oscillating with the wave once it has seen a period.",
           'r = tasks.train("sine", "rnn"); ex = r.example(); tr = r.trace(ex)',
           "plot.trace_figure(tr, tokens=ex.tokens[0])", _sine_rnn, quick=False),
    Figure("adding_lstm_state_lines.png",
           "The adding problem: the LSTM unit whose final cell state best predicts the sum jumps at "
           "each marked number [·] and barely moves in between: an accumulator.",
           'r = tasks.train("adding", "lstm"); ex = r.example(); tr = r.trace(ex)\n'
           "units, corr = gallery.sum_units(r, count=1)",
           "plot.state_lines(tr, units=units, tokens=ex.tokens[0])", _adding_lines, quick=False),
    Figure("digits_gru_trace.png",
           "A GRU reading an 8×8 handwritten digit (shown on the right) one row per step before it "
           "names it.",
           'r = tasks.train("digits", "gru"); ex = r.example(); tr = r.trace(ex)',
           "plot.trace_figure(tr, tokens=ex.tokens[0])", _digits, quick=False),
]


def readme(figures: list[Figure], quick: bool) -> str:
    """``figures/README.md``: each figure with its sentence and the code that makes it."""
    lines = [
        "# The steprnn gallery",
        "",
        "Written by `steprnn figures`" + (" --quick" if quick else "") + " (small models trained with "
        f"fixed seeds on the built-in tasks; {len(figures)} files). Regenerate with `steprnn figures`.",
        "",
        "Each entry: what the figure shows, then the code that makes it. Every snippet assumes",
        "",
        "```python",
        "import numpy as np",
        "import steprnn as sr, steprnn.nn as nn, steprnn.plot as plot, steprnn.tasks as tasks",
        "from steprnn import gallery",
        "from steprnn.tasks import TaskModel",
        "```",
        "",
        "`plot.explore(tr)`, the interactive view for Jupyter (the `notebooks` extra), is the one "
        "function of `steprnn.plot` without a picture here.",
        "",
    ]
    for f in figures:
        lines += [f"## `{f.file}`", "", f.what, "", "```python", f.setup, f.code, "```", "",
                  f"![{f.file}]({f.file})", ""]
    return "\n".join(lines)


def build(out: Path | str, quick: bool = False, progress: bool = True,
          only: list[str] | None = None) -> list[Path]:
    """Train the models the gallery needs and write its figures and README.md into ``out``.

    ``quick`` writes the smaller gallery (entries marked ``quick``, at most ``QUICK_STEPS`` training
    steps per model) for CI. ``only`` keeps the entries whose file names contain one of its strings.
    Returns the paths written.
    """
    from tqdm.auto import tqdm

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [f for f in FIGURES if (f.quick or not quick) and (not only or any(s in f.file for s in only))]
    models = Models(quick=quick, progress=progress)
    written = []
    bar = tqdm(chosen, desc="figures", unit="fig", disable=not progress, dynamic_ncols=True)
    for f in bar:
        bar.set_postfix_str(f.file, refresh=True)
        fig = f.make(models, out)
        path = out / f.file
        if fig is not None:
            fig.savefig(path)
        written.append(path)
        if progress:
            tqdm.write(f"wrote {path}")
    (out / "README.md").write_text(readme(chosen, quick), encoding="utf-8")
    written.append(out / "README.md")
    return written

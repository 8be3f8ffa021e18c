"""steprnn.plot: every figure on every kind of layer, rendered under Agg.

Figures are rendered at a low dpi (fast) and checked for their size, for ink, for the fixed colour
limits, tokens as tick labels, blank NaN steps (pixels), GIF frames, the log scale of
gradient_flow, no plt.show() and no pyplot figures left open. connectivity's gradients are
checked against torch.autograd on the same weights.
"""
from __future__ import annotations

import html
import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import steprnn as sr  # noqa: E402
import steprnn.plot as P  # noqa: E402
from steprnn import nn  # noqa: E402
from steprnn.nn.utils.rnn import pack_padded_sequence  # noqa: E402
from steprnn.plot import style  # noqa: E402

L, N, I, H = 6, 2, 3, 5
TOKENS = list("abcdef")
LOW_DPI = 30

CONFIGS = {  # every kind, and every layout option in at least one configuration
    "rnn": lambda: (nn.RNN(I, H), False),
    "lstm": lambda: (nn.LSTM(I, H), False),
    "gru": lambda: (nn.GRU(I, H), False),
    "lstm-stacked-bidirectional-proj_size": lambda: (nn.LSTM(I, H, num_layers=2, bidirectional=True, proj_size=2),
                                                     False),
    "gru-stacked-batch_first-packed": lambda: (nn.GRU(I, H, num_layers=2, batch_first=True), True),
    "rnn-bidirectional-packed": lambda: (nn.RNN(I, H, bidirectional=True), True),
}
LENGTHS = [L, 3]


def _input(layer, packed):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((L, N, I)).astype(np.float32)
    if layer.batch_first:
        x = x.transpose(1, 0, 2).copy()
    if packed:
        return pack_padded_sequence(x, LENGTHS, batch_first=layer.batch_first)
    return x


@pytest.fixture(scope="module", params=list(CONFIGS))
def case(request):
    sr.manual_seed(0)
    layer, packed = CONFIGS[request.param]()
    x = _input(layer, packed)
    return request.param, layer, x, sr.trace(layer, x)


def _render(fig, dpi=LOW_DPI):
    """(H, W, 4) uint8 pixels of ``fig`` at ``dpi``."""
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGBA"))


def _check_drawn(fig, size=None):
    assert isinstance(fig, Figure)
    pixels = _render(fig)
    w, h = fig.get_size_inches() * LOW_DPI
    assert abs(pixels.shape[1] - w) <= 1 and abs(pixels.shape[0] - h) <= 1
    ink = (pixels[:, :, :3] < 200).any(axis=2).mean()
    assert ink > 0.01, f"figure looks blank ({ink:.2%} ink)"
    if size is not None:
        assert tuple(fig.get_size_inches()) == pytest.approx(size)
    assert fig.dpi == style.DPI


def series_shape(tr, q):
    """(L, units) of quantity q."""
    return (L, tr.h().shape[2] if q == "h" else H)


def _quantities(tr):
    return list(tr.gate_names) + (["c"] if tr.kind == "lstm" else []) + ["h"] + (["pre"] if tr.kind == "rnn" else [])


# -- every function on every kind ---------------------------------------------------------------
def test_heatmaps_and_trace_figures_render(case):
    name, layer, x, tr = case
    last = tr.num_layers - 1
    d = tr.num_directions - 1
    for q in _quantities(tr):
        ax = P.gate_heatmap(tr, q, layer=last, direction=d, batch=1, tokens=TOKENS)
        assert isinstance(ax, Axes)
        assert ax.images[0].get_array().shape[::-1] == series_shape(tr, q)
    _check_drawn(ax.figure, style.WIDE_STRIP)
    _check_drawn(P.trace_figure(tr, layer=last, direction=d, batch=1, tokens=TOKENS), style.SLIDE)


def test_line_saturation_strip_and_diagram_figures_render(case):
    name, layer, x, tr = case
    _check_drawn(P.state_lines(tr, units=[0, 2], batch=1, tokens=TOKENS))
    _check_drawn(P.saturation(tr))
    _check_drawn(P.token_strip(tr, 1, "abcdef", layer=tr.num_layers - 1, batch=1))
    step = tr.step(2, layer=tr.num_layers - 1, direction=tr.num_directions - 1, batch=1)
    _check_drawn(P.cell_diagram(step, unit=H - 1), style.SLIDE)


def test_layer_figures_render(case):
    name, layer, x, tr = case
    fig = P.shapes(layer, x)
    _check_drawn(fig, style.SLIDE)
    texts = [t.get_text() for t in fig.axes[0].texts]
    checks = [t for t in texts if t.startswith("h_n[") and "==" in t]
    assert len(checks) == layer.num_directions
    assert all("✓ equal" in t for t in checks), checks
    which = ("ih", "hh", "hr") if layer.proj_size else ("ih", "hh")
    _check_drawn(P.weights(layer, layer_index=layer.num_layers - 1, direction=layer.num_directions - 1,
                           which=which), style.SLIDE)
    if not isinstance(x, np.ndarray):
        return  # connectivity takes a padded tensor
    _check_drawn(P.connectivity(layer, x, L - 1, TOKENS))
    fig = P.connectivity(layer, x, [1, L - 1], TOKENS)
    assert fig.axes[0].images[0].get_array().shape == (2, L)


def test_shapes_unbatched_and_cells():
    sr.manual_seed(1)
    lstm = nn.LSTM(I, H, proj_size=3, num_layers=2, bidirectional=True)
    fig = P.shapes(lstm, np.ones((L, I), dtype=np.float32))
    assert any("(unbatched)" in t.get_text() for t in fig.axes[0].texts)
    assert sum("✓ equal" in t.get_text() for t in fig.axes[0].texts) == 2
    cell = nn.GRUCell(I, H)
    _check_drawn(P.weights(cell))
    with pytest.raises(TypeError, match="recurrent layer"):
        P.shapes(cell, np.ones((1, I), dtype=np.float32))
    tr = sr.trace(nn.LSTMCell(I, H), np.ones((N, I), dtype=np.float32))
    _check_drawn(P.cell_diagram(tr.step(0)))
    assert "data:image/png" in tr._repr_html_()  # a cell's trace: one step


def test_weights_bands_are_labelled():
    sr.manual_seed(0)
    fig = P.weights(nn.LSTM(10, 30))
    ax = fig.axes[0]
    assert [t.get_text().split()[0] for t in ax.get_yticklabels()] == ["i", "f", "g", "o"]
    assert "(4·30, 10)" in ax.get_title()
    gru = P.weights(nn.GRU(4, 6))
    assert [t.get_text().split()[0] for t in gru.axes[0].get_yticklabels()] == ["r", "z", "n"]
    with pytest.raises(ValueError, match="weight_hr"):
        P.weights(nn.LSTM(4, 6), which=("hr",))


# -- fixed colour limits, tokens, NaN -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_colour_limits_are_fixed(kind):
    sr.manual_seed(0)
    layer = CONFIGS[kind]()[0]
    for scale in (0.01, 100.0):  # tiny and saturating inputs: the limits do not follow the data
        x = (np.random.default_rng(1).standard_normal((L, N, I)) * scale).astype(np.float32)
        tr = sr.trace(layer, x)
        for q in _quantities(tr):
            ax = P.gate_heatmap(tr, q)
            expected = (0.0, 1.0) if q in "ifozr" else ((-3.0, 3.0) if q == "pre" else (-1.0, 1.0))
            assert ax.images[0].get_clim() == expected, q
            assert ax.figure.axes[-1].get_ylabel(), "colour bar without a label"
        fig = P.trace_figure(tr)
        for ax in fig.axes:
            for im in ax.images:
                assert im.get_clim() in ((0.0, 1.0), (-1.0, 1.0), (-3.0, 3.0))
        bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
        assert len(bars) == (2 if kind != "rnn" else 2)  # one per scale
        assert all(b.get_ylabel() for b in bars)


def test_tokens_become_tick_labels():
    sr.manual_seed(0)
    tr = sr.trace(nn.LSTM(I, H), np.ones((L, 1, I), dtype=np.float32))
    words = ["the", "cat", "sat", "on", "a", " "]
    ax = P.gate_heatmap(tr, "f", tokens=words)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["the", "cat", "sat", "on", "a", "␣"]
    fig = P.trace_figure(tr, tokens="abcdef")
    assert [t.get_text() for t in fig.axes[len(_quantities(tr)) - 1].get_xticklabels()] == list("abcdef")
    with pytest.raises(ValueError, match="expected 6, got 3"):
        P.gate_heatmap(tr, "f", tokens="abc")
    fig = Figure()
    ax = fig.add_subplot()
    assert P.gate_heatmap(tr, "o", ax=ax, tokens=words) is ax and ax.figure is fig


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_nan_steps_are_blank(kind):
    sr.manual_seed(0)
    layer = CONFIGS[kind]()[0]
    x = np.random.default_rng(2).standard_normal((L, N, I)).astype(np.float32)
    tr = sr.trace(layer, pack_padded_sequence(x, LENGTHS))
    assert np.isnan(tr.h()[3:, 1]).all()
    gate = tr.gate_names[0]
    ax = P.gate_heatmap(tr, gate, batch=1)
    fig = ax.figure
    dpi = 50
    pixels = _render(fig, dpi)
    height = pixels.shape[0]
    background = np.array(matplotlib.colors.to_rgba(style.BACKGROUND)) * 255
    cmap_colours = style.cmap(style.scale_of(gate))(np.linspace(0, 1, 256)) * 255
    to_px = ax.transData.frozen()  # display pixels at fig.dpi, once the layout was drawn
    for t in range(L):
        for unit in (0, H - 1):
            xd, yd = to_px.transform((t, unit)) * dpi / fig.dpi
            px = pixels[height - int(round(yd)), int(round(xd))].astype(float)
            if t >= LENGTHS[1]:
                assert np.allclose(px, background, atol=1), (t, unit, px)
            else:
                assert not np.allclose(px, background, atol=1), (t, unit, px)
    # and the background is no colour of the map
    assert np.abs(cmap_colours[:, :3] - background[:3]).sum(axis=1).min() > 3


# -- animation, gradient flow -------------------------------------------------------------------
def test_animate_writes_one_frame_per_step(tmp_path):
    from PIL import Image

    sr.manual_seed(0)
    layer = nn.LSTM(I, H, bidirectional=True)
    tr = sr.trace(layer, np.random.default_rng(3).standard_normal((L, 1, I)).astype(np.float32))
    path = P.animate(tr, tmp_path / "steps.gif", direction=1, tokens=TOKENS, dpi=20)
    with Image.open(path) as im:
        assert im.format == "GIF"
        assert im.n_frames == L
    with pytest.raises(ValueError, match=".gif"):
        P.animate(tr, tmp_path / "steps.png")


def test_gradient_flow_log_scale_one_line_per_trace():
    sr.manual_seed(0)
    traces = {}
    for name, layer in (("RNN", nn.RNN(I, H)), ("LSTM", nn.LSTM(I, H)), ("GRU", nn.GRU(I, H))):
        tr = sr.trace(layer, np.random.default_rng(4).standard_normal((L, N, I)).astype(np.float32))
        tr.output[-1].sum().backward()
        traces[name] = tr
    fig = P.gradient_flow(traces)
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["RNN", "LSTM", "GRU"]
    for ln, tr in zip(lines, traces.values()):
        np.testing.assert_allclose(ln.get_ydata(), tr.gradient_norms())
    _check_drawn(fig)
    cell = P.gradient_flow({"LSTM": traces["LSTM"]}, state="c").axes[0]
    np.testing.assert_allclose(cell.get_lines()[0].get_ydata(), traces["LSTM"].gradient_norms(state="c"))
    one = P.gradient_flow(traces["LSTM"])
    assert len(one.axes[0].get_lines()) == 1 and one.axes[0].get_yscale() == "log"
    untrained = sr.trace(nn.GRU(I, H), np.ones((L, 1, I), dtype=np.float32))
    with pytest.raises(RuntimeError, match="backward"):
        P.gradient_flow({"no backward": untrained})


# -- connectivity against torch -----------------------------------------------------------------
def test_connectivity_matches_torch():
    import torch  # the test extra pins torch: parity tests never skip
    sr.manual_seed(0)
    ours = nn.LSTM(I, H, dtype=sr.float64)
    ref = torch.nn.LSTM(I, H, dtype=torch.float64)
    ref.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(5).standard_normal((L, N, I))
    for t, unit in ((L - 1, 2), (2, None)):
        got = P.connectivity_values(ours, x, t, batch=1, unit=unit)
        xt = torch.tensor(x, requires_grad=True)
        y = ref(xt)[0][t, 1]
        j = int(torch.argmax(y)) if unit is None else unit
        (g,) = torch.autograd.grad(y[j], xt)
        expected = g[:, 1].norm(dim=-1).numpy()
        np.testing.assert_allclose(got[0], expected, rtol=1e-10, atol=1e-14)
        assert np.all(got[0, t + 1:] == 0)


class _Tagger(nn.Module):
    """A model around a batch_first GRU: one output vector per step."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(I, H, batch_first=True)
        self.out = nn.Linear(H, 4)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y)


def test_connectivity_of_a_model():
    sr.manual_seed(0)
    x = np.random.default_rng(8).standard_normal((N, L, I)).astype(np.float32)  # batch_first, from the GRU
    got = P.connectivity_values(_Tagger(), x, [2, L - 1], batch=1)
    assert got.shape == (2, L)
    assert np.all(got[0, 3:] == 0) and np.all(got[0, :3] > 0) and np.all(got[1] > 0)


def test_connectivity_row_normalisation_scales_each_step_by_its_own_largest():
    sr.manual_seed(0)
    layer = nn.GRU(I, H)
    x = np.random.default_rng(9).standard_normal((L, N, I)).astype(np.float32)
    ts = [1, L - 1]
    raw = P.connectivity_values(layer, x, ts)
    fig = P.connectivity(layer, x, ts, normalize="row")
    shown = np.ma.filled(fig.axes[0].get_images()[0].get_array().astype(float), np.nan)  # (T, L), NaN past t
    for k, t in enumerate(ts):
        np.testing.assert_allclose(shown[k, :t + 1], raw[k, :t + 1] / raw[k, :t + 1].max(), rtol=1e-12)
        assert np.all(np.isnan(shown[k, t + 1:]))
    default = np.ma.filled(P.connectivity(layer, x, ts).axes[0].get_images()[0].get_array().astype(float), np.nan)
    np.testing.assert_allclose(default[1], raw[1], rtol=1e-12)  # the default keeps the raw values
    with pytest.raises(ValueError, match="normalize"):
        P.connectivity(layer, x, ts, normalize="column")


# -- Agg safety and Jupyter ---------------------------------------------------------------------
def _every_figure(tr, layer, x):
    yield P.gate_heatmap(tr, "f").figure
    yield P.trace_figure(tr)
    yield P.state_lines(tr)
    yield P.saturation(tr)
    yield P.cell_diagram(tr.step(1))
    yield P.shapes(layer, x)
    yield P.weights(layer)
    yield P.token_strip(tr, 0, "abcdef")
    yield P.connectivity(layer, x, 3)


def test_nothing_calls_show_or_leaves_figures_open(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setattr(Figure, "show", refuse)
    plt.close("all")
    sr.manual_seed(0)
    layer = nn.LSTM(I, H)
    x = np.random.default_rng(6).standard_normal((L, 1, I)).astype(np.float32)
    tr = sr.trace(layer, x)
    for fig in _every_figure(tr, layer, x):
        assert isinstance(fig, Figure)
    P.animate(tr, tmp_path / "a.gif", dpi=10)
    assert plt.get_fignums() == []
    for _ in range(50):
        P.gate_heatmap(tr, "i")
    assert plt.get_fignums() == []


def test_trace_displays_itself_in_jupyter():
    sr.manual_seed(0)
    tr = sr.trace(nn.GRU(I, H, num_layers=2), np.ones((L, 1, I), dtype=np.float32), layers=[1])
    shown = tr._repr_html_()
    assert "Trace(gru" in shown and "data:image/png;base64," in shown
    png = P.trace_figure(tr, layer=1)._repr_png_()  # a figure shows itself without pyplot
    assert png.startswith(b"\x89PNG")
    assert plt.get_fignums() == []


def test_bad_input_is_refused_clearly():
    sr.manual_seed(0)
    tr = sr.trace(nn.GRU(I, H), np.ones((L, 1, I), dtype=np.float32))
    with pytest.raises(ValueError, match="unknown quantity 'f' for a GRU"):
        P.gate_heatmap(tr, "f")
    with pytest.raises(TypeError, match="Trace"):
        P.trace_figure(np.ones((L, 1, H)))
    with pytest.raises(TypeError, match="Step"):
        P.cell_diagram(tr)
    with pytest.raises(ValueError, match="unit must be"):
        P.token_strip(tr, H, "abcdef")
    with pytest.raises(ValueError, match="batch element 3 was not recorded"):
        P.trace_figure(tr, batch=3)
    with pytest.raises(ValueError, match="t must be a step"):
        P.connectivity(nn.GRU(I, H), np.ones((L, 1, I), dtype=np.float32), L)


# -- the explorer -------------------------------------------------------------------------------
def test_explore_follows_its_widgets():
    pytest.importorskip("ipywidgets")
    sr.manual_seed(0)
    layer = nn.LSTM(I, H, num_layers=2, bidirectional=True)
    x = np.random.default_rng(7).standard_normal((L, N, I)).astype(np.float32)
    tr = sr.trace(layer, pack_padded_sequence(x, LENGTHS))
    ex = P.explore(tr, tokens=TOKENS)
    assert "t = 0" in ex.equations.value and "unit 0 of 5" in ex.equations.value
    first = bytes(ex.figure.value)
    assert first.startswith(b"\x89PNG") and bytes(ex.diagram.value).startswith(b"\x89PNG")
    ex.step.value = 4
    ex.unit.value = 3
    assert "t = 4" in ex.equations.value and "unit 3 of 5" in ex.equations.value
    assert bytes(ex.figure.value) != first
    with ex.hold():  # one redraw for both
        ex.layer.value = 1
        ex.direction.value = 1
    assert "layer 1 (reverse)" in ex.equations.value
    assert html.escape(tr.step(4, 1, 1, 0).explain(3)) in ex.equations.value
    ex.batch.value = 1  # length 3: step 4 is past its end
    assert "past the end" in ex.message.value and ex.equations.value == ""
    ex.step.value = 2
    assert "t = 2, batch element 1" in ex.equations.value and ex.message.value == ""
    assert plt.get_fignums() == []


def test_explore_without_ipywidgets_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    tr = sr.trace(nn.RNN(I, H), np.ones((L, 1, I), dtype=np.float32))
    with pytest.raises(ImportError, match=r"steprnn\[notebooks\]"):
        P.explore(tr)

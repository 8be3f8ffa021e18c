"""Reading a trace never changes what backward computes (issue: a trace read poisoned gradients).

A traced forward shares its kernels' buffers with the autograd node; masking the steps past a
sequence's end must copy, never write into those buffers.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

import steprnn as sr
from steprnn.nn.utils.rnn import pack_padded_sequence as sr_pack
from helpers import twin_layers

LENGTHS = [5, 2, 4]  # unsorted; sorted for enforce_sorted=True below


def _read_everything(tr: sr.Trace) -> None:
    """Call every accessor of every recorded layer and direction, and a Step of each."""
    for layer in tr.layers:
        for d in range(tr.num_directions):
            tr.h(layer, d)
            for g in tr.gate_names:
                tr.gate(g, layer, d)
                tr.preactivation(g, layer, d)
            if tr.kind == "rnn":
                tr.preactivation("h", layer, d)
            if tr.kind == "lstm":
                tr.c(layer, d)
            for name in ("x", "h0", "w_ih", "w_hh"):
                tr.array(name, layer, d)
            str(tr.step(1, layer, d, batch=1))
            tr.step(0, layer, d).explain()


def _grads(layer, x: np.ndarray, lengths: list[int], sorted_: bool, read: bool, lib):
    """(input gradient, {parameter: gradient}) of Σ out ⊙ w + Σ h_n² through a (traced) forward."""
    xt = lib.tensor(x, requires_grad=True)
    packed = (sr_pack if lib is sr else torch.nn.utils.rnn.pack_padded_sequence)(
        xt, lengths if lib is sr else torch.tensor(lengths), enforce_sorted=sorted_)
    if lib is sr:
        tr = sr.trace(layer, packed)
        if read:
            _read_everything(tr)
        out, state = tr.output, (tr.h_n if tr.c_n is None else (tr.h_n, tr.c_n))
    else:
        out, state = layer(packed)
    h_n = state[0] if isinstance(state, tuple) else state
    w = lib.tensor(np.linspace(-1, 1, out.data.numel() if lib is torch else out.data.numel())
                   .reshape(tuple(out.data.shape)))
    loss = (out.data * w).sum() + (h_n ** 2).sum()
    loss.backward()
    grads = {n: np.array(p.grad.numpy()) for n, p in layer.named_parameters()}
    for p in layer.parameters():
        p.grad = None
    return np.array(xt.grad.numpy()), grads


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("sorted_", [True, False])
def test_gradients_after_reading_a_trace_equal_unread_and_torch(kind, sorted_):
    t_layer, s_layer = twin_layers(kind, 3, 5, np.float64, seed=7, num_layers=2, bidirectional=True)
    x = np.random.default_rng(3).standard_normal((5, 3, 3))
    lengths = sorted(LENGTHS, reverse=True) if sorted_ else LENGTHS
    dx_plain, g_plain = _grads(s_layer, x, lengths, sorted_, read=False, lib=sr)
    dx_read, g_read = _grads(s_layer, x, lengths, sorted_, read=True, lib=sr)
    dx_torch, g_torch = _grads(t_layer, x, lengths, sorted_, read=False, lib=torch)
    assert np.isfinite(dx_read).all(), "input gradient has NaN after reading the trace"
    np.testing.assert_array_equal(dx_read, dx_plain, err_msg="input gradient changed by reading the trace")
    np.testing.assert_allclose(dx_read, dx_torch, rtol=0, atol=1e-8, err_msg="input gradient vs torch")
    for name in g_plain:
        assert np.isfinite(g_read[name]).all(), f"{name}: NaN after reading the trace"
        np.testing.assert_array_equal(g_read[name], g_plain[name], err_msg=f"{name} changed by reading the trace")
        np.testing.assert_allclose(g_read[name], g_torch[name], rtol=0, atol=1e-8, err_msg=f"{name} vs torch")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_reading_a_trace_leaves_the_returned_output_alone(kind):
    _, layer = twin_layers(kind, 3, 4, np.float64, seed=1, num_layers=2)
    x = np.random.default_rng(0).standard_normal((4, 2, 3))
    packed = sr_pack(sr.tensor(x), [4, 2])
    tr = sr.trace(layer, packed)
    before = np.array(tr.output.data.detach().numpy())
    _read_everything(tr)
    assert np.isnan(tr.h(1)[2:, 1]).all()  # the trace shows the padding as NaN ...
    np.testing.assert_array_equal(tr.output.data.detach().numpy(), before)  # ... the output never sees it

"""RNNCell, LSTMCell, GRUCell against torch's."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from helpers import close, twin_layers


@given(kind=st.sampled_from(["rnncell", "lstmcell", "grucell"]), dtype=st.sampled_from([np.float32, np.float64]),
       input_size=st.integers(1, 8), hidden_size=st.integers(1, 9), N=st.integers(1, 5), bias=st.booleans(),
       batched=st.booleans(), with_hx=st.booleans(), relu=st.booleans(), seed=st.integers(0, 9999))
def test_cells_match_torch(kind, dtype, input_size, hidden_size, N, bias, batched, with_hx, relu, seed):
    extra = {"nonlinearity": "relu" if relu else "tanh"} if kind == "rnncell" else {}
    t_cell, s_cell = twin_layers(kind, input_size, hidden_size, dtype, seed=seed, bias=bias, **extra)
    rng = np.random.default_rng(seed)
    lead = (N,) if batched else ()
    x = rng.standard_normal(lead + (input_size,)).astype(dtype)
    hx = None
    if with_hx:
        hx = rng.standard_normal(lead + (hidden_size,)).astype(dtype)
        if kind == "lstmcell":
            hx = (hx, rng.standard_normal(lead + (hidden_size,)).astype(dtype))
    t_hx = None if hx is None else (tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx))
    with torch.no_grad():
        t_res = t_cell(torch.from_numpy(x), t_hx)
    s_res = s_cell(x, hx)
    if kind == "lstmcell":
        close(s_res[0], t_res[0], dtype, "h'")
        close(s_res[1], t_res[1], dtype, "c'")
    else:
        close(s_res, t_res, dtype, "h'")


def test_cell_loop_equals_layer():
    """Stepping an LSTMCell by hand gives the LSTM layer's output (same weights)."""
    import steprnn.nn as nn

    layer = nn.LSTM(3, 4, dtype=np.float64)
    cell = nn.LSTMCell(3, 4, dtype=np.float64)
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    out, (h_n, c_n) = layer(x)
    h = c = np.zeros((2, 4))
    for t in range(6):
        h, c = cell(x[t], (h, c))
        np.testing.assert_allclose(np.asarray(h), np.asarray(out)[t], atol=1e-13)
    np.testing.assert_allclose(np.asarray(c), np.asarray(c_n)[0], atol=1e-13)


@pytest.mark.parametrize("kind", ["rnncell", "grucell"])
def test_cell_rejects_wrong_hidden(kind):
    _, cell = twin_layers(kind, 3, 4)
    with pytest.raises(RuntimeError, match="inconsistent hidden_size: got 5, expected 4"):
        cell(np.zeros((2, 3), np.float32), np.zeros((2, 5), np.float32))
    with pytest.raises(RuntimeError, match="batch size 2 doesn't match"):
        cell(np.zeros((2, 3), np.float32), np.zeros((3, 4), np.float32))
    with pytest.raises(RuntimeError, match="inconsistent input_size: got 2 expected 3"):
        cell(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="Expected input to be 1D or 2D, got 3D"):
        cell(np.zeros((1, 2, 3), np.float32))


def test_lstmcell_hx_must_be_a_pair():
    _, cell = twin_layers("lstmcell", 3, 4)
    with pytest.raises(TypeError, match=r"tuple \(h, c\)"):
        cell(np.zeros((2, 3), np.float32), np.zeros((2, 4), np.float32))

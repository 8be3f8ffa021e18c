"""Shared test helpers: building twin steprnn/torch layers with the same weights."""
from __future__ import annotations

import numpy as np
import torch

import steprnn.nn as nn

TOL = {np.dtype("float32"): 1e-5, np.dtype("float64"): 1e-10}
TORCH_DTYPE = {np.dtype("float32"): torch.float32, np.dtype("float64"): torch.float64}


def twin_layers(kind: str, input_size: int, hidden_size: int, dtype=np.float32, seed: int = 0, **kwargs):
    """A torch layer and a steprnn layer with identical weights (biases non-zero, random)."""
    dtype = np.dtype(dtype)
    torch.manual_seed(seed)
    cls = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU", "rnncell": "RNNCell", "lstmcell": "LSTMCell",
           "grucell": "GRUCell"}[kind]
    t = getattr(torch.nn, cls)(input_size, hidden_size, dtype=TORCH_DTYPE[dtype], **kwargs)
    s = getattr(nn, cls)(input_size, hidden_size, dtype=dtype, **kwargs)
    s.load_state_dict(t.state_dict())
    return t, s


def close(ours, theirs, dtype, what: str = "") -> None:
    ours = np.asarray(ours)
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != torch's {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL[np.dtype(dtype)], err_msg=what)


def draw_kind(draw, min_hidden: int = 2, max_hidden: int = 7) -> tuple[str, int, dict]:
    """(kind, hidden_size, kind-specific keyword arguments) for a hypothesis ``@st.composite``:
    LSTMs sometimes with a projection, RNNs with tanh or relu."""
    from hypothesis import strategies as st

    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    H = draw(st.integers(min_hidden, max_hidden))
    extra = {}
    if kind == "lstm" and H > 1 and draw(st.booleans()):
        extra["proj_size"] = draw(st.integers(1, H - 1))
    if kind == "rnn":
        extra["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return kind, H, extra

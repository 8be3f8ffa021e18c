"""Property-based parity with torch over every layer configuration."""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from steprnn.nn.utils.rnn import pack_padded_sequence as sr_pack
from steprnn.nn.utils.rnn import pad_packed_sequence as sr_pad
from helpers import close, draw_kind, twin_layers


@st.composite
def configs(draw):
    kind, hidden, extra = draw_kind(draw, 1, 9)
    cfg = dict(
        kind=kind,
        input_size=draw(st.integers(1, 7)),
        hidden_size=hidden,
        num_layers=draw(st.integers(1, 3)),
        bidirectional=draw(st.booleans()),
        batch_first=draw(st.booleans()),
        bias=draw(st.booleans()),
        dtype=draw(st.sampled_from([np.float32, np.float64])),
        with_hx=draw(st.booleans()),
        packed=draw(st.booleans()),
        L=draw(st.integers(1, 6)),
        N=draw(st.integers(1, 4)),
        seed=draw(st.integers(0, 2**16)),
    )
    cfg["extra"] = extra
    if cfg["packed"]:
        cfg["lengths"] = draw(st.lists(st.integers(1, cfg["L"]), min_size=cfg["N"], max_size=cfg["N"]))
        cfg["enforce_sorted"] = False
    return cfg


def _inputs(cfg):
    rng = np.random.default_rng(cfg["seed"])
    dt = np.dtype(cfg["dtype"])
    L, N = cfg["L"], cfg["N"]
    shape = (N, L, cfg["input_size"]) if cfg["batch_first"] else (L, N, cfg["input_size"])
    x = rng.standard_normal(shape).astype(dt)
    hx = None
    if cfg["with_hx"]:
        D = 2 if cfg["bidirectional"] else 1
        h_out = cfg["extra"].get("proj_size") or cfg["hidden_size"]
        h0 = rng.standard_normal((cfg["num_layers"] * D, N, h_out)).astype(dt)
        if cfg["kind"] == "lstm":
            c0 = rng.standard_normal((cfg["num_layers"] * D, N, cfg["hidden_size"])).astype(dt)
            hx = (h0, c0)
        else:
            hx = h0
    return x, hx


def _to_torch(hx):
    if hx is None:
        return None
    if isinstance(hx, tuple):
        return tuple(torch.from_numpy(a) for a in hx)
    return torch.from_numpy(hx)


@given(configs())
def test_layers_match_torch(cfg):
    t_layer, s_layer = twin_layers(
        cfg["kind"], cfg["input_size"], cfg["hidden_size"], cfg["dtype"], seed=cfg["seed"],
        num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"], batch_first=cfg["batch_first"],
        bias=cfg["bias"], **cfg["extra"],
    )
    x, hx = _inputs(cfg)
    if cfg["packed"]:
        lengths = cfg["lengths"]
        t_in = torch.nn.utils.rnn.pack_padded_sequence(torch.from_numpy(x), torch.tensor(lengths),
                                                       batch_first=cfg["batch_first"], enforce_sorted=False)
        s_in = sr_pack(x, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
    else:
        t_in, s_in = torch.from_numpy(x), x
    with torch.no_grad():
        t_out, t_h = t_layer(t_in, _to_torch(hx))
    s_out, s_h = s_layer(s_in, hx)
    dt = cfg["dtype"]
    if cfg["packed"]:
        t_pad, t_len = torch.nn.utils.rnn.pad_packed_sequence(t_out, batch_first=cfg["batch_first"])
        s_pad, s_len = sr_pad(s_out, batch_first=cfg["batch_first"])
        close(s_out.data, t_out.data, dt, "packed output data")
        close(s_pad, t_pad, dt, "padded output")
        np.testing.assert_array_equal(np.asarray(s_len), t_len.numpy())
    else:
        close(s_out, t_out, dt, "output")
    if cfg["kind"] == "lstm":
        close(s_h[0], t_h[0], dt, "h_n")
        close(s_h[1], t_h[1], dt, "c_n")
    else:
        close(s_h, t_h, dt, "h_n")


@given(kind=st.sampled_from(["rnn", "lstm", "gru"]), dtype=st.sampled_from([np.float32, np.float64]),
       with_hx=st.booleans(), bidirectional=st.booleans(), L=st.integers(1, 5), seed=st.integers(0, 999))
def test_unbatched_input_matches_torch(kind, dtype, with_hx, bidirectional, L, seed):
    t_layer, s_layer = twin_layers(kind, 3, 5, dtype, seed=seed, num_layers=2, bidirectional=bidirectional)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((L, 3)).astype(dtype)
    D = 2 if bidirectional else 1
    hx = None
    if with_hx:
        hx = rng.standard_normal((2 * D, 5)).astype(dtype)
        if kind == "lstm":
            hx = (hx, rng.standard_normal((2 * D, 5)).astype(dtype))
    with torch.no_grad():
        t_out, t_h = t_layer(torch.from_numpy(x), _to_torch(hx))
    s_out, s_h = s_layer(x, hx)
    close(s_out, t_out, dtype, "output")
    if kind == "lstm":
        close(s_h[0], t_h[0], dtype, "h_n")
        close(s_h[1], t_h[1], dtype, "c_n")
    else:
        close(s_h, t_h, dtype, "h_n")


def test_nonzero_hx_changes_the_output():
    """d2l's bug: a scratch LSTM that ignored its initial state. Ours must not."""
    t_layer, s_layer = twin_layers("lstm", 4, 6, np.float64, num_layers=2)
    x = np.random.default_rng(1).standard_normal((5, 2, 4))
    h0 = np.full((2, 2, 6), 0.5)
    c0 = np.full((2, 2, 6), -0.7)
    out0, _ = s_layer(x)
    out1, (h1, c1) = s_layer(x, (h0, c0))
    assert np.abs(np.asarray(out0) - np.asarray(out1)).max() > 1e-3
    t_out, (t_h, t_c) = t_layer(torch.from_numpy(x), (torch.from_numpy(h0), torch.from_numpy(c0)))
    close(out1, t_out, np.float64, "output with hx")
    close(c1, t_c, np.float64, "c_n with hx")


def test_medium_sizes_float32():
    """A size closer to real use: H not a power of two, I != H, long sequence."""
    for kind in ("rnn", "lstm", "gru"):
        t_layer, s_layer = twin_layers(kind, 37, 61, np.float32, num_layers=2, bidirectional=True)
        x = np.random.default_rng(2).standard_normal((40, 9, 37)).astype(np.float32)
        with torch.no_grad():
            t_out, _ = t_layer(torch.from_numpy(x))
        s_out, _ = s_layer(x)
        close(s_out, t_out, np.float32, kind)


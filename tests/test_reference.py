"""The oracle against torch, and the kernels against the oracle: every named intermediate."""
from __future__ import annotations

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
from helpers import twin_layers
from reference import cell_step, forward


@st.composite
def setups(draw):
    kind = draw(st.sampled_from(["rnn", "lstm", "gru"]))
    H = draw(st.integers(2, 7))
    extra = {}
    if kind == "lstm" and draw(st.booleans()):
        extra["proj_size"] = draw(st.integers(1, H - 1))
    if kind == "rnn":
        extra["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))
    return dict(kind=kind, I=draw(st.integers(1, 6)), H=H, layers=draw(st.integers(1, 3)),
                bidirectional=draw(st.booleans()), L=draw(st.integers(1, 6)), N=draw(st.integers(1, 4)),
                seed=draw(st.integers(0, 10_000)), extra=extra)


def _hx(s, rng):
    D = 2 if s["bidirectional"] else 1
    H_out = s["extra"].get("proj_size") or s["H"]
    h0 = rng.standard_normal((s["layers"] * D, s["N"], H_out))
    if s["kind"] == "lstm":
        return h0, rng.standard_normal((s["layers"] * D, s["N"], s["H"]))
    return h0


@given(setups())
def test_oracle_equals_torch(s):
    t_layer, _ = twin_layers(s["kind"], s["I"], s["H"], np.float64, seed=s["seed"], num_layers=s["layers"],
                             bidirectional=s["bidirectional"], **s["extra"])
    rng = np.random.default_rng(s["seed"])
    x = rng.standard_normal((s["L"], s["N"], s["I"]))
    hx = _hx(s, rng)
    with torch.no_grad():
        t_hx = tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)
        t_out, t_h = t_layer(torch.from_numpy(x), t_hx)
    out, h = forward(s["kind"], t_layer.state_dict(), x, hx, s["layers"], s["bidirectional"],
                     s["extra"].get("proj_size", 0), s["extra"].get("nonlinearity", "tanh"))
    np.testing.assert_allclose(out, t_out.numpy(), atol=1e-12)
    if s["kind"] == "lstm":
        np.testing.assert_allclose(h[0], t_h[0].numpy(), atol=1e-12)
        np.testing.assert_allclose(h[1], t_h[1].numpy(), atol=1e-12)
    else:
        np.testing.assert_allclose(h, t_h.numpy(), atol=1e-12)


@given(setups())
def test_kernels_record_what_the_oracle_computes(s):
    """Every gate and pre-activation the kernels recorded equals the oracle's, step by step."""
    _, layer = twin_layers(s["kind"], s["I"], s["H"], np.float64, seed=s["seed"], num_layers=s["layers"],
                           bidirectional=s["bidirectional"], **s["extra"])
    rng = np.random.default_rng(s["seed"] + 1)
    x = rng.standard_normal((s["L"], s["N"], s["I"]))
    hx = _hx(s, rng)
    tr = sr.trace(layer, x, hx)
    D = tr.num_directions
    for l in range(s["layers"]):
        for d in range(D):
            k = l * D + d
            p = {n: tr.arrays.get(f"l{l}d{d}.{n}") for n in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr")}
            xs = tr.arrays[f"l{l}d{d}.x"]
            h = (hx[0] if isinstance(hx, tuple) else hx)[k]
            c = hx[1][k] if isinstance(hx, tuple) else None
            steps = range(s["L"] - 1, -1, -1) if d else range(s["L"])
            for t in steps:
                h, c, gates, pre = cell_step(s["kind"], xs[t], h, c, p, s["extra"].get("nonlinearity", "tanh"))
                for g, v in gates.items():
                    np.testing.assert_allclose(tr.gate(g, l, d)[t], v, atol=1e-12, err_msg=f"gate {g} t={t}")
                for g, v in pre.items():
                    np.testing.assert_allclose(tr.preactivation(g, l, d)[t], v, atol=1e-12, err_msg=f"pre {g} t={t}")
                np.testing.assert_allclose(tr.h(l, d)[t], h, atol=1e-12, err_msg=f"h t={t}")
                if c is not None:
                    np.testing.assert_allclose(tr.c(l, d)[t], c, atol=1e-12, err_msg=f"c t={t}")

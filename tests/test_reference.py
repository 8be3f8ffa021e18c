"""The float64 oracle in reference.py against torch float64, within 1e-12; then the kernels against the oracle.

torch layers get random non-zero weights and biases (N(0, 0.5²), not torch's small uniform init) so
gates leave their linear range; initial states are random too. The oracle is given the layer's own
state_dict (torch tensors). Sizes are small and odd (I, H in 1..7, proj_size < H).
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import cell_step, forward, layer_forward
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

TOL = 1e-12
CLS = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}
EXAMPLES = int(os.environ.get("STEPRNN_REFERENCE_EXAMPLES", "30"))


def close(ours, theirs, what: str = "") -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float64, f"{what}: not a float64 ndarray"
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch's {theirs.shape}"
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=TOL, err_msg=what)


@st.composite
def configs(draw, kinds=("rnn", "lstm", "gru"), max_layers=3):
    kind = draw(st.sampled_from(kinds))
    H = draw(st.integers(1, 7))
    proj = draw(st.integers(1, H - 1)) if kind == "lstm" and H > 1 and draw(st.booleans()) else 0
    return dict(
        kind=kind, I=draw(st.integers(1, 7)), H=H, proj_size=proj,
        num_layers=draw(st.integers(1, max_layers)), bidirectional=draw(st.booleans()),
        nonlinearity=draw(st.sampled_from(["tanh", "relu"])) if kind == "rnn" else "tanh",
        bias=draw(st.booleans() | st.just(True)), batch_first=draw(st.booleans()),
        L=draw(st.integers(1, 6)), N=draw(st.integers(1, 4)), with_hx=draw(st.booleans() | st.just(True)),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


def torch_layer(c: dict, rng) -> torch.nn.Module:
    kw = dict(num_layers=c["num_layers"], bias=c["bias"], batch_first=c["batch_first"],
              bidirectional=c["bidirectional"], dtype=torch.float64)
    if c["kind"] == "rnn":
        kw["nonlinearity"] = c["nonlinearity"]
    if c["proj_size"]:
        kw["proj_size"] = c["proj_size"]
    layer = CLS[c["kind"]](c["I"], c["H"], **kw)
    with torch.no_grad():
        for prm in layer.parameters():
            prm.copy_(torch.from_numpy(0.5 * rng.standard_normal(tuple(prm.shape))))
    return layer


def initial_state(c: dict, rng):
    D = 2 if c["bidirectional"] else 1
    h0 = rng.standard_normal((D * c["num_layers"], c["N"], c["proj_size"] or c["H"]))
    if c["kind"] == "lstm":
        return h0, rng.standard_normal((D * c["num_layers"], c["N"], c["H"]))
    return h0


def to_torch(hx):
    if hx is None:
        return None
    return tuple(map(torch.from_numpy, hx)) if isinstance(hx, tuple) else torch.from_numpy(hx)


def oracle(c: dict, layer, x, hx, lengths=None):
    return forward(c["kind"], layer.state_dict(), x, hx, num_layers=c["num_layers"],
                   bidirectional=c["bidirectional"], proj_size=c["proj_size"], nonlinearity=c["nonlinearity"],
                   batch_first=c["batch_first"], lengths=lengths, bias=c["bias"])


def close_state(c: dict, ours, theirs) -> None:
    if c["kind"] == "lstm":
        assert isinstance(ours, tuple) and len(ours) == 2
        close(ours[0], theirs[0], "h_n")
        close(ours[1], theirs[1], "c_n")
    else:
        close(ours, theirs, "h_n")


def make_input(c: dict, rng) -> np.ndarray:
    shape = (c["N"], c["L"], c["I"]) if c["batch_first"] else (c["L"], c["N"], c["I"])
    return rng.standard_normal(shape)


@settings(max_examples=EXAMPLES)
@given(configs())
def test_forward_equals_torch(c):
    rng = np.random.default_rng(c["seed"])
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    hx = initial_state(c, rng) if c["with_hx"] else None
    with torch.no_grad():
        t_out, t_state = layer(torch.from_numpy(x), to_torch(hx))
    out, state = oracle(c, layer, x, hx)
    close(out, t_out, "output")
    close_state(c, state, t_state)


@settings(max_examples=EXAMPLES)
@given(configs(), st.data())
def test_packed_forward_equals_torch(c, data):
    """lengths ↔ pack_padded_sequence(enforce_sorted=False) → layer → pad_packed_sequence."""
    rng = np.random.default_rng(c["seed"])
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    hx = initial_state(c, rng) if c["with_hx"] else None
    lengths = np.array(data.draw(st.lists(st.integers(1, c["L"]), min_size=c["N"], max_size=c["N"])))
    full_length = data.draw(st.booleans())
    with torch.no_grad():
        packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths), c["batch_first"],
                                      enforce_sorted=False)
        t_packed, t_state = layer(packed, to_torch(hx))
        t_out, t_lengths = pad_packed_sequence(t_packed, c["batch_first"],
                                               total_length=c["L"] if full_length else None)
    assert t_lengths.tolist() == lengths.tolist()
    out, state = oracle(c, layer, x, hx, lengths=lengths)
    T = c["L"] if full_length else int(lengths.max())
    kept = out[:, :T] if c["batch_first"] else out[:T]
    dropped = out[:, T:] if c["batch_first"] else out[T:]
    close(kept, t_out, "output")
    assert not dropped.any(), "output beyond every sequence's length must be 0"
    close_state(c, state, t_state)


@settings(max_examples=EXAMPLES)
@given(configs(max_layers=1), st.data())
def test_layer_forward_equals_torch_direction(c, data):
    """layer_forward with one direction's weights equals that direction of a one-layer torch layer."""
    c = dict(c, batch_first=False)
    rng = np.random.default_rng(c["seed"])
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    hx = initial_state(c, rng)
    lengths = (np.array(data.draw(st.lists(st.integers(1, c["L"]), min_size=c["N"], max_size=c["N"])))
               if data.draw(st.booleans()) else None)
    with torch.no_grad():
        if lengths is None:
            t_out, t_state = layer(torch.from_numpy(x), to_torch(hx))
        else:
            packed = pack_padded_sequence(torch.from_numpy(x), torch.from_numpy(lengths), enforce_sorted=False)
            t_packed, t_state = layer(packed, to_torch(hx))
            t_out, _ = pad_packed_sequence(t_packed, total_length=c["L"])
    t_h = t_state[0] if c["kind"] == "lstm" else t_state
    sd = layer.state_dict()
    H_out = c["proj_size"] or c["H"]
    for d in range(2 if c["bidirectional"] else 1):
        sfx = "_l0" + ("_reverse" if d else "")
        p = {"w_ih": sd["weight_ih" + sfx].numpy(), "w_hh": sd["weight_hh" + sfx].numpy(),
             "b_ih": sd["bias_ih" + sfx].numpy() if c["bias"] else None,
             "b_hh": sd["bias_hh" + sfx].numpy() if c["bias"] else None,
             "w_hr": sd["weight_hr" + sfx].numpy() if c["proj_size"] else None}
        h0 = (hx[0] if isinstance(hx, tuple) else hx)[d]
        c0 = hx[1][d] if isinstance(hx, tuple) else None
        out, h_n, c_n = layer_forward(c["kind"], x, h0, c0, p, reverse=bool(d), lengths=lengths,
                                      nonlinearity=c["nonlinearity"])
        close(out, t_out[..., d * H_out:(d + 1) * H_out], f"direction {d} output")
        close(h_n, t_h[d], f"direction {d} h_n")
        if c["kind"] == "lstm":
            close(c_n, t_state[1][d], f"direction {d} c_n")
        else:
            assert c_n is None


@settings(max_examples=EXAMPLES)
@given(configs(max_layers=1))
def test_cell_step_equals_torch_and_names_its_gates(c):
    """One step against a one-step torch layer; each named gate pinned down by torch.

    Pre-activations against torch's own F.linear over the documented row blocks; gate values against
    torch's outputs: LSTM f = ∂c'/∂c (autograd), i⊙g = c' at c = 0, c' = f⊙c + i⊙g, o⊙tanh(c') = the
    unprojected h'; GRU h' = (1-z)⊙n + z⊙h and n's argument W_in x + b_in + r⊙hn; RNN h' = act(pre).
    """
    c = dict(c, L=1, batch_first=False, bidirectional=False, with_hx=True)
    rng = np.random.default_rng(c["seed"])
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    hx = initial_state(c, rng)
    sd = layer.state_dict()
    p = {"w_ih": sd["weight_ih_l0"], "w_hh": sd["weight_hh_l0"],
         "b_ih": sd["bias_ih_l0"] if c["bias"] else None, "b_hh": sd["bias_hh_l0"] if c["bias"] else None,
         "w_hr": sd["weight_hr_l0"] if c["proj_size"] else None}
    h = (hx[0] if isinstance(hx, tuple) else hx)[0]
    c_prev = hx[1][0] if isinstance(hx, tuple) else None
    h_new, c_new, gates, pre = cell_step(c["kind"], x[0], h, c_prev, p, c["nonlinearity"])
    with torch.no_grad():
        t_out, t_state = layer(torch.from_numpy(x), to_torch(hx))
    close(h_new, t_out[0], "h'")

    # pre-activations from torch, per documented block (W_i·|…) of weight_ih / weight_hh
    G = {"rnn": 1, "lstm": 4, "gru": 3}[c["kind"]]
    tx, th = torch.from_numpy(x[0]), torch.from_numpy(h)
    gi = torch.nn.functional.linear(tx, p["w_ih"], p["b_ih"]).chunk(G, dim=1)
    gh = torch.nn.functional.linear(th, p["w_hh"], p["b_hh"]).chunk(G, dim=1)
    names = {"rnn": "h", "lstm": "ifgo", "gru": "rz"}[c["kind"]]
    for k, name in enumerate(names):
        close(pre[name], gi[k] + gh[k], f"pre {name}")
    if c["kind"] == "rnn":
        assert gates == {} and set(pre) == {"h"}
        act = torch.tanh if c["nonlinearity"] == "tanh" else torch.relu
        close(h_new, act(gi[0] + gh[0]), "h' = act(pre h)")
        return

    if c["kind"] == "gru":
        assert set(gates) == {"r", "z", "n"} and set(pre) == {"r", "z", "n", "hn"}
        close(pre["hn"], gh[2], "pre hn")
        close(pre["n"], gi[2] + torch.from_numpy(gates["r"]) * gh[2], "pre n")
        for name, act in (("r", torch.sigmoid), ("z", torch.sigmoid), ("n", torch.tanh)):
            close(gates[name], act(torch.from_numpy(pre[name])), f"gate {name}")
        close((1 - gates["z"]) * gates["n"] + gates["z"] * h, t_out[0], "h' = (1-z)n + z h")
        assert c_new is None
        return

    assert set(gates) == set("ifgo") and set(pre) == set("ifgo")
    for name, act in (("i", torch.sigmoid), ("f", torch.sigmoid), ("g", torch.tanh), ("o", torch.sigmoid)):
        close(gates[name], act(torch.from_numpy(pre[name])), f"gate {name}")
    close(c_new, t_state[1][0], "c'")
    close(gates["f"] * c_prev + gates["i"] * gates["g"], t_state[1][0], "c' = f c + i g")
    t_h0, t_c0 = (torch.from_numpy(a).clone() for a in hx)
    t_c0.requires_grad_(True)
    _, (_, t_c1) = layer(torch.from_numpy(x), (t_h0, t_c0))
    (dc,) = torch.autograd.grad(t_c1.sum(), t_c0)  # c' depends on c only through f ⊙ c
    close(gates["f"], dc[0], "f = ∂c'/∂c")
    with torch.no_grad():
        _, (_, t_c_from_zero) = layer(torch.from_numpy(x), (t_h0, torch.zeros_like(t_c0)))
    close(gates["i"] * gates["g"], t_c_from_zero[0], "i g = c' at c = 0")
    if c["proj_size"]:
        close(h_new, (gates["o"] * np.tanh(c_new)) @ p["w_hr"].numpy().T, "h' = W_hr (o tanh c')")
    else:
        close(gates["o"] * np.tanh(c_new), t_out[0], "h' = o tanh c'")


@settings(max_examples=max(1, EXAMPLES // 3))
@given(configs())
def test_comparison_detects_small_errors(c):
    """The 1e-12 comparison is not vacuous: a 1e-6 change to one weight of the last layer is caught."""
    rng = np.random.default_rng(c["seed"])
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    hx = initial_state(c, rng)
    with torch.no_grad():
        t_out, _ = layer(torch.from_numpy(x), to_torch(hx))
    sd = {k: v.clone() for k, v in layer.state_dict().items()}
    name = f"weight_ih_l{c['num_layers'] - 1}"
    sd[name][0, 0] += 1e-6  # first row block: every kind's first gate
    out, _ = forward(c["kind"], sd, x, hx, num_layers=c["num_layers"], bidirectional=c["bidirectional"],
                     proj_size=c["proj_size"], nonlinearity=c["nonlinearity"], batch_first=c["batch_first"],
                     bias=c["bias"])
    if c["nonlinearity"] == "relu" and np.array_equal(out, oracle(c, layer, x, hx)[0]):
        return  # the changed unit is inactive (relu'(a) = 0) everywhere: the change has no effect
    with pytest.raises(AssertionError):
        close(out, t_out, "perturbed")


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_swapped_gate_blocks_are_detected(kind):
    """Gate order matters: swapping two row blocks of weight_ih makes the oracle disagree with torch."""
    c = dict(kind=kind, I=3, H=5, proj_size=0, num_layers=1, bidirectional=False, nonlinearity="tanh", bias=True,
             batch_first=False, L=4, N=2, seed=0)
    rng = np.random.default_rng(0)
    layer = torch_layer(c, rng)
    x = make_input(c, rng)
    with torch.no_grad():
        t_out, _ = layer(torch.from_numpy(x))
    close(oracle(c, layer, x, None)[0], t_out, "unswapped")
    sd = {k: v.clone() for k, v in layer.state_dict().items()}
    H = c["H"]
    w = sd["weight_ih_l0"]
    w[:H], w[H:2 * H] = w[H:2 * H].clone(), w[:H].clone()
    out, _ = forward(kind, sd, x)
    with pytest.raises(AssertionError):
        close(out, t_out, "swapped")


def test_state_dict_keys_must_match_configuration():
    c = dict(kind="lstm", I=3, H=5, proj_size=2, num_layers=2, bidirectional=True, nonlinearity="tanh", bias=True,
             batch_first=False, L=3, N=2, seed=0)
    layer = torch_layer(c, np.random.default_rng(0))
    x = np.zeros((3, 2, 3))
    with pytest.raises((AssertionError, KeyError)):  # projection weights not used
        forward("lstm", layer.state_dict(), x, num_layers=2, bidirectional=True, proj_size=0)
    with pytest.raises((AssertionError, KeyError)):  # reverse direction not used
        forward("lstm", layer.state_dict(), x, num_layers=2, bidirectional=False, proj_size=2)
    with pytest.raises((AssertionError, KeyError)):  # second layer not used
        forward("lstm", layer.state_dict(), x, num_layers=1, bidirectional=True, proj_size=2)


# The kernels against the oracle: every gate and pre-activation steprnn records, step by step.

@st.composite
def kernel_setups(draw):
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


@settings(max_examples=max(1, 2 * EXAMPLES // 3))
@given(kernel_setups())
def test_kernels_record_what_the_oracle_computes(s):
    from helpers import twin_layers

    import steprnn as sr

    _, layer = twin_layers(s["kind"], s["I"], s["H"], np.float64, seed=s["seed"], num_layers=s["layers"],
                           bidirectional=s["bidirectional"], **s["extra"])
    rng = np.random.default_rng(s["seed"] + 1)
    x = rng.standard_normal((s["L"], s["N"], s["I"]))
    D = 2 if s["bidirectional"] else 1
    h0 = rng.standard_normal((s["layers"] * D, s["N"], s["extra"].get("proj_size") or s["H"]))
    hx = (h0, rng.standard_normal((s["layers"] * D, s["N"], s["H"]))) if s["kind"] == "lstm" else h0
    tr = sr.trace(layer, x, hx)
    assert tr.num_directions == D
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
                    np.testing.assert_allclose(tr.gate(g, l, d)[t], v, rtol=0, atol=TOL, err_msg=f"gate {g} t={t}")
                for g, v in pre.items():
                    np.testing.assert_allclose(tr.preactivation(g, l, d)[t], v, rtol=0, atol=TOL,
                                               err_msg=f"pre {g} t={t}")
                np.testing.assert_allclose(tr.h(l, d)[t], h, rtol=0, atol=TOL, err_msg=f"h t={t}")
                if c is not None:
                    np.testing.assert_allclose(tr.c(l, d)[t], c, rtol=0, atol=TOL, err_msg=f"c t={t}")

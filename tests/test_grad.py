"""Gradients of the recurrent layers: torch autograd's, float64 within 1e-8, and finite differences."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn as nn
from steprnn.nn.utils.rnn import pack_padded_sequence as sr_pack
from helpers import draw_kind, twin_layers

TOL = 1e-8


@st.composite
def configs(draw):
    kind, H, extra = draw_kind(draw)
    return dict(kind=kind, I=draw(st.integers(1, 5)), H=H, num_layers=draw(st.integers(1, 3)),
                bidirectional=draw(st.booleans()), batch_first=draw(st.booleans()), bias=draw(st.booleans()),
                with_hx=draw(st.booleans()), form=draw(st.sampled_from(["padded", "packed", "unbatched"])),
                L=draw(st.integers(1, 6)), N=draw(st.integers(1, 4)), seed=draw(st.integers(0, 10_000)),
                extra=extra, lengths_seed=draw(st.integers(0, 1000)))


def _grads_equal(a, b, what):
    assert (a is None) == (b is None), f"{what}: one side has no gradient"
    if a is not None:
        np.testing.assert_allclose(np.asarray(a.numpy()), b.numpy(), rtol=0, atol=TOL, err_msg=what)


@given(configs())
def test_layer_gradients_match_torch(cfg):
    t_layer, s_layer = twin_layers(cfg["kind"], cfg["I"], cfg["H"], np.float64, seed=cfg["seed"],
                                   num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"],
                                   batch_first=cfg["batch_first"], bias=cfg["bias"], **cfg["extra"])
    rng = np.random.default_rng(cfg["seed"])
    L, N, I = cfg["L"], cfg["N"], cfg["I"]
    unbatched = cfg["form"] == "unbatched"
    shape = (L, I) if unbatched else ((N, L, I) if cfg["batch_first"] else (L, N, I))
    x = rng.standard_normal(shape)
    D = 2 if cfg["bidirectional"] else 1
    H_out = cfg["extra"].get("proj_size") or cfg["H"]
    lead = (cfg["num_layers"] * D,) + (() if unbatched else (N,))
    hx_np = None
    if cfg["with_hx"]:
        hx_np = [rng.standard_normal(lead + (H_out,))]
        if cfg["kind"] == "lstm":
            hx_np.append(rng.standard_normal(lead + (cfg["H"],)))
    xs, xt = sr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    hs = [sr.tensor(a, requires_grad=True) for a in hx_np] if hx_np else None
    ht = [torch.tensor(a, requires_grad=True) for a in hx_np] if hx_np else None
    s_in, t_in = xs, xt
    if cfg["form"] == "packed":
        lengths = np.random.default_rng(cfg["lengths_seed"]).integers(1, L + 1, size=N).tolist()
        s_in = sr_pack(xs, lengths, batch_first=cfg["batch_first"], enforce_sorted=False)
        t_in = torch.nn.utils.rnn.pack_padded_sequence(xt, torch.tensor(lengths), batch_first=cfg["batch_first"],
                                                       enforce_sorted=False)
    s_hx = None if hs is None else (tuple(hs) if cfg["kind"] == "lstm" else hs[0])
    t_hx = None if ht is None else (tuple(ht) if cfg["kind"] == "lstm" else ht[0])
    s_out, s_state = s_layer(s_in, s_hx)
    t_out, t_state = t_layer(t_in, t_hx)
    weights = rng.standard_normal(tuple(t_state[0].shape if cfg["kind"] == "lstm" else t_state.shape))
    w_out = rng.standard_normal(tuple((t_out.data if cfg["form"] == "packed" else t_out).shape))

    def loss(out, state, lib):
        o = out.data if cfg["form"] == "packed" else out
        total = (o * lib.tensor(w_out)).sum()
        if cfg["kind"] == "lstm":
            return total + (state[0] * lib.tensor(weights)).sum() + (state[1] ** 2).sum()
        return total + (state * lib.tensor(weights)).sum()

    loss(s_out, s_state, sr).backward()
    loss(t_out, t_state, torch).backward()
    _grads_equal(xs.grad, xt.grad, "input")
    for i, (a, b) in enumerate(zip(hs or [], ht or [])):
        _grads_equal(a.grad, b.grad, f"hx[{i}]")
    for (name, p), (_, q) in zip(s_layer.named_parameters(), t_layer.named_parameters()):
        _grads_equal(p.grad, q.grad, name)


@pytest.mark.parametrize("kind", ["rnncell", "lstmcell", "grucell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_gradients_match_torch(kind, batched):
    t_cell, s_cell = twin_layers(kind, 3, 5, np.float64, seed=1)
    rng = np.random.default_rng(0)
    lead = (4,) if batched else ()
    x, h, c = rng.standard_normal(lead + (3,)), rng.standard_normal(lead + (5,)), rng.standard_normal(lead + (5,))
    xs, hs, cs = (sr.tensor(a, requires_grad=True) for a in (x, h, c))
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    if kind == "lstmcell":
        a, b = s_cell(xs, (hs, cs))
        ta, tb = t_cell(xt, (ht, ct))
        ((a * a).sum() + (b ** 3).sum()).backward()
        ((ta * ta).sum() + (tb ** 3).sum()).backward()
        _grads_equal(cs.grad, ct.grad, "c")
    else:
        (s_cell(xs, hs) ** 2).sum().backward()
        (t_cell(xt, ht) ** 2).sum().backward()
    _grads_equal(xs.grad, xt.grad, "x")
    _grads_equal(hs.grad, ht.grad, "h")
    for (name, p), (_, q) in zip(s_cell.named_parameters(), t_cell.named_parameters()):
        _grads_equal(p.grad, q.grad, name)


def _numeric_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    it = np.nditer(a, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = a[i]
        a[i] = old + eps
        up = f()
        a[i] = old - eps
        down = f()
        a[i] = old
        g[i] = (up - down) / (2 * eps)
    return g


@pytest.mark.parametrize("kind,extra", [("RNN", {}), ("RNN", {"nonlinearity": "relu"}), ("LSTM", {}),
                                        ("LSTM", {"proj_size": 2}), ("GRU", {})])
def test_bptt_kernels_against_finite_differences(kind, extra):
    """Central differences through the whole stacked, bidirectional layer, dropout included."""
    sr.manual_seed(0)
    layer = getattr(nn, kind)(3, 4, num_layers=2, bidirectional=True, dropout=0.3, dtype=np.float64, **extra)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 2, 3))
    w = rng.standard_normal((5, 2, layer.num_directions * (extra.get("proj_size") or 4)))

    def value():
        sr.manual_seed(7)  # the same dropout masks on every evaluation
        with sr.no_grad():
            out, _ = layer(x)
        return float((np.asarray(out) * w).sum())

    sr.manual_seed(7)
    xs = sr.tensor(x, requires_grad=True)
    out, _ = layer(xs)
    (out * sr.tensor(w)).sum().backward()
    np.testing.assert_allclose(xs.grad.numpy(), _numeric_grad(value, x), atol=1e-7)
    for name in ("weight_hh_l0", "weight_ih_l1_reverse", "bias_hh_l1"):
        p = getattr(layer, name)
        np.testing.assert_allclose(p.grad.numpy(), _numeric_grad(value, p.detach().numpy()), atol=1e-7, err_msg=name)


def test_no_graph_under_no_grad_and_gradients_accumulate():
    layer = nn.GRU(2, 3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((4, 1, 2))
    with sr.no_grad():
        out, h = layer(x)
    assert out.grad_fn is None and not out.requires_grad
    out, h = layer(x)
    assert out.grad_fn is not None
    h.sum().backward()
    first = layer.weight_hh_l0.grad.numpy().copy()
    out, h = layer(x)
    h.sum().backward()
    np.testing.assert_allclose(layer.weight_hh_l0.grad.numpy(), 2 * first, atol=1e-14)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("reverse", [False, True])
def test_recorded_gradient_flow_equals_an_unrolled_torch_loop(kind, reverse):
    """trace.grad_h(t) is the total dL/dh_t; check it against torch cells unrolled by hand."""
    layer = getattr(nn, kind)(3, 4, bidirectional=reverse, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((7, 2, 3))
    w = rng.standard_normal((7, 2, 4 * layer.num_directions))
    tr = sr.trace(layer, x)
    (tr.output * sr.tensor(w)).sum().backward()
    d = 1 if reverse else 0
    cell = getattr(torch.nn, kind + "Cell")(3, 4, dtype=torch.float64)
    sfx = "_reverse" if reverse else ""
    cell.load_state_dict({n: torch.from_numpy(layer.state_dict()[f"{n}_l0{sfx}"]) for n in cell.state_dict()})
    h = torch.zeros(2, 4, dtype=torch.float64)
    c = torch.zeros(2, 4, dtype=torch.float64)
    hs, cs, loss = {}, {}, 0
    for t in (range(6, -1, -1) if reverse else range(7)):
        if kind == "LSTM":
            h, c = cell(torch.from_numpy(x[t]), (h, c))
            c.retain_grad()
            cs[t] = c
        else:
            h = cell(torch.from_numpy(x[t]), h)
        h.retain_grad()
        hs[t] = h
        loss = loss + (h * torch.from_numpy(w[t, :, d * 4:(d + 1) * 4])).sum()
    loss.backward()
    g = tr.grad_h(0, d)
    for t in range(7):
        np.testing.assert_allclose(g[t], hs[t].grad.numpy(), atol=1e-12, err_msg=f"dL/dh_{t}")
        if kind == "LSTM":
            np.testing.assert_allclose(tr.grad_c(0, d)[t], cs[t].grad.numpy(), atol=1e-12, err_msg=f"dL/dc_{t}")
    norms = tr.gradient_norms(0, d)
    np.testing.assert_allclose(norms, np.sqrt((g ** 2).sum(axis=(1, 2))), rtol=1e-12)


def test_gradient_flow_needs_a_backward():
    tr = sr.trace(nn.LSTM(2, 3), np.zeros((4, 1, 2), np.float32))
    with pytest.raises(RuntimeError, match="call loss.backward"):
        tr.grad_h()
    with pytest.raises(ValueError, match="only an LSTM"):
        sr.trace(nn.GRU(2, 3), np.zeros((4, 1, 2), np.float32)).grad_c()


@st.composite
def _ownership_cases(draw):
    kind, H, extra = draw_kind(draw)
    # I = 200 at float64 puts every kind past weight_grads.takes (OpenBLAS products, joint views)
    return dict(kind=kind, H=H, extra=extra, I=draw(st.sampled_from([3, 200])),
                num_layers=draw(st.integers(1, 2)), bidirectional=draw(st.booleans()),
                form=draw(st.sampled_from(["padded", "packed", "unbatched"])), with_hx=draw(st.booleans()),
                cell=draw(st.booleans()), seed=draw(st.integers(0, 1000)))


@given(_ownership_cases())
def test_first_gradients_are_owned_and_independent(case):
    """A leaf keeps the BPTT node's new gradient array as its first .grad (no copy), so no two
    .grad arrays may share memory, nor share it with what the forward returned or a trace holds;
    changing one .grad in place (clipping, zeroing) leaves every other as torch computes it."""
    kind, H, I = case["kind"], case["H"], case["I"]
    rng = np.random.default_rng(case["seed"])
    if case["cell"]:
        t_mod, s_mod = twin_layers(kind + "cell", I, H, np.float64, seed=case["seed"],
                                   **({"nonlinearity": case["extra"]["nonlinearity"]} if kind == "rnn" else {}))
        x = rng.standard_normal((2, I))
        states = [rng.standard_normal((2, H)) for _ in range(2 if kind == "lstm" else 1)]
    else:
        t_mod, s_mod = twin_layers(kind, I, H, np.float64, seed=case["seed"], num_layers=case["num_layers"],
                                   bidirectional=case["bidirectional"], **case["extra"])
        unbatched = case["form"] == "unbatched"
        x = rng.standard_normal((4, I) if unbatched else (4, 3, I))
        D = 2 if case["bidirectional"] else 1
        lead = (case["num_layers"] * D,) + (() if unbatched else (3,))
        H_out = case["extra"].get("proj_size") or H
        states = [rng.standard_normal(lead + (H_out,))] + ([rng.standard_normal(lead + (H,))] if kind == "lstm" else [])
        states = states if case["with_hx"] else []
    leaves_s = [sr.tensor(a, requires_grad=True) for a in [x, *states]]
    leaves_t = [torch.tensor(a, requires_grad=True) for a in [x, *states]]

    def run(mod, leaves, lib):
        inp = leaves[0]
        if not case["cell"] and case["form"] == "packed":
            pack = sr_pack if lib is sr else torch.nn.utils.rnn.pack_padded_sequence
            inp = pack(inp, [4, 2, 3], enforce_sorted=False)
        hx = None if len(leaves) == 1 else (tuple(leaves[1:]) if kind == "lstm" else leaves[1])
        result = mod(inp, hx)
        outs = list(result) if isinstance(result, tuple) else [result]
        flat = []
        for o in outs:
            for part in (o if isinstance(o, tuple) else (o,)):
                flat.append(part.data if type(part).__name__ == "PackedSequence" else part)
        return sum(((p * lib.tensor(np.full(tuple(p.shape), 0.5 + k))) ** 2).sum() for k, p in enumerate(flat)), flat

    loss_s, outs_s = run(s_mod, leaves_s, sr)
    loss_t, _ = run(t_mod, leaves_t, torch)
    loss_s.backward()
    loss_t.backward()
    ours = [t.grad for t in leaves_s] + [p.grad for p in s_mod.parameters()]
    theirs = [t.grad for t in leaves_t] + [p.grad for p in t_mod.parameters()]
    arrays = [g.numpy() for g in ours]
    for i, a in enumerate(arrays):
        for b in arrays[i + 1:]:
            assert not np.shares_memory(a, b)
        for o in outs_s:
            assert not np.shares_memory(a, o.detach().numpy())
        for p in s_mod.parameters():
            assert not np.shares_memory(a, p.detach().numpy())
    for k in range(len(ours)):
        before = [g.numpy().copy() for g in ours]
        ours[k].mul_(0.0)  # as clip_grad_norm_ and zero_grad(set_to_none=False) change a .grad in place
        for j, (g, t) in enumerate(zip(ours, theirs)):
            expect = np.zeros_like(before[j]) if j <= k else t.numpy()
            np.testing.assert_allclose(g.numpy(), expect, rtol=0, atol=TOL, err_msg=f"grad {j} after zeroing {k}")

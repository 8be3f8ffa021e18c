"""The tracer (SPEC "Tracer"): ``sr.trace``, ``sr.tracing``, ``Trace``, ``Step``, ``.npz`` files, the memory guard.

Every check reads the trace's own recorded arrays and holds them to an independent standard: the
cell's equations recomputed in float64 from the stored weights and inputs, PyTorch's outputs, the
untraced forward bit for bit, or the file it was saved to.
"""
from __future__ import annotations

import itertools
import json
import math
import re
import zipfile

import numpy as np
import pytest
import torch
import torch.nn.utils.rnn as trnn
from helpers import TOL, twin_layers
from hypothesis import given, settings
from hypothesis import strategies as st

import steprnn as sr
import steprnn.nn.cell as sr_cell_module
import steprnn.nn.rnn as sr_rnn_module
from steprnn import nn
from steprnn.nn.utils.rnn import PackedSequence, pack_padded_sequence
from steprnn.trace import TraceMemoryError, set_memory_limit

DTYPES = [np.float32, np.float64]
GATES = {"rnn": (), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}
PER_STEP = (".gates", ".pre", ".c", ".h", ".x")


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------

def arr(v):
    """A Tensor / ndarray / torch tensor as an ndarray (no grad bookkeeping)."""
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    if isinstance(v, sr.Tensor):
        return np.asarray(v.data)
    return np.asarray(v)


def bits_equal(a, b, what="value"):
    """Same type of result, dtype, shape and bytes (NaN payloads included); PackedSequences and tuples field by field."""
    if a is None or b is None:
        assert a is None and b is None, f"{what}: {a!r} vs {b!r}"
        return
    if isinstance(a, PackedSequence) or isinstance(b, PackedSequence):
        assert isinstance(a, PackedSequence) and isinstance(b, PackedSequence), f"{what}: {type(a)} vs {type(b)}"
        for part in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
            bits_equal(getattr(a, part), getattr(b, part), f"{what}.{part}")
        return
    if isinstance(a, tuple) or isinstance(b, tuple):
        assert isinstance(a, tuple) and isinstance(b, tuple) and len(a) == len(b), f"{what}: {type(a)} vs {type(b)}"
        for k, (x, y) in enumerate(zip(a, b)):
            bits_equal(x, y, f"{what}[{k}]")
        return
    assert type(a) is type(b), f"{what}: {type(a).__name__} vs {type(b).__name__}"
    x, y = arr(a), arr(b)
    assert x.dtype == y.dtype, f"{what}: dtype {x.dtype} vs {y.dtype}"
    assert x.shape == y.shape, f"{what}: shape {x.shape} vs {y.shape}"
    assert np.ascontiguousarray(x).tobytes() == np.ascontiguousarray(y).tobytes(), f"{what}: values differ"


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def fmt(v: float) -> str:
    """A value as Step prints it: 3 decimals (either minus sign accepted by ``has_num``)."""
    return f"{float(v):.3f}"


def has_num(text: str, v: float) -> bool:
    s = fmt(v)
    return s in text or s.replace("-", "\u2212") in text


def layer_setup(kind, I, H, dtype, seed, *, num_layers=1, bidirectional=False, proj_size=0, bias=True,
                batch_first=False, nonlinearity="tanh"):
    """(torch layer, steprnn layer) with identical, non-zero weights and biases."""
    kw = {"num_layers": num_layers, "bidirectional": bidirectional, "bias": bias, "batch_first": batch_first}
    if proj_size:
        kw["proj_size"] = proj_size
    if kind == "rnn":
        kw["nonlinearity"] = nonlinearity
    return twin_layers(kind, I, H, dtype, seed=seed, **kw)


def unequal_lengths(rng, L, N):
    """N lengths in 1..L, max equal to L, not sorted, not all equal when N > 1 and L > 1."""
    lengths = rng.integers(1, L + 1, size=N)
    lengths[rng.integers(N)] = L
    if N > 1 and L > 1 and len(set(lengths.tolist())) == 1:
        lengths[(int(np.argmax(lengths)) + 1) % N] = 1
    return [int(n) for n in lengths]


def make_input(rng, form, L, N, I, dtype, lengths=None):
    """(steprnn input, torch input, time-major padded x (L, N, I), lengths or None) for one input form."""
    x = rng.standard_normal((L, N, I)).astype(dtype)
    if form == "time_major":
        return x, torch.from_numpy(x.copy()), x, None
    if form == "batch_first":
        xb = np.ascontiguousarray(x.transpose(1, 0, 2))
        return xb, torch.from_numpy(xb.copy()), x, None
    if form == "unbatched":
        assert N == 1
        return x[:, 0], torch.from_numpy(x[:, 0].copy()), x, None
    assert form == "packed"
    lengths = unequal_lengths(rng, L, N) if lengths is None else lengths
    for n, length in enumerate(lengths):
        x[length:, n] = 0  # padding (torch ignores it; so must we)
    ours = pack_padded_sequence(sr.tensor(x), lengths, enforce_sorted=False)
    theirs = trnn.pack_padded_sequence(torch.from_numpy(x.copy()), torch.tensor(lengths), enforce_sorted=False)
    return ours, theirs, x, lengths


def make_hx(rng, kind, LD, N, H, H_out, dtype, unbatched=False):
    """Random non-zero initial state(s) in the layer's layout."""
    lead = (LD,) if unbatched else (LD, N)
    h0 = rng.standard_normal(lead + (H_out,)).astype(dtype)
    if kind == "lstm":
        return (h0, rng.standard_normal(lead + (H,)).astype(dtype))
    return h0


def torch_hx(hx):
    if hx is None:
        return None
    if isinstance(hx, tuple):
        return tuple(torch.from_numpy(h.copy()) for h in hx)
    return torch.from_numpy(hx.copy())


def state_in_input_order(hx, k, unbatched):
    """(h0, c0) of layer*direction ``k`` as (N, ·) arrays, or (None, None)."""
    if hx is None:
        return None, None
    if isinstance(hx, tuple):
        h, c = hx[0][k], hx[1][k]
    else:
        h, c = hx[k], None
    if unbatched:
        h = h[None]
        c = None if c is None else c[None]
    return h, c


# --------------------------------------------------------------------------------------------------
# 1. the cell's equations hold on the recorded arrays
# --------------------------------------------------------------------------------------------------

def check_equations(tr, atol):
    """Recompute every recorded step in float64 from the trace's own weights, inputs and previous states."""
    kind, D = tr.kind, tr.num_directions
    H = tr.hidden_size
    A = tr.arrays
    lengths = tr.lengths
    for layer in tr.layers:
        for d in range(D):
            k = f"l{layer}d{d}."
            w_ih, w_hh = A[k + "w_ih"].astype(np.float64), A[k + "w_hh"].astype(np.float64)
            G = w_ih.shape[0]
            b_ih = A[k + "b_ih"].astype(np.float64) if k + "b_ih" in A else np.zeros(G)
            b_hh = A[k + "b_hh"].astype(np.float64) if k + "b_hh" in A else np.zeros(G)
            w_hr = A[k + "w_hr"].astype(np.float64) if k + "w_hr" in A else None
            xs, hs, h0 = A[k + "x"], tr.h(layer, d), A[k + "h0"]
            cs = tr.c(layer, d) if kind == "lstm" else None
            c0 = A[k + "c0"] if kind == "lstm" else None
            for n, length in enumerate(lengths):
                steps = range(length - 1, -1, -1) if d else range(length)
                for t in steps:
                    first = t == (length - 1 if d else 0)
                    prev = t + 1 if d else t - 1
                    h_prev = (h0[n] if first else hs[prev, n]).astype(np.float64)
                    x_t = xs[t, n].astype(np.float64)
                    a_i = w_ih @ x_t + b_ih
                    a_h = w_hh @ h_prev + b_hh
                    where = f"layer {layer} direction {d} batch {n} t {t}"
                    got_h = hs[t, n].astype(np.float64)
                    if kind == "rnn":
                        pre = a_i + a_h
                        np.testing.assert_allclose(tr.preactivation("h", layer, d)[t, n], pre, rtol=0, atol=atol,
                                                   err_msg=f"pre h, {where}")
                        act = np.tanh(pre) if tr.meta["nonlinearity"] == "tanh" else np.maximum(pre, 0.0)
                        np.testing.assert_allclose(got_h, act, rtol=0, atol=atol, err_msg=f"h, {where}")
                    elif kind == "lstm":
                        pre = a_i + a_h
                        want = {"i": sigmoid(pre[0:H]), "f": sigmoid(pre[H:2 * H]),
                                "g": np.tanh(pre[2 * H:3 * H]), "o": sigmoid(pre[3 * H:4 * H])}
                        for j, g in enumerate("ifgo"):
                            np.testing.assert_allclose(tr.preactivation(g, layer, d)[t, n], pre[j * H:(j + 1) * H],
                                                       rtol=0, atol=atol, err_msg=f"pre {g}, {where}")
                            np.testing.assert_allclose(tr.gate(g, layer, d)[t, n], want[g], rtol=0, atol=atol,
                                                       err_msg=f"gate {g}, {where}")
                        i, f, g, o = (tr.gate(name, layer, d)[t, n].astype(np.float64) for name in "ifgo")
                        c_prev = (c0[n] if first else cs[prev, n]).astype(np.float64)
                        c_t = cs[t, n].astype(np.float64)
                        np.testing.assert_allclose(c_t, f * c_prev + i * g, rtol=0, atol=atol, err_msg=f"c, {where}")
                        m = o * np.tanh(c_t)
                        want_h = m if w_hr is None else w_hr @ m
                        np.testing.assert_allclose(got_h, want_h, rtol=0, atol=atol, err_msg=f"h, {where}")
                    else:
                        r = sigmoid(a_i[0:H] + a_h[0:H])
                        z = sigmoid(a_i[H:2 * H] + a_h[H:2 * H])
                        hn = a_h[2 * H:3 * H]
                        pre_n = a_i[2 * H:3 * H] + r * hn
                        for name, value in (("r", r), ("z", z), ("n", np.tanh(pre_n))):
                            np.testing.assert_allclose(tr.gate(name, layer, d)[t, n], value, rtol=0, atol=atol,
                                                       err_msg=f"gate {name}, {where}")
                        np.testing.assert_allclose(tr.preactivation("hn", layer, d)[t, n], hn, rtol=0, atol=atol,
                                                   err_msg=f"pre hn, {where}")
                        np.testing.assert_allclose(tr.preactivation("n", layer, d)[t, n], pre_n, rtol=0, atol=atol,
                                                   err_msg=f"pre n, {where}")
                        zr, nr = (tr.gate(name, layer, d)[t, n].astype(np.float64) for name in "zn")
                        np.testing.assert_allclose(got_h, (1 - zr) * nr + zr * h_prev, rtol=0, atol=atol,
                                                   err_msg=f"h, {where}")


@st.composite
def configurations(draw, dtypes=(np.float64,)):
    kind = draw(st.sampled_from(["rnn_tanh", "rnn_relu", "lstm", "lstm_proj", "gru"]))
    H = draw(st.integers(2 if kind == "lstm_proj" else 1, 6))
    form = draw(st.sampled_from(["time_major", "batch_first", "unbatched", "packed"]))
    N = 1 if form == "unbatched" else draw(st.integers(1, 3))
    return {
        "kind": kind.split("_")[0], "H": H, "form": form, "N": N,
        "nonlinearity": "relu" if kind == "rnn_relu" else "tanh",
        "proj_size": draw(st.integers(1, H - 1)) if kind == "lstm_proj" else 0,
        "I": draw(st.integers(1, 4)), "num_layers": draw(st.integers(1, 3)), "bidirectional": draw(st.booleans()),
        "L": draw(st.integers(1, 5)), "bias": draw(st.sampled_from([True, True, True, False])),
        "with_hx": draw(st.sampled_from([True, True, False])), "dtype": draw(st.sampled_from(list(dtypes))),
        "grad": draw(st.booleans()), "seed": draw(st.integers(0, 2**16)),
    }


def build(cfg):
    """(torch layer, steprnn layer, ours input, torch input, time-major padded x, lengths, hx) of a configuration."""
    t_layer, s_layer = layer_setup(cfg["kind"], cfg["I"], cfg["H"], cfg["dtype"], cfg["seed"],
                                   num_layers=cfg["num_layers"], bidirectional=cfg["bidirectional"],
                                   proj_size=cfg["proj_size"], bias=cfg["bias"],
                                   batch_first=cfg["form"] == "batch_first", nonlinearity=cfg["nonlinearity"])
    rng = np.random.default_rng(cfg["seed"])
    ours, theirs, x, lengths = make_input(rng, cfg["form"], cfg["L"], cfg["N"], cfg["I"], cfg["dtype"])
    hx = None
    if cfg["with_hx"]:
        D = 2 if cfg["bidirectional"] else 1
        hx = make_hx(rng, cfg["kind"], cfg["num_layers"] * D, cfg["N"], cfg["H"], cfg["proj_size"] or cfg["H"],
                     cfg["dtype"], unbatched=cfg["form"] == "unbatched")
    return t_layer, s_layer, ours, theirs, x, lengths, hx


def check_recorded_inputs(tr, s_layer, cfg, x, lengths, hx):
    """x of layer 0 is the input (time-major, input order), deeper layers read the layer below's h; the
    stored h0/c0 and weights are the ones given."""
    D = tr.num_directions
    L, N = cfg["L"], cfg["N"]
    valid = np.ones((L, N), bool) if lengths is None else np.arange(L)[:, None] < np.asarray(lengths)[None, :]
    for layer in tr.layers:
        for d in range(D):
            k = f"l{layer}d{d}."
            xs = tr.arrays[k + "x"]
            if layer == 0:
                want = np.where(valid[:, :, None], x, np.nan)
            else:
                want = np.concatenate([tr.h(layer - 1, e) for e in range(D)], axis=2)
            np.testing.assert_array_equal(xs, want, err_msg=f"x of layer {layer} direction {d}")
            h0, c0 = state_in_input_order(hx, layer * D + d, cfg["form"] == "unbatched")
            if h0 is None:
                h0 = np.zeros_like(tr.arrays[k + "h0"])
                c0 = None if c0 is None and cfg["kind"] != "lstm" else np.zeros_like(tr.arrays[k + "c0"])
            bits_equal(tr.arrays[k + "h0"], h0, f"h0 {k}")
            if cfg["kind"] == "lstm":
                bits_equal(tr.arrays[k + "c0"], c0, f"c0 {k}")
            params = s_layer._direction_params(layer, d)
            for name, value in params.items():
                if value is None:
                    assert k + name not in tr.arrays
                else:
                    bits_equal(tr.arrays[k + name], value, f"{k}{name}")


@settings(max_examples=50)
@given(configurations())
def test_recorded_arrays_satisfy_the_cell_equations(cfg):
    _, s_layer, ours, _, x, lengths, hx = build(cfg)
    with sr.set_grad_enabled(cfg["grad"]):
        tr = sr.trace(s_layer, ours, hx)
    assert tr.kind == cfg["kind"] and tr.num_layers == cfg["num_layers"]
    assert tr.num_directions == (2 if cfg["bidirectional"] else 1)
    assert tr.gate_names == GATES[cfg["kind"]]
    assert tr.layers == tuple(range(cfg["num_layers"]))
    check_recorded_inputs(tr, s_layer, cfg, x, lengths, hx)
    check_equations(tr, atol=1e-12)


@settings(max_examples=20)
@given(configurations(dtypes=(np.float32,)))
def test_float32_recorded_arrays_satisfy_the_cell_equations(cfg):
    _, s_layer, ours, _, x, lengths, hx = build(cfg)
    tr = sr.trace(s_layer, ours, hx)
    for key, a in tr.arrays.items():
        assert a.dtype == np.float32, f"{key} is {a.dtype}"
    check_recorded_inputs(tr, s_layer, cfg, x, lengths, hx)
    check_equations(tr, atol=2e-6)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_equations_catch_a_wrong_recorded_value(kind):
    """The equation check is not vacuous: one altered recorded number makes it fail."""
    _, s = layer_setup(kind, 3, 5, np.float64, 7, num_layers=2, bidirectional=True)
    tr = sr.trace(s, np.random.default_rng(0).standard_normal((4, 2, 3)))
    check_equations(tr, atol=1e-12)
    tr.arrays["l1d1.h"][2, 1, 3] += 1e-9
    with pytest.raises(AssertionError):
        check_equations(tr, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# 2. traced and untraced forwards are bit for bit the same
# --------------------------------------------------------------------------------------------------

@settings(max_examples=40)
@given(configurations(dtypes=DTYPES))
def test_traced_and_untraced_forwards_are_identical(cfg):
    _, s_layer, ours, _, _, _, hx = build(cfg)
    with sr.set_grad_enabled(cfg["grad"]):
        plain = s_layer(ours, hx)
        tr = sr.trace(s_layer, ours, hx)
        again = s_layer(ours, hx)
        with sr.tracing(s_layer) as rec:
            inside = s_layer(ours, hx)
    bits_equal(plain, again, "untraced run twice")
    out, state = plain
    bits_equal(tr.output, out, "output")
    if cfg["kind"] == "lstm":
        bits_equal(tr.h_n, state[0], "h_n")
        bits_equal(tr.c_n, state[1], "c_n")
    else:
        bits_equal(tr.h_n, state, "h_n")
        assert tr.c_n is None
    bits_equal(inside, plain, "forward inside sr.tracing")
    assert rec.keys() == [""]  # the model is the layer itself: named_modules() calls it ''
    bits_equal(rec[""].output, out, "recorded output")


@settings(max_examples=20)
@given(kind=st.sampled_from(["rnncell", "lstmcell", "grucell"]), dtype=st.sampled_from(DTYPES),
       batched=st.booleans(), with_hx=st.booleans(), grad=st.booleans(), relu=st.booleans(),
       N=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_traced_and_untraced_cells_are_identical(kind, dtype, batched, with_hx, grad, relu, N, seed):
    extra = {"nonlinearity": "relu" if relu else "tanh"} if kind == "rnncell" else {}
    _, cell = twin_layers(kind, 3, 5, dtype, seed=seed, **extra)
    rng = np.random.default_rng(seed)
    lead = (N,) if batched else ()
    x = rng.standard_normal(lead + (3,)).astype(dtype)
    hx = None
    if with_hx:
        hx = rng.standard_normal(lead + (5,)).astype(dtype)
        if kind == "lstmcell":
            hx = (hx, rng.standard_normal(lead + (5,)).astype(dtype))
    with sr.set_grad_enabled(grad):
        plain = cell(x, hx)
        tr = sr.trace(cell, x, hx)
        with sr.tracing(cell) as rec:
            inside = cell(x, hx)
    bits_equal(inside, plain, "cell inside sr.tracing")
    if kind == "lstmcell":
        bits_equal(tr.output, plain[0], "output")
        bits_equal(tr.h_n, plain[0], "h_n")
        bits_equal(tr.c_n, plain[1], "c_n")
    else:
        bits_equal(tr.output, plain, "output")
        bits_equal(tr.h_n, plain, "h_n")
        assert tr.c_n is None
    assert len(rec.runs("")) == 1


# --------------------------------------------------------------------------------------------------
# 3. trace.h of the last layer is PyTorch's output, step by step
# --------------------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported with oneDNN")
@settings(max_examples=40)
@given(configurations(dtypes=DTYPES))
def test_last_layer_h_is_torchs_output(cfg):
    t_layer, s_layer, ours, theirs, _, lengths, hx = build(cfg)
    dtype = np.dtype(cfg["dtype"])
    tol = TOL[dtype]
    with torch.no_grad():
        t_out, t_state = t_layer(theirs, torch_hx(hx))
    tr = sr.trace(s_layer, ours, hx)
    L, N = cfg["L"], cfg["N"]
    if cfg["form"] == "packed":
        t_out = trnn.pad_packed_sequence(t_out, total_length=L)[0]  # (L, N, D*H_out), zeros past lengths
        valid = np.arange(L)[:, None] < np.asarray(lengths)[None, :]
    else:
        if cfg["form"] == "batch_first":
            t_out = t_out.transpose(0, 1)
        elif cfg["form"] == "unbatched":
            t_out = t_out[:, None]
        valid = np.ones((L, N), bool)
    t_out = t_out.numpy()
    last, H_out = cfg["num_layers"] - 1, cfg["proj_size"] or cfg["H"]
    for d in range(tr.num_directions):
        h = tr.h(last, d)
        assert h.shape == (L, N, H_out) and h.dtype == dtype
        want = t_out[:, :, d * H_out:(d + 1) * H_out]
        np.testing.assert_allclose(h[valid], want[valid], rtol=0, atol=tol, err_msg=f"direction {d}")
        assert np.isnan(h[~valid]).all()
    # output/h_n/c_n are what the layer returned, and agree with torch
    t_h = t_state[0] if cfg["kind"] == "lstm" else t_state
    np.testing.assert_allclose(arr(tr.h_n), t_h.numpy(), rtol=0, atol=tol)
    if cfg["kind"] == "lstm":
        np.testing.assert_allclose(arr(tr.c_n), t_state[1].numpy(), rtol=0, atol=tol)
    if cfg["form"] == "packed":
        assert isinstance(tr.output, PackedSequence)
    else:
        assert isinstance(tr.output, sr.Tensor)
        want_shape = {"time_major": (L, N), "batch_first": (N, L), "unbatched": (L,)}[cfg["form"]]
        assert arr(tr.output).shape == want_shape + (tr.num_directions * H_out,)


# --------------------------------------------------------------------------------------------------
# 4. packed input
# --------------------------------------------------------------------------------------------------

def packed_case(kind, dtype=np.float64, **kw):
    t_layer, s_layer = layer_setup(kind, 3, 5, dtype, 11, num_layers=2, bidirectional=True, **kw)
    rng = np.random.default_rng(3)
    lengths = [3, 6, 1, 4]
    ours, theirs, x, _ = make_input(rng, "packed", 6, 4, 3, dtype, lengths=lengths)
    H_out = kw.get("proj_size") or 5
    hx = make_hx(rng, kind, 4, 4, 5, H_out, dtype)
    return t_layer, s_layer, ours, theirs, x, lengths, hx


@pytest.mark.parametrize("kind,kw", [("lstm", {}), ("lstm", {"proj_size": 2}), ("gru", {}), ("rnn", {})])
def test_packed_input_is_nan_past_each_length(kind, kw):
    t_layer, s_layer, ours, theirs, _, lengths, hx = packed_case(kind, **kw)
    tr = sr.trace(s_layer, ours, hx)
    assert tr.lengths.tolist() == lengths
    assert tr.batch == (0, 1, 2, 3)
    valid = np.arange(6)[:, None] < np.asarray(lengths)[None, :]
    with torch.no_grad():
        t_out = trnn.pad_packed_sequence(t_layer(theirs, torch_hx(hx))[0])[0].numpy()
    H_out = kw.get("proj_size") or 5
    for layer in range(2):
        for d in range(2):
            got = {"h": tr.h(layer, d), "x": tr.arrays[f"l{layer}d{d}.x"]}
            got.update({f"gate {g}": tr.gate(g, layer, d) for g in tr.gate_names})
            pre_names = {"rnn": ["h"], "lstm": list("ifgo"), "gru": ["r", "z", "n", "hn"]}[kind]
            got.update({f"pre {g}": tr.preactivation(g, layer, d) for g in pre_names})
            if kind == "lstm":
                got["c"] = tr.c(layer, d)
            for name, a in got.items():
                assert a.shape[:2] == (6, 4), name
                assert np.isnan(a[~valid]).all(), f"{name} of layer {layer} direction {d} past a length"
                assert not np.isnan(a[valid]).any(), f"{name} of layer {layer} direction {d} NaN within a length"
            if layer == 1:
                want = t_out[:, :, d * H_out:(d + 1) * H_out]
                np.testing.assert_allclose(tr.h(1, d)[valid], want[valid], rtol=0, atol=1e-10)
    for b, length in enumerate(lengths):  # per-element final states, in input order
        for d in range(2):
            last = length - 1 if d == 0 else 0
            np.testing.assert_array_equal(tr.h(1, d)[last, b], arr(tr.h_n)[2 + d, b])
            if kind == "lstm":
                np.testing.assert_array_equal(tr.c(1, d)[last, b], arr(tr.c_n)[2 + d, b])
    check_equations(tr, atol=1e-12)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_sorted_packed_input_and_batch_first_packing(kind):
    """enforce_sorted=True (no permutation) and a batch_first packing give the same trace as the unsorted one."""
    t_layer, s_layer = layer_setup(kind, 3, 5, np.float64, 6, num_layers=2, bidirectional=True)
    rng = np.random.default_rng(6)
    lengths = [5, 3, 3, 1]
    x = rng.standard_normal((5, 4, 3))
    for n, length in enumerate(lengths):
        x[length:, n] = 0
    ref = sr.trace(s_layer, pack_padded_sequence(sr.tensor(x), lengths, enforce_sorted=False))
    tr = sr.trace(s_layer, pack_padded_sequence(sr.tensor(x), lengths, enforce_sorted=True))
    assert tr.lengths.tolist() == lengths and tr.batch == (0, 1, 2, 3)
    assert set(tr.arrays) == set(ref.arrays)
    for k in ref.arrays:
        bits_equal(tr.arrays[k], ref.arrays[k], k)
    _, s_bf = layer_setup(kind, 3, 5, np.float64, 6, num_layers=2, bidirectional=True, batch_first=True)
    bf = sr.trace(s_bf, pack_padded_sequence(sr.tensor(x.transpose(1, 0, 2).copy()), lengths, batch_first=True,
                                             enforce_sorted=False))
    for k in ref.arrays:
        bits_equal(bf.arrays[k], ref.arrays[k], k)
    with torch.no_grad():
        t_out = trnn.pad_packed_sequence(t_layer(trnn.pack_padded_sequence(torch.from_numpy(x), lengths))[0])[0]
    valid = np.arange(5)[:, None] < np.asarray(lengths)[None, :]
    for d in range(2):
        np.testing.assert_allclose(tr.h(1, d)[valid], t_out.numpy()[:, :, d * 5:(d + 1) * 5][valid], rtol=0, atol=1e-10)
    check_equations(tr, atol=1e-12)


def test_packed_step_past_a_length_raises():
    _, s_layer, ours, _, _, lengths, hx = packed_case("lstm")
    tr = sr.trace(s_layer, ours, hx)
    for b, length in enumerate(lengths):
        for d in range(2):
            tr.step(length - 1, 1, d, b)  # the last valid step is fine
            with pytest.raises(ValueError, match="length"):
                tr.step(length, 1, d, b)
    with pytest.raises(ValueError):
        tr.step(6, 0, 0, 1)  # past the whole sequence
    st_ = tr.step(0, 0, 1, 2)  # length 1, reverse: its first step reads h0
    np.testing.assert_array_equal(st_.h_prev, hx[0][1, 2])
    np.testing.assert_array_equal(st_.c_prev, hx[1][1, 2])


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_packed_batch_subset_keeps_those_elements_in_that_order(kind, grad):
    _, s_layer, ours, _, _, lengths, hx = packed_case(kind)
    with sr.set_grad_enabled(grad):
        full = sr.trace(s_layer, ours, hx)
        sub = sr.trace(s_layer, ours, hx, batch=[2, 0])
    assert sub.batch == (2, 0)
    assert sub.lengths.tolist() == [lengths[2], lengths[0]]
    for key, a in full.arrays.items():
        b = sub.arrays[key]
        if key.endswith(PER_STEP):
            np.testing.assert_array_equal(b, a[:, [2, 0]], err_msg=key)
        elif key.endswith((".h0", ".c0")):
            np.testing.assert_array_equal(b, a[[2, 0]], err_msg=key)
        else:
            np.testing.assert_array_equal(b, a, err_msg=key)
    assert set(sub.arrays) == set(full.arrays)
    # the outputs are still the whole batch's
    bits_equal(sub.output, full.output, "output")
    # Step's batch is an input-order element; one not recorded is refused
    s = sub.step(0, 1, 0, 2)
    np.testing.assert_array_equal(s.h, full.h(1, 0)[0, 2])
    with pytest.raises(ValueError, match="not recorded"):
        sub.step(0, 0, 0, 1)
    check_equations(sub, atol=1e-12)


def test_batch_subset_of_a_padded_batch():
    _, s = layer_setup("gru", 3, 5, np.float64, 2, num_layers=2, batch_first=True)
    x = np.random.default_rng(1).standard_normal((4, 3, 3))  # (N, L, I)
    full = sr.trace(s, x)
    sub = sr.trace(s, x, batch=[3, 1])
    assert sub.batch == (3, 1) and sub.lengths.tolist() == [3, 3]
    np.testing.assert_array_equal(sub.h(1), full.h(1)[:, [3, 1]])
    np.testing.assert_array_equal(sub.arrays["l0d0.x"], x.transpose(1, 0, 2)[:, [3, 1]])
    sub1 = sr.trace(s, x, batch=2)  # one int is one element
    assert sub1.batch == (2,)
    np.testing.assert_array_equal(sub1.gate("z", 0), full.gate("z", 0)[:, [2]])


def test_trace_keeps_its_own_copy_of_the_input():
    """What the caller does to its input after the forward does not reach the trace."""
    _, s = layer_setup("gru", 3, 5, np.float64, 2, num_layers=2, batch_first=True)
    x = np.random.default_rng(1).standard_normal((2, 4, 3))
    tr = sr.trace(s, x)
    keep = x.copy()
    x[:] = 7.0
    np.testing.assert_array_equal(tr.arrays["l0d0.x"], keep.transpose(1, 0, 2))


@pytest.mark.parametrize("what", ["layer", "cell"])
def test_trace_keeps_its_own_copy_of_a_batch_subsets_input(what):
    """Regression (fixed in 43b01ed): with batch=[...] layer 0's input was read lazily from the caller's array."""
    if what == "layer":
        _, s = layer_setup("gru", 3, 5, np.float64, 2)
        x = np.random.default_rng(1).standard_normal((4, 2, 3))
        want = x[:, [1, 0]].copy()
    else:
        _, s = twin_layers("grucell", 3, 5, np.float64, seed=2)
        x = np.random.default_rng(1).standard_normal((2, 3))
        want = x[None, [1, 0]].copy()
    tr = sr.trace(s, x, batch=[1, 0])
    x[:] = 7.0
    np.testing.assert_array_equal(tr.arrays["l0d0.x"], want)


# --------------------------------------------------------------------------------------------------
# 5. sr.tracing on a model
# --------------------------------------------------------------------------------------------------

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=np.float64)
        self.proj = nn.Linear(4, 3, dtype=np.float64)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.proj(out)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        sr.manual_seed(0)
        self.enc = Encoder()
        self.gru = nn.GRU(3, 4, dtype=np.float64)
        self.head = nn.Linear(4, 2, dtype=np.float64)

    def forward(self, x):
        y = self.enc(x)
        out, h = self.gru(y)
        out, _ = self.gru(y, h)  # the same GRU twice: two runs
        return self.head(out)


def test_tracing_a_model_records_each_recurrent_submodule():
    model = Model()
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    before = model(x)
    with sr.tracing(model) as rec:
        inside = model(x)
    after = model(x)
    bits_equal(inside, before, "model output inside the block")
    bits_equal(after, before, "model output after the block")
    assert sorted(rec.keys()) == ["enc.lstm", "gru"]
    assert "enc.lstm" in rec and "gru" in rec
    for name in ("enc.proj", "head", "enc", "", "lstm"):
        assert name not in rec
    with pytest.raises(KeyError):
        rec["head"]
    with pytest.raises(KeyError):
        rec.runs("head")
    assert len(rec.runs("enc.lstm")) == 1
    first, second = rec.runs("gru")
    assert rec["gru"] is second
    # the second call started from the first call's final state
    np.testing.assert_array_equal(second.arrays["l0d0.h0"], arr(first.h_n)[0])
    np.testing.assert_array_equal(second.arrays["l0d0.x"], first.arrays["l0d0.x"])
    lstm = rec["enc.lstm"]
    assert lstm.kind == "lstm" and lstm.num_layers == 2 and lstm.num_directions == 2
    np.testing.assert_array_equal(lstm.arrays["l0d0.x"], x)
    # the GRU's input is the Linear's output of the LSTM's output
    y = arr(model.enc.proj(lstm.output))
    np.testing.assert_array_equal(first.arrays["l0d0.x"], y)
    check_equations(lstm, atol=1e-12)
    check_equations(second, atol=1e-12)
    # the final output is the head applied to the last GRU run's h
    np.testing.assert_array_equal(arr(inside), arr(model.head(sr.tensor(second.h(0)))))


def test_nothing_is_recorded_outside_the_block():
    model = Model()
    x = np.random.default_rng(0).standard_normal((5, 2, 3))
    with sr.tracing(model) as rec:
        pass
    assert rec.keys() == [] and len(rec) == 0
    model(x)
    assert rec.keys() == []
    with sr.tracing(model) as rec:
        model(x)
    model(x)
    model(x)
    assert len(rec.runs("gru")) == 2 and len(rec.runs("enc.lstm")) == 1
    # a block left by an exception records nothing afterwards either
    with pytest.raises(ZeroDivisionError), sr.tracing(model) as rec2:
        model(x)
        raise ZeroDivisionError
    model(x)
    assert len(rec2.runs("gru")) == 2


class Looped(nn.Module):
    def __init__(self):
        super().__init__()
        sr.manual_seed(1)
        self.cell = nn.GRUCell(3, 4, dtype=np.float64)

    def forward(self, x):
        h = None
        for t in range(x.shape[0]):
            h = self.cell(x[t], h)
        return h


def test_tracing_a_cell_in_a_loop_records_every_step():
    model = Looped()
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    plain = model(x)
    with sr.tracing(model) as rec:
        inside = model(x)
    bits_equal(inside, plain, "looped cell output")
    runs = rec.runs("cell")
    assert len(runs) == 4 and rec.keys() == ["cell"]
    np.testing.assert_array_equal(runs[0].arrays["l0d0.h0"], np.zeros((2, 4)))
    for a, b in itertools.pairwise(runs):
        np.testing.assert_array_equal(b.arrays["l0d0.h0"], a.h()[0])
    for t, tr in enumerate(runs):
        assert tr.h().shape == (1, 2, 4)
        np.testing.assert_array_equal(tr.arrays["l0d0.x"][0], x[t])
        check_equations(tr, atol=1e-12)
    bits_equal(rec["cell"].output, plain, "last run's output")


def test_dropout_between_layers_is_in_the_recorded_input():
    """In training mode the layer above reads the dropped-out h: the trace records what it read."""
    _, s = layer_setup("lstm", 3, 6, np.float64, 5, num_layers=3, bidirectional=True)
    s.dropout = 0.5
    s.train()
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    sr.manual_seed(123)
    plain = s(x)
    sr.manual_seed(123)
    tr = sr.trace(s, x)
    bits_equal(tr.output, plain[0], "output with dropout, same seed")
    bits_equal(tr.h_n, plain[1][0], "h_n with dropout, same seed")
    check_equations(tr, atol=1e-12)
    for layer in (1, 2):
        below = np.concatenate([tr.h(layer - 1, d) for d in range(2)], axis=2)
        read = tr.arrays[f"l{layer}d0.x"]
        dropped = read == 0
        assert dropped.any() and (~dropped).any()
        np.testing.assert_allclose(read[~dropped], 2 * below[~dropped], rtol=1e-15, atol=0)
        np.testing.assert_array_equal(tr.arrays[f"l{layer}d1.x"], read)
    s.eval()
    tr = sr.trace(s, x)
    np.testing.assert_array_equal(tr.arrays["l1d0.x"], np.concatenate([tr.h(0, d) for d in range(2)], axis=2))


def test_tracing_passes_layers_and_batch_on():
    model = Model()
    x = np.random.default_rng(0).standard_normal((5, 3, 3))
    with sr.tracing(model, layers=[0], batch=[2]) as rec:
        model(x)
    for name in ("enc.lstm", "gru"):
        assert rec[name].layers == (0,) and rec[name].batch == (2,)
    with pytest.raises(ValueError):
        rec["enc.lstm"].h(1)
    with pytest.raises(ValueError), sr.tracing(model, layers=[1]):  # the GRU has one layer
        model(x)


# --------------------------------------------------------------------------------------------------
# 6. cells
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["rnncell", "rnncell_relu", "lstmcell", "grucell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_give_a_one_step_trace(kind, dtype, batched):
    extra = {"nonlinearity": "relu"} if kind == "rnncell_relu" else {}
    t_cell, s_cell = twin_layers(kind.split("_")[0], 3, 5, dtype, seed=4, **extra)
    rng = np.random.default_rng(4)
    lead = (2,) if batched else ()
    N = 2 if batched else 1
    x = rng.standard_normal(lead + (3,)).astype(dtype)
    hx = rng.standard_normal(lead + (5,)).astype(dtype)
    if kind == "lstmcell":
        hx = (hx, rng.standard_normal(lead + (5,)).astype(dtype))
    with torch.no_grad():
        t_res = t_cell(torch.from_numpy(x), torch_hx(hx))
    tr = sr.trace(s_cell, x, hx)
    assert tr.num_layers == 1 and tr.num_directions == 1 and tr.layers == (0,)
    assert tr.kind == {"rnncell": "rnn", "rnncell_relu": "rnn", "lstmcell": "lstm", "grucell": "gru"}[kind]
    h = tr.h()
    assert h.shape == (1, N, 5) and h.dtype == np.dtype(dtype)
    t_h = t_res[0] if kind == "lstmcell" else t_res
    tol = TOL[np.dtype(dtype)]
    np.testing.assert_allclose(h[0], t_h.numpy().reshape(N, 5), rtol=0, atol=tol)
    bits_equal(tr.output, s_cell(x, hx)[0] if kind == "lstmcell" else s_cell(x, hx), "output")
    assert arr(tr.output).shape == lead + (5,)
    for g in tr.gate_names:
        assert tr.gate(g).shape == (1, N, 5)
    if kind == "lstmcell":
        assert tr.c().shape == (1, N, 5)
        np.testing.assert_allclose(tr.c()[0], t_res[1].numpy().reshape(N, 5), rtol=0, atol=tol)
        np.testing.assert_array_equal(tr.arrays["l0d0.c0"], hx[1].reshape(N, 5))
    np.testing.assert_array_equal(tr.arrays["l0d0.h0"], (hx[0] if kind == "lstmcell" else hx).reshape(N, 5))
    np.testing.assert_array_equal(tr.arrays["l0d0.x"], x.reshape(1, N, 3))
    check_equations(tr, atol=1e-12 if dtype == np.float64 else 2e-6)
    s = tr.step(0, batch=N - 1)
    np.testing.assert_array_equal(s.h, h[0, N - 1])
    with pytest.raises(ValueError):
        tr.step(1)
    with pytest.raises(ValueError):
        tr.h(0, 1)


def test_cell_without_hx_starts_from_zeros():
    _, cell = twin_layers("lstmcell", 3, 5, np.float64, seed=1)
    tr = sr.trace(cell, np.ones((2, 3)))
    np.testing.assert_array_equal(tr.arrays["l0d0.h0"], np.zeros((2, 5)))
    np.testing.assert_array_equal(tr.arrays["l0d0.c0"], np.zeros((2, 5)))
    check_equations(tr, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# 7. save / load
# --------------------------------------------------------------------------------------------------

def assert_same_trace(a, b):
    assert a.meta == b.meta
    assert set(a.arrays) == set(b.arrays)
    for k in a.arrays:
        bits_equal(a.arrays[k], b.arrays[k], k)
    for name in ("output", "h_n", "c_n"):
        bits_equal(getattr(b, name), getattr(a, name), name)


@pytest.mark.parametrize("case", ["lstm_packed", "gru_batch_first", "rnn_unbatched", "lstmcell", "lstm_layer1_f32"])
def test_save_load_round_trip_is_bit_exact(case, tmp_path):
    rng = np.random.default_rng(5)
    if case == "lstm_packed":
        _, s, ours, _, _, _, hx = packed_case("lstm", proj_size=3)
        tr = sr.trace(s, ours, hx, batch=[3, 1, 2])
    elif case == "gru_batch_first":
        _, s = layer_setup("gru", 3, 5, np.float64, 1, num_layers=2, bidirectional=True, batch_first=True)
        tr = sr.trace(s, rng.standard_normal((2, 4, 3)))
    elif case == "rnn_unbatched":
        _, s = layer_setup("rnn", 3, 5, np.float32, 1, nonlinearity="relu", bias=False)
        tr = sr.trace(s, rng.standard_normal((4, 3)).astype(np.float32))
    elif case == "lstmcell":
        _, s = twin_layers("lstmcell", 3, 5, np.float64, seed=1)
        tr = sr.trace(s, rng.standard_normal((2, 3)), (rng.standard_normal((2, 5)), rng.standard_normal((2, 5))))
    else:
        _, s = layer_setup("lstm", 3, 5, np.float32, 1, num_layers=2)
        tr = sr.trace(s, rng.standard_normal((4, 2, 3)).astype(np.float32), layers=[1])
    path = tmp_path / "t.npz"
    tr.save(path)
    back = sr.Trace.load(path)
    assert_same_trace(tr, back)
    if case == "lstm_packed":
        assert isinstance(back.output, PackedSequence)
        assert np.isnan(back.h(0, 1)).any()
    assert back.kind == tr.kind and back.gate_names == tr.gate_names and back.layers == tr.layers
    assert back.batch == tr.batch and back.lengths.tolist() == tr.lengths.tolist()
    # a loaded trace works like the original
    layer = tr.layers[-1]
    for d in range(tr.num_directions):
        bits_equal(back.h(layer, d), tr.h(layer, d), "h()")
        s1, s2 = tr.step(0, layer, d, tr.batch[0]), back.step(0, layer, d, tr.batch[0])
        assert s1.explain(1) == s2.explain(1)
        assert str(s1) == str(s2)
    check_equations(back, atol=1e-12 if tr.dtype == np.float64 else 2e-6)
    # a str path works too, and saving the loaded trace gives the same again
    back.save(str(tmp_path / "u.npz"))
    assert_same_trace(tr, sr.Trace.load(str(tmp_path / "u.npz")))


def test_save_writes_exactly_the_path_given(tmp_path):
    """Regression (fixed in 43b01ed): np.savez(name) appended '.npz', so load(path) could not find the file."""
    _, s = layer_setup("rnn", 3, 5, np.float32, 1)
    tr = sr.trace(s, np.ones((2, 1, 3), np.float32))
    path = tmp_path / "run.trace"
    tr.save(path)
    assert_same_trace(tr, sr.Trace.load(path))


@pytest.fixture
def saved(tmp_path):
    _, s, ours, _, _, _, hx = packed_case("gru")
    tr = sr.trace(s, ours, hx)
    path = tmp_path / "good.npz"
    tr.save(path)
    with np.load(path) as z:
        files = {k: z[k] for k in z.files}
    return tmp_path, path, files


def write_npz(path, files):
    np.savez(path, **files)
    return path


def meta_of(files):
    return json.loads(files["meta"].tobytes().decode("utf-8"))


def with_meta(files, meta):
    out = dict(files)
    out["meta"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
    return out


def test_load_refuses_a_truncated_file(saved):
    tmp, path, _ = saved
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 10, 30):
        bad = tmp / f"cut{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match="trace"):
            sr.Trace.load(bad)


def test_load_refuses_random_bytes(saved):
    tmp, _, _ = saved
    bad = tmp / "random.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError):
        sr.Trace.load(bad)


def test_load_refuses_random_bytes_with_a_clear_message(saved):
    """Regression (fixed in 43b01ed): NumPy's 'pickled data ... allow_pickle' ValueError was passed through."""
    tmp, _, _ = saved
    bad = tmp / "random.npz"
    bad.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(ValueError, match="steprnn trace"):
        sr.Trace.load(bad)


def test_load_refuses_an_npz_that_is_not_a_trace(saved):
    tmp, _, _ = saved
    with pytest.raises(ValueError, match="not a steprnn trace"):
        sr.Trace.load(write_npz(tmp / "other.npz", {"a": np.arange(5), "b": np.ones((2, 2))}))
    with pytest.raises(ValueError, match="not a steprnn trace"):  # a 'meta' that is not ours
        sr.Trace.load(write_npz(tmp / "other2.npz", {"meta": np.arange(5.0)}))
    with pytest.raises(ValueError):  # a plain .npy, not an archive
        p = tmp / "plain.npy"
        np.save(p, np.arange(3))
        sr.Trace.load(p)
    with pytest.raises(FileNotFoundError):
        sr.Trace.load(tmp / "absent.npz")


def test_load_refuses_another_format_or_a_newer_version(saved):
    tmp, _, files = saved
    meta = meta_of(files)
    assert meta["format"] == "steprnn-trace"
    with pytest.raises(ValueError, match="not a steprnn trace"):
        sr.Trace.load(write_npz(tmp / "fmt.npz", with_meta(files, {**meta, "format": "someone-else"})))
    with pytest.raises(ValueError, match="newer"):
        sr.Trace.load(write_npz(tmp / "ver.npz", with_meta(files, {**meta, "version": meta["version"] + 1})))
    with pytest.raises(ValueError):
        sr.Trace.load(write_npz(tmp / "ver2.npz", with_meta(files, {**meta, "version": "1"})))
    with pytest.raises(ValueError):
        sr.Trace.load(write_npz(tmp / "list.npz", with_meta(files, [1, 2, 3])))
    # the unchanged metadata, rewritten, still loads
    sr.Trace.load(write_npz(tmp / "same.npz", with_meta(files, meta)))


@pytest.mark.parametrize("key", ["a__l0d0.gates", "a__l1d1.h", "a__l0d1.x", "a__l1d0.w_ih", "a__l0d0.h0"])
def test_load_refuses_a_trace_with_a_missing_array(saved, key):
    tmp, _, files = saved
    files = dict(files)
    assert key in files
    del files[key]
    with pytest.raises(ValueError, match=re.escape(key[3:])):
        sr.Trace.load(write_npz(tmp / "missing.npz", files))


def test_load_refuses_a_per_step_array_of_the_wrong_shape(saved):
    tmp, _, files = saved
    files = dict(files)
    files["a__l0d0.h"] = files["a__l0d0.h"][:-1]
    with pytest.raises(ValueError, match="l0d0.h"):
        sr.Trace.load(write_npz(tmp / "shape.npz", files))


@pytest.mark.parametrize("field", ["layers", "seq_len"])
def test_load_refuses_metadata_missing_a_field(saved, field):
    """Regression (fixed in 43b01ed): a metadata field missing gave a bare KeyError."""
    tmp, _, files = saved
    meta = meta_of(files)
    del meta[field]
    with pytest.raises(ValueError):
        sr.Trace.load(write_npz(tmp / "field.npz", with_meta(files, meta)))


def test_saved_file_is_one_npz_archive(saved):
    _, path, files = saved
    assert zipfile.is_zipfile(path)
    assert "meta" in files and "r__output.data" in files and "r__output.batch_sizes" in files


# --------------------------------------------------------------------------------------------------
# 8. memory guard; layers= and batch=
# --------------------------------------------------------------------------------------------------

@pytest.fixture
def count_kernel_runs(monkeypatch):
    """Counts the kernel runs of layers and cells (each calls run_direction once per layer and direction)."""
    calls = []
    real = sr_rnn_module.run_direction

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)

    monkeypatch.setattr(sr_rnn_module, "run_direction", counting)
    monkeypatch.setattr(sr_cell_module, "run_direction", counting)
    return calls


SIZE = re.compile(r"(\d+(?:\.\d+)?) (B|KiB|MiB|GiB)")


def stated_bytes(message):
    value, unit = SIZE.search(message).groups()
    return float(value) * {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}[unit]


def per_step_bytes(tr):
    return sum(a.nbytes for k, a in tr.arrays.items() if k.endswith(PER_STEP))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_max_bytes_refuses_before_the_forward_runs(kind, count_kernel_runs):
    _, s = layer_setup(kind, 3, 5, np.float32, 0, num_layers=2, bidirectional=True)
    x = np.random.default_rng(0).standard_normal((6, 2, 3)).astype(np.float32)
    with sr.no_grad():
        tr = sr.trace(s, x)  # what the full trace really takes
    count_kernel_runs.clear()
    with pytest.raises(TraceMemoryError) as info:
        sr.trace(s, x, max_bytes=64)
    assert count_kernel_runs == [], "the forward ran before the trace was refused"
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "layers=" in msg and "batch=" in msg and "max_bytes" in msg
    need = stated_bytes(msg)
    held = sum(a.nbytes for a in tr.arrays.values())  # per-step buffers, states and the copied weights
    assert abs(need - held) <= 0.05 * 1024 + 1, (msg, held)
    assert "64 B" in msg
    # the same through sr.tracing
    with pytest.raises(TraceMemoryError), sr.tracing(s, max_bytes=64):
        s(x)
    assert count_kernel_runs == []
    # enough room: it runs
    sr.trace(s, x, max_bytes=per_step_bytes(tr) * 2)
    assert count_kernel_runs


def test_set_memory_limit(count_kernel_runs):
    _, s = layer_setup("lstm", 3, 5, np.float64, 0, num_layers=2)
    x = np.random.default_rng(0).standard_normal((6, 2, 3))
    try:
        set_memory_limit(100)
        count_kernel_runs.clear()
        with pytest.raises(TraceMemoryError, match="set_memory_limit") as info:
            sr.trace(s, x)
        assert count_kernel_runs == []
        assert "layers=" in str(info.value) and "batch=" in str(info.value)
        assert SIZE.search(str(info.value))
        with pytest.raises(TraceMemoryError), sr.tracing(s):
            s(x)
        s(x)  # untraced forwards are not limited
        sr.trace(s, x, max_bytes=10**8)  # an explicit max_bytes wins over the default
        set_memory_limit(10**8)
        sr.trace(s, x)
        set_memory_limit(None)
        sr.trace(s, x)
    finally:
        set_memory_limit(None)
    for bad in (0, -5, 1.5, "1", True):
        with pytest.raises(ValueError):
            set_memory_limit(bad)
    for bad in (0, -1, 2.0, "big", False):
        with pytest.raises((ValueError, TypeError)):
            sr.trace(s, x, max_bytes=bad)


def test_recording_less_needs_less():
    _, s = layer_setup("gru", 3, 5, np.float64, 0, num_layers=3)
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    held = lambda tr: sum(a.nbytes for a in tr.arrays.values())  # noqa: E731 - steps, states, weights
    with sr.no_grad():
        full = held(sr.trace(s, x))
        each = [held(sr.trace(s, x, layers=[k])) for k in range(3)]
        assert sum(each) == full
        one = each[1]
        sr.trace(s, x, layers=[1], max_bytes=one + 1)
        with pytest.raises(TraceMemoryError):
            sr.trace(s, x, max_bytes=one + 1)


@pytest.mark.parametrize("grad", [False, True])
def test_layers_records_only_those_layers(grad):
    _, s = layer_setup("lstm", 3, 5, np.float64, 3, num_layers=3, bidirectional=True, proj_size=2)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 2, 3))
    hx = make_hx(rng, "lstm", 6, 2, 5, 2, np.float64)
    with sr.set_grad_enabled(grad):
        full = sr.trace(s, x, hx)
        only = sr.trace(s, x, hx, layers=[1])
    assert only.layers == (1,)
    assert {k.split(".")[0] for k in only.arrays} == {"l1d0", "l1d1"}
    for k, a in only.arrays.items():
        bits_equal(a, full.arrays[k], k)
    for call in (lambda: only.h(0), lambda: only.gate("i", 0), lambda: only.c(2, 1), lambda: only.step(0, 0),
                 lambda: only.preactivation("f", 2)):
        with pytest.raises(ValueError, match="not recorded"):
            call()
    bits_equal(only.output, full.output, "output")
    check_equations(only, atol=1e-12)
    two = sr.trace(s, x, hx, layers=[2, 0])
    assert set(two.layers) == {0, 2}
    one = sr.trace(s, x, hx, layers=2)
    assert one.layers == (2,)


@pytest.mark.parametrize("bad,exc", [
    ({"layers": [2]}, ValueError), ({"layers": [-1]}, ValueError), ({"layers": []}, ValueError),
    ({"layers": ["0"]}, TypeError), ({"layers": [0.0]}, TypeError), ({"layers": [True]}, TypeError),
    ({"layers": "0"}, TypeError), ({"batch": [3]}, ValueError), ({"batch": [-1]}, ValueError),
    ({"batch": []}, ValueError), ({"batch": [1.0]}, TypeError), ({"batch": True}, TypeError),
    ({"batch": "0"}, TypeError),
])
@pytest.mark.parametrize("input_form", ["padded", "packed"])
def test_bad_layers_and_batch_are_refused(bad, exc, input_form, count_kernel_runs):
    _, s = layer_setup("gru", 3, 5, np.float32, 0, num_layers=2)
    x = np.random.default_rng(0).standard_normal((4, 3, 3)).astype(np.float32)
    if input_form == "packed":
        x = pack_padded_sequence(sr.tensor(x), [2, 4, 3], enforce_sorted=False)
    count_kernel_runs.clear()
    with pytest.raises(exc) as info:
        sr.trace(s, x, **bad)
    assert count_kernel_runs == []
    key = next(iter(bad))
    assert key in str(info.value)
    with pytest.raises(exc), sr.tracing(s, **bad):
        s(x)


def test_memory_refusal_advice_works_with_grad_mode_on():
    """Regression (fixed in 43b01ed): with grad mode on every layer counts, and the refusal advised layers=/batch=
    only; it must say that sr.no_grad() is what lets them save memory."""
    _, s = layer_setup("gru", 3, 5, np.float64, 0, num_layers=3)
    x = np.random.default_rng(0).standard_normal((6, 4, 3))
    with sr.no_grad():
        one = per_step_bytes(sr.trace(s, x, layers=[1]))
    assert sr.is_grad_enabled()
    try:
        sr.trace(s, x, layers=[1], max_bytes=2 * one)  # following the advice: record one layer
        message = None
    except TraceMemoryError as err:
        message = str(err)
    # either the advice worked, or the message says what does help
    assert message is None or "no_grad" in message, message


def test_trace_refuses_what_is_not_a_recurrent_layer():
    with pytest.raises(TypeError, match="tracing"):
        sr.trace(nn.Linear(3, 2), np.zeros((2, 3), np.float32))
    with pytest.raises(TypeError), sr.tracing(object()):
        pass


@pytest.mark.parametrize("bad", [{"max_bytes": 1}, {"layers": [1]}])
def test_cells_honour_max_bytes_and_layers(bad, count_kernel_runs):
    """Regression (fixed in 43b01ed): a cell trace ignored max_bytes and accepted layers=[1]."""
    _, cell = twin_layers("lstmcell", 3, 5, np.float64, seed=0)
    count_kernel_runs.clear()
    with pytest.raises(TraceMemoryError if "max_bytes" in bad else ValueError):
        sr.trace(cell, np.ones((4, 3)), **bad)
    assert count_kernel_runs == []


@pytest.mark.parametrize("kind", ["rnncell", "lstmcell", "grucell"])
def test_cell_memory_estimate_covers_what_the_trace_keeps(kind, count_kernel_runs):
    _, cell = twin_layers(kind, 3, 5, np.float64, seed=0)
    x = np.ones((4, 3))
    actual = per_step_bytes(sr.trace(cell, x))
    count_kernel_runs.clear()
    with pytest.raises(TraceMemoryError) as info:
        sr.trace(cell, x, max_bytes=actual - 1)
    assert stated_bytes(str(info.value)) >= actual - 0.05 * 1024
    with pytest.raises(TraceMemoryError), sr.tracing(cell, max_bytes=actual - 1):
        cell(x)
    assert count_kernel_runs == [], "the cell ran before its trace was refused"
    sr.trace(cell, x, max_bytes=4 * actual)
    assert count_kernel_runs == [1]


# --------------------------------------------------------------------------------------------------
# 9. Step: explain, str, html
# --------------------------------------------------------------------------------------------------

NAMESPACE = {"σ": lambda v: 1 / (1 + math.exp(-v)), "tanh": math.tanh, "relu": lambda v: max(v, 0.0)}
ARITH = re.compile(r"^[0-9.+\-*() σtanhrelu]+$")


def slack(expr: str) -> float:
    """How far a 3-decimal expression may be from the exact value: each number off by up to 0.0005."""
    nums = [abs(float(v)) for v in re.findall(r"\d+\.\d+", expr)]
    return 0.0006 * (len(nums) + sum(nums)) + 1e-9


def evaluate(expr: str) -> float:
    """The value of an explain() right-hand side such as 'σ(0.412 + 0.031 − 0.220)' or '0.5·(−0.3) + 0.1·0.2'."""
    expr = expr.replace("\u2212", "-").replace("·", "*").strip()
    assert ARITH.match(expr), expr
    return float(eval(expr, {"__builtins__": {}}, NAMESPACE))


def line(text, start):
    found = [ln for ln in text.splitlines() if ln.startswith(start)]
    assert len(found) == 1, f"no single line starting {start!r} in\n{text}"
    return found[0]


def check_explain(step, unit, kind):
    text = step.explain(unit)
    j = unit
    prev = "h_{t+1}" if step.direction else "h_{t-1}"
    other = "h_{t-1}" if step.direction else "h_{t+1}"
    assert prev in text and other not in text
    assert f"t = {step.t}" in text and f"unit {unit}" in text
    if kind == "rnn":
        parts = line(text, "h_t = ").split(" = ")
        assert has_num(parts[3], step.pre["h"][j]) and has_num(parts[4], step.h[j])
        assert abs(evaluate(parts[2]) - step.h[j]) < slack(parts[2])
        assert abs(evaluate(parts[2][parts[2].index("(") + 1:-1]) - step.pre["h"][j]) < slack(parts[2])
        return text
    for g in GATES[kind]:
        parts = line(text, f"{g}_t = ").split(" = ")
        assert len(parts) == 5, parts
        assert has_num(parts[3], step.pre[g][j]), (g, parts[3], step.pre[g][j])
        assert has_num(parts[4], step.gates[g][j]), (g, parts[4], step.gates[g][j])
        assert parts[4].strip() in (fmt(step.gates[g][j]), fmt(step.gates[g][j]).replace("-", "\u2212"))
        # the substituted terms add up to the recorded pre-activation and gate
        inner = parts[2][parts[2].index("(") + 1:-1]
        assert abs(evaluate(inner) - step.pre[g][j]) < slack(inner), (g, inner, step.pre[g][j])
        assert abs(evaluate(parts[2]) - step.gates[g][j]) < slack(parts[2])
    if kind == "lstm":
        parts = line(text, "c_t = ").split(" = ")
        assert "c_{t+1}" in parts[1] if step.direction else "c_{t-1}" in parts[1]
        assert has_num(parts[-1], step.c[j])
        assert abs(evaluate(parts[2]) - step.c[j]) < slack(parts[2])
        assert has_num(parts[2], step.c_prev[j])
        h_line = line(text, "h_t = ")
        if step.h.shape[0] == step.c.shape[0]:
            parts = h_line.split(" = ")
            assert has_num(parts[-1], step.h[j]) and abs(evaluate(parts[2]) - step.h[j]) < slack(parts[2])
        else:
            assert "W_hr" in h_line and all(has_num(h_line, v) for v in step.h[:6])
            m = line(text, "m_t = ").split(" = ")
            assert abs(evaluate(m[2]) - step.gates["o"][j] * np.tanh(step.c[j])) < slack(m[2])
    else:
        parts = line(text, "h_t = ").split(" = ")
        assert prev in parts[1]
        assert has_num(parts[-1], step.h[j]) and has_num(parts[2], step.h_prev[j])
        assert abs(evaluate(parts[2]) - step.h[j]) < slack(parts[2])
    return text


@pytest.mark.parametrize("kind,kw", [("lstm", {}), ("lstm", {"proj_size": 2}), ("gru", {}), ("rnn", {}),
                                     ("rnn", {"nonlinearity": "relu"}), ("gru", {"bias": False})])
@pytest.mark.parametrize("dtype", DTYPES)
def test_step_explain_substitutes_the_recorded_numbers(kind, kw, dtype):
    _, s = layer_setup(kind, 3, 5, dtype, 9, num_layers=2, bidirectional=True, **kw)
    rng = np.random.default_rng(9)
    x = (2 * rng.standard_normal((5, 3, 3))).astype(dtype)
    hx = make_hx(rng, kind, 4, 3, 5, kw.get("proj_size") or 5, dtype)
    tr = sr.trace(s, x, hx)
    for t, layer, d, b in [(0, 0, 0, 0), (2, 1, 0, 1), (4, 1, 1, 2), (0, 0, 1, 1), (4, 0, 1, 0), (3, 1, 1, 0)]:
        step = tr.step(t, layer, d, b)
        assert step.t == t
        np.testing.assert_array_equal(step.x, tr.arrays[f"l{layer}d{d}.x"][t, b])
        np.testing.assert_array_equal(step.h, tr.h(layer, d)[t, b])
        first = t == (4 if d else 0)
        want_prev = tr.arrays[f"l{layer}d{d}.h0"][b] if first else tr.h(layer, d)[t + 1 if d else t - 1, b]
        np.testing.assert_array_equal(step.h_prev, want_prev)
        for g in tr.gate_names:
            np.testing.assert_array_equal(step.gates[g], tr.gate(g, layer, d)[t, b])
            np.testing.assert_array_equal(step.pre[g], tr.preactivation(g, layer, d)[t, b])
        if kind == "lstm":
            np.testing.assert_array_equal(step.c, tr.c(layer, d)[t, b])
            want_c = tr.arrays[f"l{layer}d{d}.c0"][b] if first else tr.c(layer, d)[t + 1 if d else t - 1, b]
            np.testing.assert_array_equal(step.c_prev, want_c)
        else:
            assert step.c is None and step.c_prev is None
        for unit in (0, 2, 4):
            check_explain(step, unit, kind)
        for bad in (5, -1, 1.5, "0", 100):
            with pytest.raises(ValueError, match="unit"):
                step.explain(bad)


def test_explain_reads_h_t_plus_1_in_the_reverse_direction():
    _, s = layer_setup("gru", 3, 5, np.float64, 1, bidirectional=True)
    tr = sr.trace(s, np.random.default_rng(0).standard_normal((4, 1, 3)))
    fwd, rev = tr.step(1, 0, 0).explain(2), tr.step(1, 0, 1).explain(2)
    assert "h_{t-1}" in fwd and "h_{t+1}" not in fwd and "forward" in fwd
    assert "h_{t+1}" in rev and "h_{t-1}" not in rev and "reverse" in rev


@pytest.mark.parametrize("kind,kw", [("lstm", {}), ("lstm", {"proj_size": 3}), ("gru", {}), ("rnn", {})])
def test_step_str_and_html(kind, kw):
    _, s = layer_setup(kind, 3, 5, np.float32, 2, bidirectional=True, **kw)
    tr = sr.trace(s, np.random.default_rng(0).standard_normal((3, 2, 3)).astype(np.float32))
    step = tr.step(1, 0, 1, 1)
    text = str(step)
    rows = [ln for ln in text.splitlines() if re.match(r"^\s*\d+\s", ln)]
    assert len(rows) == 5, text
    for j, row in enumerate(rows):
        cells = row.replace("\u2212", "-").split()
        assert cells[0] == str(j)
        for k, g in enumerate(tr.gate_names):
            assert cells[1 + k] == fmt(step.gates[g][j]), (row, g)
        if kind == "lstm":
            assert fmt(step.c[j]) in cells
        if not kw:
            assert cells[-1] == fmt(step.h[j])
    if kw:
        assert all(has_num(text, v) for v in step.h)
    assert "unit" in text
    html = step._repr_html_()
    assert "<table" in html and "</table>" in html
    assert html.count("<tr>") == 6
    for g in tr.gate_names:
        assert f"<th>{g}</th>" in html


# --------------------------------------------------------------------------------------------------
# 10. accessor errors
# --------------------------------------------------------------------------------------------------

def test_accessor_errors_are_clear():
    rng = np.random.default_rng(0)
    _, gru = layer_setup("gru", 3, 5, np.float32, 0, num_layers=2)
    _, lstm = layer_setup("lstm", 3, 5, np.float32, 0, bidirectional=True)
    _, rnn = layer_setup("rnn", 3, 5, np.float32, 0)
    x = rng.standard_normal((3, 2, 3)).astype(np.float32)
    g, l, r = sr.trace(gru, x), sr.trace(lstm, x), sr.trace(rnn, x)
    with pytest.raises(ValueError, match=r"unknown gate 'i'.*'r', 'z', 'n'"):
        g.gate("i")
    with pytest.raises(ValueError, match=r"unknown gate 'r'.*'i', 'f', 'g', 'o'"):
        l.gate("r")
    with pytest.raises(ValueError, match="gate"):
        r.gate("i")
    with pytest.raises(ValueError, match="only an LSTM has a cell state"):
        g.c()
    with pytest.raises(ValueError, match="only an LSTM"):
        r.c(0)
    with pytest.raises(ValueError, match="direction"):
        g.h(0, 1)
    with pytest.raises(ValueError, match="direction"):
        g.gate("z", 1, 1)
    with pytest.raises(ValueError, match="direction"):
        l.h(0, 2)
    with pytest.raises(ValueError, match="direction"):
        l.step(0, 0, -1)
    with pytest.raises(ValueError, match="layer"):
        g.h(2)
    with pytest.raises(ValueError, match="layer"):
        l.c(1, 0)
    with pytest.raises(ValueError):
        l.preactivation("hn")  # GRU only
    with pytest.raises(ValueError):
        g.preactivation("h")
    with pytest.raises(ValueError):
        r.preactivation("i")
    with pytest.raises(ValueError, match="batch element 5"):
        g.step(0, batch=5)
    with pytest.raises(ValueError):
        g.step(3)
    with pytest.raises(TypeError):
        g.h("0")
    with pytest.raises(TypeError):
        g.step(0.5)
    # the gates that do exist come with their names
    assert l.gate_names == ("i", "f", "g", "o") and g.gate_names == ("r", "z", "n") and r.gate_names == ()
    assert l.gate("g", 0, 1).shape == (3, 2, 5)
    assert g.preactivation("hn", 1).shape == (3, 2, 5)
    assert r.preactivation("h").shape == (3, 2, 5)


def test_negative_t_counts_from_the_end():
    _, s = layer_setup("lstm", 3, 5, np.float64, 0)
    tr = sr.trace(s, np.random.default_rng(0).standard_normal((4, 2, 3)))
    a, b = tr.step(-1, batch=1), tr.step(3, batch=1)
    assert a.t == 3
    np.testing.assert_array_equal(a.h, b.h)


def test_batch_may_not_repeat_an_element_and_cells_refuse_a_bad_batch_first():
    with pytest.raises(ValueError, match="twice"):
        sr.trace(nn.GRU(2, 3), np.zeros((3, 2, 2), np.float32), batch=[0, 0])
    cell = nn.GRUCell(2, 3)
    before = cell.weight_ih.detach().numpy().copy()
    with pytest.raises(ValueError, match=r"batch must lie in 0\.\.1, got \[5\]"):
        sr.trace(cell, np.zeros((2, 2), np.float32), batch=[5])
    np.testing.assert_array_equal(cell.weight_ih.data, before)
